"""Money's registers (ledgers, agencies), the two-admin requests that change them, and the supply report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict

from tessera.api.schemas.common import FromRecord, LedgerId, Rfc3339, Rfc3339OrNone, StrictModel, beside
from tessera.money import AGENCY_ID_MAX


class HoldingPublic(FromRecord):
    accounts: int
    balance: int = Field(description="posted credits less posted debits, summed")
    pending_debits: int
    pending_credits: int
    negative: int = Field(description="accounts below zero (only issuance accounts may be)")


class LedgerUnitPublic(FromRecord):
    id: int
    name: str
    unit: str
    decimals: int
    issuer: str = Field(description="the one agency whose officers may create money on this ledger")
    category: str = Field(description="the data category of what it funds; rules reading the ledger read it")
    registered_at_ns: int
    registered_at: Rfc3339 = beside("registered_at_ns")
    requested_by: str
    approved_by: str


class LedgerUnitsPublic(BaseModel):
    ledgers: list[LedgerUnitPublic]


class LedgerSupplyPublic(FromRecord):
    ledger: int
    unit: LedgerUnitPublic | None = Field(description="null: money on a ledger nobody registered")
    issued: int = Field(description="what the issuance accounts created, less what came back to them")
    in_circulation: int = Field(description="what every other account holds")
    held: dict[str, HoldingPublic] = Field(description="by kind of account, issuance included")
    reconciled: bool
    problems: list[str]


class SupplyPublic(BaseModel):
    ledgers: list[LedgerSupplyPublic]


AgencyIdText = Annotated[str, Field(min_length=1, max_length=AGENCY_ID_MAX, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class AgencyCreate(StrictModel):
    id: AgencyIdText
    title: str = Field(min_length=1, max_length=200)


class AgencyPublic(FromRecord):
    id: str
    title: str
    registered_at_ns: int
    registered_at: Rfc3339 = beside("registered_at_ns")
    registered_by: str


class AgenciesPublic(BaseModel):
    agencies: list[AgencyPublic]


class OfficerKeyTerms(StrictModel):
    kind: Literal["officer_key"]
    name: str = Field(min_length=1, max_length=100, description="the officer's principal name; created if new")
    agency: AgencyIdText
    display_name: str = Field(
        "", max_length=100, description="what people whose data the officer reads are shown; default a pseudonym"
    )


class LedgerTerms(StrictModel):
    kind: Literal["ledger"]
    id: LedgerId
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    unit: str = Field(min_length=1, max_length=16, description="an ISO 4217 code, or 'litre'")
    decimals: Annotated[int, Strict(), Field(ge=0, le=18)]
    issuer: AgencyIdText
    category: str = Field("financial", max_length=32, description="the data category of what the ledger funds")


class AdminRequestCreate(StrictModel):
    terms: Annotated[OfficerKeyTerms | LedgerTerms, Field(discriminator="kind")]


class AdminRefusalCreate(StrictModel):
    reason: str = Field(min_length=1, max_length=500)


class AdminRequestPublic(FromRecord):
    id: str
    kind: str
    terms: dict[str, Any]
    requested_by: str
    requested_at_ns: int
    requested_at: Rfc3339 = beside("requested_at_ns")
    status: str
    decided_by: str | None
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")
    outcome: dict[str, Any] | None


class AdminRequestsPublic(BaseModel):
    requests: list[AdminRequestPublic]


class ApprovalPublic(BaseModel):
    request: AdminRequestPublic
    token: str | None = Field(description="the officer's API key, shown this once and never stored")
    ledger: LedgerUnitPublic | None
