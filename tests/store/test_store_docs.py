"""docs/store.md describes what the store does: every method, limit and error code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.errors import ConflictError, NotFoundError, StoreError
from tessera.limits import BATCH_SIZE_MAX
from tessera.store import API_KEYS_ACTIVE_MAX, API_KEYS_LIST_MAX, Store
from tessera.store.metadata import metadata
from tessera.store.store import StoreClosedError

DOC = (Path(__file__).resolve().parents[2] / "docs" / "store.md").read_text()
METHODS = [name for name in vars(Store) if not name.startswith("_") and callable(getattr(Store, name))]


@pytest.mark.parametrize("name", METHODS)
def test_every_public_method_is_documented(name: str) -> None:
    """Each public method of Store appears in the docs as code."""
    assert f"`{name}(" in DOC or f"`Store.{name}`" in DOC, name


def test_every_table_limit_and_error_code_is_documented() -> None:
    """Tables, the numbers callers plan around, and the codes they catch."""
    for table in metadata.tables:
        assert f"`{table}`" in DOC, table
    for limit in (BATCH_SIZE_MAX, API_KEYS_ACTIVE_MAX, API_KEYS_LIST_MAX):
        assert str(limit) in DOC, limit
    for error in (ConflictError, NotFoundError, StoreError, StoreClosedError):
        assert f"| `{error.code}` |" in DOC, error
