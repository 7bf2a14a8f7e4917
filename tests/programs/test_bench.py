"""bench/programs.py runs end to end at a tiny size: the service previews the households it seeded, and pays them."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "programs.py"


@pytest.mark.parametrize("read", ["fours", "registered"])
def test_tiny_run__the_service_previews_households_of_four(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], read: str
) -> None:
    """The service's own preview sees the bench's households (not one per person), and both cycles pay each one."""
    main = runpy.run_path(str(BENCH), run_name="tessera_bench")["main"]
    extra = ["--registered-households"] if read == "registered" else []
    assert main(["--people", "400", "--no-sync", "--dir", str(tmp_path), *extra]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["households_read"] == read
    assert figures["households"] == figures["service_units"] == 100
    assert 0 < figures["second_eligible"] == figures["transfers"] <= 100  # previewed again after some changes
    assert figures["service_persons_read"] == "scanned" and figures["second_service_persons_read"].startswith("patched")
    assert figures["compiled"] is True and figures["durable"] is False
    cycles, steps = ("disburse", "second_cycle_disburse"), ("read", "holders", "ledger")
    parts = [f"{cycle}_{step}_s" for cycle in cycles for step in steps]
    previews = ("gather_s", "service_gather_s", "results_written_s", "second_service_gather_s")
    for name in (*previews, "disburse_s", "second_cycle_disburse_s", *parts):
        assert figures[name] >= 0, name
