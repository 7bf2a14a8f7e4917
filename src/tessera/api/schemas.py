"""Request (``*Create``) and response (``*Public``) shapes of the HTTP API.

Pydantic lives here and nowhere else: routes turn these into the domain's frozen
dataclasses (``tessera.ledger.Account``) before anything else sees them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tessera.audit import AccessEntry
from tessera.auth import Principal
from tessera.ledger import BATCH_SIZE_MAX, Account, AccountFlags, Transfer, TransferFlags
from tessera.ledger.records import flag_names, flags_from_names

U63 = Annotated[int, Field(ge=0, lt=2**63)]
Id = Annotated[int, Field(ge=1, lt=2**63)]
U32 = Annotated[int, Field(ge=0, lt=2**32)]
U16 = Annotated[int, Field(ge=0, lt=2**16)]
AccountFlagName = Literal["linked", "debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
TransferFlagName = Literal["linked", "pending", "post_pending_transfer", "void_pending_transfer"]
PrincipalId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^p_[0-9a-f]{16}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountCreate(_Strict):
    """One account to open; ``holder`` is the principal who controls it (default: the caller)."""

    id: Id
    ledger: Annotated[int, Field(ge=1, lt=2**32)]
    code: Annotated[int, Field(ge=1, lt=2**16)]
    flags: list[AccountFlagName] = Field(default_factory=list, max_length=3)
    category: U16 = 0
    holding_limit: U63 = 0
    allowed_categories: list[U16] = Field(default_factory=list, max_length=8)
    user_data_64: U63 = 0
    user_data_32: U32 = 0
    holder: PrincipalId | None = None

    def to_domain(self) -> Account:
        return Account(
            id=self.id,
            ledger=self.ledger,
            code=self.code,
            flags=flags_from_names(AccountFlags, self.flags),
            category=self.category,
            holding_limit=self.holding_limit,
            allowed_categories=frozenset(self.allowed_categories),
            user_data_64=self.user_data_64,
            user_data_32=self.user_data_32,
        )


class AccountsCreate(_Strict):
    accounts: list[AccountCreate] = Field(min_length=1, max_length=BATCH_SIZE_MAX)


class TransferCreate(_Strict):
    """One transfer; a post or void names ``pending_id`` and may leave the accounts at 0."""

    id: Id
    debit_account_id: U63 = 0
    credit_account_id: U63 = 0
    amount: U63 = 0
    ledger: U32 = 0
    code: U16 = 0
    flags: list[TransferFlagName] = Field(default_factory=list, max_length=4)
    pending_id: U63 = 0
    timeout: U32 = 0
    user_data_64: U63 = 0
    user_data_32: U32 = 0

    def to_domain(self) -> Transfer:
        return Transfer(
            id=self.id,
            debit_account_id=self.debit_account_id,
            credit_account_id=self.credit_account_id,
            amount=self.amount,
            ledger=self.ledger,
            code=self.code,
            flags=flags_from_names(TransferFlags, self.flags),
            pending_id=self.pending_id,
            timeout=self.timeout,
            user_data_64=self.user_data_64,
            user_data_32=self.user_data_32,
        )


class TransfersCreate(_Strict):
    transfers: list[TransferCreate] = Field(min_length=1, max_length=BATCH_SIZE_MAX)


class ResultPublic(BaseModel):
    """The outcome of the item at ``index``: ``ok`` or a refusal listed in docs/ledger.md."""

    index: int
    status: str


class ResultsPublic(BaseModel):
    results: list[ResultPublic]


class AccountPublic(BaseModel):
    id: int
    ledger: int
    code: int
    flags: list[str]
    category: int
    holding_limit: int
    allowed_categories: list[int]
    user_data_64: int
    user_data_32: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    balance: int
    available: int
    timestamp: int

    @classmethod
    def of(cls, a: Account) -> AccountPublic:
        return cls(
            id=a.id,
            ledger=a.ledger,
            code=a.code,
            flags=flag_names(a.flags),
            category=a.category,
            holding_limit=a.holding_limit,
            allowed_categories=sorted(a.allowed_categories),
            user_data_64=a.user_data_64,
            user_data_32=a.user_data_32,
            debits_pending=a.debits_pending,
            debits_posted=a.debits_posted,
            credits_pending=a.credits_pending,
            credits_posted=a.credits_posted,
            balance=a.balance,
            available=a.available,
            timestamp=a.timestamp,
        )


class TransferPublic(BaseModel):
    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    ledger: int
    code: int
    flags: list[str]
    pending_id: int
    timeout: int
    user_data_64: int
    user_data_32: int
    timestamp: int

    @classmethod
    def of(cls, t: Transfer) -> TransferPublic:
        return cls(
            id=t.id,
            debit_account_id=t.debit_account_id,
            credit_account_id=t.credit_account_id,
            amount=t.amount,
            ledger=t.ledger,
            code=t.code,
            flags=flag_names(t.flags),
            pending_id=t.pending_id,
            timeout=t.timeout,
            user_data_64=t.user_data_64,
            user_data_32=t.user_data_32,
            timestamp=t.timestamp,
        )


class TransfersPublic(BaseModel):
    transfers: list[TransferPublic]


class PrincipalPublic(BaseModel):
    id: str
    name: str
    role: str
    agency: str

    @classmethod
    def of(cls, p: Principal) -> PrincipalPublic:
        return cls(id=p.id, name=p.name, role=p.role.value, agency=p.agency)


class PrincipalsPublic(BaseModel):
    principals: list[PrincipalPublic]


class AccessEntryPublic(BaseModel):
    """One look at the caller's data: who, in what role and agency, why, and what they saw."""

    index: int
    time_ns: int
    principal: str
    role: str
    agency: str
    purpose: str
    fields: list[str]
    outcome: str

    @classmethod
    def of(cls, index: int, e: AccessEntry) -> AccessEntryPublic:
        return cls(
            index=index,
            time_ns=e.time_ns,
            principal=e.principal,
            role=e.role,
            agency=e.agency,
            purpose=e.purpose,
            fields=list(e.fields),
            outcome=e.outcome,
        )


class AccessLogPublic(BaseModel):
    entries: list[AccessEntryPublic]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page; null at the end")


class TreeHeadPublic(BaseModel):
    """A signed tree head: Ed25519 over ``u64le size || u64le timestamp || root``."""

    size: int
    timestamp: int
    root: str
    signature: str
    public_key: str


class InclusionProofPublic(BaseModel):
    index: int
    size: int
    leaf_hash: str
    root: str
    path: list[str]


class ConsistencyProofPublic(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    path: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    accounts: int
    transfers: int
    access_log_size: int


class Problem(BaseModel):
    """RFC 9457 problem details, plus Tessera's stable ``code`` and the ``field`` at fault."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    instance: str | None = None
