"""Payments a person makes: their wallets, a payment, aliases, payment requests and incoming payments.

Amounts go both ways as decimal strings in the currency's units (``"12.50"``) with the
integer of minor units beside them (``1250``); times as RFC 3339 with nanoseconds beside.
No float holds money anywhere: a JSON number is refused where an amount is asked for.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, Strict, model_validator

from tessera.api.schemas.common import StrictModel
from tessera.limits import (
    ALIAS_MAX,
    ALIAS_MIN,
    AMOUNT_TEXT_MAX,
    ID_LIMIT,
    PAYMENT_DESCRIPTION_MAX,
)
from tessera.money import PaymentOrder
from tessera.times import ns_to_rfc3339

AmountText = Annotated[
    str,
    Strict(),
    Field(
        max_length=AMOUNT_TEXT_MAX,
        description='a decimal string in the currency\'s units, such as "12.50"; no more decimals than it has',
        examples=["12.50"],
    ),
]
Currency = Annotated[str, Field(min_length=1, max_length=16, description="the ledger's unit, such as XTS")]
AliasText = Annotated[str, Field(min_length=ALIAS_MIN, max_length=ALIAS_MAX, examples=["corner-grocer"])]
AccountIdField = Annotated[int, Strict(), Field(ge=1, lt=ID_LIMIT)]
RequestIdText = Annotated[str, Field(min_length=19, max_length=19, pattern=r"^pr_[0-9a-f]{16}$")]


def rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as RFC 3339 in UTC, to the nanosecond: the API's one converter (``common``)."""
    return ns_to_rfc3339(ns)


class MerchantCategoryPublic(BaseModel):
    code: int = Field(description="ISO 18245 merchant category code")
    label: str


class MyAccountPublic(BaseModel):
    """One of the caller's wallets (or a shop's till): what it holds, what it may pay, its limits."""

    id: int
    kind: str | None
    ledger: int
    currency: str
    balance: str
    balance_minor: int
    available: str = Field(description="the balance less what pending holds reserve")
    available_minor: int
    frozen: bool = Field(description="frozen under a restriction: GET /v1/me/restrictions says why")
    may_pay: str = Field(description="in words: any payee, or only merchants of the categories listed")
    allowed_categories: list[MerchantCategoryPublic] = Field(description="empty: any payee")
    category: MerchantCategoryPublic | None = Field(description="a till's own merchant category")
    holding_limit: str | None = Field(description="the most it may hold; null: no limit")
    holding_limit_minor: int | None
    aliases: list[str] = Field(description="the aliases published for it")


class MyAccountsPublic(BaseModel):
    accounts: list[MyAccountPublic]


class PayeeCreate(StrictModel):
    """Whom to pay: exactly one of an alias the payee published, a wallet's id, or a payment request's id."""

    alias: AliasText | None = None
    wallet: AccountIdField | None = None
    request: RequestIdText | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        named = [n for n in ("alias", "wallet", "request") if getattr(self, n) is not None]
        if len(named) != 1:
            raise ValueError("name exactly one of alias, wallet or request")
        return self


class PaymentCreate(StrictModel):
    """Pay ``amount`` ``currency`` to ``to``; for a request both may be left out (they are the request's)."""

    amount: AmountText | None = None
    currency: Currency | None = None
    to: PayeeCreate
    from_wallet: AccountIdField | None = Field(None, description="which of the caller's wallets; needed if several")

    def to_domain(self) -> PaymentOrder:
        return PaymentOrder(
            self.amount, self.currency, self.to.alias, self.to.wallet, self.to.request, self.from_wallet
        )


class PaymentPublic(BaseModel):
    """A payment the ledger took."""

    transfer_id: int = Field(description="ids sort by time: milliseconds since the epoch in the high bits")
    status: str = Field(description="posted")
    amount: str
    amount_minor: int
    currency: str
    ledger: int
    code: int
    from_wallet: int
    to_wallet: int
    to_alias: str | None
    request_id: str | None
    posted_at: str
    posted_at_ns: int
    replayed: bool = Field(description="true: the answer to an earlier request with the same Idempotency-Key")


class AliasCreate(StrictModel):
    alias: AliasText
    wallet: AccountIdField = Field(description="one of the caller's accounts")


class AliasPublic(BaseModel):
    alias: str
    wallet: int
    created_at: str
    created_at_ns: int


class AliasesPublic(BaseModel):
    aliases: list[AliasPublic]


class PaymentRequestCreate(StrictModel):
    """Ask to be paid: amount and currency, what for, into which account (or alias), until when."""

    amount: AmountText
    currency: Currency
    description: str = Field(min_length=1, max_length=PAYMENT_DESCRIPTION_MAX)
    wallet: AccountIdField | None = Field(None, description="the account to be paid into; or name an alias")
    alias: AliasText | None = Field(None, description="one of the caller's aliases, shown to the payer")
    expires_at: str | None = Field(None, max_length=64, description="RFC 3339, such as 2026-12-07T15:00:00Z")
    expires_in: str | None = Field(None, max_length=32, description="a duration: 15m, 2h, 7d or PT15M (default 1h)")


class PaymentRequestPublic(BaseModel):
    """A request as payer and payee read it: the payee by alias or account, never by name."""

    id: str
    payload: str = Field(description="the QR code's text: tessera:pay?request=...&amount=...&currency=...")
    status: str = Field(description="open, paid or expired")
    amount: str
    amount_minor: int
    currency: str
    ledger: int
    description: str
    payee_wallet: int
    payee_alias: str | None
    created_at: str
    created_at_ns: int
    expires_at: str
    expires_at_ns: int
    transfer_id: int | None = Field(description="the payment that paid it")
    paid_at: str | None
    paid_at_ns: int | None


class IncomingPaymentPublic(BaseModel):
    transfer_id: int
    amount: str
    amount_minor: int
    currency: str
    ledger: int
    code: int
    from_wallet: int
    to_wallet: int
    received_at: str
    received_at_ns: int


class IncomingPaymentsPublic(BaseModel):
    payments: list[IncomingPaymentPublic] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null at the end")
    latest_cursor: str | None = Field(
        description="pass as ?after= (with ?wait=) to wait for what arrives after these; null: none yet"
    )
