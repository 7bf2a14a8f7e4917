"""Balances summed per (ledger, code): the ledger's side of a supply report.

Vectorised over the account arrays, so a report over ten million wallets is a few numpy
passes, not a Python loop. Sums are exact: each u64 column is added as two 32-bit halves,
which cannot wrap below 2**32 accounts a group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

BALANCE_FIELDS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
TOTALS_FIELDS = ("ledger", "code", *BALANCE_FIELDS)  # the account columns ``totals_of`` reads


@dataclass(frozen=True, slots=True)
class Totals:
    """One (ledger, code) group: how many accounts, their summed balances, and how many are below zero."""

    ledger: int
    code: int
    accounts: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    negative: int  # accounts whose posted credits are below their posted debits

    @property
    def balance(self) -> int:
        """Posted credits less posted debits, summed over the group."""
        return self.credits_posted - self.debits_posted


def _exact_sums(values: npt.NDArray[np.uint64], starts: npt.NDArray[np.intp]) -> list[int]:
    """Per-group sums of ``values`` (already in group order, groups starting at ``starts``), as Python ints."""
    low = np.add.reduceat(values & np.uint64(0xFFFFFFFF), starts, dtype=np.uint64)
    high = np.add.reduceat(values >> np.uint64(32), starts, dtype=np.uint64)
    return [int(lo) + (int(hi) << 32) for lo, hi in zip(low.tolist(), high.tolist(), strict=True)]


def totals_of(accounts: Mapping[str, npt.NDArray[Any]]) -> list[Totals]:
    """The groups of ``accounts`` (ACCOUNT_DTYPE records, or their ``TOTALS_FIELDS`` columns), by ledger then code."""
    if not len(accounts["ledger"]):
        return []
    keys = (accounts["ledger"].astype(np.uint64) << np.uint64(16)) | accounts["code"].astype(np.uint64)
    order = np.argsort(keys, kind="stable")
    ordered = {f: accounts[f][order] for f in TOTALS_FIELDS}
    unique, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
    groups = len(unique)
    columns = {f: _exact_sums(ordered[f].astype(np.uint64), starts) for f in BALANCE_FIELDS}
    below = (ordered["credits_posted"] < ordered["debits_posted"]).astype(np.int64)
    negative = np.add.reduceat(below, starts)
    return [
        Totals(
            ledger=int(unique[g] >> np.uint64(16)),
            code=int(unique[g] & np.uint64(0xFFFF)),
            accounts=int(counts[g]),
            negative=int(negative[g]),
            **{f: columns[f][g] for f in BALANCE_FIELDS},
        )
        for g in range(groups)
    ]
