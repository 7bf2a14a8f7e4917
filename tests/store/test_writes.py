"""Writes: ``durable=False`` (a commit that does not wait for the disk, for that transaction alone), and one writer.

On SQLite a process's writers queue on one lock (``one_writer``) before SQLite's own.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import Connection, func, select

from tessera.store import Store, agencies
from tessera.store.shared import one_writer

LAZY = {"sqlite": 1, "postgresql": "off"}  # PRAGMA synchronous=NORMAL; synchronous_commit off


def _commit_setting(conn: Connection) -> object:
    if conn.dialect.name == "sqlite":
        return conn.exec_driver_sql("PRAGMA synchronous").scalar()
    return conn.exec_driver_sql("SHOW synchronous_commit").scalar()


@pytest.mark.parametrize("scope", ["alone", "inside reading"])
def test_a_lazy_write_is_committed_and_the_next_write_waits_for_the_disk_again(store: Store, scope: str) -> None:
    """The lazy write is seen by everyone; the writes after it on its connection are as durable as before it."""
    with store.reading() if scope == "inside reading" else contextlib.nullcontext():
        with store.transaction(write=True) as conn:
            usual = _commit_setting(conn)
        if store.dialect == "sqlite":
            assert usual == 2  # FULL: every commit waits for the disk
        with store.transaction(write=True, durable=False) as conn:
            assert _commit_setting(conn) == LAZY[store.dialect]
            conn.execute(agencies.insert().values(id="lazy", title="Lazy", registered_at_ns=1, registered_by="test"))
        with store.transaction(write=True) as conn:
            assert _commit_setting(conn) == usual
            assert conn.scalar(select(func.count()).where(agencies.c.id == "lazy").select_from(agencies)) == 1
    with store.transaction(write=True) as conn:  # a pooled connection, perhaps the one it ran on, handed out again
        assert _commit_setting(conn) == usual


def test_one_writer_holds_the_lock_for_the_write__and_goes_on_without_it_past_the_timeout() -> None:
    """Free, it is held until the write ends; held elsewhere past the timeout, the write goes on (SQLite then waits)."""
    lock = threading.RLock()
    with one_writer(lock, 1.0):
        taken = threading.Thread(target=lambda: seen.append(lock.acquire(timeout=0.01)))
        seen: list[bool] = []
        taken.start()
        taken.join()
        assert seen == [False]  # another thread cannot have it meanwhile
    assert lock.acquire(blocking=False)  # released
    lock.release()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    try:
        with one_writer(lock, 0.01):
            pass  # reached: no deadlock behind a writer that never lets go
    finally:
        release.set()
        holder.join()
