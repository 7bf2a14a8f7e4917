"""New counterparties: a ledger feed subscriber that screens whoever a wallet first pays or is paid by.

For each durable transfer batch, whole-batch numpy finds the applied (payer account, payee
account) pairs not seen before; only those reach Python, on the watch's worker thread:
each side's holder is resolved, and the other side is screened as a counterparty (a
person by their demographics, any other principal by its name).

The pairs seen are kept in memory as sorted 64-bit keys, at most ``SEEN_PAIRS_MAX`` (then
forgotten and learnt again). After a restart the first payment of each pair is screened once more:
that costs CPU only, since the watch never raises the same listing twice for a subject.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tessera.auth import Role, organisation_of
from tessera.identity import Registry
from tessera.ledger import CommittedBatch, EntryKind
from tessera.limits import BATCH_SIZE_MAX
from tessera.rules.sanctions.watch import HitContext, SanctionsWatch, Screenee
from tessera.store import Store

SEEN_PAIRS_MAX = 4_000_000  # 32 MiB of pair keys; past it the set starts again
RECENT_PAIRS_MAX = 65_536
_MIX_PAYER = np.uint64(0x9E3779B97F4A7C15)  # odd multipliers: a pair's two ids mixed into one 64-bit key
_MIX_PAYEE = np.uint64(0xC2B2AE3D27D4EB4F)
SUBJECTS_SCREENED_MAX = 1_000_000


class Worker(Protocol):
    """Where screening runs (``ScreeningWorker``, or inline in tests)."""

    def submit(self, job: Callable[[], object]) -> None: ...


class NewCounterparties:
    """Subscribe ``on_ledger_batch`` to the ledger's feed; screening happens on the worker, never on the feed."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        watch: SanctionsWatch,
        worker: Worker,
        holders: Callable[[list[int]], dict[int, str]] | None = None,
    ) -> None:
        self._store = store
        # Whose each account is; the service passes its cached lookup, which the ledger route has just filled.
        self._holders = holders or self._stored_holders
        self._registry = registry
        self._watch = watch
        self._worker = worker
        self._seen: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)  # sorted pair keys
        self._recent: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)  # sorted, merged into _seen in steps
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
        payer, payee = payer[keep], payee[keep]
        keys, first = np.unique(_pair_keys(payer, payee), return_index=True)
        with self._lock:
            fresh = ~(_contains(self._seen, keys) | _contains(self._recent, keys))
            if not fresh.any():
                return
            self._recent = _merged(self._recent, keys[fresh])
            if len(self._recent) > RECENT_PAIRS_MAX:
                # Merged in steps, so a batch costs a search in two sorted arrays, not a sort of millions.
                merged = _merged(self._seen, self._recent)
                self._seen = merged if len(merged) <= SEEN_PAIRS_MAX else np.empty(0, dtype=np.uint64)
                self._recent = np.empty(0, dtype=np.uint64)
            self.new_pairs += int(fresh.sum())
        rows = first[fresh]
        found = list(zip(payer[rows].tolist(), payee[rows].tolist(), strict=True))
        self._worker.submit(lambda: self.screen_pairs(found, f"ledger:{batch.seq}"))

    def screen_pairs(self, pairs: Sequence[tuple[int, int]], reference: str) -> None:
        """Screen the counterparty of each side of each pair (on the worker thread)."""
        holders = self._holders(sorted({a for pair in pairs for a in pair}))
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

    def _stored_holders(self, accounts: list[int]) -> dict[int, str]:
        holders: dict[int, str] = {}
        for start in range(0, len(accounts), BATCH_SIZE_MAX):
            holders.update(self._store.account_holders(accounts[start : start + BATCH_SIZE_MAX]))
        return holders

    def _screenee(self, principal_id: str) -> Screenee | None:
        person = self._registry.person_of_principal(principal_id)
        if person is not None:
            return Screenee(person.number, (person.name, *person.other_names), person.birth_date.isoformat())
        principal = self._store.get_principal(principal_id)
        if principal is None or principal.role is Role.citizen or not principal.name:
            return None
        return Screenee(organisation_of(principal), (principal.name,))


def _pair_keys(payer: npt.NDArray[np.uint64], payee: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """One 64-bit key per (payer, payee); among 4M pairs, any two sharing one is a 1-in-2-million chance."""
    with np.errstate(over="ignore"):
        keys: npt.NDArray[np.uint64] = payer * _MIX_PAYER + payee * _MIX_PAYEE
    return keys


def _contains(sorted_keys: npt.NDArray[np.uint64], keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """Which of ``keys`` are in ``sorted_keys``."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=np.bool_)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    found: npt.NDArray[np.bool_] = sorted_keys[at] == keys
    return found


def _merged(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Two sorted arrays with no key in common, as one: a stable sort finds the two runs and merges them in one pass."""
    both = np.concatenate((a, b))
    both.sort(kind="stable")
    return both
