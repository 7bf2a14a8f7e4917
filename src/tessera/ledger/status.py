"""Result statuses of ledger operations: refusals are values, one per event.

The numbers are part of the wire format and match ``_engine.c``; never renumber, only
append. ``docs/ledger.md`` explains every status (a test checks it does).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt


class CreateAccountStatus(IntEnum):
    """Outcome of one account in ``create_accounts``."""

    ok = 0
    linked_event_failed = 1
    linked_event_chain_open = 2
    timestamp_must_be_zero = 3
    reserved_field = 4
    reserved_flag = 5
    id_must_not_be_zero = 6
    id_too_large = 7
    flags_are_mutually_exclusive = 8
    frozen_requires_order = 9
    balances_must_be_zero = 10
    holding_limit_too_large = 11
    ledger_must_not_be_zero = 12
    code_must_not_be_zero = 13
    allowed_categories_invalid = 14
    exists_with_different_fields = 15
    exists = 16


class CreateTransferStatus(IntEnum):
    """Outcome of one transfer in ``create_transfers``."""

    ok = 0
    linked_event_failed = 1
    linked_event_chain_open = 2
    timestamp_must_be_zero = 3
    reserved_field = 4
    reserved_flag = 5
    id_must_not_be_zero = 6
    id_too_large = 7
    flags_are_mutually_exclusive = 8
    pending_id_must_be_zero = 9
    pending_id_invalid = 10
    pending_id_must_be_different = 11
    timeout_reserved_for_pending_transfer = 12
    debit_account_id_invalid = 13
    credit_account_id_invalid = 14
    accounts_must_be_different = 15
    amount_must_not_be_zero = 16
    amount_too_large = 17
    ledger_must_not_be_zero = 18
    code_must_not_be_zero = 19
    account_not_found = 20
    ledger_mismatch = 21
    pending_not_found = 22
    pending_transfer_not_pending = 23
    pending_transfer_has_different_fields = 24
    exceeds_pending_amount = 25
    exists_with_different_fields = 26
    exists = 27
    pending_already_posted = 28
    pending_already_voided = 29
    pending_expired = 30
    account_frozen = 31
    category_not_allowed = 32
    overflows_balance = 33
    overflows_timeout = 34
    exceeds_credits = 35
    exceeds_debits = 36
    holding_limit_exceeded = 37


class OrderStatus(IntEnum):
    """Outcome of one account in ``freeze_accounts`` / ``unfreeze_accounts``."""

    ok = 0
    account_not_found = 1
    already_frozen = 2
    not_frozen = 3


S = TypeVar("S", CreateAccountStatus, CreateTransferStatus, OrderStatus)


@dataclass(frozen=True, slots=True)
class Result(Generic[S]):
    """The outcome of the event at ``index`` in the submitted batch."""

    index: int
    status: S

    @property
    def ok(self) -> bool:
        return self.status == 0


class Results(Sequence[Result[S]]):
    """One result per submitted event, built lazily from the engine's status array.

    A batch of 8190 would cost milliseconds to turn into objects up front; callers on the
    hot path read ``statuses`` (a numpy array) or ``failed()`` instead.
    """

    __slots__ = ("_enum", "note_seq", "statuses")

    def __init__(self, statuses: npt.NDArray[np.uint32], enum: type[S], note_seq: int = 0) -> None:
        self.statuses = statuses
        self._enum: type[S] = enum
        self.note_seq = note_seq  # the journal entry of the note made with the batch; 0: none

    def __len__(self) -> int:
        return len(self.statuses)

    @overload
    def __getitem__(self, i: int) -> Result[S]: ...
    @overload
    def __getitem__(self, i: slice) -> list[Result[S]]: ...
    def __getitem__(self, i: int | slice) -> Result[S] | list[Result[S]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return Result(i, self._enum(int(self.statuses[i])))

    def __iter__(self) -> Iterator[Result[S]]:
        enum = self._enum
        return (Result(i, enum(s)) for i, s in enumerate(self.statuses.tolist()))

    def __repr__(self) -> str:
        return f"Results({list(self)!r})"

    def failed(self) -> list[Result[S]]:
        """Only the results that are not ``ok``: TigerBeetle's reply shape."""
        return [self[int(i)] for i in np.flatnonzero(self.statuses)]

    @property
    def all_ok(self) -> bool:
        return not self.statuses.any()
