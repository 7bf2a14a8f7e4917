"""Accounts and transfers: the Python records and the fixed-size binary layout they share.

One layout runs from the wire to the disk: a transfer or an account is a 128-byte
little-endian record (``TRANSFER_DTYPE``, ``ACCOUNT_DTYPE``). The dataclasses here are
the convenient, validated edge; the engine and the journal only ever see the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidInputError
from tessera.limits import ID_LIMIT, RECORD_BYTES, U16_LIMIT, U32_LIMIT, check_batch_size

CATEGORIES_MAX = 8

TRANSFER_DTYPE = np.dtype(
    [
        ("id", "<u8"),
        ("debit_account_id", "<u8"),
        ("credit_account_id", "<u8"),
        ("amount", "<u8"),
        ("pending_id", "<u8"),
        ("user_data_64", "<u8"),
        ("timestamp", "<u8"),
        ("timeout", "<u4"),
        ("ledger", "<u4"),
        ("code", "<u2"),
        ("flags", "<u2"),
        ("user_data_32", "<u4"),
        ("reserved", "V56"),
    ]
)

ACCOUNT_DTYPE = np.dtype(
    [
        ("id", "<u8"),
        ("debits_pending", "<u8"),
        ("debits_posted", "<u8"),
        ("credits_pending", "<u8"),
        ("credits_posted", "<u8"),
        ("holding_limit", "<u8"),
        ("user_data_64", "<u8"),
        ("timestamp", "<u8"),
        ("ledger", "<u4"),
        ("code", "<u2"),
        ("flags", "<u2"),
        ("category", "<u2"),
        ("allowed_categories", "<u2", (CATEGORIES_MAX,)),
        ("reserved0", "<u2"),
        ("user_data_32", "<u4"),
        ("reserved", "V32"),
    ]
)

assert TRANSFER_DTYPE.itemsize == RECORD_BYTES and ACCOUNT_DTYPE.itemsize == RECORD_BYTES


class AccountFlags(IntFlag):
    """Account behaviour; ``frozen`` is set only by ``freeze_accounts`` with an order."""

    none = 0
    linked = 1
    debits_must_not_exceed_credits = 2
    credits_must_not_exceed_debits = 4
    frozen = 8


class TransferFlags(IntFlag):
    """Transfer kind and chaining."""

    none = 0
    linked = 1
    pending = 2
    post_pending_transfer = 4
    void_pending_transfer = 8


F = TypeVar("F", AccountFlags, TransferFlags)


def flag_names(flags: AccountFlags | TransferFlags) -> list[str]:
    """The names of the flags set, for JSON: ``["linked", "pending"]``."""
    return [f.name for f in type(flags) if f and f in flags and f.name]


def flags_from_names(kind: type[F], names: Iterable[str]) -> F:
    """The flags named, back from JSON; an unknown name raises KeyError (schemas allow known ones only)."""
    flags = kind.none
    for name in names:
        flags |= kind[name]
    return flags


@dataclass(frozen=True, slots=True)
class Account:
    """A ledger account. Balances and ``timestamp`` are filled in by lookups only."""

    id: int
    ledger: int
    code: int
    flags: AccountFlags = AccountFlags.none
    category: int = 0
    holding_limit: int = 0
    allowed_categories: frozenset[int] = field(default_factory=frozenset)
    user_data_64: int = 0
    user_data_32: int = 0
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp: int = 0

    @property
    def balance(self) -> int:
        """Posted credits minus posted debits: what a wallet holds."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """The balance less what pending debits have reserved."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class Transfer:
    """A movement of ``amount`` from one account to another, or the settling of a pending one."""

    id: int
    debit_account_id: int = 0
    credit_account_id: int = 0
    amount: int = 0
    ledger: int = 0
    code: int = 0
    flags: TransferFlags = TransferFlags.none
    pending_id: int = 0
    timeout: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    timestamp: int = 0


_U64 = ID_LIMIT  # u64 fields accept what the contract allows, not the full 2**64
_U32 = U32_LIMIT
_U16 = U16_LIMIT


def _checked(value: Any, name: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(name, f"must be an integer, got {type(value).__name__}")
    if value < 0:
        raise InvalidInputError(name, f"must not be negative, got {value}")
    if value >= limit:
        bits = limit.bit_length() - 1
        raise InvalidInputError(name, f"must be below 2**{bits}, got {value}")
    return value


def _checked_flags(value: Any, name: str, known: type[IntFlag]) -> int:
    raw = _checked(value, name, _U16)
    unknown = raw & ~sum(int(f) for f in known)
    if unknown:
        raise InvalidInputError(name, f"unknown flag bits 0x{unknown:x}")
    return raw


def _category_slots(categories: Any, name: str) -> list[int]:
    if isinstance(categories, str | bytes) or not isinstance(categories, Iterable):
        raise InvalidInputError(name, "must be a set of category codes")
    codes = sorted({_checked(c, name, _U16) for c in categories})
    if 0 in codes:
        raise InvalidInputError(name, "category 0 means 'none' and cannot be allowed")
    if len(codes) > CATEGORIES_MAX:
        raise InvalidInputError(name, f"at most {CATEGORIES_MAX} categories, got {len(codes)}")
    return codes + [0] * (CATEGORIES_MAX - len(codes))


def _checked_batch(items: Any, kind: type) -> Sequence[Any]:
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise InvalidInputError("batch", f"must be a list of {kind.__name__}")
    check_batch_size(len(items), "batch")
    for i, item in enumerate(items):
        if not isinstance(item, kind):
            raise InvalidInputError(f"batch[{i}]", f"must be a {kind.__name__}, got {type(item).__name__}")
    return items


def encode_accounts(accounts: Sequence[Account]) -> npt.NDArray[np.void]:
    """Validate and pack accounts; raises InvalidInputError naming the first bad field."""
    _checked_batch(accounts, Account)
    out = np.zeros(len(accounts), dtype=ACCOUNT_DTYPE)
    for i, a in enumerate(accounts):
        p = f"accounts[{i}]."
        out[i] = (
            _checked(a.id, p + "id", _U64),
            _checked(a.debits_pending, p + "debits_pending", _U64),
            _checked(a.debits_posted, p + "debits_posted", _U64),
            _checked(a.credits_pending, p + "credits_pending", _U64),
            _checked(a.credits_posted, p + "credits_posted", _U64),
            _checked(a.holding_limit, p + "holding_limit", _U64),
            _checked(a.user_data_64, p + "user_data_64", _U64),
            _checked(a.timestamp, p + "timestamp", _U64),
            _checked(a.ledger, p + "ledger", _U32),
            _checked(a.code, p + "code", _U16),
            _checked_flags(a.flags, p + "flags", AccountFlags),
            _checked(a.category, p + "category", _U16),
            _category_slots(a.allowed_categories, p + "allowed_categories"),
            0,
            _checked(a.user_data_32, p + "user_data_32", _U32),
            bytes(32),
        )
    return out


def encode_transfers(transfers: Sequence[Transfer]) -> npt.NDArray[np.void]:
    """Validate and pack transfers; raises InvalidInputError naming the first bad field."""
    _checked_batch(transfers, Transfer)
    rows = []
    for i, t in enumerate(transfers):
        p = f"transfers[{i}]."
        rows.append(
            (
                _checked(t.id, p + "id", _U64),
                _checked(t.debit_account_id, p + "debit_account_id", _U64),
                _checked(t.credit_account_id, p + "credit_account_id", _U64),
                _checked(t.amount, p + "amount", _U64),
                _checked(t.pending_id, p + "pending_id", _U64),
                _checked(t.user_data_64, p + "user_data_64", _U64),
                _checked(t.timestamp, p + "timestamp", _U64),
                _checked(t.timeout, p + "timeout", _U32),
                _checked(t.ledger, p + "ledger", _U32),
                _checked(t.code, p + "code", _U16),
                _checked_flags(t.flags, p + "flags", TransferFlags),
                _checked(t.user_data_32, p + "user_data_32", _U32),
                bytes(56),
            )
        )
    return np.array(rows, dtype=TRANSFER_DTYPE)


def check_packed(batch: Any, dtype: np.dtype[Any], name: str) -> npt.NDArray[np.void]:
    """Accept a packed batch as a numpy record array or raw bytes, without copying."""
    if isinstance(batch, bytes | bytearray | memoryview):
        if len(batch) % dtype.itemsize:
            raise InvalidInputError(name, f"length {len(batch)} is not a multiple of {dtype.itemsize}")
        batch = np.frombuffer(batch, dtype=dtype)
    if not isinstance(batch, np.ndarray) or batch.dtype != dtype or batch.ndim != 1:
        raise InvalidInputError(name, f"must be a 1-d numpy array of dtype {name} records")
    check_batch_size(len(batch), name)
    return np.ascontiguousarray(batch)


def decode_account(r: np.void) -> Account:
    cats = frozenset(int(c) for c in r["allowed_categories"] if c)
    return Account(
        id=int(r["id"]),
        ledger=int(r["ledger"]),
        code=int(r["code"]),
        flags=AccountFlags(int(r["flags"])),
        category=int(r["category"]),
        holding_limit=int(r["holding_limit"]),
        allowed_categories=cats,
        user_data_64=int(r["user_data_64"]),
        user_data_32=int(r["user_data_32"]),
        debits_pending=int(r["debits_pending"]),
        debits_posted=int(r["debits_posted"]),
        credits_pending=int(r["credits_pending"]),
        credits_posted=int(r["credits_posted"]),
        timestamp=int(r["timestamp"]),
    )


def decode_transfer(r: np.void) -> Transfer:
    return Transfer(
        id=int(r["id"]),
        debit_account_id=int(r["debit_account_id"]),
        credit_account_id=int(r["credit_account_id"]),
        amount=int(r["amount"]),
        ledger=int(r["ledger"]),
        code=int(r["code"]),
        flags=TransferFlags(int(r["flags"])),
        pending_id=int(r["pending_id"]),
        timeout=int(r["timeout"]),
        user_data_64=int(r["user_data_64"]),
        user_data_32=int(r["user_data_32"]),
        timestamp=int(r["timestamp"]),
    )
