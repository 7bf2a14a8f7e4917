"""Programmes as records: who they are for, what they give, on which ledgers, how often, and where it is spent.

A programme (issue 19) operates under one registered legal basis and gives each eligible
*unit* (a person or a household) an entitlement every cycle:

- **cash**: purpose-bound money on the currency ledger, spendable only at its merchant categories;
- **in kind**: a quota per commodity, each on its own ledger in its own unit (kilograms of rice,
  litres of fuel, doses), so a quota is a balance;
- **subsidised price**: quotas as in kind, each with a co-payment per unit in the currency
  (5 kg of rice at 1.00 a kilogram).

Amounts are integers in their ledger's minor units: on a quota ledger with 3 decimals, 5000 is
5 kg; on the currency with 2, 5000 is 50.00. Every bound is in the block below and nowhere else.
Files of programmes are read by ``programme_files.py``; conditions and formulas are judged by
``formulas.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tessera.rules import Category, LegalBasis

# -- every bound of a programme definition, in one place ----------------------------------------------------------
PROGRAMME_ID_MAX = 64
PROGRAMME_NAME_MAX = 200
DESCRIPTION_MAX = 1000
COMMODITY_MAX = 32  # "rice", "diesel", "measles_vaccine"
QUOTAS_MAX = 16  # commodities of one programme
TOP_UPS_MAX = 8  # per entitlement line
MERCHANT_CATEGORIES_MAX = 64
PRODUCTS_MAX = 256  # named at definition; the full approved list is imported whole (issue 19, shops)
PRODUCT_CODE_MAX = 32
PROGRAMMES_MAX = 1000  # across all files of one load
VALID_FOR_MAX_S = 400 * 86_400  # an entitlement lives at most a little over a year
AMOUNT_MAX = (1 << 63) - 1  # one unit's entitlement, a budget, a co-payment: what CEL's int holds
FORMULA_MAX = 4000  # characters of one CEL text (the rules' guard takes 4096; an amount is wrapped to be judged)


class Unit(StrEnum):
    """Who an entitlement is for."""

    person = "person"
    household = "household"  # paid to the household's head; a nominee may collect (issue 19, households)


class Kind(StrEnum):
    """What a programme gives."""

    cash = "cash"
    in_kind = "in_kind"
    subsidised_price = "subsidised_price"


class Schedule(StrEnum):
    """How often a cycle runs."""

    monthly = "monthly"
    weekly = "weekly"
    one_off = "one_off"


class OverBudget(StrEnum):
    """What approving a cycle whose entitlements exceed the budget does."""

    refuse = "refuse"  # the cycle is not approved; the preview says by how much it is over
    pro_rate = "pro_rate"  # every entitlement is scaled down by the same factor, rounded down


@dataclass(frozen=True, slots=True)
class TopUp:
    """An amount added when a condition holds: how protected facts may raise an amount, never lower it.

    Its condition is judged as eligibility is (health and disability only widen); its amount
    reads no protected fact and is never negative.
    """

    condition: str  # CEL, bool
    amount: str  # CEL, int, in the line's ledger's minor units


@dataclass(frozen=True, slots=True)
class Line:
    """One ledger a programme credits each cycle: the currency for cash, a commodity's quota otherwise."""

    ledger: str  # the ledger's name in the register (tessera.money): "currency", "rice-quota"
    ledger_id: int
    unit: str  # the ledger's unit: "XTS", "kg", "litre"
    decimals: int
    amount: str  # CEL, int: the entitlement per unit and cycle, in minor units
    budget: int  # per cycle, in minor units
    commodity: str | None = None  # quotas: "rice"; None for cash
    co_payment: int | None = None  # subsidised price: the currency's minor units per whole unit of the commodity
    top_ups: tuple[TopUp, ...] = ()


@dataclass(frozen=True, slots=True)
class Product:
    """A product a programme's quota may be spent on: its code, the commodity it draws on, how much one draws."""

    code: str  # "RICE-5KG", a GTIN
    commodity: str
    quantity: int  # of the commodity's ledger's minor units


@dataclass(frozen=True, slots=True)
class Programme:
    """A loaded programme: everything ``load_programmes`` checked, nothing left to interpret."""

    id: str  # also its benefit id in the register: "food_cash"
    name: str
    basis: LegalBasis
    unit: Unit
    kind: Kind
    eligibility: str  # CEL over facts (facts.py), bool
    schedule: Schedule
    valid_for_s: int  # an entitlement expires this long after its cycle's date
    over_budget: OverBudget
    merchant_categories: frozenset[int]  # MCCs it may be spent at
    lines: tuple[Line, ...]  # cash: one, on the currency; otherwise one per commodity
    currency: str | None = None  # the currency ledger's name (cash, subsidised price)
    products: tuple[Product, ...] = ()
    description: str = ""
    facts: frozenset[str] = frozenset()  # every fact its CEL reads: "household.size"
    source: str = ""  # where it was declared: "food.toml:programme[0]"
    # What a grant of it reveals: its ledgers' and merchant categories' categories, and the protected
    # categories its eligibility reads (a rule granting it, and a programme reading that grant, carry them).
    categories: frozenset[Category] = frozenset()

    def line(self, commodity: str | None = None) -> Line:
        """The line for ``commodity`` (None: the cash line); KeyError when it has none."""
        for line in self.lines:
            if line.commodity == commodity:
                return line
        raise KeyError(commodity)
