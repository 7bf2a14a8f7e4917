"""Services opens everything or nothing: a bad setting leaves no file open or locked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.api import Services
from tessera.errors import InvalidInputError
from tests.api.conftest import settings_for


def test_a_bad_public_url_leaves_nothing_locked(tmp_path: Path) -> None:
    """The second open of the same data directory works: the first released its locks."""
    with pytest.raises(InvalidInputError) as caught:
        Services(settings_for(tmp_path, public_url="ftp://id.example.gov"))
    assert caught.value.field.startswith("origins") or caught.value.field == "issuer"
    services = Services(settings_for(tmp_path))
    services.close()
