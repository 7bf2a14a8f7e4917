"""Reconciliation: per programme, cycle and line what was issued, redeemed, returned, held and is outstanding.

Every figure is read from what moved, and agrees with the ledger's balances:

- **disbursed**: a disbursed (or closed) cycle's paid total per line (``totals``, what its
  transfers carried); a cycle still disbursing is read from the ledger, transfer by transfer;
- **back-pay** and **returns** made as adjustments (``entitlement_adjustments``) count once the
  ledger holds their transfer (their rows are written before the ledger sees them);
- **redeemed**: the draws of completed redemptions, and the posts that settled held ones;
- **returned** also counts the expired remainders a redemption sent back, once in the ledger;
- **held**: the draws of held redemptions whose hold the ledger still keeps pending.

``issued = disbursed + back_pay`` and ``outstanding = issued - redeemed - returned - held``:
summed over a line, outstanding is the sum of its entitlement accounts' available balances
(posted credits less posted and pending debits), and held their pending debits. A line's
``issued`` over every cycle equals what its programme accounts paid out (their posted debits),
which ``ProgrammeReconciliation.lines`` shows beside it.

A shop's **statement** lists the redemptions made at an outlet in one UTC day (or a range of
nanoseconds): time, redemption id, programme, items, what each drew per line, the co-payment
and how it was paid, and status; totals per programme and line; and the opening and closing
balances of its accounts, from the ledger's timestamps. It names no person: a redemption
shows its id, and the beneficiary only as the last digits of their number, which a shop can
match to the customer it served and nobody else can turn into a name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import and_, func, select

from tessera.errors import InvalidInputError, NotFoundError
from tessera.ledger import Ledger, PendingState, TransferFlags
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT
from tessera.money import Ledgers, LedgerUnit
from tessera.programs.cycles import Cycles, CycleStatus
from tessera.programs.disbursement import transfer_ids
from tessera.programs.outlets import Outlets
from tessera.programs.registered import RegisteredProgrammes
from tessera.programs.report_csv import AMOUNT, HIDDEN, TIME, to_csv
from tessera.store import (
    Store,
    cycle_results,
    entitlement_adjustments,
    programme_cycles,
    redemption_transfers,
    redemptions,
)

STATEMENT_REDEMPTIONS_MAX = 100_000  # one outlet's redemptions in one statement: a busy station's month
STATEMENT_SPAN_MAX_NS = 31 * 86_400 * 10**9
MASKED_DIGITS = 3  # of a beneficiary's number a statement shows
_DAY_NS = 86_400 * 10**9
_PAID = (CycleStatus.disbursed.value, CycleStatus.closed.value)
_ISSUING = (CycleStatus.disbursing.value, *_PAID)
_REDEEMED = "completed"  # its draws are plain transfers
_HELD = "held"  # its draws are pending transfers
_POSTED = "posted"  # its posts carry what was settled
_POSTING = "posting"  # a chain sent whose outcome was never written (a crash): the ledger says what it did
_UNSETTLED = (_HELD, _POSTING)


@dataclass(frozen=True, slots=True)
class CycleLine:
    """One line of one cycle of a programme: what was issued and what became of it (module docstring)."""

    programme: str
    cycle_id: int  # 0: back-pay that names no cycle
    cycle_date_ns: int | None = field(metadata=TIME)
    expires_at_ns: int | None = field(metadata=TIME)
    status: str  # the cycle's; "" for cycle 0
    ledger: str
    ledger_id: int
    unit: str
    decimals: int = field(metadata=HIDDEN)
    disbursed: int = field(metadata=AMOUNT)
    back_pay: int = field(metadata=AMOUNT)
    issued: int = field(metadata=AMOUNT)
    redeemed: int = field(metadata=AMOUNT)
    returned: int = field(metadata=AMOUNT)
    held: int = field(metadata=AMOUNT)
    outstanding: int = field(metadata=AMOUNT)


@dataclass(frozen=True, slots=True)
class LineCheck:
    """One line over every cycle, against the ledger: issued beside what its programme accounts paid out."""

    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    issued: int
    funding_accounts: tuple[int, ...]
    funding_debits: int  # their posted debits: disbursements and back-pay

    @property
    def agrees(self) -> bool:
        """Whether the ledger paid out what the cycles and adjustments say (an account funding this one alone)."""
        return self.issued == self.funding_debits


@dataclass(frozen=True, slots=True)
class ProgrammeReconciliation:
    """A programme's figures: a row per cycle and line, and each line checked against the ledger."""

    programme: str
    rows: tuple[CycleLine, ...]
    lines: tuple[LineCheck, ...]


@dataclass(frozen=True, slots=True)
class Drawn:
    """What a redemption moved on one ledger."""

    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    amount: int


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One redemption at the outlet: when, which, for whom (masked), what, what it drew, co-payment, status."""

    at_ns: int
    redemption_id: str
    programme: str
    beneficiary: str  # the last MASKED_DIGITS digits of the unit's number
    status: str
    items: Any  # the redemption's items as recorded (JSON)
    drawn: tuple[Drawn, ...]  # per line: settled for completed or posted, reserved for held, nothing otherwise
    co_payment: Drawn | None  # what the customer paid of a subsidised price, in the currency
    co_payment_method: str | None  # wallet or cash


@dataclass(frozen=True, slots=True)
class StatementTotal:
    """Per programme and line, what the day's redemptions redeemed and what is still held."""

    programme: str
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    redeemed: int
    held: int


@dataclass(frozen=True, slots=True)
class CoPaymentTotal:
    """Co-payments taken, per programme and method, in the currency."""

    programme: str
    method: str  # wallet or cash
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    amount: int


@dataclass(frozen=True, slots=True)
class AccountMovement:
    """One of the outlet's accounts over the statement's span, from the ledger's timestamps (posted amounts)."""

    account_id: int
    ledger: str
    ledger_id: int
    unit: str
    decimals: int
    opening: int | None  # None: more history since the span began than one read holds
    credits: int | None
    debits: int | None
    closing: int | None


@dataclass(frozen=True, slots=True)
class StatementRow:
    """A statement as CSV: one row per redemption and movement (a draw per line, a co-payment)."""

    at_ns: int = field(metadata=TIME)
    redemption_id: str
    programme: str
    beneficiary: str
    status: str
    kind: str  # draw, held or co_payment
    method: str  # the co-payment's: wallet or cash; "" for a draw
    ledger: str
    unit: str
    decimals: int = field(metadata=HIDDEN)
    amount: int = field(metadata=AMOUNT)
    items: str


@dataclass(frozen=True, slots=True)
class Statement:
    """A shop's statement for ``[from_ns, to_ns)``."""

    outlet_id: str
    outlet_name: str
    from_ns: int
    to_ns: int
    entries: tuple[StatementEntry, ...]
    totals: tuple[StatementTotal, ...]
    co_payments: tuple[CoPaymentTotal, ...]
    accounts: tuple[AccountMovement, ...]

    def rows(self) -> list[StatementRow]:
        """The entries as CSV rows, in time order: each draw, then the co-payment."""
        out: list[StatementRow] = []
        for e in self.entries:
            items = json.dumps(e.items, separators=(",", ":"), sort_keys=True)
            kind = "held" if e.status == _HELD else "draw"
            head = (e.at_ns, e.redemption_id, e.programme, e.beneficiary, e.status)
            for d in e.drawn:
                out.append(StatementRow(*head, kind, "", d.ledger, d.unit, d.decimals, d.amount, items))
            if e.co_payment is not None:
                c = e.co_payment
                method = e.co_payment_method or ""
                out.append(StatementRow(*head, "co_payment", method, c.ledger, c.unit, c.decimals, c.amount, items))
            if not e.drawn and e.co_payment is None:
                out.append(StatementRow(*head, "none", "", "", "", 0, 0, items))
        return out


def masked(number: str) -> str:
    """A beneficiary's number as a statement shows it: ``*********123``."""
    return "*" * max(len(number) - MASKED_DIGITS, 0) + number[-MASKED_DIGITS:]


def day_span(day: dt.date) -> tuple[int, int]:
    """The UTC day ``day`` as ``[from_ns, to_ns)``."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    from_ns = int(start.timestamp()) * 10**9
    return from_ns, from_ns + _DAY_NS


class Reconciliation:
    """Programmes' and shops' figures from the store's records, checked against the ledger."""

    def __init__(
        self,
        store: Store,
        programmes: RegisteredProgrammes,
        cycles: Cycles,
        outlets: Outlets,
        ledger: Ledger,
        *,
        units: Ledgers,
    ) -> None:
        self._store = store
        self._programmes = programmes
        self._cycles = cycles
        self._outlets = outlets
        self._ledger = ledger
        self._units = units

    # -- programmes -------------------------------------------------------------------------------------------

    def programme(self, programme_id: str) -> ProgrammeReconciliation:
        """Every cycle's figures per line (cycle 0: back-pay naming none), each line checked against the ledger."""
        registered = self._programmes.get(programme_id)
        rows = self._rows(registered.programme.id, None)
        funding: dict[int, set[int]] = defaultdict(set)
        for version in {registered.version, *self._versions(programme_id)}:
            for ledger_id, account in self._programmes.get(programme_id, version).funding.items():
                funding[ledger_id].add(account)
        lines = []
        for ledger_id, accounts in sorted(funding.items()):
            unit = self._unit(ledger_id)
            found = self._ledger.lookup_accounts(sorted(accounts))
            issued = sum(r.issued for r in rows if r.ledger_id == ledger_id)
            debits = sum(a.debits_posted for a in found)
            lines.append(
                LineCheck(unit.name, ledger_id, unit.unit, unit.decimals, issued, tuple(sorted(accounts)), debits)
            )
        return ProgrammeReconciliation(programme_id, tuple(rows), tuple(lines))

    def cycle(self, programme_id: str, cycle_id: int) -> tuple[CycleLine, ...]:
        """One cycle's figures per line; NotFoundError naming ``cycle`` for a cycle not of ``programme_id``."""
        self._programmes.get(programme_id)
        if isinstance(cycle_id, bool) or not isinstance(cycle_id, int) or cycle_id < 1:
            raise NotFoundError("cycle", f"no cycle {cycle_id!r:.20}")
        if self._cycles.get(cycle_id).programme != programme_id:
            raise NotFoundError("cycle", f"no cycle {cycle_id} of programme {programme_id!r}")
        return tuple(self._rows(programme_id, cycle_id))

    def _versions(self, programme_id: str) -> set[int]:
        query = select(programme_cycles.c.version).where(programme_cycles.c.programme == programme_id).distinct()
        with self._store.transaction() as conn:
            return {int(v) for v in conn.scalars(query)}

    def _rows(self, programme_id: str, only: int | None) -> list[CycleLine]:
        query = select(programme_cycles).where(
            programme_cycles.c.programme == programme_id, programme_cycles.c.status.in_(_ISSUING)
        )
        if only is not None:
            query = query.where(programme_cycles.c.id == only)
        with self._store.transaction() as conn:
            cycles = conn.execute(query.order_by(programme_cycles.c.id)).all()
        figures: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        known: dict[int, Any] = {int(c.id): c for c in cycles}
        for paid in cycles:
            for ledger_id, amount in self._disbursed(paid).items():
                figures[int(paid.id), ledger_id]["disbursed"] += amount
        for (cycle_id, ledger_id, what), amount in self._moved(programme_id, only).items():
            figures[cycle_id, ledger_id][what] += amount
        rows = []
        for (cycle_id, ledger_id), f in sorted(figures.items()):
            c: Any = known.get(cycle_id)
            if c is None and cycle_id != 0:
                c = self._cycle_row(cycle_id)
            unit = self._unit(ledger_id)
            issued = f["disbursed"] + f["back_pay"]
            date_ns = None if c is None else int(c.cycle_date_ns)
            expires = None
            if c is not None:
                valid_for = self._programmes.get(programme_id, int(c.version)).programme.valid_for_s
                expires = int(c.cycle_date_ns) + valid_for * 10**9
            rows.append(
                CycleLine(
                    programme_id, cycle_id, date_ns, expires, "" if c is None else str(c.status),
                    unit.name, ledger_id, unit.unit, unit.decimals, f["disbursed"], f["back_pay"], issued,
                    f["redeemed"], f["returned"], f["held"],
                    issued - f["redeemed"] - f["returned"] - f["held"],
                )
            )  # fmt: skip
        return rows

    def _cycle_row(self, cycle_id: int) -> Any:
        with self._store.transaction() as conn:
            return conn.execute(select(programme_cycles).where(programme_cycles.c.id == cycle_id)).first()

    def _disbursed(self, c: Any) -> dict[int, int]:
        """Per ledger, what a cycle paid: its totals once disbursed; from the ledger while it is still disbursing."""
        lines = json.loads(c.totals).get("lines", [])
        if c.status in _PAID:
            return {int(t["ledger_id"]): int(t["paid"]) for t in lines}
        query = (
            select(cycle_results.c.seq)
            .where(cycle_results.c.cycle_id == c.id, cycle_results.c.eligible.is_(True))
            .order_by(cycle_results.c.seq)
        )
        with self._store.transaction() as conn:
            seqs = np.array(conn.scalars(query).all(), np.int64)
        out: dict[int, int] = {}
        for k, t in enumerate(lines):
            ids = transfer_ids(int(c.id), seqs, k, len(lines)).tolist()
            out[int(t["ledger_id"])] = sum(self._amounts(ids).values())
        return out

    def _amounts(self, ids: Sequence[int]) -> dict[int, int]:
        """The posted amount of each transfer the ledger holds among ``ids`` (0 for a hold or a release)."""
        out: dict[int, int] = {}
        for start in range(0, len(ids), BATCH_SIZE_MAX):
            for t in self._ledger.lookup_transfers(list(ids[start : start + BATCH_SIZE_MAX])):
                moved = not t.flags & (TransferFlags.pending | TransferFlags.void_pending_transfer)
                out[t.id] = t.amount if moved else 0
        return out

    def _moved(self, programme_id: str, only: int | None) -> dict[tuple[int, int, str], int]:
        """(cycle, ledger, figure) -> amount, for redeemed, held, returned and back_pay."""
        out: dict[tuple[int, int, str], int] = defaultdict(int)
        d, r = redemption_transfers, redemptions
        where = [d.c.programme == programme_id]
        if only is not None:
            where.append(d.c.cycle_id == only)
        drawn = (
            select(d.c.cycle_id, d.c.ledger_id, func.sum(d.c.amount))
            .select_from(d.join(r, r.c.id == d.c.redemption_id))
            .where(*where, d.c.kind == "draw", r.c.status == _REDEEMED)
            .group_by(d.c.cycle_id, d.c.ledger_id)
        )
        post = d.alias("post")  # a post settles the pending row it names: it counts as that row's kind
        posted = (
            select(d.c.cycle_id, d.c.ledger_id, d.c.kind, func.sum(post.c.amount))
            .select_from(post.join(d, d.c.transfer_id == post.c.pending_id).join(r, r.c.id == post.c.redemption_id))
            .where(*where, post.c.kind == "post", r.c.status == _POSTED, d.c.kind.in_(["draw", "return"]))
            .group_by(d.c.cycle_id, d.c.ledger_id, d.c.kind)
        )
        # A hold, or a chain whose outcome was never recorded (a crash): what the ledger did decides.
        unsettled = (
            select(d.c.transfer_id, d.c.kind, d.c.flags, d.c.cycle_id, d.c.ledger_id, d.c.amount)
            .select_from(d.join(r, r.c.id == d.c.redemption_id))
            .where(*where, d.c.kind.in_(["draw", "post"]), r.c.status.in_(_UNSETTLED))
        )
        returned = select(d.c.transfer_id, d.c.cycle_id, d.c.ledger_id, d.c.amount).where(*where, d.c.kind == "return")
        a = entitlement_adjustments
        adjusted_where = [a.c.programme == programme_id] + ([] if only is None else [a.c.cycle_id == only])
        adjusted = select(a.c.transfer_id, a.c.cycle_id, a.c.ledger_id, a.c.amount, a.c.kind).where(*adjusted_where)
        with self._store.transaction() as conn:
            for cycle_id, ledger_id, amount in conn.execute(drawn):
                out[int(cycle_id), int(ledger_id), "redeemed"] += int(amount)
            for cycle_id, ledger_id, kind, amount in conn.execute(posted):
                out[int(cycle_id), int(ledger_id), "redeemed" if kind == "draw" else "returned"] += int(amount)
            open_ = conn.execute(unsettled).all()
            returns = conn.execute(returned).all()
            adjustments = conn.execute(adjusted).all()
        holds = [x for x in open_ if x.kind == "draw" and x.flags & TransferFlags.pending]
        states = self._pending_states([int(h.transfer_id) for h in holds])
        for h in holds:
            if states.get(int(h.transfer_id)) is PendingState.pending:  # an expired hold reserves nothing
                out[int(h.cycle_id), int(h.ledger_id), "held"] += int(h.amount)
        settled = [x for x in open_ if not (x.kind == "draw" and x.flags & TransferFlags.pending)]
        applied = self._amounts([int(x.transfer_id) for x in settled])  # a plain draw, or a post, the ledger holds
        for x in settled:
            out[int(x.cycle_id), int(x.ledger_id), "redeemed"] += applied.get(int(x.transfer_id), 0)
        applied = self._amounts([int(back.transfer_id) for back in returns])
        for back in returns:
            out[int(back.cycle_id), int(back.ledger_id), "returned"] += applied.get(int(back.transfer_id), 0)
        applied = self._amounts([int(adj.transfer_id) for adj in adjustments])
        for adj in adjustments:
            if int(adj.transfer_id) in applied:  # written before the ledger saw it: counts once it did
                what = "back_pay" if adj.kind == "back_pay" else "returned"
                out[int(adj.cycle_id), int(adj.ledger_id), what] += int(adj.amount)
        return out

    def _pending_states(self, ids: Sequence[int]) -> dict[int, PendingState]:
        out: dict[int, PendingState] = {}
        for start in range(0, len(ids), BATCH_SIZE_MAX):
            out.update(self._ledger.lookup_pending_states(list(ids[start : start + BATCH_SIZE_MAX])))
        return out

    def _unit(self, ledger_id: int) -> LedgerUnit:
        found = self._units.get(ledger_id)
        if found is None:
            raise NotFoundError("ledger", f"no ledger {ledger_id} is registered")
        return found

    # -- shops ------------------------------------------------------------------------------------------------

    def outlet_statement(self, outlet_id: str, day: dt.date | tuple[int, int]) -> Statement:
        """The outlet's statement for a UTC day, or a ``(from_ns, to_ns)`` span of at most 31 days."""
        outlet = self._outlets.get(outlet_id)
        from_ns, to_ns = _span(day)
        r, d = redemptions, redemption_transfers
        query = (
            select(r)
            .where(r.c.outlet_id == outlet.id, r.c.created_at_ns >= from_ns, r.c.created_at_ns < to_ns)
            .order_by(r.c.created_at_ns, r.c.id)
            .limit(STATEMENT_REDEMPTIONS_MAX + 1)
        )
        with self._store.transaction() as conn:
            found = conn.execute(query).all()
            if len(found) > STATEMENT_REDEMPTIONS_MAX:
                raise InvalidInputError(
                    "date", f"more than {STATEMENT_REDEMPTIONS_MAX} redemptions in the span: ask for a shorter one"
                )
            moves = conn.execute(
                select(d).where(
                    d.c.outlet_id == outlet.id,
                    d.c.redemption_id.in_(
                        select(r.c.id).where(
                            and_(r.c.outlet_id == outlet.id, r.c.created_at_ns >= from_ns, r.c.created_at_ns < to_ns)
                        )
                    ),
                )
            ).all()
        by_redemption: dict[str, list[Any]] = defaultdict(list)
        held_ids = {row.id for row in found if row.status == _HELD}
        posting_ids = {row.id for row in found if row.status == _POSTING}
        kinds: dict[int, str] = {}
        for m in moves:
            by_redemption[m.redemption_id].append(m)
            kinds[int(m.transfer_id)] = m.kind
        holds = [int(m.transfer_id) for m in moves if m.kind == "draw" and m.redemption_id in held_ids]
        live = {i for i, state in self._pending_states(holds).items() if state is PendingState.pending}
        unsure = [int(m.transfer_id) for m in moves if m.redemption_id in posting_ids]
        applied = {i for i, amount in self._amounts(unsure).items() if amount}
        entries = [self._entry(row, by_redemption[row.id], kinds, live | applied) for row in found]
        return Statement(
            outlet.id, outlet.name, from_ns, to_ns, tuple(entries), _totals(entries), self._co_payments(entries),
            tuple(self._movement(a, from_ns, to_ns) for a in outlet.accounts),
        )  # fmt: skip

    def _entry(self, row: Any, moves: list[Any], kinds: dict[int, str], known: set[int]) -> StatementEntry:
        """One redemption as the ledger has it; ``known``: the holds it keeps and the sent-but-unrecorded it applied."""
        if row.status == _REDEEMED:
            drawn = [(m.ledger_id, m.amount) for m in moves if m.kind == "draw"]
            paid = [(m.ledger_id, m.amount) for m in moves if m.kind == "co_payment"]
        elif row.status == _POSTED:  # a hold's co-payment is taken when it is posted, for what was poured
            settled = [(kinds.get(m.pending_id), m.ledger_id, m.amount) for m in moves if m.kind == "post"]
            drawn = [(ledger_id, amount) for kind, ledger_id, amount in settled if kind == "draw"]
            paid = [(ledger_id, amount) for kind, ledger_id, amount in settled if kind == "co_payment"]
            paid += [(m.ledger_id, m.amount) for m in moves if m.kind == "co_payment" and m.pending_id is None]
        elif row.status in _UNSETTLED:  # a hold the ledger keeps; a chain it applied before a crash
            drawn = [(m.ledger_id, m.amount) for m in moves if m.kind == "draw" and int(m.transfer_id) in known]
            paid = [(m.ledger_id, m.amount) for m in moves if m.kind == "co_payment" and int(m.transfer_id) in known]
        else:
            drawn, paid = [], []
        per: dict[int, int] = defaultdict(int)
        for ledger_id, amount in drawn:
            per[int(ledger_id)] += int(amount)
        co_payment, method = None, row.co_payment_method
        if paid:  # paid through the ledger: from the person's wallet, whatever the row says
            co_payment, method = self._drawn(int(paid[0][0]), sum(int(a) for _, a in paid)), "wallet"
        elif row.co_payment and row.co_payment_method == "cash" and row.status in (_REDEEMED, _POSTED):
            currency = self._currency(row.programme)
            if currency is not None:
                co_payment = self._drawn(currency, int(row.co_payment))
        return StatementEntry(
            int(row.created_at_ns), row.id, row.programme, masked(row.person), row.status, _items(row.items),
            tuple(self._drawn(k, v) for k, v in sorted(per.items())), co_payment, method,
        )  # fmt: skip

    def _drawn(self, ledger_id: int, amount: int) -> Drawn:
        unit = self._unit(ledger_id)
        return Drawn(unit.name, ledger_id, unit.unit, unit.decimals, amount)

    def _currency(self, programme_id: str) -> int | None:
        known = self._programmes.known(programme_id)
        if known is None or known.currency is None:
            return None
        return next((u.id for u in self._units.all() if u.name == known.currency), None)

    def _co_payments(self, entries: Iterable[StatementEntry]) -> tuple[CoPaymentTotal, ...]:
        sums: dict[tuple[str, str, int], int] = defaultdict(int)
        for e in entries:
            if e.co_payment is not None:
                sums[e.programme, e.co_payment_method or "", e.co_payment.ledger_id] += e.co_payment.amount
        out = []
        for (programme, method, ledger_id), amount in sorted(sums.items()):
            unit = self._unit(ledger_id)
            out.append(CoPaymentTotal(programme, method, unit.name, ledger_id, unit.unit, unit.decimals, amount))
        return tuple(out)

    def _movement(self, account_id: int, from_ns: int, to_ns: int) -> AccountMovement:
        """An account's posted balance at ``from_ns`` and ``to_ns`` and what moved between, walking back from now."""
        [account] = self._ledger.lookup_accounts([account_id])
        unit = self._unit(account.ledger)
        history = self._ledger.get_account_transfers(account_id, limit=BATCH_SIZE_MAX, reverse=True)
        after = credits = debits = 0
        reached = len(history) < BATCH_SIZE_MAX
        for t in history:
            if t.timestamp < from_ns:
                reached = True
                break
            if t.flags & (TransferFlags.pending | TransferFlags.void_pending_transfer):
                continue  # a hold and its release move no posted balance; its post does
            effect = t.amount if t.credit_account_id == account_id else -t.amount
            if t.timestamp >= to_ns:
                after += effect
            elif effect > 0:
                credits += effect
            else:
                debits -= effect
        if not reached:
            return AccountMovement(account_id, unit.name, unit.id, unit.unit, unit.decimals, None, None, None, None)
        closing = account.credits_posted - account.debits_posted - after
        return AccountMovement(
            account_id,
            unit.name,
            unit.id,
            unit.unit,
            unit.decimals,
            closing - credits + debits,
            credits,
            debits,
            closing,
        )

    @staticmethod
    def to_csv(rows: Sequence[Any], row_type: type[Any] | None = None) -> str:
        """Rows as CSV (``report_csv.to_csv``): a header, stable columns, amounts as decimal strings."""
        return to_csv(rows, row_type)


def _span(day: object) -> tuple[int, int]:
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date | tuple):
        raise InvalidInputError("date", "a UTC date, or a [from, to) span in nanoseconds")
    if isinstance(day, dt.date):
        return day_span(day)
    if len(day) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in day):  # noqa: PLR2004
        raise InvalidInputError("date", "a span is two times in nanoseconds: [from, to)")
    from_ns, to_ns = day
    if not 0 <= from_ns < to_ns <= ID_LIMIT or to_ns - from_ns > STATEMENT_SPAN_MAX_NS:
        raise InvalidInputError("date", "a span runs forwards, at most 31 days")
    return from_ns, to_ns


def _items(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # kept as written: a statement shows what was recorded


def _totals(entries: Iterable[StatementEntry]) -> tuple[StatementTotal, ...]:
    sums: dict[tuple[str, int], list[Any]] = {}
    for e in entries:
        for d in e.drawn:
            key = (e.programme, d.ledger_id)
            total = sums.setdefault(key, [d, 0, 0])
            total[2 if e.status == _HELD else 1] += d.amount
    return tuple(
        StatementTotal(programme, d.ledger, d.ledger_id, d.unit, d.decimals, redeemed, held)
        for (programme, _), (d, redeemed, held) in sorted(sums.items())
    )
