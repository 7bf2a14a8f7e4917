"""Grievances over HTTP: a person files and reads their own; an officer resolves, with back-pay; all of it logged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tessera.ledger import Transfer
from tessera.programs import entitlement_account_ids
from tests.api.policy_world import Policy, policy_world
from tests.api.world import ISSUER, MONEY, World
from tests.programs.cycle_world import programme_text

PURPOSE = "grievance desk, case 2027/4"
OFFICER = "bank"  # the programme's basis names no agency: any officer may act on it


@pytest.fixture
def policy(world: World) -> Policy:
    """Ada and Ben registered, and the adult cash programme registered by the admin and funded."""
    made = policy_world(world)
    answer = world.client.post("/v1/programs", json={"text": programme_text()}, headers=world.as_("admin"))
    assert answer.status_code == 201, answer.text
    account = answer.json()["lines"][0]["funded_by"]
    world.services.ledger.create_transfers([Transfer(90, ISSUER, account, 10**9, MONEY, 1)])
    return made


def _file(policy: Policy, who: str = "ada", **body: Any) -> Any:
    terms = {"programme": "adult_cash", "kind": "not_received", "text": "January's grant never came", **body}
    return policy.world.client.post("/v1/me/grievances", json=terms, headers=policy.world.as_(who))


def _resolve(policy: Policy, grievance_id: str, purpose: str | None = PURPOSE, **body: Any) -> Any:
    decision = {"upheld": True, "reason": "the cycle missed her: paid now", **body}
    url = f"/v1/programs/grievances/{grievance_id}/resolve"
    return policy.world.client.post(url, json=decision, headers=policy.world.as_(OFFICER, purpose))


def _entitlement(policy: Policy, number: str) -> int:
    account_id = int(entitlement_account_ids("adult_cash", MONEY, np.array([number]))[0])
    found = policy.world.services.ledger.lookup_accounts([account_id])
    return found[0].balance if found else 0


def test_file__the_person_reads_their_own_and_no_one_else_does(policy: Policy) -> None:
    """Ada files a grievance and lists it; Ben lists none and cannot read the officers' view of it."""
    filed = _file(policy)
    assert filed.status_code == 201, filed.text
    made = filed.json()
    assert made["status"] == "open" and made["subject"] == policy.ada.number and made["filed_at"].endswith("Z")
    mine = policy.world.client.get("/v1/me/grievances", headers=policy.world.as_("ada")).json()["grievances"]
    assert [g["id"] for g in mine] == [made["id"]]
    assert policy.world.client.get("/v1/me/grievances", headers=policy.world.as_("ben")).json()["grievances"] == []
    theirs = policy.world.client.get(f"/v1/programs/grievances/{made['id']}", headers=policy.world.as_("ben"))
    assert theirs.status_code == 403


def test_resolve__upheld_with_back_pay_the_person_sees_it_and_is_told_who_looked(policy: Policy) -> None:
    """The officer reads the queue and upholds with back-pay: Ada's entitlement holds it, and her log says so."""
    made = _file(policy).json()
    queue = policy.world.client.get(
        "/v1/programs/grievances", params={"status": "open"}, headers=policy.world.as_(OFFICER, PURPOSE)
    ).json()
    assert [g["id"] for g in queue["grievances"]] == [made["id"]]
    done = _resolve(policy, made["id"], back_pay={"currency": 2500})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved_upheld" and done.json()["resolved_at"].endswith("Z")
    assert _entitlement(policy, policy.ada.number) == 2500
    [seen] = policy.world.client.get("/v1/me/grievances", headers=policy.world.as_("ada")).json()["grievances"]
    assert seen["status"] == "resolved_upheld" and [b["amount"] for b in seen["back_pay"]] == [2500]
    log = policy.log_of(policy.ada)
    officer = policy.world.principals[OFFICER].id
    assert (officer, PURPOSE, "listed in the grievance queue") in log
    assert (officer, PURPOSE, f"grievance {made['id']} resolved_upheld") in log
    assert (officer, PURPOSE, "written") in log  # the back-pay's transfer, through the ledger's note


def test_resolve__twice_is_409_and_pays_once(policy: Policy) -> None:
    """A second decision on a resolved grievance is refused, naming its status; the money moved once."""
    made = _file(policy).json()
    assert _resolve(policy, made["id"], back_pay={"currency": 100}).status_code == 200
    again = _resolve(policy, made["id"], upheld=False, reason="no, after all")
    assert again.status_code == 409 and again.json()["field"] == "status"
    assert _entitlement(policy, policy.ada.number) == 100


def test_resolve__without_a_purpose_is_403_and_logged_for_the_person(policy: Policy) -> None:
    """Resolving shows the person's grievance: without a purpose it is refused, and the refusal logged for them."""
    made = _file(policy).json()
    answer = _resolve(policy, made["id"], purpose=None)
    assert answer.status_code == 403 and answer.json()["code"] == "purpose_required"
    assert any(outcome.startswith("denied") for _, _, outcome in policy.log_of(policy.ada))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "lost_card"}, "kind"),
        ({"programme": "no_such"}, "programme"),
        ({"redemption_id": "r_nothex"}, "redemption_id"),
        ({"text": "\u202e"}, "text"),
    ],
)
def test_file__bad_input_is_problem_json_naming_the_field(policy: Policy, body: dict[str, Any], field: str) -> None:
    """A refused grievance is RFC 9457 problem details naming the field; nothing is filed."""
    answer = _file(policy, **body)
    assert 400 <= answer.status_code < 500 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field, answer.json()
    assert policy.world.client.get("/v1/me/grievances", headers=policy.world.as_("ada")).json()["grievances"] == []


def test_resolve__back_pay_on_a_rejection_is_refused_and_nothing_changes(policy: Policy) -> None:
    """Back-pay comes only with a grievance upheld: the error names it and the grievance stays open."""
    made = _file(policy).json()
    answer = _resolve(policy, made["id"], upheld=False, back_pay={"currency": 100})
    assert answer.status_code == 400 and answer.json()["field"] == "back_pay"
    url = f"/v1/programs/grievances/{made['id']}"
    assert policy.world.client.get(url, headers=policy.world.as_(OFFICER, PURPOSE)).json()["status"] == "open"


def test_stats__counts_without_anyones_data(policy: Policy) -> None:
    """The programme's counts and times to resolution, no purpose needed."""
    first, _ = _file(policy).json(), _file(policy, "ben")
    _resolve(policy, first["id"], upheld=False)
    stats = policy.world.client.get(
        "/v1/programs/adult_cash/grievances/stats", headers=policy.world.as_(OFFICER)
    ).json()
    assert (stats["open"], stats["upheld"], stats["rejected"]) == (1, 0, 1)
    assert stats["resolution_s_median"] is not None and stats["resolution_s_median"] >= 0


def test_resolve__only_an_officer_of_an_agency_the_basis_names(policy: Policy) -> None:
    """A programme under the tax act is the tax office's: the central bank's officer neither sees nor resolves it."""
    text = programme_text("tax_credit").replace("social-protection-act/food", "tax-act/12")
    answer = policy.world.client.post("/v1/programs", json={"text": text}, headers=policy.world.as_("admin"))
    assert answer.status_code == 201, answer.text
    made = _file(policy, programme="tax_credit").json()
    refused = _resolve(policy, made["id"], upheld=False)
    assert refused.status_code == 403 and "tax-act/12" in refused.json()["detail"]
    queue = policy.world.client.get("/v1/programs/grievances", headers=policy.world.as_(OFFICER, PURPOSE)).json()
    assert queue["grievances"] == []
    url = f"/v1/programs/grievances/{made['id']}/resolve"
    decision = {"upheld": False, "reason": "filed with the wrong office"}
    done = policy.world.client.post(url, json=decision, headers=policy.world.as_("tax-officer", PURPOSE))
    assert done.status_code == 200 and done.json()["status"] == "resolved_rejected"
