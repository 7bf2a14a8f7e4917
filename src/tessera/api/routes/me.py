"""The caller's own view: who they are, and who looked at their data and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import AccessEntryPublic, AccessLogPublic, PrincipalPublic
from tessera.auth import Action

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("", openapi_extra=declare(Action.me_read))
def whoami(caller: CallerDep) -> PrincipalPublic:
    """The authenticated principal."""
    return PrincipalPublic.of(caller.principal)


@router.get("/access-log", openapi_extra=declare(Action.me_access_log_read))
def my_access_log(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, lt=2**63, description="only entries older than this index")] = None,
) -> AccessLogPublic:
    """Every look at the caller's data by someone else, newest first: who, role, agency, purpose, what."""
    found = services.access_log.entries_for_subject(caller.principal.subject, limit=limit, before=before)
    entries = [AccessEntryPublic.of(index, e) for index, e in found]
    return AccessLogPublic(entries=entries, next_before=found[-1][0] if len(found) == limit and found else None)
