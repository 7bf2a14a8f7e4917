"""Programmes and their cycles over HTTP: an admin registers a programme; officers run each cycle, two of them.

A cycle goes draft → previewed → approved (by an officer other than the one who previewed)
→ disbursed → closed; each step's answer is the cycle with who took every step and when.
Previewing reads every unit's facts, disbursing writes to every beneficiary's entitlement,
and reading a cycle's results lists people: each needs a stated purpose and is logged for
each person concerned.
"""

from __future__ import annotations

import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    CycleCreate,
    CyclePublic,
    DisbursementPublic,
    ExpiryNoticeCreate,
    ExpiryNoticesPublic,
    LinePublic,
    ProgrammeCreate,
    ProgrammePublic,
    ProgrammesPublic,
    ReturnedPublic,
    ReturnRunPublic,
    UnitResultPublic,
)
from tessera.auth import Action, Principal
from tessera.errors import InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX
from tessera.programs import Cycle, RegisteredProgramme, funding_accounts
from tessera.service import Services

router = APIRouter(prefix="/v1/programs", tags=["programs"])

ProgrammePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
CyclePath = Annotated[int, Path(ge=1, lt=2**31)]
RESULT_FIELDS = ("programme.eligibility", "programme.amounts")  # what a cycle's results show of a person
ENTITLEMENT_FIELDS = ("programme.entitlement",)  # what is left of it, read and returned


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.programmes_register))
def register_programme(body: ProgrammeCreate, caller: CallerDep, services: ServicesDep) -> ProgrammePublic:
    """Check a programme's TOML as `tessera programs check` does, open or check its funding, and register it."""
    programme = services.programmes.check(body.text)
    funding = funding_accounts(programme, body.funding, services.ledger)
    registered = services.programmes.register(body.text, programme, funding, registered_by=caller.principal.id)
    return _programme(registered)


@router.get("", openapi_extra=declare(Action.programmes_read))
def list_programmes(caller: CallerDep, services: ServicesDep) -> ProgrammesPublic:
    """The latest version of every registered programme."""
    return ProgrammesPublic(programmes=[_programme(r) for r in services.programmes.all()])


@router.get("/{programme_id}", openapi_extra=declare(Action.programmes_read))
def get_programme(programme_id: ProgrammePath, caller: CallerDep, services: ServicesDep) -> ProgrammePublic:
    """One programme, its latest version."""
    return _programme(services.programmes.get(programme_id))


@router.post("/{programme_id}/cycles", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.cycles_create))
def create_cycle(
    programme_id: ProgrammePath, body: CycleCreate, caller: CallerDep, services: ServicesDep
) -> CyclePublic:
    """A draft cycle of the programme's latest version, dated ``cycle_date``."""
    try:
        day = datetime.date.fromisoformat(body.cycle_date)
    except ValueError:
        raise InvalidInputError("cycle_date", f"not a date: {body.cycle_date!r}") from None
    at_ns = int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()) * 10**9
    return _cycle(services.cycles.create(programme_id, at_ns, by=caller.principal))


@router.get("/{programme_id}/cycles/{cycle_id}", openapi_extra=declare(Action.cycles_read))
def get_cycle(  # noqa: PLR0917 (FastAPI passes path, query and dependencies by name)
    programme_id: ProgrammePath,
    cycle_id: CyclePath,
    caller: CallerDep,
    services: ServicesDep,
    after: Annotated[int, Query(ge=-1, lt=2**31, description="the last seq seen")] = -1,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
) -> CyclePublic:
    """A cycle, every step's actor and time, its totals, and a page of its per-unit results; logged for each."""
    cycle = _of(services, programme_id, cycle_id, caller.principal)
    results = services.cycles.results(cycle_id, after=after, limit=limit)
    subjects = services.registry.subjects_of([r.person for r in results]) if results else {}
    shown = [subjects[r.person] for r in results]
    services.require_purpose(caller, shown, RESULT_FIELDS, doing="reading a cycle's results")
    if shown:
        services.record_access(caller, shown, RESULT_FIELDS, f"listed in cycle {cycle_id}")
    return _cycle(cycle, [UnitResultPublic.of(r) for r in results])


@router.post("/{programme_id}/cycles/{cycle_id}/preview", openapi_extra=declare(Action.cycles_preview))
def preview_cycle(
    programme_id: ProgrammePath, cycle_id: CyclePath, caller: CallerDep, services: ServicesDep
) -> CyclePublic:
    """Work out who is entitled and how much, who is not and why, the totals and the budget; logged for each person."""
    _of(services, programme_id, cycle_id, caller.principal)
    services.require_purpose(caller, [], RESULT_FIELDS, doing="previewing a cycle")
    cycle, found = services.cycles.preview(cycle_id, by=caller.principal)
    facts: tuple[str, ...] = tuple(services.cycles.facts_read(cycle_id))
    services.record_access(caller, found.population.read.tolist(), facts, f"facts read for cycle {cycle_id}")
    return _cycle(cycle)


@router.post("/{programme_id}/cycles/{cycle_id}/approve", openapi_extra=declare(Action.cycles_approve))
def approve_cycle(
    programme_id: ProgrammePath, cycle_id: CyclePath, caller: CallerDep, services: ServicesDep
) -> CyclePublic:
    """Approve a previewed cycle: another officer than the one who previewed it; over budget, refused or pro-rated."""
    _of(services, programme_id, cycle_id, caller.principal)
    return _cycle(services.cycles.approve(cycle_id, by=caller.principal))


@router.post("/{programme_id}/cycles/{cycle_id}/disburse", openapi_extra=declare(Action.cycles_disburse))
def disburse_cycle(
    programme_id: ProgrammePath, cycle_id: CyclePath, caller: CallerDep, services: ServicesDep
) -> DisbursementPublic:
    """Pay an approved cycle through the ledger, or finish one a crash interrupted; again, it pays nothing twice."""
    _of(services, programme_id, cycle_id, caller.principal)
    services.require_purpose(caller, [], RESULT_FIELDS, doing="disbursing a cycle")
    done = services.cycles.disburse(cycle_id, by=caller.principal)
    if not done.already_disbursed:
        paid = services.cycles.beneficiaries(cycle_id)
        services.record_access(caller, paid, ("programme.entitlement",), f"credited by cycle {cycle_id}")
    return DisbursementPublic(
        cycle=_cycle(done.cycle),
        transfers_applied=done.transfers_applied,
        transfers_existing=done.transfers_existing,
        batches=done.batches,
        already_disbursed=done.already_disbursed,
    )


@router.post("/{programme_id}/cycles/{cycle_id}/close", openapi_extra=declare(Action.cycles_close))
def close_cycle(
    programme_id: ProgrammePath, cycle_id: CyclePath, caller: CallerDep, services: ServicesDep
) -> CyclePublic:
    """Close a disbursed cycle."""
    _of(services, programme_id, cycle_id, caller.principal)
    return _cycle(services.cycles.close(cycle_id, by=caller.principal))


@router.post("/{programme_id}/cycles/{cycle_id}/notify-expiry", openapi_extra=declare(Action.cycles_notify_expiry))
def notify_expiry(
    programme_id: ProgrammePath,
    cycle_id: CyclePath,
    body: ExpiryNoticeCreate,
    caller: CallerDep,
    services: ServicesDep,
) -> ExpiryNoticesPublic:
    """Tell each unit with something of the cycle left how much, until when and where; once per unit and cycle."""
    _of(services, programme_id, cycle_id, caller.principal)
    services.require_purpose(caller, [], ENTITLEMENT_FIELDS, doing="telling a cycle's units what expires")
    done = services.returns.notify_expiring(programme_id, cycle_id, by=caller.principal, days_before=body.days_before)
    if done.created:
        paid = services.cycles.beneficiaries(cycle_id)
        services.record_access(caller, paid, ENTITLEMENT_FIELDS, f"told what expires of cycle {cycle_id}")
    return ExpiryNoticesPublic.of(done)


@router.post("/{programme_id}/cycles/{cycle_id}/return", openapi_extra=declare(Action.cycles_return))
def return_expired(
    programme_id: ProgrammePath, cycle_id: CyclePath, caller: CallerDep, services: ServicesDep
) -> ReturnRunPublic:
    """Return what was not spent of the cycle to the programme, once its validity ended and its notices went out."""
    _of(services, programme_id, cycle_id, caller.principal)
    services.require_purpose(caller, [], ENTITLEMENT_FIELDS, doing="returning a cycle's unspent entitlements")
    run = services.returns.return_expired(programme_id, cycle_id, by=caller.principal)
    if not run.already_returned:
        paid = services.cycles.beneficiaries(cycle_id)
        services.record_access(caller, paid, ENTITLEMENT_FIELDS, f"unspent of cycle {cycle_id} returned")
    return ReturnRunPublic(
        cycle_id=run.cycle_id,
        transfers_applied=run.transfers_applied,
        transfers_existing=run.transfers_existing,
        returned=[ReturnedPublic(ledger_id=k, amount=v) for k, v in sorted(run.returned.items())],
        returned_by=run.returned_by,
        returned_at_ns=run.returned_at_ns,
        already_returned=run.already_returned,
    )


def _of(services: Services, programme_id: str, cycle_id: int, principal: Principal) -> Cycle:
    """The cycle, if it is one of ``programme_id``'s and ``principal`` may act on it (an agency its basis names)."""
    services.programmes.get(programme_id)
    if services.cycles.get(cycle_id).programme != programme_id:
        raise NotFoundError("cycle", f"no cycle {cycle_id} of programme {programme_id!r}")
    return services.cycles.read(cycle_id, by=principal)


def _programme(registered: RegisteredProgramme) -> ProgrammePublic:
    p = registered.programme
    lines = [
        LinePublic(
            ledger=line.ledger,
            ledger_id=line.ledger_id,
            commodity=line.commodity,
            amount=line.amount,
            budget=line.budget,
            funded_by=registered.funding[line.ledger_id],
        )
        for line in p.lines
    ]
    return ProgrammePublic(
        id=p.id,
        version=registered.version,
        name=p.name,
        basis=p.basis.id,
        unit=p.unit.value,
        kind=p.kind.value,
        eligibility=p.eligibility,
        schedule=p.schedule.value,
        valid_for_s=p.valid_for_s,
        over_budget=p.over_budget.value,
        merchant_categories=sorted(p.merchant_categories),
        lines=lines,
        registered_by=registered.registered_by,
        registered_at_ns=registered.registered_at_ns,
        text=registered.text,
    )


def _cycle(cycle: Cycle, results: list[UnitResultPublic] | None = None) -> CyclePublic:
    public = CyclePublic.of(cycle)
    return public.model_copy(update={"status": cycle.status.value, "results": results or []})
