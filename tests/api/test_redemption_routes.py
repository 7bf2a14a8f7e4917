"""Redemption over HTTP: a till redeems by PIN, a person approves in their app, refusals in words, logged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.cli.seed import issue_key
from tessera.service import Services
from tests.api.world import settings_for
from tests.programs.redemption_world import PIN, Shops, open_shops


class Till:
    """The app over the shops' world, and keys for who acts in it."""

    def __init__(self, client: TestClient, shops: Shops) -> None:
        self.client = client
        self.shops = shops
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        self.services = services
        services.outlets.known = services.product_lists.known = services.programmes.known
        self.grocer = {"Authorization": f"Bearer {issue_key(services, shops.grocer)}"}
        self.keeper = {"Authorization": f"Bearer {issue_key(services, shops.station_keeper)}"}
        self.officer = {
            "Authorization": f"Bearer {issue_key(services, shops.world.maker)}",
            "X-Tessera-Purpose": "attestation at the grocery: case 2026/19",
        }

    def citizen(self, number: str) -> dict[str, str]:
        person = self.services.registry.person(number)
        principal = self.services.store.get_principal(person.principal_id)
        assert principal is not None
        return {"Authorization": f"Bearer {issue_key(self.services, principal, for_person=True)}"}

    def redeem(self, body: dict[str, Any], *, outlet: str | None = None, key: str | None = None) -> Any:
        url = f"/v1/outlets/{outlet or self.shops.grocery.id}/redemptions"
        headers = {
            **(self.keeper if outlet == self.shops.station.id else self.grocer),
            "Idempotency-Key": key or str(uuid.uuid4()),
        }
        return self.client.post(url, json=body, headers=headers)


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Till]:
    """The shops' world, closed and reopened under the app."""
    shops = open_shops(tmp_path, pins=4)
    shops.world.services.close()
    with TestClient(create_app(settings_for(tmp_path))) as client:
        yield Till(client, shops)


def _rice(number: str, **more: Any) -> dict[str, Any]:
    body = {"programme": "rice_test", "person": {"number": number}, "pin": PIN, "co_payment": "cash",
            "items": [{"product": "RICE-5KG", "quantity": 1}]}  # fmt: skip
    return {**body, **more}


def test_a_till_redeems_by_pin_and_the_person_sees_it_logged(till: Till) -> None:
    """201 with what is left in words; the person's access log names the grocer and the redemption."""
    number = till.shops.beneficiaries[0]
    answer = till.redeem(_rice(number))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "completed" and body["lines"][0]["amount"] == "5.000"
    assert body["lines"][0]["left"] == "5.000" and body["lines"][0]["usable_until"].endswith("Z")
    assert body["co_payment"] == "5.00" and body["co_payment_method"] == "cash"
    log = till.client.get("/v1/me/access-log", headers=till.citizen(number))
    assert log.status_code == 200, log.text
    entries = [e for e in log.json()["entries"] if "programs.redemption" in e["fields"]]
    assert entries and entries[0]["principal"] == till.shops.grocer.id


def test_refusals_are_words_a_shopkeeper_reads_out(till: Till) -> None:
    """Each refusal is 422 redemption_refused with a reason, the words, and the field."""
    number = till.shops.beneficiaries[1]
    cases = [
        (_rice("999999999999"), till.shops.grocery.id, "person_not_found", "person"),
        (_rice(number), till.shops.station.id, "not_authorised", "programme"),
        (_rice(number, items=[{"product": "BEER-1L", "quantity": 1}]), None, "not_on_list", "items[0].product"),
        (_rice(number, items=[{"product": "RICE-5KG", "quantity": 3}]), None, "quota_used_up", "items"),
    ]
    for body, outlet, reason, field in cases:
        answer = till.redeem(body, outlet=outlet)
        problem = answer.json()
        assert (answer.status_code, problem["code"], problem["reason"], problem["field"]) == (
            422, "redemption_refused", reason, field,
        ), problem  # fmt: skip
        assert problem["words"] and problem["words"] in problem["detail"]
    used_up = till.redeem(_rice(number, items=[{"product": "RICE-5KG", "quantity": 3}])).json()
    assert used_up["params"] == {"left": "10.000", "unit": "kg", "asked": "15.000"}


def test_the_person_approves_in_their_app(till: Till) -> None:
    """auth app: nothing drawn until the person approves; the till sees it completed after."""
    number = till.shops.beneficiaries[2]
    body = _rice(number, auth="app")
    del body["pin"]
    waiting = till.redeem(body)
    assert waiting.status_code == 201 and waiting.json()["status"] == "awaiting_approval", waiting.text
    redemption = waiting.json()["id"]
    mine = till.client.get(f"/v1/me/redemptions/{redemption}", headers=till.citizen(number))
    assert mine.status_code == 200 and mine.json()["items"][0]["product"] == "RICE-5KG"
    stranger = till.citizen(till.shops.beneficiaries[3])
    assert till.client.post(f"/v1/me/redemptions/{redemption}/approve", headers=stranger).status_code == 404
    approved = till.client.post(f"/v1/me/redemptions/{redemption}/approve", headers=till.citizen(number))
    assert approved.status_code == 200 and approved.json()["status"] == "completed", approved.text
    seen = till.client.get(f"/v1/outlets/{till.shops.grocery.id}/redemptions/{redemption}", headers=till.grocer)
    assert seen.json()["status"] == "completed" and seen.json()["lines"][0]["left"] == "5.000"


def test_an_officer_attests_for_someone_without_a_pin(till: Till) -> None:
    """No PIN: an officer's attestation, used once, lets the till redeem; a second use is refused."""
    number = till.shops.beneficiaries[5]  # no PIN was set for them
    terms = {"person": number, "outlet": till.shops.grocery.id, "reason": "fingerprints worn; known to the office"}
    unstated = {"Authorization": till.officer["Authorization"]}
    refused = till.client.post("/v1/programs/rice_test/attestations", json=terms, headers=unstated)
    assert (refused.status_code, refused.json()["code"]) == (403, "purpose_required")
    made = till.client.post(
        "/v1/programs/rice_test/attestations",
        json={"person": number, "outlet": till.shops.grocery.id, "reason": "fingerprints worn; known to the office"},
        headers=till.officer,
    )
    assert made.status_code == 201, made.text
    body = _rice(number, auth="attestation", attestation=made.json()["id"])
    del body["pin"]
    assert till.redeem(body).status_code == 201
    again = till.redeem(body)
    assert (again.status_code, again.json()["reason"]) == (422, "attestation_invalid")


def test_a_fuel_hold_is_posted_for_what_was_poured(till: Till) -> None:
    """Reserve 40 litres, pour 32.5: the answer shows it posted."""
    number = till.shops.beneficiaries[0]
    body = {"programme": "fuel_test", "person": {"number": number}, "pin": PIN, "hold": True,
            "items": [{"product": "FUEL-1L", "quantity": 40}]}  # fmt: skip
    held = till.redeem(body, outlet=till.shops.station.id)
    assert held.status_code == 201 and held.json()["status"] == "held", held.text
    url = f"/v1/outlets/{till.shops.station.id}/redemptions/{held.json()['id']}"
    for bogus in ("0.0.0", ".", "..", "-5", "1e2", "32.55"):  # bytes no honest till sends: refused, nothing settled
        answer = till.client.post(f"{url}/post", json={"amount": bogus}, headers=till.keeper)
        assert (answer.status_code, answer.json()["field"]) == (400, "amount"), (bogus, answer.text)
    posted = till.client.post(f"{url}/post", json={"amount": "32.5"}, headers=till.keeper)
    assert posted.status_code == 200 and posted.json()["status"] == "posted", posted.text
    assert till.client.post(f"{url}/post", json={"amount": "0"}, headers=till.grocer).status_code in (403, 404)
