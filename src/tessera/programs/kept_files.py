"""Columns kept between previews, written to the data directory so that a restarted process need not read them afresh.

The active persons (and the households) are kept in memory and patched from ``person_changes``
(``active_persons.py``); a process that starts with none kept reads the whole registry (tens of
seconds at ten million). So each copy is also written to a file beside the registry: one ``.npz``
(numpy's zip of arrays, each with a CRC-32 its reader checks) holding the columns, the log's
sequence number they are as of, and the log's last entries up to it (their sequence numbers and
persons' numbers). A file is trusted only when the store's log still holds those very entries:
a file of another store, or one whose sequence the log was pruned past, or ahead of the log (a
store restored from a backup), or truncated, corrupted or of another format is set aside with
a warning and the columns are read afresh. Written to a temporary file, flushed to disk, then
renamed over the old one: a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from tessera.store import person_changes

logger = logging.getLogger(__name__)

FORMAT = 1  # the files' layout; a file of another is read afresh
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
    """``kept`` written to ``path``: a temporary file beside it, flushed to disk, renamed over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    arrays: dict[str, npt.NDArray[Any]] = {
        "format": np.array(FORMAT),
        "kind": np.array(kind),
        "seq": np.array(kept.seq),
    }
    arrays |= {"fingerprint": kept.fingerprint} | {f"c_{k}": v for k, v in kept.columns.items()}
    savez: Any = np.savez  # its stubs take every keyword for its own options
    try:
        with temporary.open("wb") as out:
            savez(out, **arrays)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
    except OSError:
        logger.warning("could not write %s: it is read afresh after a restart", path, exc_info=True)
        temporary.unlink(missing_ok=True)


def read_kept(path: Path, kind: str, names: tuple[str, ...]) -> KeptFile | None:
    """The file at ``path`` if it is whole and of ``kind`` with exactly the columns ``names``; else None (warned)."""
    if not path.exists():
        return None
    try:
        with path.open("rb") as file, np.load(file, allow_pickle=False) as found:  # closed however np.load fails
            if int(found["format"]) != FORMAT or str(found["kind"]) != kind:
                logger.warning("%s is not a file of %s in format %s: read afresh", path, kind, FORMAT)
                return None
            stored = sorted(k[2:] for k in found.files if k.startswith("c_"))
            if stored != sorted(names):
                logger.warning("%s holds the columns %s, not %s: read afresh", path, stored, sorted(names))
                return None
            columns = {name: found[f"c_{name}"] for name in names}  # each member's CRC-32 is checked as it is read
            print_ = np.asarray(found["fingerprint"], np.int64)
            seq = int(found["seq"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as why:
        logger.warning("%s cannot be read (%s): read afresh", path, why)
        return None
    if print_.ndim != 2 or print_.shape[1] != 2:  # noqa: PLR2004 (seq, number)
        logger.warning("%s has no fingerprint of the log: read afresh", path)
        return None
    return KeptFile(seq, columns, print_)


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
