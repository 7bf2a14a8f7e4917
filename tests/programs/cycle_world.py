"""A service with persons, two officers, an admin, a currency and a funded programme, for the cycles' tests."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from tessera.auth import Principal, Role
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Transfer
from tessera.limits import BATCH_SIZE_MAX
from tessera.money import AccountKind, ledger_unit
from tessera.programs import RegisteredProgramme, funding_accounts
from tessera.service import Services
from tessera.store import persons
from tessera.testing import seed_persons
from tests.api.world import settings_for

MONEY = 1
RICE = 2  # a quota ledger, in grams (kg with 3 decimals), issued by the food ministry
RESERVE = 900_001  # the central bank's issuance account
CYCLE_DATE_NS = 1_798_761_600 * 10**9  # 2027-01-01

PROGRAMME = """
[[programme]]
id = "{id}"
name = "Adult cash grant"
basis = "social-protection-act/food"
unit = "person"
kind = "cash"
currency = "currency"
eligibility = "person.age >= 18 && person.age < {upper}"
schedule = "monthly"
valid_for = "60d"
over_budget = "{over_budget}"
merchant_categories = [5411, 5499]

[programme.cash]
amount = "5000 + 10 * person.age"
budget = {budget}
"""

RATION = """
[[programme]]
id = "{id}"
name = "Rice ration"
basis = "social-protection-act/food"
unit = "person"
kind = "in_kind"
eligibility = "person.age >= 18 && person.age < {upper}"
schedule = "monthly"
valid_for = "60d"
over_budget = "refuse"
merchant_categories = [5411]

[[programme.quota]]
commodity = "rice"
ledger = "rice-quota"
amount = "5000"
budget = 1000000000
"""


@dataclass
class World:
    """The open service and who acts in it."""

    services: Services
    maker: Principal  # an officer who creates and previews cycles
    checker: Principal  # another officer, who approves them
    admin: Principal
    numbers: list[str]


def open_world(path: Path, *, persons: int = 60, sync: bool = False, batch_size: int = BATCH_SIZE_MAX) -> World:
    """The service over ``path``; made on first start (persons, officers, the currency), reopened after."""
    services = Services(settings_for(path, ledger_sync=sync, disbursement_batch_size=batch_size))
    store = services.store
    maker = store.get_principal_by_name("maker")
    if maker is None:
        services.agencies.register("social-welfare", "Social welfare", by="test")
        maker = store.create_principal("maker", Role.officer, agency="social-welfare")
        store.create_principal("checker", Role.officer, agency="social-welfare")
        store.create_principal("admin", Role.admin)
        bank = store.create_principal("bank", Role.officer, agency="central-bank")
        unit = ledger_unit(MONEY, "currency", "XTS", 2, "central-bank")
        services.ledger_units.register(unit, requested_by="admin 1", approved_by="admin 2")
        store.set_account_holders([(RESERVE, bank.id)])
        reserve = Account(RESERVE, MONEY, AccountKind.issuance, AccountFlags.credits_must_not_exceed_debits)
        services.ledger.create_accounts([reserve])
        seed_persons(store, 7, persons)
    checker, admin = store.get_principal_by_name("checker"), store.get_principal_by_name("admin")
    assert checker is not None and admin is not None
    numbers = [n for (n,) in _numbers(services)]
    return World(services, maker, checker, admin, numbers)


def _numbers(services: Services) -> list[tuple[str]]:
    with services.store.transaction() as conn:
        return [tuple(r) for r in conn.execute(select(persons.c.number).order_by(persons.c.number))]  # type: ignore[misc]


def programme_text(
    programme_id: str = "adult_cash", *, upper: int = 200, budget: int = 10**15, over_budget: str = "refuse"
) -> str:
    """The test programme's TOML: adults under ``upper`` get 50.00 and 0.10 a year of age."""
    return PROGRAMME.format(id=programme_id, upper=upper, budget=budget, over_budget=over_budget)


def register(world: World, text: str, *, fund: int = 10**12) -> RegisteredProgramme:
    """Register ``text``, its programme account opened, and fund that account with ``fund`` from the reserve."""
    services = world.services
    programme = services.programmes.check(text)
    funding = funding_accounts(programme, {}, services.ledger)
    registered = services.programmes.register(text, programme, funding, registered_by=world.admin.id)
    if fund:
        issue_id = 10**12 + zlib.crc32(programme.id.encode())
        issue = Transfer(issue_id, RESERVE, funding[MONEY], fund, ledger=MONEY, code=1)
        services.ledger.create_transfers([issue])
    return registered


def ration_text(programme_id: str = "rice_ration", *, upper: int = 200) -> str:
    """An in-kind programme: 5 kg of rice a cycle to adults under ``upper``, on the quota ledger ``RICE``."""
    return RATION.format(id=programme_id, upper=upper)


def register_ration(world: World, text: str | None = None, *, fund: int = 10**12) -> RegisteredProgramme:
    """Register the rice ledger (once) and ``text``; its programme account funded with ``fund`` grams."""
    services = world.services
    if not any(u.id == RICE for u in services.ledger_units.all()):
        services.agencies.register("food-ministry", "Food ministry", by="test")
        unit = ledger_unit(RICE, "rice-quota", "kg", 3, "food-ministry", category="benefit")
        services.ledger_units.register(unit, requested_by="admin 1", approved_by="admin 2")
        store = services.store
        issuer = store.create_principal("food", Role.officer, agency="food-ministry")
        store.set_account_holders([(RESERVE + RICE, issuer.id)])
        stock = Account(RESERVE + RICE, RICE, AccountKind.issuance, AccountFlags.credits_must_not_exceed_debits)
        services.ledger.create_accounts([stock])
    text = text or ration_text()
    programme = services.programmes.check(text)
    funding = funding_accounts(programme, {}, services.ledger)
    registered = services.programmes.register(text, programme, funding, registered_by=world.admin.id)
    if fund:
        issue_id = 2 * 10**12 + zlib.crc32(programme.id.encode())
        issue = Transfer(issue_id, RESERVE + RICE, funding[RICE], fund, ledger=RICE, code=1)
        assert services.ledger.create_transfers([issue]).statuses[0] in (
            CreateTransferStatus.ok,
            CreateTransferStatus.exists,
        )
    return registered
