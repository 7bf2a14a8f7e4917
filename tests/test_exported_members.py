"""Each package's public names are imported, listed, and sorted."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "tessera.api",
    "tessera.api.schemas",
    "tessera.audit",
    "tessera.auth",
    "tessera.identity",
    "tessera.ledger",
    "tessera.money",
    "tessera.programs",
    "tessera.rules",
    "tessera.store",
]


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions: the order ruff's RUF022 keeps."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    """``__all__`` is sorted and names exactly the public attributes the package imports."""
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=_isort_key)
    public = {n for n in vars(module) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert set(exported) == public - submodules
