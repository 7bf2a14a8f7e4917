"""New counterparties: a ledger feed subscriber that screens whoever a wallet first pays or is paid by.

For each durable transfer batch, whole-batch numpy finds the applied (payer account, payee
account) pairs not seen before; only those reach Python, on the watch's worker thread:
each side's holder is resolved, and the other side is screened as a counterparty (a
person by their demographics, any other principal by its name).

The pairs seen are kept in memory, sorted, at most ``SEEN_PAIRS_MAX`` (then forgotten
and learnt again). After a restart the first payment of each pair is screened once more:
that costs CPU only, since the watch never raises the same listing twice for a subject.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tessera.auth.principals import Role
from tessera.identity.registry import Registry
from tessera.ledger.feed import CommittedBatch
from tessera.ledger.journal import EntryKind
from tessera.rules.subjects import ORG_PREFIX
from tessera.rules.watch import HitContext, SanctionsWatch, Screenee
from tessera.store import Store

PAIR = np.dtype([("payer", "<u8"), ("payee", "<u8")])
SEEN_PAIRS_MAX = 4_000_000  # 64 MiB of pairs; past it the set starts again
SUBJECTS_SCREENED_MAX = 1_000_000
HOLDERS_CHUNK = 8190


class Worker(Protocol):
    """Where screening runs (``ScreeningWorker``, or inline in tests)."""

    def submit(self, job: Callable[[], object]) -> None: ...


class NewCounterparties:
    """Subscribe ``on_ledger_batch`` to the ledger's feed; screening happens on the worker, never on the feed."""

    def __init__(self, store: Store, registry: Registry, watch: SanctionsWatch, worker: Worker) -> None:
        self._store = store
        self._registry = registry
        self._watch = watch
        self._worker = worker
        self._seen: npt.NDArray[np.void] = np.empty(0, dtype=PAIR)
        self._screened: dict[str, dict[str, int]] = {}  # subject: the list versions it was last screened against
        self._lock = threading.Lock()
        self.new_pairs = 0

    def on_ledger_batch(self, batch: CommittedBatch) -> None:
        """Find this batch's new pairs (numpy) and queue their screening."""
        if batch.kind != EntryKind.transfers or len(batch.records) == 0:
            return
        records = batch.records
        payer = records["debit_account_id"].astype(np.uint64)
        payee = records["credit_account_id"].astype(np.uint64)
        # Posts and voids name no accounts of their own: their pending transfer was seen already.
        keep = (batch.statuses == 0) & (payer != 0) & (payee != 0) & (payer != payee)
        if not keep.any():
            return
        pairs = np.empty(int(keep.sum()), dtype=PAIR)
        pairs["payer"] = payer[keep]
        pairs["payee"] = payee[keep]
        pairs = np.unique(pairs)
        with self._lock:
            new = pairs[~np.isin(pairs, self._seen)] if len(self._seen) else pairs
            if len(new) == 0:
                return
            seen = self._seen if len(self._seen) + len(new) <= SEEN_PAIRS_MAX else np.empty(0, dtype=PAIR)
            self._seen = np.union1d(seen, new)
            self.new_pairs += len(new)
        found = [(int(p), int(q)) for p, q in zip(new["payer"].tolist(), new["payee"].tolist(), strict=True)]
        self._worker.submit(lambda: self.screen_pairs(found, f"ledger:{batch.seq}"))

    def screen_pairs(self, pairs: Sequence[tuple[int, int]], reference: str) -> None:
        """Screen the counterparty of each side of each pair (on the worker thread)."""
        accounts = sorted({a for pair in pairs for a in pair})
        holders: dict[int, str] = {}
        for start in range(0, len(accounts), HOLDERS_CHUNK):
            holders.update(self._store.account_holders(accounts[start : start + HOLDERS_CHUNK]))
        screenees: dict[str, tuple[Screenee, str]] = {}
        for payer, payee in pairs:
            for this, other in ((payer, payee), (payee, payer)):
                principal_id = holders.get(other)
                if principal_id is None or principal_id == holders.get(this) or principal_id in screenees:
                    continue
                screenee = self._screenee(principal_id)
                if screenee is not None:
                    screenees[principal_id] = (screenee, f"{reference}: account {this} with {other}")
        versions = self._watch.versions()
        for screenee, where in screenees.values():
            if self._screened.get(screenee.subject) == versions:
                continue  # the same lists said nothing new about them a moment ago
            self._watch.screen([screenee], HitContext.counterparty, where)
            if len(self._screened) >= SUBJECTS_SCREENED_MAX:
                self._screened.clear()
            self._screened[screenee.subject] = versions

    def _screenee(self, principal_id: str) -> Screenee | None:
        person = self._registry.person_of_principal(principal_id)
        if person is not None:
            return Screenee(person.number, (person.name, *person.other_names), person.birth_date.isoformat())
        principal = self._store.get_principal(principal_id)
        if principal is None or principal.role is Role.citizen or not principal.name:
            return None
        return Screenee(ORG_PREFIX + principal.id, (principal.name,))
