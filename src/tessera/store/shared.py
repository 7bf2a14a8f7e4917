"""One connection shared by the transactions of a request on one thread (``Store.reading``).

A till's redemption reads half a dozen registries (the outlet, its authorisation, the person,
the programme, the product list) through their own modules, each opening a transaction; inside
``Store.reading`` those reads join one transaction on one connection, and each write ends that
read, runs as its own transaction on the same connection, and starts a fresh read after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from tessera.errors import StoreError, TesseraError

WRITE = "tessera_write"  # execution option: this transaction will write (SQLite: BEGIN IMMEDIATE)
LAZY = "tessera_lazy"  # execution option: its commit need not wait for the disk (Store.transaction's durable=False)

Conflict = Callable[[], TesseraError | None]


@dataclass(slots=True)
class Shared:
    """The connection ``Store.reading`` shares on one thread, and the read transaction open on it."""

    store: object  # the Store whose scope this is: another store's transactions never join
    thread: int
    conn: Connection
    read: Any = None  # sqlalchemy's RootTransaction, while a read is open
    writing: bool = False


SHARED: ContextVar[Shared | None] = ContextVar("tessera_store_shared", default=None)


@contextmanager
def one_writer(lock: threading.RLock | None, timeout_s: float) -> Iterator[None]:
    """Hold this process's SQLite writer lock, if any, around a write transaction (BEGIN IMMEDIATE to COMMIT).

    Writers in one process then queue on a lock that wakes the next at once, instead of each
    polling SQLite's file lock with the busy handler's growing sleeps (1, 2, 5, 10 ms...), which
    adds milliseconds to a write that met another's commit. Past ``timeout_s`` it goes on without
    it, to SQLite's busy handler as before: never a wait that SQLite alone would not have had.
    """
    held = lock is not None and lock.acquire(timeout=timeout_s)
    try:
        yield
    finally:
        if held:
            assert lock is not None
            lock.release()


@contextmanager
def shared_transaction(
    shared: Shared,
    write: bool,
    conflict: Conflict | None,
    failed: Callable[[DBAPIError], StoreError],
    *,
    durable: bool = True,
    writer: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> Iterator[Connection]:
    """A transaction inside ``Store.reading``: a read joins the shared one, a write ends it and runs alone."""
    conn = shared.conn
    if shared.writing or not write:  # a read, or anything inside a write: the transaction already open
        try:
            if shared.read is None and not shared.writing:  # begun at the first read, not before
                shared.read = conn.begin()
            yield conn
        except DBAPIError as exc:
            if shared.read is not None and not shared.writing:  # it may have aborted the read (PostgreSQL)
                shared.read.rollback()
                shared.read = None
            raise failed(exc) from exc
        return
    try:
        if shared.read is not None:
            shared.read.commit()
            shared.read = None
        conn.execution_options(**{WRITE: True, LAZY: not durable})
        shared.writing = True
        try:
            with writer(), conn.begin():
                yield conn
        finally:
            shared.writing = False
            conn.execution_options(**{WRITE: False, LAZY: False})
    except IntegrityError as exc:
        error = None if conflict is None else conflict()
        if error is None:
            raise failed(exc) from exc
        raise error from None
    except DBAPIError as exc:
        raise failed(exc) from exc
