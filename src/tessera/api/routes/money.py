"""The registers of agencies and ledgers, and the acts that need two admins, over HTTP.

Agencies and ledgers are public facts: any caller may read them. An admin registers an
agency alone; a ledger, or a key for an officer of an agency that issues one, needs a
second admin to approve what the first asked (``tessera.money.approvals``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    AdminRefusalCreate,
    AdminRequestCreate,
    AdminRequestPublic,
    AdminRequestsPublic,
    AgenciesPublic,
    AgencyCreate,
    AgencyPublic,
    ApprovalPublic,
    LedgerTerms,
    LedgerUnitPublic,
    LedgerUnitsPublic,
)
from tessera.auth import Action
from tessera.money import ledger_unit

router = APIRouter(tags=["registers"])
RequestId = Annotated[str, Path(min_length=18, max_length=18, pattern=r"^r_[0-9a-f]{16}$")]


@router.get("/v1/agencies", openapi_extra=declare(Action.agencies_read))
def list_agencies(caller: CallerDep, services: ServicesDep) -> AgenciesPublic:
    """Every agency on record: what an officer's agency may be."""
    return AgenciesPublic(agencies=[AgencyPublic.of(a) for a in services.agencies.all()])


@router.post("/v1/agencies", status_code=201, openapi_extra=declare(Action.agencies_create))
def create_agency(body: AgencyCreate, caller: CallerDep, services: ServicesDep) -> AgencyPublic:
    """Register an agency; its id never changes or goes away."""
    return AgencyPublic.of(services.agencies.register(body.id, body.title, caller.principal.id))


@router.get("/v1/ledgers", openapi_extra=declare(Action.ledgers_read))
def list_ledgers(caller: CallerDep, services: ServicesDep) -> LedgerUnitsPublic:
    """Every ledger on record: its unit, decimals and the one agency that issues it."""
    return LedgerUnitsPublic(ledgers=[LedgerUnitPublic.of(u) for u in services.ledger_units.all()])


@router.post("/v1/admin/requests", status_code=201, openapi_extra=declare(Action.admin_requests_create))
def create_admin_request(body: AdminRequestCreate, caller: CallerDep, services: ServicesDep) -> AdminRequestPublic:
    """Ask for an act a second admin must approve: a key for an officer of an issuing agency, or a ledger."""
    terms = body.terms
    requests = services.admin_requests
    if isinstance(terms, LedgerTerms):
        unit = ledger_unit(terms.id, terms.name, terms.unit, terms.decimals, terms.issuer, category=terms.category)
        return AdminRequestPublic.of(requests.request_ledger(caller.principal, unit))
    return AdminRequestPublic.of(
        requests.request_officer_key(caller.principal, terms.name, terms.agency, terms.display_name)
    )


@router.get("/v1/admin/requests", openapi_extra=declare(Action.admin_requests_read))
def list_admin_requests(
    caller: CallerDep,
    services: ServicesDep,
    status: Annotated[str, Query(pattern="^(pending|approved|refused)$")] = "pending",
) -> AdminRequestsPublic:
    """Requests by status, oldest first."""
    return AdminRequestsPublic(requests=[AdminRequestPublic.of(r) for r in services.admin_requests.with_status(status)])


@router.post("/v1/admin/requests/{request_id}/approve", openapi_extra=declare(Action.admin_requests_decide))
def approve_admin_request(request_id: RequestId, caller: CallerDep, services: ServicesDep) -> ApprovalPublic:
    """Approve another admin's request and carry it out; an officer's key is in the answer, once."""
    approved = services.admin_requests.approve(request_id, caller.principal)
    return ApprovalPublic(
        request=AdminRequestPublic.of(approved.request),
        token=approved.token,
        ledger=None if approved.ledger is None else LedgerUnitPublic.of(approved.ledger),
    )


@router.post("/v1/admin/requests/{request_id}/refuse", openapi_extra=declare(Action.admin_requests_decide))
def refuse_admin_request(
    request_id: RequestId, body: AdminRefusalCreate, caller: CallerDep, services: ServicesDep
) -> AdminRequestPublic:
    """Close a request without acting on it, with a reason."""
    return AdminRequestPublic.of(services.admin_requests.refuse(request_id, caller.principal, body.reason))
