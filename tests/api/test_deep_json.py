"""A JSON body nested deep is bad input (400 naming the field), never a RecursionError's 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tessera.api.bodies import JSON_DEPTH_MAX
from tests.api.oidc_scene import HTML, JSON, Scene, authorization_url
from tests.api.world import World

DEEP = 1000


def _nested(depth: int) -> str:
    """``{"x": {"x": ... {}}}``, ``depth`` deep, as JSON text: json.dumps itself would recurse that deep."""
    return '{"x": ' * depth + "{}" + "}" * depth


def _consent_action(scene: Scene) -> tuple[str, dict[str, Any]]:
    url, _ = authorization_url(scene)
    page = scene.client.get(url, headers=JSON)
    assert page.status_code == 200, page.text
    data: dict[str, Any] = page.json()
    return str(data["action"]), data


class TestConsentEndpoint:
    """POST /oidc/authorize/{id}: unauthenticated, and it reads its body itself."""

    def test_json_nested_a_thousand_deep__400_naming_the_body(self, scene: Scene) -> None:
        """The consent endpoint refuses JSON nested a thousand deep with 400 on the body, for JSON and HTML callers."""
        action, _ = _consent_action(scene)
        body = b'{"credential": {"x": ' + b"[" * DEEP + b"]" * DEEP + b"}}"
        for accept in (JSON, HTML):
            answer = scene.client.post(
                action, content=body, headers={**accept, "Content-Type": "application/json"}, follow_redirects=False
            )
            assert answer.status_code == 400, answer.text
        problem = scene.client.post(action, content=body, headers={**JSON, "Content-Type": "application/json"})
        assert problem.json()["field"] == "body" and f"at most {JSON_DEPTH_MAX}" in problem.json()["detail"]

    def test_a_credential_nested_deep_in_the_form__400_and_the_login_still_works(self, scene: Scene) -> None:
        """The consent page posts the answer as JSON text: nested deep, it is refused; the request stays open."""
        action, data = _consent_action(scene)
        form = {"credential": "[" * 30_000 + "]" * 30_000, "decision": "allow", "claims": "name"}
        refused = scene.client.post(action, data=form, headers=JSON, follow_redirects=False)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "credential"
        deep_dict = scene.client.post(
            action,
            content='{"credential": ' + _nested(DEEP - 50) + ', "claims": ["name"]}',
            headers={**JSON, "Content-Type": "application/json"},
            follow_redirects=False,
        )
        assert deep_dict.status_code == 400, deep_dict.text
        answer = json.dumps(scene.device.get(data["webauthn"], "http://localhost"))
        done = scene.client.post(action, data={**form, "credential": answer}, headers=JSON, follow_redirects=False)
        assert done.status_code == 303, done.text


@pytest.mark.parametrize("depth", [DEEP - 50, DEEP, 5 * DEEP])
def test_a_passkey_answer_nested_deep__400_at_login(world: World, depth: int) -> None:
    """POST /v1/sessions/{id}, unauthenticated: FastAPI parses the body, the passkeys bound its depth."""
    ceremony = world.client.post("/v1/sessions", json={}).json()
    body = _nested(min(depth, DEEP - 50)) if depth < DEEP else '{"x": ' + "[" * depth + "]" * depth + "}"
    answer = world.client.post(
        f"/v1/sessions/{ceremony['id']}", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
