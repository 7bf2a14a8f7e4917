"""Grievances about entitlements and redemptions: filed by the person, resolved once by an officer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, Strict

from tessera.api.schemas.common import FromRecord, Rfc3339, Rfc3339OrNone, StrictModel, beside
from tessera.limits import ID_LIMIT
from tessera.programs import PROGRAMME_ID_MAX
from tessera.store import GRIEVANCE_REASON_MAX, GRIEVANCE_TEXT_MAX, REDEMPTION_ID_MAX

LINES_MAX = 16  # a programme's lines: cash, or one per commodity


class GrievanceCreate(StrictModel):
    programme: str = Field(min_length=1, max_length=PROGRAMME_ID_MAX)
    kind: str = Field(min_length=1, max_length=16, description="not_received, shop_refused or wrong_amount")
    text: str = Field(min_length=1, max_length=GRIEVANCE_TEXT_MAX, description="what went wrong, in your words")
    cycle_id: Annotated[int, Strict(), Field(ge=1, lt=2**31)] | None = Field(None, description="the cycle, if one")
    redemption_id: str | None = Field(None, max_length=REDEMPTION_ID_MAX, description="'r_' and 16 hex digits")


class GrievanceResolve(StrictModel):
    upheld: Annotated[bool, Strict()]
    reason: str = Field(min_length=1, max_length=GRIEVANCE_REASON_MAX)
    back_pay: (
        dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[int, Strict(), Field(ge=1, lt=ID_LIMIT)]]
        | None
    ) = Field(
        None,
        max_length=LINES_MAX,
        description="upheld only: a line's ledger name or commodity -> the amount to pay, in minor units",
    )


class BackPayPublic(FromRecord):
    ledger: str
    ledger_id: int
    amount: int
    transfer_id: int = Field(description="the same on every try: a retry is answered `exists`, never paid twice")


class GrievancePublic(FromRecord):
    id: str
    subject: str = Field(description="the person's Tessera number")
    programme: str
    cycle_id: int | None
    redemption_id: str | None
    kind: str
    text: str
    filed_at_ns: int
    filed_at: Rfc3339 = beside("filed_at_ns")
    status: str = Field(description="open, resolved_upheld or resolved_rejected")
    resolved_by: str | None
    resolved_at_ns: int | None
    resolved_at: Rfc3339OrNone = beside("resolved_at_ns")
    reason: str | None
    back_pay: list[BackPayPublic]
    back_paid_at_ns: int | None = Field(
        description="when the ledger took every back-pay line; null while owed (sent again at the service's start)"
    )
    back_paid_at: Rfc3339OrNone = beside("back_paid_at_ns")


class GrievancesPublic(BaseModel):
    grievances: list[GrievancePublic]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last")


class GrievanceStatsPublic(FromRecord):
    programme: str
    open: int
    upheld: int
    rejected: int
    resolution_s_median: float | None = Field(description="seconds from filing to resolution; null before any")
    resolution_s_p90: float | None
