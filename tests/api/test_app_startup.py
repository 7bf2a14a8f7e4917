"""What ``create_app`` does at start-up beyond opening the services."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api import create_app
from tests.api.world import settings_for


@pytest.mark.parametrize("freeze", [True, False])
def test_only_a_server_freezes_what_startup_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, freeze: bool) -> None:
    """``tessera serve`` asks for a collection, then a freeze, once the services are open; tests' apps do not."""
    calls: list[str] = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    app = create_app(settings_for(tmp_path), freeze_startup=freeze)
    with TestClient(app) as client:
        assert calls == (["collect", "freeze"] if freeze else [])
        assert client.get("/healthz").status_code == 200
    assert calls == (["collect", "freeze"] if freeze else [])
