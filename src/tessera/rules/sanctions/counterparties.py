"""New counterparties: a ledger feed subscriber that screens whoever a wallet first pays or is paid by.

For each durable transfer batch, whole-batch numpy finds the applied (payer account, payee
account) pairs not seen before; only those reach Python, on the watch's worker thread:
each side's holder is resolved, and the other side is screened as a counterparty (a
person by their demographics, any other principal by its name). An account no one holds
(a programme's) screens no one: a payout to millions is not millions of registry queries.

The pairs seen are kept in memory as sorted 64-bit keys, at most ``SEEN_PAIRS_MAX`` (then
forgotten and learnt again). After a restart the first payment of each pair is screened once more:
that costs CPU only, since the watch never raises the same listing twice for a subject.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
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
HOLDERS_KNOWN_MAX = 4_000_000  # 48 MiB of account and holder numbers
SHARED_READ_PAIRS_MAX = 64  # a batch this small reads in one transaction


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
        self._numbers = HolderNumbers()
        self._screened: dict[str, dict[str, int]] = {}  # subject: the list versions it was last screened against
        # principal id: who an organisation (a shop's merchant) is to the lists; a principal's name is never rewritten
        self._organisations: dict[str, Screenee] = {}
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
        found = np.column_stack((payer[rows], payee[rows]))
        self._worker.submit(lambda: self.screen_pairs(found, f"ledger:{batch.seq}"))

    def screen_pairs(self, pairs: Sequence[tuple[int, int]] | npt.NDArray[np.uint64], reference: str) -> None:
        """Screen the counterparty of each side of each (payer, payee) pair (on the worker thread)."""
        sides = np.asarray(pairs, dtype=np.uint64).reshape(-1, 2)
        if not len(sides):
            return
        # A till's few pairs: the holders and each screenee's reads in one transaction, not one each. A
        # payout's many are read as before, a transaction a read: no snapshot held open for a long pass.
        with self._store.reading() if len(sides) <= SHARED_READ_PAIRS_MAX else nullcontext():
            self._screen_sides(sides, reference)

    def _screen_sides(self, sides: npt.NDArray[np.uint64], reference: str) -> None:
        # Each pair seen from both ends, in pair order: row 2i is (payer, payee), row 2i+1 (payee, payer).
        this = sides.ravel()
        other = sides[:, ::-1].ravel()
        accounts, where = np.unique(this, return_inverse=True)
        holder_of = self._numbers.of(accounts, self._holders)
        this_holder = holder_of[where]
        other_holder = holder_of[np.searchsorted(accounts, other)]
        # An account no one holds (a programme's, opened by Tessera) has no one whose counterparty matters:
        # its payees are registered persons, screened as such. A payout to millions is no millions of queries.
        wanted = np.flatnonzero((this_holder >= 0) & (other_holder >= 0) & (other_holder != this_holder))
        if not len(wanted):
            return
        # Only the first time each principal shows up as a counterparty is screened.
        _, first = np.unique(other_holder[wanted], return_index=True)
        principal_ids = self._numbers.principals
        versions = self._watch.versions()
        for row in sorted(wanted[first].tolist()):
            screenee = self._screenee(principal_ids[int(other_holder[row])])
            if screenee is None or self._screened.get(screenee.subject) == versions:
                continue  # the same lists said nothing new about them a moment ago
            self._watch.screen(
                [screenee], HitContext.counterparty, f"{reference}: account {this[row]} with {other[row]}"
            )
            if len(self._screened) >= SUBJECTS_SCREENED_MAX:
                self._screened.clear()
            self._screened[screenee.subject] = versions

    def _stored_holders(self, accounts: list[int]) -> dict[int, str]:
        holders: dict[int, str] = {}
        for start in range(0, len(accounts), BATCH_SIZE_MAX):
            holders.update(self._store.account_holders(accounts[start : start + BATCH_SIZE_MAX]))
        return holders

    def _screenee(self, principal_id: str) -> Screenee | None:
        known = self._organisations.get(principal_id)
        if known is not None:
            return known
        person = self._registry.person_of_principal(principal_id)  # read each time: a person's facts may be corrected
        if person is not None:
            return Screenee(person.number, (person.name, *person.other_names), person.birth_date.isoformat())
        principal = self._store.get_principal(principal_id)
        if principal is None or principal.role is Role.citizen or not principal.name:
            return None
        found = Screenee(organisation_of(principal), (principal.name,))
        if len(self._organisations) >= SUBJECTS_SCREENED_MAX:
            self._organisations.clear()
        self._organisations[principal_id] = found
        return found


class HolderNumbers:
    """Each account's holder as a small number, in sorted arrays: a batch's sides look up a column at a time.

    A holder, once set, never changes (``Store.set_account_holders``), so a number learnt stays
    true; accounts with no holder yet are asked again next time. Bounded: past
    ``HOLDERS_KNOWN_MAX`` accounts it starts again.
    """

    def __init__(self) -> None:
        self.principals: list[str] = []  # number -> principal id
        self._number: dict[str, int] = {}
        self._accounts: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)  # sorted
        self._holders: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)  # beside them

    def of(
        self, accounts: npt.NDArray[np.uint64], lookup: Callable[[list[int]], dict[int, str]]
    ) -> npt.NDArray[np.int64]:
        """The holder number of each of the sorted, distinct ``accounts``; -1 where none is known."""
        known = _contains(self._accounts, accounts)
        if len(self._accounts) + int((~known).sum()) > HOLDERS_KNOWN_MAX:
            self.principals, self._number = [], {}  # full: start again with this batch's accounts
            self._accounts, self._holders = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
            known[:] = False
        if not known.all():
            self._learn(accounts[~known], lookup)
        if not len(self._accounts):
            return np.full(len(accounts), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._accounts, accounts), len(self._accounts) - 1)
        found: npt.NDArray[np.int64] = np.where(self._accounts[at] == accounts, self._holders[at], -1)
        return found

    def _learn(self, accounts: npt.NDArray[np.uint64], lookup: Callable[[list[int]], dict[int, str]]) -> None:
        holders = lookup(accounts.tolist())
        if not holders:
            return
        number = self._number
        new_accounts = np.fromiter(holders, dtype=np.uint64, count=len(holders))
        new_holders = np.fromiter(
            (number.setdefault(p, len(number)) for p in holders.values()), dtype=np.int64, count=len(holders)
        )
        self.principals.extend(list(number)[len(self.principals) :])
        both = np.concatenate((self._accounts, new_accounts))
        order = np.argsort(both, kind="stable")
        self._accounts = both[order]
        self._holders = np.concatenate((self._holders, new_holders))[order]


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
