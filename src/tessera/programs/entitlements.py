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
used up. ``Entitlements.shares`` does the same for a whole batch of units and one cycle from
the credits sorted after that cycle's alone, with no ledger call per account. Back-pay
(``BACK_PAY_CODE``, after a grievance) is a credit that lives ``valid_for`` from the moment it
was paid.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from tessera.errors import NotFoundError
from tessera.ledger import TRANSFER_DTYPE, Ledger, Transfer
from tessera.limits import BATCH_SIZE_MAX
from tessera.programs.disbursement import BACK_PAY_CODE, TRANSFER_CODE, entitlement_account_ids, transfer_ids
from tessera.programs.programmes import Programme
from tessera.programs.registered import RegisteredProgrammes
from tessera.store import Store, cycle_results, entitlement_adjustments, grievances, programme_cycles

CREDITS_READ_MAX = BATCH_SIZE_MAX  # an account's newest transfers read for its credits: years of monthly cycles
ACCOUNT_IDS_CACHED_MAX = 100_000  # units whose entitlement account id is kept (a few MiB)
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
class Shares:
    """One cycle's credit on one line, per unit of a batch (``Entitlements.shares``)."""

    balance: npt.NDArray[np.int64]  # credits posted less debits posted and pending (0: no account)
    credited: npt.NDArray[np.int64]  # what the cycle credited
    left: npt.NDArray[np.int64]  # what is left of that credit
    returnable: npt.NDArray[np.int64]  # what its expiry returns: its rest and older credits' (once it has expired)


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
        self._account_ids: dict[tuple[str, int, str], int] = {}  # (programme, ledger, unit) -> entitlement account

    def account_id(self, programme: Programme, ledger_id: int, number: str) -> int:
        """The entitlement account of the unit ``number`` (a person, a household's head) on one line."""
        key = (programme.id, ledger_id, number)
        found = self._account_ids.get(key)
        if found is None:  # derived from the three alone (a hash): never stale
            found = int(entitlement_account_ids(programme.id, ledger_id, np.array([number]))[0])
            if len(self._account_ids) >= ACCOUNT_IDS_CACHED_MAX:
                self._account_ids.clear()
            self._account_ids[key] = found
        return found

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

    def shares(self, programme: Programme, line: int, numbers: npt.NDArray[np.str_], cycle_id: int) -> Shares:
        """What each unit holds of cycle ``cycle_id``'s credit on line ``line``, in bulk: no call per account.

        The same rule as ``standing``, worked from the balance and the credits sorted *after*
        the cycle's alone (module docstring): the later cycles' credits are found by their derived
        ids (the unit's place in each, from ``cycle_results``) and back-pay by its recorded
        transfers, one ledger read per kind and batch. What is left of the cycle's credit is the
        balance less those, up to the credit; what an expiry at the cycle's end returns is the
        balance less the credits expiring after it.
        """
        ledger_id = programme.lines[line].ledger_id
        accounts = entitlement_account_ids(programme.id, ledger_id, numbers)
        balance = _by_id(self._ledger.lookup_account_records(accounts), accounts, _balance)
        expires = self.cycle_expiry(cycle_id)
        own = np.zeros(len(numbers), np.int64)
        after = np.zeros(len(numbers), np.int64)  # credits sorted after the cycle's: (expiry, cycle) greater
        later = np.zeros(len(numbers), np.int64)  # credits expiring after it
        for other, version, other_expires in self._paid_cycles(programme.id):
            if (other_expires, other) < (expires, cycle_id):
                continue
            its = self._programmes.get(programme.id, version).programme.lines  # a later version may add lines
            k = next((i for i, x in enumerate(its) if x.ledger_id == ledger_id), None)
            if k is None:
                continue
            found, seqs = self._places(other, numbers)
            ids = np.zeros(len(numbers), np.uint64)
            ids[found] = transfer_ids(other, seqs[found], k, len(its))
            credited = _by_id(self._ledger.lookup_transfer_records(ids[found]), ids, _amount)
            if other == cycle_id:
                own = credited
                continue
            after += credited
            if other_expires > expires:
                later += credited
        for t in self._back_pay(programme.id, ledger_id, numbers, accounts):
            at = int(t["timestamp"]) + programme.valid_for_s * 1_000_000_000
            k = int(np.flatnonzero(accounts == t["credit_account_id"])[0])
            if (at, int(t["user_data_64"])) > (expires, cycle_id):
                after[k] += int(t["amount"])
            if at > expires:
                later[k] += int(t["amount"])
        held = np.maximum(balance, 0)
        left = np.minimum(own, np.maximum(held - after, 0))
        return Shares(balance, own, left, np.maximum(held - later, 0))

    def _paid_cycles(self, programme_id: str) -> list[tuple[int, int, int]]:
        """(cycle, version, expiry) of every cycle of the programme that may have credited an entitlement."""
        query = select(programme_cycles.c.id, programme_cycles.c.version).where(
            programme_cycles.c.programme == programme_id,
            programme_cycles.c.status.in_(("disbursing", "disbursed", "closed")),
        )
        with self._store.transaction() as conn:
            rows = [(int(i), int(v)) for i, v in conn.execute(query)]
        return [(i, v, self.cycle_expiry(i)) for i, v in rows]

    def _places(
        self, cycle_id: int, numbers: npt.NDArray[np.str_]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """Whether each unit was paid by the cycle, and its seq there."""
        query = select(cycle_results.c.person, cycle_results.c.seq).where(
            cycle_results.c.cycle_id == cycle_id,
            cycle_results.c.eligible.is_(True),
            cycle_results.c.person.in_(numbers.tolist()),
        )
        with self._store.transaction() as conn:
            seq_of = {str(p): int(q) for p, q in conn.execute(query)}
        seqs = np.array([seq_of.get(n, -1) for n in numbers.tolist()], np.int64)
        return seqs >= 0, seqs

    def _back_pay(
        self, programme_id: str, ledger_id: int, numbers: npt.NDArray[np.str_], accounts: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.void]:
        """The back-pay transfers the ledger applied to these units' entitlements on one ledger."""
        query = select(entitlement_adjustments.c.transfer_id).where(
            entitlement_adjustments.c.kind == "back_pay",
            entitlement_adjustments.c.programme == programme_id,
            entitlement_adjustments.c.ledger_id == ledger_id,
            entitlement_adjustments.c.person.in_(numbers.tolist()),
        )
        # A grievance upheld records its back-pay's transfers (JSON, per line) before the ledger pays them.
        upheld = select(grievances.c.back_pay).where(
            grievances.c.programme == programme_id, grievances.c.back_pay.is_not(None)
        )
        with self._store.transaction() as conn:
            ids = {int(i) for i in conn.scalars(query)}
            for text in conn.scalars(upheld):
                ids.update(int(b["transfer_id"]) for b in json.loads(text) if int(b["ledger_id"]) == ledger_id)
        found = self._ledger.lookup_transfer_records(sorted(ids)) if ids else np.zeros(0, TRANSFER_DTYPE)
        theirs: npt.NDArray[np.void] = found[
            np.isin(found["credit_account_id"], accounts) & (found["code"] == BACK_PAY_CODE)
        ]
        return theirs

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


def _balance(records: npt.NDArray[np.void]) -> npt.NDArray[np.int64]:
    posted = records["credits_posted"].astype(np.int64) - records["debits_posted"].astype(np.int64)
    return posted - records["debits_pending"].astype(np.int64)


def _amount(records: npt.NDArray[np.void]) -> npt.NDArray[np.int64]:
    return records["amount"].astype(np.int64)


def _by_id(
    records: npt.NDArray[np.void],
    ids: npt.NDArray[np.uint64],
    column: Callable[[npt.NDArray[np.void]], npt.NDArray[np.int64]],
) -> npt.NDArray[np.int64]:
    """``column`` of the record of each id (0 where none was found)."""
    out = np.zeros(len(ids), np.int64)
    if len(records):
        order = np.argsort(records["id"])
        where = np.minimum(np.searchsorted(records["id"], ids, sorter=order), len(records) - 1)
        hit = order[where]
        found = records["id"][hit] == ids
        out[found] = column(records)[hit[found]]
    return out
