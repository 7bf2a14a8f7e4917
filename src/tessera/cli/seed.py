"""``tessera serve --demo``: a few principals, wallets and payments so a newcomer sees something at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tessera.auth import Principal, Role, new_key
from tessera.identity import Enrolment
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.money import AccountKind, check_opening, ledger_unit
from tessera.service import Services
from tessera.testing import synthetic_enrolments

MONEY = 1  # the currency's ledger number, in cents
FOOD = 5411  # merchant category: grocery stores
ISSUER, ALICE, BOB, GROCER = 1, 2, 3, 4
DEMO_SEED = 2026
DEMO_APPLICANTS = 40
DEMO_PRINCIPALS = (
    ("registrar", Role.officer, "civil-registry"),
    ("alice", Role.citizen, ""),
    ("bob", Role.citizen, ""),
    ("grocer", Role.merchant, ""),
    ("auditor", Role.auditor, ""),
    ("admin", Role.admin, ""),
    ("admin-2", Role.admin, ""),
)
BANKER = "central-bank"  # the central bank's officer: its key needs two admins, as any issuer's does
CURRENCY = ledger_unit(MONEY, "currency", "XTS", 2, "central-bank")  # XTS: ISO 4217's code for testing


@dataclass(frozen=True, slots=True)
class DemoKey:
    name: str
    role: str
    principal_id: str
    token: str


def issue_key(services: Services, principal: Principal) -> str:
    key = new_key()
    services.store.add_api_key(key.key_id, principal.id, key.secret_hash, time.time_ns())
    return key.token


def revoke_demo_keys(services: Services) -> int:
    """Revoke every active key the demo principals hold, so that a restart replaces them; how many went."""
    store, at_ns, revoked = services.store, time.time_ns(), 0
    for name in (*(n for n, _, _ in DEMO_PRINCIPALS), BANKER):
        principal = store.get_principal_by_name(name)
        if principal is None:
            continue
        for key in store.list_api_keys(principal.id):
            if key.revoked_at_ns is None:
                store.revoke_api_key(key.key_id, at_ns)
                revoked += 1
    return revoked


def seed_demo(services: Services) -> list[DemoKey]:
    """Create the demo principals and money once; on every start, revoke their old keys and hand out new ones."""
    store = services.store
    revoke_demo_keys(services)  # a restart replaces the printed keys rather than piling more up
    principals = {}
    for name, role, agency in DEMO_PRINCIPALS:
        found = store.get_principal_by_name(name)
        principals[name] = found or store.create_principal(name, role, agency=agency)
    requests, admins = services.admin_requests, (principals["admin"], principals["admin-2"])
    if services.ledger_units.get(MONEY) is None:  # two admins register the currency and its issuer
        requests.approve(requests.request_ledger(admins[0], CURRENCY).id, admins[1])
    banker = requests.approve(requests.request_officer_key(admins[0], BANKER, "central-bank").id, admins[1])
    banker_principal = store.get_principal_by_name(BANKER)
    assert banker_principal is not None, "the approval made it"
    principals[BANKER] = banker_principal
    if not services.ledger.lookup_accounts([ISSUER]):
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
        store.set_account_holders([(a.id, principals[holder].id) for a, holder in accounts])
        services.ledger.create_accounts([a for a, _ in accounts])
        services.ledger.create_transfers(
            [
                Transfer(1, ISSUER, ALICE, 10_000, MONEY, code=1),
                Transfer(2, ISSUER, BOB, 5_000, MONEY, code=1),
                Transfer(3, BOB, GROCER, 1_250, MONEY, code=2),
            ]
        )
    if services.registry.count() == 0:
        enrol_demo_people(services, principals["registrar"])
    keys = [DemoKey(p.name, p.role.value, p.id, issue_key(services, p)) for n, p in principals.items() if n != BANKER]
    assert banker.token is not None
    return [DemoKey(BANKER, Role.officer.value, principals[BANKER].id, banker.token), *keys]


def enrol_demo_people(services: Services, registrar: Principal) -> list[Enrolment]:
    """Synthetic applicants, a few of them coming back under another name: the queue has cases at once."""
    people = synthetic_enrolments(DEMO_SEED, DEMO_APPLICANTS, duplicate_share=0.15, fingers=2)
    return services.enrolments.submit_many([p.submission() for p in people], station=registrar)
