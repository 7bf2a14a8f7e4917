"""Outlets and product lists over HTTP: officers register and authorise, merchants see their own, anyone reads lists."""

from __future__ import annotations

from typing import Any

from tessera.cli.seed import issue_key
from tessera.ledger import Account
from tests.api.world import MONEY, WALLET, World, register_example_programmes

GROCER_TILL = 40
RICE_CSV = "product_code,description,unit,commodity,quantity\nRICE-5KG,Rice 5 kg bag,bag,rice,5000\n"


def _register(world: World, **changes: Any) -> Any:
    assert world.services.ledger.create_accounts([Account(GROCER_TILL, MONEY, code=3, flags=WALLET, category=5411)])
    world.services.store.set_account_holders([(GROCER_TILL, world.principals["shop"].id)])
    body = {
        "name": "Corner grocer",
        "operator": world.principals["shop"].id,
        "category": 5411,
        "location": "KE-047-0012",
        "accounts": [GROCER_TILL],
        **changes,
    }
    return world.client.post("/v1/outlets", json=body, headers=world.as_("bank"))


def test_an_officer_registers_authorises_and_revokes_and_the_merchant_sees_it(world: World) -> None:
    """The whole path: registered (201), authorised for food cash, revoked, and the history read by its merchant."""
    register_example_programmes(world)
    made = _register(world)
    assert made.status_code == 201, made.text
    outlet = made.json()
    assert outlet["accounts"] == [GROCER_TILL] and outlet["registered_by"] == world.principals["bank"].id
    url = f"/v1/outlets/{outlet['id']}/authorisations"
    authorised = world.client.post(
        url, json={"programme": "food_cash", "reason": "licensed food retailer"}, headers=world.as_("bank")
    )
    assert authorised.status_code == 201, authorised.text
    assert authorised.json()["live"] and authorised.json()["basis"] == "social-protection-act/food"
    revoked = world.client.post(f"{url}/food_cash/revoke", json={"reason": "closed"}, headers=world.as_("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == world.principals["admin"].id
    mine = world.client.get("/v1/outlets", headers=world.as_("shop")).json()["outlets"]
    assert [o["id"] for o in mine] == [outlet["id"]]
    history = world.client.get(url, headers=world.as_("shop")).json()["authorisations"]
    assert [(a["seq"], a["live"], a["revocation_reason"]) for a in history] == [(1, False, "closed")]


def test_another_merchants_outlet_reads_as_not_there(world: World) -> None:
    """A merchant that does not operate an outlet gets 404 for it and its authorisations, and none in its list."""
    outlet = _register(world).json()
    other = world.services.store.create_principal("kiosk", world.principals["shop"].role)
    headers = {"Authorization": f"Bearer {issue_key(world.services, other)}"}
    assert world.client.get(f"/v1/outlets/{outlet['id']}", headers=headers).status_code == 404
    assert world.client.get(f"/v1/outlets/{outlet['id']}/authorisations", headers=headers).status_code == 404
    assert world.client.get("/v1/outlets", headers=headers).json() == {"outlets": []}


def test_bad_terms_are_problems_naming_the_field(world: World) -> None:
    """A bad MCC, location code or programme: each a problem+json with its code and field, nothing registered."""
    register_example_programmes(world)
    for changes, status, code, field in [
        ({"category": 9999}, 404, "not_found", "category"),
        ({"location": "Nairobi"}, 400, "invalid_input", "location"),
    ]:
        body = {"name": "Grocer", "operator": world.principals["shop"].id, "location": "KE-047-0012", "category": 5411}
        answer = world.client.post("/v1/outlets", json={**body, **changes}, headers=world.as_("bank"))
        assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (status, code, field)
    assert world.client.get("/v1/outlets", headers=world.as_("bank")).json() == {"outlets": []}
    outlet = _register(world).json()
    url = f"/v1/outlets/{outlet['id']}/authorisations"
    for programme, status, code in [("free_beer", 404, "not_found"), ("fuel_quota", 400, "invalid_input")]:
        answer = world.client.post(url, json={"programme": programme, "reason": "x"}, headers=world.as_("bank"))
        assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (status, code, "programme")
    assert world.client.post(url, json={"programme": "food_cash", "reason": "ok"}, headers=world.as_("bank")).is_success
    twice = world.client.post(url, json={"programme": "food_cash", "reason": "ok"}, headers=world.as_("bank"))
    assert (twice.status_code, twice.json()["code"]) == (409, "conflict")
    never = world.client.post(f"{url}/rice_ration/revoke", json={"reason": "no"}, headers=world.as_("bank"))
    assert (never.status_code, never.json()["code"]) == (404, "not_found")


def test_a_product_list_is_imported_as_csv_and_read_by_anyone(world: World) -> None:
    """An officer PUTs a CSV: version 1 is in force, alice reads it, and its versions are listed."""
    register_example_programmes(world)
    headers = {**world.as_("bank"), "Content-Type": "text/csv"}
    made = world.client.put("/v1/programs/rice_ration/products", content=RICE_CSV, headers=headers)
    assert made.status_code == 201, made.text
    assert (made.json()["version"], made.json()["products"]) == (1, 1)
    listed = world.client.get("/v1/programs/rice_ration/products", headers=world.as_("alice")).json()
    assert listed["version"]["version"] == 1
    assert listed["products"] == [
        {"code": "RICE-5KG", "description": "Rice 5 kg bag", "unit": "bag", "commodity": "rice", "quantity": 5000}
    ]
    versions = world.client.get("/v1/programs/rice_ration/products/versions", headers=world.as_("shop")).json()
    assert [v["version"] for v in versions["versions"]] == [1]
    one = world.client.get("/v1/programs/rice_ration/products/versions/1", headers=world.as_("shop"))
    assert one.json()["products"] == listed["products"]


def test_a_bad_product_line_is_a_problem_naming_line_and_column(world: World) -> None:
    """A zero quantity on line 2 is 400 invalid_input with field "line 2, quantity"; no version is made."""
    register_example_programmes(world)
    headers = {**world.as_("bank"), "Content-Type": "text/csv"}
    bad = RICE_CSV.replace("5000", "0")
    answer = world.client.put("/v1/programs/rice_ration/products", content=bad, headers=headers)
    assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
        400,
        "invalid_input",
        "line 2, quantity",
    )
    listed = world.client.get("/v1/programs/rice_ration/products/versions", headers=headers).json()
    assert listed == {"versions": []}


def test_a_merchant_may_not_register_authorise_or_import(world: World) -> None:
    """Shops do not authorise themselves: each write is 403 for a merchant."""
    register_example_programmes(world)
    outlet = _register(world).json()
    shop = world.as_("shop")
    assert world.client.post("/v1/outlets", json={}, headers=shop).status_code == 403
    url = f"/v1/outlets/{outlet['id']}/authorisations"
    assert world.client.post(url, json={"programme": "food_cash", "reason": "x"}, headers=shop).status_code == 403
    assert world.client.put("/v1/programs/rice_ration/products", content=RICE_CSV, headers=shop).status_code == 403


def test_only_registered_programmes_are_known_to_outlets_and_product_lists(world: World) -> None:
    """A built-in example not registered here is no programme: 404 naming it; registered, the same calls succeed."""
    outlet = _register(world).json()
    url = f"/v1/outlets/{outlet['id']}/authorisations"
    csv = {**world.as_("bank"), "Content-Type": "text/csv"}
    before = [
        world.client.post(url, json={"programme": "food_cash", "reason": "grocer"}, headers=world.as_("bank")),
        world.client.put("/v1/programs/rice_ration/products", content=RICE_CSV, headers=csv),
    ]
    assert [(a.status_code, a.json()["field"]) for a in before] == [(404, "programme"), (404, "programme")]
    assert register_example_programmes(world) == ["food_cash", "rice_ration", "fuel_quota"]
    assert world.client.post(
        url, json={"programme": "food_cash", "reason": "grocer"}, headers=world.as_("bank")
    ).is_success
    assert world.client.put("/v1/programs/rice_ration/products", content=RICE_CSV, headers=csv).status_code == 201
