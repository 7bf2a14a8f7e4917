"""No write becomes durable without its access entry: SIGKILL the service between the two (issue 15)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tessera.limits import BATCH_SIZE_MAX
from tessera.service import Services
from tests.api import crash_worker

ROOT = Path(__file__).resolve().parents[2]
KILLS = 5


def _worker(data: Path, acks: Path, mode: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.api.crash_worker", str(data), str(acks), mode]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _logged_times(services: Services, subject: str) -> Counter[int]:
    """When each of the subject's transfer entries says it happened, over every page of the log."""
    times: Counter[int] = Counter()
    before = None
    while page := services.access_log.entries_for_subject(subject, limit=1000, before=before):
        times.update(e.time_ns for _, e in page if e.fields == ("ledger.transfer",))
        before = page[-1][0]
    return times


def _paid_times(services: Services) -> list[int]:
    transfers = services.ledger.get_account_transfers(crash_worker.ALICE, limit=BATCH_SIZE_MAX)
    return [t.timestamp for t in transfers]


def test_a_payment_made_durable_just_before_a_crash_is_logged_at_the_next_start(tmp_path: Path) -> None:
    """The worker dies after the ledger's fsync and before the access log: the next start logs it, once."""
    data = tmp_path / "data"
    with _worker(data, tmp_path / "acks", "die-before-logging") as child:
        assert child.wait(timeout=120) == 0
    services = crash_worker.open_services(data)
    try:
        _, subject = crash_worker.world(services)
        (paid,) = _paid_times(services)
        assert services.notes_recovered == 2  # alice's entry and the ledger's issuance record
        assert _logged_times(services, subject) == Counter({paid: 1})
        (issued,) = services.access_log.entries_for_subject("ledger:1", limit=10)
        assert issued[1].time_ns == paid and issued[1].outcome == "issued 1 in 1 of 1 transfers"
    finally:
        services.close()
    services = crash_worker.open_services(data)  # delivered once: a second start adds nothing
    try:
        assert services.notes_recovered == 0 and _logged_times(services, subject) == Counter({paid: 1})
    finally:
        services.close()


@pytest.mark.slow
def test_sigkill_at_random_moments__every_durable_payment_has_its_entry_once(tmp_path: Path) -> None:
    """After each kill, every payment the ledger kept (acknowledged or not) is in alice's log exactly once."""
    data, acks = tmp_path / "data", tmp_path / "acks"
    rng = random.Random(15)
    for kill in range(KILLS):
        with _worker(data, acks, "run") as child:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready", f"kill {kill}"
            time.sleep(rng.uniform(0.05, 0.4))
            child.kill()
        services = crash_worker.open_services(data)
        try:
            _, subject = crash_worker.world(services)
            paid = _paid_times(services)
            logged = _logged_times(services, subject)
            assert set(paid) <= set(logged), f"kill {kill}: {len(set(paid) - set(logged))} payments have no entry"
            assert max(logged.values()) == 1, f"kill {kill}: an entry was logged twice"
            acked = [int(line) for line in acks.read_text().split()] if acks.exists() else []
            assert len(paid) >= len(acked), f"kill {kill}: an acknowledged payment was lost"
        finally:
            services.close()
    assert len(paid) > KILLS, "the worker barely ran; the test proved little"
