"""Incoming payments: what reached a holder's accounts, newest first, and a way to wait for the next one.

The ledger is the record: a listing reads each account's newest transfers from it and keeps
the credits. ``Arrivals`` follows the ledger's feed and counts, per account, the credits
committed since the process started, so a long-poll learns that something arrived by
comparing two integers instead of asking the ledger again and again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

from tessera.ledger import CommittedBatch, EntryKind, Ledger, Transfer, TransferFlags
from tessera.limits import BATCH_SIZE_MAX

# A hold reserves money without moving it, and a void gives it back: neither is a payment that
# arrived (the post that settles a hold is).
_NOT_ARRIVED = TransferFlags.pending | TransferFlags.void_pending_transfer
ARRIVALS_TRACKED_MAX = 1_000_000  # accounts counted at once; past it the counts restart (a waiter then wakes early)


class Arrivals:
    """Per account, how many credits the ledger has committed to it since this process began (a feed subscriber)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}

    def on_ledger_batch(self, batch: CommittedBatch) -> None:
        if batch.kind != EntryKind.transfers or len(batch.records) == 0:
            return
        credited = batch.records["credit_account_id"][(batch.statuses == 0)]
        if not len(credited):
            return
        ids, counts = np.unique(credited, return_counts=True)
        with self._lock:
            if len(self._counts) + len(ids) > ARRIVALS_TRACKED_MAX:
                self._counts.clear()
            for account, n in zip(ids.tolist(), counts.tolist(), strict=True):
                self._counts[account] = self._counts.get(account, 0) + n

    def count(self, accounts: Iterable[int]) -> int:
        """Credits seen to any of ``accounts``: a long-poll waits for this to change."""
        with self._lock:
            return sum(self._counts.get(a, 0) for a in accounts)


def incoming_transfers(
    ledger: Ledger, accounts: Sequence[int], limit: int, *, before_ns: int | None = None, after_ns: int | None = None
) -> list[Transfer]:
    """Payments into ``accounts`` (posted credits, none between two of them), newest first, at most ``limit``.

    ``before_ns`` and ``after_ns`` bound the ledger's timestamps (exclusive): the cursor of
    the next page, and of what a follower has seen. Each account's newest ``BATCH_SIZE_MAX``
    transfers are read; older history is ``GET /v1/ledger/accounts/{id}/transfers``'s.
    """
    mine = set(accounts)
    found: list[Transfer] = []
    for account in sorted(mine):
        for t in ledger.get_account_transfers(account, limit=BATCH_SIZE_MAX, reverse=True):
            if before_ns is not None and t.timestamp >= before_ns:
                continue
            if after_ns is not None and t.timestamp <= after_ns:
                break  # newest first: the rest are older still
            if t.flags & _NOT_ARRIVED or t.credit_account_id != account or t.debit_account_id in mine:
                continue
            found.append(t)
    found.sort(key=lambda t: t.timestamp, reverse=True)
    return found[:limit]
