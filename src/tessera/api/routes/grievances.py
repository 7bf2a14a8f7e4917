"""Grievances over HTTP: a person files one about an entitlement or a redemption; officers resolve it, once.

A person files and reads only their own (``/v1/me/grievances``). An officer reads the queue
and one grievance, and resolves it, only for programmes whose basis names its agency (any,
if it names none); each of those shows a person's grievance, so it needs a stated purpose
and is logged for the person, and back-pay paid on an upheld grievance carries a note that
logs it for the person credited. A programme's counts and times to resolution show no one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    GrievanceCreate,
    GrievancePublic,
    GrievanceResolve,
    GrievancesPublic,
    GrievanceStatsPublic,
)
from tessera.auth import Action
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.programs import GRIEVANCES_LIST_MAX, Grievance, Programme, check_programme_officer
from tessera.service import Caller, Services

router = APIRouter(tags=["programmes"])

GrievanceIdPath = Annotated[str, Path(pattern=r"^g_[0-9a-f]{16}$", description="'g_' and 16 hex digits")]
ProgrammeIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
GRIEVANCE_FIELDS = ("programme.grievance",)  # what a grievance shows of a person: that they filed it, and what
OUTCOME_MAX = 200  # an access entry's outcome text
REFUSED = (ConflictError, ForbiddenError, InvalidInputError, NotFoundError)


@router.post(
    "/v1/me/grievances", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.me_grievances_create)
)
def file_grievance(body: GrievanceCreate, caller: CallerDep, services: ServicesDep) -> GrievancePublic:
    """Report a problem with a programme's entitlement (optionally one cycle) or a redemption, in your words."""
    person = services.person_of(caller)
    made = services.grievances.file(
        person.number,
        caller.principal.id,
        body.programme,
        body.kind,
        body.text,
        cycle_id=body.cycle_id,
        redemption_id=body.redemption_id,
    )
    return GrievancePublic.of(made)


@router.get("/v1/me/grievances", openapi_extra=declare(Action.me_grievances_read))
def my_grievances(caller: CallerDep, services: ServicesDep) -> GrievancesPublic:
    """Your grievances, newest first, each with how it was resolved and any back-pay."""
    found = services.grievances.of_person(services.person_of(caller).number)
    return GrievancesPublic(grievances=[GrievancePublic.of(g) for g in found], next_after=None)


@router.get("/v1/programs/grievances", openapi_extra=declare(Action.grievances_read))
def grievance_queue(  # noqa: PLR0917 (FastAPI passes query parameters and dependencies by name)
    caller: CallerDep,
    services: ServicesDep,
    status: Annotated[str | None, Query(max_length=20, description="open, resolved_upheld, resolved_rejected")] = None,
    programme: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=18, description="the last grievance id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=GRIEVANCES_LIST_MAX)] = 100,
) -> GrievancesPublic:
    """Grievances oldest first, of the programmes the officer's agency runs; logged for each person shown."""
    among = None
    if programme is not None:
        check_programme_officer(caller.principal, services.programmes.get(programme).programme)
    else:
        among = [r.programme.id for r in services.programmes.all() if _may_act(caller, r.programme)]
    found = services.grievances.queue(status, programme, after, limit, among=among)
    subjects = _subjects(services, found)
    services.require_purpose(caller, subjects, GRIEVANCE_FIELDS, doing="reading grievances")
    if subjects:
        services.record_access(caller, subjects, GRIEVANCE_FIELDS, "listed in the grievance queue")
    next_after = found[-1].id if len(found) == limit else None
    return GrievancesPublic(grievances=[GrievancePublic.of(g) for g in found], next_after=next_after)


@router.get("/v1/programs/grievances/{grievance_id}", openapi_extra=declare(Action.grievances_read))
def get_grievance(grievance_id: GrievanceIdPath, caller: CallerDep, services: ServicesDep) -> GrievancePublic:
    """One grievance and its resolution; logged for the person."""
    grievance = _officers(services, caller, grievance_id)
    subjects = _subjects(services, [grievance])
    services.require_purpose(caller, subjects, GRIEVANCE_FIELDS, doing="reading a grievance")
    services.record_access(caller, subjects, GRIEVANCE_FIELDS, f"read grievance {grievance.id}")
    return GrievancePublic.of(grievance)


@router.post("/v1/programs/grievances/{grievance_id}/resolve", openapi_extra=declare(Action.grievances_resolve))
def resolve_grievance(
    grievance_id: GrievanceIdPath, body: GrievanceResolve, caller: CallerDep, services: ServicesDep
) -> GrievancePublic:
    """Uphold or reject an open grievance with a reason, once; upheld, pay any back-pay (again: never twice)."""
    grievance = _officers(services, caller, grievance_id)
    subjects = _subjects(services, [grievance])
    services.require_purpose(caller, subjects, GRIEVANCE_FIELDS, doing="resolving a grievance")
    try:
        done = services.grievances.resolve(
            grievance.id,
            caller.principal,
            upheld=body.upheld,
            reason=body.reason,
            back_pay=body.back_pay,
            post=services.back_pay_post(caller.principal, caller.purpose),
        )
    except REFUSED as exc:
        outcome = f"grievance {grievance.id}: resolution refused: {exc}"
        services.record_access(caller, subjects, GRIEVANCE_FIELDS, outcome[:OUTCOME_MAX])
        raise
    services.record_access(caller, subjects, GRIEVANCE_FIELDS, f"grievance {done.id} {done.status.value}")
    return GrievancePublic.of(done)


@router.get("/v1/programs/{programme_id}/grievances/stats", openapi_extra=declare(Action.grievances_stats_read))
def grievance_stats(programme_id: ProgrammeIdPath, caller: CallerDep, services: ServicesDep) -> GrievanceStatsPublic:
    """How many of the programme's grievances are open, upheld, rejected; median and p90 time to resolution."""
    check_programme_officer(caller.principal, services.programmes.get(programme_id).programme)
    return GrievanceStatsPublic.of(services.grievances.stats(programme_id))


def _officers(services: Services, caller: Caller, grievance_id: str) -> Grievance:
    """The grievance, if the officer's agency runs its programme (403 otherwise)."""
    grievance = services.grievances.get(grievance_id)
    check_programme_officer(caller.principal, services.programmes.get(grievance.programme).programme)
    return grievance


def _may_act(caller: Caller, programme: Programme) -> bool:
    try:
        check_programme_officer(caller.principal, programme)
    except ForbiddenError:
        return False
    return True


def _subjects(services: Services, found: Sequence[Grievance]) -> list[str]:
    """The access-log subjects of the persons whose grievances are shown, each once."""
    if not found:
        return []
    return sorted(set(services.registry.subjects_of([g.subject for g in found], known_only=True).values()))
