"""GET /v1/me/entitlements: a citizen's programmes, why, what is left and where, and their redemptions."""

from __future__ import annotations

import time

from tessera.cli.seed import issue_key
from tessera.service import NOMINEE_PURPOSE, OWN_HOUSEHOLD_PURPOSE
from tests.api.policy_world import Policy, policy_world
from tests.api.world import ISSUER, World
from tests.programs.cycle_world import family_paid, grocer, redeem

DAY_NS = 86_400 * 10**9


def _paid(world: World) -> tuple[Policy, int]:
    """Ada heads a household with Ben; the family programme paid it 40.00 a day ago (it lives 60 days)."""
    policy = policy_world(world)
    p = world.principals
    cycle_id = family_paid(
        world.services, head=policy.ada.number, member=policy.ben.number, issuer=ISSUER, admin=p["admin"].id,
        maker=p["tax-officer"].id, checker=p["tax-officer-2"].id, cycle_date_ns=time.time_ns() - DAY_NS,
    )  # fmt: skip
    return policy, cycle_id


def test_the_head_sees_what_is_left_until_when_why_and_where(world: World) -> None:
    """Ada's answer: the household's programme, 40.00 left with its expiry in RFC 3339, the clauses that held."""
    policy, cycle_id = _paid(world)
    answer = world.client.get("/v1/me/entitlements", headers=world.as_("ada"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    [seen] = body["programmes"]
    assert (seen["id"], seen["unit"], seen["head"], seen["yours"]) == (
        "family_cash",
        "household",
        policy.ada.number,
        True,
    )
    assert seen["latest"]["cycle_id"] == cycle_id and seen["latest"]["eligible"]
    assert seen["latest"]["reason"] == "met: household.size >= 2; household.size < 50"
    [line] = seen["lines"]
    assert (line["left"], line["left_text"], line["expired"]) == (4000, "40.00 XTS", 0)
    assert line["until"].endswith("Z") and line["until_ns"] > time.time_ns()
    assert [c["code"] for c in seen["merchant_categories"]] == [5411, 5499]
    assert all(c["name"] for c in seen["merchant_categories"]) and seen["outlets"] == 0
    assert body["redemptions"] == [] and body["next_before"] is None


def test_a_member_sees_the_households_entitlement_and_the_head_sees_the_look(world: World) -> None:
    """Ben sees it as the household's (not his); Ada's log names Ben's look, Ben's own log has nothing of it."""
    policy, _ = _paid(world)
    answer = world.client.get("/v1/me/entitlements", headers=world.as_("ben"))
    assert answer.status_code == 200, answer.text
    [seen] = answer.json()["programmes"]
    assert (seen["yours"], seen["number"], seen["lines"][0]["left_text"]) == (False, policy.ada.number, "40.00 XTS")
    ben = world.principals["ben"].id
    assert (ben, OWN_HOUSEHOLD_PURPOSE, f"read entitlements of household {seen['household_id']}") in policy.log_of(
        policy.ada
    )
    assert not [e for e in policy.log_of(policy.ben) if e[0] == ben]
    world.client.get("/v1/me/entitlements", headers=world.as_("ada"))
    assert not [e for e in policy.log_of(policy.ada) if e[0] == world.principals["ada"].id]


def test_a_nominee_sees_the_household_they_collect_for_and_the_head_sees_the_look(world: World) -> None:
    """Cy, no member, collects for Ada's household: Cy sees it marked nominee; Ada's log names Cy's look as such."""
    policy, _ = _paid(world)
    services = world.services
    cy = services.registry.create_person({"name": "Cy Ade", "birth_date": "1990-03-04", "sex": "M"}, station="x")
    principal = services.store.get_principal(cy.principal_id)
    assert principal is not None
    world.principals["cy"], world.tokens["cy"] = principal, issue_key(services, principal, for_person=True)
    assert world.client.get("/v1/me/entitlements", headers=world.as_("cy")).json()["programmes"] == []
    home = services.households.household_of(policy.ada.number)
    assert home is not None
    services.households.add_nominee(home.id, cy.number, actor=world.principals["admin"].id, reason="Ada is bedridden")
    answer = world.client.get("/v1/me/entitlements", headers=world.as_("cy"))
    assert answer.status_code == 200, answer.text
    [seen] = answer.json()["programmes"]
    assert (seen["nominee"], seen["yours"], seen["number"], seen["household_id"]) == (
        True, False, policy.ada.number, home.id,
    )  # fmt: skip
    assert seen["lines"][0]["left_text"] == "40.00 XTS"
    looks = [e for e in policy.log_of(policy.ada) if e[0] == principal.id]
    assert looks == [(principal.id, NOMINEE_PURPOSE, f"read entitlements of household {home.id}")]


def test_redemptions_come_newest_first_a_page_at_a_time(world: World) -> None:
    """Two draws at a grocer: 15.00 left; the newest redemption first, then the older by ``before``."""
    policy, cycle_id = _paid(world)
    grocer(world.services, programme_id="family_cash")
    now = time.time_ns()
    for k, amount in enumerate((1500, 1000)):
        redeem(
            world.services, programme_id="family_cash", number=policy.ada.number, cycle_id=cycle_id, amount=amount,
            redemption_id=f"r_00000000000000c{k}", at_ns=now + k,
        )  # fmt: skip
    first = world.client.get("/v1/me/entitlements", params={"limit": 1}, headers=world.as_("ben")).json()
    assert first["programmes"][0]["lines"][0]["left_text"] == "15.00 XTS"
    [newest] = first["redemptions"]
    assert (newest["id"], newest["outlet_name"], newest["status"]) == (
        "r_00000000000000c1", "Mama Njeri's Grocery", "completed",
    )  # fmt: skip
    assert newest["created_at"].endswith("Z") and newest["items"][0]["amount"] == 1000
    params = {"limit": 1, "before": first["next_before"]}
    older = world.client.get("/v1/me/entitlements", params=params, headers=world.as_("ben")).json()
    assert [r["id"] for r in older["redemptions"]] == ["r_00000000000000c0"]


def test_a_bad_cursor_is_400_naming_before_and_an_officer_is_403(world: World) -> None:
    """``before`` is a page's cursor; the route is a citizen's own, refused to an officer."""
    policy_world(world)
    bad = world.client.get("/v1/me/entitlements", params={"before": "yesterday"}, headers=world.as_("ada"))
    assert bad.status_code == 400 and bad.json()["field"] == "before"
    assert world.client.get("/v1/me/entitlements", headers=world.as_("tax-officer")).status_code == 403


def test_a_person_in_no_programme_sees_none(world: World) -> None:
    """Nothing registered and run: an empty list, not an error."""
    policy_world(world)
    body = world.client.get("/v1/me/entitlements", headers=world.as_("ada")).json()
    assert body["programmes"] == [] and body["redemptions"] == [] and body["household_id"] is None
