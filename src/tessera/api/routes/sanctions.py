"""Sanctions screening hits over HTTP: the officers' queue and their decisions.

A hit says that a person may be a listed one, which is personal data of the most
sensitive kind: reading the queue needs a stated purpose and lands in the access log of
every person it lists; a decision lands in the log of the person decided on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import HitDecisionCreate, HitDecisionPublic, HitPublic, HitsPublic, RestrictionPublic
from tessera.api.services import Caller, Services
from tessera.auth import Action
from tessera.rules.screening import SCREEN_THRESHOLD
from tessera.rules.subjects import is_person

router = APIRouter(tags=["sanctions"])

HitIdPath = Annotated[str, Path(pattern=r"^h_[0-9a-f]{16}$")]
HIT_FIELDS = ("sanctions_hits",)


def _logged(services: Services, caller: Caller, subjects: list[str], outcome: str, *, doing: str) -> None:
    """Refuse without a purpose, else log the look for each person among ``subjects`` before answering."""
    people = sorted({services.subject_of_person(s) for s in subjects if is_person(s)})
    services.require_purpose(caller, people, HIT_FIELDS, doing=doing)
    if people:
        services.record_access(caller, people, HIT_FIELDS, outcome)


@router.get("/v1/sanctions/hits", openapi_extra=declare(Action.sanctions_hits_read))
def list_hits(
    caller: CallerDep,
    services: ServicesDep,
    status: Literal["pending", "confirmed", "dismissed"] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_ns: Annotated[int | None, Query(ge=0, lt=2**63, description="the last created_at_ns seen")] = None,
) -> HitsPublic:
    """Screening hits, oldest first: pending ones by default, for an officer to confirm or dismiss."""
    found = services.sanctions_watch.hits(status, limit, after_ns)
    _logged(services, caller, [h.subject for h in found], "read", doing="reading the screening hits")
    return HitsPublic(hits=[HitPublic.of(h) for h in found], threshold=SCREEN_THRESHOLD)


@router.post("/v1/sanctions/hits/{hit_id}/decision", openapi_extra=declare(Action.sanctions_hits_decide))
def decide_hit(
    hit_id: HitIdPath, body: HitDecisionCreate, caller: CallerDep, services: ServicesDep
) -> HitDecisionPublic:
    """Confirm (a restriction under the listing, in force at once: notice sent, wallets frozen) or dismiss."""
    found = services.sanctions_watch.get(hit_id)
    _logged(services, caller, [found.subject], f"screening hit {body.decision}", doing="deciding a screening hit")
    hit, restriction = services.sanctions_watch.decide(
        hit_id, body.decision, officer=caller.principal.id, reason=body.reason
    )
    return HitDecisionPublic(
        hit=HitPublic.of(hit), restriction=None if restriction is None else RestrictionPublic.of(restriction)
    )
