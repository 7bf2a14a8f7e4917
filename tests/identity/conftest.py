"""Identity tests run on a SQLite registry of their own; the store tests cover PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated registry database for one test."""
    with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as opened:
        yield opened
