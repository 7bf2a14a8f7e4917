"""The redemption fast path: the same answers as the routes, and anything not plain left to them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.api import fast_redeem
from tessera.api.app import create_app
from tessera.cli.seed import issue_key
from tessera.service import Services
from tests.api.world import settings_for
from tests.programs.redemption_world import PIN, Shops, open_shops

ROUTE = "?via=route"  # any query string: the fast path leaves the request to the route


class Counted:
    """The app over the shops' world, counting the requests the fast path answered."""

    def __init__(self, client: TestClient, shops: Shops, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client = client
        self.shops = shops
        self.services: Services = client.app.state.services  # type: ignore[attr-defined]
        self.services.outlets.known = self.services.product_lists.known = self.services.programmes.known
        self.grocer = {"Authorization": f"Bearer {issue_key(self.services, shops.grocer)}"}
        self.fast = 0
        serve = fast_redeem._serve

        def counted(*args: Any) -> str:
            self.fast += 1
            return serve(*args)

        monkeypatch.setattr(fast_redeem, "_serve", counted)

    def citizen(self, number: str) -> dict[str, str]:
        principal = self.services.store.get_principal(self.services.registry.person(number).principal_id)
        assert principal is not None
        return {"Authorization": f"Bearer {issue_key(self.services, principal, for_person=True)}"}

    def redeem(self, body: Any, key: str, *, via: str = "", headers: dict[str, str] | None = None) -> Any:
        url = f"/v1/outlets/{self.shops.grocery.id}/redemptions{via}"
        return self.client.post(url, json=body, headers={**self.grocer, "Idempotency-Key": key, **(headers or {})})


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counted]:
    shops = open_shops(tmp_path, pins=2)
    shops.world.services.close()
    with TestClient(create_app(settings_for(tmp_path))) as client:
        yield Counted(client, shops, monkeypatch)


def _rice(number: str, **more: Any) -> dict[str, Any]:
    body = {"programme": "rice_test", "person": {"number": number}, "pin": PIN, "co_payment": "cash",
            "items": [{"product": "RICE-5KG", "quantity": 1}]}  # fmt: skip
    return {**body, **more}


def test_a_redemption_and_its_replay_answer_alike_on_both_paths(app: Counted) -> None:
    """The fast path's answer, and the route's replay of the same key, are the same JSON."""
    key = str(uuid.uuid4())
    first = app.redeem(_rice(app.shops.beneficiaries[0]), key)
    assert (first.status_code, app.fast) == (201, 1), first.text
    again = app.redeem(_rice(app.shops.beneficiaries[0]), key, via=ROUTE)
    assert (again.status_code, again.json(), app.fast) == (201, first.json(), 1)
    assert first.headers["content-type"] == again.headers["content-type"] == "application/json"


def test_an_approval_answers_alike_on_both_paths(app: Counted) -> None:
    number = app.shops.beneficiaries[2]
    body = _rice(number, auth="app")
    del body["pin"]
    waiting = app.redeem(body, str(uuid.uuid4()))
    assert waiting.status_code == 201 and waiting.json()["status"] == "awaiting_approval", waiting.text
    url = f"/v1/me/redemptions/{waiting.json()['id']}/approve"
    mine = app.citizen(number)
    approved = app.client.post(url, headers=mine)
    assert (approved.status_code, approved.json()["status"], app.fast) == (200, "completed", 2), approved.text
    again = app.client.post(url + ROUTE, headers=mine)
    assert (again.status_code, again.json(), app.fast) == (200, approved.json(), 2)


def test_errors_answer_alike_on_both_paths(app: Counted) -> None:
    """An unknown key, someone else's approval, a merchant approving, a refusal: the same problem either way."""
    number = app.shops.beneficiaries[1]
    unknown = {"Authorization": "Bearer tsk_00000000_nothing"}
    waiting = app.redeem({**_rice(number, auth="app"), "pin": None}, str(uuid.uuid4()))
    approve = f"/v1/me/redemptions/{waiting.json()['id']}/approve"
    cases = [
        lambda via: app.redeem(_rice(number), str(uuid.uuid4()), via=via, headers=unknown),
        lambda via: app.redeem(_rice("999999999999"), str(uuid.uuid4()), via=via),
        lambda via: app.client.post(approve + via, headers=app.citizen(app.shops.beneficiaries[3])),
        lambda via: app.client.post(approve + via, headers=app.grocer),
    ]
    for case in cases:
        fast, before = case(""), app.fast
        route = case(ROUTE)
        assert app.fast == before, "the query string sent it to the route"
        assert fast.status_code == route.status_code and fast.status_code >= 400, fast.text
        assert fast.json() == {**route.json(), "instance": fast.json()["instance"]}
        assert fast.headers.get("www-authenticate") == route.headers.get("www-authenticate")
    assert app.fast == 1 + len(cases)  # the waiting redemption, then each case once


def test_what_is_not_plain_is_left_to_the_route(app: Counted) -> None:
    """A body the schema refuses, no Idempotency-Key, a body that is not JSON, no token, a token with blanks."""
    number = app.shops.beneficiaries[0]
    url = f"/v1/outlets/{app.shops.grocery.id}/redemptions"
    bad = app.redeem(_rice(number, items=[{"product": "RICE-5KG", "quantity": "1"}]), str(uuid.uuid4()))
    assert (bad.status_code, bad.json()["field"]) == (422, "body.items[0].quantity"), bad.text
    keyless = app.client.post(url, json=_rice(number), headers=app.grocer)
    assert keyless.status_code == 422 and "idempotency" in keyless.text.lower(), keyless.text
    text = app.client.post(url, content=b"programme=rice", headers={**app.grocer, "Idempotency-Key": "k1"})
    assert text.status_code == 422, text.text
    tokenless = app.client.post(url, json=_rice(number), headers={"Idempotency-Key": "k2"})
    assert tokenless.status_code == 401, tokenless.text
    spaced = {"Authorization": app.grocer["Authorization"].replace("Bearer ", "Bearer  ")}
    assert app.redeem(_rice(number), "k3", headers=spaced).status_code in (201, 401)  # as the route reads it
    assert app.fast == 0


def test_a_revocation_is_seen_by_the_very_next_request_on_the_fast_path(app: Counted) -> None:
    """An outlet's authorisation revoked, then a person revoked: the next till request and approval are refused."""
    services, admin = app.services, app.shops.world.admin
    number = app.shops.beneficiaries[0]
    assert app.redeem(_rice(number), str(uuid.uuid4())).status_code == 201
    services.outlets.revoke(app.shops.grocery.id, "rice_test", admin, "licence suspended")
    refused = app.redeem(_rice(number), str(uuid.uuid4()))
    assert (refused.status_code, refused.json()["reason"]) == (422, "not_authorised"), refused.text
    services.outlets.authorise(app.shops.grocery.id, "rice_test", admin, "licence restored")
    waiting = app.redeem({**_rice(number, auth="app"), "pin": None}, str(uuid.uuid4()))
    mine = app.citizen(number)
    assert app.client.get("/v1/me/redemptions/" + waiting.json()["id"], headers=mine).status_code == 200  # cached
    services.registry.set_status(number, "revoked", reason="identity fraud", actor=admin.id)
    approved = app.client.post(f"/v1/me/redemptions/{waiting.json()['id']}/approve", headers=mine)
    assert approved.status_code == 401, approved.text
    assert app.fast == 4
