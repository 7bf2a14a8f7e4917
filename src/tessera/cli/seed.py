"""``tessera serve --demo``: a few principals, wallets and payments so a newcomer sees something at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tessera.api.services import Services
from tessera.auth import Principal, Role, new_key
from tessera.identity import Enrolment
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.testing import synthetic_enrolments

MONEY = 1  # the currency's ledger number, in cents
FOOD = 5411  # merchant category: grocery stores
ISSUER, ALICE, BOB, GROCER = 1, 2, 3, 4
DEMO_SEED = 2026
DEMO_APPLICANTS = 40
DEMO_PRINCIPALS = (
    ("central-bank", Role.officer, "central-bank"),
    ("registrar", Role.officer, "civil-registry"),
    ("alice", Role.citizen, ""),
    ("bob", Role.citizen, ""),
    ("grocer", Role.merchant, ""),
    ("auditor", Role.auditor, ""),
    ("admin", Role.admin, ""),
)


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


def seed_demo(services: Services) -> list[DemoKey]:
    """Create the demo principals and money once; hand out a fresh key for each on every start."""
    store = services.store
    principals = {}
    for name, role, agency in DEMO_PRINCIPALS:
        found = store.get_principal_by_name(name)
        principals[name] = found or store.create_principal(name, role, agency=agency)
    if not services.ledger.lookup_accounts([ISSUER]):
        wallet = AccountFlags.debits_must_not_exceed_credits
        accounts = [
            (Account(ISSUER, MONEY, code=1), "central-bank"),
            (Account(ALICE, MONEY, code=2, flags=wallet), "alice"),
            (Account(BOB, MONEY, code=2, flags=wallet, allowed_categories=frozenset({FOOD})), "bob"),
            (Account(GROCER, MONEY, code=3, flags=wallet, category=FOOD), "grocer"),
        ]
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
    return [DemoKey(p.name, p.role.value, p.id, issue_key(services, p)) for p in principals.values()]


def enrol_demo_people(services: Services, registrar: Principal) -> list[Enrolment]:
    """Synthetic applicants, a few of them coming back under another name: the queue has cases at once."""
    people = synthetic_enrolments(DEMO_SEED, DEMO_APPLICANTS, duplicate_share=0.15, fingers=2)
    return services.enrolments.submit_many([p.submission() for p in people], station=registrar)
