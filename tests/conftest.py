"""Shared fixtures: every test gets its own ledger directory; one PostgreSQL server per session."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tessera.ledger import Account, AccountFlags, Ledger, Transfer
from tessera.store import Store
from tests.accounts import ALICE, BOB, ISSUER, SHOP
from tests.pgserver import PgServer, PgUnavailableError, database_of, start_server

REQUIRE_ENV = "TESSERA_TEST_POSTGRES"

# Helpers that assert get pytest's rewritten asserts, as a test module does, so a failure shows its values.
pytest.register_assert_rewrite("tests.api.oidc_scene", "tests.api.people", "tests.api.policy_world", "tests.cli.demo")


@pytest.fixture(scope="session", autouse=True)
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SQLite registry migrated once: each fresh one starts as a copy of it instead of running every migration.

    Alembic's upgrade from nothing costs ~0.45 s of CPU a store (each migration script run
    again); the suite opens well over a thousand fresh stores. The copy is SQLite's own backup
    of a database ``Store.open`` migrated, so it is the very schema and rows a migration makes;
    ``_migrate`` then finds it at head. Stores that are not empty, and PostgreSQL, are left alone
    (tests/store/test_migrations.py and the households migration test run alembic themselves).
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "registry.db"
    Store.open(f"sqlite:///{path}").close()
    migrate = Store._migrate

    def from_template(store: Store) -> None:
        engine = store._engine
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                empty = conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar() == 0
                conn.rollback()
                if empty:
                    template = sqlite3.connect(path)
                    try:
                        template.backup(conn.connection.driver_connection)  # type: ignore[arg-type]
                    finally:
                        template.close()
        migrate(store)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, "_migrate", from_template)
        yield path


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger") as opened:
        yield opened


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    """An issuer, two wallets and a shop; Alice and Bob hold 1000 each."""
    wallet = AccountFlags.debits_must_not_exceed_credits
    assert ledger.create_accounts(
        [
            Account(ISSUER, 1, 1),
            Account(ALICE, 1, 2, flags=wallet),
            Account(BOB, 1, 2, flags=wallet),
            Account(SHOP, 1, 3, flags=wallet, category=5411),
        ]
    ).all_ok
    assert ledger.create_transfers(
        [Transfer(1, ISSUER, ALICE, 1000, 1, 1), Transfer(2, ISSUER, BOB, 1000, 1, 1)]
    ).all_ok
    return ledger


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    """The name of a database migrated to head: copying it is cheaper than migrating anew."""
    url = pg_server.create_database()
    Store.open(url).close()  # no connection may stay open on a template
    return database_of(url)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One server for the session, with a migrated template database to copy per test."""
    try:
        server = start_server()
    except PgUnavailableError as exc:
        reason = f"PostgreSQL store tests NOT RUN: {exc}"
        if os.environ.get(REQUIRE_ENV) == "required":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=required)")
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated registry database for one test, on SQLite and on a throwaway PostgreSQL database.

    Without PostgreSQL server binaries the ``postgresql`` half is skipped with the reason in
    the summary (``TESSERA_TEST_POSTGRES=required`` fails instead, as CI does).
    """
    if request.param == "sqlite":
        with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as opened:
            yield opened
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database(request.getfixturevalue("pg_template"))
    try:
        with Store.open(url) as opened:
            yield opened
    finally:
        server.drop_database(url)
