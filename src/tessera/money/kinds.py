"""Kinds of account, and the table of who may open which kind, on which ledger, with which flags.

An account's kind is its ``code`` in the ledger (as TigerBeetle's chart of accounts uses
``code``), so the supply report reads it straight from the ledger's arrays. The one
safeguard everything else leans on: only an issuance account may go negative, and only
officers of the agency that issues its ledger may open or hold one. Every other kind
carries ``debits_must_not_exceed_credits``, so no one else can create money, and a
person's wallet can never be overdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from tessera.auth import Principal, Role
from tessera.errors import ForbiddenError, InvalidInputError
from tessera.ledger import Account, AccountFlags
from tessera.money.ledgers import LedgerUnit

NON_NEGATIVE = AccountFlags.debits_must_not_exceed_credits
NON_POSITIVE = AccountFlags.credits_must_not_exceed_debits
# The shops of basic needs (ISO 18245 codes, rules/builtin/mcc.csv): an entitlement earmarked for
# these alone stays spendable under a payments restriction, as sanctions regimes exempt basic
# needs (``basic_needs_entitlement``). Anything else a programme pays for is frozen with the rest.
BASIC_NEEDS_FOOD = frozenset({5411, 5422, 5451, 5462, 5499})  # grocers, butchers, dairies, bakeries, food stores
BASIC_NEEDS_FUEL = frozenset({5541, 5542, 5983})  # service stations, fuel dispensers, heating fuel
BASIC_NEEDS_HEALTH = frozenset(
    {5047, 5122, 5912, 5975, 5976, 8011, 8021, 8031, 8042, 8043, 8049, 8050, 8062, 8071, 8099}
)  # pharmacies, medical supplies, hearing aids, prostheses, doctors, dentists, opticians, care, hospitals, labs
BASIC_NEEDS_CATEGORIES = BASIC_NEEDS_FOOD | BASIC_NEEDS_FUEL | BASIC_NEEDS_HEALTH
# Not an MCC (those have four digits): the category of a programme's returns account, which an earmarked
# entitlement may always pay (what expires unspent goes back). Tessera opens such accounts; nobody else may.
RETURNS_CATEGORY = 0xFFFF


class AccountKind(IntEnum):
    """What an account is for; the value is the account's ``code``."""

    issuance = 1  # where money is created: debited to issue, credited when it comes back
    wallet = 2  # a person's money
    merchant = 3  # a shop's or payee's till
    programme = 4  # an agency's programme funds (food, fuel, health), paid out to wallets
    system = 5  # an agency's operating account (fees, suspense)
    entitlement = 6  # a beneficiary's balance from a programme: earmarked money, or a quota on its own ledger


class HolderAgency(IntEnum):
    """Which agency an officer holding the account must act for."""

    none = 0  # the holder is not an officer
    issuer = 1  # the agency that issues the account's ledger
    opener = 2  # the agency of the officer opening it


@dataclass(frozen=True, slots=True)
class KindRule:
    """Who may hold an account of ``kind`` and which flags it must and must not carry.

    Accounts are opened by officers (``ledger.accounts.create``); an issuance account only
    by an officer of the ledger's issuer.
    """

    kind: AccountKind
    holder_role: Role
    holder_agency: HolderAgency
    flags_required: AccountFlags
    flags_forbidden: AccountFlags
    note: str


OPENING: tuple[KindRule, ...] = (
    KindRule(
        AccountKind.issuance,
        Role.officer,
        HolderAgency.issuer,
        NON_POSITIVE,
        NON_NEGATIVE,
        "opened and held only by officers of the ledger's issuer; the only kind that can go negative",
    ),
    KindRule(
        AccountKind.wallet,
        Role.citizen,
        HolderAgency.none,
        NON_NEGATIVE,
        NON_POSITIVE,
        "a person's wallet: never overdrawn; the opening is logged for the person",
    ),
    KindRule(AccountKind.merchant, Role.merchant, HolderAgency.none, NON_NEGATIVE, NON_POSITIVE, "a payee's till"),
    KindRule(
        AccountKind.programme,
        Role.officer,
        HolderAgency.opener,
        NON_NEGATIVE,
        NON_POSITIVE,
        "an agency's programme funds, held by its officers",
    ),
    KindRule(
        AccountKind.system,
        Role.officer,
        HolderAgency.opener,
        NON_NEGATIVE,
        NON_POSITIVE,
        "an agency's operating account, held by its officers",
    ),
    KindRule(
        AccountKind.entitlement,
        Role.citizen,
        HolderAgency.none,
        NON_NEGATIVE,
        NON_POSITIVE,
        "a beneficiary's programme balance (money earmarked for the programme's shops, or a quota): never overdrawn; "
        "opened by the programme's disbursement alone, never over this API",
    ),
)
RULES: dict[AccountKind, KindRule] = {rule.kind: rule for rule in OPENING}
assert set(RULES) == set(AccountKind), "one rule per kind"


def kind_of(code: int) -> AccountKind | None:
    """The kind an account's code names, or None for a code no kind has (an account from before kinds)."""
    try:
        return AccountKind(code)
    except ValueError:
        return None


def basic_needs_entitlement(account: Account) -> bool:
    """Whether ``account`` is an entitlement that pays only shops of food, fuel or health (``BASIC_NEEDS_CATEGORIES``).

    Such an account is exempt from a payments restriction's freeze (a restriction that closes
    ``benefits`` freezes it). One with no earmark could pay anyone, a wallet included, so it is
    no exemption: it freezes with the person's other accounts.
    """
    categories = {c for c in account.allowed_categories if c and c != RETURNS_CATEGORY}
    return account.code == AccountKind.entitlement and bool(categories) and categories <= BASIC_NEEDS_CATEGORIES


def check_opening(field: str, opener: Principal, holder: Principal, account: Account, ledger: LedgerUnit) -> None:
    """Refuse an account ``opener`` may not open for ``holder``; ``field`` is where the caller named it.

    InvalidInputError for flags or fields the kind does not allow, ForbiddenError for a
    holder or opener the table does not allow.
    """
    kind = kind_of(account.code)
    if kind is None:
        kinds = ", ".join(f"{k.value} ({k.name})" for k in AccountKind)
        raise InvalidInputError(f"{field}.kind", f"must be one of {kinds}, got code {account.code}")
    rule = RULES[kind]
    if opener.role is not Role.officer:
        raise ForbiddenError(f"{field}: only officers open accounts")
    if kind is AccountKind.entitlement:
        # One made by hand would be earmarked like a programme's yet answer to no programme: spendable under a freeze.
        raise ForbiddenError(
            f"{field}.kind: an entitlement account is opened by its programme's disbursement alone, "
            "for a unit a cycle pays; open a wallet instead"
        )
    if kind is AccountKind.issuance and opener.agency != ledger.issuer:
        raise ForbiddenError(
            f"{field}: only officers of {ledger.issuer}, which issues ledger {ledger.id}, may open an issuance account"
        )
    if holder.role is not rule.holder_role or holder.disabled:
        raise ForbiddenError(f"{field}.holder: a {kind.name} account is held by a {rule.holder_role.value}")
    wanted_agency = {HolderAgency.issuer: ledger.issuer, HolderAgency.opener: opener.agency}.get(rule.holder_agency)
    if wanted_agency is not None and holder.agency != wanted_agency:
        raise ForbiddenError(f"{field}.holder: a {kind.name} account is held by an officer of {wanted_agency}")
    missing = rule.flags_required & ~account.flags
    if missing:
        raise InvalidInputError(f"{field}.flags", f"a {kind.name} account must carry {_names(missing)}")
    extra = rule.flags_forbidden & account.flags
    if extra:
        raise InvalidInputError(f"{field}.flags", f"a {kind.name} account may not carry {_names(extra)}")
    if kind in (AccountKind.issuance, AccountKind.wallet, AccountKind.entitlement) and account.category:
        # A wallet with a shop's category could take money earmarked for shops of that kind.
        raise InvalidInputError(f"{field}.category", f"a {kind.name} account has no merchant category")
    if RETURNS_CATEGORY in (account.category, *account.allowed_categories):
        # An account of it could take what entitlements return; one earmarked for it could pay programmes.
        raise InvalidInputError(f"{field}.category", f"category {RETURNS_CATEGORY} is reserved for programmes' returns")
    if kind is AccountKind.issuance and (account.allowed_categories or account.holding_limit):
        raise InvalidInputError(f"{field}.allowed_categories", "an issuance account is neither earmarked nor capped")


def _names(flags: AccountFlags) -> str:
    return " and ".join(f.name for f in AccountFlags if f and f in flags and f.name)


def render_markdown() -> str:
    """The opening table as Markdown, as docs/api.md shows it."""
    lines = [
        "| kind (code) | held by | must carry | must not carry | note |",
        "|---|---|---|---|---|",
    ]
    for r in OPENING:
        holder = r.holder_role.value
        if r.holder_agency is HolderAgency.issuer:
            holder += " of the ledger's issuer"
        elif r.holder_agency is HolderAgency.opener:
            holder += " of the opener's agency"
        lines.append(
            f"| {r.kind.name} ({r.kind.value}) | {holder} | `{_names(r.flags_required)}` | "
            f"`{_names(r.flags_forbidden)}` | {r.note} |"
        )
    return "\n".join(lines) + "\n"
