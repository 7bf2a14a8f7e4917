"""Programmes and their cycles over HTTP: a programme registered by its TOML text; each cycle step's answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from tessera.api.schemas.common import FromRecord, Rfc3339, Rfc3339OrNone, StrictModel, beside
from tessera.limits import ID_LIMIT
from tessera.store import PROGRAMME_TEXT_MAX

LedgerNameText = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class ProgrammeCreate(StrictModel):
    text: str = Field(min_length=1, max_length=PROGRAMME_TEXT_MAX, description="one [[programme]] table, in TOML")
    funding: dict[LedgerNameText, Annotated[int, Field(ge=1, lt=ID_LIMIT)]] = Field(
        default_factory=dict,
        max_length=17,
        description="ledger name -> the programme account its line draws on; a line not named gets one opened",
    )


class LinePublic(BaseModel):
    ledger: str
    ledger_id: int
    commodity: str | None
    amount: str
    budget: int
    funded_by: int = Field(description="the programme account this line draws on")


class ProgrammePublic(BaseModel):
    id: str
    version: int
    name: str
    basis: str
    unit: str
    kind: str
    eligibility: str
    schedule: str
    valid_for_s: int
    over_budget: str
    merchant_categories: list[int]
    lines: list[LinePublic]
    registered_by: str
    registered_at_ns: int
    registered_at: Rfc3339 = beside("registered_at_ns")
    text: str


class ProgrammesPublic(BaseModel):
    programmes: list[ProgrammePublic]


class CycleCreate(StrictModel):
    cycle_date: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}$", description="ISO 8601 date: ages count to it, entitlements run from it"
    )


class StepPublic(FromRecord):
    by: str
    at_ns: int
    at: Rfc3339 = beside("at_ns")


class LineTotalPublic(FromRecord):
    ledger: str
    ledger_id: int
    asked: int = Field(description="what the eligible units' formulas add up to")
    budget: int
    paid: int = Field(description="what approval pays: asked, or pro-rated down to the budget")
    over_budget: bool


class UnitResultPublic(FromRecord):
    seq: int
    person: str
    eligible: bool
    reason: str = Field(description="why not, in words: the clauses of the condition that did not hold")
    amounts: list[int] = Field(description="per line, before any pro-rating")


class CyclePublic(FromRecord):
    id: int
    programme: str
    version: int
    cycle_date_ns: int
    cycle_date: Rfc3339 = beside("cycle_date_ns")
    status: str
    created: StepPublic
    previewed: StepPublic | None
    approved: StepPublic | None
    disbursed: StepPublic | None
    closed: StepPublic | None
    units: int
    eligible: int
    totals: list[LineTotalPublic]
    over_budget: str | None = Field(description="what approval does over budget: refuse, pro_rate; null within it")
    batches_done: int
    results: list[UnitResultPublic] = Field(default_factory=list, description="a page, on GET only")


class DisbursementPublic(BaseModel):
    cycle: CyclePublic
    transfers_applied: int
    transfers_existing: int = Field(description="found already applied: a run finished after a crash")
    batches: int
    already_disbursed: bool = Field(description="true: this call sent nothing, the cycle was paid before")


class ExpiryNoticeCreate(StrictModel):
    days_before: int = Field(
        default=3, ge=0, le=400, description="refused earlier than this many days before the entitlements expire"
    )


class ExpiryNoticesPublic(FromRecord):
    cycle_id: int
    created: int = Field(description="notices made by this call (0 once every unit has been told)")
    total: int = Field(description="notices made for this cycle in all: one per unit with something left")
    expires_at_ns: int
    expires_at: Rfc3339 = beside("expires_at_ns")
    notified_by: str | None
    notified_at_ns: int | None = Field(description="when every unit had been told; null while some are not")
    notified_at: Rfc3339OrNone = beside("notified_at_ns")


class ReturnedPublic(BaseModel):
    ledger_id: int
    amount: int = Field(description="returned to the line's programme account, in the ledger's minor units")


class ReturnRunPublic(BaseModel):
    cycle_id: int
    transfers_applied: int
    transfers_existing: int = Field(description="found already applied: a run finished after a crash")
    returned: list[ReturnedPublic] = Field(description="what the cycle's return moved in all, per ledger")
    returned_by: str
    returned_at_ns: int
    returned_at: Rfc3339 = beside("returned_at_ns")
    already_returned: bool = Field(description="true: this call sent nothing, the cycle was returned before")
