"""Sanctions screening in operation over HTTP: hits at enrolment and on new counterparties, and officers' decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tessera.auth import Role
from tessera.cli.seed import issue_key
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.rules import SanctionsLists
from tests.api.people import applicant, enrol
from tests.api.world import ALICE, MONEY, WALLET, World

DATA = Path(__file__).resolve().parents[1] / "rules" / "sanctions" / "data"
PURPOSE = "sanctions screening review 2026/4"
LISTED = {"name": "Viktor Anatolyevich Bout", "birth_date": "1967-01-13", "sex": "M"}  # in ftm.jsonl (OFAC SDGT)
LISTED_WALLET = 60


@pytest.fixture
def listed(world: World) -> World:
    """The world with the small FtM list imported, and an analyst of the unit that exercises listings."""
    analyst = world.services.store.create_principal("analyst", Role.officer, agency="financial-intelligence-unit")
    world.principals["analyst"], world.tokens["analyst"] = analyst, issue_key(world.services, analyst)
    SanctionsLists(world.services.store).import_list(DATA / "ftm.jsonl", "ftm")
    world.services.sanctions_watch.refresh()  # otherwise seen within REFRESH_S
    return world


def _settle(world: World) -> None:
    world.services.ledger.feed.wait_idle(10)
    assert world.services.sanctions_worker.wait_idle(30)
    assert world.services.sanctions_worker.errors == 0, world.services.sanctions_worker.last_error


def _enrol_listed(world: World) -> str:
    response = enrol(world, applicant("st1-0901", who=901, demographics=LISTED))
    assert response.status_code == 201, response.text
    number = str(response.json()["enrolments"][0]["number"])
    _settle(world)
    return number


def _hits(world: World, status: str = "pending", purpose: str | None = PURPOSE) -> Any:
    return world.client.get("/v1/sanctions/hits", params={"status": status}, headers=world.as_("bank", purpose))


def _decide(world: World, hit_id: str, body: dict[str, Any]) -> Any:
    return world.client.post(f"/v1/sanctions/hits/{hit_id}/decision", json=body, headers=world.as_("analyst", PURPOSE))


def _log(world: World, number: str) -> list[tuple[str, str, str]]:
    subject = world.services.subject_of_person(number)
    return [(e.principal, e.purpose, e.outcome) for _, e in world.services.access_log.entries_for_subject(subject)]


def test_a_person_enrolled_under_a_listed_name__pending_hit__the_look_is_logged(listed: World) -> None:
    """Enrolment succeeds; the screening after it leaves a pending hit; the officer's look is in the person's log."""
    number = _enrol_listed(listed)
    response = _hits(listed)
    assert response.status_code == 200, response.text
    (hit,) = response.json()["hits"]
    assert hit["subject"] == number and hit["list_id"].startswith("ftm:") and hit["context"] == "enrolment"
    assert hit["status"] == "pending" and hit["score"] >= response.json()["threshold"]
    assert (listed.principals["bank"].id, PURPOSE, "read") in _log(listed, number)


def test_listing_hits_without_a_purpose__refused(listed: World) -> None:
    """A hit is sensitive: no purpose, no look."""
    _enrol_listed(listed)
    response = _hits(listed, purpose=None)
    assert response.status_code == 403 and response.json()["code"] == "purpose_required"


def test_confirm__restriction_active__wallet_frozen__notice_to_the_person(listed: World) -> None:
    """Confirming is self-executing under the listing basis: payments closed for a year, the wallet frozen."""
    services = listed.services
    number = _enrol_listed(listed)
    person = services.registry.person(number)
    services.store.set_account_holders([(LISTED_WALLET, person.principal_id)])
    services.ledger.create_accounts([Account(LISTED_WALLET, MONEY, code=2, flags=WALLET)])
    (hit,) = _hits(listed).json()["hits"]
    response = _decide(listed, hit["id"], {"decision": "confirm", "reason": "same birth date and passport"})
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["hit"]["status"] == "confirmed"
    restriction = decided["restriction"]
    assert restriction["status"] == "active" and restriction["basis_id"] == "sanctions-act/listing"  # FtM: no section
    assert restriction["domains"] == ["payments"] and restriction["end_ns"] is not None
    assert services.restrictions.check(number, "payments").allowed is False
    account = services.ledger.lookup_accounts([LISTED_WALLET])[0]
    assert account.flags & AccountFlags.frozen
    notices = services.notices.of_subject(number)
    assert notices and notices[0].reference == restriction["id"]


def test_dismiss__nothing_restricted(listed: World) -> None:
    """Dismissed with a reason: no restriction, and the hit leaves the queue."""
    number = _enrol_listed(listed)
    (hit,) = _hits(listed).json()["hits"]
    response = _decide(listed, hit["id"], {"decision": "dismiss", "reason": "different person, other birthplace"})
    assert response.status_code == 200 and response.json()["restriction"] is None
    assert listed.services.restrictions.of_subject(number) == []
    assert _hits(listed).json()["hits"] == []
    assert _hits(listed, "dismissed").json()["hits"][0]["reason"] == "different person, other birthplace"


def test_dismiss_by_another_agency__403__the_hit_stays_pending__logged_as_refused(listed: World) -> None:
    """Issue 15: only the listing's agency answers a hit, either way; a bank officer cannot clear one."""
    number = _enrol_listed(listed)
    (hit,) = _hits(listed).json()["hits"]
    body = {"decision": "dismiss", "reason": "a good customer"}
    response = listed.client.post(
        f"/v1/sanctions/hits/{hit['id']}/decision", json=body, headers=listed.as_("bank", PURPOSE)
    )
    assert response.status_code == 403 and "financial-intelligence-unit" in response.json()["detail"]
    assert [h["id"] for h in _hits(listed).json()["hits"]] == [hit["id"]]
    bank = listed.principals["bank"].id
    outcomes = [what for who, _, what in _log(listed, number) if who == bank]
    assert f"screening hit {hit['id']} dismiss requested" in outcomes
    assert any(o.startswith(f"screening hit {hit['id']} dismiss refused: only an officer of") for o in outcomes)
    assert _decide(listed, hit["id"], {"decision": "dismiss", "reason": "other person"}).status_code == 200
    analyst = listed.principals["analyst"].id
    assert (analyst, PURPOSE, f"screening hit {hit['id']} dismissed") in _log(listed, number)


def test_a_new_counterparty_with_a_listed_name__screened_on_its_first_transfer(listed: World) -> None:
    """A merchant principal named like a listing is screened when Alice first pays it."""
    services = listed.services
    principal = services.store.create_principal("Air Cess", listed.principals["shop"].role)
    services.store.set_account_holders([(61, principal.id)])
    services.ledger.create_accounts([Account(61, MONEY, code=3, flags=WALLET)])
    assert services.ledger.create_transfers([Transfer(10, ALICE, 61, 100, MONEY, 1)]).all_ok
    _settle(listed)
    (hit,) = _hits(listed).json()["hits"]
    assert hit["subject"] == f"org:{principal.id}" and hit["context"] == "counterparty"
    assert hit["reference"].startswith("ledger:")
    assert services.counterparties.new_pairs >= 1
    confirmed = _decide(listed, hit["id"], {"decision": "confirm", "reason": "the listed airline's trading name"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["restriction"]["subject"] == f"org:{principal.id}"
    assert services.ledger.lookup_accounts([61])[0].flags & AccountFlags.frozen  # its wallet, not just the index


def test_a_counterparty_acting_for_an_organisation__screened_and_frozen_as_it(listed: World) -> None:
    """A merchant linked to an organisation is screened under it; confirming freezes every till of it."""
    services = listed.services
    role = listed.principals["shop"].role
    tills = [services.store.create_principal(f"Air Cess {i}", role, organisation="org:air-cess") for i in (1, 2)]
    services.store.set_account_holders([(61, tills[0].id), (62, tills[1].id)])
    services.ledger.create_accounts([Account(i, MONEY, code=3, flags=WALLET) for i in (61, 62)])
    assert services.ledger.create_transfers([Transfer(10, ALICE, 61, 100, MONEY, 1)]).all_ok
    _settle(listed)
    (hit,) = _hits(listed).json()["hits"]
    assert hit["subject"] == "org:air-cess"
    assert _decide(listed, hit["id"], {"decision": "confirm", "reason": "same company"}).status_code == 200
    assert all(a.flags & AccountFlags.frozen for a in services.ledger.lookup_accounts([61, 62]))


def test_bad_input__404_422_409(listed: World) -> None:
    """An unknown hit, a missing reason, and a second decision."""
    assert _decide(listed, "h_0000000000000000", {"decision": "dismiss", "reason": "x"}).status_code == 404
    _enrol_listed(listed)
    (hit,) = _hits(listed).json()["hits"]
    assert _decide(listed, hit["id"], {"decision": "dismiss"}).status_code == 422
    assert _decide(listed, hit["id"], {"decision": "dismiss", "reason": ""}).status_code == 422
    assert _decide(listed, hit["id"], {"decision": "dismiss", "reason": "other person"}).status_code == 200
    second = _decide(listed, hit["id"], {"decision": "confirm", "reason": "on reflection"})
    assert second.status_code == 409 and second.json()["code"] == "conflict"
