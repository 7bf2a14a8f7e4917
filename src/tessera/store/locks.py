"""Named locks held for a long task (a cycle's disbursement), never across one transaction, and lost with their holder.

A task that runs many transactions and must not run twice at once (two ``disburse`` calls,
two threads or two servers) holds a named lock for its whole run. The lock lives where the
database does, so every process sharing it is excluded, and dies with the process or
connection that held it: a run killed mid-way leaves no stale claim, and the next call
takes the lock at once and finishes the task.

- **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of
  its own, kept out of the pool for the run; the server drops it when that session ends.
- **SQLite**: ``flock`` on a file in a directory beside the database file (``registry.db-locks``);
  the kernel drops it when the process ends. ``flock`` locks belong to the open file, so two
  threads of one process exclude each other too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from tessera.errors import InvalidInputError, TesseraError

LOCK_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
LOCKS_DIR_SUFFIX = "-locks"  # registry.db-locks/<name>

Busy = Callable[[], TesseraError]  # the error when another holder has the lock


def checked_lock_name(name: object) -> str:
    """A lock's name: lowercase letters, digits and . _ - (it names a file on SQLite)."""
    if not isinstance(name, str) or not LOCK_NAME.fullmatch(name):
        raise InvalidInputError("name", f"a lock's name is 1-100 of a-z 0-9 . _ - ; got {name!r:.40}")
    return name


def advisory_key(name: str) -> int:
    """The signed 64-bit key PostgreSQL's advisory locks take, derived from the lock's name."""
    digest = hashlib.blake2b(f"tessera:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def held_on_postgresql(engine: Engine, name: str, busy: Busy) -> Iterator[None]:
    """Hold ``name`` as an advisory lock of a session of its own; ``busy()`` at once if another session holds it."""
    key = advisory_key(name)
    conn = engine.connect()
    try:
        taken = bool(conn.scalar(select(func.pg_try_advisory_lock(key))))
        conn.commit()  # a session-level lock outlives the transaction that took it
        if not taken:
            raise busy()
        try:
            yield
        finally:
            try:
                conn.scalar(select(func.pg_advisory_unlock(key)))
                conn.commit()
            except DBAPIError:
                conn.invalidate()  # never back to the pool with the lock perhaps still held
    finally:
        conn.close()


@contextmanager
def held_on_sqlite(database: Path, name: str, busy: Busy) -> Iterator[None]:
    """Hold ``name`` as an ``flock`` on a file beside ``database``; ``busy()`` at once if another holds it."""
    directory = database.with_name(database.name + LOCKS_DIR_SUFFIX)
    directory.mkdir(exist_ok=True)
    fd = os.open(directory / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy() from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)  # the file stays: removing it would race with the next holder's open
