"""Child process for the batch-race test: the engine applies batches that another thread rewrites.

Run as ``python race_worker.py BATCHES``. A thread flips every transfer's debit account
between a real account and one that does not exist while the engine applies the batch
(it releases the GIL). Each batch is linked chains of pending transfers with a timeout, every
other chain failing at its end, so a stored transfer is soon undone (chain rollback) or
released (expiry): an account id stored without being checked would be followed to no
account. After each batch every stored transfer must name accounts that exist. Prints
``ok N`` (N batches applied) and exits 0; a crash or a broken check is the failure. A
separate process, so that a crash fails the test instead of ending the run.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

from tessera.ledger import ACCOUNT_DTYPE, TRANSFER_DTYPE, TransferFlags
from tessera.ledger.state import State
from tessera.limits import BATCH_SIZE_MAX

ALICE, BOB, NOBODY = 2, 3, 9_999
BATCH = BATCH_SIZE_MAX
CHAIN = 6
NS_PER_S = 10**9


def accounts() -> np.ndarray:
    records = np.zeros(2, dtype=ACCOUNT_DTYPE)
    records["id"] = (ALICE, BOB)
    records["ledger"] = 1
    records["code"] = 1
    return records


def batch(k: int) -> np.ndarray:
    """Linked chains of 1-second holds; odd chains end in a transfer of amount 0, which fails them."""
    records = np.zeros(BATCH, dtype=TRANSFER_DTYPE)
    records["id"] = np.arange(1, BATCH + 1) + k * BATCH
    records["debit_account_id"] = ALICE
    records["credit_account_id"] = BOB
    records["amount"] = 1
    records["ledger"] = 1
    records["code"] = 1
    records["timeout"] = 1
    position = np.arange(BATCH) % CHAIN
    records["flags"] = np.where(
        position < CHAIN - 1, TransferFlags.linked | TransferFlags.pending, TransferFlags.pending
    )
    chain = np.arange(BATCH) // CHAIN
    records["amount"][(position == CHAIN - 1) & (chain % 2 == 1)] = 0
    return records


def main(batches: int) -> None:
    state = State()
    assert (state.apply_accounts(accounts(), 1) == 0).all()
    stop = threading.Event()
    current: list[np.ndarray] = []

    def flip() -> None:
        debit = NOBODY
        while not stop.is_set():
            if current:
                current[0]["debit_account_id"] = debit
                debit = ALICE if debit == NOBODY else NOBODY

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    try:
        for k in range(batches):
            records = batch(k)
            current[:] = [records]
            # Two seconds on: the holds of the batch before expire as this one starts.
            state.apply_transfers(records, (k + 1) * 2 * NS_PER_S)
            current.clear()
            stored = state.transfers[: state.n_transfers]
            for field in ("debit_account_id", "credit_account_id"):
                slots = state.account_slots(np.ascontiguousarray(stored[field]))
                assert (slots >= 0).all(), f"batch {k}: a stored transfer names no account ({field})"
            balances = state.accounts[: state.n_accounts]
            assert balances["debits_pending"].sum() == balances["credits_pending"].sum()
            assert balances["debits_posted"].sum() == balances["credits_posted"].sum()
    finally:
        stop.set()
        flipper.join()
    print("ok", batches, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
