"""The public surface: health, the OpenAPI document and the interactive docs."""

from __future__ import annotations

from tessera import __version__
from tests.api.world import World


def test_healthz_is_public_and_counts_without_personal_data(world: World) -> None:
    """/healthz needs no key and answers version and counts, no personal data."""
    health = world.client.get("/healthz").json()
    assert health == {"status": "ok", "version": __version__, "accounts": 4, "transfers": 2, "access_log_size": 0}


def test_the_openapi_document_lists_both_transfer_encodings(world: World) -> None:
    """The OpenAPI document lists JSON and packed transfer bodies and the bearer scheme."""
    spec = world.client.get("/openapi.json").json()
    body = spec["paths"]["/v1/ledger/transfers"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/octet-stream"}
    assert "TransferCreate" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_the_interactive_docs_page_is_served(world: World) -> None:
    """The interactive docs page is served and points at the OpenAPI document."""
    page = world.client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
