"""The tessera command: demo, ledger inspect/snapshot, and tiny runs of the benches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tessera import __version__
from tessera.cli.main import app
from tests.audit.entries import fill_log

runner = CliRunner()


def test_version() -> None:
    """--version prints the package version."""
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == __version__


def test_demo__runs_twice_idempotently(tmp_path: Path) -> None:
    """The demo shows refusals with reasons, and a second run reports 'exists', not doubles."""
    first = runner.invoke(app, ["demo", "--data", str(tmp_path / "d")])
    assert first.exit_code == 0, first.output
    assert "category_not_allowed" in first.output and "exceeds_credits" in first.output
    second = runner.invoke(app, ["demo", "--data", str(tmp_path / "d")])
    assert "exists" in second.output
    assert first.output.splitlines()[-3:] == second.output.splitlines()[-3:]  # same balances


def test_ledger_inspect_and_snapshot(tmp_path: Path) -> None:
    """inspect reports counts and recovery; snapshot leaves nothing to replay."""
    runner.invoke(app, ["demo", "--data", str(tmp_path)])
    inspected = runner.invoke(app, ["ledger", "inspect", str(tmp_path)])
    assert "replaying 00000000000000000001.journal (1/1" in inspected.stderr
    report = json.loads(inspected.stdout)
    assert report["accounts"] == 4 and report["transfers"] == 5
    assert report["recovery"]["entries_replayed"] == 2
    assert runner.invoke(app, ["ledger", "snapshot", str(tmp_path)]).exit_code == 0
    report = json.loads(runner.invoke(app, ["ledger", "inspect", str(tmp_path)]).stdout)
    assert report["recovery"]["entries_replayed"] == 0 and report["transfers"] == 5


def test_ledger_inspect__corruption_is_a_clean_error(tmp_path: Path) -> None:
    """A damaged journal gives an error code and the offset, not a traceback."""
    runner.invoke(app, ["demo", "--data", str(tmp_path)])
    for extra in range(2):
        runner.invoke(app, ["demo", "--data", str(tmp_path)])  # more entries after the first
        del extra
    (segment,) = tmp_path.glob("*.journal")
    data = bytearray(segment.read_bytes())
    data[70] ^= 1
    segment.write_bytes(bytes(data))
    result = runner.invoke(app, ["ledger", "inspect", str(tmp_path)])
    assert result.exit_code == 1
    assert "error [corruption]" in result.output and "at byte 0" in result.output


def test_ledger_inspect__missing_directory(tmp_path: Path) -> None:
    """A path that is not a directory is refused before anything is created."""
    result = runner.invoke(app, ["ledger", "inspect", str(tmp_path / "nope")])
    assert result.exit_code == 2 and not (tmp_path / "nope").exists()


def test_bench_ledger__prints_one_json_object(tmp_path: Path) -> None:
    """A tiny bench run prints the figures and the conditions they were measured under."""
    args = [
        "bench",
        "ledger",
        "--accounts",
        "1000",
        "--transfers",
        "20000",
        "--batch",
        "1000",
        "--json",
        "--dir",
        str(tmp_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("{"))
    figures = json.loads(line)
    assert figures["durable"] is True and figures["transfers"] == 20000 and figures["batches"] == 20
    assert figures["transfers_per_second"] > 0 and figures["refused"] == 0
    assert list(tmp_path.iterdir()) == []  # the temporary ledger is removed


SANCTIONS_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "sanctions"


def _bench(name: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["bench", name, *args, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(next(x for x in result.output.splitlines() if x.startswith("{"))))


def test_bench_check__figures_in_process_and_over_http(tmp_path: Path) -> None:
    """Tiny sizes: the figures are there, and each case answered as it should (the bench stops on a non-200)."""
    figures = _bench(
        "check", "--restrictions", "2000", "--checks", "2000", "--http-restrictions", "50",
        "--http-requests", "20", "--http-rate", "400", "--dir", str(tmp_path),
    )  # fmt: skip
    assert figures["bench"] == "check" and figures["in_process"]["restrictions"] == 2000
    assert all(figures["in_process"][case]["checks_per_second"] > 0 for case in ("deny", "mixed_1pct_denied"))
    http = figures["http"]
    assert http["requests_per_case"] == 20
    answers = {case: http[case]["allowed"] for case in ("organisation_allowed", "organisation_denied")}
    answers |= {case: http[case]["allowed"] for case in ("person_allowed_logged", "person_denied_logged")}
    assert answers == {
        "organisation_allowed": True,
        "organisation_denied": False,
        "person_allowed_logged": True,
        "person_denied_logged": False,
    }
    assert 0 < http["person_denied_logged"]["p50"] <= http["person_denied_logged"]["p99"]


def test_bench_http__a_real_server_takes_every_batch(tmp_path: Path) -> None:
    """Tiny sizes against a real `tessera serve`: money set up as an operator must, every transfer accepted."""
    figures = _bench(
        "http", "--accounts", "300", "--requests", "4", "--batch", "100", "--json-requests", "5", "--dir", str(tmp_path)
    )
    assert figures["bench"] == "http" and figures["durable"] is True
    assert figures["packed"]["ok"] == 400 and figures["packed"]["refused"] == 0
    assert figures["json"]["ok"] == figures["json"]["transfers"] == 50


def test_bench_redemption__every_redemption_drawn_on_both_paths(tmp_path: Path) -> None:
    """Tiny sizes against a real `tessera serve`: tills at several shops, approvals and PINs answered as they should."""
    figures = _bench(
        "redemption", "--persons", "12", "--shops", "3", "--threads", "2", "--app-requests", "10",
        "--pin-requests", "2", "--warmup", "1", "--open-requests", "4", "--open-rates", "50,100",
        "--dir", str(tmp_path),
    )  # fmt: skip
    assert figures["bench"] == "redemption" and figures["durable"] is True
    assert (figures["persons"], figures["shops"], figures["threads"]) == (12, 3, 2)
    assert figures["app"]["redemptions"] == 10 and figures["pin"]["redemptions"] == 2
    for path, requests in (("app", ("till_request_ms", "approve_request_ms")), ("pin", ("till_request_ms",))):
        for name in ("end_to_end_ms", *requests):
            assert 0 < figures[path][name]["p50"] <= figures[path][name]["p99"], (path, name)
        assert figures[path]["redemptions_per_second"] > 0
    assert set(figures["goal"]) == {
        "p99_ms_per_request", "app_p99_ms_worst_request", "met", "open_loop_met_up_to_per_second"
    }  # fmt: skip
    assert [run["offered_per_second"] for run in figures["open_loop"]] == [50, 100]
    for run in figures["open_loop"]:
        assert run["redemptions"] == 4 and run["fraction_of_saturation"] is None
        for name in ("till_request_ms", "approve_request_ms", "end_to_end_ms"):
            assert 0 < run[name]["p50"] <= run[name]["p90"] <= run[name]["p99"] <= run[name]["max"], name
        # Counted from the scheduled send: the whole redemption takes at least as long as its till request.
        assert run["end_to_end_ms"]["max"] >= run["till_request_ms"]["max"]
    assert list(tmp_path.iterdir()) == []


def test_bench_redemption__more_draws_than_a_ration_is_a_usage_error() -> None:
    """Ten 1 kg draws a person: asking more of too few persons is refused before anything is set up."""
    result = runner.invoke(app, ["bench", "redemption", "--persons", "2", "--app-requests", "30"])
    assert result.exit_code == 2


def test_bench_rules__events_reach_scores(tmp_path: Path) -> None:
    """The rules bench feeds its events through to scores: every firing is a contribution, no feed errors."""
    figures = _bench(
        "rules", "--events", "20000", "--batch", "1000", "--rules", "5", "--accounts", "500", "--dir", str(tmp_path)
    )
    assert figures["bench"] == "rules" and figures["events"] == 20000 and figures["feed_errors"] == 0
    assert figures["firings"] == figures["score_contributions"] > 0 and figures["conditions"]["rules"] == 5


@pytest.mark.skipif(not SANCTIONS_FIXTURES.is_dir(), reason="shared sanctions fixtures are not present")
def test_bench_screening__speed_and_accuracy_on_a_labelled_set() -> None:
    """The screening bench reports precision and recall in 0..1 and a speed, on the names it was asked for."""
    figures = _bench("screening", "--entities", "300", "--positives", "20", "--negatives", "20")
    assert figures["bench"] == "screening" and figures["names"] == 40
    assert 0 <= figures["precision"] <= 1 and 0 <= figures["recall"] <= 1 and figures["names_per_second"] > 0


def test_bench_ledger__bad_flag_is_a_usage_error() -> None:
    """Out-of-range options are refused with a usage message."""
    result = runner.invoke(app, ["bench", "ledger", "--batch", "9000"])
    assert result.exit_code == 2


def test_audit_verify__good_and_tampered(tmp_path: Path) -> None:
    """verify prints the counts and root, and names a tampered entry with exit code 1."""
    fill_log(tmp_path, 6)
    result = runner.invoke(app, ["audit", "verify", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["entries"] == 6
    data = bytearray((tmp_path / "entries.log").read_bytes())
    data[30] ^= 1
    (tmp_path / "entries.log").write_bytes(bytes(data))
    result = runner.invoke(app, ["audit", "verify", str(tmp_path)])
    assert result.exit_code == 1 and "error [corruption]" in result.stderr and "entry 0" in result.stderr


def test_help_loads_neither_the_web_layer_nor_the_domain() -> None:
    """`tessera --help` imports the commands only: no FastAPI, SQLAlchemy or numpy, nothing of tessera.api."""
    code = (
        "import sys\nfrom tessera.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "serve" in done.stdout
    loaded = set(done.stderr.split())
    heavy = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "numpy", "tessera.api", "tessera.service"}
    heavy |= {"typer.rich_utils"}  # rich's help formatter: a quarter second to import, for boxes around the help
    assert not heavy & loaded, sorted(heavy & loaded)


def _modules_loaded_by(*args: str) -> set[str]:
    code = (
        "import sys\nfrom tessera.cli.main import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n"
        "    assert not e.code, e.code\nprint('modules:', *sorted(sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=True)
    (line,) = (x for x in done.stderr.splitlines() if x.startswith("modules: "))
    return set(line.split()[1:])


def test_keys_create_loads_the_store_but_neither_the_web_layer_nor_the_rules(tmp_path: Path) -> None:
    """`tessera keys create` on a migrated store imports SQLAlchemy and no FastAPI, numpy, rules, ledger or alembic."""
    _modules_loaded_by("keys", "create", "--role", "citizen", "--name", "first", "--data", str(tmp_path))
    loaded = _modules_loaded_by("keys", "create", "--role", "citizen", "--name", "second", "--data", str(tmp_path))
    assert "sqlalchemy" in loaded and "tessera.store" in loaded
    heavy = {"fastapi", "starlette", "uvicorn", "alembic", "numpy", "typer.rich_utils"}
    heavy |= {"tessera.api", "tessera.service", "tessera.rules", "tessera.identity", "tessera.audit"}
    heavy |= {"tessera.ledger", "tessera.money"}  # only an officer's key can need two admins (tessera.money)
    assert not heavy & loaded, sorted(heavy & loaded)
