"""``Store.reading``: a request's transactions on one connection, its reads in one transaction, its writes seen."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Connection, Insert, func, select

from tessera.errors import ConflictError
from tessera.store import Store, agencies


def _agency(agency_id: str) -> Insert:
    return agencies.insert().values(id=agency_id, title="Test agency", registered_at_ns=1, registered_by="test")


def _agencies(store: Store) -> int:
    with store.transaction() as conn:
        return int(conn.scalar(select(func.count()).select_from(agencies)) or 0)


def test_reads_inside_share_one_connection_and_another_thread_does_not(store: Store) -> None:
    """Every read in the scope is handed the same connection; a thread of its own gets a connection of its own."""
    seen: list[Connection] = []
    with store.reading():
        for _ in range(2):
            with store.transaction() as conn:
                seen.append(conn)
        with store.reading(), store.transaction() as conn:  # a nested scope joins
            seen.append(conn)
        elsewhere: list[Connection] = []

        def read() -> None:
            with store.transaction() as conn:
                elsewhere.append(conn)

        worker = threading.Thread(target=read)
        worker.start()
        worker.join()
    assert seen[0] is seen[1] is seen[2]
    assert elsewhere and elsewhere[0] is not seen[0]


def test_a_write_inside_is_committed_and_the_reads_after_it_see_it(store: Store) -> None:
    """A write ends the shared read and commits on its own: the scope's next read, and everyone else, see it."""
    before = _agencies(store)
    with store.reading():
        assert _agencies(store) == before
        with store.transaction(write=True) as conn:
            conn.execute(_agency("inside"))
        assert _agencies(store) == before + 1
        seen_outside: list[int] = []
        worker = threading.Thread(target=lambda: seen_outside.append(_agencies(store)))
        worker.start()
        worker.join()
        assert seen_outside == [before + 1]


def test_a_broken_constraint_inside_is_the_callers_conflict_and_the_scope_goes_on(store: Store) -> None:
    """A write that breaks a constraint is rolled back alone, named by ``conflict``; reads after it still work."""
    with store.reading():
        with store.transaction(write=True) as conn:
            conn.execute(_agency("twice"))
        with (
            pytest.raises(ConflictError, match="id: taken"),
            store.transaction(write=True, conflict=lambda: ConflictError("id", "taken")) as conn,
        ):
            conn.execute(_agency("twice"))
        with store.transaction() as conn:
            assert conn.scalar(select(func.count()).where(agencies.c.id == "twice")) == 1
