"""bench/audit.py runs end to end at a tiny size and reports its figures with their conditions."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "audit.py"


def _main() -> object:
    return runpy.run_path(str(BENCH), run_name="tessera_bench")["main"]


def test_tiny_run__one_json_object_and_no_leftovers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every figure and condition is in the JSON object, and the temporary logs are removed."""
    argv = ["--entries", "3000", "--batch", "500", "--thread-entries", "640", "--threads", "4"]
    argv += ["--subjects", "100", "--samples", "50", "--verify", "--json", "--dir", str(tmp_path)]
    assert _main()(argv) == 0  # type: ignore[operator]
    figures = json.loads(capsys.readouterr().out)
    for name in (
        "appends_per_second",
        "batch_latency_ms_p99",
        "threaded_appends_per_second",
        "open_seconds",
        "inclusion_proof_ms_p99",
        "consistency_proof_ms_p99",
        "entries_for_subject_ms_p99",
        "verify_seconds",
    ):
        assert figures[name] > 0, name
    assert figures["durable"] is True and figures["entries"] == 3000 and figures["batch"] == 500
    assert figures["open_entries_rederived"] == 0
    assert figures["entries_for_subject_found_mean"] > 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv", [["--batch", "0"], ["--batch", "70000"], ["--entries", "0"], ["--thread-entries", "-1"]]
)
def test_bad_flag__usage_error(argv: list[str]) -> None:
    """Out-of-range options are refused by argparse with exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        _main()(argv)  # type: ignore[operator]
    assert exit_info.value.code == 2
