"""Seeded generators shared by tests, benchmarks and the demo: same seed, same data."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from tessera.ledger.records import ACCOUNT_DTYPE, BATCH_SIZE_MAX, TRANSFER_DTYPE, AccountFlags

ISSUER_ID = 1
WALLET_CODE = 2
ISSUER_CODE = 1
TRANSFER_CODE = 1

Distribution = Literal["uniform", "zipf"]


def packed_accounts(
    first_id: int, count: int, *, ledger: int = 1, code: int = WALLET_CODE, flags: int = 0
) -> npt.NDArray[np.void]:
    """``count`` account records with consecutive ids from ``first_id``."""
    records = np.zeros(count, dtype=ACCOUNT_DTYPE)
    records["id"] = np.arange(first_id, first_id + count, dtype=np.uint64)
    records["ledger"] = ledger
    records["code"] = code
    records["flags"] = flags
    return records


def wallet_batches(count: int, *, ledger: int = 1) -> Iterator[npt.NDArray[np.void]]:
    """The issuer (id 1) and ``count`` wallets (ids 2..count+1) that cannot go negative."""
    yield packed_accounts(ISSUER_ID, 1, ledger=ledger, code=ISSUER_CODE)
    flags = int(AccountFlags.debits_must_not_exceed_credits)
    for start in range(0, count, BATCH_SIZE_MAX):
        n = min(BATCH_SIZE_MAX, count - start)
        yield packed_accounts(2 + start, n, ledger=ledger, flags=flags)


def packed_transfers(
    ids: npt.NDArray[np.uint64],
    debit: npt.NDArray[np.uint64],
    credit: npt.NDArray[np.uint64],
    amount: npt.NDArray[np.uint64],
    *,
    ledger: int = 1,
    code: int = TRANSFER_CODE,
) -> npt.NDArray[np.void]:
    records = np.zeros(len(ids), dtype=TRANSFER_DTYPE)
    records["id"] = ids
    records["debit_account_id"] = debit
    records["credit_account_id"] = credit
    records["amount"] = amount
    records["ledger"] = ledger
    records["code"] = code
    return records


def issuance_batches(
    wallets: int, amount: int, *, first_transfer_id: int, ledger: int = 1
) -> Iterator[npt.NDArray[np.void]]:
    """One transfer from the issuer to each wallet."""
    for start in range(0, wallets, BATCH_SIZE_MAX):
        n = min(BATCH_SIZE_MAX, wallets - start)
        ids = np.arange(first_transfer_id + start, first_transfer_id + start + n, dtype=np.uint64)
        credit = np.arange(2 + start, 2 + start + n, dtype=np.uint64)
        yield packed_transfers(
            ids, np.full(n, ISSUER_ID, np.uint64), credit, np.full(n, amount, np.uint64), ledger=ledger
        )


def _account_draws(
    rng: np.random.Generator, wallets: int, n: int, distribution: Distribution
) -> npt.NDArray[np.uint64]:
    # Zipf over ranks, folded into range: a few wallets (merchants) take most traffic.
    index = rng.integers(0, wallets, size=n) if distribution == "uniform" else (rng.zipf(1.2, size=n) - 1) % wallets
    return (index + 2).astype(np.uint64)


def payment_batches(
    seed: int,
    wallets: int,
    count: int,
    *,
    batch_size: int = BATCH_SIZE_MAX,
    distribution: Distribution = "uniform",
    first_transfer_id: int,
    amount_max: int = 100,
    ledger: int = 1,
) -> list[npt.NDArray[np.void]]:
    """``count`` wallet-to-wallet payments in batches, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    debit = _account_draws(rng, wallets, count, distribution)
    credit = _account_draws(rng, wallets, count, distribution)
    same = debit == credit
    credit[same] = (credit[same] - 2 + 1) % wallets + 2  # never pay yourself
    amount = rng.integers(1, amount_max + 1, size=count).astype(np.uint64)
    ids = np.arange(first_transfer_id, first_transfer_id + count, dtype=np.uint64)
    records = packed_transfers(ids, debit, credit, amount, ledger=ledger)
    return [records[i : i + batch_size] for i in range(0, count, batch_size)]


def progress(message: str) -> None:
    """A bench's progress line: stderr, so that stdout carries only the JSON result."""
    print(message, file=sys.stderr, flush=True)


def filesystem_of(path: Path) -> str:
    """The filesystem type under ``path``, for a bench's conditions: fsync on tmpfs promises nothing."""
    try:
        out = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True, check=True)
        return out.stdout.split()[-1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"
