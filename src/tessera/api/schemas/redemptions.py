"""Redemptions at a shop's till, their settlement (fuel holds), the person's approval, officers' attestations."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, Strict, model_validator

from tessera.api.schemas.common import Rfc3339, Rfc3339OrNone, StrictModel, beside
from tessera.money import format_amount
from tessera.programs import (
    ATTESTATION_VALID_MAX_S,
    ATTESTATION_VALID_MIN_S,
    HOLD_TIMEOUT_MAX_S,
    HOLD_TIMEOUT_MIN_S,
    HOLD_TIMEOUT_S,
    ITEM_QUANTITY_MAX,
    ITEMS_MAX,
    PROGRAMME_ID_MAX,
    Attestation,
    Auth,
    Item,
    Order,
    Redemption,
)
from tessera.store import ATTESTATION_REASON_MAX

Number = Annotated[str, Field(min_length=12, max_length=12, pattern=r"^[0-9]{12}$")]
VirtualIdText = Annotated[str, Field(min_length=1, max_length=40)]


class PersonAtTill(StrictModel):
    """Who the person is: their number or a virtual ID, one of them."""

    number: Number | None = None
    virtual_id: VirtualIdText | None = None

    @model_validator(mode="after")
    def _one(self) -> PersonAtTill:
        if (self.number is None) == (self.virtual_id is None):
            raise ValueError("name the person by number or virtual_id, one of them")
        return self


class ItemCreate(StrictModel):
    product: str = Field(min_length=1, max_length=32, description="a product code of the programme's approved list")
    quantity: Annotated[int, Strict()] = Field(ge=1, le=ITEM_QUANTITY_MAX)


class RedemptionCreate(StrictModel):
    """What the till asks (docs/programs.md, "Redemption")."""

    programme: str = Field(min_length=1, max_length=PROGRAMME_ID_MAX)
    person: PersonAtTill
    auth: Auth = Field(
        default=Auth.pin,
        description="pin: the person's PIN; nominee: a nominee's number and PIN; app: the person approves in their "
        "app; attestation: an officer's attestation id",
    )
    pin: str | None = Field(default=None, min_length=4, max_length=12, description="the PIN (person's or nominee's)")
    nominee: PersonAtTill | None = None
    attestation: str | None = Field(default=None, min_length=18, max_length=18, pattern=r"^a_[0-9a-f]{16}$")
    items: list[ItemCreate] = Field(default_factory=list, max_length=ITEMS_MAX)
    amount: str | None = Field(default=None, max_length=40, description="cash programmes: a decimal string")
    hold: bool = Field(default=False, description="reserve (fuel): post what was poured, or void, later")
    hold_timeout_s: Annotated[int, Strict()] = Field(
        default=HOLD_TIMEOUT_S, ge=HOLD_TIMEOUT_MIN_S, le=HOLD_TIMEOUT_MAX_S
    )
    co_payment: Literal["wallet", "cash"] = Field(default="wallet", description="a subsidised price's co-payment")

    def to_domain(self) -> Order:
        nominee = self.nominee or PersonAtTill.model_construct(number=None, virtual_id=None)
        return Order(
            self.programme, number=self.person.number, virtual_id=self.person.virtual_id, auth=self.auth,
            pin=self.pin, nominee_number=nominee.number, nominee_virtual_id=nominee.virtual_id,
            attestation=self.attestation, items=tuple(Item(i.product, i.quantity) for i in self.items),
            amount=self.amount, hold=self.hold, hold_timeout_s=self.hold_timeout_s, co_payment=self.co_payment,
        )  # fmt: skip


class HoldPost(StrictModel):
    amount: str = Field(min_length=1, max_length=40, description="what was poured, in the quota's unit: 32.5")


class DrawnPublic(BaseModel):
    ledger: int
    commodity: str | None
    unit: str
    amount: str
    left: str | None = Field(description="what is left after it; null until it is drawn")
    usable_until_ns: int | None = Field(description="when what is left expires")
    usable_until: Rfc3339OrNone = beside("usable_until_ns")


class RedemptionPublic(BaseModel):
    id: str
    outlet: str
    programme: str
    person: str = Field(description="the entitlement's unit: the person, or their household's head")
    presented_by: str
    auth: Auth
    status: str
    items: list[dict[str, object]]
    lines: list[DrawnPublic]
    co_payment: str | None = Field(description="in the currency; taken by co_payment_method")
    co_payment_method: str | None
    transfers: list[int]
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")
    hold_expires_at_ns: int | None
    hold_expires_at: Rfc3339OrNone = beside("hold_expires_at_ns")

    @classmethod
    def of(cls, r: Redemption, currency_decimals: int = 2) -> RedemptionPublic:
        lines = [
            DrawnPublic(
                ledger=d.ledger_id, commodity=d.commodity, unit=d.unit, amount=format_amount(d.amount, d.decimals),
                left=None if d.left < 0 else format_amount(d.left, d.decimals),
                usable_until_ns=d.until_ns,
            )
            for d in r.lines
        ]  # fmt: skip
        return cls(
            id=r.id, outlet=r.outlet_id, programme=r.programme, person=r.person, presented_by=r.presented_by,
            auth=r.auth, status=r.status.value, items=list(r.items), lines=lines,
            co_payment=None if r.co_payment is None else format_amount(r.co_payment, currency_decimals),
            co_payment_method=r.co_payment_method, transfers=list(r.transfers), created_at_ns=r.created_at_ns,
            decided_at_ns=r.decided_at_ns, hold_expires_at_ns=r.hold_expires_at_ns,
        )  # fmt: skip


class AttestationCreate(StrictModel):
    person: Number
    outlet: str = Field(min_length=18, max_length=18, pattern=r"^o_[0-9a-f]{16}$")
    reason: str = Field(min_length=1, max_length=ATTESTATION_REASON_MAX, description="why no PIN or app will do")
    valid_for_s: Annotated[int, Strict()] = Field(default=3600, ge=ATTESTATION_VALID_MIN_S, le=ATTESTATION_VALID_MAX_S)


class AttestationPublic(BaseModel):
    id: str
    officer: str
    person: str
    programme: str
    outlet: str
    reason: str
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    expires_at_ns: int
    expires_at: Rfc3339 = beside("expires_at_ns")

    @classmethod
    def of(cls, a: Attestation) -> AttestationPublic:
        return cls(
            id=a.id, officer=a.officer, person=a.person, programme=a.programme, outlet=a.outlet_id, reason=a.reason,
            created_at_ns=a.created_at_ns, expires_at_ns=a.expires_at_ns,
        )  # fmt: skip
