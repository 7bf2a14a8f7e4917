"""Identity tests that touch the registry run on SQLite and on a throwaway PostgreSQL database.

Without PostgreSQL server binaries the ``postgresql`` half is skipped with the reason in
the summary (``TESSERA_TEST_POSTGRES=required`` fails instead, as CI does).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.store import Store
from tests.pgserver import PgServer


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated registry database for one test."""
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
