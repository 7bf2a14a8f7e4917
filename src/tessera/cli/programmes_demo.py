"""The demo's programmes: food cash, a rice ration and a fuel quota paid to Alice's household, and two shops.

``tessera.cli.seed`` calls ``seed_programmes`` once the people and the currency exist. It
registers the rice and fuel quota ledgers (two admins, as any ledger) with their ministries'
reserves, the three programmes of ``builtin/example_programmes.toml`` funded, Alice's
household (Alice its head, Bob a member) and her assessed income, one cycle of each
programme (previewed by one welfare officer, approved by the other, disbursed), a grocery and
a fuel station with their tills, authorised, and Alice's PIN. Every step looks first at what
an earlier start made, so a restart makes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from tessera.auth import Principal, Role
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.money import AccountKind, LedgerUnit, ledger_unit
from tessera.programs import EXAMPLE_PROGRAMMES, CycleStatus, builtin_programmes_path, funding_accounts
from tessera.service import Services

RICE, FUEL = 2, 3  # the ledger numbers of builtin/example_ledgers.json
GROCERY_MCC, FUEL_MCC = 5411, 5541
DEMO_PIN = "482913"  # Alice's PIN: the banner prints it, since a demo's till has nobody to type it
ASSESSED_INCOME = 1_800_000  # 18,000.00 XTS a month: under both means tests
QUOTA_UNITS = (
    ledger_unit(RICE, "rice-quota", "kg", 3, "food-ministry", category="benefit"),
    ledger_unit(FUEL, "fuel-quota", "litre", 1, "energy-ministry", category="benefit"),
)
RESERVES = {RICE: 20, FUEL: 30}  # the ministries' issuance accounts
FUNDING = {"food_cash": 100_000_000, "rice_ration": 1_000_000_000, "fuel_quota": 10_000_000}  # a cycle's worth, ample
FUNDING_TRANSFER = 10**12  # + the line's ledger: the transfer that funds a programme (its id makes a retry a no-op)
PROGRAMME_IDS = ("food_cash", "rice_ration", "fuel_quota")
SHOPS = (  # operator persona, name, category, account ids by ledger, programmes it takes
    ("grocer", "Corner grocery", GROCERY_MCC, {1: 4, RICE: 40}, ("food_cash", "rice_ration")),
    ("station", "Highway fuel", FUEL_MCC, {1: 50, FUEL: 51}, ("fuel_quota",)),
)
LOCATION = "KE-042-0007"  # Kisumu, where Alice lives
AGENCIES = (  # the demo's agencies that no data directory starts with
    ("social-welfare", "Social Welfare Department"),
    ("food-ministry", "Ministry of Food"),
    ("energy-ministry", "Ministry of Energy"),
)


@dataclass(frozen=True, slots=True)
class Shops:
    """The shops' outlet ids, by operator persona (``grocer``, ``station``)."""

    outlets: dict[str, str]


def register_agencies(services: Services, by: str) -> None:
    """The welfare department (its officers are personas) and the ministries that issue the quotas."""
    for agency_id, title in AGENCIES:
        if services.agencies.get(agency_id) is None:
            services.agencies.register(agency_id, title, by=by)


def seed_programmes(services: Services, principals: dict[str, Principal], numbers: dict[str, str]) -> Shops:
    """Make what the module docstring says, skipping what exists; the shops' outlet ids."""
    admins = (principals["admin"], principals["admin-2"])
    for unit in QUOTA_UNITS:
        _quota_ledger(services, unit, admins)
    for programme_id, text in _programme_texts().items():
        _programme(services, programme_id, text, principals["admin"])
    alice, bob = numbers["alice"], numbers["bob"]
    if services.households.household_of(alice) is None:
        services.households.create_household(
            [alice, bob], head=alice, actor=principals["registrar"].id, reason="registered together at the desk"
        )
    event = {"id": "demo-income-alice", "subject": alice, "at_ns": time.time_ns()}
    event["fields"] = {"monthly_income": ASSESSED_INCOME}
    services.event_intake.submit(principals["assessor"], "income.assessed", [event])  # a rerun: a duplicate
    for programme_id in PROGRAMME_IDS:
        _one_cycle(services, programme_id, principals["welfare"], principals["welfare-2"])
    outlets = {}
    for persona, name, category, accounts, programmes in SHOPS:
        outlet_id = _shop(services, principals[persona], principals["welfare"], (name, category), accounts)
        for programme_id in programmes:
            if services.outlets.authorised(outlet_id, programme_id) is None:
                services.outlets.authorise(outlet_id, programme_id, principals["welfare"], "inspected and licensed")
        outlets[persona] = outlet_id
    if not services.pins.has_pin(alice):
        services.pins.set_pin(alice, DEMO_PIN)
    return Shops(outlets)


def _quota_ledger(services: Services, unit: LedgerUnit, admins: tuple[Principal, Principal]) -> None:
    """A quota ledger registered by two admins, and its ministry's officer holding its reserve."""
    if services.ledger_units.get(unit.id) is None:
        requests = services.admin_requests
        requests.approve(requests.request_ledger(admins[0], unit).id, admins[1])
    reserve = RESERVES[unit.id]
    if services.ledger.lookup_accounts([reserve]):
        return
    store = services.store
    officer = store.get_principal_by_name(unit.issuer) or store.create_principal(
        unit.issuer, Role.officer, agency=unit.issuer, display_name=f"{unit.unit} quota desk"
    )
    store.set_account_holders([(reserve, officer.id)])
    flags = AccountFlags.credits_must_not_exceed_debits
    services.ledger.create_accounts([Account(reserve, unit.id, AccountKind.issuance, flags)])


def _programme_texts() -> dict[str, str]:
    """Each programme of the example file as its own text (registering takes one ``[[programme]]`` table)."""
    text = builtin_programmes_path(EXAMPLE_PROGRAMMES).read_text()
    tables = ["[[programme]]\n" + t for t in text.split("[[programme]]\n")[1:]]
    return {t.split('id = "', 1)[1].split('"', 1)[0]: t for t in tables}


def _programme(services: Services, programme_id: str, text: str, admin: Principal) -> None:
    """Register the programme, its accounts opened, and fund each line from its issuer's reserve."""
    if services.programmes.known(programme_id) is not None:
        return
    programme = services.programmes.check(text)
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(text, programme, funding, registered_by=admin.id)
    reserves = {1: 1, **RESERVES}  # the currency's is the central bank's issuance account
    services.ledger.create_transfers(
        [
            Transfer(FUNDING_TRANSFER + 10 * ledger_id + PROGRAMME_IDS.index(programme_id), reserves[ledger_id],
                     account, FUNDING[programme_id], ledger=ledger_id, code=1)
            for ledger_id, account in funding.items()
        ]
    )  # fmt: skip


def _one_cycle(services: Services, programme_id: str, maker: Principal, checker: Principal) -> None:
    """This month's cycle, dated today: previewed by ``maker``, approved by ``checker``, disbursed."""
    cycles = services.cycles
    made = cycles.of_programme(programme_id)
    if made and made[0].status in (CycleStatus.disbursed, CycleStatus.closed):
        return
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    cycle = made[0] if made else cycles.create(programme_id, int(today.timestamp()) * 10**9, by=maker)
    if cycle.status in (CycleStatus.draft, CycleStatus.previewed):
        cycles.preview(cycle.id, by=maker)
        cycles.approve(cycle.id, by=checker)
    cycles.disburse(cycle.id, by=maker)  # again after a crash mid-way: it finishes


def _shop(
    services: Services, operator: Principal, officer: Principal, shop: tuple[str, int], accounts: dict[int, int]
) -> str:
    """The operator's outlet, registered by ``officer``, a till on each ledger it takes (the grocer's: its account)."""
    name, category = shop
    found = services.outlets.operated_by(operator)
    if found:
        return found[0].id
    new = [a for a in accounts.values() if not services.ledger.lookup_accounts([a])]
    services.store.set_account_holders([(a, operator.id) for a in new])
    services.ledger.create_accounts(
        [
            Account(a, ledger_id, AccountKind.merchant, category=category)
            for ledger_id, a in accounts.items()
            if a in new
        ]
    )
    outlet = services.outlets.register(
        officer.id, name=name, operator=operator.id, category=category, location=LOCATION,
        accounts=list(accounts.values()),
    )  # fmt: skip
    return outlet.id
