"""Shared fixtures: every test gets its own ledger directory; one PostgreSQL server per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.ledger import Account, AccountFlags, Ledger, Transfer
from tessera.store import Store
from tests.accounts import ALICE, BOB, ISSUER, SHOP
from tests.pgserver import PgServer, PgUnavailableError, database_of, start_server

REQUIRE_ENV = "TESSERA_TEST_POSTGRES"

# Helpers that assert get pytest's rewritten asserts, as a test module does, so a failure shows its values.
pytest.register_assert_rewrite("tests.api.oidc_scene", "tests.api.people", "tests.api.policy_world", "tests.cli.demo")


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
