"""Columns kept between previews, written to the data directory so that a restarted process need not read them afresh.

The active persons (and the households) are kept in memory and patched from ``person_changes``
(``active_persons.py``); a process that starts with none kept reads the whole registry (tens of
seconds at ten million). So each copy is also written to a file beside the registry: a header
(JSON, with its CRC-32: the log's sequence number the columns are as of, the log's last entries
up to it, their sequence numbers and persons' numbers, and each column's type, length and CRC-32)
then each column's bytes, each starting a multiple of 64 bytes in, mapped in place (no copy: numpy's
``.npz`` reads each twice over).
A file is trusted only when the store's log still holds those very entries:
a file of another store, or one whose sequence the log was pruned past, or ahead of the log (a
store restored from a backup), or truncated, corrupted or of another format is set aside with
a warning and the columns are read afresh. Written to a temporary file, flushed to disk, then
renamed over the old one: a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import logging
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Connection, func, or_, select, text

from tessera.store import Store, person_changes

logger = logging.getLogger(__name__)

CHANGES_LOCK = 0x7E55E7A_0028  # migration 0028's advisory lock: its triggers take it shared
T = TypeVar("T")
Columns = Mapping[str, npt.NDArray[Any]]
REBUILD_FRACTION = 0.1  # more changes than this share of the persons (and than PATCH_MIN): scan afresh
PATCH_MIN = 1000  # as many changes as this are patched in, however few the persons
SAVE_FRACTION = 0.01  # the file is written again once the log has moved this share of the persons past it
FORMAT = 2  # the files' layout: 2 aligns each column to map it in place; a file of another is read afresh
READ_FORMATS = (1, 2)  # those read: 1 is 2 with nothing padded
ALIGN = 64  # the header and each column padded to a multiple of this many bytes
KINDS = ("p", "s", "h")  # what a log entry is about (migration 0031): a person's row, their subject, their membership
FINGERPRINT_ROWS = 16  # the log's entries up to a file's sequence number that must still be as it recorded them


@dataclass(frozen=True, slots=True)
class KeptFile:
    """Columns as of the log's sequence number ``seq``, and the log's entries up to it when written."""

    seq: int
    columns: Mapping[str, npt.NDArray[Any]]
    fingerprint: npt.NDArray[np.int64]  # (seq, number) of the log's last entries up to ``seq``, newest first


def fingerprint(conn: Connection, seq: int) -> npt.NDArray[np.int64]:
    """The log's last ``FINGERPRINT_ROWS`` entries up to ``seq``: (sequence number, person's number) rows."""
    rows = conn.execute(
        select(person_changes.c.seq, person_changes.c.number)
        .where(person_changes.c.seq <= seq)
        .order_by(person_changes.c.seq.desc())
        .limit(FINGERPRINT_ROWS)
    ).all()
    out = np.zeros((len(rows), 2), np.int64)
    for i, (at, number) in enumerate(rows):
        out[i] = (int(at), int(number) if str(number).isdigit() else -1)
    return out


def write_kept(path: Path, kind: str, kept: KeptFile) -> None:
    """``kept`` written to ``path``: a temporary file beside it, flushed to disk, renamed over it.

    The header is padded with spaces and each column starts ``ALIGN`` bytes apart, so that a reader maps
    the columns in place (``read_kept``) instead of copying them.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    columns = {name: np.ascontiguousarray(column) for name, column in kept.columns.items()}
    listed, offset = [], 0
    for name, column in columns.items():
        raw = column.view(np.uint8) if column.nbytes else np.zeros(0, np.uint8)
        listed.append({"name": name, "dtype": column.dtype.str, "length": len(column), "offset": offset})
        listed[-1] |= {"bytes": column.nbytes, "crc32": zlib.crc32(raw.data)}
        offset += _padded(column.nbytes)
    fingerprint_ = np.asarray(kept.fingerprint, np.int64).tolist()
    header = {"format": FORMAT, "kind": kind, "seq": kept.seq, "fingerprint": fingerprint_, "columns": listed}
    head = json.dumps(header).encode()
    head += b" " * (_padded(len(_MAGIC) + _LENGTHS.size + len(head)) - len(_MAGIC) - _LENGTHS.size - len(head))
    try:
        with temporary.open("wb") as out:
            out.write(_MAGIC + _LENGTHS.pack(len(head), zlib.crc32(head)) + head)
            for column in columns.values():
                if column.nbytes:
                    out.write(column.view(np.uint8).data)
                out.write(bytes(_padded(column.nbytes) - column.nbytes))
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
    except OSError:
        logger.warning("could not write %s: it is read afresh after a restart", path, exc_info=True)
        temporary.unlink(missing_ok=True)


def _padded(size: int) -> int:
    """``size`` rounded up to a multiple of ``ALIGN``."""
    return -(-size // ALIGN) * ALIGN


def read_kept(path: Path, kind: str, names: tuple[str, ...]) -> KeptFile | None:
    """The file at ``path`` if it is whole and of ``kind`` with exactly the columns ``names``; else None (warned)."""
    if not path.exists():
        return None
    try:
        with path.open("rb") as file:
            found = _read(file, path.stat().st_size, kind, names)
    except (OSError, ValueError, KeyError, TypeError, struct.error) as why:
        logger.warning("%s cannot be read (%s): read afresh", path, why)
        return None
    if isinstance(found, str):
        logger.warning("%s %s: read afresh", path, found)
        return None
    return found


def _read(file: io.BufferedReader, size: int, kind: str, names: tuple[str, ...]) -> KeptFile | str:
    """The file's columns, each mapped in place (or copied, where not aligned) and its CRC-32 checked; or what is
    wrong with it.

    A mapped column reads the file's pages as they are: the file is only ever replaced whole (``write_kept``
    renames a new one over it), and the old one stays whole for as long as it is mapped. Mapped pages are the page
    cache's: under memory pressure the kernel may drop them and read them back from the file when next touched.
    """
    start = file.read(len(_MAGIC) + _LENGTHS.size)
    if len(start) < len(_MAGIC) + _LENGTHS.size or not start.startswith(_MAGIC):
        raise ValueError("not a file of kept columns")
    length, crc = _LENGTHS.unpack(start[len(_MAGIC) :])
    head = file.read(min(length, size))
    if len(head) != length or zlib.crc32(head) != crc:
        raise ValueError("its header is cut short or damaged")
    header = json.loads(head)
    if header["format"] not in READ_FORMATS or header["kind"] != kind:
        return f"is not a file of {kind} in format {FORMAT}"
    listed = {c["name"]: c for c in header["columns"]}
    if sorted(listed) != sorted(names):
        return f"holds the columns {sorted(listed)}, not {sorted(names)}"
    data = len(_MAGIC) + _LENGTHS.size + length
    end, gaps = 0, []
    for entry in header["columns"]:  # in the order written, each after the one before, at most ALIGN apart
        if not end <= int(entry["offset"]) < end + ALIGN:
            raise ValueError(f"column {entry['name']} is not where the one before it ends")
        gaps.append((data + end, data + int(entry["offset"])))
        end = int(entry["offset"]) + int(entry["bytes"])
    if size - data - end not in {0, _padded(end) - end} or (header["format"] == 1 and size != data + end):
        raise ValueError("its columns are cut short, or more follows them")
    mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    if any(mapped[start:stop].strip(b"\0") for start, stop in [*gaps, (data + end, size)]):
        raise ValueError("a column's padding is damaged")
    columns = {}
    for entry in header["columns"]:
        dtype = np.dtype(entry["dtype"])
        if dtype.hasobject or dtype.itemsize * int(entry["length"]) != int(entry["bytes"]):
            raise ValueError(f"column {entry['name']} is not as described")
        at = data + int(entry["offset"])
        column = np.frombuffer(mapped, dtype, int(entry["length"]), at) if entry["length"] else np.empty(0, dtype)
        if at % dtype.alignment:  # a file of format 1: copied into an array of its own
            column = column.copy()
        if zlib.crc32(column.view(np.uint8).data if column.nbytes else b"") != entry["crc32"]:
            raise ValueError(f"column {entry['name']} is damaged")
        columns[entry["name"]] = column
    printed = np.array(header["fingerprint"], np.int64).reshape(-1, 2)
    return KeptFile(int(header["seq"]), columns, printed)


_MAGIC = b"TESSERA KEPT\n"
_LENGTHS = struct.Struct("<QI")  # the header's length and CRC-32


def trusted(conn: Connection, path: Path, kept: KeptFile, oldest: int, newest: int) -> bool:
    """Whether the log (spanning ``oldest``..``newest``) is the one ``kept`` was written beside, up to its seq."""
    if kept.seq > newest:
        logger.warning("%s is at change %s, past the log's newest %s: read afresh", path, kept.seq, newest)
        return False
    if kept.seq + 1 < oldest or not len(kept.fingerprint):
        logger.warning(
            "%s is at change %s, and the log was pruned past it (to %s): read afresh", path, kept.seq, oldest
        )
        return False
    if not np.array_equal(fingerprint(conn, kept.seq), kept.fingerprint):
        logger.warning("%s was not written beside this store's change log: read afresh", path)
        return False
    return True


def read_trusted(
    store: Store,
    path: Path,
    kind: str,
    names: tuple[str, ...],
    checked: Callable[[Mapping[str, npt.NDArray[Any]]], T | None],
) -> tuple[int, T] | None:
    """The file's change sequence and its columns as ``checked`` makes them, if the file is whole, its columns
    as written, and written beside this store's change log; else None (warned)."""
    found = read_kept(path, kind, names)
    if found is None:
        return None
    columns = checked(found.columns)
    if columns is None:
        logger.warning("%s holds columns not as kept %s are written: read afresh", path, kind)
        return None
    with store.transaction() as conn:
        oldest, newest = log_span(conn)
        if not trusted(conn, path, found, oldest, newest):
            return None
    return found.seq, columns


def log_span(conn: Connection) -> tuple[int, int]:
    """The oldest sequence number ``person_changes`` holds, and the newest that every change up to has committed by.

    Both 0 when it holds none. On PostgreSQL the exclusive advisory lock waits out the writers
    that hold it shared: their numbers are drawn but not yet committed; until ``conn``'s
    transaction ends no writer logs another, so what it reads meanwhile is as of the newest
    (on SQLite, the transaction's one snapshot).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGES_LOCK})
    # Two queries: SQLite reads a min() or a max() from the key alone only when it is the only aggregate.
    oldest = conn.execute(select(func.min(person_changes.c.seq))).scalar_one()
    newest = conn.execute(select(func.max(person_changes.c.seq))).scalar_one()
    return int(oldest or 0), int(newest or 0)


class Keeping:
    """How a copy of columns kept between previews follows the log: patched or read afresh, and when it is filed.

    What the active persons and the households share: each reads the log's entries of its ``kinds`` (migration
    0031: ``p`` a person's row, ``s`` their principal's subject, ``h`` their membership; entries written before
    it, of no kind, are everyone's). More changes than ``rebuild_fraction`` of
    the rows (and than ``patch_min``) and the copy is read afresh, else patched; given a ``path``,
    the copy is read from it at a process's first read, and written again after each fresh read,
    once the log has moved ``save_fraction`` of the rows past the file (so that a restart patches
    at most that many), and by ``save``.
    """

    def __init__(
        self,
        store: Store,
        kind: str,
        names: tuple[str, ...],
        *,
        kinds: tuple[str, ...],
        rebuild_fraction: float,
        patch_min: int,
        path: Path | None,
        save_fraction: float,
    ) -> None:
        self._store = store
        self._kind = kind
        self._names = names
        self._kinds = kinds
        self._rebuild_fraction = rebuild_fraction
        self._patch_min = patch_min
        self._save_fraction = save_fraction
        self.path = path
        self.saved = -1  # the log's sequence number the file is at; -1: none written or read by this process

    def changed(self, conn: Connection, seq: int, newest: int, rows: int) -> list[str] | None:
        """The numbers logged after ``seq`` up to ``newest`` of this copy's kinds, sorted; None when too many to
        patch ``rows`` with."""
        limit = max(self._rebuild_fraction * rows, self._patch_min)
        if newest - seq > limit:  # sequence numbers are never issued twice: at most this many entries, else counted
            after = (person_changes.c.seq > seq, person_changes.c.seq <= newest, of_kinds(self._kinds))
            if conn.execute(select(func.count()).where(*after)).scalar_one() > limit:
                return None
        return logged_numbers(conn, seq, newest, self._kinds)

    def load(self, checked: Callable[[Mapping[str, npt.NDArray[Any]]], T | None]) -> tuple[int, T] | None:
        """The file's sequence number and columns as ``checked`` makes them, if there is a trusted file; else None."""
        if self.path is None:
            return None
        found = read_trusted(self._store, self.path, self._kind, self._names, checked)
        if found is not None:
            self.saved = found[0]
        return found

    def save_if_due(self, seq: int, rows: int, scanned: bool, columns: Callable[[], Columns]) -> None:
        """The copy at ``seq`` (of ``rows`` rows) written if read afresh, never written, or far enough past the file."""
        if self.path is None or seq == self.saved:
            return
        if scanned or self.saved < 0 or seq - self.saved >= max(self._save_fraction * rows, self._patch_min):
            self.save(seq, columns())

    def save(self, seq: int, columns: Columns) -> None:
        """``columns``, as of ``seq``, written to the file unless it holds them already (or there is no file)."""
        if self.path is None or seq == self.saved:
            return
        with self._store.transaction() as conn:
            printed = fingerprint(conn, seq)
        write_kept(self.path, self._kind, KeptFile(seq, columns, printed))
        self.saved = seq


def of_kinds(kinds: tuple[str, ...]) -> ColumnElement[bool]:
    """The log's entries of ``kinds``, and those of none (written before migration 0031 gave each its kind)."""
    return or_(person_changes.c.kind.is_(None), person_changes.c.kind.in_(kinds))


def logged_numbers(conn: Connection, after: int, newest: int, kinds: tuple[str, ...] = KINDS) -> list[str]:
    """The numbers ``person_changes`` names after ``after`` up to ``newest`` in entries of ``kinds``, once each."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    listed = ", ".join(f"'{kind}'" for kind in kinds if kind in KINDS)  # literals: one of the three letters
    cursor.execute(
        f"SELECT DISTINCT number FROM person_changes WHERE seq > {mark} AND seq <= {mark} "
        f"AND (kind IS NULL OR kind IN ({listed}))",
        (after, newest),
    )
    return sorted(str(row[0]) for row in cursor.fetchall())
