"""The Ledger: batches in, results out, every acknowledged batch durable in the journal.

Flow of one call: validate and pack the batch; under the apply lock, stamp it with a
timestamp, let the engine apply it and queue it in the journal (so journal order is
apply order); outside the lock, wait for the group commit to fsync it; return results.
Recovery is the same engine fed from the latest snapshot plus the journal after it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tessera.directories import lock_directory, opened_directory
from tessera.errors import (
    CorruptionError,
    InvalidInputError,
    LedgerClosedError,
    LedgerError,
    LedgerFailedError,
    LedgerLockedError,
    SnapshotCorruptError,
)
from tessera.ledger.feed import CommittedBatch, Feed, Subscriber, Subscription
from tessera.ledger.journal import NOTE_FLAG, EntryKind, JournalWriter, iter_entries, list_segments
from tessera.ledger.notes import Note, Notes, decode_body, encode_body
from tessera.ledger.records import (
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    Account,
    AccountFlags,
    Transfer,
    TransferFlags,
    check_packed,
    decode_account,
    decode_transfer,
    encode_accounts,
    encode_transfers,
)
from tessera.ledger.snapshot import Snapshot, list_snapshots, read_snapshot, write_snapshot
from tessera.ledger.state import PendingState, State
from tessera.ledger.status import CreateAccountStatus, CreateTransferStatus, OrderStatus, Results
from tessera.ledger.totals import TOTALS_FIELDS, Totals, totals_of
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT, RECORD_BYTES, check_batch_size

ORDER_REFERENCE_BYTES_MAX = 112
ORDER_DTYPE = np.dtype(
    [
        ("account_id", "<u8"),
        ("action", "u1"),
        ("reference_size", "u1"),
        ("reserved", "V6"),
        ("reference", f"S{ORDER_REFERENCE_BYTES_MAX}"),
    ]
)
assert ORDER_DTYPE.itemsize == RECORD_BYTES  # an order is journaled like an account or a transfer
_FREEZE, _UNFREEZE = 1, 2
_ENTRY_DTYPES = {EntryKind.accounts: ACCOUNT_DTYPE, EntryKind.transfers: TRANSFER_DTYPE, EntryKind.orders: ORDER_DTYPE}

SEGMENT_BYTES_MAX = 256 * 2**20
SNAPSHOT_JOURNAL_BYTES = 64 * 2**20  # close() snapshots once the journal holds this much


# Under the apply lock: (indices in the batch, their holds' debit and credit accounts); raise to refuse.
SettleGuard = Callable[[npt.NDArray[np.intp], npt.NDArray[np.uint64], npt.NDArray[np.uint64]], None]
# A note to journal with a batch (ledger/notes.py): its bytes, or a function making them under the apply lock.
Note_ = bytes | Callable[[], bytes | None]


@dataclass(frozen=True, slots=True)
class AccountOrder:
    """A freeze or unfreeze of an account, with the order (court, agency) that caused it."""

    account_id: int
    action: Literal["freeze", "unfreeze"]
    reference: str
    timestamp: int


@dataclass(slots=True)
class Recovery:
    """What ``Ledger.open`` did to rebuild state; shown by the CLI, asserted by tests."""

    snapshot_seq: int = 0
    entries_replayed: int = 0
    truncated_bytes: int = 0
    truncated_segment: str | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class _Options:
    sync: bool = True
    clock: Callable[[], int] = time.time_ns
    segment_bytes_max: int = SEGMENT_BYTES_MAX
    snapshot_journal_bytes: int = SNAPSHOT_JOURNAL_BYTES
    progress: Callable[[str], None] | None = None
    feed_after: int | None = None  # keep replayed batches after this seq for a subscriber's catch-up


def _checked_ids(ids: Any, name: str) -> npt.NDArray[np.uint64]:
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1 or ids.dtype.kind not in "ui":
            raise InvalidInputError(name, "must be a 1-d array of integers")
        check_batch_size(len(ids), name, least=0)
        # Checked a column at a time: a batch's 8190 ids cost microseconds, not a Python loop.
        bad = np.flatnonzero((ids <= 0) | (ids.astype(np.uint64) >= ID_LIMIT))
        if len(bad):
            i = int(bad[0])
            raise InvalidInputError(f"{name}[{i}]", f"must be between 1 and 2**63 - 1, got {int(ids[i])}")
        return np.ascontiguousarray(ids, dtype=np.uint64)
    if isinstance(ids, Sequence) and not isinstance(ids, str | bytes):
        values = list(ids)
    else:
        raise InvalidInputError(name, "must be a list of ids")
    check_batch_size(len(values), name, least=0)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidInputError(f"{name}[{i}]", f"must be an integer, got {type(v).__name__}")
        if not 0 < v < ID_LIMIT:
            raise InvalidInputError(f"{name}[{i}]", f"must be between 1 and 2**63 - 1, got {v}")
    return np.array(values, dtype=np.uint64)


def _checked_reference(reference: object, name: str) -> bytes:
    """An order's reference as journaled: non-blank text of at most ORDER_REFERENCE_BYTES_MAX bytes."""
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidInputError(name, "must name the order, e.g. 'court-order/2026/118'")
    encoded = reference.encode()
    if len(encoded) > ORDER_REFERENCE_BYTES_MAX:
        raise InvalidInputError(name, f"at most {ORDER_REFERENCE_BYTES_MAX} bytes of UTF-8")
    return encoded


def _opening_freezes(frozen_by: object, batch_ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.void]:
    """``create_accounts``' ``frozen_by`` as freeze orders, each for an account of the batch."""
    if not isinstance(frozen_by, Mapping):
        raise InvalidInputError("frozen_by", "must map account ids to order references")
    in_batch = set(batch_ids.tolist())
    orders = np.zeros(len(frozen_by), dtype=ORDER_DTYPE)
    for i, (account_id, reference) in enumerate(frozen_by.items()):
        if isinstance(account_id, bool) or not isinstance(account_id, int) or account_id not in in_batch:
            raise InvalidInputError("frozen_by", f"{account_id!r} is not the id of an account in the batch")
        encoded = _checked_reference(reference, f"frozen_by[{account_id}]")
        orders[i] = (account_id, _FREEZE, len(encoded), b"", encoded)
    return orders


def _owned(batch: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """The batch as bytes no one else can change: itself where it views an immutable ``bytes``
    (a request body), else a copy of our own.

    The caller's array may change under us (another thread) until we return, and what is
    applied, journaled and published must be the same bytes. Copied as bytes: numpy copies
    structured records field by field, four times slower.
    """
    base: object = batch
    while isinstance(base, np.ndarray) and not base.flags.writeable:
        base = base.base
    if isinstance(base, memoryview) and base.readonly:
        base = base.obj
    if isinstance(base, bytes) and batch.flags.c_contiguous:
        return batch
    return np.ascontiguousarray(batch).view(np.uint8).copy().view(batch.dtype)


def _orders_of(kept: object) -> dict[int, list[AccountOrder]]:
    """The freeze orders a snapshot kept (``{"account id": [[action, reference, timestamp], ...]}``), checked."""
    if not isinstance(kept, dict):
        raise TypeError("orders is not an object")
    orders: dict[int, list[AccountOrder]] = {}
    for key, history in kept.items():
        account_id = int(key)
        if not 0 < account_id < ID_LIMIT or not isinstance(history, list):
            raise ValueError(f"orders of account {key!r:.40}")
        for action, reference, timestamp in history:
            if action not in ("freeze", "unfreeze") or not isinstance(reference, str) or type(timestamp) is not int:
                raise ValueError(f"an order of account {account_id}")
            orders.setdefault(account_id, []).append(AccountOrder(account_id, action, reference, timestamp))
    return orders


def _check_seq(value: object, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInputError(name, "must be a journal sequence number (0 or more)")


def _gaps(first: int, last: int, have: list[int]) -> list[tuple[int, int]]:
    """The runs of seqs in first..last missing from ``have`` (sorted, contiguous)."""
    if not have:
        return [(first, last)] if first <= last else []
    gaps = [(first, have[0] - 1)] if have[0] > first else []
    return gaps + ([(have[-1] + 1, last)] if have[-1] < last else [])


class Ledger:
    """A durable double-entry ledger in one directory. Open with ``Ledger.open(path)``."""

    def __init__(self, path: Path, options: _Options) -> None:
        self.path = path
        self._options = options
        self._apply_lock = threading.Lock()
        self._closed = False
        self._lock_fd = lock_directory(path, LedgerLockedError)
        self._state = State()
        self._last_timestamp = 0
        self._orders: dict[int, list[AccountOrder]] = {}
        self.recovery = Recovery()
        self._replayed: list[CommittedBatch] = []
        self.notes = Notes(path)
        try:
            self._journal = self._recover()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self.feed = Feed(self._journal.sync_through)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        sync: bool = True,
        clock: Callable[[], int] | None = None,
        segment_bytes_max: int = SEGMENT_BYTES_MAX,
        snapshot_journal_bytes: int = SNAPSHOT_JOURNAL_BYTES,
        progress: Callable[[str], None] | None = None,
        feed_after: int | None = None,
    ) -> Ledger:
        """Create the directory or recover from it.

        ``sync=False`` skips fsync (tests only); ``progress`` receives a line per journal
        segment replayed, for operators watching a long recovery. ``feed_after`` keeps the
        batches replayed after that journal seq, so ``subscribe(after_seq=...)`` can hand a
        subscriber what it missed while the process was down.
        """
        if not isinstance(path, str | os.PathLike) or not str(path):
            raise InvalidInputError("path", "must be a directory path")
        if not isinstance(sync, bool):
            raise InvalidInputError("sync", "must be true or false")
        if clock is not None and not callable(clock):
            raise InvalidInputError("clock", "must be a function returning nanoseconds")
        for name, value in (
            ("segment_bytes_max", segment_bytes_max),
            ("snapshot_journal_bytes", snapshot_journal_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(name, "must be a positive integer")
        _check_seq(feed_after, "feed_after")
        directory = opened_directory(path)
        options = _Options(sync, clock or time.time_ns, segment_bytes_max, snapshot_journal_bytes, progress, feed_after)
        return cls(directory, options)

    # -- lifecycle ----------------------------------------------------------------------

    def _recover(self) -> JournalWriter:
        started = time.perf_counter()
        for leftover in self.path.glob("*.tmp"):
            leftover.unlink()
        snapshots = list_snapshots(self.path)
        seq = 0
        if snapshots:
            snap = read_snapshot(snapshots[-1], State.ARRAY_DTYPES)
            self._state = State.from_arrays(snap.arrays)
            self._last_timestamp = snap.last_timestamp
            try:  # what the snapshot's header carries besides the arrays: checked as strictly as they are
                self._orders = _orders_of(snap.extra.get("orders", {}))
                self.notes.restore(snap.extra.get("notes", []))
            except (KeyError, TypeError, ValueError) as error:
                raise SnapshotCorruptError(str(snapshots[-1]), 0, f"header field 'extra': {error}") from None
            seq = self.recovery.snapshot_seq = snap.seq
        expected = seq + 1
        segments = list_segments(self.path)
        current: Path | None = None
        for entry, segment, cut in iter_entries(self.path):
            if segment != current and self._options.progress is not None:
                current = segment
                position = segments.index(segment) + 1
                megabytes = segment.stat().st_size / 2**20
                self._options.progress(f"replaying {segment.name} ({position}/{len(segments)}, {megabytes:.0f} MiB)")
            if entry is None:
                assert cut is not None
                self.recovery.truncated_bytes = segment.stat().st_size - cut
                self.recovery.truncated_segment = segment.name
                with open(segment, "r+b") as f:
                    f.truncate(cut)
                    os.fsync(f.fileno())
                continue
            if entry.seq <= seq:
                continue
            if entry.seq != expected:
                raise CorruptionError(str(segment), entry.offset, f"expected entry {expected}, found {entry.seq}")
            body = entry.body
            if entry.flags & NOTE_FLAG and entry.kind in _ENTRY_DTYPES:  # the service's note, behind the records
                body = entry.body[: entry.count * _ENTRY_DTYPES[entry.kind].itemsize]
            statuses = self._replay(entry.kind, entry.timestamp, body, str(segment), entry.offset)
            if len(body) < len(entry.body):
                self.notes.add(Note(entry.seq, entry.timestamp, decode_body(entry.body[len(body) :]), statuses))
            if self._options.feed_after is not None and entry.seq > self._options.feed_after:
                records = np.frombuffer(body, dtype=_ENTRY_DTYPES[entry.kind]).copy()
                self._replayed.append(CommittedBatch(entry.seq, entry.kind, entry.timestamp, records, statuses))
            self._last_timestamp = max(self._last_timestamp, entry.timestamp + entry.count - 1)
            self.recovery.entries_replayed += 1
            expected += 1
        self._check_balanced()
        self.recovery.seconds = time.perf_counter() - started
        return JournalWriter(self.path, expected, self._options.segment_bytes_max, self._options.sync)

    def _check_balanced(self) -> None:
        """Double entry, checked where the state is whole (recovery, snapshots): per ledger, debits equal credits.

        Posted and pending alike. Every transfer debits one account and credits another of
        the same ledger by the same amount, so a difference means the state is damaged: a
        snapshot forged past its checks, or a bug in the engine.
        """
        accounts = self._state.accounts[: self._state.n_accounts]
        sums: dict[int, list[int]] = {}
        for group in totals_of({name: accounts[name] for name in TOTALS_FIELDS}):
            ledger = sums.setdefault(group.ledger, [0, 0, 0, 0])
            for k, value in enumerate(
                (group.debits_posted, group.credits_posted, group.debits_pending, group.credits_pending)
            ):
                ledger[k] += value
        for ledger_id, (debits, credits, debits_pending, credits_pending) in sorted(sums.items()):
            if debits != credits or debits_pending != credits_pending:
                raise CorruptionError(
                    str(self.path),
                    0,
                    f"ledger {ledger_id} does not balance: debits {debits} against credits {credits} posted, "
                    f"{debits_pending} against {credits_pending} pending",
                )

    def _replay(self, kind: int, timestamp: int, body: memoryview, segment: str, offset: int) -> npt.NDArray[np.uint32]:
        if kind == EntryKind.accounts:
            return self._state.apply_accounts(np.frombuffer(body, dtype=ACCOUNT_DTYPE), timestamp)
        if kind == EntryKind.transfers:
            return self._state.apply_transfers(np.frombuffer(body, dtype=TRANSFER_DTYPE), timestamp)
        if kind == EntryKind.orders:
            return self._apply_orders(np.frombuffer(body, dtype=ORDER_DTYPE), timestamp)
        raise CorruptionError(segment, offset, f"unknown entry kind {kind}")

    def close(self) -> None:
        """Flush, snapshot if the journal has grown, hand subscribers what is queued, and release the directory."""
        if self._closed:
            return
        try:
            with self._apply_lock:
                if self._journal.failure is not None:
                    return  # nothing more can be made durable; reopening recovers what was
                if self._journal_bytes() >= self._options.snapshot_journal_bytes:
                    self._snapshot_locked()
                else:
                    self._journal.sync_through(self._journal.last_seq)
        finally:
            self._closed = True
            self.notes.save()
            self.feed.close()
            self._journal.close()
            os.close(self._lock_fd)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerClosedError(f"ledger {self.path} is closed")
        if self._journal.failure is not None:
            raise LedgerFailedError(f"ledger {self.path} failed: {self._journal.failure}; reopen it to recover")

    def _timestamps(self, count: int) -> int:
        """First timestamp (ns) of a batch; every event gets its own, strictly increasing."""
        first = max(self._options.clock(), self._last_timestamp + 1)
        self._last_timestamp = first + count - 1
        return first

    # -- writes -------------------------------------------------------------------------

    def _commit(
        self,
        kind: int,
        batch: npt.NDArray[np.void],
        apply: Callable[[npt.NDArray[np.void], int], npt.NDArray[np.uint32]],
        note: Note_ | None = None,
    ) -> tuple[npt.NDArray[np.uint32], int]:
        """Apply a batch and journal it in apply order; return once it is durable, with its note's seq (0: none).

        Even a batch refused whole is journaled: its timestamps (and the expiries they
        caused) must survive a restart under a clock that went backwards.
        """
        with self._apply_lock:
            self._check_open()
            statuses, note_seq = self._apply_and_queue(kind, batch, apply, note)
            target = self._journal.last_seq
        self._journal.sync_through(target)
        return statuses, note_seq

    def _apply_and_queue(
        self,
        kind: int,
        batch: npt.NDArray[np.void],
        apply: Callable[[npt.NDArray[np.void], int], npt.NDArray[np.uint32]],
        note: Note_ | None = None,
    ) -> tuple[npt.NDArray[np.uint32], int]:
        """Under the apply lock: stamp and apply a batch, queue it in the journal and on the feed.

        A note rides in the batch's own journal entry, behind its records: one checksum
        covers both, so recovery keeps a batch and its note together or neither. Returns
        the statuses and the entry's seq when it carries a note (else 0).
        """
        batch = _owned(batch)
        timestamp = self._timestamps(len(batch))
        statuses = apply(batch, timestamp)
        payload = note() if callable(note) else note
        if payload is None:
            seq = self._journal.append(kind, timestamp, len(batch), batch)
        else:
            body = np.concatenate([batch.view(np.uint8).reshape(-1), encode_body(payload)])
            seq = self._journal.append(kind, timestamp, len(batch), body, NOTE_FLAG)
            self.notes.add(Note(seq, timestamp, payload, statuses))
        if self.feed.active:  # a copy: the caller may reuse its buffer once we return
            self.feed.publish(CommittedBatch(seq, kind, timestamp, batch.copy(), statuses))
        return statuses, 0 if payload is None else seq

    # -- the event feed -------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber, *, after_seq: int | None = None) -> Subscription:
        """Receive every batch committed from now on, once durable, in journal order.

        With ``after_seq`` (the last seq the subscriber had processed), first the batches
        recovery replayed after it, if the ledger was opened with ``feed_after`` at or
        before it; entries already folded into a snapshot are named in ``missed``.
        """
        _check_seq(after_seq, "after_seq")
        with self._apply_lock:  # no live batch can slip in between the catch-up and the live feed
            self._check_open()
            catch_up = [] if after_seq is None else [b for b in self._replayed if b.seq > after_seq]
            subscription = self.feed.subscribe(subscriber, catch_up)
            if after_seq is not None:
                subscription.missed = _gaps(after_seq + 1, self._journal.last_seq, [b.seq for b in catch_up])
            return subscription

    @property
    def last_seq(self) -> int:
        """The journal seq of the latest committed batch."""
        return self._journal.last_seq

    def create_accounts(
        self,
        accounts: Sequence[Account] | npt.NDArray[np.void],
        *,
        frozen_by: Mapping[int, str] | None = None,
        note: Note_ | None = None,
    ) -> Results[CreateAccountStatus]:
        """Create a batch of accounts (list of Account, or packed ``ACCOUNT_DTYPE`` records).

        ``frozen_by`` maps ids in the batch to the order each opens frozen under (a
        restriction on its holder): the freeze is applied and journaled right behind the
        batch, under the same lock, so no transfer ever reaches such an account unfrozen.
        An account that was not created by this call (it exists, or was refused) is left alone.
        ``note`` is journaled behind the batch as ``create_transfers`` describes.
        """
        if isinstance(accounts, np.ndarray | bytes | bytearray | memoryview):
            batch = check_packed(accounts, ACCOUNT_DTYPE, "accounts")
        else:
            batch = encode_accounts(accounts)
        if not frozen_by:
            statuses, note_seq = self._commit(EntryKind.accounts, batch, self._state.apply_accounts, note)
            return Results(statuses, CreateAccountStatus, note_seq)
        orders = _opening_freezes(frozen_by, batch["id"])
        with self._apply_lock:
            self._check_open()
            statuses, note_seq = self._apply_and_queue(EntryKind.accounts, batch, self._state.apply_accounts, note)
            opened = np.isin(orders["account_id"], batch["id"][statuses == CreateAccountStatus.ok])
            if opened.any():
                self._apply_and_queue(EntryKind.orders, orders[opened], self._apply_orders)
            target = self._journal.last_seq
        self._journal.sync_through(target)
        return Results(statuses, CreateAccountStatus, note_seq)

    def create_transfers(
        self,
        transfers: Sequence[Transfer] | npt.NDArray[np.void],
        *,
        settle_guard: tuple[Sequence[int], SettleGuard] | None = None,
        note: Note_ | None = None,
    ) -> Results[CreateTransferStatus]:
        """Apply a batch of transfers in order, as if one by one; durable before it returns.

        ``settle_guard`` is ``(indices, guard)``: under the apply lock, just before the batch
        applies, ``guard(indices, debit, credit)`` gets the accounts of the pending transfer
        each of those posts or voids settles (0 where there is none) and may raise to refuse
        the whole batch, which is then neither applied nor journaled. The service uses it for
        settlements whose hold it could not see when it checked the caller: the hold may land
        between that check and the apply, and is judged as it stands when the batch applies.

        ``note`` (bytes, or a function making them, called under the lock once the batch has
        applied: for notes that depend on what ``settle_guard`` found) is journaled in the
        batch's own entry, behind its records, made durable
        with it, and kept with the batch's statuses and first timestamp until
        ``notes.mark_delivered`` (``Results.note_seq`` names the entry; ``notes.get`` has it).
        """
        if isinstance(transfers, np.ndarray | bytes | bytearray | memoryview):
            batch = check_packed(transfers, TRANSFER_DTYPE, "transfers")
        else:
            batch = encode_transfers(transfers)
        apply = self._state.apply_transfers
        if settle_guard is not None and len(settle_guard[0]):
            indices = np.asarray(settle_guard[0], dtype=np.intp)
            guard = settle_guard[1]
            if indices.min() < 0 or indices.max() >= len(batch):
                raise InvalidInputError("settle_guard", "indices must be within the batch")

            def apply(batch: npt.NDArray[np.void], timestamp: int) -> npt.NDArray[np.uint32]:
                guard(indices, *self._pending_accounts(batch, indices))
                return self._state.apply_transfers(batch, timestamp)

        statuses, note_seq = self._commit(EntryKind.transfers, batch, apply, note)
        return Results(statuses, CreateTransferStatus, note_seq)

    def _pending_accounts(
        self, batch: npt.NDArray[np.void], indices: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """Under the apply lock: debit and credit account of the hold each of ``indices`` names, 0 if none yet."""
        pending_ids = batch["pending_id"][indices].astype(np.uint64)
        slots = self._state.transfer_slots(pending_ids)
        found = slots >= 0
        transfers = self._state.transfers
        debit = np.where(found, transfers["debit_account_id"][np.maximum(slots, 0)], 0).astype(np.uint64)
        credit = np.where(found, transfers["credit_account_id"][np.maximum(slots, 0)], 0).astype(np.uint64)
        missing = np.flatnonzero(~found)
        holds = np.flatnonzero(batch["flags"] & TransferFlags.pending) if len(missing) else missing
        earlier = {int(batch["id"][j]): int(j) for j in holds}
        for k in missing:
            j = earlier.get(int(pending_ids[k]))
            if j is not None and j < indices[k]:  # a hold made earlier in this very batch
                debit[k], credit[k] = batch["debit_account_id"][j], batch["credit_account_id"][j]
        return debit, credit

    def freeze_accounts(self, account_ids: Sequence[int], reference: str) -> Results[OrderStatus]:
        """Freeze accounts (no debits, no credits) under the order named by ``reference``."""
        return self._order(account_ids, reference, _FREEZE)

    def unfreeze_accounts(self, account_ids: Sequence[int], reference: str) -> Results[OrderStatus]:
        """Lift a freeze, citing the order (an appeal decision, an expiry) that lifts it."""
        return self._order(account_ids, reference, _UNFREEZE)

    def _order(self, account_ids: Sequence[int], reference: str, action: int) -> Results[OrderStatus]:
        ids = _checked_ids(account_ids, "account_ids")
        if not len(ids):
            raise InvalidInputError("account_ids", "must not be empty")
        encoded = _checked_reference(reference, "reference")
        batch = np.zeros(len(ids), dtype=ORDER_DTYPE)
        batch["account_id"] = ids
        batch["action"] = action
        batch["reference_size"] = len(encoded)
        batch["reference"] = encoded
        return Results(self._commit(EntryKind.orders, batch, self._apply_orders)[0], OrderStatus)

    def _apply_orders(self, batch: npt.NDArray[np.void], timestamp: int) -> npt.NDArray[np.uint32]:
        slots = self._state.account_slots(batch["account_id"])
        flags = self._state.accounts["flags"]
        statuses = np.zeros(len(batch), dtype=np.uint32)
        frozen = int(AccountFlags.frozen)
        for i, (record, slot) in enumerate(zip(batch, slots, strict=True)):
            freeze = int(record["action"]) == _FREEZE
            if slot < 0:
                statuses[i] = OrderStatus.account_not_found
            elif freeze and flags[slot] & frozen:
                statuses[i] = OrderStatus.already_frozen
            elif not freeze and not flags[slot] & frozen:
                statuses[i] = OrderStatus.not_frozen
            else:
                flags[slot] = flags[slot] | frozen if freeze else flags[slot] & (0xFFFF ^ frozen)
                account_id = int(record["account_id"])
                reference = bytes(record["reference"])[: int(record["reference_size"])].decode()
                order = AccountOrder(account_id, "freeze" if freeze else "unfreeze", reference, timestamp + i)
                self._orders.setdefault(account_id, []).append(order)
        return statuses

    # -- reads --------------------------------------------------------------------------

    def _read_lock(self) -> threading.Lock:
        """Reads see only durable state: wait for anything applied but not yet fsynced."""
        self._journal.sync_through(self._journal.last_seq)
        return self._apply_lock

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        """The accounts that exist among ``ids``, in the order asked."""
        wanted = _checked_ids(ids, "ids")
        with self._read_lock():
            self._check_open()
            slots = self._state.account_slots(wanted)
            return [decode_account(self._state.accounts[s]) for s in slots if s >= 0]

    def lookup_account_records(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> npt.NDArray[np.void]:
        """The accounts that exist among ``ids``, in the order asked, as 128-byte records (a copy).

        For readers of whole batches: a column such as ``code`` is read with numpy, where
        ``lookup_accounts`` would build an object per account.
        """
        wanted = _checked_ids(ids, "ids")
        with self._read_lock():
            self._check_open()
            slots = self._state.account_slots(wanted)
            return self._state.accounts[slots[slots >= 0]]

    def categorised_accounts(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint16]]:
        """The ids and categories of every account with a category (a merchant's MCC), as arrays.

        The rule engine's payee index starts from these (``rules.engine.PayeeCategories``);
        an account's category never changes, so the feed's account batches keep it whole.
        """
        with self._read_lock():
            self._check_open()
            accounts = self._state.accounts[: self._state.n_accounts]
            kept = accounts["category"] != 0
            return accounts["id"][kept].copy(), accounts["category"][kept].copy()

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]:
        """The transfers that exist among ``ids``, in the order asked, with their timestamps."""
        wanted = _checked_ids(ids, "ids")
        with self._read_lock():
            self._check_open()
            slots = self._state.transfer_slots(wanted)
            return [decode_transfer(self._state.transfers[s]) for s in slots if s >= 0]

    def lookup_transfer_records(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> npt.NDArray[np.void]:
        """The transfers that exist among ``ids``, in the order asked, as 128-byte records (a copy).

        For readers of whole batches, as ``lookup_account_records`` is for accounts.
        """
        wanted = _checked_ids(ids, "ids")
        with self._read_lock():
            self._check_open()
            slots = self._state.transfer_slots(wanted)
            return self._state.transfers[slots[slots >= 0]]

    def lookup_pending_states(self, ids: Sequence[int]) -> dict[int, PendingState]:
        """Where each pending transfer among ``ids`` stands (posted, voided, expired...)."""
        wanted = _checked_ids(ids, "ids")
        with self._read_lock():
            self._check_open()
            slots = self._state.transfer_slots(wanted)
            meta = self._state.meta
            return {int(i): PendingState(int(meta[s]["state"])) for i, s in zip(wanted, slots, strict=True) if s >= 0}

    def get_account_transfers(self, account_id: int, limit: int = 100, reverse: bool = False) -> list[Transfer]:
        """Transfers touching an account, oldest first (newest first with ``reverse``)."""
        (wanted,) = _checked_ids([account_id], "account_id")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= BATCH_SIZE_MAX:
            raise InvalidInputError("limit", f"must be an integer from 1 to {BATCH_SIZE_MAX}")
        if not isinstance(reverse, bool):
            raise InvalidInputError("reverse", "must be true or false")
        with self._read_lock():
            self._check_open()
            slots = self._state.account_transfer_slots(int(wanted), limit, reverse)
            return [decode_transfer(self._state.transfers[s]) for s in slots]

    def lookup_account_orders(self, account_id: int) -> list[AccountOrder]:
        """Every freeze and unfreeze of an account, oldest first, with its order reference."""
        (wanted,) = _checked_ids([account_id], "account_id")
        with self._read_lock():
            self._check_open()
            return list(self._orders.get(int(wanted), []))

    def totals(self) -> list[Totals]:
        """Balances summed per (ledger, code), read in one consistent moment: what a supply report adds up.

        The columns are copied under the read lock, so no batch lands between two groups and
        the sums reconcile exactly; the grouping runs after, without holding up writers.
        """
        with self._read_lock():
            self._check_open()
            accounts = self._state.accounts[: self._state.n_accounts]
            columns = {name: accounts[name].copy() for name in TOTALS_FIELDS}
        return totals_of(columns)

    def reserve(self, accounts: int = 0, transfers: int = 0) -> None:
        """Allocate room for this many more accounts and transfers now, not mid-batch."""
        for name, value in (("accounts", accounts), ("transfers", transfers)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < ID_LIMIT:
                raise InvalidInputError(name, "must be a non-negative integer")
        with self._apply_lock:
            self._check_open()
            self._state.reserve(accounts, transfers)

    @property
    def counts(self) -> dict[str, int]:
        """How many accounts and transfers the ledger holds."""
        return {"accounts": self._state.n_accounts, "transfers": self._state.n_transfers}

    # -- snapshots ----------------------------------------------------------------------

    def snapshot(self) -> Path:
        """Write a snapshot of the current state and drop the journal it covers."""
        with self._apply_lock:
            self._check_open()
            return self._snapshot_locked()

    def _snapshot_locked(self) -> Path:
        self._check_balanced()  # never write down a state that breaks double entry
        self._journal.sync_through(self._journal.last_seq)
        seq = self._journal.last_seq
        orders = {str(k): [[o.action, o.reference, o.timestamp] for o in v] for k, v in self._orders.items()}
        extra = {"orders": orders, "notes": self.notes.for_snapshot()}  # undelivered notes outlive the journal
        snap = Snapshot(seq, self._last_timestamp, self._state.arrays(), extra)
        path = write_snapshot(self.path, snap)
        self._journal.start_segment(seq + 1)
        for old in list_segments(self.path):
            if old != self._journal.path:
                old.unlink()
        for old in list_snapshots(self.path):
            if old != path:
                old.unlink()
        return path

    def _journal_bytes(self) -> int:
        return sum(p.stat().st_size for p in list_segments(self.path))


__all__ = ["AccountOrder", "Ledger", "LedgerError", "Recovery"]
