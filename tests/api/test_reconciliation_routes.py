"""Reconciliation over HTTP: a programme's figures for officers, a shop's statement for its operator, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import dataclass

import pytest

from tessera.cli.seed import issue_key
from tessera.ledger import Transfer
from tessera.testing import seed_persons
from tests.api.world import ISSUER, MONEY, World
from tests.programs.cycle_world import programme_text
from tests.programs.redemption_sim import Shop, Simulation

PURPOSE = "monthly adult cash grant"


@dataclass
class Scene:
    cycle_id: int
    shop: Shop
    merchant: dict[str, str]  # the shop's operator's headers
    number: str  # whose entitlement was redeemed
    redemption_id: str
    day: dt.date


@pytest.fixture
def scene(world: World) -> Scene:
    """The adult cash programme disbursed over HTTP, and one redemption of 12.34 XTS at a grocer."""
    seed_persons(world.services.store, 7, 20)
    made = world.client.post("/v1/programs", json={"text": programme_text()}, headers=world.as_("admin"))
    funding = made.json()["lines"][0]["funded_by"]
    assert world.services.ledger.create_transfers([Transfer(90, ISSUER, funding, 10**9, MONEY, 1)]).all_ok
    answer = world.client.post(
        "/v1/programs/adult_cash/cycles", json={"cycle_date": "2027-01-01"}, headers=world.as_("bank")
    )
    cycle_id = int(answer.json()["id"])
    for step, who in (("preview", "bank"), ("approve", "tax-officer"), ("disburse", "tax-officer")):
        url = f"/v1/programs/adult_cash/cycles/{cycle_id}/{step}"
        assert world.client.post(url, headers=world.as_(who, purpose=PURPOSE)).is_success
    officer = world.principals["bank"].id
    sim = Simulation(world.services, "adult_cash", MONEY, MONEY, funding, officer, time.time_ns())
    shop = sim.open_shop("grocer-1", 60_001)
    merchant = world.services.store.get_principal_by_name("grocer-1")
    assert merchant is not None
    number = next(r.person for r in world.services.cycles.results(cycle_id, limit=100) if r.eligible)
    done = sim.redeem(shop, number, [(cycle_id, 1234)])
    assert done.status == "completed"
    day = dt.datetime.fromtimestamp(sim.now_ns // 10**9, dt.UTC).date()
    headers = {"Authorization": f"Bearer {issue_key(world.services, merchant)}"}
    return Scene(cycle_id, shop, headers, number, done.id, day)


def test_a_programmes_figures_agree_with_the_ledger_in_json_and_csv(world: World, scene: Scene) -> None:
    """An officer reads issued, redeemed and outstanding per cycle and line, and the same figures as CSV."""
    url = "/v1/programs/adult_cash/reconciliation"
    found = world.client.get(url, headers=world.as_("bank"))
    assert found.status_code == 200, found.text
    [row] = found.json()["rows"]
    paid = world.services.cycles.get(scene.cycle_id).totals[0].paid
    assert (row["cycle_id"], row["issued"], row["redeemed"], row["outstanding"]) == (
        scene.cycle_id, paid, 1234, paid - 1234,
    )  # fmt: skip
    assert row["cycle_date"] == "2027-01-01T00:00:00Z" and row["unit"] == "XTS"
    assert found.json()["lines"][0]["agrees"]
    as_csv = world.client.get(url, params={"format": "csv"}, headers=world.as_("bank"))
    assert as_csv.headers["content-type"].startswith("text/csv")
    [back] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert back["redeemed"] == "12.34" and back["cycle_date"] == "2027-01-01T00:00:00Z"
    accepted = world.client.get(url, headers={**world.as_("bank"), "Accept": "text/csv"})
    assert accepted.text == as_csv.text


def test_a_cycles_figures_and_an_unknown_cycle(world: World, scene: Scene) -> None:
    """One cycle's rows; a cycle that does not exist is 404 naming the cycle."""
    url = f"/v1/programs/adult_cash/cycles/{scene.cycle_id}/reconciliation"
    found = world.client.get(url, headers=world.as_("tax-officer"))
    assert found.status_code == 200 and [r["redeemed"] for r in found.json()["rows"]] == [1234]
    missing = world.client.get("/v1/programs/adult_cash/cycles/999/reconciliation", headers=world.as_("bank"))
    assert (missing.status_code, missing.json()["field"]) == (404, "cycle")


def test_reconciliation_is_refused_to_a_citizen_and_a_merchant(world: World, scene: Scene) -> None:
    """Only officers read a programme's figures."""
    for who in (world.as_("alice"), scene.merchant):
        answer = world.client.get("/v1/programs/adult_cash/reconciliation", headers=who)
        assert answer.status_code == 403


def test_the_operator_reads_its_statement_masked_and_as_csv(world: World, scene: Scene) -> None:
    """The shop's merchant reads its day: the redemption by id, the beneficiary's last 3 digits, never the number."""
    url = f"/v1/outlets/{scene.shop.outlet.id}/statement"
    found = world.client.get(url, params={"date": scene.day.isoformat()}, headers=scene.merchant)
    assert found.status_code == 200, found.text
    body = found.json()
    [entry] = body["entries"]
    assert (entry["redemption_id"], entry["status"], entry["drawn"][0]["amount"]) == (
        scene.redemption_id,
        "completed",
        1234,
    )
    assert entry["beneficiary"] == "*" * 9 + scene.number[-3:] and scene.number not in found.text
    assert [(t["programme"], t["redeemed"]) for t in body["totals"]] == [("adult_cash", 1234)]
    assert body["start"] == f"{scene.day.isoformat()}T00:00:00Z"
    as_csv = world.client.get(
        url, params={"date": scene.day.isoformat()}, headers={**scene.merchant, "Accept": "text/csv"}
    )
    [line] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert (line["redemption_id"], line["kind"], line["amount"]) == (scene.redemption_id, "draw", "12.34")
    officer = world.client.get(url, params={"date": scene.day.isoformat(), "format": "json"}, headers=world.as_("bank"))
    assert officer.status_code == 200 and officer.json()["entries"] == body["entries"]


def test_another_merchant_is_refused_the_statement(world: World, scene: Scene) -> None:
    """A merchant that does not operate the outlet gets 404 (another's outlet reads as not there); a citizen 403."""
    url = f"/v1/outlets/{scene.shop.outlet.id}/statement"
    other = world.client.get(url, params={"date": scene.day.isoformat()}, headers=world.as_("shop"))
    assert (other.status_code, other.json()["field"]) == (404, "outlet")
    assert scene.redemption_id not in other.text
    assert world.client.get(url, params={"date": scene.day.isoformat()}, headers=world.as_("alice")).status_code == 403


def test_a_bad_date_is_refused(world: World, scene: Scene) -> None:
    """A date that is not one is 400 naming date (or 422 where it does not look like one)."""
    url = f"/v1/outlets/{scene.shop.outlet.id}/statement"
    answer = world.client.get(url, params={"date": "2026-02-30"}, headers=scene.merchant)
    assert (answer.status_code, answer.json()["field"]) == (400, "date")
    assert world.client.get(url, params={"date": "yesterday"}, headers=scene.merchant).status_code in (400, 422)
