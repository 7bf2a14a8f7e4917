"""Sanctions screening hits over HTTP: the officers' queue and their decisions.

A hit says that a person may be a listed one, which is personal data of the most
sensitive kind: reading the queue needs a stated purpose and lands in the access log of
every person it lists; a decision lands in the log of the person decided on, as asked and
then as done or refused (only the listing's agency dismisses, so refusals happen).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from tessera.api.deps import AfterNs, CallerDep, ServicesDep, declare
from tessera.api.schemas import HitDecisionCreate, HitDecisionPublic, HitPublic, HitsPublic, RestrictionPublic
from tessera.auth import Action
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX
from tessera.rules import SCREEN_THRESHOLD, is_person
from tessera.service import Caller, Services

router = APIRouter(tags=["sanctions"])

HitIdPath = Annotated[str, Path(pattern=r"^h_[0-9a-f]{16}$")]
HIT_FIELDS = ("sanctions_hits",)
OUTCOME_MAX = 200  # a refusal's message in the person's access log, cut to one line's worth


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
    after_ns: AfterNs,
    status: Literal["pending", "confirmed", "dismissed"] = "pending",
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
) -> HitsPublic:
    """Screening hits, oldest first: pending ones by default, for an officer to confirm or dismiss."""
    found = services.sanctions_watch.hits(status, limit, after_ns)
    _logged(services, caller, [h.subject for h in found], "read", doing="reading the screening hits")
    return HitsPublic(hits=[HitPublic.of(h) for h in found], threshold=SCREEN_THRESHOLD)


@router.post("/v1/sanctions/hits/{hit_id}/decision", openapi_extra=declare(Action.sanctions_hits_decide))
def decide_hit(
    hit_id: HitIdPath, body: HitDecisionCreate, caller: CallerDep, services: ServicesDep
) -> HitDecisionPublic:
    """Confirm (a restriction under the listing: in force at once from its agency, else proposed to it) or dismiss.

    Only an officer of an agency the listing's basis names dismisses (403 otherwise).
    """
    found = services.sanctions_watch.get(hit_id)
    asked = f"screening hit {hit_id} {body.decision}"
    _logged(services, caller, [found.subject], f"{asked} requested", doing="deciding a screening hit")
    people = [services.subject_of_person(found.subject)] if is_person(found.subject) else []
    try:
        hit, restriction = services.sanctions_watch.decide(
            hit_id, body.decision, officer=caller.principal.id, reason=body.reason
        )
    except (ConflictError, ForbiddenError, InvalidInputError, NotFoundError) as exc:
        if people:
            services.record_access(caller, people, HIT_FIELDS, f"{asked} refused: {exc}"[:OUTCOME_MAX])
        raise
    if people:
        restricted = "" if restriction is None else f", restriction {restriction.id} {restriction.status.value}"
        services.record_access(caller, people, HIT_FIELDS, f"screening hit {hit.id} {hit.status.value}{restricted}")
    return HitDecisionPublic(
        hit=HitPublic.of(hit), restriction=None if restriction is None else RestrictionPublic.of(restriction)
    )
