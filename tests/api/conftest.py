"""Fixtures for the API tests: a running app over a temporary data directory, and the worlds built on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api import create_app
from tests.api.oidc_scene import Scene, open_scene
from tests.api.policy_world import Paths, policy_world
from tests.api.world import World, make_world, settings_for


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with TestClient(create_app(settings_for(tmp_path)), raise_server_exceptions=False) as client:
        yield make_world(client)


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    """The policy world with callers cached, as in service, counting which path answers."""
    settings = settings_for(tmp_path, caller_cache_s=60.0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Paths(policy_world(make_world(client)), monkeypatch)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    """Amara with a bound passkey, and the shop and the clinic registered as relying parties."""
    with open_scene(tmp_path) as opened:
        yield opened
