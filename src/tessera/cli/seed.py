"""``tessera serve --demo``: people, officers, wallets and payments, so a newcomer can follow a story at once.

Alice and Bob are registered persons, enrolled at the registrar's desk like anyone, each
with a wallet; the other personas are the officers, the shop, the auditor and the admins
they meet. ``tessera.cli.programmes_demo`` pays Alice's household three programmes and opens two
shops; ``tessera.cli.story`` then has the officers do their work over the API (so the people's
access logs and notices are real), and ``tessera.cli.banner`` says who is who.

A key for a person exists only here: outside the demo people log in with a passkey and a
PIN, and the store refuses to mint a key for a principal that speaks for a person
(``Store.add_api_key``). The demo therefore seeds only a new data directory or one an
earlier ``--demo`` made, and finds its people again by the request ids of their enrolments.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass, field

from tessera.auth import Principal, Role, new_key
from tessera.cli.programmes_demo import register_agencies, seed_programmes
from tessera.errors import ConflictError
from tessera.identity import Enrolment, Person, Submission
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.money import AccountKind, check_opening, ledger_unit
from tessera.service import Services
from tessera.testing import synthetic_enrolments

MONEY = 1  # the currency's ledger number, in cents
FOOD = 5411  # merchant category: grocery stores
ISSUER, ALICE, BOB, GROCER = 1, 2, 3, 4
DEMO_SEED = 2026
DEMO_APPLICANTS = 40
GROCER_ALIAS = "corner-grocer"  # the grocer's published payment address: payers learn the wallet, not who holds it
BANKER = "central-bank"  # the central bank's officer: its key needs two admins, as any issuer's does
CURRENCY = ledger_unit(MONEY, "currency", "XTS", 2, "central-bank")  # XTS: ISO 4217's code for testing


@dataclass(frozen=True, slots=True)
class Persona:
    """Someone the demo makes: a principal's name (or a person's), role, agency, and what they do in the story."""

    name: str
    role: Role
    agency: str
    does: str
    display_name: str = ""  # what people reading their access log are shown (an officer's published name)


@dataclass(frozen=True, slots=True)
class DemoPerson:
    """A demo citizen: the person the registrar enrolled and the wallet they hold."""

    request_id: str  # of their enrolment: how a restart finds them again
    demographics: dict[str, object]
    wallet: int


PERSONAS = (
    Persona("alice", Role.citizen, "", "a late loan repayment lowered her credit score: a notice to appeal"),
    Persona("bob", Role.citizen, "", "his wallet is a food subsidy: it pays food shops only"),
    Persona("grocer", Role.merchant, "", "a food shop"),
    Persona(
        "registrar", Role.officer, "civil-registry", "enrols people; 40 applicants came to this desk", "Registrar 7"
    ),
    Persona(
        "adjudicator",
        Role.officer,
        "civil-registry",
        "decides the probable duplicates the registrar's desk met",
        "Adjudicator 2",
    ),
    Persona(
        "bureau",
        Role.officer,
        "credit-bureau",
        "reports loan repayments, which the credit rules score",
        "Reporting desk",
    ),
    Persona("auditor", Role.auditor, "", "checks the access log's signed tree heads, never its content"),
    Persona("admin", Role.admin, "", "with admin-2, approves a new ledger or an issuer's officer"),
    Persona("admin-2", Role.admin, "", "the second admin of every two-admin act"),
    Persona(BANKER, Role.officer, "central-bank", "issues XTS; its key took two admins"),
    Persona(
        "assessor",
        Role.officer,
        "social-security",
        "assessed Alice's income, which the means-tested programmes read",
        "Income assessment desk",
    ),
    Persona(
        "welfare",
        Role.officer,
        "social-welfare",
        "previewed and disbursed this month's food, rice and fuel cycles; authorised the shops",
        "Programme officer 3",
    ),
    Persona(
        "welfare-2", Role.officer, "social-welfare", "approved the cycles welfare previewed", "Programme officer 5"
    ),
    Persona("station", Role.merchant, "", "a fuel station, its till on the currency and the fuel quota"),
)
PEOPLE = {
    "alice": DemoPerson(
        "demo-alice",
        {"name": "Alice Okafor", "birth_date": "1991-04-12", "sex": "F", "address": "12 Market Road, Kisumu"},
        ALICE,
    ),
    "bob": DemoPerson(
        "demo-bob",
        {"name": "Bob Mensah", "birth_date": "1984-09-30", "sex": "M", "address": "4 Station Street, Dakar"},
        BOB,
    ),
}


@dataclass(frozen=True, slots=True)
class DemoKey:
    """A persona's API key as the banner prints it."""

    name: str
    role: str
    principal_id: str
    token: str
    about: str = ""  # who they are: for a person their name, number and wallet; for the rest their job


@dataclass(frozen=True, slots=True)
class Demo:
    """What a demo start made: each persona's new key, the people's numbers, and the notice Alice may appeal."""

    keys: tuple[DemoKey, ...]
    numbers: dict[str, str]  # persona name -> Tessera number, for alice and bob
    first_start: bool  # this start seeded the data directory (the story's one-time steps run)
    payment_key: str  # the Idempotency-Key of the banner's payment: new on every start, so each start's line pays once
    notice_id: str = ""  # set by tessera.cli.story
    outlets: dict[str, str] = field(default_factory=dict)  # operator persona -> outlet id (tessera.cli.programmes_demo)
    redemption_key: str = ""  # the Idempotency-Key of the banner's redemption: new on every start, as payment_key
    day: str = ""  # the UTC day of this start, YYYY-MM-DD: the banner's statement is of it

    def key(self, name: str) -> str:
        """The token a persona's key is."""
        return next(k.token for k in self.keys if k.name == name)


def issue_key(services: Services, principal: Principal, *, for_person: bool = False) -> str:
    """A new API key for ``principal``; ``for_person`` for a demo person's (``Store.add_api_key`` refuses it else)."""
    key = new_key()
    services.store.add_api_key(key.key_id, principal.id, key.secret_hash, time.time_ns(), for_person=for_person)
    return key.token


def demo_principals(services: Services) -> dict[str, Principal]:
    """The personas already made: officers and others by principal name, the people through their enrolments."""
    store, found = services.store, {}
    for persona in PERSONAS:
        if persona.role is not Role.citizen:
            principal = store.get_principal_by_name(persona.name)
            if principal is not None:
                found[persona.name] = principal
    for name, person in _people(services).items():
        found[name] = _principal(services, person.principal_id)
    return found


def revoke_demo_keys(services: Services) -> int:
    """Revoke every active key the demo personas hold, so that a restart replaces them; how many went."""
    store, at_ns, revoked = services.store, time.time_ns(), 0
    for principal in demo_principals(services).values():
        for key in store.list_api_keys(principal.id):
            if key.revoked_at_ns is None:
                store.revoke_api_key(key.key_id, at_ns)
                revoked += 1
    return revoked


def seed_demo(services: Services) -> Demo:
    """Make the personas, people and money once; on every start, revoke their old keys and hand out new ones."""
    first_start = _check_demo_directory(services)
    store = services.store
    revoke_demo_keys(services)  # a restart replaces the printed keys rather than piling more up
    principals = demo_principals(services)
    register_agencies(services, by="tessera serve --demo")
    for persona in PERSONAS:
        if persona.name not in principals and persona.role is not Role.citizen and persona.name != BANKER:
            principals[persona.name] = store.create_principal(
                persona.name, persona.role, agency=persona.agency, display_name=persona.display_name
            )
    requests, admins = services.admin_requests, (principals["admin"], principals["admin-2"])
    if services.ledger_units.get(MONEY) is None:  # two admins register the currency and its issuer
        requests.approve(requests.request_ledger(admins[0], CURRENCY).id, admins[1])
    banker = requests.approve(requests.request_officer_key(admins[0], BANKER, "central-bank").id, admins[1])
    assert banker.token is not None and banker.request.outcome is not None, "the approval made it"
    banker_principal = store.get_principal(banker.request.outcome["principal"])
    assert banker_principal is not None
    principals[BANKER] = banker_principal
    people = _enrol_people(services, principals["registrar"])
    for name, person in people.items():
        principals[name] = _principal(services, person.principal_id)
    _open_wallets(services, principals)
    enrol_demo_applicants(services, principals["registrar"])
    shops = seed_programmes(services, principals, {name: p.number for name, p in people.items()})
    keys = []
    for persona in PERSONAS:
        principal = principals[persona.name]
        if persona.name == BANKER:
            token = banker.token
        else:
            token = issue_key(services, principal, for_person=persona.role is Role.citizen)
        keys.append(DemoKey(persona.name, persona.role.value, principal.id, token, _about(services, persona, people)))
    return Demo(
        tuple(keys),
        {name: p.number for name, p in people.items()},
        first_start,
        f"pay-{secrets.token_hex(8)}",
        outlets=shops.outlets,
        redemption_key=f"redeem-{secrets.token_hex(8)}",
        day=dt.datetime.now(dt.UTC).date().isoformat(),
    )


def _check_demo_directory(services: Services) -> bool:
    """Whether this data directory is new; refuse one that holds people an earlier ``--demo`` did not enrol."""
    if services.registry.count() == 0:
        return True
    if not _people(services):
        raise ConflictError(
            "data",
            f"this data directory holds {services.registry.count()} registered persons and not the demo's: "
            "--demo seeds a new directory or one an earlier --demo made; pass --data with another directory",
        )
    return False


def _people(services: Services) -> dict[str, Person]:
    """The demo's people enrolled so far, by persona name (an enrolment that made them a person)."""
    made = services.enrolments.of_requests([p.request_id for p in PEOPLE.values()])
    found = {}
    for name, person in PEOPLE.items():
        enrolment = made.get(person.request_id)
        if enrolment is not None and enrolment.state == "enrolled" and enrolment.number is not None:
            found[name] = services.registry.person(enrolment.number)
    return found


def _principal(services: Services, principal_id: str) -> Principal:
    principal = services.store.get_principal(principal_id)
    assert principal is not None, "a person is made with their principal"
    return principal


def _enrol_people(services: Services, registrar: Principal) -> dict[str, Person]:
    """Alice and Bob, enrolled at the registrar's desk as anyone is (their own synthetic faces and fingers)."""
    found = _people(services)
    missing = [name for name in PEOPLE if name not in found]
    if missing:
        captures = synthetic_enrolments(DEMO_SEED + 1, len(PEOPLE), duplicate_share=0.0, fingers=2)
        submissions = {
            name: Submission(person.request_id, person.demographics, c.templates.face, list(c.templates.fingers))
            for (name, person), c in zip(PEOPLE.items(), captures, strict=True)
        }
        made = services.enrolments.submit_many(
            [submissions[name] for name in missing], station=registrar, purpose="enrolment at the registrar's desk"
        )
        assert all(e.state == "enrolled" for e in made), "the demo's people are nobody else"
        found = _people(services)
    return found


def _open_wallets(services: Services, principals: dict[str, Principal]) -> None:
    """The central bank's issuance account, Alice's and Bob's wallets and the grocer's account, funded once."""
    if services.ledger.lookup_accounts([ISSUER]):
        return
    wallet = AccountFlags.debits_must_not_exceed_credits
    accounts = [
        (Account(ISSUER, MONEY, AccountKind.issuance, AccountFlags.credits_must_not_exceed_debits), BANKER),
        (Account(ALICE, MONEY, AccountKind.wallet, flags=wallet), "alice"),
        (Account(BOB, MONEY, AccountKind.wallet, flags=wallet, allowed_categories=frozenset({FOOD})), "bob"),
        (Account(GROCER, MONEY, AccountKind.merchant, flags=wallet, category=FOOD), "grocer"),
    ]
    for i, (account, holder) in enumerate(accounts):  # the demo keeps the opening table like anyone
        opener = principals[BANKER] if holder == BANKER else principals["registrar"]
        check_opening(f"accounts[{i}]", opener, principals[holder], account, CURRENCY)
    services.store.set_account_holders([(a.id, principals[holder].id) for a, holder in accounts])
    services.ledger.create_accounts([a for a, _ in accounts])
    services.ledger.create_transfers(
        [
            Transfer(1, ISSUER, ALICE, 10_000, MONEY, code=1),
            Transfer(2, ISSUER, BOB, 5_000, MONEY, code=1),
            Transfer(3, BOB, GROCER, 1_250, MONEY, code=2),
        ]
    )
    services.aliases.publish(GROCER_ALIAS, GROCER, principals["grocer"].id)


def enrol_demo_applicants(services: Services, registrar: Principal) -> list[Enrolment]:
    """Synthetic applicants, a few of them coming back under another name: the queue has cases at once."""
    people = list(synthetic_enrolments(DEMO_SEED, DEMO_APPLICANTS, duplicate_share=0.15, fingers=2))
    if services.enrolments.of_requests([people[0].request_id]):
        return []
    return services.enrolments.submit_many([p.submission() for p in people], station=registrar)


def _about(services: Services, persona: Persona, people: dict[str, Person]) -> str:
    """One line on who a persona is; for a person their name, number and wallet as it stands."""
    if persona.name in people:
        person, wallet = people[persona.name], PEOPLE[persona.name].wallet
        return f"{person.name}, person {person.number}, wallet {wallet} ({_balance(services, wallet)}); {persona.does}"
    if persona.name == "grocer":
        return f"{persona.does}, account {GROCER} ({_balance(services, GROCER)}), paid at the address {GROCER_ALIAS}"
    return f"{persona.agency + ': ' if persona.agency else ''}{persona.does}"


def _balance(services: Services, account_id: int) -> str:
    found = services.ledger.lookup_accounts([account_id])
    cents = found[0].balance if found else 0
    return f"{cents // 100}.{cents % 100:02d} XTS"
