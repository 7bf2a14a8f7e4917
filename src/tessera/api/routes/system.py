"""Health and administration: nothing here reads personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tessera import __version__
from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import Health, PrincipalPublic, PrincipalsPublic
from tessera.auth import Action, Role, checked_role
from tessera.errors import ForbiddenError
from tessera.limits import PAGE_SIZE_MAX

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(services: ServicesDep) -> Health:
    """Liveness and a few counts; public, no personal data."""
    counts = services.ledger.counts
    return Health(
        status="ok",
        version=__version__,
        accounts=counts["accounts"],
        transfers=counts["transfers"],
        access_log_size=services.access_log.size,
    )


@router.get("/v1/admin/principals", openapi_extra=declare(Action.principals_list))
def list_principals(
    caller: CallerDep,
    services: ServicesDep,
    role: Annotated[str, Query(description="officer, merchant, auditor or admin")] = "officer",
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> PrincipalsPublic:
    """Service principals of one role; citizens are personal data and are never listed here."""
    wanted = checked_role(role)
    if wanted is Role.citizen:
        raise ForbiddenError("role: an admin may not list citizens")
    found = services.store.list_principals(role=wanted, limit=limit, after=after)
    return PrincipalsPublic(principals=[PrincipalPublic.of(p) for p in found])
