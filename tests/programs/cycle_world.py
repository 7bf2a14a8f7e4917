"""A service with persons, two officers, an admin, a currency and a funded programme, for the cycles' tests."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from tessera.auth import Principal, Role
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Ledger, Transfer
from tessera.limits import BATCH_SIZE_MAX
from tessera.money import AccountKind, ledger_unit
from tessera.programs import (
    REDEMPTION_CODE,
    CompiledProgramme,
    Cycles,
    RegisteredProgramme,
    entitlement_account_ids,
    funding_accounts,
    gather_population,
)
from tessera.service import Services
from tessera.store import outlet_authorisations, outlets, persons, redemptions
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
basis = "{basis}"
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

FAMILY_PROGRAMME = """
[[programme]]
id = "family_cash"
name = "Family cash grant"
basis = "social-protection-act/food"
unit = "household"
kind = "cash"
currency = "currency"
eligibility = "household.size >= 2 && household.size < 50"
schedule = "monthly"
valid_for = "60d"
over_budget = "refuse"
merchant_categories = [5411, 5499]

[programme.cash]
amount = "2000 * household.size"
budget = 1000000000000000
"""
MERCHANT_ACCOUNT = 900_002  # a grocer's till on the currency (MCC 5411)
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


def open_world(
    path: Path,
    *,
    persons: int = 60,
    sync: bool = False,
    batch_size: int = BATCH_SIZE_MAX,
    database_url: str | None = None,
) -> World:
    """The service over ``path`` (its store at ``database_url`` if given); made on first start, reopened after."""
    settings = settings_for(path, ledger_sync=sync, disbursement_batch_size=batch_size, database_url=database_url)
    services = Services(settings)
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
    programme_id: str = "adult_cash",
    *,
    upper: int = 200,
    budget: int = 10**15,
    over_budget: str = "refuse",
    basis: str = "social-protection-act/food",
) -> str:
    """The test programme's TOML: adults under ``upper`` get 50.00 and 0.10 a year of age, under ``basis``."""
    return PROGRAMME.format(id=programme_id, upper=upper, budget=budget, over_budget=over_budget, basis=basis)


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


def cycles_through(world: World, ledger: Ledger) -> Cycles:
    """The world's cycles as ``Services`` makes them, paying through ``ledger`` instead (a stub around the real one)."""
    services = world.services
    return Cycles(
        services.store,
        services.programmes,
        ledger,
        compile_programme=lambda p: CompiledProgramme(p, services.event_types, services.benefits),
        batch_size=services.settings.disbursement_batch_size,
        gather=lambda c, at: gather_population(
            services.store,
            c.facts,
            c.programme.unit,
            at,
            households=services.household_source,
            types=services.event_types,
        ),
    )


def family_programme_text() -> str:
    """A household programme: households of two or more get 20.00 a member, paid to the head."""
    return FAMILY_PROGRAMME


def grocer(services: Services, *, programme_id: str, outlet_id: str = "o_00000000000000a1", by: str = "admin") -> str:
    """A grocer (MCC 5411) with a till on the currency, authorised for ``programme_id``: rows as outlets writes them."""
    with services.store.transaction(write=True) as conn:
        conn.execute(
            insert(outlets).values(
                id=outlet_id, name="Mama Njeri's Grocery", operator="org:njeri", category=5411,
                location="KE-047-0012", registered_by=by, registered_at_ns=1,
            )
        )  # fmt: skip
        conn.execute(
            insert(outlet_authorisations).values(
                outlet_id=outlet_id, programme_id=programme_id, seq=1, basis="social-protection-act/food",
                reason="inspected", authorised_by=by, authorised_at_ns=1,
            )
        )  # fmt: skip
    services.ledger.create_accounts([Account(MERCHANT_ACCOUNT, MONEY, AccountKind.merchant, category=5411)])
    return outlet_id


def redeem(
    services: Services,
    *,
    programme_id: str,
    number: str,
    cycle_id: int,
    amount: int,
    redemption_id: str,
    at_ns: int,
    outlet_id: str = "o_00000000000000a1",
) -> None:
    """A completed redemption of ``amount`` as the shops will record it: its row, and its draw from the entitlement."""
    entitlement = int(entitlement_account_ids(programme_id, MONEY, np.array([number]))[0])
    items = [{"product": "FLOUR-2KG", "quantity": 1, "ledger": "currency", "amount": amount}]
    with services.store.transaction(write=True) as conn:
        conn.execute(
            insert(redemptions).values(
                id=redemption_id, outlet_id=outlet_id, programme=programme_id, merchant="p_merchant0000001",
                idempotency_key=redemption_id, body_sha256="0" * 64, person=number, holder="p_holder00000001",
                presented_by=number, auth="pin", status="completed", items=json.dumps(items), created_at_ns=at_ns,
            )
        )  # fmt: skip
    draw = Transfer(
        at_ns, entitlement, MERCHANT_ACCOUNT, amount, ledger=MONEY, code=REDEMPTION_CODE, user_data_64=cycle_id
    )
    [status] = services.ledger.create_transfers([draw]).statuses.tolist()
    assert status == CreateTransferStatus.ok, f"the draw was refused: {CreateTransferStatus(status).name}"


def family_paid(
    services: Services,
    *,
    head: str,
    member: str,
    issuer: int,
    admin: str,
    maker: str,
    checker: str,
    cycle_date_ns: int,
) -> int:
    """``head`` and ``member`` made a household; the family programme registered, funded from ``issuer``, and paid."""
    services.households.create_household([head, member], head=head, actor=maker, reason="registered at the desk")
    text = family_programme_text()
    programme = services.programmes.check(text)
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(text, programme, funding, registered_by=admin)
    services.ledger.create_transfers([Transfer(10**12 + 19, issuer, funding[MONEY], 10**10, ledger=MONEY, code=1)])
    making, checking = services.store.get_principal(maker), services.store.get_principal(checker)
    assert making is not None and checking is not None
    cycle = services.cycles.create("family_cash", cycle_date_ns, by=making)
    services.cycles.preview(cycle.id, by=making)
    services.cycles.approve(cycle.id, by=checking)
    services.cycles.disburse(cycle.id, by=checking)
    return cycle.id


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
