"""Notes: what the service must record about a batch, made durable with the batch and kept until delivered.

DESIGN.md principle 4 says every look is logged: a write to a person's wallet must never
become durable without its access-log entry. The ledger cannot write that entry (it knows
accounts, not people), so the service hands it a *note* with the batch: opaque bytes the
ledger writes into the batch's own journal entry, behind its records (``NOTE_FLAG``), so one
checksum covers both and recovery keeps the two together or neither. The note is made before
the batch applies and says what is owed per row, so nothing is built under the apply lock;
what happened is read from the batch's statuses, kept with the note (and recomputed by replay). The service then
appends the entries and marks the note delivered. A crash between the two
leaves the note undelivered; the next ``Ledger.open`` hands it back (``undelivered``) for
the service to deliver before it serves anyone. Delivery is at least once: the receiver
skips what it already has.

What is delivered is kept in a small cursor file (``notes.delivered``), written at most
once a second and never fsynced: a stale cursor only means more notes handed back, never
fewer. A snapshot carries the notes still undelivered, so dropping the journal loses none.
"""

from __future__ import annotations

import base64
import os
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

CURSOR_FILE = "notes.delivered"
CURSOR_WRITE_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class Note:
    """A note carried by journal entry ``seq``: its bytes, and its batch's first timestamp and statuses.

    The note is written before the batch applies (nothing to build under the apply lock);
    what happened is read from ``statuses``, which a restart recomputes by replay.
    """

    seq: int
    timestamp: int
    payload: bytes
    statuses: npt.NDArray[np.uint32]


class Notes:
    """The notes not yet delivered, and the cursor of those that were."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / CURSOR_FILE
        self._lock = threading.Lock()
        self._undelivered: dict[int, Note] = {}
        self.delivered_through = _read_cursor(self._path)
        self._last_seq = self.delivered_through
        self._written_at = 0.0

    def restore(self, kept: object) -> None:
        """Take back the undelivered notes a snapshot carried (its ``extra["notes"]``)."""
        if not isinstance(kept, list):
            raise TypeError("notes is not a list")
        for seq, timestamp, payload, statuses in kept:
            texts = isinstance(payload, str) and isinstance(statuses, str)
            if type(seq) is not int or type(timestamp) is not int or not texts:
                raise ValueError("a note is not [seq, timestamp, base64 payload, base64 statuses]")
            raw = base64.b64decode(statuses, validate=True)
            if len(raw) % 4:
                raise ValueError("a note's statuses are not whole u32")
            self.add(Note(seq, timestamp, base64.b64decode(payload, validate=True), np.frombuffer(raw, "<u4").copy()))

    def add(self, note: Note) -> None:
        """A note journaled (or replayed); kept unless the cursor says it was delivered."""
        with self._lock:
            self._last_seq = max(self._last_seq, note.seq)
            if note.seq > self.delivered_through:
                self._undelivered[note.seq] = note

    def get(self, seq: int) -> Note | None:
        """The undelivered note of entry ``seq``, if there is one."""
        with self._lock:
            return self._undelivered.get(seq)

    def undelivered(self) -> list[Note]:
        """The notes not yet marked delivered, oldest first."""
        with self._lock:
            return [self._undelivered[s] for s in sorted(self._undelivered)]

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        """The receiver has made these notes' effects durable; the cursor moves when it can."""
        with self._lock:
            for seq in seqs:
                self._undelivered.pop(seq, None)
            self.delivered_through = min(self._undelivered, default=self._last_seq + 1) - 1
            due = time.monotonic() - self._written_at >= CURSOR_WRITE_INTERVAL_S
        if due:
            self.save()

    def save(self) -> None:
        """Write the cursor now (atomically: a reader sees the old value or the new one)."""
        with self._lock:
            value = self.delivered_through
            self._written_at = time.monotonic()
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(f"{value}\n")
        os.replace(temporary, self._path)

    def for_snapshot(self) -> list[list[Any]]:
        """The undelivered notes as a snapshot keeps them."""
        return [
            [
                n.seq,
                n.timestamp,
                base64.b64encode(n.payload).decode(),
                base64.b64encode(n.statuses.astype("<u4").tobytes()).decode(),
            ]
            for n in self.undelivered()
        ]


def encode_body(payload: bytes) -> npt.NDArray[np.uint8]:
    """A note as it follows the records in a journal entry: its length (u64), the bytes, zeros to 64.

    Every journal entry stays a multiple of 64 bytes, as the torn-tail scan expects, and
    the next entry's records stay 8-byte aligned.
    """
    size = 8 + len(payload)
    body = np.zeros(-(-size // 64) * 64, dtype=np.uint8)
    body[:8] = np.frombuffer(struct.pack("<Q", len(payload)), dtype=np.uint8)
    body[8:size] = np.frombuffer(payload, dtype=np.uint8)
    return body


def decode_body(body: memoryview) -> bytes:
    (size,) = struct.unpack_from("<Q", body)
    return bytes(body[8 : 8 + size])


def _read_cursor(path: Path) -> int:
    """The cursor on disk; a missing or unreadable file means nothing is known delivered."""
    try:
        value = int(path.read_text().strip())
    except (OSError, ValueError):
        return 0
    return max(value, 0)
