"""A programme's cycles: draft → previewed → approved (by another officer) → disbursed → closed.

Every step names its actor and time, in the store. A preview may be run again until the cycle
is approved; approval freezes it. Approval is refused to the officer who previewed (four
eyes), to a cycle not previewed, and to a cycle over budget when the programme says
``refuse`` (``pro_rate`` scales every entitlement instead, as the preview showed).

Approval tells each unit the programme's previous disbursed cycle paid, and this one does not,
why, and how to appeal (``lost_eligibility.py``), when the cycles are given ``eligibility_loss``.

Disbursement pays the frozen preview through the ledger in packed batches (``disbursement.py``):
the new entitlement accounts' holders recorded on a thread of their own, a stretch of about a
million at a time (each table in its key order, one transaction each), while batch by batch, each
once its stretch is recorded, the new accounts are opened (on a thread of their own, beside the
batch before's transfers) and the transfers from each line's programme account applied once
they are, each batch's transfers durable before the next's, and ``batches_done`` recorded
after each group of eight (not while a stretch is being recorded). A crash at any point is
finished by disbursing again: batches already recorded are skipped, and the group in
flight is sent again, where the ledger answers ``exists`` for what it had applied. A second
disbursement of a disbursed cycle pays nothing and answers what was done. One call at a time
disburses a cycle: it holds the store's lock on the cycle for the run (``Store.exclusive``),
and a call meanwhile, from any thread or server, is refused with ConflictError; the lock dies
with a killed run, so disbursing again after a crash takes it at once.

Every step is an officer's of an agency the programme's legal basis names, when it names any
(``check_programme_officer``): the basis of the version the cycle runs, or for a new cycle of
the latest; an officer of another agency is refused with ForbiddenError naming ``programme``.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, delete, insert, select, update

from tessera.auth import Principal
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.ledger import AccountFlags, CreateAccountStatus, CreateTransferStatus, Ledger
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT, PAGE_SIZE_MAX
from tessera.programs.disbursement import disbursement_transfers, entitlement_accounts
from tessera.programs.gathering import Population
from tessera.programs.lost_eligibility import EligibilityLoss
from tessera.programs.outlets import check_programme_officer
from tessera.programs.payable import payable_columns
from tessera.programs.preview import CompiledProgramme, LineTotal, Preview, preview
from tessera.programs.programmes import OverBudget, Programme
from tessera.programs.registered import RegisteredProgramme, RegisteredProgrammes
from tessera.store import Store, cycle_results, principals, programme_cycles

logger = logging.getLogger(__name__)
_GROUP_BATCHES = 8  # batches paid between two records of ``batches_done``
_HOLDERS_CHUNK = 128 * BATCH_SIZE_MAX  # new accounts' holders handed to the pass at once: one store transaction


class CycleStatus(StrEnum):
    """Where a cycle stands."""

    draft = "draft"
    previewed = "previewed"
    approved = "approved"
    disbursing = "disbursing"  # begun: disbursing again finishes it
    disbursed = "disbursed"
    closed = "closed"


@dataclass(frozen=True, slots=True)
class Step:
    """Who took a step of a cycle, and when."""

    by: str  # principal id
    at_ns: int


@dataclass(frozen=True, slots=True)
class Cycle:
    """A cycle and every step taken so far; totals per line once previewed."""

    id: int
    programme: str
    version: int
    cycle_date_ns: int
    status: CycleStatus
    created: Step
    previewed: Step | None
    approved: Step | None
    disbursed: Step | None
    closed: Step | None
    units: int
    eligible: int
    totals: tuple[LineTotal, ...]
    over_budget: OverBudget | None  # what approval does (refuse, pro-rate); None within budget
    batches_done: int


@dataclass(frozen=True, slots=True)
class UnitResult:
    """One unit of a preview: the person paid, eligible or not and why, and each line's amount before pro-rating."""

    seq: int
    person: str
    holder: str
    eligible: bool
    reason: str  # "" for the eligible
    amounts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DisbursementTimes:
    """Wall seconds one call to ``disburse`` spent on each part (for benchmarks and logs)."""

    read_s: float = 0.0  # the frozen preview read back from the store, and the batches packed
    accounts_s: float = 0.0  # entitlement accounts looked up in the ledger, and the new ones opened
    holders_s: float = 0.0  # waited for the new accounts' holders to be recorded (on the pass's own thread)
    ledger_s: float = 0.0  # the transfers applied, durable
    progress_s: float = 0.0  # ``batches_done`` recorded after each group of batches, and the cycle's status


@dataclass(frozen=True, slots=True)
class Disbursement:
    """What one call to ``disburse`` did: transfers applied now, found already applied, batches in all."""

    cycle: Cycle
    transfers_applied: int
    transfers_existing: int
    batches: int
    already_disbursed: bool  # the cycle was disbursed before this call: nothing was sent
    times: DisbursementTimes = DisbursementTimes()


Gather = Callable[[CompiledProgramme, int], Population]  # the programme's facts on the cycle's date (ns)
Compile = Callable[[Programme], CompiledProgramme]


class Cycles:
    """The cycles of registered programmes, kept in the store, paid through ``ledger``."""

    def __init__(
        self,
        store: Store,
        programmes: RegisteredProgrammes,
        ledger: Ledger,
        *,
        compile_programme: Compile,
        gather: Gather,
        batch_size: int = BATCH_SIZE_MAX,
        eligibility_loss: EligibilityLoss | None = None,
    ) -> None:
        if not 1 <= batch_size <= BATCH_SIZE_MAX:
            raise InvalidInputError("batch_size", f"must be 1-{BATCH_SIZE_MAX}")
        self._store = store
        self._programmes = programmes
        self._ledger = ledger
        self._compile = compile_programme
        self._gather = gather
        self._batch_size = batch_size
        self._loss = eligibility_loss
        self._compiled: dict[tuple[str, int], CompiledProgramme] = {}

    # -- steps ----------------------------------------------------------------------------------------------------

    def create(self, programme_id: str, cycle_date_ns: int, *, by: Principal) -> Cycle:
        """A draft cycle of the latest version of ``programme_id``, dated ``cycle_date_ns``."""
        if isinstance(cycle_date_ns, bool) or not isinstance(cycle_date_ns, int) or not 0 <= cycle_date_ns < ID_LIMIT:
            raise InvalidInputError("cycle_date", "must be a time in nanoseconds since the epoch")
        registered = self._programmes.get(programme_id)
        check_programme_officer(by, registered.programme)
        row = {
            "programme": programme_id,
            "version": registered.version,
            "cycle_date_ns": cycle_date_ns,
            "status": CycleStatus.draft.value,
            "created_by": by.id,
            "created_at_ns": time.time_ns(),
            "units": 0,
            "eligible": 0,
            "totals": "{}",
            "batches_done": 0,
        }
        with self._store.transaction(write=True) as conn:
            cycle_id = conn.execute(insert(programme_cycles).values(**row)).inserted_primary_key[0]  # type: ignore[index]
        logger.info("cycle %s of %s v%s created by %s", cycle_id, programme_id, registered.version, by.id)
        return self.get(int(cycle_id))

    def preview(self, cycle_id: int, *, by: Principal) -> tuple[Cycle, Preview]:
        """Work out every unit's eligibility and amounts, and record them with the totals; again until approved."""
        cycle = self._in(self.read(cycle_id, by=by), (CycleStatus.draft, CycleStatus.previewed), "preview")
        compiled = self._compiled_of(cycle.programme, cycle.version)
        found = preview(compiled, self._gather(compiled, cycle.cycle_date_ns))
        totals = {
            "lines": [
                {"ledger": t.ledger, "ledger_id": t.ledger_id, "asked": t.asked, "budget": t.budget, "paid": t.paid}
                for t in found.totals
            ],
            "over_budget": None if found.over_budget is None else found.over_budget.value,
        }
        values = {
            "status": CycleStatus.previewed.value,
            "previewed_by": by.id,
            "previewed_at_ns": time.time_ns(),
            "units": len(found.population),
            "eligible": int(found.eligible.sum()),
            "totals": json.dumps(totals),
        }
        with self._store.transaction(write=True) as conn:  # the results and the step together, or neither
            moved = conn.execute(
                update(programme_cycles)
                .where(programme_cycles.c.id == cycle_id, programme_cycles.c.status.in_(["draft", "previewed"]))
                .values(**values)
            ).rowcount
            if moved != 1:
                raise ConflictError("status", f"cycle {cycle_id} was approved while it was previewed")
            conn.execute(delete(cycle_results).where(cycle_results.c.cycle_id == cycle_id))
            _write_results(conn, cycle_id, found)
        logger.info(
            "cycle %s previewed by %s: %s of %s units eligible", cycle_id, by.id, values["eligible"], values["units"]
        )
        return self.get(cycle_id), found

    def approve(self, cycle_id: int, *, by: Principal) -> Cycle:
        """Approve a previewed cycle: another officer than the one who previewed it; within budget unless pro-rated."""
        cycle = self.read(cycle_id, by=by)
        if cycle.status is CycleStatus.draft:
            raise ConflictError("status", f"cycle {cycle_id} has not been previewed: preview it before approving it")
        if cycle.status is not CycleStatus.previewed:
            raise ConflictError("status", f"cycle {cycle_id} is {cycle.status.value}: it was approved already")
        assert cycle.previewed is not None, "a previewed cycle names who previewed it"
        if cycle.previewed.by == by.id:
            raise ForbiddenError(
                f"approved_by: cycle {cycle_id} was previewed by {by.id}; another officer must approve it (four eyes)"
            )
        if cycle.over_budget is OverBudget.refuse:
            over = next(t for t in cycle.totals if t.over_budget)
            raise ConflictError(
                "budget",
                f"cycle {cycle_id} asks {over.asked} on {over.ledger}, over its budget of {over.budget} by "
                f"{over.asked - over.budget}, and programme {cycle.programme!r} refuses a cycle over budget",
            )
        with self._store.transaction(write=True) as conn:
            moved = conn.execute(
                update(programme_cycles)
                .where(programme_cycles.c.id == cycle_id, programme_cycles.c.status == CycleStatus.previewed.value)
                .values(status=CycleStatus.approved.value, approved_by=by.id, approved_at_ns=time.time_ns())
            ).rowcount
        if moved != 1:
            raise ConflictError("status", f"cycle {cycle_id} changed while it was approved: read it again")
        logger.info("cycle %s approved by %s (previewed by %s)", cycle_id, by.id, cycle.previewed.by)
        self._tell_lost(cycle)
        return self.get(cycle_id)

    def disburse(self, cycle_id: int, *, by: Principal) -> Disbursement:
        """Pay an approved cycle, or finish one a crash interrupted; a disbursed cycle answers what was done.

        ConflictError naming ``status`` while another call disburses the same cycle.
        """
        cycle = self.read(cycle_id, by=by)
        if cycle.status in (CycleStatus.disbursed, CycleStatus.closed):
            return Disbursement(cycle, 0, 0, cycle.batches_done, True)
        if cycle.status not in (CycleStatus.approved, CycleStatus.disbursing):
            raise ConflictError("status", f"cycle {cycle_id} is {cycle.status.value}: only an approved cycle is paid")
        self._tell_lost(cycle)  # done at approval; a crash between the two is made good here
        busy = ConflictError(
            "status", f"cycle {cycle_id} is being disbursed by another call; try again when it finishes"
        )
        with self._store.exclusive(f"cycle-disbursement-{cycle_id}", lambda: busy):
            cycle = self.get(cycle_id)  # again, under the lock: the call that held it may have finished the cycle
            if cycle.status in (CycleStatus.disbursed, CycleStatus.closed):
                return Disbursement(cycle, 0, 0, cycle.batches_done, True)
            return self._disburse(cycle, by.id)

    def _disburse(self, cycle: Cycle, by: str) -> Disbursement:
        """Pay ``cycle`` (approved, or left disbursing by a crash), its lock held, from the first batch not done."""
        cycle_id = cycle.id
        if cycle.status is CycleStatus.approved:
            with self._store.transaction(write=True) as conn:
                conn.execute(
                    update(programme_cycles)
                    .where(programme_cycles.c.id == cycle_id, programme_cycles.c.status == "approved")
                    .values(status=CycleStatus.disbursing.value, disbursed_by=by, disbursed_at_ns=time.time_ns())
                )
        clock = _Clock()
        registered = self._programmes.get(cycle.programme, cycle.version)
        plan = self._plan(cycle, registered)
        clock.lap("read")
        with _HoldersPass(self._store) as holders:
            fresh = self._hold(plan, cycle.batches_done, clock, holders)
            applied, existing = self._pay(plan, cycle.batches_done, fresh, clock, holders)
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(programme_cycles)
                .where(programme_cycles.c.id == cycle_id, programme_cycles.c.status == "disbursing")
                .values(status=CycleStatus.disbursed.value)
            )
        clock.lap("progress")
        logger.info("cycle %s disbursed by %s: %s transfers applied, %s found applied", cycle_id, by, applied, existing)
        return Disbursement(self.get(cycle_id), applied, existing, len(plan.starts), False, clock.times())

    def _pay(
        self, plan: _Plan, done: int, fresh: list[npt.NDArray[np.bool_]], clock: _Clock, holders: _HoldersPass
    ) -> tuple[int, int]:
        """Open each batch's new accounts once their holders are in, and apply its transfers: (applied, existing).

        A batch's accounts open on a thread of their own while the batch before's transfers
        apply: the two wait for the ledger's disk together (its group commit), not one after
        the other; its transfers wait for them. ``batches_done`` is recorded after each group
        of batches, except while the holders' pass is in a transaction: a progress write would
        wait for its commit (seconds at 10M units) and hold the ledger up; a crash then
        re-sends a little more, answered ``exists``.
        """
        cycle_id, applied, existing = plan.cycle_id, 0, 0
        with ThreadPoolExecutor(1, thread_name_prefix="cycle-accounts") as opener:
            opening = opener.submit(self._opened, plan, done, fresh[0], holders) if done < len(plan.starts) else None
            for first in range(done, len(plan.starts), _GROUP_BATCHES):
                indices = range(first, min(first + _GROUP_BATCHES, len(plan.starts)))
                for index in indices:
                    transfers = plan.transfers(index)
                    clock.lap("read")
                    assert opening is not None, "each batch's accounts are being opened before its transfers apply"
                    clock.waited(opening.result())  # its holders waited for, then the accounts opened
                    if index + 1 < len(plan.starts):
                        opening = opener.submit(self._opened, plan, index + 1, fresh[index + 1 - done], holders)
                    paid = self._ledger.create_transfers(transfers).statuses
                    clock.lap("ledger")
                    bad = (paid != CreateTransferStatus.ok) & (paid != CreateTransferStatus.exists)
                    if bad.any():
                        k = int(np.flatnonzero(bad)[0])
                        reason = CreateTransferStatus(int(paid[k])).name
                        raise ConflictError(
                            "funding",
                            f"batch {index + 1} of {len(plan.starts)} refused ({reason}) paying "
                            f"{int(transfers['amount'][k])} from programme account "
                            f"{int(transfers['debit_account_id'][k])}: fund it and disburse again",
                        )
                    applied += int((paid == CreateTransferStatus.ok).sum())
                    existing += int((paid == CreateTransferStatus.exists).sum())
                if holders.idle():
                    with self._store.transaction(write=True) as conn:  # a crash re-sends from here: found applied
                        conn.execute(
                            update(programme_cycles)
                            .where(programme_cycles.c.id == cycle_id)
                            .values(batches_done=indices.stop)
                        )
                clock.lap("progress")
        return applied, existing

    def _opened(self, plan: _Plan, index: int, new: npt.NDArray[np.bool_], holders: _HoldersPass) -> float:
        """Batch ``index``'s new accounts opened once their holders are recorded: the seconds waited for those."""
        start = time.perf_counter()
        holders.wait_for(index)
        waited = time.perf_counter() - start
        if new.any():  # packed again, not kept from the holders' pass: a cycle's accounts are many
            self._open(plan.accounts(index)[1][new])
        return waited

    def _not_open(self, accounts: npt.NDArray[np.void]) -> npt.NDArray[np.bool_]:
        """Which of a batch's entitlement accounts the ledger has not opened yet.

        One found open must be the one this batch would open, its holder's check value in
        ``user_data_64`` included: a derived id that collided never pays.
        """
        found = self._ledger.lookup_account_records(accounts["id"])
        if len(found) == len(accounts):  # every one open (a later cycle): the records come in the order asked
            fresh = np.zeros(len(accounts), np.bool_)
        else:
            fresh = ~np.isin(accounts["id"], found["id"]) if len(found) else np.ones(len(accounts), np.bool_)
        theirs = found["user_data_64"] != accounts["user_data_64"][~fresh]
        if theirs.any():
            account_id = int(found["id"][np.flatnonzero(theirs)[0]])
            raise ConflictError("accounts", f"entitlement account {account_id} is open for another holder")
        differs = _differs(found, accounts[~fresh])  # what the ledger would answer opening it again
        if differs.any():
            account_id = int(found["id"][np.flatnonzero(differs)[0]])
            reason = CreateAccountStatus.exists_with_different_fields.name
            raise ConflictError("accounts", f"entitlement account {account_id} refused: {reason}")
        return fresh

    def _hold(self, plan: _Plan, done: int, clock: _Clock, holders: _HoldersPass) -> list[npt.NDArray[np.bool_]]:
        """Which of each batch's accounts (from batch ``done``) are not open yet; their holders handed to ``holders``.

        The new accounts' holders go to the pass a stretch of batches at a time (about a
        million accounts: one transaction, each of the store's two tables filled in its key
        order, not a group's few at random, each transaction rewriting pages all over); it
        records them on its own thread while these look-ups, and then the ledger, go on. An account already held (by an
        earlier cycle, or before a crash) costs no write; the store refuses one held by another.
        """
        fresh: list[npt.NDArray[np.bool_]] = []
        ids: list[npt.NDArray[np.uint64]] = []
        held_by: list[npt.NDArray[np.bytes_]] = []
        stretch = _HOLDERS_CHUNK // 8  # the first one small: the pass starts while the rest are looked up
        for index in range(done, len(plan.starts)):
            held, accounts = plan.accounts(index)
            clock.lap("read")
            new = self._not_open(accounts)
            clock.lap("accounts")
            fresh.append(new)
            ids.append(accounts["id"][new])
            held_by.append(held[new])
            if index + 1 == len(plan.starts) or sum(map(len, ids)) + self._batch_size > stretch:
                holders.record(index, np.concatenate(ids), np.concatenate(held_by).astype(np.str_))
                ids, held_by, stretch = [], [], _HOLDERS_CHUNK
        return fresh

    def _open(self, accounts: npt.NDArray[np.void]) -> None:
        """Open entitlement accounts whose holders are recorded; one the ledger refuses stops the run, named."""
        statuses = self._ledger.create_accounts(accounts).statuses
        bad = (statuses != CreateAccountStatus.ok) & (statuses != CreateAccountStatus.exists)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            reason = CreateAccountStatus(int(statuses[k])).name
            raise ConflictError("accounts", f"entitlement account {int(accounts['id'][k])} refused: {reason}")

    def close(self, cycle_id: int, *, by: Principal) -> Cycle:
        """Close a disbursed cycle."""
        cycle = self.read(cycle_id, by=by)
        if cycle.status is not CycleStatus.disbursed:
            raise ConflictError("status", f"cycle {cycle_id} is {cycle.status.value}: only a disbursed cycle closes")
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(programme_cycles)
                .where(programme_cycles.c.id == cycle_id, programme_cycles.c.status == "disbursed")
                .values(status=CycleStatus.closed.value, closed_by=by.id, closed_at_ns=time.time_ns())
            )
        logger.info("cycle %s closed by %s", cycle_id, by.id)
        return self.get(cycle_id)

    # -- reads -------------------------------------------------------------------------------------------------------

    def read(self, cycle_id: int, *, by: Principal) -> Cycle:
        """The cycle for ``by`` to act on: ForbiddenError naming ``programme`` for an officer of another agency."""
        cycle = self.get(cycle_id)
        check_programme_officer(by, self._programmes.get(cycle.programme, cycle.version).programme)
        return cycle

    def get(self, cycle_id: int) -> Cycle:
        """The cycle ``cycle_id``, or NotFoundError naming ``cycle``."""
        with self._store.transaction() as conn:
            row = conn.execute(select(programme_cycles).where(programme_cycles.c.id == cycle_id)).first()
        if row is None:
            raise NotFoundError("cycle", f"no cycle {cycle_id}")
        return _cycle_of(row)

    def of_programme(self, programme_id: str) -> list[Cycle]:
        """Every cycle of ``programme_id``, newest first (at most a page)."""
        query = (
            select(programme_cycles)
            .where(programme_cycles.c.programme == programme_id)
            .order_by(programme_cycles.c.id.desc())
            .limit(PAGE_SIZE_MAX)
        )
        with self._store.transaction() as conn:
            return [_cycle_of(r) for r in conn.execute(query)]

    def results(self, cycle_id: int, *, after: int = -1, limit: int = 100) -> list[UnitResult]:
        """A page of a cycle's per-unit results in order, after ``seq`` ``after``; the reason in words."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE_MAX:
            raise InvalidInputError("limit", f"must be 1-{PAGE_SIZE_MAX}")
        cycle = self.get(cycle_id)
        compiled = self._compiled_of(cycle.programme, cycle.version)
        query = (
            select(cycle_results)
            .where(cycle_results.c.cycle_id == cycle_id, cycle_results.c.seq > after)
            .order_by(cycle_results.c.seq)
            .limit(limit)
        )
        with self._store.transaction() as conn:
            rows = conn.execute(query).all()
        return [
            UnitResult(
                r.seq, r.person, r.holder, bool(r.eligible),
                "" if r.eligible else compiled.reason(int(r.failed), int(r.unreported)),
                tuple(int(a) for a in r.amounts.split(",") if a),
            )
            for r in rows
        ]  # fmt: skip

    def facts_read(self, cycle_id: int) -> list[str]:
        """The facts a cycle's preview reads of each person (``person.age``), sorted."""
        cycle = self.get(cycle_id)
        return sorted(self._compiled_of(cycle.programme, cycle.version).facts)

    def beneficiaries(self, cycle_id: int) -> list[str]:
        """The access-log subject of every person a cycle pays, in order."""
        query = (
            select(principals.c.subject)
            .select_from(cycle_results.join(principals, cycle_results.c.holder == principals.c.id))
            .where(cycle_results.c.cycle_id == cycle_id, cycle_results.c.eligible.is_(True))
            .order_by(cycle_results.c.seq)
        )
        with self._store.transaction() as conn:
            return [str(s) for s in conn.scalars(query)]

    def compiled(self, programme_id: str, version: int) -> CompiledProgramme:
        """A registered programme version compiled, as its cycles judge it: its clauses and reasons in words."""
        return self._compiled_of(programme_id, version)

    def _in(self, cycle: Cycle, statuses: tuple[CycleStatus, ...], doing: str) -> Cycle:
        if cycle.status not in statuses:
            raise ConflictError(
                "status", f"cycle {cycle.id} is {cycle.status.value}: an approved cycle is frozen, so no {doing}"
            )
        return cycle

    def _tell_lost(self, cycle: Cycle) -> None:
        """Notices to the units the previous disbursed cycle paid and this approved one does not (once)."""
        if self._loss is not None:
            compiled = self._compiled_of(cycle.programme, cycle.version)
            self._loss.notify(cycle.id, cycle.cycle_date_ns, compiled.programme, compiled.reason)

    def _compiled_of(self, programme_id: str, version: int) -> CompiledProgramme:
        key = (programme_id, version)
        if key not in self._compiled:
            self._compiled[key] = self._compile(self._programmes.get(programme_id, version).programme)
        return self._compiled[key]

    def _plan(self, cycle: Cycle, registered: RegisteredProgramme) -> _Plan:
        """The cycle's batches, the same on every run: each packed only when paid (a resumed run skips the rest)."""
        with self._store.transaction() as conn:
            numbers, holders, seqs, amounts = payable_columns(conn, cycle.id, len(cycle.totals))
        paid = amounts.copy()
        for k, total in enumerate(cycle.totals):
            if total.over_budget and total.asked > 0:
                paid[:, k] = _pro_rated(amounts[:, k], total.budget, total.asked)
        per_batch = max(self._batch_size // max(len(registered.programme.lines), 1), 1)
        starts = np.arange(0, len(numbers), per_batch)
        if len(starts):  # a stretch of units none of whom is paid is no batch
            starts = starts[np.logical_or.reduceat((paid > 0).any(axis=1), starts)]
        return _Plan(cycle.id, registered, numbers, holders, seqs, paid, per_batch, starts)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A cycle's payable units (by seq), amounts as paid, and where each of its batches starts."""

    cycle_id: int
    registered: RegisteredProgramme
    numbers: npt.NDArray[np.bytes_]  # ASCII
    holders: npt.NDArray[np.bytes_]
    seqs: npt.NDArray[np.int64]
    paid: npt.NDArray[np.int64]  # one column a line, pro-rated where the cycle is
    per_batch: int  # units a batch
    starts: npt.NDArray[np.int64]

    def accounts(self, index: int) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.void]]:
        """Batch ``index``'s entitlement accounts and each one's holder, by seq and line."""
        programme = self.registered.programme
        numbers, holders, _, paid = self._chunk(index)
        held, accounts = [], []
        for k, line in enumerate(programme.lines):
            pays = paid[:, k] > 0
            accounts.append(entitlement_accounts(programme, line.ledger_id, numbers[pays], holders[pays]))
            held.append(holders[pays])
        return np.concatenate(held), np.concatenate(accounts)

    def transfers(self, index: int) -> npt.NDArray[np.void]:
        """Batch ``index``'s transfers, by seq and line (each to the account ``accounts`` packs at its place)."""
        programme = self.registered.programme
        numbers, _, seqs, paid = self._chunk(index)
        transfers = []
        for k, line in enumerate(programme.lines):
            pays = paid[:, k] > 0
            transfers.append(
                disbursement_transfers(
                    programme,
                    self.cycle_id,
                    k,
                    self.registered.funding[line.ledger_id],
                    numbers=numbers[pays],
                    seqs=seqs[pays],
                    amounts=paid[pays, k],
                )
            )
        return np.concatenate(transfers)

    def _chunk(
        self, index: int
    ) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Batch ``index``'s units: numbers, holders, seqs, amounts paid."""
        chunk = slice(int(self.starts[index]), int(self.starts[index]) + self.per_batch)
        return self.numbers[chunk], self.holders[chunk], self.seqs[chunk], self.paid[chunk]


class _HoldersPass:
    """New accounts' holders recorded on a thread of its own, a stretch of batches at a time, in the order handed.

    SQLite runs each batch's insert as one statement with the GIL released, so the ledger's
    batches (whose holders are in) go on beside it; no account opens before its holder is
    recorded. Leaving the block waits for the stretch being recorded and drops the rest.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cycle-holders")
        self._pending: list[tuple[int, Future[None]]] = []  # (the last batch a stretch covers, its recording)

    def __enter__(self) -> _HoldersPass:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def record(self, through: int, ids: npt.NDArray[Any], holders: npt.NDArray[np.str_]) -> None:
        """Record the holders of the new accounts of the batches up to ``through``, after those handed before."""
        if len(ids):
            recording = self._pool.submit(self._store.set_cycle_account_holder_columns, ids, holders)
        else:  # nothing new (a later cycle): its batches wait for no later stretch
            recording = Future()
            recording.set_result(None)
        self._pending.append((through, recording))

    def wait_for(self, index: int) -> None:
        """Once batch ``index``'s new accounts' holders are recorded; the store's error if the pass failed."""
        while self._pending:
            through, recording = self._pending[0]
            recording.result()
            if through >= index:
                return
            self._pending.pop(0)

    def idle(self) -> bool:
        """Whether no stretch is being recorded or waits to be (a store write now takes the lock at once)."""
        return all(recording.done() for _, recording in list(self._pending))  # a copy: the opener pops from it


class _Clock:
    """Wall seconds a disbursement spent on each of its parts, lap by lap."""

    def __init__(self) -> None:
        self._spent = dict.fromkeys(("read", "accounts", "holders", "ledger", "progress"), 0.0)
        self._at = time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        self._spent[part] += now - self._at
        self._at = now

    def waited(self, for_holders: float) -> None:
        """A lap spent waiting for a batch's accounts to open: the part its opener waited for holders, the rest."""
        now = time.perf_counter()
        holding = min(for_holders, now - self._at)
        self._spent["holders"] += holding
        self._spent["accounts"] += now - self._at - holding
        self._at = now

    def times(self) -> DisbursementTimes:
        return DisbursementTimes(**{f"{part}_s": spent for part, spent in self._spent.items()})


def _differs(found: npt.NDArray[np.void], wanted: npt.NDArray[np.void]) -> npt.NDArray[np.bool_]:
    """Per account found open, whether it differs from the one wanted where the ledger's ``exists`` compares them."""
    frozen = np.uint16(AccountFlags.frozen)
    differs: npt.NDArray[np.bool_] = (found["flags"] & ~frozen) != (wanted["flags"] & ~frozen)
    for field in ("ledger", "code", "category", "holding_limit", "user_data_64", "user_data_32"):
        differs |= found[field] != wanted[field]
    differs |= (found["allowed_categories"] != wanted["allowed_categories"]).any(axis=1)
    return differs


def _pro_rated(amounts: npt.NDArray[np.int64], budget: int, asked: int) -> npt.NDArray[np.int64]:
    """Each amount times ``budget / asked``, rounded down: in int64 where no product can pass 2**63, else exactly."""
    largest = int(np.abs(amounts).max()) if len(amounts) else 0
    if max(largest * budget, asked) < 1 << 63:
        return amounts * budget // asked
    return np.array([a * budget // asked for a in amounts.tolist()], dtype=np.int64)


_RESULT_COLUMNS = ("cycle_id", "seq", "person", "holder", "eligible", "failed", "unreported", "amounts")


def _write_results(conn: Connection, cycle_id: int, found: Preview) -> None:
    """The preview's rows into ``cycle_results`` as tuples straight to the driver: no SQLAlchemy row per unit.

    PostgreSQL takes them by ``COPY ... FROM STDIN``, SQLite by one prepared insert run over them all.
    """
    population = found.population
    rows = zip(
        itertools.repeat(cycle_id),
        range(len(population)),
        population.numbers.tolist(),
        population.holders.tolist(),
        found.eligible.tolist(),
        found.failed.tolist(),
        found.unreported.tolist(),
        [",".join(map(str, row)) for row in found.amounts.tolist()],
        strict=False,  # the repeated cycle id is endless
    )
    columns = ", ".join(_RESULT_COLUMNS)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY cycle_results ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:  # one prepared statement over every row; SQLAlchemy only passes them on (and names a driver fault)
        marks = ", ".join("?" for _ in _RESULT_COLUMNS)
        conn.exec_driver_sql(f"INSERT INTO cycle_results ({columns}) VALUES ({marks})", list(rows))


def _step(by: object, at: object) -> Step | None:
    return None if by is None else Step(str(by), int(at))  # type: ignore[call-overload]


def _cycle_of(row: Any) -> Cycle:
    totals: Mapping[str, Any] = json.loads(row.totals)
    lines = tuple(
        LineTotal(t["ledger"], t["ledger_id"], t["asked"], t["budget"], t["paid"]) for t in totals.get("lines", [])
    )
    over = totals.get("over_budget")
    return Cycle(
        row.id, row.programme, row.version, row.cycle_date_ns, CycleStatus(row.status),
        Step(row.created_by, row.created_at_ns), _step(row.previewed_by, row.previewed_at_ns),
        _step(row.approved_by, row.approved_at_ns), _step(row.disbursed_by, row.disbursed_at_ns),
        _step(row.closed_by, row.closed_at_ns), row.units, row.eligible, lines,
        None if over is None else OverBudget(over), row.batches_done,
    )  # fmt: skip
