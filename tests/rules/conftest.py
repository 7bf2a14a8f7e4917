"""The intake's world, shared by the tests of intake, notices and notice appeals: two people, the engine, a lender."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.identity.registry import Registry
from tessera.store import Store
from tests.rules.intake_world import STATION, Intake, engine_for


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Intake]:
    """The intake on a fresh SQLite store, with the licence type registered."""
    with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
        registry = Registry(store)
        ada = registry.create_person({"name": "Ada Obi", "birth_date": "1980-02-01", "sex": "F"}, station=STATION)
        ben = registry.create_person({"name": "Ben Ito", "birth_date": "1975-07-09", "sex": "M"}, station=STATION)
        engine, intake, notices = engine_for(store)
        yield Intake(store, intake, engine, notices, ada, ben)
