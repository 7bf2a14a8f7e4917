"""A broken constraint is translated in one place, the store: into the caller's ConflictError or a StoreError."""

from __future__ import annotations

import pytest
from sqlalchemy import Insert
from sqlalchemy.exc import IntegrityError

from tessera.errors import ConflictError, StoreError
from tessera.store import Store, agencies, inserted


def _agency(agency_id: str) -> Insert:
    return agencies.insert().values(id=agency_id, title="Test agency", registered_at_ns=1, registered_by="test")


def _insert_twice(store: Store, **conflict: object) -> None:
    with store.transaction(write=True) as conn:
        conn.execute(_agency("twice"))
    with store.transaction(write=True, **conflict) as conn:  # type: ignore[arg-type]
        conn.execute(_agency("twice"))


def test_conflict_names_the_broken_constraint(store: Store) -> None:
    """What ``conflict`` returns is raised, looked up after the rollback."""
    with pytest.raises(ConflictError, match="id: taken"):
        _insert_twice(store, conflict=lambda: ConflictError("id", "taken"))


def test_conflict_that_finds_nothing_is_a_store_error(store: Store) -> None:
    """When ``conflict`` finds none of the caller's constraints to blame, the fault is the store's."""
    with pytest.raises(StoreError):
        _insert_twice(store, conflict=lambda: None)


def test_without_conflict_a_broken_constraint_is_a_store_error(store: Store) -> None:
    """SQLAlchemy's IntegrityError never leaves the store: with no ``conflict`` to name it, it is a store fault."""
    with pytest.raises(StoreError) as raised:
        _insert_twice(store)
    assert not isinstance(raised.value, IntegrityError)


def test_inserted_is_false_on_a_clash_and_the_transaction_goes_on(store: Store) -> None:
    """A clash undoes only its savepoint: the next insert in the same transaction is kept."""
    with store.transaction(write=True) as conn:
        assert inserted(conn, _agency("first"))
        assert not inserted(conn, _agency("first"))
        assert inserted(conn, _agency("second"))
    with store.transaction() as conn:
        kept = set(conn.scalars(agencies.select().with_only_columns(agencies.c.id)))
    assert {"first", "second"} <= kept
