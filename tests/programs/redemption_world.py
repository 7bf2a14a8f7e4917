"""A service where programmes were paid and shops can redeem them: for the redemption tests.

On top of ``cycle_world``: two quota ledgers (rice in kg, fuel in litres) with their issuers'
reserves, three programmes paid to each adult (50.00 and more in cash, 10 kg of rice at 1.00
a kilogram, 40 litres of fuel), one disbursed cycle each, a grocery and a fuel station with
their tills, authorised, and PINs for the first few beneficiaries.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tessera.auth import Principal, Role
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.money import AccountKind, ledger_unit
from tessera.programs import funding_accounts
from tessera.programs.outlets import Outlet
from tessera.programs.redemption import Order, Post, Redemption
from tests.programs.cycle_world import CYCLE_DATE_NS, MONEY, RESERVE, World, open_world, programme_text, register

RICE, FUEL = 2, 3
GROCERY_MCC, FUEL_MCC = 5411, 5541
PIN = "482913"
_keys = itertools.count(1)

RICE_PROGRAMME = """
[[programme]]
id = "rice_test"
name = "Rice ration"
basis = "social-protection-act/rations"
unit = "person"
kind = "subsidised_price"
currency = "currency"
eligibility = "person.age >= 18"
schedule = "monthly"
valid_for = "45d"
over_budget = "refuse"
merchant_categories = [5411, 5499]

[[programme.quota]]
commodity = "rice"
ledger = "rice-quota"
amount = "10000"
budget = 1_000_000_000_000
co_payment = 100

[[programme.products]]
code = "RICE-5KG"
commodity = "rice"
quantity = 5000

[[programme.products]]
code = "RICE-1KG"
commodity = "rice"
quantity = 1000
"""

FUEL_PROGRAMME = """
[[programme]]
id = "fuel_test"
name = "Household fuel quota"
basis = "energy-security-act/fuel-quota"
unit = "person"
kind = "in_kind"
eligibility = "person.age >= 18"
schedule = "weekly"
valid_for = "14d"
over_budget = "refuse"
merchant_categories = [5541]

[[programme.quota]]
commodity = "fuel"
ledger = "fuel-quota"
amount = "400"
budget = 1_000_000_000_000

[[programme.products]]
code = "FUEL-1L"
commodity = "fuel"
quantity = 10
"""


@dataclass
class Shops:
    """The world, its shops, and the beneficiaries with PINs."""

    world: World
    grocer: Principal
    station_keeper: Principal
    grocery: Outlet
    station: Outlet
    beneficiaries: list[str]  # adults paid by every programme, with PIN ``PIN``
    cycles: dict[str, int]  # programme id -> its disbursed cycle


def open_shops(path: Path, *, pins: int = 3) -> Shops:
    """The world with the three programmes paid and two shops authorised (module docstring)."""
    world = open_world(path, persons=30)
    services = world.services
    services.outlets.known = services.product_lists.known = services.programmes.known  # the registered ones
    store = services.store
    for ledger_id, name, unit, decimals, issuer in (
        (RICE, "rice-quota", "kg", 3, "food-ministry"),
        (FUEL, "fuel-quota", "litre", 1, "energy-ministry"),
    ):
        services.agencies.register(issuer, issuer.replace("-", " ").title(), by="test")
        services.ledger_units.register(
            ledger_unit(ledger_id, name, unit, decimals, issuer, category="benefit"),
            requested_by="admin 1",
            approved_by="admin 2",
        )
        issuing = store.create_principal(f"{issuer} officer", Role.officer, agency=issuer)
        reserve = RESERVE + ledger_id
        store.set_account_holders([(reserve, issuing.id)])
        services.ledger.create_accounts(
            [Account(reserve, ledger_id, AccountKind.issuance, AccountFlags.credits_must_not_exceed_debits)]
        )
    cycles = {"adult_cash": _paid(world, programme_text(upper=200))}
    for text, ledger_id in ((RICE_PROGRAMME, RICE), (FUEL_PROGRAMME, FUEL)):
        programme = services.programmes.check(text)
        funding = funding_accounts(programme, {}, services.ledger)
        services.programmes.register(text, programme, funding, registered_by=world.admin.id)
        fund = Transfer(10**12 + ledger_id, RESERVE + ledger_id, funding[ledger_id], 10**13, ledger=ledger_id, code=1)
        services.ledger.create_transfers([fund])
        cycles[programme.id] = _cycle(world, programme.id)
    grocer = store.create_principal("grocer", Role.merchant)
    keeper = store.create_principal("station keeper", Role.merchant)
    grocery = _outlet(world, grocer, "Corner grocery", GROCERY_MCC, ledgers=(MONEY, RICE), first_id=700_000)
    station = _outlet(world, keeper, "Highway fuel", FUEL_MCC, ledgers=(MONEY, FUEL), first_id=710_000)
    for outlet, programmes in ((grocery, ("adult_cash", "rice_test")), (station, ("fuel_test",))):
        for programme_id in programmes:
            services.outlets.authorise(outlet.id, programme_id, world.admin, "licensed for the programme")
    paid = [r.person for r in services.cycles.results(cycles["rice_test"], limit=1000) if r.eligible]
    for number in paid[:pins]:
        services.pins.set_pin(number, PIN)
    return Shops(world, grocer, keeper, grocery, station, paid, cycles)


def _paid(world: World, text: str) -> int:
    register(world, text)
    return _cycle(world, "adult_cash")


def _cycle(world: World, programme_id: str) -> int:
    cycles = world.services.cycles
    cycle = cycles.create(programme_id, CYCLE_DATE_NS, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    cycles.approve(cycle.id, by=world.checker)
    return cycles.disburse(cycle.id, by=world.maker).cycle.id


def _outlet(
    world: World, operator: Principal, name: str, category: int, *, ledgers: tuple[int, ...], first_id: int
) -> Outlet:
    services = world.services
    accounts = [Account(first_id + k, ledger_id, AccountKind.merchant, category=category) for k, ledger_id in
                enumerate(ledgers)]  # fmt: skip
    services.store.set_account_holders([(a.id, operator.id) for a in accounts])
    services.ledger.create_accounts(accounts)
    return services.outlets.register(
        world.admin.id, name=name, operator=operator.id, category=category, location="KE-047-0012",
        accounts=[a.id for a in accounts],
    )  # fmt: skip


def post_direct(shops: Shops) -> Post:
    """A ``Post`` straight to the ledger (the service's access note is the API's business)."""

    def post(batch: npt.NDArray[np.void], holders: tuple[str, ...]) -> npt.NDArray[np.uint32]:
        del holders
        return shops.world.services.ledger.create_transfers(batch).statuses

    return post


def redeem(
    shops: Shops, outlet: Outlet, order: Order, *, key: str | None = None, post: Post | None = None
) -> Redemption:
    """Redeem ``order`` at ``outlet`` as its till, under a fresh Idempotency-Key unless one is given."""
    till = shops.grocer if outlet.id == shops.grocery.id else shops.station_keeper
    key = key or f"k-{next(_keys)}"
    sha = hashlib.sha256(repr(order).encode()).hexdigest()
    return shops.world.services.redemptions.redeem(
        till,
        outlet.id,
        order,
        key=key,
        body_sha256=sha,
        post=post or post_direct(shops),
    )


def balance(shops: Shops, account_id: int) -> int:
    """An account's credits less its debits, posted and pending."""
    account = shops.world.services.ledger.lookup_accounts([account_id])[0]
    return account.credits_posted - account.debits_posted - account.debits_pending


FAMILY_RICE = (
    RICE_PROGRAMME.replace('id = "rice_test"', 'id = "family_rice"')
    .replace('name = "Rice ration"', 'name = "Family rice ration"')
    .replace('unit = "person"', 'unit = "household"')
    .replace('eligibility = "person.age >= 18"', 'eligibility = "household.size >= 2"')
)


def family_ration(shops: Shops, *, head: str, members: list[str], nominee: str) -> int:
    """A household of ``head`` and ``members`` with ``nominee``, a household rice ration paid once: its cycle."""
    services = shops.world.services
    actor = shops.world.maker.id
    services.households.create_household(
        [head, *members], head=head, nominees=[nominee], actor=actor, reason="registered at the desk"
    )
    programme = services.programmes.check(FAMILY_RICE)
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(FAMILY_RICE, programme, funding, registered_by=shops.world.admin.id)
    fund = Transfer(10**12 + 77, RESERVE + RICE, funding[RICE], 10**12, ledger=RICE, code=1)
    services.ledger.create_transfers([fund])
    services.outlets.authorise(shops.grocery.id, "family_rice", shops.world.admin, "licensed for the programme")
    return _cycle(shops.world, "family_rice")
