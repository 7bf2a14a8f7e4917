"""Child process for the crash test: writes batches forever and records each acknowledgement.

Run as ``python crash_worker.py LEDGER_DIR ACK_FILE SEED``. The parent SIGKILLs it at random
moments. Batch ``k`` always starts with an issuance whose id is ``sentinel_id(k)``, which
always succeeds, so the parent can tell exactly which batches the ledger kept.
"""

from __future__ import annotations

import os
import random
import sys

from tessera.ledger import Account, AccountFlags, Ledger, Transfer, TransferFlags

ISSUER = 1
WALLETS = list(range(2, 22))
SNAPSHOT_EVERY = 7


def accounts() -> list[Account]:
    wallet = AccountFlags.debits_must_not_exceed_credits
    return [Account(ISSUER, 1, 1)] + [Account(w, 1, 2, flags=wallet) for w in WALLETS]


def sentinel_id(k: int) -> int:
    return (k + 1) * 1000


def make_batch(seed: int, k: int) -> list[Transfer]:
    """Batch k: an issuance, payments (some refused), a hold, and a settle of the last hold."""
    rng = random.Random(seed * 1_000_003 + k)
    base = sentinel_id(k)
    batch = [Transfer(base, ISSUER, WALLETS[k % len(WALLETS)], 60, 1, 1)]
    for j in range(1, 25):
        debit, credit = rng.sample(WALLETS, 2)
        batch.append(Transfer(base + j, debit, credit, rng.randint(1, 40), 1, 2))
    # No linked chains here: the state machine covers them, and the model replays chains slowly.
    a, c = rng.sample(WALLETS, 2)
    batch.append(Transfer(base + 40, a, c, rng.randint(1, 20), 1, 3, flags=TransferFlags.pending))
    if k > 0:  # settle the previous batch's hold: post part of it, or void it
        previous = sentinel_id(k - 1) + 40
        if rng.random() < 0.5:
            batch.append(
                Transfer(
                    base + 41, pending_id=previous, amount=rng.randint(1, 5), flags=TransferFlags.post_pending_transfer
                )
            )
        else:
            batch.append(Transfer(base + 41, pending_id=previous, flags=TransferFlags.void_pending_transfer))
    return batch


def main(directory: str, ack_path: str, seed: int) -> None:
    with Ledger.open(directory) as ledger:
        ledger.create_accounts(accounts())
        k = 0
        while ledger.lookup_transfers([sentinel_id(k)]):
            k += 1
        ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        print("ready", k, flush=True)
        while True:
            ledger.create_transfers(make_batch(seed, k))
            os.write(ack, f"{k}\n".encode())  # one small append: whole or absent after a kill
            k += 1
            if k % SNAPSHOT_EVERY == 0:
                ledger.snapshot()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
