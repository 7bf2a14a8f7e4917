"""The route walk for personal data: every route that shows a person's data to someone else logs it for them.

It walks the app's own routes, not a list kept by hand. Every GET whose action officers
hold under the ``purpose`` scope needs a case in ``CASES`` that seeds data so the route
shows a person's data; the walk calls it as an officer with a purpose (an access entry
with that purpose for each person shown) and without one (403 ``purpose_required``, and
the refusal logged for each of them). Every route a role may call beyond its own records
without a purpose is named in ``NO_PERSONAL_DATA`` with the reason. So a new route that
shows a person's data has nowhere to hide: unlisted, the walk fails.
A citizen's own reads that show someone else's data too (a household's members, its head's
entitlement) are in ``OWN_READS_OF_OTHERS``: logged for each of those others, never for the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tessera.api.deps import ACTION_KEY
from tessera.auth import POLICY, Action, Role, Scope
from tessera.programs import funding_accounts
from tessera.rules import NoticeDraft, SanctionsLists, Screenee
from tessera.service import NO_PURPOSE, OWN_HOUSEHOLD_PURPOSE
from tests.api.people import applicant, enrol
from tests.api.policy_world import Policy, policy_world
from tests.api.world import ISSUER, World
from tests.programs.cycle_world import CYCLE_DATE_NS, family_paid, programme_text

PURPOSE = "route walk: case 2026/15"
READER = "bank"  # an officer who neither enrolled, proposed nor decided anything below
FTM = Path(__file__).resolve().parents[1] / "rules" / "sanctions" / "data" / "ftm.jsonl"
LISTED = {"name": "Viktor Anatolyevich Bout", "birth_date": "1967-01-13", "sex": "M"}  # in ftm.jsonl
DAY_NS = 86_400 * 10**9

# The ledger's routes are walked elsewhere: their reads are being reworked (issue 15: reads
# through an account the officer controls), and tests/api/test_ledger_routes.py covers
# their purpose and log. These three are the purpose-scoped reads among them.
COVERED_ELSEWHERE_UNDER = "/v1/ledger/"
LEDGER_READS = {
    ("GET", "/v1/ledger/accounts/{account_id}"),
    ("GET", "/v1/ledger/accounts/{account_id}/transfers"),
    ("GET", "/v1/ledger/transfers/{transfer_id}"),
}

# Routes some role may call beyond its own records without a purpose, and why no person's data is shown.
NO_PERSONAL_DATA = {
    ("GET", "/v1/audit/tree-head"): "a size, a root hash and a signature",
    ("GET", "/v1/audit/proof/inclusion"): "hashes only",
    ("GET", "/v1/audit/proof/consistency"): "hashes only",
    ("GET", "/v1/admin/principals"): "service principals; citizens are refused",
    ("GET", "/v1/legal-bases"): "the law is public",
    ("POST", "/v1/oidc/clients"): "a relying party's registration",
    # The station's own applicants; each candidate the 1:N search turns up is logged for them
    # by Enrolments, with the station's purpose as given (test_identity_routes.py).
    ("POST", "/v1/identity/enrolments"): "the station's own applicants; candidates logged by Enrolments",
    ("GET", "/v1/agencies"): "the register of agencies is public",
    ("POST", "/v1/agencies"): "an agency's name",
    ("GET", "/v1/ledgers"): "units of account and the agency issuing each",
    ("GET", "/v1/admin/requests"): "admins' requests about officers' keys and ledgers",
    ("POST", "/v1/admin/requests"): "a request about an officer's key or a ledger",
    ("POST", "/v1/admin/requests/{request_id}/approve"): "an officer's key, shown once to the approving admin",
    ("POST", "/v1/admin/requests/{request_id}/refuse"): "a request closed",
    # Declarations say what data means: public law, never a person's data (issue 16).
    ("GET", "/v1/declarations"): "versions of the declarations: what data means, public law",
    ("GET", "/v1/declarations/{version}"): "one version's document and who made it",
    ("POST", "/v1/declarations"): "a DPO's proposed declarations document",
    ("POST", "/v1/declarations/{version}/approve"): "a DPO's approval",
    ("POST", "/v1/declarations/{version}/refuse"): "a DPO's refusal",
    # Pseudonymous money (DESIGN.md principle 5): a request shows a wallet or alias, never its holder (issue 18).
    ("GET", "/v1/payment-requests/{request_id}"): "a payee's wallet or alias, amount and what for; the id is the key",
    # Programmes (issue 19): definitions are public rules; a cycle's steps answer counts and totals, never a person.
    ("GET", "/v1/programs"): "programme definitions: public rules",
    ("GET", "/v1/programs/{programme_id}"): "one programme's definition",
    ("POST", "/v1/programs"): "a programme's definition, registered",
    ("POST", "/v1/programs/{programme_id}/cycles"): "a draft cycle: a programme and a date",
    ("POST", "/v1/programs/{programme_id}/cycles/{cycle_id}/approve"): "the cycle's counts and totals",
    ("POST", "/v1/programs/{programme_id}/cycles/{cycle_id}/close"): "the cycle's counts and totals",
    # Shops are businesses (issue 19): an outlet names its operator (a merchant or an organisation), not a person.
    ("GET", "/v1/outlets"): "shops and stations: operator, category, location, tills",
    ("GET", "/v1/outlets/{outlet_id}"): "one shop or station",
    ("GET", "/v1/outlets/{outlet_id}/authorisations"): "which programmes a shop redeems, and the officers who said so",
    ("GET", "/v1/programs/{programme_id}/products"): "what a programme buys is public",
    ("GET", "/v1/programs/{programme_id}/products/versions"): "who imported each product list, and when",
    ("GET", "/v1/programs/{programme_id}/products/versions/{version}"): "one product list as imported",
    ("POST", "/v1/outlets"): "a shop registered: operator, category, location, tills",
    ("POST", "/v1/outlets/{outlet_id}/authorisations"): "a shop authorised for a programme, with the reason",
    ("POST", "/v1/outlets/{outlet_id}/authorisations/{programme_id}/revoke"): "an authorisation ended",
    ("PUT", "/v1/programs/{programme_id}/products"): "a programme's product list, imported whole",
    ("GET", "/v1/programs/{programme_id}/grievances/stats"): "counts and times to resolution, no one's grievance",
    # Reconciliation (issue 19): sums per cycle and line; a shop's statement names redemptions, not people.
    ("GET", "/v1/programs/{programme_id}/reconciliation"): "totals per cycle and line: no person",
    ("GET", "/v1/programs/{programme_id}/cycles/{cycle_id}/reconciliation"): "one cycle's totals per line: no person",
    ("GET", "/v1/outlets/{outlet_id}/statement"): (
        "a shop's redemptions by id, amounts and times; each beneficiary only as the last 3 digits of their number"
    ),
}


@dataclass(frozen=True)
class Call:
    """One request a case makes, and the persons (by number) whose data it shows."""

    url: str
    numbers: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict)


def _person(policy: Policy, name: str, demographics: dict[str, str] | None = None) -> str:
    services = policy.world.services
    facts = demographics or {"name": name, "birth_date": "1975-05-05", "sex": "M"}
    return services.registry.create_person(facts, station=policy.world.principals["tax-officer"].id).number


def _enrolments(policy: Policy) -> list[Call]:
    """An applicant enrolled (their record shown) and a probable duplicate (the candidate's number and score)."""
    [made] = enrol(policy.world, applicant("walk-0001", who=7001)).json()["enrolments"]
    [case] = enrol(policy.world, applicant("walk-0002", who=7001, name="Other Name")).json()["enrolments"]
    assert made["state"] == "enrolled" and case["state"] == "review", case
    return [
        Call(f"/v1/identity/enrolments/{made['id']}", (made["number"],)),
        Call(f"/v1/identity/enrolments/{case['id']}", (made["number"],)),
    ]


def _adjudications(policy: Policy) -> list[Call]:
    [made] = enrol(policy.world, applicant("walk-0011", who=7011)).json()["enrolments"]
    [case] = enrol(policy.world, applicant("walk-0012", who=7011, name="Other Name")).json()["enrolments"]
    assert case["state"] == "review", case
    return [Call("/v1/identity/adjudications", (made["number"],))]


def _person_record(policy: Policy) -> list[Call]:
    return [Call(f"/v1/identity/persons/{policy.ada.number}", (policy.ada.number,))]


def _check(policy: Policy) -> list[Call]:
    policy.activate()
    return [Call("/v1/check", (policy.ada.number,), {"subject": policy.ada.number, "domain": "payments"})]


def _restrictions(policy: Policy) -> list[Call]:
    """A person's restrictions, and the proposals awaiting a decision (someone else's)."""
    policy.activate()
    assert policy.propose(subject=policy.ben.number)["http"] == 201
    return [
        Call("/v1/restrictions", (policy.ada.number,), {"subject": policy.ada.number}),
        Call("/v1/restrictions", (policy.ben.number,)),
    ]


def _restriction(policy: Policy) -> list[Call]:
    return [Call(f"/v1/restrictions/{policy.activate()}", (policy.ada.number,))]


def _appeals(policy: Policy) -> list[Call]:
    restriction_id = policy.activate()
    filed = policy.world.client.post(
        "/v1/me/appeals",
        json={"restriction_id": restriction_id, "grounds": "I paid in March"},
        headers=policy.world.as_("ada"),
    )
    assert filed.status_code == 201, filed.text
    return [Call("/v1/appeals", (policy.ada.number,))]


def _notice_appeals(policy: Policy) -> list[Call]:
    draft = NoticeDraft(
        subject=policy.ada.number,
        kind="score",
        basis_id="tax-act/12",
        reason_code="tax.late",
        reason_text="A return was filed late",
        reference="walk:1",
        expires_at_ns=time.time_ns() + 30 * DAY_NS,
    )
    [notice] = policy.world.services.notices.create_many([draft])
    filed = policy.world.client.post(
        f"/v1/me/notices/{notice.id}/appeal", json={"grounds": "filed on time"}, headers=policy.world.as_("ada")
    )
    assert filed.status_code == 201, filed.text
    return [Call("/v1/notice-appeals", (policy.ada.number,))]


def _sanctions_hits(policy: Policy) -> list[Call]:
    services = policy.world.services
    SanctionsLists(services.store).import_list(FTM, "ftm")
    services.sanctions_watch.refresh()  # otherwise seen within REFRESH_S
    number = _person(policy, "", LISTED)
    screenee = Screenee(number, (LISTED["name"],), LISTED["birth_date"])
    assert services.sanctions_watch.screen([screenee], "enrolment", "walk:hit")
    return [Call("/v1/sanctions/hits", (number,))]


def _household(policy: Policy) -> tuple[str, tuple[str, ...]]:
    """Ada heads a household with Ben; a neighbour, no member, may collect for it."""
    ada, ben, neighbour = policy.ada.number, policy.ben.number, _person(policy, "Chidi Obi")
    officer = policy.world.principals["tax-officer"].id
    home = policy.world.services.households.create_household(
        [ada, ben], head=ada, nominees=[neighbour], actor=officer, reason="registered at the desk"
    )
    return home.id, (ada, ben, neighbour)


def _households(policy: Policy) -> list[Call]:
    household_id, numbers = _household(policy)
    return [Call(f"/v1/identity/households/{household_id}", numbers)]


def _household_of_person(policy: Policy) -> list[Call]:
    _, numbers = _household(policy)
    return [Call(f"/v1/identity/persons/{numbers[1]}/household", numbers)]


def _cycle_results(policy: Policy) -> list[Call]:
    """A previewed cycle's results: every registered person listed, eligible or not."""
    services, world = policy.world.services, policy.world
    programme = services.programmes.check(programme_text())
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(programme_text(), programme, funding, registered_by=world.principals["admin"].id)
    cycle = services.cycles.create("adult_cash", CYCLE_DATE_NS, by=world.principals["tax-officer"])
    services.cycles.preview(cycle.id, by=world.principals["tax-officer"])
    return [Call(f"/v1/programs/adult_cash/cycles/{cycle.id}", (policy.ada.number, policy.ben.number))]


def _own_household(policy: Policy) -> tuple[str, tuple[str, ...]]:
    """Ben reads his household: Ada (its head) and the neighbour (a nominee) are shown."""
    _, (ada, _, neighbour) = _household(policy)
    return "ben", (ada, neighbour)


def _own_entitlements(policy: Policy) -> tuple[str, tuple[str, ...]]:
    """Ben reads the household's entitlement, paid to Ada: her number and balance are shown."""
    p = policy.world.principals
    family_paid(
        policy.world.services, head=policy.ada.number, member=policy.ben.number, issuer=ISSUER, admin=p["admin"].id,
        maker=p["tax-officer"].id, checker=p["tax-officer-2"].id, cycle_date_ns=time.time_ns() - DAY_NS,
    )  # fmt: skip
    return "ben", (policy.ada.number,)


# A citizen's own reads (scope own) that show others' data besides theirs: (who reads, whose data is shown).
# Each is logged for each of the others with the purpose the act carries; the caller's own look is not logged.
OWN_READS_OF_OTHERS: dict[tuple[str, str], Callable[[Policy], tuple[str, tuple[str, ...]]]] = {
    ("GET", "/v1/me/household"): _own_household,
    ("GET", "/v1/me/entitlements"): _own_entitlements,
}


def _grievances(policy: Policy) -> list[Call]:
    """Ada's grievance about the adult cash grant: in the officers' queue, and read alone."""
    services, world = policy.world.services, policy.world
    programme = services.programmes.check(programme_text())
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(programme_text(), programme, funding, registered_by=world.principals["admin"].id)
    ada = policy.ada
    made = services.grievances.file(ada.number, ada.principal_id, "adult_cash", "not_received", "it never came")
    return [Call("/v1/programs/grievances", (ada.number,)), Call(f"/v1/programs/grievances/{made.id}", (ada.number,))]


CASES: dict[tuple[str, str], Callable[[Policy], list[Call]]] = {
    ("GET", "/v1/identity/enrolments/{enrolment_id}"): _enrolments,
    ("GET", "/v1/identity/adjudications"): _adjudications,
    ("GET", "/v1/identity/persons/{number}"): _person_record,
    ("GET", "/v1/identity/households/{household_id}"): _households,
    ("GET", "/v1/identity/persons/{number}/household"): _household_of_person,
    ("GET", "/v1/check"): _check,
    ("GET", "/v1/restrictions"): _restrictions,
    ("GET", "/v1/restrictions/{restriction_id}"): _restriction,
    ("GET", "/v1/appeals"): _appeals,
    ("GET", "/v1/notice-appeals"): _notice_appeals,
    ("GET", "/v1/sanctions/hits"): _sanctions_hits,
    ("GET", "/v1/programs/{programme_id}/cycles/{cycle_id}"): _cycle_results,
    ("GET", "/v1/programs/grievances"): _grievances,
    ("GET", "/v1/programs/grievances/{grievance_id}"): _grievances,
}


def declared_routes(app: FastAPI) -> Iterator[tuple[str, str, Action]]:
    """(method, path, action) of every route of the app that declares an action."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        extra = route.openapi_extra or {}
        if ACTION_KEY in extra:
            for method in sorted(route.methods or ()):
                yield method, route.path, Action(extra[ACTION_KEY])


def app_of(world: World) -> FastAPI:
    app = world.client.app
    assert isinstance(app, FastAPI)
    return app


def purpose_scoped_reads(app: FastAPI) -> set[tuple[str, str]]:
    """Every GET whose action officers hold under the purpose scope: anyone's data, with a purpose, logged."""
    purpose = {g.action for g in POLICY if g.role is Role.officer and g.scope is Scope.purpose}
    return {(m, p) for m, p, action in declared_routes(app) if m == "GET" and action in purpose}


def elsewhere(route: tuple[str, str]) -> bool:
    return route[1].startswith(COVERED_ELSEWHERE_UNDER)


def test_the_walk_finds_the_routes(world: World) -> None:
    """A walk that found nothing would pass vacuously: it must see the routes it has cases for."""
    found = {(m, p) for m, p, _ in declared_routes(app_of(world))}
    assert set(CASES) | LEDGER_READS <= found


def test_every_purpose_scoped_read_has_a_case(world: World) -> None:
    """A new GET under the purpose scope fails here until a case shows its reads are logged."""
    reads = purpose_scoped_reads(app_of(world))
    assert {r for r in reads if not elsewhere(r)} == set(CASES)
    assert {r for r in reads if elsewhere(r)} == LEDGER_READS


def test_no_route_reaches_others_records_without_a_purpose_unless_it_shows_no_one(world: World) -> None:
    """A grant of scope any or agency shows no person's data, or it would need a purpose: each such route says why.

    Issue 15: an enrolment and the adjudication queue (names, birth dates, addresses,
    candidates' numbers and scores) were open to any officer under ``any``.
    """
    scopes = {(g.role, g.action): g.scope for g in POLICY}
    open_ = {
        (m, p)
        for m, p, action in declared_routes(app_of(world))
        for role in Role
        if scopes.get((role, action)) in (Scope.any, Scope.agency)
    }
    unexplained = {r for r in open_ if not elsewhere(r)} - set(NO_PERSONAL_DATA)
    assert not unexplained, "a route reaching others' records without a purpose: log it, or say why it shows no one"


@pytest.mark.parametrize("route", sorted(OWN_READS_OF_OTHERS), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_citizens_own_read_is_logged_for_the_others_it_shows(world: World, route: tuple[str, str]) -> None:
    """A member's look at the household (or its entitlements) is theirs to see, and logged for the others in it."""
    scopes = {(g.role, g.action): g.scope for g in POLICY}
    [action] = [a for m, p, a in declared_routes(app_of(world)) if (m, p) == route]
    assert scopes[Role.citizen, action] is Scope.own
    policy = policy_world(world)
    services = world.services
    reader, numbers = OWN_READS_OF_OTHERS[route](policy)
    response = world.client.get(route[1], headers=world.as_(reader))
    assert response.status_code == 200, response.text
    caller = world.principals[reader]
    for number in numbers:
        looks = [(e.principal, e.purpose) for _, e in services.access_log.entries_for_subject(
            services.subject_of_person(number), limit=1000)]  # fmt: skip
        assert (caller.id, OWN_HOUSEHOLD_PURPOSE) in looks, (route, number, looks)
        assert number in response.text
    own = services.access_log.entries_for_subject(caller.subject, limit=1000)
    assert not [e for _, e in own if e.principal == caller.id], "a person's look at their own data is not logged"


@pytest.mark.parametrize("route", sorted(CASES), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_read_by_an_officer_is_logged_for_each_person_shown(world: World, route: tuple[str, str]) -> None:
    """With a purpose: an entry with that purpose for each person. Without: 403, and the refusal logged for them."""
    policy = policy_world(world)
    services = world.services
    reader = world.principals[READER].id
    for call in CASES[route](policy):
        subjects = [services.subject_of_person(n) for n in call.numbers]
        for purpose in (None, PURPOSE):
            before = {s: services.access_log.entries_for_subject(s, limit=1000) for s in subjects}
            response = world.client.get(call.url, params=call.params, headers=world.as_(READER, purpose))
            for subject in subjects:
                seen = {i for i, _ in before[subject]}
                new = [e for i, e in services.access_log.entries_for_subject(subject, limit=1000) if i not in seen]
                looks = [(e.principal, e.purpose, e.outcome.split(":")[0]) for e in new]
                if purpose is None:
                    assert response.status_code == 403 and response.json()["code"] == "purpose_required", call
                    assert (reader, NO_PURPOSE, "denied") in looks, (call, looks)
                else:
                    assert response.status_code == 200, (call, response.text)
                    assert [p for p, s, _ in looks if (p, s) == (reader, PURPOSE)], (call, looks)
            if purpose is not None:
                assert all(n in response.text for n in call.numbers), (call, response.text)
