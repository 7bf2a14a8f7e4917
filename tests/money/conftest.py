"""A registry store with two admins and the currency's issuer, for the money registers' tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tessera.auth import Principal, Role
from tessera.money import AdminRequests
from tessera.store import Store


@dataclass
class Office:
    store: Store
    requests: AdminRequests
    admin: Principal
    admin_2: Principal
    banker: Principal  # an officer of the central bank, made before any ledger named it


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
