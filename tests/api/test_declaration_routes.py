"""/v1/declarations: DPOs propose, approve and refuse versions of what data means; anyone reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tessera.api import create_app
from tessera.auth import POLICY, Action, Role, Scope
from tessera.cli.seed import issue_key
from tessera.rules import BUILTIN_DEFINITIONS, builtin_path
from tests.api.world import World, make_world, settings_for

BUILTIN = builtin_path(BUILTIN_DEFINITIONS).read_text(encoding="utf-8")
FINE = """
[[event_type]]
name = "fine.unpaid"
purpose = "judicial"
fields.amount = { type = "int", category = "judicial" }
"""
TRAVEL_BAN = """
[[legal_basis]]
id = "public-order-act/9"
instrument = "Public Order Act"
article = "s. 9 (travel bans)"
kind = "statute"
domains = ["travel"]
exercised_by = ["courts"]
"""


def second_dpo(world: World) -> str:
    principal = world.services.store.create_principal("dpo-2", Role.dpo)
    world.principals["dpo-2"] = principal
    world.tokens["dpo-2"] = issue_key(world.services, principal)
    return "dpo-2"


def post(world: World, path: str, who: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = world.client.post(path, json=body, headers=world.as_(who))
    return response.status_code, response.json()


def test_anyone_reads_the_law_in_force(world: World) -> None:
    """Version 1 is the built-in definitions, recorded at the first start, loaded by this service."""
    listing = world.client.get("/v1/declarations", headers=world.as_("alice")).json()
    assert listing["in_force"] == 1 and listing["loaded"] == 1
    (first,) = listing["versions"]
    assert first["proposed_by"] is None and first["status"] == "approved" and first["document"] is None
    one = world.client.get("/v1/declarations/1", headers=world.as_("bank")).json()
    assert one["document"] == BUILTIN
    assert world.client.get("/v1/declarations/9", headers=world.as_("bank")).status_code == 404


def test_a_dpo_proposes_and_approves_and_the_service_loads_it_at_its_next_start(tmp_path: Path) -> None:
    """In force at once in the store; this process keeps running what it loaded until it restarts."""
    with TestClient(create_app(settings_for(tmp_path)), raise_server_exceptions=False) as client:
        world = make_world(client)
        code, made = post(world, "/v1/declarations", "dpo", {"document": BUILTIN + FINE, "note": "unpaid fines"})
        assert code == 201, made
        assert made["version"]["version"] == 2 and made["version"]["status"] == "pending"
        assert made["changes"]["added"] == ["event_type fine.unpaid"] and made["changes"]["why_two"] == []
        code, approved = post(world, "/v1/declarations/2/approve", "dpo", {"reason": "read it"})
        assert code == 200 and approved["status"] == "approved"
        assert approved["decisions"][0]["principal_id"] == world.principals["dpo"].id
        listing = client.get("/v1/declarations", headers=world.as_("dpo")).json()
        assert (listing["in_force"], listing["loaded"]) == (2, 1)
        assert "fine.unpaid" not in world.services.event_types
    with TestClient(create_app(settings_for(tmp_path)), raise_server_exceptions=False) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.declared.version == 2 and "fine.unpaid" in services.event_types


def test_a_restricting_basis_needs_a_second_dpo(world: World) -> None:
    """One DPO cannot make a travel ban law; the second's approval does."""
    other = second_dpo(world)
    code, made = post(world, "/v1/declarations", "dpo", {"document": BUILTIN + TRAVEL_BAN, "note": "public order"})
    assert code == 201 and made["version"]["approvals_needed"] == 2
    assert made["changes"]["why_two"] == ["legal basis public-order-act/9 can restrict (it names domains)"]
    assert post(world, "/v1/declarations/2/approve", "dpo", {})[1]["status"] == "pending"
    assert post(world, "/v1/declarations/2/approve", "dpo", {})[0] == 409
    assert post(world, "/v1/declarations/2/approve", other, {"reason": "gazette checked"})[1]["status"] == "approved"


def test_a_protected_name__400_naming_the_field_and_category(world: World) -> None:
    """The lexicon's refusal reaches the DPO as a problem naming where, and which category."""
    attack = FINE.replace("fine.unpaid", "citizen.mosque_visit")
    code, problem = post(world, "/v1/declarations", "dpo", {"document": BUILTIN + attack, "note": "visits"})
    assert code == 400 and problem["code"] == "protected_category"
    assert problem["field"].startswith("body.document:event_type[") and problem["field"].endswith(".name")
    assert "religion" in problem["detail"]


def test_only_dpos_propose_or_decide(world: World) -> None:
    """An admin and a rule-writing officer are refused by the policy table, before anything is read."""
    body = {"document": BUILTIN + FINE, "note": "fines"}
    for who in ("admin", "bank", "auditor"):
        assert post(world, "/v1/declarations", who, body)[0] == 403
    post(world, "/v1/declarations", "dpo", body)
    assert post(world, "/v1/declarations/2/approve", "admin", {})[0] == 403
    assert post(world, "/v1/declarations/2/refuse", "bank", {"reason": "no"})[0] == 403


def test_a_refusal_needs_a_reason_and_closes_the_version(world: World) -> None:
    """Refusing over HTTP needs a reason; a refused version answers 409 to a later approval."""
    post(world, "/v1/declarations", "dpo", {"document": BUILTIN + FINE, "note": "fines"})
    assert post(world, "/v1/declarations/2/refuse", "dpo", {})[0] in (400, 422)
    code, refused = post(world, "/v1/declarations/2/refuse", "dpo", {"reason": "withdrawn"})
    assert code == 200 and refused["status"] == "refused"
    assert post(world, "/v1/declarations/2/approve", "dpo", {})[0] == 409


def test_an_exception_is_granted_by_two_with_a_reason(world: World) -> None:
    """A named exception in a proposal takes effect, with its reason, only after two DPOs approve."""
    other = second_dpo(world)
    branch = FINE.replace("fine.unpaid", "branch.church_street_cash")
    body = {"document": BUILTIN + branch, "note": "cash", "exceptions": {"branch.church_street_cash": "a street"}}
    code, made = post(world, "/v1/declarations", "dpo", body)
    assert code == 201 and made["changes"]["new_exceptions"] == ["branch.church_street_cash"]
    post(world, "/v1/declarations/2/approve", "dpo", {})
    done = post(world, "/v1/declarations/2/approve", other, {})[1]
    assert done["status"] == "approved" and done["exceptions"] == {"branch.church_street_cash": "a street"}


def test_a_dpo_holds_no_grant_to_anyone_s_data() -> None:
    """A data-protection officer declares what data means and reads no one's: public records and their own only."""
    grants = {(g.action, g.scope) for g in POLICY if g.role is Role.dpo}
    assert {scope for _, scope in grants} <= {Scope.any, Scope.own}
    assert {action for action, scope in grants if scope is Scope.own} == {Action.me_read}
    assert {action for action, scope in grants if scope is Scope.any} == {
        Action.legal_bases_read,
        Action.agencies_read,
        Action.ledgers_read,
        Action.declarations_read,
        Action.declarations_propose,
        Action.declarations_decide,
    }
    assert all(
        g.role is Role.dpo for g in POLICY if g.action in (Action.declarations_propose, Action.declarations_decide)
    )
