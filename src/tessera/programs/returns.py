"""The end of a cycle's validity: a notice to each person beforehand, then what was not spent returns.

Issue 19: "at the end of validity, what was not spent returns to the programme, with a notice to
the person beforehand". Two steps, each an officer's, each resumable and never done twice:

- ``notify_expiring`` tells every unit the cycle paid that still has something of that cycle's
  credit how much, of what, until when and where it may be spent: an ``entitlement_expiring``
  notice (informational, nothing to appeal), at most once per unit and cycle. Units go in seq
  order, a batch at a time; each batch's notices and the progress (``expiry_through_seq`` in
  ``cycle_followups``) commit together, so a second call, or one after a crash, adds none twice.
  It is refused earlier than ``days_before`` days before the validity ends (what is left would
  still change a lot).
- ``return_expired`` runs once the validity has ended (the cycle's date plus ``valid_for``) and
  at least ``notice_s`` after the last notice went out; refused before either. For every unit the
  cycle paid, on every line, what is left of that cycle's credit and of any older one (first to
  expire, first spent: ``entitlements.py``) moves from the entitlement account to the line's
  programme account: code ``RETURN_CODE``, ``user_data_64`` the cycle, ids ``return_transfer_ids``
  (bit 61 set, ``disbursement.py``). Each transfer's row in ``entitlement_adjustments`` (kind
  ``return``, reference ``cycle:<id>``) is written before the ledger sees it, so a rerun posts
  the very same transfer (the ledger answers ``exists``) and works out only the others; the
  progress (``return_through_seq``) is recorded after each batch, and the totals per ledger,
  who ran it and when, once it is done.

Scale: no call per unit. A batch's balances come in one ledger read, and the credits that
expire after the cycle's in one read per later cycle (found by their derived ids) and one for
back-pay (``Entitlements.shares``); rates measured in docs/programs.md, "Expiry and returns".
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tessera.auth import Principal
from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.ledger import CreateTransferStatus, Ledger
from tessera.limits import BATCH_SIZE_MAX
from tessera.programs.cycles import Cycle, Cycles, CycleStatus
from tessera.programs.disbursement import return_account, return_transfer_ids, return_transfers
from tessera.programs.entitlements import Entitlements
from tessera.programs.lost_eligibility import followups_in
from tessera.programs.programmes import Line, Programme
from tessera.programs.registered import RegisteredProgramme, RegisteredProgrammes
from tessera.rules import NOTICES_BATCH_MAX, NoticeDraft, NoticeKind, Notices
from tessera.store import Store, cycle_followups, cycle_results, entitlement_adjustments

logger = logging.getLogger(__name__)
NS = 1_000_000_000
DAY_NS = 86_400 * NS
RETURN_NOTICE_S = 3 * 86_400  # the least time between the last expiry notice and the return
DAYS_BEFORE_MAX = 400  # as VALID_FOR_MAX_S: a notice before the cycle's date tells nothing
EXPIRING_CODE = "programme.entitlement_expiring"
_ACCEPTED = (CreateTransferStatus.ok, CreateTransferStatus.exists)

CategoryLabel = Callable[[int], str | None]  # a merchant category's words ("Grocery stores"), or None


@dataclass(frozen=True, slots=True)
class ExpiryNotices:
    """What ``notify_expiring`` did: notices made now, in all for the cycle, and when every one was out."""

    cycle_id: int
    created: int
    total: int
    expires_at_ns: int
    notified_by: str | None
    notified_at_ns: int | None  # None while some units are still to be told


@dataclass(frozen=True, slots=True)
class ReturnRun:
    """What ``return_expired`` did, and the cycle's totals returned per ledger id once it is done."""

    cycle_id: int
    transfers_applied: int
    transfers_existing: int  # found applied: a run finished after a crash
    returned: Mapping[int, int]
    returned_by: str
    returned_at_ns: int
    already_returned: bool  # the cycle was returned before this call: nothing was sent


class Returns:
    """Notices before a cycle's entitlements expire, and the return of what was not spent, through ``ledger``."""

    def __init__(  # noqa: PLR0917 (the composition root passes each part in order)
        self,
        store: Store,
        programmes: RegisteredProgrammes,
        cycles: Cycles,
        entitlements: Entitlements,
        ledger: Ledger,
        notices: Notices,
        *,
        clock: Callable[[], int] = time.time_ns,
        batch_size: int = BATCH_SIZE_MAX,
        notice_s: int = RETURN_NOTICE_S,
        category_label: CategoryLabel = lambda _: None,
    ) -> None:
        if not 1 <= batch_size <= BATCH_SIZE_MAX:
            raise InvalidInputError("batch_size", f"must be 1-{BATCH_SIZE_MAX}")
        if isinstance(notice_s, bool) or not isinstance(notice_s, int) or notice_s < 0:
            raise InvalidInputError("notice_s", "must be a whole number of seconds, 0 or more")
        self._store = store
        self._programmes = programmes
        self._cycles = cycles
        self._entitlements = entitlements
        self._ledger = ledger
        self._notices = notices
        self._clock = clock
        self._batch_size = batch_size
        self._notice_ns = notice_s * NS
        self._category_label = category_label

    # -- notices before expiry ---------------------------------------------------------------------------------------

    def notify_expiring(self, programme_id: str, cycle_id: int, *, by: Principal, days_before: int) -> ExpiryNotices:
        """Tell each unit with something of the cycle left how much, until when, and where; once per unit and cycle."""
        if isinstance(days_before, bool) or not isinstance(days_before, int) or not 0 <= days_before <= DAYS_BEFORE_MAX:
            raise InvalidInputError("days_before", f"must be a whole number of days, 0-{DAYS_BEFORE_MAX}")
        cycle, registered = self._paid(programme_id, cycle_id, by)
        programme = registered.programme
        expires = self._entitlements.cycle_expiry(cycle.id)
        now = self._clock()
        opens = expires - days_before * DAY_NS
        if now < opens:
            raise ConflictError(
                "days_before",
                f"cycle {cycle.id}'s entitlements expire on {_day(expires)}: notices {days_before} days before "
                f"go out from {_day(opens)}",
            )
        row = self._followups(cycle.id)
        if row.expiry_notified_at_ns is not None:
            return ExpiryNotices(
                cycle.id, 0, row.expiry_notices, expires, row.expiry_notified_by, row.expiry_notified_at_ns
            )
        through, created = int(row.expiry_through_seq), 0
        lines = len(programme.lines)
        while True:
            numbers, seqs = self._page(cycle.id, through, max(self._batch_size // lines, 1))
            if not len(seqs):
                break
            left = np.zeros((len(numbers), lines), np.int64)
            for k in range(lines):
                left[:, k] = self._entitlements.shares(programme, k, numbers, cycle.id).left
            drafts = [
                self._expiry_draft(programme, cycle, str(number), amounts, expires)
                for number, amounts in zip(numbers.tolist(), left.tolist(), strict=True)
                if any(amounts)
            ]
            last = int(seqs[-1])
            with self._store.transaction(write=True) as conn:  # the batch's notices and its progress, or neither
                moved = conn.execute(
                    update(cycle_followups)
                    .where(cycle_followups.c.cycle_id == cycle.id, cycle_followups.c.expiry_through_seq == through)
                    .values(
                        expiry_through_seq=last,
                        expiry_notices=cycle_followups.c.expiry_notices + len(drafts),
                        expiry_notified_by=by.id,
                    )
                ).rowcount
                if moved != 1:
                    raise ConflictError("cycle", f"cycle {cycle.id}'s expiry notices are being sent by another run")
                for start in range(0, len(drafts), NOTICES_BATCH_MAX):
                    self._notices.create_in(conn, drafts[start : start + NOTICES_BATCH_MAX])
            through, created = last, created + len(drafts)
            logger.info("cycle %s: expiry notices through seq %s, %s made by this run", cycle.id, last, created)
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(cycle_followups)
                .where(cycle_followups.c.cycle_id == cycle.id, cycle_followups.c.expiry_notified_at_ns.is_(None))
                .values(expiry_notified_at_ns=now, expiry_notified_by=by.id)
            )
        row = self._followups(cycle.id)
        logger.info("cycle %s: %s expiry notices in all, by %s", cycle.id, row.expiry_notices, by.id)
        return ExpiryNotices(
            cycle.id, created, row.expiry_notices, expires, row.expiry_notified_by, row.expiry_notified_at_ns
        )

    def _expiry_draft(
        self, programme: Programme, cycle: Cycle, number: str, amounts: list[int], expires: int
    ) -> NoticeDraft:
        what = "; ".join(
            _quantity(line, amount) for line, amount in zip(programme.lines, amounts, strict=True) if amount
        )
        where = ", ".join(
            f"{mcc} ({label})" if (label := self._category_label(mcc)) else str(mcc)
            for mcc in sorted(programme.merchant_categories)
        )
        text = (
            f"Left of your {programme.name} entitlement of {_day(cycle.cycle_date_ns)}: {what}. It may be spent "
            f"until {_day(expires)} (UTC) at merchant categories {where}; what is left then returns to the programme."
        )
        return NoticeDraft(
            number, NoticeKind.entitlement_expiring, programme.basis.id, EXPIRING_CODE, text[:1000],
            f"cycle:{cycle.id}", expires,
        )  # fmt: skip

    # -- the return --------------------------------------------------------------------------------------------------

    def return_expired(self, programme_id: str, cycle_id: int, *, by: Principal) -> ReturnRun:
        """Return each unit's expired remainder of the cycle (and older) to the programme; again, nothing twice."""
        cycle, registered = self._paid(programme_id, cycle_id, by)
        programme = registered.programme
        expires = self._entitlements.cycle_expiry(cycle.id)
        now = self._clock()
        if now < expires:
            raise ConflictError(
                "cycle", f"cycle {cycle.id}'s entitlements are valid until {_day(expires)}: nothing returns before"
            )
        row = self._followups(cycle.id)
        if row.returned_at_ns is not None:
            return ReturnRun(
                cycle.id, 0, 0, _totals(row.returned), row.returned_by, row.returned_at_ns, already_returned=True
            )
        notified = row.expiry_notified_at_ns
        if notified is None:
            raise ConflictError(
                "notices",
                f"no notice of expiry has gone out to every unit of cycle {cycle.id}: send them first "
                "(notify-expiry); the person is told before anything returns",
            )
        if now < notified + self._notice_ns:
            raise ConflictError(
                "notices",
                f"cycle {cycle.id}'s expiry notices went out on {_day(notified)}: what is left returns from "
                f"{_day(notified + self._notice_ns)}, {self._notice_ns // DAY_NS} days after",
            )
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(cycle_followups)
                .where(cycle_followups.c.cycle_id == cycle.id, cycle_followups.c.returned_by.is_(None))
                .values(returned_by=by.id, return_started_at_ns=now)
            )
        through, applied, existing = int(row.return_through_seq), 0, 0
        lines = len(programme.lines)
        while True:
            numbers, seqs = self._page(cycle.id, through, max(self._batch_size // lines, 1))
            if not len(seqs):
                break
            ok, found = self._return_batch(registered, cycle, now, numbers, seqs, by=by.id)
            applied, existing = applied + ok, existing + found
            last = int(seqs[-1])
            with self._store.transaction(write=True) as conn:
                conn.execute(
                    update(cycle_followups)
                    .where(cycle_followups.c.cycle_id == cycle.id)
                    .values(return_through_seq=last)
                )
            through = last
            logger.info(
                "cycle %s: returned through seq %s (%s transfers applied, %s found applied)",
                cycle.id, last, applied, existing,
            )  # fmt: skip
        reference = f"cycle:{cycle.id}"
        query = (
            select(entitlement_adjustments.c.ledger_id, func.sum(entitlement_adjustments.c.amount))
            .where(entitlement_adjustments.c.reference == reference, entitlement_adjustments.c.kind == "return")
            .group_by(entitlement_adjustments.c.ledger_id)
        )
        with self._store.transaction(write=True) as conn:
            totals = {int(ledger_id): int(amount) for ledger_id, amount in conn.execute(query)}
            conn.execute(
                update(cycle_followups)
                .where(cycle_followups.c.cycle_id == cycle.id, cycle_followups.c.returned_at_ns.is_(None))
                .values(returned_at_ns=now, returned=json.dumps({str(k): v for k, v in sorted(totals.items())}))
            )
        row = self._followups(cycle.id)
        logger.info("cycle %s returned by %s: %s", cycle.id, by.id, totals)
        return ReturnRun(
            cycle.id,
            applied,
            existing,
            _totals(row.returned),
            row.returned_by,
            row.returned_at_ns,
            already_returned=False,
        )

    def _return_batch(
        self,
        registered: RegisteredProgramme,
        cycle: Cycle,
        now: int,
        numbers: npt.NDArray[np.str_],
        seqs: npt.NDArray[np.int64],
        *,
        by: str,
    ) -> tuple[int, int]:
        """Record, then post, one batch's returns; transfers recorded by an earlier run are posted as recorded."""
        programme = registered.programme
        lines = len(programme.lines)
        packed, rows = [], []
        for k, line in enumerate(programme.lines):
            ids = return_transfer_ids(cycle.id, seqs, k, lines)
            recorded = self._recorded(ids)
            had = np.isin(ids, np.array(sorted(recorded), np.uint64))
            amounts = np.zeros(len(ids), np.int64)
            amounts[had] = [recorded[i] for i in ids[had].tolist()]
            todo = np.flatnonzero(~had)
            amounts[todo] = self._entitlements.shares(programme, k, numbers[todo], cycle.id).returnable
            for i in todo[amounts[todo] > 0].tolist():
                rows.append({
                    "transfer_id": int(ids[i]), "kind": "return", "programme": programme.id, "cycle_id": cycle.id,
                    "ledger_id": line.ledger_id, "person": str(numbers[i]), "amount": int(amounts[i]),
                    "reference": f"cycle:{cycle.id}", "made_by": by, "made_at_ns": now,
                })  # fmt: skip
            pays = amounts > 0
            credit = return_account(programme, line.ledger_id, registered.funding, self._ledger)  # cash: its own
            packed.append(
                return_transfers(
                    programme, cycle.id, k, credit, numbers=numbers[pays], seqs=seqs[pays], amounts=amounts[pays]
                )
            )
        if rows:
            try:
                with self._store.transaction(write=True) as conn:  # before the ledger sees them: a retry posts the same
                    conn.execute(insert(entitlement_adjustments), rows)
            except IntegrityError:
                raise ConflictError("cycle", f"cycle {cycle.id} is being returned by another run") from None
        transfers = np.concatenate(packed)
        if not len(transfers):
            return 0, 0
        statuses = self._ledger.create_transfers(transfers).statuses
        bad = ~np.isin(statuses, _ACCEPTED)
        if bad.any():
            # The ledger applied none of these: their records go, so a rerun works them out afresh.
            refused = transfers["id"][bad].tolist()
            with self._store.transaction(write=True) as conn:
                conn.execute(delete(entitlement_adjustments).where(entitlement_adjustments.c.transfer_id.in_(refused)))
            k = int(np.flatnonzero(bad)[0])
            raise ConflictError("ledger", _refusal(transfers[k], CreateTransferStatus(int(statuses[k]))))
        return int((statuses == CreateTransferStatus.ok).sum()), int((statuses == CreateTransferStatus.exists).sum())

    # -- reads -------------------------------------------------------------------------------------------------------

    def _paid(self, programme_id: str, cycle_id: int, by: Principal) -> tuple[Cycle, RegisteredProgramme]:
        cycle = self._cycles.read(cycle_id, by=by)  # an officer of an agency the programme's basis names
        if cycle.programme != programme_id:
            raise NotFoundError("cycle", f"no cycle {cycle_id} of programme {programme_id!r:.80}")
        if cycle.status not in (CycleStatus.disbursed, CycleStatus.closed):
            raise ConflictError(
                "status", f"cycle {cycle_id} is {cycle.status.value}: only a disbursed cycle has entitlements to expire"
            )
        return cycle, self._programmes.get(cycle.programme, cycle.version)

    def _followups(self, cycle_id: int) -> Any:
        """The cycle's row of ``cycle_followups``, made on first use."""
        with self._store.transaction(write=True) as conn:
            row = followups_in(conn, cycle_id)
        return row

    def _page(self, cycle_id: int, after: int, limit: int) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64]]:
        """The numbers and seqs of the units the cycle paid, in seq order, after ``after``."""
        query = (
            select(cycle_results.c.person, cycle_results.c.seq)
            .where(
                cycle_results.c.cycle_id == cycle_id, cycle_results.c.eligible.is_(True), cycle_results.c.seq > after
            )
            .order_by(cycle_results.c.seq)
            .limit(limit)
        )
        with self._store.transaction() as conn:
            rows = conn.execute(query).all()
        return np.array([r.person for r in rows], dtype=np.str_), np.array([r.seq for r in rows], np.int64)

    def _recorded(self, ids: npt.NDArray[np.uint64]) -> dict[int, int]:
        """Return transfers recorded already among ``ids``: id -> amount."""
        query = select(entitlement_adjustments.c.transfer_id, entitlement_adjustments.c.amount).where(
            entitlement_adjustments.c.transfer_id.in_(ids.tolist())
        )
        with self._store.transaction() as conn:
            return {int(t): int(a) for t, a in conn.execute(query)}


def _quantity(line: Line, amount: int) -> str:
    whole, part = divmod(amount, 10**line.decimals)
    shown = f"{whole}.{part:0{line.decimals}d}" if line.decimals else str(whole)
    return f"{shown} {line.unit}" + (f" of {line.commodity}" if line.commodity else "")


def _day(at_ns: int) -> str:
    return datetime.datetime.fromtimestamp(at_ns / NS, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M")


def _totals(text: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in json.loads(text).items()}


def _refusal(transfer: Any, status: CreateTransferStatus) -> str:
    account, amount = int(transfer["debit_account_id"]), int(transfer["amount"])
    if status is CreateTransferStatus.category_not_allowed:
        return (
            f"the ledger refuses to move {amount} from entitlement account {account} to programme account "
            f"{int(transfer['credit_account_id'])} (category_not_allowed): the entitlement was opened before its "
            "earmark listed the programme's returns account"
        )
    return f"returning {amount} from entitlement account {account} was refused ({status.name}); run the return again"
