"""Property test against the OpenAPI document: no generated request gets a 5xx, errors are problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tessera.api import create_app
from tests.api.world import LiveServer, live_server, settings_for

PROBLEM = ("application/problem+json",)
# Building the document opens nothing: the services start only with the server below.
schema = schemathesis.openapi.from_dict(create_app(settings_for(Path("unused"))).openapi())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, server: LiveServer) -> None:
    """Sent as an officer (with a purpose), a citizen, and nobody: never a 5xx; errors are problem+json."""
    world = server.world
    for headers in (world.as_("bank", purpose="fuzz"), world.as_("alice"), {}):
        response = case.call(base_url=server.url, headers={**(case.headers or {}), **headers})
        assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
        if response.status_code >= 400:
            # The token endpoint answers OAuth's errors as RFC 6749 §5.2 requires: application/json.
            expected = ("application/problem+json", "application/json") if case.path == "/oidc/token" else PROBLEM
            assert response.headers["content-type"][0].startswith(expected), response.text[:300]
