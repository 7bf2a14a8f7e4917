"""Every error is RFC 9457 problem+json with a stable code; never a stack trace."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tessera.api import create_app
from tessera.auth import Rate
from tests.api.world import World, make_world, settings_for


def _is_problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code and body["status"] == status and body["type"] == f"urn:tessera:error:{code}"
    assert "Traceback" not in str(body)
    return body


def test_unknown_route_is_a_problem(world: World) -> None:
    """An unknown route answers 404 as problem+json with the not_found code, not a framework page."""
    _is_problem(world.client.get("/nope"), 404, "not_found")


def test_wrong_method_is_a_problem(world: World) -> None:
    """A wrong method answers 405 as problem+json with the method_not_allowed code."""
    _is_problem(world.client.delete("/healthz"), 405, "method_not_allowed")


def test_malformed_json_names_the_body(world: World) -> None:
    """Malformed JSON is 422 invalid_input naming the body."""
    response = world.client.post(
        "/v1/ledger/accounts", content=b"{not json", headers={**world.as_("bank"), "Content-Type": "application/json"}
    )
    body = _is_problem(response, 422, "invalid_input")
    assert str(body["field"]).startswith("body")


def test_query_out_of_range_names_the_parameter(world: World) -> None:
    """A query parameter out of range is 422 naming query.limit."""
    body = _is_problem(world.client.get("/v1/me/access-log?limit=0", headers=world.as_("alice")), 422, "invalid_input")
    assert body["field"] == "query.limit"


def test_declared_body_over_the_limit_is_413(world: World) -> None:
    """A body over the size limit in bytes is refused 413 as a body_size problem before it is read."""
    response = world.client.post(
        "/v1/ledger/transfers",
        content=b"x" * (5 * 1024 * 1024),
        headers={**world.as_("alice"), "Content-Type": "application/octet-stream"},
    )
    _is_problem(response, 413, "body_size")


def test_unauthenticated_says_how_to_authenticate(world: World) -> None:
    """A request without credentials is 401 with a Bearer challenge and says to send Authorization."""
    response = world.client.get("/v1/me")
    body = _is_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in str(body["detail"])


@pytest.mark.parametrize("limited", ["lookup", "auth_failure"])
def test_rate_limits_answer_429_with_retry_after(tmp_path: object, limited: str) -> None:
    """Lookups per principal and failed logins per client address each have an allowance."""
    tight = Rate(per_second=0.01, burst=3)
    settings = settings_for(tmp_path, **{f"{limited}_rate": tight})  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        world = make_world(client)
        headers = world.as_("alice") if limited == "lookup" else {"Authorization": "Bearer wrong"}
        statuses = [client.get("/v1/me", headers=headers).status_code for _ in range(3)]
        assert statuses == ([200] * 3 if limited == "lookup" else [401] * 3)
        response = client.get("/v1/me", headers=headers)
        _is_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1
        assert client.get("/v1/me", headers=world.as_("bob")).status_code == 200  # others are not affected
