"""The service with its registries in PostgreSQL (--database-url): the same contract as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api import create_app
from tests.api.world import ALICE, BOB, SHOP, World, make_world, settings_for
from tests.pgserver import PgServer


@pytest.fixture
def pg_world(pg_server: PgServer, tmp_path: Path) -> Iterator[World]:
    url = pg_server.create_database()
    settings = settings_for(tmp_path, database_url=url)
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield make_world(client)
    finally:
        pg_server.drop_database(url)


def test_keys_holders_and_the_access_log_work_on_postgresql(pg_world: World) -> None:
    """Pay, read, refuse and log with principals, keys and holders stored in PostgreSQL."""
    world = pg_world
    assert world.services.store.url_redacted.startswith("postgresql")
    pay = {"id": 9, "debit_account_id": ALICE, "credit_account_id": SHOP, "amount": 5, "ledger": 1, "code": 2}
    paid = world.client.post("/v1/ledger/transfers", json={"transfers": [pay]}, headers=world.as_("alice"))
    assert paid.json()["results"] == [{"index": 0, "status": "ok"}]
    # Not hers reads as not there.
    assert world.client.get(f"/v1/ledger/accounts/{BOB}", headers=world.as_("alice")).status_code == 404
    read = world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=world.as_("bank", "pg check"))
    assert read.status_code == 200 and read.json()["balance"] == 10_000 - 5
    entries = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"]
    assert entries[0]["purpose"] == "pg check"
