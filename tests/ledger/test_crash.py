"""Crash test: SIGKILL a writer at random moments; every acknowledged batch must survive."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tessera.ledger import Ledger
from tests.ledger import crash_worker
from tests.ledger.model import Model

KILLS = 24
BALANCES = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
SEED = 7
WORKER = Path(crash_worker.__file__)


def _acknowledged(ack_file: Path) -> list[int]:
    if not ack_file.exists():
        return []
    return [int(line) for line in ack_file.read_text().splitlines() if line]


def _kept_batches(ledger: Ledger, upper: int) -> int:
    """How many batches the ledger kept; they must form a prefix 0..k-1 of what was sent."""
    sentinels = [crash_worker.sentinel_id(k) for k in range(upper)]
    present = {t.id for t in ledger.lookup_transfers(sentinels)}
    kept = sum(1 for s in sentinels if s in present)
    assert present == set(sentinels[:kept]), "the ledger kept a batch but lost an earlier one"
    return kept


def _model_after(batches: int) -> Model:
    model = Model()
    model.create_accounts(crash_worker.accounts(), 1)
    for k in range(batches):
        model.create_transfers(crash_worker.make_batch(SEED, k), 10 * (k + 1))
    return model


@pytest.mark.slow
def test_sigkill_at_random_moments__acknowledged_batches_survive(tmp_path: Path) -> None:
    """A child writes and acknowledges batches; after each SIGKILL, recovery keeps every acked one."""
    directory, ack_file = tmp_path / "ledger", tmp_path / "acks"
    rng = random.Random(SEED)
    kept = 0
    for kill in range(KILLS):
        with subprocess.Popen(
            [sys.executable, str(WORKER), str(directory), str(ack_file), str(SEED)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        ) as child:
            assert child.stdout is not None
            ready = child.stdout.readline().split()
            assert ready[:1] == ["ready"], f"worker did not start (kill {kill})"
            assert int(ready[1]) == kept, "the worker resumed somewhere other than where recovery left off"
            time.sleep(rng.uniform(0.0, 0.3))
            child.kill()
        acked = _acknowledged(ack_file)
        with Ledger.open(directory) as ledger:
            kept = _kept_batches(ledger, (max(acked) + 10) if acked else 10)
            assert not acked or max(acked) < kept, f"kill {kill}: batch {max(acked)} was acknowledged but lost"
            if kill % 6 == 5 or kill == KILLS - 1:
                wanted = [a.id for a in crash_worker.accounts()]
                expected = _model_after(kept).lookup_accounts(wanted)
                for account in ledger.lookup_accounts(wanted):
                    got = {f: getattr(account, f) for f in BALANCES}
                    assert got == {f: expected[account.id][f] for f in BALANCES}, f"kill {kill}: {account.id}"
    assert kept > KILLS, "the worker barely ran; the test proved little"
