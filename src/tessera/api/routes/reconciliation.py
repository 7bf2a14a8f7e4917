"""Reconciliation over HTTP: a programme's figures for officers, a shop's statement for its merchant or an officer.

The figures are totals per cycle and line and name no person. A statement lists a shop's
redemptions, each by its id with the beneficiary's number masked to its last three digits:
the merchant served that customer already, and an officer reconciling a shop needs amounts,
not names (a person's redemptions are read, logged, through their own routes). Each answers
JSON, or CSV with ``?format=csv`` or ``Accept: text/csv``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    CycleLinePublic,
    CycleReconciliationPublic,
    LineCheckPublic,
    ReconciliationPublic,
    StatementPublic,
    vars_of,
)
from tessera.auth import Action, Role
from tessera.errors import InvalidInputError, NotFoundError
from tessera.programs import CycleLine, StatementRow, check_programme_officer, to_csv
from tessera.service import Caller, Services

router = APIRouter(tags=["programs"])
ProgrammePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
CyclePath = Annotated[int, Path(ge=1, lt=2**31)]
OutletIdPath = Annotated[str, Path(pattern=r"^o_[0-9a-f]{16}$")]
Format = Annotated[Literal["json", "csv"] | None, Query(description="csv: the same figures as CSV")]
CSV_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


def _check_agency(services: Services, caller: Caller, programme_id: str) -> None:
    """An officer reads a programme's figures only for an agency its basis names, as for its cycles."""
    check_programme_officer(caller.principal, services.programmes.get(programme_id).programme)


def _wants_csv(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv(rows: Sequence[Any], row_type: type[Any], name: str) -> Response:
    return Response(
        to_csv(rows, row_type),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/v1/programs/{programme_id}/reconciliation",
    openapi_extra=declare(Action.programmes_reconciliation_read),
    responses=CSV_ANSWER,
)
def programme_reconciliation(
    programme_id: ProgrammePath, request: Request, caller: CallerDep, services: ServicesDep, format: Format = None
) -> ReconciliationPublic:
    """Per cycle and line: issued, redeemed, returned, held, outstanding; each line checked against the ledger."""
    _check_agency(services, caller, programme_id)
    found = services.reconciliation.programme(programme_id)
    if _wants_csv(request, format):
        return _csv(found.rows, CycleLine, f"{programme_id}-reconciliation")  # type: ignore[return-value]
    return ReconciliationPublic(
        programme=found.programme,
        rows=[CycleLinePublic.of(r) for r in found.rows],
        lines=[LineCheckPublic.of(line) for line in found.lines],
    )


@router.get(
    "/v1/programs/{programme_id}/cycles/{cycle_id}/reconciliation",
    openapi_extra=declare(Action.programmes_reconciliation_read),
    responses=CSV_ANSWER,
)
def cycle_reconciliation(  # noqa: PLR0917 (FastAPI passes path, query and dependencies by name)
    programme_id: ProgrammePath,
    cycle_id: CyclePath,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    format: Format = None,
) -> CycleReconciliationPublic:
    """One cycle's figures per line."""
    _check_agency(services, caller, programme_id)
    rows = services.reconciliation.cycle(programme_id, cycle_id)
    if _wants_csv(request, format):
        return _csv(rows, CycleLine, f"{programme_id}-cycle-{cycle_id}-reconciliation")  # type: ignore[return-value]
    return CycleReconciliationPublic(
        programme=programme_id, cycle_id=cycle_id, rows=[CycleLinePublic.of(r) for r in rows]
    )


@router.get(
    "/v1/outlets/{outlet_id}/statement",
    openapi_extra=declare(Action.outlets_statement_read),
    responses=CSV_ANSWER,
)
def outlet_statement(  # noqa: PLR0917 (FastAPI passes path, query and dependencies by name)
    outlet_id: OutletIdPath,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    date: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="the UTC day, YYYY-MM-DD")],
    format: Format = None,
) -> StatementPublic:
    """The shop's end-of-day statement: each redemption, totals per programme and line, its tills' balances."""
    outlet = services.outlets.get(outlet_id)
    if caller.principal.role is Role.merchant and not services.outlets.operates(caller.principal, outlet):
        raise NotFoundError("outlet", f"no outlet {outlet_id!r} is registered")  # another's reads as not there
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise InvalidInputError("date", f"not a date: {date!r}") from None
    statement = services.reconciliation.outlet_statement(outlet.id, day)
    if _wants_csv(request, format):
        return _csv(statement.rows(), StatementRow, f"{outlet.id}-{day.isoformat()}")  # type: ignore[return-value]
    return StatementPublic.model_validate(
        {**vars_of(statement), "start_ns": statement.from_ns, "end_ns": statement.to_ns}, from_attributes=True
    )
