"""A data directory held by one process: made if new, refused if it is a file, locked while open.

The ledger, the access log and the biometric gallery each keep their files in a directory
of their own that only one process may open at a time: a second opener would write the
same journal or log from two places. Each says it with its own error (``LedgerLockedError``,
``LogLockedError``, ``GalleryLockedError``), so the caller knows which store is taken.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tessera.errors import InvalidInputError, TesseraError

LOCK_FILE = "LOCK"  # flock'ed by the process that has the directory open; holds its pid


def opened_directory(path: object, field: str = "path") -> Path:
    """``path`` as a directory, made with its parents if new; InvalidInputError naming ``field`` otherwise."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidInputError(field, "must be a directory path")
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidInputError(field, f"{directory} exists and is not a directory") from None
    return directory


def lock_directory(path: Path, locked: type[TesseraError]) -> int:
    """Hold ``path`` for this process: flock its ``LOCK`` and write our pid there; ``locked`` if another holds it.

    Returns the lock's file descriptor: closing it (or the process ending) lets the directory go.
    """
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise locked(f"{path} is already open (locked by pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
