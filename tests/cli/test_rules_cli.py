"""``tessera rules check``: exit 0 when every rule loads, 2 otherwise, one line per refusal."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tessera.cli.main import app
from tessera.rules.definitions import builtin_path

runner = CliRunner()
HEALTH_SCORE = """
[[rule]]
id = "care.score"
title = "Scores people by their disability"
basis = "consumer-credit-act/12"
inputs = ["benefit.claimed"]
condition = "event.claimant.disability_grade > 2"
reason_code = "disability"
reason_text = "Because."
effects = [{ kind = "score", scheme = "credit", points = -10, expires_after = "30d" }]
"""

FINE = """
[[event_type]]
name = "fine.unpaid"
purpose = "{purpose}"
fields.amount = {{ type = "int", category = "judicial" }}

[[legal_basis]]
id = "fines-act/3"
instrument = "Fines Act"
article = "s. 3"
kind = "statute"
covers = ["fine.unpaid"]
"""


def test_the_example_rules_check_clean() -> None:
    """The shipped example file loads against the built-in definitions: exit 0, nothing on stdout."""
    result = runner.invoke(app, ["rules", "check", str(builtin_path("example_rules.toml"))])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "0 refused" in result.stderr


def test_refusals_print_rule_field_and_category_one_line_each(tmp_path: Path) -> None:
    """Every refusal across every file is printed, the guard's with its category; the exit status is 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text(HEALTH_SCORE + HEALTH_SCORE.replace('"care.score"', '"care.other"').replace("> 2", ">"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[[rule]\n")
    result = runner.invoke(
        app,
        ["rules", "check", str(builtin_path("example_rules.toml")), str(bad), str(broken), str(tmp_path / "no.toml")],
    )
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"{bad}:rule[0]: rule=care.score field=benefit.claimed.claimant.disability_grade")
    assert "category=disability [protected_category]" in lines[0]
    assert lines[1].startswith(f"{bad}:rule[1]: rule=care.other field=condition [invalid_input]")
    assert lines[2].startswith(f"{broken}: rule=- ") and "malformed TOML" in lines[2]
    assert "[not_found]" in lines[3]
    assert "7 rules load, 4 refused" in result.stderr


def test_more_definitions_extend_the_builtin_ones(tmp_path: Path) -> None:
    """--definitions adds event types and bases covering them; a malformed definitions file: one-line error, exit 1."""
    defs = tmp_path / "defs.toml"
    defs.write_text(FINE.format(purpose="judicial"))
    rules = tmp_path / "fines.toml"
    rules.write_text(
        HEALTH_SCORE.replace('"benefit.claimed"', '"fine.unpaid"')
        .replace("claimant.disability_grade", "amount")
        .replace("consumer-credit-act/12", "fines-act/3")  # a basis that covers fines
    )
    assert runner.invoke(app, ["rules", "check", str(rules)]).exit_code == 2  # fine.unpaid is not built in
    result = runner.invoke(app, ["rules", "check", "--definitions", str(defs), str(rules)])
    assert result.exit_code == 0, result.output
    defs.write_text(FINE.format(purpose="voting"))
    result = runner.invoke(app, ["rules", "check", "--definitions", str(defs), str(rules)])
    assert result.exit_code == 1 and "error [protected_category]" in result.stderr


def test_no_files_is_a_usage_error() -> None:
    assert runner.invoke(app, ["rules", "check"]).exit_code == 2
