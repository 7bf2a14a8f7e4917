"""What a beneficiary has left on an entitlement, cycle by cycle, and until when.

An entitlement account (``disbursement.py``) is one balance per beneficiary, programme and
line: every cycle credits the same account, and each cycle's credit expires ``valid_for``
after the cycle's date. The ledger keeps the balance, not which cycle it came from, so
Tessera keeps one rule everywhere, **first to expire, first spent**:

- a redemption draws on the live credit that expires first, and names that cycle in its
  transfer's ``user_data_64`` (split in two transfers when it spans two credits);
- an expired credit's remainder is returned to the programme (``RETURN_CODE``) before anything
  else is drawn, and never spent;

so what is left of a balance always belongs to the credits that expire *last*. ``portions``
works that out from the balance and the newest credits alone, without the account's whole
history: it attributes the balance to credits from the latest expiry backwards until it is
used up. Back-pay (``BACK_PAY_CODE``, after a grievance) is a credit that lives ``valid_for``
from the moment it was paid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from tessera.errors import NotFoundError
from tessera.ledger import Ledger, Transfer
from tessera.limits import BATCH_SIZE_MAX
from tessera.programs.disbursement import BACK_PAY_CODE, TRANSFER_CODE, entitlement_account_ids
from tessera.programs.programmes import Programme
from tessera.programs.registered import RegisteredProgrammes
from tessera.store import Store, programme_cycles

CREDITS_READ_MAX = BATCH_SIZE_MAX  # an account's newest transfers read for its credits: years of monthly cycles
_CREDIT_CODES = (TRANSFER_CODE, BACK_PAY_CODE)


@dataclass(frozen=True, slots=True)
class Credit:
    """One credit of an entitlement account: the cycle it belongs to, how much, and when it expires."""

    cycle_id: int  # 0: back-pay that names no cycle
    amount: int
    expires_at_ns: int
    transfer_id: int


@dataclass(frozen=True, slots=True)
class Portion:
    """What is left of one credit now."""

    cycle_id: int
    credited: int
    left: int
    expires_at_ns: int
    live: bool


@dataclass(frozen=True, slots=True)
class Standing:
    """An entitlement account now: its available balance and what is left of each credit, earliest expiry first."""

    account_id: int
    ledger_id: int
    balance: int  # credits posted less debits posted and pending
    portions: tuple[Portion, ...]

    @property
    def left(self) -> int:
        """What may still be spent: the live credits' remainders."""
        return sum(p.left for p in self.portions if p.live)

    @property
    def expired(self) -> int:
        """What is held but may not be spent: expired remainders, owed back to the programme."""
        return self.balance - self.left

    @property
    def until_ns(self) -> int | None:
        """When the last live remainder expires; None when nothing is left."""
        live = [p.expires_at_ns for p in self.portions if p.live and p.left]
        return max(live) if live else None

    @property
    def last_expired_ns(self) -> int | None:
        """When the latest credit that has expired expired; None when none has."""
        gone = [p.expires_at_ns for p in self.portions if not p.live]
        return max(gone) if gone else None

    def draw(self, amount: int) -> list[tuple[int, int]]:
        """(cycle, amount) pieces spending ``amount``: the live credit expiring first, first; ValueError if short."""
        if amount > self.left:
            raise ValueError(f"{amount} asked, {self.left} left")
        pieces: list[tuple[int, int]] = []
        for portion in self.portions:
            if amount == 0:
                break
            if portion.live and portion.left:
                take = min(portion.left, amount)
                pieces.append((portion.cycle_id, take))
                amount -= take
        return pieces

    def returns(self) -> list[tuple[int, int]]:
        """(cycle, amount) of every expired remainder, to be returned before anything is drawn."""
        return [(p.cycle_id, p.left) for p in self.portions if not p.live and p.left]


def portions(balance: int, credits: Sequence[Credit], now_ns: int) -> tuple[Portion, ...]:
    """What is left of each credit, earliest expiry first, when ``balance`` remains (module docstring).

    A balance beyond every credit given (credits older than those read) shows as an expired
    portion of cycle 0: it cannot be spent, and it is returned.
    """
    ordered = sorted(credits, key=lambda c: (c.expires_at_ns, c.cycle_id, c.transfer_id))
    remaining = max(balance, 0)
    out: list[Portion] = []
    for credit in reversed(ordered):
        take = min(credit.amount, remaining)
        remaining -= take
        out.append(Portion(credit.cycle_id, credit.amount, take, credit.expires_at_ns, credit.expires_at_ns > now_ns))
    if remaining:
        out.append(Portion(0, remaining, remaining, 0, False))
    return tuple(reversed(out))


class Entitlements:
    """Entitlement accounts' standings, from the ledger's balances and credits and the cycles' dates."""

    def __init__(
        self,
        store: Store,
        programmes: RegisteredProgrammes,
        ledger: Ledger,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._programmes = programmes
        self._ledger = ledger
        self._clock = clock
        self._expiry: dict[int, int] = {}  # cycle id -> when its credits expire (a cycle's date never changes)

    def account_id(self, programme: Programme, ledger_id: int, number: str) -> int:
        """The entitlement account of the unit ``number`` (a person, a household's head) on one line."""
        return int(entitlement_account_ids(programme.id, ledger_id, np.array([number]))[0])

    def standing(self, programme: Programme, ledger_id: int, number: str, *, now_ns: int | None = None) -> Standing:
        """The unit's standing on one line; NotFoundError naming ``programme`` when it was never credited."""
        account_id = self.account_id(programme, ledger_id, number)
        found = self._ledger.lookup_accounts([account_id])
        if not found:
            raise NotFoundError("programme", f"no entitlement under programme {programme.id!r} was ever paid")
        account = found[0]
        balance = account.credits_posted - account.debits_posted - account.debits_pending
        now = self._clock() if now_ns is None else now_ns
        history = self._ledger.get_account_transfers(account_id, limit=CREDITS_READ_MAX, reverse=True)
        credits = self._credits(programme, account_id, history)
        return Standing(account_id, ledger_id, balance, portions(balance, credits, now))

    def standings(
        self, programme: Programme, ledger_id: int, numbers: npt.NDArray[np.str_], *, now_ns: int
    ) -> list[Standing | None]:
        """Each unit's standing on one line, as ``standing`` reads it; None where it was never credited.

        The balances come in one read of the ledger; only an account holding something has its
        credits read (one ledger read each), so an empty account costs no more than its record.
        """
        ids = entitlement_account_ids(programme.id, ledger_id, numbers)
        found = self._ledger.lookup_account_records(ids)
        order = np.argsort(found["id"])
        where = np.searchsorted(found["id"], ids, sorter=order)
        where = np.minimum(where, max(len(found) - 1, 0))
        hit = order[where] if len(found) else np.zeros(len(ids), np.int64)
        exists = (found["id"][hit] == ids) if len(found) else np.zeros(len(ids), bool)
        balances = (
            found["credits_posted"].astype(np.int64)
            - found["debits_posted"].astype(np.int64)
            - found["debits_pending"].astype(np.int64)
        )
        out: list[Standing | None] = []
        for account_id, ok, k in zip(ids.tolist(), exists.tolist(), hit.tolist(), strict=True):
            if not ok:
                out.append(None)
                continue
            balance = int(balances[k])
            if balance <= 0:
                out.append(Standing(account_id, ledger_id, balance, ()))
                continue
            history = self._ledger.get_account_transfers(account_id, limit=CREDITS_READ_MAX, reverse=True)
            credits = self._credits(programme, account_id, history)
            out.append(Standing(account_id, ledger_id, balance, portions(balance, credits, now_ns)))
        return out

    def _credits(self, programme: Programme, account_id: int, history: Sequence[Transfer]) -> list[Credit]:
        mine = [t for t in history if t.credit_account_id == account_id and t.code in _CREDIT_CODES]
        out = []
        for t in mine:
            if t.code == BACK_PAY_CODE:
                expires = t.timestamp + programme.valid_for_s * 1_000_000_000
            else:
                expires = self.cycle_expiry(t.user_data_64)
            out.append(Credit(t.user_data_64, t.amount, expires, t.id))
        return out

    def cycle_expiry(self, cycle_id: int) -> int:
        """When the credits of cycle ``cycle_id`` expire: its date plus its programme version's ``valid_for``."""
        if cycle_id not in self._expiry:
            with self._store.transaction() as conn:
                row = conn.execute(
                    select(
                        programme_cycles.c.programme, programme_cycles.c.version, programme_cycles.c.cycle_date_ns
                    ).where(programme_cycles.c.id == cycle_id)
                ).first()
            if row is None:
                return 0  # a credit no cycle names: expired, so returned rather than spent
            valid_for = self._programmes.get(row.programme, row.version).programme.valid_for_s
            self._expiry[cycle_id] = int(row.cycle_date_ns) + valid_for * 1_000_000_000
        return self._expiry[cycle_id]
