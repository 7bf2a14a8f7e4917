"""A registry store with two admins and the currency's issuer, for the money registers' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.auth import Role
from tessera.money import AdminRequests
from tessera.store import Store
from tests.money.office import Office


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
        yield Office(
            store,
            AdminRequests(store),
            store.create_principal("admin", Role.admin),
            store.create_principal("admin-2", Role.admin),
            store.create_principal("banker", Role.officer, agency="central-bank"),
        )
