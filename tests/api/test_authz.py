"""The route walk: every route in the OpenAPI document refuses callers the policy table does not name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tessera.auth import Action, Role, render_markdown, roles_allowed
from tests.api.world import PEOPLE, World

PUBLIC = {
    ("get", "/healthz"),
    # A passkey is the credential here: the ceremony id and the signed answer authenticate.
    ("post", "/v1/sessions"),
    ("post", "/v1/sessions/{ceremony_id}"),
    ("post", "/v1/passkeys/registrations/{ceremony_id}"),
    # OpenID Connect's own endpoints: OAuth's client authentication and bearer tokens guard them.
    ("get", "/.well-known/openid-configuration"),
    ("get", "/oidc/jwks"),
    ("get", "/oidc/authorize"),
    ("post", "/oidc/authorize/{request_id}"),
    ("post", "/oidc/token"),
    ("get", "/oidc/userinfo"),
    ("post", "/oidc/userinfo"),
}
ONE_PER_ROLE = {role: name for name, role, _ in reversed(PEOPLE)}
ROOT = Path(__file__).resolve().parents[2]


def _operations(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    spec = world.client.get("/openapi.json").json()
    return [(m, p, op) for p, item in spec["paths"].items() for m, op in item.items()]


def _request(world: World, method: str, path: str, headers: dict[str, str]) -> int:
    url = re.sub(r"\{[^}]+\}", "2", path)
    params = {"index": 0, "first": 1}  # required query parameters of the audit routes
    if method == "post":
        return world.client.post(url, json={}, headers=headers).status_code
    return world.client.request(method.upper(), url, params=params, headers=headers).status_code


def test_every_route_declares_an_action_or_is_public(world: World) -> None:
    """A route without x-tessera-action would skip the policy: only /healthz may."""
    actions = {action.value for action in Action}
    for method, path, op in _operations(world):
        if (method, path) not in PUBLIC:
            assert op.get("x-tessera-action") in actions, (method, path)


def test_no_credentials_is_401_everywhere_but_public_routes(world: World) -> None:
    """Every route in the schema answers 401 without credentials, bar the public ones, which never answer 5xx."""
    for method, path, _ in _operations(world):
        status = _request(world, method, path, {})
        if (method, path) in PUBLIC:
            assert status < 500, (method, path, status)  # their own checks answer: a 4xx for an empty request
        else:
            assert status == 401, (method, path, status)


def test_a_bad_key_is_401(world: World) -> None:
    """A well-formed but unknown key, and a malformed one, are both 401."""
    headers = {"Authorization": "Bearer tsk_000000000000_" + "A" * 43}
    assert world.client.get("/v1/me", headers=headers).status_code == 401
    assert world.client.get("/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401


@pytest.mark.parametrize("role", list(Role))
def test_every_role_without_a_grant_is_403(world: World, role: Role) -> None:
    """Walk every declared route as ``role``: refused with 403 exactly where the table has no grant."""
    headers = world.as_(ONE_PER_ROLE[role], purpose="route walk")
    for method, path, op in _operations(world):
        if (method, path) in PUBLIC:
            continue
        status = _request(world, method, path, headers)
        if role in roles_allowed(Action(op["x-tessera-action"])):
            assert status not in (401, 500), (role, method, path, status)
        else:
            assert status == 403, (role, method, path, status)


def test_a_revoked_key_stops_working(world: World) -> None:
    """A revoked key is refused 401 at once (the tests keep no caller cache)."""
    key_id = world.tokens["alice"].split("_")[1]
    world.services.store.revoke_api_key(key_id, 1)
    assert world.client.get("/v1/me", headers=world.as_("alice")).status_code == 401


def test_the_docs_show_the_policy_table_as_it_is() -> None:
    """docs/api.md carries the rendered table; change the table and the docs together."""
    assert render_markdown() in (ROOT / "docs" / "api.md").read_text()
