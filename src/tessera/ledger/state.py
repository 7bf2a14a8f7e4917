"""The ledger's in-memory state: numpy arrays that the compiled engine updates in place.

Python owns the memory and grows it ahead of each batch (amortised doubling); the engine
is a pure function over these arrays, so a snapshot is just the arrays written out. The
engine follows the indexes stored in them (a transfer's previous transfer per account, an
account's newest transfer, the expiry heap) without checking, so arrays from outside (a
snapshot) are checked whole by ``check_arrays`` before the engine sees them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from enum import IntEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from tessera.ledger import _engine
from tessera.ledger.records import ACCOUNT_DTYPE, TRANSFER_DTYPE, TransferFlags
from tessera.limits import ID_LIMIT

META_BYTES = 32  # engine.h's meta_t, which the engine steps through by its own sizeof
META_DTYPE = np.dtype(
    [
        ("prev_debit", "<i8"),
        ("prev_credit", "<i8"),
        ("expires_at", "<u8"),
        ("state", "u1"),
        ("pad", "V7"),
    ]
)
assert META_DTYPE.itemsize == META_BYTES

CAPACITY_MIN = 1024
POPULATE_BYTES_MIN = 4 * 2**20
G = TypeVar("G", bound=np.generic)


class PendingState(IntEnum):
    """Where a pending transfer stands; ``none`` for transfers that are not pending."""

    none = 0
    pending = 1
    posted = 2
    voided = 3
    expired = 4


class StateArrayError(ValueError):
    """A state array breaks an invariant the engine relies on; ``field`` and ``index`` say where."""

    def __init__(self, field: str, index: int | None, reason: str) -> None:
        super().__init__(f"{field}{'' if index is None else f'[{index}]'}: {reason}")
        self.field = field
        self.index = index
        self.reason = reason


def _require(ok: npt.NDArray[np.bool_], field: str, reason: str) -> None:
    """Raise naming the first element of ``field`` where ``ok`` is false."""
    if not ok.all():
        raise StateArrayError(field, int(np.flatnonzero(~ok)[0]), reason)


def _unique_ids(ids: npt.NDArray[np.uint64], field: str) -> npt.NDArray[np.uint64]:
    """The index of ``ids``, after checking each is a valid id and none is repeated."""
    _require((ids != 0) & (ids < ID_LIMIT), field, "not an id (1 to 2**63 - 1)")
    index = _index_for(ids, len(ids))
    slots = np.empty(len(ids), dtype=np.int64)
    _engine.lookup(index, ids, slots)
    _require(slots == np.arange(len(ids)), field, "repeats an earlier id")
    return index


def check_arrays(arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """Check arrays from outside (a snapshot) before the engine sees them; raise StateArrayError.

    Every index stored in them must point where the engine will follow it: an account's
    newest transfer and a transfer's previous ones at an earlier stored transfer, a
    transfer's accounts (and a post's or void's hold) at records that exist, a heap entry
    at a slot the engine can compare; ids are valid and unique, so the rebuilt indexes are sound.
    """
    _checked_indexes(arrays)


def _checked_indexes(
    arrays: Mapping[str, npt.NDArray[Any]],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """``check_arrays``, returning the account and transfer indexes it had to build."""
    for name, dtype in State.ARRAY_DTYPES.items():
        if name not in arrays:
            raise StateArrayError(name, None, "missing")
        array = arrays[name]
        if array.dtype != dtype or array.ndim != 1:
            raise StateArrayError(name, None, f"must be a 1-d array of {dtype}")
    accounts, transfers, meta = arrays["accounts"], arrays["transfers"], arrays["meta"]
    account_last, heap = arrays["account_last"], arrays["heap"]
    na, nt = len(accounts), len(transfers)
    if len(account_last) != na:
        raise StateArrayError("account_last", None, f"{len(account_last)} entries for {na} accounts")
    if len(meta) != nt:
        raise StateArrayError("meta", None, f"{len(meta)} entries for {nt} transfers")
    if len(heap) % 2:
        raise StateArrayError("heap", None, "odd number of words (entries are pairs)")

    account_index = _unique_ids(np.ascontiguousarray(accounts["id"]), "accounts.id")
    transfer_index = _unique_ids(np.ascontiguousarray(transfers["id"]), "transfers.id")
    _require((account_last >= -1) & (account_last < nt), "account_last", f"not a transfer (-1 to {nt - 1})")
    earlier = np.arange(nt)
    for field in ("prev_debit", "prev_credit"):
        previous = meta[field]
        _require((previous >= -1) & (previous < earlier), f"meta.{field}", "not an earlier transfer")
    _require(meta["state"] <= max(PendingState), "meta.state", "unknown pending state")
    # Words of (expires_at, transfer) pairs. A transfer rolled back (a failed linked chain)
    # leaves its entry behind, naming a slot past the end or reused since: the engine skips
    # those, comparing without sign, so the check is only that the slot reads as a count.
    plausible = np.ones(len(heap), dtype=bool)
    plausible[1::2] = heap[1::2] < ID_LIMIT
    _require(plausible, "heap", "entry names no transfer slot (0 to 2**63 - 1)")
    for field in ("debit_account_id", "credit_account_id"):
        slots = np.empty(nt, dtype=np.int64)
        _engine.lookup(account_index, np.ascontiguousarray(transfers[field]), slots)
        _require(slots >= 0, f"transfers.{field}", "names no account")
    settle = TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer
    settles = np.flatnonzero(transfers["flags"] & settle)
    slots = np.empty(len(settles), dtype=np.int64)
    _engine.lookup(transfer_index, np.ascontiguousarray(transfers["pending_id"][settles]), slots)
    if (slots < 0).any():
        raise StateArrayError("transfers.pending_id", int(settles[np.flatnonzero(slots < 0)[0]]), "names no transfer")
    return account_index, transfer_index


def _populate_soon(array: npt.NDArray[np.generic], start: int) -> None:
    """Fault in the fresh tail of a grown array on another core, before the engine writes it."""
    tail = array.reshape(-1)[start:]
    if tail.nbytes >= POPULATE_BYTES_MIN:
        threading.Thread(target=_engine.populate, args=(tail,), name="tessera-populate", daemon=True).start()


def _grown(array: npt.NDArray[G], needed: int, fill: int = 0) -> npt.NDArray[G]:
    capacity = max(CAPACITY_MIN, len(array))
    while capacity < needed:
        capacity *= 2
    if capacity == len(array):
        return array
    grown: npt.NDArray[G] = np.zeros(capacity, dtype=array.dtype) if fill == 0 else np.full(capacity, fill, array.dtype)
    grown[: len(array)] = array
    _populate_soon(grown, len(array))
    return grown


def _index_for(ids: npt.NDArray[np.uint64], needed: int) -> npt.NDArray[np.uint64]:
    """A hash index of (id, slot) pairs kept at most half full."""
    capacity = CAPACITY_MIN
    while capacity < 2 * needed:
        capacity *= 2
    index = np.zeros((capacity, 2), dtype=np.uint64)
    _engine.populate(index)  # one sequential pass beats a page fault per random insert
    _engine.build_index(index, np.ascontiguousarray(ids, dtype=np.uint64))
    return index


class State:
    """Accounts, transfers, their hash indexes and the pending-expiry heap."""

    def __init__(self) -> None:
        self.accounts: npt.NDArray[np.void] = np.zeros(CAPACITY_MIN, dtype=ACCOUNT_DTYPE)
        self.account_last: npt.NDArray[Any] = np.full(CAPACITY_MIN, -1, dtype=np.int64)
        self.account_index: npt.NDArray[Any] = np.zeros((CAPACITY_MIN, 2), dtype=np.uint64)
        self.transfers: npt.NDArray[np.void] = np.zeros(CAPACITY_MIN, dtype=TRANSFER_DTYPE)
        self.meta: npt.NDArray[np.void] = np.zeros(CAPACITY_MIN, dtype=META_DTYPE)
        self.transfer_index: npt.NDArray[Any] = np.zeros((CAPACITY_MIN, 2), dtype=np.uint64)
        self.heap: npt.NDArray[Any] = np.zeros((CAPACITY_MIN, 2), dtype=np.uint64)
        # n_accounts, n_transfers, heap_size, unused: shared with the engine.
        self.counts: npt.NDArray[Any] = np.zeros(4, dtype=np.int64)

    @property
    def n_accounts(self) -> int:
        return int(self.counts[0])

    @property
    def n_transfers(self) -> int:
        return int(self.counts[1])

    # -- growth -----------------------------------------------------------------------

    def reserve(self, accounts: int, transfers: int) -> None:
        """Make room up front (as TigerBeetle allocates at start) so growth never stalls a batch."""
        self._reserve_accounts(accounts)
        self._reserve_transfers(transfers)
        for array in (self.accounts, self.account_last, self.transfers, self.meta, self.heap):
            _engine.populate(array)

    def _reserve_accounts(self, extra: int) -> None:
        needed = self.n_accounts + extra
        self.accounts = _grown(self.accounts, needed)
        self.account_last = _grown(self.account_last, needed, fill=-1)
        if 2 * needed > len(self.account_index):
            self.account_index = _index_for(self.accounts["id"][: self.n_accounts], needed * 2)

    def _reserve_transfers(self, extra: int) -> None:
        needed = self.n_transfers + extra
        self.transfers = _grown(self.transfers, needed)
        self.meta = _grown(self.meta, needed)
        self.heap = _grown(self.heap.reshape(-1), 2 * (int(self.counts[2]) + 2 * extra)).reshape(-1, 2)
        if 2 * needed > len(self.transfer_index):
            self.transfer_index = _index_for(self.transfers["id"][: self.n_transfers], needed * 2)

    # -- applying batches ---------------------------------------------------------------

    def apply_accounts(self, batch: npt.NDArray[np.void], timestamp: int) -> npt.NDArray[np.uint32]:
        self._reserve_accounts(len(batch))
        statuses = np.empty(len(batch), dtype=np.uint32)
        _engine.create_accounts(
            self.accounts, self.account_last, self.account_index, self.counts, batch, statuses, timestamp
        )
        return statuses

    def apply_transfers(self, batch: npt.NDArray[np.void], timestamp: int) -> npt.NDArray[np.uint32]:
        self._reserve_transfers(len(batch))
        statuses = np.empty(len(batch), dtype=np.uint32)
        _engine.create_transfers(
            self.accounts,
            self.account_last,
            self.account_index,
            self.transfers,
            self.meta,
            self.transfer_index,
            self.heap,
            self.counts,
            batch,
            statuses,
            timestamp,
        )
        return statuses

    # -- reading ------------------------------------------------------------------------

    def account_slots(self, ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        slots = np.empty(len(ids), dtype=np.int64)
        _engine.lookup(self.account_index, np.ascontiguousarray(ids, dtype=np.uint64), slots)
        return slots

    def transfer_slots(self, ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        slots = np.empty(len(ids), dtype=np.int64)
        _engine.lookup(self.transfer_index, np.ascontiguousarray(ids, dtype=np.uint64), slots)
        return slots

    def account_transfer_slots(self, account_id: int, limit: int, reverse: bool) -> npt.NDArray[np.int64]:
        found = self.account_slots(np.array([account_id], dtype=np.uint64))
        if found[0] < 0:
            return np.empty(0, dtype=np.int64)
        out = np.empty(limit, dtype=np.int64)
        n = _engine.account_transfers(
            self.account_last, self.meta, self.transfers, int(found[0]), account_id, limit, reverse, out
        )
        return out[:n]

    # -- snapshots ----------------------------------------------------------------------

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The live part of every array a snapshot must keep (indexes are rebuilt on load)."""
        na, nt, nh = self.n_accounts, self.n_transfers, int(self.counts[2])
        return {
            "accounts": self.accounts[:na],
            "account_last": self.account_last[:na],
            "transfers": self.transfers[:nt],
            "meta": self.meta[:nt],
            "heap": self.heap[:nh].reshape(-1),
        }

    ARRAY_DTYPES = {  # noqa: RUF012 - a constant table, never mutated
        "accounts": ACCOUNT_DTYPE,
        "account_last": np.dtype(np.int64),
        "transfers": TRANSFER_DTYPE,
        "meta": META_DTYPE,
        "heap": np.dtype(np.uint64),
    }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> State:
        """A state holding copies of ``arrays``, checked first (StateArrayError) and with fresh indexes."""
        account_index, transfer_index = _checked_indexes(arrays)
        state = cls()
        na, nt, nh = len(arrays["accounts"]), len(arrays["transfers"]), len(arrays["heap"]) // 2
        state.accounts = _grown(np.zeros(0, ACCOUNT_DTYPE), na)
        state.accounts[:na] = arrays["accounts"]
        state.account_last = _grown(np.zeros(0, np.int64), na, fill=-1)
        state.account_last[:na] = arrays["account_last"]
        state.transfers = _grown(np.zeros(0, TRANSFER_DTYPE), nt)
        state.transfers[:nt] = arrays["transfers"]
        state.meta = _grown(np.zeros(0, META_DTYPE), nt)
        state.meta[:nt] = arrays["meta"]
        state.heap = _grown(np.zeros(0, np.uint64), 2 * nh).reshape(-1, 2)
        state.heap[:nh] = arrays["heap"].reshape(-1, 2)
        state.counts[:] = (na, nt, nh, 0)
        state.account_index = account_index
        state.transfer_index = transfer_index
        return state
