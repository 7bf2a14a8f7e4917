"""The append-only journal: every batch, in order, durable before it is acknowledged.

A journal is a directory of segment files named by the sequence number of their first
entry. An entry is a 64-byte header followed by the batch's records exactly as the
engine read them::

    magic 'TSJ1' | kind u8 | version u8 | flags u16 | seq u64 | group_seq u64 |
    timestamp u64 | count u32 | body_size u32 | body_checksum u64 | reserved 12 |
    header_crc32 u32

Group commit: callers append under the ledger's apply lock (so journal order is apply
order) and then wait in ``sync_through``; the first waiter becomes the leader, writes
every queued entry with one ``writev`` and one ``fdatasync``, and wakes the rest.
``group_seq`` (the first seq of the group written by one fsync) lets recovery tell a
torn last group, which was never acknowledged, from damage to acknowledged entries.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.errors import CorruptionError, LedgerFailedError
from tessera.ledger import _engine

MAGIC = b"TSJ1"
VERSION = 1
HEADER = struct.Struct("<4sBBHQQQIIQ12xI")
HEADER_SIZE = HEADER.size
HEADER_BYTES = 64  # the header the docstring draws; the format string above must add up to it
SEGMENT_SUFFIX = ".journal"
IOV_MAX = 512  # stay well under the kernel's 1024 iovecs per writev

assert HEADER_SIZE == HEADER_BYTES


class EntryKind:
    """What an entry's records are."""

    accounts = 1
    transfers = 2
    orders = 3


NOTE_FLAG = 1  # the body's records are followed by a service's note on them (ledger/notes.py)


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled batch, as read back."""

    path: Path
    offset: int
    kind: int
    seq: int
    group_seq: int
    timestamp: int
    count: int
    body: memoryview
    flags: int = 0


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(SEGMENT_SUFFIX))


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_header(
    *, kind: int, seq: int, group_seq: int, timestamp: int, count: int, body: Any, flags: int = 0
) -> bytes:
    view = memoryview(body).cast("B")
    checksum = _engine.checksum(view)
    head = HEADER.pack(MAGIC, kind, VERSION, flags, seq, group_seq, timestamp, count, len(view), checksum, 0)
    return head[:60] + struct.pack("<I", zlib.crc32(head[:60]))


def _header_at(data: memoryview, offset: int) -> tuple[Any, ...] | None:
    """The header fields at offset, or None unless magic and header checksum are right."""
    if offset + HEADER_SIZE > len(data):
        return None
    raw = data[offset : offset + HEADER_SIZE]
    fields = HEADER.unpack(raw)
    if fields[0] != MAGIC or zlib.crc32(raw[:60]) != fields[-1]:
        return None
    return fields


def _entry_at(path: Path, data: memoryview, offset: int) -> Entry | str:
    """The whole entry at offset, or a reason why there is none."""
    fields = _header_at(data, offset)
    if fields is None:
        return "bad entry header"
    _, kind, version, flags, seq, group_seq, timestamp, count, body_size, body_sum, _ = fields
    if version != VERSION:
        return f"unknown entry version {version}"
    end = offset + HEADER_SIZE + body_size
    if end > len(data):
        return "entry runs past the end of the file"
    body = data[offset + HEADER_SIZE : end]
    if _engine.checksum(body) != body_sum:
        return "entry body checksum mismatch"
    return Entry(path, offset, kind, seq, group_seq, timestamp, count, body, flags)


def read_segment(path: Path, data: memoryview, is_last: bool) -> tuple[list[Entry], int | None]:
    """Parse a segment; returns its entries and, for a torn tail, the offset to cut at.

    Only the last segment may end torn, and only inside its last fsync group: a valid
    entry from a *later* group after the damage proves the damaged entry was already
    acknowledged, which is corruption, not a torn write.
    """
    entries: list[Entry] = []
    offset = 0
    while offset < len(data):
        entry = _entry_at(path, data, offset)
        if isinstance(entry, Entry):
            entries.append(entry)
            offset += HEADER_SIZE + len(entry.body)
            continue
        if not is_last:
            raise CorruptionError(str(path), offset, entry)
        damaged_seq = entries[-1].seq + 1 if entries else int(path.name[:20])
        for later in range(offset + HEADER_SIZE, len(data) - HEADER_SIZE + 1, HEADER_SIZE):
            fields = _header_at(data, later)
            if fields is not None and fields[5] > damaged_seq:
                raise CorruptionError(str(path), offset, f"{entry}, followed by later entries")
        return entries, offset
    return entries, None


def iter_entries(directory: Path) -> Iterator[tuple[Entry | None, Path, int | None]]:
    """Yield (entry, segment, None) for every entry, then (None, last_segment, cut) at a torn tail."""
    segments = list_segments(directory)
    for i, path in enumerate(segments):
        data = memoryview(path.read_bytes())
        entries, cut = read_segment(path, data, is_last=i == len(segments) - 1)
        for entry in entries:
            yield entry, path, None
        if cut is not None:
            yield None, path, cut


class JournalWriter:
    """Appends entries to the newest segment with group commit across threads."""

    def __init__(self, directory: Path, next_seq: int, segment_bytes_max: int, sync: bool = True) -> None:
        self.directory = directory
        self.segment_bytes_max = segment_bytes_max
        self.sync = sync
        self._lock = threading.Lock()  # guards the queue and seq counter
        self._sync_lock = threading.Lock()  # held by the group leader while it writes
        self._queue: list[tuple[int, int, int, int, Any, int]] = []
        self._next_seq = next_seq
        self.durable_seq = next_seq - 1
        self._failure: BaseException | None = None
        segments = list_segments(directory)
        self._path = segments[-1] if segments else self._create_segment(next_seq)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def _create_segment(self, first_seq: int) -> Path:
        path = self.directory / segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        fsync_directory(self.directory)
        return path

    @property
    def path(self) -> Path:
        return self._path

    @property
    def failure(self) -> BaseException | None:
        """The OSError that broke the journal, if one did."""
        return self._failure

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def append(self, kind: int, timestamp: int, count: int, body: Any, flags: int = 0) -> int:
        """Queue an entry; it is durable once ``sync_through(seq)`` returns."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            self._queue.append((seq, kind, timestamp, count, body, flags))
            return seq

    def sync_through(self, seq: int) -> None:
        """Return once every entry up to ``seq`` is written and fsynced."""
        while self.durable_seq < seq:
            with self._sync_lock:
                if self._failure is not None:
                    raise LedgerFailedError("journal write failed earlier; reopen the ledger") from self._failure
                if self.durable_seq >= seq:
                    return
                with self._lock:
                    group, self._queue = self._queue, []
                if not group:
                    raise LedgerFailedError(f"entry {seq} was never queued")
                try:
                    self._write_group(group)
                except OSError as error:
                    self._failure = error
                    raise LedgerFailedError(f"journal write to {self._path} failed: {error}") from error
                self.durable_seq = group[-1][0]

    def _write_group(self, group: list[tuple[int, int, int, int, Any, int]]) -> None:
        group_seq = group[0][0]
        buffers: list[Any] = []
        for seq, kind, timestamp, count, body, flags in group:
            buffers.append(
                encode_header(
                    kind=kind, seq=seq, group_seq=group_seq, timestamp=timestamp, count=count, body=body, flags=flags
                )
            )
            buffers.append(memoryview(body).cast("B"))
        for start in range(0, len(buffers), IOV_MAX):
            self._write_all(buffers[start : start + IOV_MAX])
        if self.sync:
            os.fdatasync(self._fd)
        if self._size >= self.segment_bytes_max:
            self.rotate(group[-1][0] + 1)

    def _write_all(self, buffers: list[Any]) -> None:
        total = sum(len(b) for b in buffers)
        written = os.writev(self._fd, buffers)
        self._size += written
        while written < total:  # a short write: finish the rest from where it stopped
            rest: list[Any] = []
            skip = written
            for b in buffers:
                if skip >= len(b):
                    skip -= len(b)
                    continue
                rest.append(memoryview(b)[skip:])
                skip = 0
            buffers, total = rest, total - written
            written = os.writev(self._fd, buffers)
            self._size += written

    def start_segment(self, first_seq: int) -> None:
        """Start a new segment now, e.g. after a snapshot covers everything before it."""
        with self._sync_lock:
            if self._queue or self.durable_seq != first_seq - 1:
                raise LedgerFailedError(f"cannot start segment {first_seq}: entries are still queued")
            self.rotate(first_seq)

    def rotate(self, first_seq: int) -> None:
        """Start a new segment whose first entry will be ``first_seq``; the sync lock is held."""
        if self._size == 0 and self._path.name == segment_name(first_seq):
            return
        os.close(self._fd)
        self._path = self._create_segment(first_seq)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
        self._size = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
