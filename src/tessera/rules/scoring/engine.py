"""The rule engine: events in as columns, compiled rules over whole batches, effects out.

The ledger's feed hands over each durable batch as arrays; ``ledger_columns`` turns them
into the ``ledger.transfer`` event's columns without a Python loop, the compiled rules
return the rows each rule fires on, and only those rows become effects: score
contributions (recorded with the feed's cursor in one transaction, so a restart neither
loses nor repeats them), eligibility grants, restriction proposals and notices.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, insert

from tessera.identity import Registry
from tessera.ledger import CommittedBatch, CreateTransferStatus, EntryKind, TransferFlags
from tessera.limits import BATCH_SIZE_MAX
from tessera.rules.codes import WITHHELD_INT
from tessera.rules.due_process.notices import NOTICES_BATCH_MAX, NoticeDraft, NoticeKind, Notices
from tessera.rules.due_process.restriction_records import Proposal
from tessera.rules.due_process.restrictions import PROPOSALS_BATCH_MAX, RULE_PREFIX, Restrictions
from tessera.rules.language.compiler import CompiledRules
from tessera.rules.language.rulesets import Effect, EffectKind, Rule
from tessera.rules.scoring.scores import Scores
from tessera.store import Store, eligibility_grants

LEDGER_EVENT = "ledger.transfer"
LEDGER_SOURCE = "ledger"
NS = 1_000_000_000
HOLD_S_MAX = 0.2  # effects wait at most this long for a shared commit: scores lag events by well under 1 s
# A cursor past batches that caused nothing is written with the first batch this long after: a till's draws cost no
# commit (and fsync) each, and a restart reads again at most the batches of this long (they cause nothing again).
CURSOR_HOLD_S = 2.0
# Refusals that another decision caused (a restriction's freeze, a programme's purpose binding): read by no rule.
_DECIDED_ELSEWHERE = np.array(
    [int(CreateTransferStatus.account_frozen), int(CreateTransferStatus.category_not_allowed)], dtype=np.uint32
)


@dataclass(frozen=True, slots=True)
class Firing:
    """One rule firing on one event for one subject: what adverse effects and notices are built from."""

    rule: Rule
    subject: str
    event_ref: str
    at_ns: int


class Effects(Protocol):
    """Where effects other than scores go (restrictions and notices live in their own modules)."""

    def adverse_in(self, conn: Connection, firings: Sequence[tuple[Firing, Effect]]) -> Callable[[], None] | None:
        """Record restriction proposals, denials and notices of negative scores in the caller's transaction.

        May return what to run once that transaction commits (enforcing a self-executing restriction).
        """


class PolicyEffects:
    """Adverse effects through the policy's own records: restriction proposals and notices to the person."""

    def __init__(self, restrictions: Restrictions, notices: Notices) -> None:
        self._restrictions = restrictions
        self._notices = notices

    def adverse_in(self, conn: Connection, firings: Sequence[tuple[Firing, Effect]]) -> Callable[[], None] | None:
        drafts: list[NoticeDraft] = []
        proposals: list[Proposal] = []
        for firing, effect in firings:
            rule = firing.rule
            expires = firing.at_ns + effect.expires_after_s * NS
            if effect.kind is EffectKind.restriction:
                authority = f"rule {rule.id} ({rule.basis.instrument})"
                proposals.append(
                    Proposal(firing.subject, effect.domains, rule.basis.id, authority[:200], rule.reason_code,
                             rule.reason_text, expires, RULE_PREFIX + rule.id, rule.id, firing.event_ref)
                )  # fmt: skip
            else:
                kind = NoticeKind.score if effect.kind is EffectKind.score else NoticeKind.denial
                drafts.append(
                    NoticeDraft(firing.subject, kind, rule.basis.id, rule.reason_code, rule.reason_text,
                                firing.event_ref, expires, rule_id=rule.id)
                )  # fmt: skip
        made = []
        for start in range(0, len(proposals), PROPOSALS_BATCH_MAX):
            made.extend(self._restrictions.propose_in(conn, proposals[start : start + PROPOSALS_BATCH_MAX]))
        for start in range(0, len(drafts), NOTICES_BATCH_MAX):
            self._notices.create_in(conn, drafts[start : start + NOTICES_BATCH_MAX])
        return (lambda: self._restrictions.took_effect(made)) if made else None


@dataclass(slots=True)
class _Held:
    """Effects evaluated but not yet committed, and each source's cursor that commits with them."""

    contributions: list[tuple[object, ...]] = field(default_factory=list)
    grants: list[dict[str, object]] = field(default_factory=list)
    adverse: list[tuple[Firing, Effect]] = field(default_factory=list)
    cursors: dict[str, int] = field(default_factory=dict)  # the ledger's feed, submitted events: one each
    since: float = 0.0


@dataclass(slots=True)
class EngineStats:
    """What the engine has done since it started; shown by benches and the operator."""

    batches: int = 0
    events: int = 0
    firings: int = 0
    contributions: int = 0
    grants: int = 0
    adverse: int = 0
    unresolved: int = 0  # firings on events whose subject is not known (an account without a person)
    commits: int = 0
    busy_s: float = 0.0
    per_rule: dict[str, int] = field(default_factory=dict)


CATEGORISED_ACCOUNTS_MAX = 50_000_000  # merchant accounts the payee index holds (16 bytes each)


class PayeeCategories:
    """Each account's category (a merchant's MCC), kept from the ledger's feed, for ``merchant_category``.

    Starts from the accounts the ledger holds (``Ledger.categorised_accounts``) and adds those
    each account batch on the feed creates: an account's category never changes, and the feed
    delivers account batches in journal order before the transfers that pay them. Only
    accounts with a category are held; any other is 0, "no merchant category".
    """

    def __init__(
        self, ids: npt.NDArray[np.uint64] | None = None, categories: npt.NDArray[np.integer] | None = None
    ) -> None:
        self._ids = np.empty(0, dtype=np.uint64)
        self._categories = np.empty(0, dtype=np.int64)
        if ids is not None and categories is not None:
            self.add(ids, categories)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: npt.NDArray[np.uint64], categories: npt.NDArray[np.integer]) -> None:
        """Hold the category of each of ``ids`` that has one (sorted by id, for a search per batch)."""
        ids = np.asarray(ids, dtype=np.uint64)
        categories = np.asarray(categories).astype(np.int64)
        kept = categories != 0
        if not kept.any():
            return
        merged_ids = np.concatenate([self._ids, ids[kept]])
        merged = np.concatenate([self._categories, categories[kept]])
        merged_ids, first = np.unique(merged_ids, return_index=True)
        if len(merged_ids) > CATEGORISED_ACCOUNTS_MAX:
            raise OverflowError(f"more than {CATEGORISED_ACCOUNTS_MAX} merchant accounts")
        self._ids, self._categories = merged_ids, merged[first]

    def on_accounts(self, batch: CommittedBatch) -> None:
        """Hold the categories of the accounts an account batch created."""
        created = batch.statuses == 0
        self.add(batch.records["id"][created], batch.records["category"][created])

    def __call__(self, account_ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """The category of each account (0: none); -1 for account 0 (a settlement that names no account)."""
        ids = np.asarray(account_ids, dtype=np.uint64)
        if not len(self._ids):
            return np.where(ids == 0, np.int64(WITHHELD_INT), np.int64(0))
        order = np.argsort(ids)  # a search of sorted keys is about twice as fast as of the batch's order
        slots = np.empty(len(ids), dtype=np.int64)
        slots[order] = np.searchsorted(self._ids, ids[order])
        np.minimum(slots, len(self._ids) - 1, out=slots)
        found = np.where(self._ids[slots] == ids, self._categories[slots], np.int64(0))
        return np.where(ids == 0, np.int64(WITHHELD_INT), found)


class LedgerColumns(Mapping[str, npt.NDArray[np.generic]]):
    """The ``ledger.transfer`` columns of one batch, each computed the first time a rule reads it.

    ``merchant_category`` is the payee account's category (``payees``); without them it is
    withheld (-1) throughout. The compiled rules then show each rule only the codes it may read.
    """

    def __init__(self, batch: CommittedBatch, payees: PayeeCategories | None = None) -> None:
        self._records = batch.records
        self._statuses = batch.statuses
        self._payees = payees
        self._built: dict[str, npt.NDArray[np.generic]] = {}

    _BUILDERS: ClassVar[dict[str, Callable[[LedgerColumns], npt.NDArray[np.generic]]]] = {
        "amount": lambda c: c._records["amount"].astype(np.int64),
        "ledger": lambda c: c._records["ledger"].astype(np.int64),
        "code": lambda c: c._records["code"].astype(np.int64),
        "merchant_category": lambda c: c._merchant_categories(),
        "status": lambda c: c._statuses.astype(np.int64),
        "refused": lambda c: c._statuses != 0,
        "two_phase": lambda c: (c._records["flags"] & int(TransferFlags.pending)) != 0,
    }

    def _merchant_categories(self) -> npt.NDArray[np.int64]:
        if self._payees is None:
            return np.full(len(self._records), WITHHELD_INT, dtype=np.int64)
        return self._payees(self._records["credit_account_id"])

    def __getitem__(self, name: str) -> npt.NDArray[np.generic]:
        found = self._built.get(name)
        if found is None:
            builder = self._BUILDERS.get(name)
            if builder is None:
                raise KeyError(name)
            found = self._built[name] = builder(self)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._BUILDERS)

    def __len__(self) -> int:
        return len(self._BUILDERS)


SubjectResolver = Callable[[npt.NDArray[np.uint64]], Sequence[str | None]]
SUBJECTS_CACHED_MAX = 1_000_000


class HolderSubjects:
    """Ledger accounts to the Tessera number of the person holding each (None for any other holder).

    Only the rows a rule fired on are resolved, and each account once: holders and
    numbers never change, so the cache never goes stale.
    """

    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry
        self._cache: dict[int, str | None] = {}
        self._lock = threading.Lock()

    def __call__(self, account_ids: npt.NDArray[np.uint64]) -> list[str | None]:
        ids = account_ids.tolist()
        cache = self._cache
        missing = sorted({i for i in ids if i not in cache})
        if not missing:
            return [cache[i] for i in ids]
        found: dict[int, str | None] = dict.fromkeys(missing)
        for start in range(0, len(missing), BATCH_SIZE_MAX):
            holders = self._store.account_holders(missing[start : start + BATCH_SIZE_MAX])
            for account_id, principal_id in holders.items():
                person = self._registry.person_of_principal(principal_id)
                found[account_id] = None if person is None else person.number
        answer = [found[i] if i in found else cache.get(i) for i in ids]
        with self._lock:
            if len(cache) + len(found) > SUBJECTS_CACHED_MAX:
                cache.clear()
            cache.update(found)
        return answer


class RuleEngine:
    """Compiled rules applied to event batches; subscribe ``on_ledger_batch`` to the ledger's feed."""

    def __init__(
        self,
        store: Store,
        rules: CompiledRules,
        scores: Scores,
        *,
        payer_subjects: SubjectResolver,
        effects: Effects | None = None,
        backlog: Callable[[], int] = lambda: 0,
        payees: PayeeCategories | None = None,
    ) -> None:
        self._store = store
        self._backlog = backlog
        self.rules = rules
        self.scores = scores
        self._payer_subjects = payer_subjects
        self._payees = payees  # the payee's merchant category; None: withheld from every rule
        self._effects = effects
        self._lock = threading.Lock()  # one batch at a time: effects are recorded in event order
        self.stats = EngineStats()
        self._held = _Held()
        # Per source, the last position whose effects the engine took: committed, or held for the next commit.
        self.accepted: dict[str, int] = {}

    def on_ledger_batch(self, batch: CommittedBatch) -> None:
        """The ledger feed's subscriber: every transfer batch is a batch of ``ledger.transfer`` events."""
        if batch.kind == EntryKind.accounts and self._payees is not None:
            self._payees.on_accounts(batch)
        if batch.kind != EntryKind.transfers:
            return
        size = len(batch.records)
        times = batch.timestamp + np.arange(size, dtype=np.int64)

        # A payment refused because an account is frozen is a restriction's doing, and one refused because
        # earmarked money may not buy it is a programme's (a grant's): no rule reads either, so a decision
        # never spreads to a score or to a domain its basis does not name (issue 16).
        decided = np.isin(batch.statuses, _DECIDED_ELSEWHERE)
        hidden = decided if decided.any() else None

        def subjects(rows: npt.NDArray[np.int64]) -> Sequence[str | None]:
            found = self._payer_subjects(batch.records["debit_account_id"][rows])
            if hidden is None:
                return found
            return [None if h else s for s, h in zip(found, hidden[rows].tolist(), strict=True)]

        def refs(rows: list[int]) -> list[str]:
            return [f"ledger:{batch.seq}:{row}" for row in rows]

        self.process(
            LEDGER_EVENT,
            LedgerColumns(batch, self._payees),
            size,
            subjects=subjects,
            times=times,
            refs=refs,
            cursor=(LEDGER_SOURCE, batch.seq),
            flush_later=True,
        )

    def advance(self, source: str, position: int) -> None:
        """Move ``source``'s cursor past events that cause nothing (kept events that can no longer be read)."""
        with self._lock:
            self._held.cursors[source] = position
            self.accepted[source] = position
            self._flush_locked()

    def flush(self) -> None:
        """Record whatever effects are held (the service calls it on shutdown)."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        held = self._held
        if not (held.contributions or held.grants or held.adverse or held.cursors):
            return
        # Held effects are dropped only once committed: a failed commit is retried with the next batch.
        with self._store.transaction(write=True) as conn:
            self.scores.record_rows_in(conn, held.contributions)
            if held.grants:
                conn.execute(insert(eligibility_grants), held.grants)
            after_commit = None
            if held.adverse and self._effects is not None:
                after_commit = self._effects.adverse_in(conn, held.adverse)
            for source, position in held.cursors.items():
                self.scores.set_cursor_in(conn, source, position)
        self._held = _Held()
        self.stats.commits += 1
        if after_commit is not None:
            after_commit()

    def process(
        self,
        event_type: str,
        columns: Mapping[str, npt.NDArray[np.generic]],
        size: int,
        *,
        subjects: Callable[[npt.NDArray[np.int64]], Sequence[str | None]],
        times: npt.NDArray[np.int64],
        refs: Callable[[list[int]], list[str]],
        cursor: tuple[str, int] | None = None,
        flush_later: bool = False,
    ) -> int:
        """Evaluate every rule reading ``event_type`` over one batch and record the effects; returns firings.

        Work per firing is a few list operations; a notice of a lowered score goes out once
        per person and rule in a batch, not once per event. With ``flush_later`` the effects
        wait (at most ``HOLD_S_MAX``, and only while more batches are queued) to share one
        commit with the next batches': one fsync per batch would cap the whole feed.
        """
        started = time.perf_counter()
        with self._lock:
            matches = self.rules.evaluate(event_type, columns, size)
            contributions: list[tuple[object, ...]] = []
            grants: list[dict[str, object]] = []
            adverse: list[tuple[Firing, Effect]] = []
            firings = 0
            for rule, rows in matches:
                if not len(rows):
                    continue
                who = subjects(rows)
                kept = [i for i, subject in enumerate(who) if subject is not None]
                self.stats.unresolved += len(rows) - len(kept)
                if not kept:
                    continue
                row_list = rows.tolist()
                rows_kept = [row_list[i] for i in kept]
                who_kept = [s for s in who if s is not None]
                at = times[rows[kept]].tolist()
                event_refs = refs(rows_kept)
                firings += len(kept)
                self.stats.per_rule[rule.id] = self.stats.per_rule.get(rule.id, 0) + len(kept)
                for effect in rule.effects:
                    expires_ns = effect.expires_after_s * NS
                    if effect.kind is EffectKind.score:
                        contributions.extend(
                            (s, effect.scheme, effect.points, effect.half_life_s, rule.id, rule.reason_code,
                             rule.reason_text, ref, t, t + expires_ns)
                            for s, ref, t in zip(who_kept, event_refs, at, strict=True)
                        )  # fmt: skip
                        if effect.points < 0:  # a lowered score is an adverse decision: each person gets a notice
                            adverse.extend(_first_per_subject(rule, effect, who_kept, event_refs, at))
                    elif effect.kind is EffectKind.eligibility:
                        derived = ",".join(sorted(c.value for c in rule.categories))  # it is data of these
                        grants.extend(
                            {"subject": s, "benefit": effect.benefit, "rule_id": rule.id, "event_ref": ref,
                             "at_ns": t, "expires_at_ns": t + expires_ns, "categories": derived}
                            for s, ref, t in zip(who_kept, event_refs, at, strict=True)
                        )  # fmt: skip
                    else:
                        adverse.extend(
                            (Firing(rule, s, ref, t), effect)
                            for s, ref, t in zip(who_kept, event_refs, at, strict=True)
                        )
            held = self._held
            held.contributions.extend(contributions)
            held.grants.extend(grants)
            held.adverse.extend(adverse)
            if cursor is not None:
                held.cursors[cursor[0]] = cursor[1]
                self.accepted[cursor[0]] = cursor[1]
            if not held.since:
                held.since = time.monotonic()
            waited = time.monotonic() - held.since
            if not (held.contributions or held.grants or held.adverse):  # a cursor alone: nothing it caused waits
                due = not flush_later or waited >= CURSOR_HOLD_S
            else:
                due = not flush_later or self._backlog() == 0 or waited >= HOLD_S_MAX
            if due:
                self._flush_locked()
            self.stats.batches += 1
            self.stats.events += size
            self.stats.firings += firings
            self.stats.contributions += len(contributions)
            self.stats.grants += len(grants)
            self.stats.adverse += len(adverse)
            self.stats.busy_s += time.perf_counter() - started
        return firings


def _first_per_subject(
    rule: Rule, effect: Effect, subjects: list[str], refs: list[str], times: list[int]
) -> list[tuple[Firing, Effect]]:
    """One firing per subject: the first of their events in the batch."""
    seen: dict[str, tuple[Firing, Effect]] = {}
    for s, ref, t in zip(subjects, refs, times, strict=True):
        if s not in seen:
            seen[s] = (Firing(rule, s, ref, t), effect)
    return list(seen.values())
