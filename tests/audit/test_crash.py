"""Crash test: SIGKILL a log being appended to from threads; every acknowledged batch must survive."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.audit import AccessLog, verify_log
from tests.audit import crash_worker
from tests.audit.entries import expected_root, read_back

KILLS = 12
WORKER = Path(crash_worker.__file__)


@pytest.mark.slow
def test_sigkill_at_random_moments__acknowledged_batches_survive(tmp_path: Path) -> None:
    """After each SIGKILL the log reopens with every batch it acknowledged, where it said, and verifies."""
    directory = tmp_path / "log"
    rng = random.Random(11)
    acknowledged: list[tuple[int, int, int, int]] = []
    for round_ in range(KILLS):
        with subprocess.Popen(
            [sys.executable, str(WORKER), str(directory), str(round_)], stdout=subprocess.PIPE, text=True
        ) as child:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            lines = [child.stdout.readline() for _ in range(rng.randrange(1, 200))]
            child.kill()
            lines += child.stdout.readlines()
        whole = [line for line in lines if line.endswith("\n")]  # a line cut by the kill is no acknowledgement
        acknowledged += [tuple(map(int, line.split())) for line in whole]  # type: ignore[misc]
        with AccessLog.open(directory) as log:
            stored = read_back(log)
            for end, r, worker, k in acknowledged:
                entries = crash_worker.batch(r, worker, k)
                assert stored[end - len(entries) : end] == entries, (end, r, worker, k)
            assert log.tree_head().root == expected_root(stored)
    assert verify_log(directory).entries >= max(end for end, *_ in acknowledged)
