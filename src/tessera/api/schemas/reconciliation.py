"""Reconciliation over HTTP: a programme's figures per cycle and line, a shop's statement (JSON, or CSV on request).

Amounts are integers in their ledger's minor units, each beside its ``unit`` and ``decimals``
(1250 at 2 decimals is 12.50 XTS); the CSV writes them as decimal strings.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue

from tessera.api.schemas.common import FromRecord, Rfc3339, Rfc3339OrNone, beside


class CycleLinePublic(FromRecord):
    programme: str
    cycle_id: int = Field(description="0: back-pay that names no cycle")
    cycle_date_ns: int | None
    cycle_date: Rfc3339OrNone = beside("cycle_date_ns")
    expires_at_ns: int | None
    expires_at: Rfc3339OrNone = beside("expires_at_ns")
    status: str = Field(description="the cycle's: disbursing, disbursed, closed; empty for cycle 0")
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    disbursed: int
    back_pay: int
    issued: int = Field(description="disbursed + back_pay")
    redeemed: int = Field(description="completed redemptions' draws and held ones' posts")
    returned: int = Field(description="expired remainders returned, at redemption or by an officer")
    held: int = Field(description="reserved by holds the ledger still keeps pending")
    outstanding: int = Field(description="issued - redeemed - returned - held: the entitlements' available balances")


class LineCheckPublic(FromRecord):
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    issued: int = Field(description="over every cycle and adjustment")
    funding_accounts: list[int]
    funding_debits: int = Field(description="the programme accounts' posted debits in the ledger")
    agrees: bool


class ReconciliationPublic(BaseModel):
    programme: str
    rows: list[CycleLinePublic]
    lines: list[LineCheckPublic] = Field(description="each line over every cycle, against the ledger")


class CycleReconciliationPublic(BaseModel):
    programme: str
    cycle_id: int
    rows: list[CycleLinePublic]


class DrawnPublic(FromRecord):
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    amount: int


class StatementEntryPublic(FromRecord):
    at_ns: int
    at: Rfc3339 = beside("at_ns")
    redemption_id: str
    programme: str
    beneficiary: str = Field(description="the last 3 digits of the beneficiary's number, the rest masked")
    status: str
    items: JsonValue
    drawn: list[DrawnPublic] = Field(description="per line: settled (completed, posted) or reserved (held)")
    co_payment: DrawnPublic | None
    co_payment_method: str | None


class StatementTotalPublic(FromRecord):
    programme: str
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    redeemed: int
    held: int


class CoPaymentTotalPublic(FromRecord):
    programme: str
    method: str
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    amount: int


class AccountMovementPublic(FromRecord):
    account_id: int
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    opening: int | None = Field(description="null: more history since the day began than one read holds")
    credits: int | None
    debits: int | None
    closing: int | None


class StatementPublic(BaseModel):
    outlet_id: str
    outlet_name: str
    start_ns: int
    start: Rfc3339 = beside("start_ns")
    end_ns: int = Field(description="exclusive")
    end: Rfc3339 = beside("end_ns")
    entries: list[StatementEntryPublic]
    totals: list[StatementTotalPublic]
    co_payments: list[CoPaymentTotalPublic]
    accounts: list[AccountMovementPublic]
