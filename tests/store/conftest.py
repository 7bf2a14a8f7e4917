"""Every store test runs twice: on a SQLite file and on a throwaway PostgreSQL database.

Without PostgreSQL server binaries the ``postgresql`` half is skipped with the reason in
the summary; set ``TESSERA_TEST_POSTGRES=required`` (as CI should) to fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.auth.principals import Principal, Role
from tessera.store import Store
from tessera.store.metadata import metadata
from tests.pgserver import PgServer, database_of

BACKENDS = ["sqlite", "postgresql"]
# The agencies a migration put in are reference data, as in a new database: they stay.
_EMPTY_TABLES_SQL = "; ".join(
    f"DELETE FROM {table.name}" + (" WHERE registered_by NOT LIKE 'migration %'" if table.name == "agencies" else "")
    for table in reversed(metadata.sorted_tables)
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own for this test, with no tables yet."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture(scope="module")
def pg_module_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    """A migrated database for one module's tests; each test empties it before it starts."""
    url = pg_server.create_database(pg_template)
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An open store on an empty, migrated database: a new SQLite file, or emptied PostgreSQL tables."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        # Emptying the tables isolates tests as well as a new database would, several
        # times faster (CREATE DATABASE copies a whole template).
        url = request.getfixturevalue("pg_module_url")
        request.getfixturevalue("pg_server").execute(_EMPTY_TABLES_SQL, database_of(url))
    with Store.open(url) as opened:
        yield opened


@pytest.fixture(scope="module", params=BACKENDS)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per module and backend, for tests that prove they write nothing."""
    if request.param == "sqlite":
        with Store.open(f"sqlite:///{tmp_path_factory.mktemp('shared') / 'registry.db'}") as opened:
            yield opened
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database(request.getfixturevalue("pg_template"))
    try:
        with Store.open(url) as opened:
            yield opened
    finally:
        server.drop_database(url)


@pytest.fixture
def citizen(store: Store) -> Principal:
    return store.create_principal("alice", Role.citizen)


@pytest.fixture
def officer(store: Store) -> Principal:
    return store.create_principal("officer 7", Role.officer, agency="tax-office")
