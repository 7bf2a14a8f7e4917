"""A disbursement SIGKILLed at random batches, then restarted, pays every beneficiary exactly once (issue 19)."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tessera.money import AccountKind
from tessera.programs import CycleStatus, entitlement_account_ids
from tests.programs import disburse_worker
from tests.programs.cycle_world import MONEY

ROOT = Path(__file__).resolve().parents[2]
KILLS = 4
WAIT_S = 120


def _worker(data: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.programs.disburse_worker", str(data)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _batches_done(data: Path, cycle_id: int) -> int:
    """Read the cycle's progress from the store as the worker writes it (SQLite allows a reader beside the writer)."""
    with sqlite3.connect(data / "registry.db", timeout=10) as conn:
        (done,) = conn.execute("SELECT batches_done FROM programme_cycles WHERE id = ?", (cycle_id,)).fetchone()
    return int(done)


@pytest.mark.slow
def test_sigkill_mid_disbursement__restart_pays_everyone_exactly_once(tmp_path: Path) -> None:
    """Killed at random points mid-run and restarted: in the end each adult is paid once, debits equal credits."""
    data = tmp_path / "data"
    rng = random.Random(19)
    killed_mid_run = 0
    for _ in range(KILLS):
        with _worker(data) as child:
            assert child.stdout is not None
            ready = child.stdout.readline().split()
            assert ready[:1] == ["ready"], ready
            cycle_id = int(ready[1])
            target = _batches_done(data, cycle_id) + rng.randint(1, 12)
            deadline = time.monotonic() + WAIT_S
            while _batches_done(data, cycle_id) < target and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.02))  # anywhere in the next batch: before, inside or after the ledger's write
            killed_mid_run += child.poll() is None
            child.kill()
    assert killed_mid_run >= 1, "no kill landed while the run was under way"
    with _worker(data) as child:
        out, _ = child.communicate(timeout=WAIT_S)
    assert child.returncode == 0 and out.split()[-1] == "done", out
    world = disburse_worker.open_durable(data)
    try:
        cycles, ledger = world.services.cycles, world.services.ledger
        cycle = cycles.get(cycle_id)
        assert cycle.status is CycleStatus.disbursed
        eligible = [r for r in cycles.results(cycle_id, limit=1000) if r.eligible]
        assert 0 < len(eligible) < disburse_worker.PERSONS
        ids = entitlement_account_ids("adult_cash", MONEY, np.array([r.person for r in eligible]))
        accounts = {a.id: a for a in ledger.lookup_accounts(ids.tolist())}
        assert len(accounts) == len(eligible), "someone was skipped"
        paid = [accounts[int(i)] for i in ids]
        assert [a.credits_posted for a in paid] == [r.amounts[0] for r in eligible], "someone was paid twice or short"
        assert all(len(ledger.get_account_transfers(a.id, limit=10)) == 1 for a in paid)
        totals = {t.code: t for t in ledger.totals() if t.ledger == MONEY}
        assert sum(t.debits_posted for t in totals.values()) == sum(t.credits_posted for t in totals.values())
        programme = totals[AccountKind.programme]
        assert programme.debits_posted == sum(r.amounts[0] for r in eligible) == cycle.totals[0].paid
    finally:
        world.services.close()
