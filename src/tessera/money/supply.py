"""The supply report: per ledger, what its issuer created and where it sits now, reconciled.

Read from the ledger's arrays in one consistent moment (``Ledger.totals``), grouped by
account kind. Double entry makes the totals of a ledger sum to zero; the report checks
that anyway, with the rules no money may break: nothing but issuance below zero, every
pending debit matched by a pending credit, every ledger with money on it registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tessera.ledger import Ledger, Totals
from tessera.money.kinds import AccountKind, kind_of
from tessera.money.ledgers import LedgerUnit

UNCLASSIFIED = "unclassified"  # accounts whose code names no kind (opened before kinds existed)


@dataclass(frozen=True, slots=True)
class Holding:
    """What the accounts of one kind on one ledger hold."""

    accounts: int
    balance: int  # posted credits less posted debits
    pending_debits: int  # reserved by holds, not yet posted or voided
    pending_credits: int
    negative: int  # accounts below zero


@dataclass(frozen=True, slots=True)
class Supply:
    """One ledger's supply: issued equals what all other kinds hold, or ``problems`` says why not."""

    ledger: int
    unit: LedgerUnit | None  # None: money on a ledger nobody registered
    issued: int  # minus the issuance accounts' balance: created less returned
    held: dict[str, Holding] = field(default_factory=dict)  # by kind name, issuance included
    problems: tuple[str, ...] = ()

    @property
    def in_circulation(self) -> int:
        """What every account but the issuer's holds."""
        return sum(h.balance for kind, h in self.held.items() if kind != AccountKind.issuance.name)

    @property
    def reconciled(self) -> bool:
        return not self.problems


def supply_report(ledger: Ledger, units: list[LedgerUnit]) -> list[Supply]:
    """Every ledger that is registered or holds accounts, by ledger id."""
    by_ledger: dict[int, list[Totals]] = {}
    for group in ledger.totals():
        by_ledger.setdefault(group.ledger, []).append(group)
    registered = {u.id: u for u in units}
    return [_supply(i, registered.get(i), by_ledger.get(i, [])) for i in sorted(set(by_ledger) | set(registered))]


def _supply(ledger_id: int, unit: LedgerUnit | None, groups: list[Totals]) -> Supply:
    held: dict[str, Holding] = {}
    for g in groups:
        kind = kind_of(g.code)
        name = kind.name if kind is not None else UNCLASSIFIED
        before = held.get(name, Holding(0, 0, 0, 0, 0))
        held[name] = Holding(
            before.accounts + g.accounts,
            before.balance + g.balance,
            before.pending_debits + g.debits_pending,
            before.pending_credits + g.credits_pending,
            before.negative + g.negative,
        )
    issuance = held.get(AccountKind.issuance.name, Holding(0, 0, 0, 0, 0))
    problems = []
    if unit is None:
        problems.append(f"ledger {ledger_id} holds accounts but is not registered")
    for name, h in held.items():
        if name != AccountKind.issuance.name and h.negative:
            problems.append(f"{h.negative} {name} account(s) below zero: money created outside issuance")
    if issuance.balance > 0:
        problems.append("the issuance accounts hold more than they issued")
    circulating = sum(h.balance for name, h in held.items() if name != AccountKind.issuance.name)
    if -issuance.balance != circulating:
        problems.append(f"issued {-issuance.balance} but {circulating} is held")
    pending_debits = sum(h.pending_debits for h in held.values())
    pending_credits = sum(h.pending_credits for h in held.values())
    if pending_debits != pending_credits:
        problems.append(f"holds reserve {pending_debits} but promise {pending_credits}")
    return Supply(ledger_id, unit, -issuance.balance, held, tuple(problems))
