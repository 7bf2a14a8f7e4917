"""Accounts and transfers: what ``/v1/ledger`` takes (JSON batches) and answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, cast

from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter

from tessera.api.schemas.common import (
    U16,
    U32,
    U63,
    FromRecord,
    Id,
    LedgerId,
    PrincipalId,
    Rfc3339,
    SortedInts,
    StrictModel,
    batch_field,
    beside,
)
from tessera.ledger import Account, AccountFlags, Transfer, TransferFlags, flag_names, flags_from_names
from tessera.limits import BATCH_SIZE_MAX
from tessera.money import AccountKind, kind_of

AccountFlagName = Literal["linked", "debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
TransferFlagName = Literal["linked", "pending", "post_pending_transfer", "void_pending_transfer"]
AccountKindName = Literal["issuance", "wallet", "merchant", "programme", "system", "entitlement"]


class AccountCreate(StrictModel):
    """One account to open; ``holder`` is the principal who controls it (default: the caller)."""

    id: Id
    ledger: LedgerId
    kind: AccountKindName = Field(description="What the account is for; its code in the ledger (docs/api.md)")
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
            code=AccountKind[self.kind].value,
            flags=flags_from_names(AccountFlags, self.flags),
            category=self.category,
            holding_limit=self.holding_limit,
            allowed_categories=frozenset(self.allowed_categories),
            user_data_64=self.user_data_64,
            user_data_32=self.user_data_32,
        )


class AccountsCreate(StrictModel):
    accounts: list[AccountCreate] = batch_field(BATCH_SIZE_MAX)


class TransferCreate(StrictModel):
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


class TransfersCreate(StrictModel):
    transfers: list[TransferCreate] = batch_field(BATCH_SIZE_MAX)

    def missing_ledgers(self) -> list[int]:
        """The items that leave ``ledger`` out and are not a post or void (which take their hold's)."""
        settles = {"post_pending_transfer", "void_pending_transfer"}
        return [
            i
            for i, t in enumerate(self.transfers)
            if "ledger" not in t.model_fields_set and not settles.intersection(t.flags)
        ]


class ResultPublic(BaseModel):
    """The outcome of the item at ``index``: ``ok`` or a refusal listed in docs/ledger.md.

    ``message`` says in words what to send instead, for the refusals a newcomer's body
    causes; ``status`` stays the stable code to branch on.
    """

    index: int
    status: str
    message: str | None = None


class ResultsPublic(BaseModel):
    results: list[ResultPublic]


# The flags' names, for JSON: ``["linked", "pending"]``.
FlagNames = Annotated[list[str], BeforeValidator(flag_names)]


def _kind_name(code: int) -> AccountKindName | None:
    kind = kind_of(code)
    return None if kind is None else cast(AccountKindName, kind.name)


class AccountPublic(FromRecord):
    id: int
    ledger: int
    code: int
    # Read off the account's code; None: a code no kind has (an account opened before kinds).
    kind: Annotated[AccountKindName | None, BeforeValidator(_kind_name)] = Field(validation_alias="code")
    flags: FlagNames
    category: int
    holding_limit: int
    allowed_categories: SortedInts
    user_data_64: int
    user_data_32: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    balance: int
    available: int
    timestamp: int = Field(description="when the ledger opened it, in nanoseconds since 1970 (unique, increasing)")
    created_at: Rfc3339 = beside("timestamp")


class TransferPublic(FromRecord):
    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    ledger: int
    code: int
    flags: FlagNames
    pending_id: int
    timeout: int
    user_data_64: int
    user_data_32: int
    timestamp: int = Field(description="when the ledger applied it, in nanoseconds since 1970 (unique, increasing)")
    created_at: Rfc3339 = beside("timestamp")


class TransfersPublic(BaseModel):
    transfers: list[TransferPublic]

    @classmethod
    def of(cls, transfers: Sequence[Transfer]) -> TransfersPublic:
        """Up to 8190 records read in one call into pydantic-core: a Python call per record costs
        as much as writing each record's time a second way (``created_at``) does."""
        return cls(transfers=_TRANSFERS.validate_python(transfers, from_attributes=True))


_TRANSFERS = TypeAdapter(list[TransferPublic])
