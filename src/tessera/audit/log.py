"""The access log: every look at a person's data, append-only and provable.

On disk, in one directory::

    entries.log     the truth: frames [u32 size | u32 crc32 | entry JSON], one per access
    leaves.bin      tree level 0: the RFC 6962 leaf hash of each entry, 32 bytes, same order
    nodes-KK.bin    tree level KK (01, 02, ...): the hash of each aligned run of 2**KK leaves
    index.bin       per entry [u64 byte offset of its frame | u64 subject key], little-endian
    checkpoint.bin  [u64 entries | u64 bytes of entries.log | u32 crc32]: caches durable so far
    heads.log       signed tree heads [u64 size | u64 timestamp | root 32 | Ed25519 sig 64]
    log.key         the Ed25519 signing key (raw 32 bytes, mode 0600)
    LOCK            flock'ed by the process that has the log open; holds its pid

Durability: ``append`` returns once its frames are in ``entries.log`` and fdatasync'ed,
the only fsync on the append path, shared by every batch written while the previous one
ran (group commit). ``leaves.bin``, ``nodes-KK.bin`` and ``index.bin`` are caches derived
from the entries: written without fsync, made durable in the background every
``CHECKPOINT_ENTRIES`` entries and on close, when ``checkpoint.bin`` records how far.

Recovery rule, applied by ``open``:

1. The first ``bytes`` of ``entries.log`` named by the checkpoint hold acknowledged
   entries. A file shorter than that, or a frame there failing its checksum, is
   corruption (``CorruptionError``), never a torn tail.
2. The caches are trusted up to the checkpoint after one check at its edge: the entry
   at the last checkpointed index offset must read back whole, end exactly at the
   checkpoint's byte count, and hash to the stored leaf and subject key. If it does not,
   or a cache is shorter than the checkpoint, every cache is rebuilt from all entries.
3. Cache records past the checkpoint (a tail written before a crash, complete or not)
   are cut off and re-derived from the frames of ``entries.log`` after the checkpoint.
4. The first frame after the checkpoint that is torn or fails its checksum ends the log;
   it and all after it were never acknowledged and are truncated.

So open reads ``entries.log`` only past the last checkpoint, and loads the caches whole
(about 80 bytes an entry). ``verify_log`` re-hashes everything, caches included.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tessera.audit.entries import (
    BATCH_MAX,
    FRAME,
    TEXT_MAX,
    AccessEntry,
    prepare_batches,
    read_frame,
    scan_frames,
    subject_keys,
    subject_of,
)
from tessera.audit.layout import (
    HEAD,
    INDEX_DTYPE,
    SignedTreeHead,
    level_path,
    load_key,
    read_checkpoint,
    read_prefix,
    write_all,
    write_checkpoint,
)
from tessera.audit.merkle import HASH_SIZE, MerkleTree, leaf_hash
from tessera.directories import lock_directory, opened_directory
from tessera.errors import CorruptionError, InvalidInputError, LedgerFailedError, LogLockedError
from tessera.limits import PAGE_SIZE_MAX

CHECKPOINT_ENTRIES = 1 << 17  # a crash re-hashes at most about two of these on open
FLUSH_ENTRIES = 1 << 14  # cache records are written in runs this long, not per batch
GROUP_ENTRIES_MAX = 1 << 16  # one writer takes at most this many waiting entries at once
MERGE_ENTRIES_MIN = 1 << 16  # subject keys newer than the sorted run are scanned, up to this


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What ``AccessLog.open`` found and repaired."""

    entries: int
    entries_rederived: int  # re-hashed from entries.log because no durable cache covered them
    bytes_truncated: int  # torn tail cut from entries.log: appends that were never acknowledged
    caches_rebuilt: bool  # the caches failed the check at the checkpoint and were rebuilt whole


class _Slot:
    """One caller's batch on its way into the log: its end index once written, or its error.

    Each caller waits on its own condition, so a state change wakes only the callers it
    concerns; waking every waiter each time cost more than the appends themselves.
    """

    __slots__ = ("end", "entries", "error", "wake")

    def __init__(self, entries: Sequence[AccessEntry], lock: threading.Lock) -> None:
        self.entries = entries
        self.end: int | None = None
        self.error: BaseException | None = None
        self.wake = threading.Condition(lock)


def _merged_run(
    run: tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], int], keys: npt.NDArray[np.uint64], upto: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], int]:
    """The sorted (subject key, index) run extended with ``keys[covered:upto]``.

    Within one key the indexes stay ascending: the stable sort keeps the new ones in
    order, and inserting them on the right of equal keys puts them after the old ones.
    """
    sorted_keys, order, covered = run
    new = keys[covered:upto]
    new_order = np.argsort(new, kind="stable")
    new_keys, new_indexes = new[new_order], new_order + covered
    at = np.searchsorted(sorted_keys, new_keys, side="right")
    return np.insert(sorted_keys, at, new_keys), np.insert(order, at, new_indexes), upto


class AccessLog:
    """Append-only, hash-chained (Merkle) log of access entries in one directory.

    Safe to share between threads. Concurrent appends are group-committed: one fdatasync
    covers every batch written while the previous one ran. Readers (sizes, heads,
    proofs, listings) see only entries that are durable.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # guards everything below that changes
        self._idle = threading.Condition(self._lock)  # close() waits here for calls in flight
        self._heads_lock = threading.Lock()
        self._maintenance_lock = threading.Lock()
        self._job: threading.Thread | None = None
        self._pending: deque[_Slot] = deque()  # batches not written yet
        self._unsynced: deque[_Slot] = deque()  # written, waiting for an fsync
        self._writing = False
        self._syncing = False
        self._busy = 0  # calls using the files outside the lock; close waits for them
        self._closing = False
        self._failed: OSError | None = None
        self._run: tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], int] = (
            np.zeros(0, np.uint64),  # subject keys, sorted
            np.zeros(0, np.int64),  # the index of each, ascending within a key
            0,  # how many entries the run covers
        )
        self._level_fds: list[int] = []
        self._level_flushed: list[int] = []  # hashes of each level written to its file
        self._lock_fd = lock_directory(path, LogLockedError)
        self._fds: list[int] = []
        try:
            self._key = load_key(path / "log.key")
            self._entries_fd = self._open_fd(path / "entries.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self._reader_fd = self._open_fd(path / "entries.log", os.O_RDONLY)
            self._heads_fd = self._open_fd(path / "heads.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self._index_fd = self._open_fd(path / "index.bin", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self.recovery = self._recover()
        except BaseException:
            self._close_fds()
            raise
        with self._lock:
            self._schedule_maintenance()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> AccessLog:
        """Create the directory or recover the log in it (see the module's recovery rule)."""
        return cls(opened_directory(path))

    def _open_fd(self, path: Path, flags: int) -> int:
        fd = os.open(path, flags, 0o644)
        self._fds.append(fd)
        return fd

    def _close_fds(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        os.close(self._lock_fd)

    # -- recovery ----------------------------------------------------------------------

    def _recover(self) -> RecoveryReport:
        """Apply the recovery rule of the module docstring; returns what it repaired."""
        entries_path = self.path / "entries.log"
        size = os.fstat(self._reader_fd).st_size
        count, end = read_checkpoint(self.path)
        if end > size:
            reason = f"ends before the {count} acknowledged entries its checkpoint covers"
            raise CorruptionError(str(entries_path), size, reason)
        acknowledged_end = end
        trusted = self._trusted_caches(count, end) if count else None
        rebuilt = count > 0 and trusted is None
        if trusted is None:
            count, end = 0, 0
            trusted = np.zeros(0, INDEX_DTYPE), [bytearray()]
        self._adopt_caches(*trusted, end)
        good_end = self._rederive(entries_path, end)
        if good_end < acknowledged_end:
            reason = f"entry {self._written} fails its checksum below the checkpoint (acknowledged entries)"
            raise CorruptionError(str(entries_path), good_end, reason)
        if good_end < size:
            os.truncate(self._entries_fd, good_end)
            os.fsync(self._entries_fd)
        self._bytes = self._durable_bytes = good_end
        self._durable = self._written
        report = RecoveryReport(self._written, self._written - count, size - good_end, rebuilt)
        if report.entries_rederived or report.bytes_truncated or rebuilt:
            self._checkpoint_now()
        return report

    def _trusted_caches(self, count: int, end: int) -> tuple[npt.NDArray[np.void], list[bytearray]] | None:
        """The index and tree levels the checkpoint covers, or None if they fail the edge check."""
        index_bytes = read_prefix(self.path / "index.bin", count * INDEX_DTYPE.itemsize, INDEX_DTYPE.itemsize)
        index = np.frombuffer(index_bytes, INDEX_DTYPE)
        leaves = read_prefix(self.path / "leaves.bin", count * HASH_SIZE, HASH_SIZE)
        if len(index) < count or len(leaves) < count * HASH_SIZE:
            return None
        if not self._edge_holds(index[-1], leaves[-HASH_SIZE:], end):
            return None
        levels = [leaves]
        while count >> len(levels):  # an upper level read short is completed by from_levels
            nbytes = (count >> len(levels)) * HASH_SIZE
            levels.append(read_prefix(level_path(self.path, len(levels)), nbytes, HASH_SIZE))
        return index, levels

    def _adopt_caches(self, index: npt.NDArray[np.void], levels: list[bytearray], end: int) -> None:
        """Build the tree and index from trusted caches and cut the files back to them."""
        count = len(index)
        loaded = [len(level) // HASH_SIZE for level in levels]
        self._tree = MerkleTree.from_levels(levels)
        for level, hashes in enumerate(loaded):
            os.truncate(self._open_level(level), hashes * HASH_SIZE)
            self._level_flushed[level] = hashes
        for stale in self.path.glob("nodes-*.bin"):
            if int(stale.stem[len("nodes-") :]) >= len(loaded):
                stale.unlink()
        os.truncate(self._index_fd, count * INDEX_DTYPE.itemsize)
        self._index = np.zeros(max(1024, count + count // 2), INDEX_DTYPE)
        self._index[:count] = index
        self._written = self._flushed = self._durable = self._checkpointed = count
        self._bytes = self._durable_bytes = end

    def _edge_holds(self, record: np.void, leaf: bytearray, end: int) -> bool:
        """The last checkpointed entry reads back, ends at ``end``, and matches its cache records."""
        offset = int(record["offset"])
        payload = read_frame(self._reader_fd, offset)
        if payload is None or offset + FRAME.size + len(payload) != end or leaf_hash(payload) != leaf:
            return False
        try:
            return bool(subject_keys([subject_of(payload)])[0] == record["key"])
        except (ValueError, TypeError, KeyError):
            return False

    def _rederive(self, entries_path: Path, start: int) -> int:
        """Hash the frames from ``start`` into the tree and index; returns where whole frames end."""
        offsets: list[int] = []
        leaves: list[bytes] = []
        subjects: list[str] = []
        good_end = start
        with open(entries_path, "rb") as f:
            for offset, payload in scan_frames(f, start):
                try:
                    subjects.append(subject_of(payload))
                except (ValueError, TypeError, KeyError):
                    reason = f"entry {self._written + len(offsets)} is not a valid access entry"
                    raise CorruptionError(str(entries_path), offset, reason) from None
                offsets.append(offset)
                leaves.append(leaf_hash(payload))
                good_end = offset + FRAME.size + len(payload)
                if len(offsets) == BATCH_MAX:
                    self._add(b"".join(leaves), np.array(offsets, np.uint64), subject_keys(subjects))
                    offsets, leaves, subjects = [], [], []
        if offsets:
            self._add(b"".join(leaves), np.array(offsets, np.uint64), subject_keys(subjects))
        return good_end

    # -- writing -----------------------------------------------------------------------

    def append(self, entries: Sequence[AccessEntry]) -> int:
        """Durably append a batch of entries; returns the log size just after them.

        The batch's entries get the indexes ``[returned - len(entries), returned)``. The
        call returns once they are fdatasync'ed. Concurrent calls are group-committed:
        one thread writes every waiting batch at once while the previous group's fsync
        runs, and one fsync covers all that was written meanwhile.
        """
        if isinstance(entries, str | bytes) or not isinstance(entries, Sequence) or not entries:
            raise InvalidInputError("entries", "must be a non-empty list of AccessEntry")
        if len(entries) > BATCH_MAX:
            raise InvalidInputError("entries", f"at most {BATCH_MAX} per batch, got {len(entries)}")
        slot = _Slot(entries, self._lock)
        with self._lock:
            self._check_usable()
            self._busy += 1
            self._pending.append(slot)
            try:
                # Each pass either takes a role (writer, syncer) that is free, or waits to be woken.
                while True:
                    if slot.error is not None:
                        raise slot.error
                    if slot.end is not None and self._durable >= slot.end:
                        break  # durable, even if a later fsync has failed since
                    if self._failed is not None:
                        raise LedgerFailedError(f"access log {self.path} failed earlier: {self._failed}; reopen it")
                    if slot.end is None and not self._writing:
                        self._write_pending()
                    elif slot.end is not None and not self._syncing:
                        self._sync()
                    else:
                        slot.wake.wait()
                self._schedule_maintenance()
            finally:
                self._release()
        return slot.end

    def _write_pending(self) -> None:
        """Be the writer: prepare the waiting batches outside the lock, append them under it (lock held)."""
        group: list[_Slot] = []
        count = 0
        while self._pending and (not group or count + len(self._pending[0].entries) <= GROUP_ENTRIES_MAX):
            group.append(self._pending.popleft())
            count += len(group[-1].entries)
        self._writing = True
        try:
            self._lock.release()
            try:
                batch = prepare_batches([slot.entries for slot in group])
            finally:
                self._lock.acquire()
            try:
                write_all(self._entries_fd, batch.frames)
            except OSError as error:
                self._fail(error)
            offsets = np.zeros(len(batch.sizes), np.uint64)
            np.cumsum(batch.sizes[:-1], dtype=np.uint64, out=offsets[1:])
            self._add(batch.leaves, offsets + np.uint64(self._bytes), np.frombuffer(batch.keys, "<u8"))
            self._bytes += len(batch.frames)
            end = self._written - len(batch.sizes)
            for slot, refusal in zip(group, batch.errors, strict=True):
                if refusal is None:
                    end += len(slot.entries)
                    slot.end = end
                    self._unsynced.append(slot)
                else:
                    slot.error = refusal
                    slot.wake.notify()
            if self._written - self._flushed >= FLUSH_ENTRIES:
                try:
                    self._flush_caches()
                except OSError as error:
                    self._fail(error)
        except BaseException as error:
            for slot in group:
                if slot.end is None and slot.error is None:
                    slot.error = error
                    slot.wake.notify()
            raise
        finally:
            self._writing = False
            self._hand_over()

    def _sync(self) -> None:
        """Be the syncer: one fdatasync for everything written so far, then wake whom it made durable."""
        self._syncing = True
        target, target_bytes = self._written, self._bytes
        error: OSError | None = None
        self._lock.release()
        try:
            os.fdatasync(self._entries_fd)
        except OSError as caught:
            error = caught
        finally:
            self._lock.acquire()
            self._syncing = False
        if error is not None:
            self._fail(error)
        self._durable, self._durable_bytes = target, target_bytes
        while self._unsynced and self._unsynced[0].end <= target:  # type: ignore[operator]
            self._unsynced.popleft().wake.notify()
        self._hand_over()

    def _hand_over(self) -> None:
        """Wake the next writer and the next syncer if there is work for a role nobody holds (lock held)."""
        if self._pending and not self._writing:
            self._pending[0].wake.notify()
        if self._unsynced and not self._syncing:
            self._unsynced[0].wake.notify()

    def _wake_everyone(self) -> None:
        for slot in (*self._pending, *self._unsynced):
            slot.wake.notify()
        self._idle.notify_all()

    def _add(self, leaves: bytes, offsets: npt.NDArray[np.uint64], keys: npt.NDArray[np.uint64]) -> None:
        """Extend the tree and the index in memory (the caches on disk follow in ``_flush_caches``)."""
        n, m = self._written, len(offsets)
        if n + m > len(self._index):
            # A new array rather than a resize: readers may hold the old one, still valid up to n.
            grown = np.zeros(max(2 * len(self._index), n + m), INDEX_DTYPE)
            grown[:n] = self._index[:n]
            self._index = grown
        self._index["offset"][n : n + m] = offsets
        self._index["key"][n : n + m] = keys
        self._tree.extend_leaf_hashes(leaves)
        self._written = n + m

    def _fail(self, error: OSError) -> NoReturn:
        """A write or fsync failed: memory may be ahead of the disk, so refuse every later call."""
        self._failed = error
        self._wake_everyone()
        raise LedgerFailedError(f"access log {self.path} failed: {error}; reopen it to recover") from error

    def _check_usable(self) -> None:
        if self._closing:
            raise InvalidInputError("log", f"the access log {self.path} is closed")
        if self._failed is not None:
            raise LedgerFailedError(f"access log {self.path} failed earlier: {self._failed}; reopen it")

    # -- derived caches ----------------------------------------------------------------

    def _open_level(self, level: int) -> int:
        while len(self._level_fds) <= level:
            path = level_path(self.path, len(self._level_fds))
            self._level_fds.append(self._open_fd(path, os.O_WRONLY | os.O_CREAT))  # pwrite: no O_APPEND
            self._level_flushed.append(0)
        return self._level_fds[level]

    def _flush_caches(self) -> None:
        """Write the cache records added since the last flush (no fsync: a checkpoint does that)."""
        if self._flushed < self._written:
            write_all(self._index_fd, self._index[self._flushed : self._written].tobytes())
            self._flushed = self._written
        for level in range(self._tree.height):
            fd = self._open_level(level)
            start = self._level_flushed[level]
            if self._tree.level_size(level) > start:
                os.pwrite(fd, self._tree.level_hashes(level, start), start * HASH_SIZE)
                self._level_flushed[level] = self._tree.level_size(level)

    def _schedule_maintenance(self) -> None:
        """Start the background job if a checkpoint or subject-index merge is due (lock held)."""
        if self._job is None and not self._closing and self._failed is None and self._maintenance_due():
            self._job = threading.Thread(target=self._maintain_in_background, name="audit-log-maintenance")
            self._job.start()

    def _checkpoint_due(self) -> bool:
        return self._durable - self._checkpointed >= CHECKPOINT_ENTRIES

    def _merge_due(self) -> bool:
        covered = self._run[2]
        return self._durable - covered >= max(MERGE_ENTRIES_MIN, covered // 8)

    def _maintenance_due(self) -> bool:
        return self._checkpoint_due() or self._merge_due()

    def _maintain_in_background(self) -> None:
        """Work until nothing is due; appends meanwhile do not start a second job, so look again."""
        try:
            while True:
                self._maintain(force=False)
                with self._lock:
                    if self._closing or self._failed is not None or not self._maintenance_due():
                        self._job = None  # under the lock, so the next append sees it and starts one
                        return
        except OSError as error:
            with self._lock:
                self._job = None
                self._failed = error
                self._wake_everyone()

    def _maintain(self, force: bool, merge: bool = True) -> None:
        with self._maintenance_lock:
            with self._lock:
                self._flush_caches()
                count, end = self._durable, self._durable_bytes
                fds = [self._index_fd, *self._level_fds]
                index, run = self._index, self._run
                checkpoint_due = count > self._checkpointed and (force or self._checkpoint_due())
                merge_due = merge and count > run[2] and (force or self._merge_due())
            if checkpoint_due:
                for fd in fds:
                    os.fdatasync(fd)
                write_checkpoint(self.path, count, end)
                with self._lock:
                    self._checkpointed = count
            if merge_due:
                merged = _merged_run(run, index["key"], count)
                with self._lock:
                    self._run = merged

    def _checkpoint_now(self) -> None:
        self._maintain(force=True, merge=False)

    def checkpoint(self) -> None:
        """Bring every derived structure up to date now: caches durable, subject index sorted.

        Happens by itself in the background as the log grows and on close; call it to
        make the next open re-derive nothing, or before measuring.
        """
        with self._lock:
            self._check_usable()
        self._maintain(force=True)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Wait for calls in flight, make the caches durable, release the directory."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            while self._busy:
                self._idle.wait()
        try:
            with self._lock:
                job = self._job
            if job is not None:
                job.join()
            if self._failed is None:
                self._checkpoint_now()
        finally:
            with self._maintenance_lock, self._heads_lock, self._lock:
                self._close_fds()

    def __enter__(self) -> AccessLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of durable entries."""
        return self._durable

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def tree_head(self) -> SignedTreeHead:
        """Sign the current root and keep the head, so later heads can be proven consistent."""
        with self._heads_lock:
            with self._lock:
                self._check_usable()
                size = self._durable
                root = self._tree.root(size)
            timestamp = time.time_ns()
            signature = self._key.sign(SignedTreeHead(size, timestamp, root, b"").signed_bytes())
            head = SignedTreeHead(size, timestamp, root, signature)
            write_all(self._heads_fd, HEAD.pack(head.size, head.timestamp, head.root, head.signature))
            os.fdatasync(self._heads_fd)
        return head

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 audit path of entry ``index`` in the tree of ``size`` entries (default: all)."""
        with self._lock:
            self._check_usable()
            size = self._checked_size(size, "size")
            _check_index(index, size, "index")
            return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 proof that the tree of ``old_size`` entries is a prefix of ``new_size``'s."""
        with self._lock:
            self._check_usable()
            new_size = self._checked_size(new_size, "new_size")
            return self._tree.consistency_proof(old_size, new_size)

    def root(self, size: int | None = None) -> bytes:
        """The Merkle root of the first ``size`` entries (default: all), for proofs to end at."""
        with self._lock:
            self._check_usable()
            size = self._checked_size(size, "size")
            return self._tree.root(size)

    def leaf_hash_at(self, index: int) -> bytes:
        """The RFC 6962 leaf hash of entry ``index``."""
        with self._lock:
            self._check_usable()
            _check_index(index, self._durable, "index")
            return self._tree.leaf_hash_at(index)

    def entry(self, index: int) -> AccessEntry:
        """Entry ``index``, read back from ``entries.log``."""
        with self._lock:
            self._check_usable()
            _check_index(index, self._durable, "index")
            offset = int(self._index["offset"][index])
            self._busy += 1
        try:
            return self._read_entry(index, offset)
        finally:
            with self._lock:
                self._release()

    def entries_for_subject(
        self, subject: str, limit: int = 100, before: int | None = None
    ) -> list[tuple[int, AccessEntry]]:
        """(index, entry) of each access to ``subject``'s data, newest first.

        At most ``limit`` (1 to 1000); ``before`` keeps only indexes below it, so passing
        the last index of one page gets the next.
        """
        if not isinstance(subject, str) or not subject.strip() or len(subject) > TEXT_MAX:
            raise InvalidInputError("subject", f"must be non-empty text of at most {TEXT_MAX} characters")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE_MAX:
            raise InvalidInputError("limit", f"must be an integer from 1 to {PAGE_SIZE_MAX}")
        if before is not None and (isinstance(before, bool) or not isinstance(before, int) or before < 0):
            raise InvalidInputError("before", "must be a non-negative integer or None")
        key = subject_keys([subject])[0]
        with self._lock:
            self._check_usable()
            upto = self._durable if before is None else min(before, self._durable)
            index, (sorted_keys, order, covered) = self._index, self._run
            self._busy += 1
        try:
            # Numpy work and reads happen outside the lock: the arrays held here are not
            # written below ``upto`` any more, and entries.log only grows.
            lo, hi = np.searchsorted(sorted_keys, key, "left"), np.searchsorted(sorted_keys, key, "right")
            older = order[lo:hi]
            older = older[: np.searchsorted(older, min(upto, covered))]
            newer = np.flatnonzero(index["key"][covered:upto] == key) + covered if upto > covered else older[:0]
            found: list[tuple[int, AccessEntry]] = []
            for i in np.concatenate([older, newer])[::-1].tolist():
                entry = self._read_entry(i, int(index["offset"][i]))
                if entry.subject == subject:  # a different subject whose key collides is skipped
                    found.append((i, entry))
                    if len(found) == limit:
                        break
            return found
        finally:
            with self._lock:
                self._release()

    def _read_entry(self, index: int, offset: int) -> AccessEntry:
        payload = read_frame(self._reader_fd, offset)
        try:
            if payload is None:
                raise ValueError("frame is torn or fails its checksum")
            return AccessEntry.decode(payload)
        except (ValueError, TypeError, KeyError) as error:
            reason = f"entry {index} cannot be read: {error}"
            raise CorruptionError(str(self.path / "entries.log"), offset, reason) from None

    def _release(self) -> None:
        """End a call counted in ``_busy`` (lock held)."""
        self._busy -= 1
        if not self._busy:
            self._idle.notify_all()

    def _checked_size(self, size: int | None, name: str) -> int:
        if size is None:
            return self._durable
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= self._durable:
            raise InvalidInputError(name, f"must be an integer from 0 to {self._durable}")
        return size


def _check_index(index: int, size: int, name: str) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise InvalidInputError(name, f"must be an integer from 0 to {size - 1}")
