"""Programmes and cycles over HTTP: registered by an admin, run by two officers, every step named and logged."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth import Role
from tessera.cli.seed import issue_key
from tessera.ledger import Transfer
from tessera.rules import legal_basis
from tessera.testing import seed_persons
from tests.api.world import ISSUER, MONEY, World
from tests.programs.cycle_world import programme_text

PURPOSE = "monthly adult cash grant"
# A basis that names the agency running it: only social-security's officers act on a programme under it.
WELFARE_ACT = legal_basis(
    "welfare-act/cash", "Welfare Act", "s. 3 (cash grants)", "statute",
    exercised_by=["social-security"], covers=["income.assessed", "benefit.claimed"],
)  # fmt: skip


def _registered(world: World, **terms: Any) -> dict[str, Any]:
    """Seed 30 persons, register the adult cash programme as the admin, and fund its account from the reserve."""
    seed_persons(world.services.store, 7, 30)
    answer = world.client.post("/v1/programs", json={"text": programme_text(**terms)}, headers=world.as_("admin"))
    assert answer.status_code == 201, answer.text
    account = answer.json()["lines"][0]["funded_by"]
    world.services.ledger.create_transfers([Transfer(90, ISSUER, account, 10**9, MONEY, 1)])
    return dict(answer.json())


def _cycle(world: World, who: str = "bank") -> int:
    answer = world.client.post(
        "/v1/programs/adult_cash/cycles", json={"cycle_date": "2027-01-01"}, headers=world.as_(who)
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _step(world: World, cycle_id: int, step: str, who: str) -> Any:
    url = f"/v1/programs/adult_cash/cycles/{cycle_id}/{step}"
    return world.client.post(url, headers=world.as_(who, purpose=PURPOSE))


def test_register__lists_and_reads_the_programme(world: World) -> None:
    """An admin registers a programme by its TOML; it is listed and read back with its version and funding."""
    made = _registered(world)
    assert made["id"] == "adult_cash" and made["version"] == 1 and made["registered_by"] == world.principals["admin"].id
    listed = world.client.get("/v1/programs", headers=world.as_("bank")).json()["programmes"]
    assert [p["id"] for p in listed] == ["adult_cash"]
    assert world.client.get("/v1/programs/adult_cash", headers=world.as_("bank")).json()["lines"] == made["lines"]


def test_register__a_refused_programme_names_the_field_and_writes_nothing(world: World) -> None:
    """A programme reading an unknown fact is refused as the loader refuses it; nothing is registered."""
    text = programme_text().replace("person.age >= 18", "person.shoe_size >= 18")
    answer = world.client.post("/v1/programs", json={"text": text}, headers=world.as_("admin"))
    assert answer.status_code == 404 and "eligibility" in answer.json()["field"]
    assert world.client.get("/v1/programs", headers=world.as_("admin")).json()["programmes"] == []


def test_cycle__draft_to_closed_names_every_step_and_logs_each_person(world: World) -> None:
    """A cycle runs draft → previewed → approved → disbursed → closed; each step names its officer and time."""
    _registered(world)
    cycle_id = _cycle(world)
    previewed = _step(world, cycle_id, "preview", "bank").json()
    assert previewed["status"] == "previewed" and previewed["units"] == 30
    assert _step(world, cycle_id, "approve", "tax-officer").json()["status"] == "approved"
    paid = _step(world, cycle_id, "disburse", "tax-officer").json()
    assert paid["transfers_applied"] == previewed["eligible"] and not paid["already_disbursed"]
    closed = _step(world, cycle_id, "close", "bank").json()
    bank, tax = world.principals["bank"].id, world.principals["tax-officer"].id
    steps = {s: closed[s]["by"] for s in ("created", "previewed", "approved", "disbursed", "closed")}
    assert steps == {"created": bank, "previewed": bank, "approved": tax, "disbursed": tax, "closed": bank}
    url = f"/v1/programs/adult_cash/cycles/{cycle_id}?limit=5"
    page = world.client.get(url, headers=world.as_("bank", purpose=PURPOSE)).json()["results"]
    assert [r["seq"] for r in page] == [0, 1, 2, 3, 4]
    subject = world.services.cycles.results(cycle_id, limit=1)[0].holder
    outcomes = [e.outcome for _, e in world.services.access_log.entries_for_subject(subject, limit=10)]
    assert f"facts read for cycle {cycle_id}" in outcomes and f"listed in cycle {cycle_id}" in outcomes


def test_approve__by_the_officer_who_previewed_is_403_naming_approved_by(world: World) -> None:
    """Four eyes over HTTP: the previewing officer's approval is refused and the cycle stays previewed."""
    _registered(world)
    cycle_id = _cycle(world)
    _step(world, cycle_id, "preview", "bank")
    answer = _step(world, cycle_id, "approve", "bank")
    assert answer.status_code == 403 and "approved_by" in answer.json()["detail"]
    assert world.services.cycles.get(cycle_id).status.value == "previewed"


def test_approve__an_unpreviewed_cycle_is_409(world: World) -> None:
    """A draft cycle's approval is refused, naming its status."""
    _registered(world)
    answer = _step(world, _cycle(world), "approve", "tax-officer")
    assert answer.status_code == 409 and answer.json()["field"] == "status"


def test_approve__over_budget_under_refuse_is_409_naming_the_budget(world: World) -> None:
    """A cycle over budget whose programme refuses is not approved: the error names the budget."""
    _registered(world, budget=100)
    cycle_id = _cycle(world)
    assert _step(world, cycle_id, "preview", "bank").json()["over_budget"] == "refuse"
    answer = _step(world, cycle_id, "approve", "tax-officer")
    assert answer.status_code == 409 and answer.json()["field"] == "budget"


def test_disburse__twice_pays_nothing_the_second_time(world: World) -> None:
    """A second disbursement answers that the cycle was disbursed, with nothing applied."""
    _registered(world)
    cycle_id = _cycle(world)
    _step(world, cycle_id, "preview", "bank")
    _step(world, cycle_id, "approve", "tax-officer")
    first = _step(world, cycle_id, "disburse", "tax-officer").json()
    again = _step(world, cycle_id, "disburse", "tax-officer").json()
    assert first["transfers_applied"] > 0
    assert again["already_disbursed"] and again["transfers_applied"] == 0


def test_cycle__of_an_unknown_programme_is_404(world: World) -> None:
    """A cycle of a programme never registered is refused, naming the programme."""
    answer = world.client.post(
        "/v1/programs/no_such/cycles", json={"cycle_date": "2027-01-01"}, headers=world.as_("bank")
    )
    assert answer.status_code == 404 and answer.json()["field"] == "programme"


@pytest.mark.parametrize(
    "text", ["not toml at all [", "x = 1", "[[programme]]\nid = 1", "", "[[programme]]\n" * 3], ids=repr
)
def test_register__text_that_is_no_programme_is_a_4xx_naming_where(world: World, text: str) -> None:
    """Text that is not TOML, holds no programme or a malformed one is refused with a problem naming where."""
    answer = world.client.post("/v1/programs", json={"text": text}, headers=world.as_("admin"))
    assert 400 <= answer.status_code < 500 and answer.headers["content-type"].startswith("application/problem+json")


def _welfare_officers(world: World) -> None:
    """The welfare act on record, and two officers of social-security, the agency it names."""
    world.services.restrictions.register_bases([WELFARE_ACT])
    for name in ("welfare-1", "welfare-2"):
        officer = world.services.store.create_principal(name, Role.officer, agency="social-security")
        world.principals[name], world.tokens[name] = officer, issue_key(world.services, officer)


def _refused(answer: Any) -> bool:
    """403 naming the programme, as an officer of an agency the basis does not name is refused."""
    return bool(answer.status_code == 403 and answer.json()["detail"].startswith("programme: programme 'adult_cash'"))


def test_cycle__an_officer_of_another_agency_is_refused_every_step(world: World) -> None:
    """Under a basis naming social-security, officers of the central bank and tax office are 403 at every step."""
    _welfare_officers(world)
    _registered(world, basis="welfare-act/cash")
    make = world.client.post(
        "/v1/programs/adult_cash/cycles", json={"cycle_date": "2027-01-01"}, headers=world.as_("bank")
    )
    assert _refused(make), make.text
    cycle_id = _cycle(world, "welfare-1")
    assert _refused(_step(world, cycle_id, "preview", "bank"))
    assert world.services.cycles.get(cycle_id).status.value == "draft"
    assert _step(world, cycle_id, "preview", "welfare-1").status_code == 200
    for who in ("bank", "tax-officer"):
        assert _refused(_step(world, cycle_id, "approve", who))
    assert world.services.cycles.get(cycle_id).status.value == "previewed"
    assert _step(world, cycle_id, "approve", "welfare-2").json()["status"] == "approved"
    assert _refused(_step(world, cycle_id, "disburse", "bank"))
    assert world.services.cycles.get(cycle_id).status.value == "approved"
    assert _step(world, cycle_id, "disburse", "welfare-2").json()["transfers_applied"] > 0
    assert _refused(_step(world, cycle_id, "close", "tax-officer"))
    url = f"/v1/programs/adult_cash/cycles/{cycle_id}"
    assert _refused(world.client.get(url, headers=world.as_("bank", purpose=PURPOSE)))
    assert world.client.get(url, headers=world.as_("welfare-1", purpose=PURPOSE)).status_code == 200
    assert _step(world, cycle_id, "close", "welfare-1").json()["status"] == "closed"


def test_cycle__a_basis_naming_no_agency_lets_any_officer_act(world: World) -> None:
    """The food act names none: the central bank previews and the tax office approves, as before."""
    _registered(world)
    cycle_id = _cycle(world, "bank")
    assert _step(world, cycle_id, "preview", "bank").status_code == 200
    assert _step(world, cycle_id, "approve", "tax-officer").json()["status"] == "approved"


def _paid_cycle(world: World, cycle_date: str) -> int:
    answer = world.client.post(
        "/v1/programs/adult_cash/cycles", json={"cycle_date": cycle_date}, headers=world.as_("bank")
    )
    cycle_id = int(answer.json()["id"])
    _step(world, cycle_id, "preview", "bank")
    _step(world, cycle_id, "approve", "tax-officer")
    assert _step(world, cycle_id, "disburse", "tax-officer").status_code == 200
    return cycle_id


def test_notify_expiry__tells_each_unit_once_then_the_return_waits_for_the_notice(world: World) -> None:
    """An expired cycle: one notice per unit paid, none the second time; the return waits days after the notices."""
    _registered(world)
    cycle_id = _paid_cycle(world, "2026-09-01")  # valid 60 days: expired
    url = f"/v1/programs/adult_cash/cycles/{cycle_id}"
    headers = world.as_("bank", purpose=PURPOSE)
    told = world.client.post(f"{url}/notify-expiry", json={"days_before": 0}, headers=headers)
    assert told.status_code == 200, told.text
    eligible = world.services.cycles.get(cycle_id).eligible
    assert told.json()["created"] == told.json()["total"] == eligible
    assert told.json()["expires_at"].startswith("2026-10-31") and told.json()["notified_at"]
    again = world.client.post(f"{url}/notify-expiry", json={"days_before": 0}, headers=headers).json()
    assert again["created"] == 0 and again["total"] == eligible
    answer = world.client.post(f"{url}/return", headers=world.as_("admin", purpose=PURPOSE))
    assert answer.status_code == 409 and answer.json()["field"] == "notices"
    subject = world.services.cycles.results(cycle_id, limit=1)[0].holder
    outcomes = [e.outcome for _, e in world.services.access_log.entries_for_subject(subject, limit=10)]
    assert f"told what expires of cycle {cycle_id}" in outcomes


def test_return__before_the_end_of_validity_is_409(world: World) -> None:
    """A cycle still valid: nothing returns, and notices 3 days before its end are not due yet."""
    _registered(world)
    cycle_id = _paid_cycle(world, "2099-01-01")
    url = f"/v1/programs/adult_cash/cycles/{cycle_id}"
    answer = world.client.post(f"{url}/return", headers=world.as_("bank", purpose=PURPOSE))
    assert answer.status_code == 409 and answer.json()["field"] == "cycle"
    early = world.client.post(f"{url}/notify-expiry", json={}, headers=world.as_("bank", purpose=PURPOSE))
    assert early.status_code == 409 and early.json()["field"] == "days_before"
