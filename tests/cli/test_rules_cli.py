"""``tessera rules check``: exit 0 when every rule loads, 2 otherwise, one line per refusal."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tessera.auth import Role
from tessera.cli.main import app
from tessera.rules import Declarations, builtin_path
from tessera.store import Store

runner = CliRunner()
BUILTIN = builtin_path("definitions.toml").read_text(encoding="utf-8")
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


def test_the_example_rules_check_clean(tmp_path: Path) -> None:
    """The shipped example file loads against a fresh install's declarations: exit 0, nothing on stdout."""
    result = runner.invoke(app, ["rules", "check", "--data", str(tmp_path), str(builtin_path("example_rules.toml"))])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "0 refused" in result.stderr
    assert "declarations: the built-in declarations (no store at" in result.stderr
    assert not (tmp_path / "registry.db").exists()  # checking creates nothing


def test_refusals_print_rule_field_and_category_one_line_each(tmp_path: Path) -> None:
    """Every refusal across every file is printed, the guard's with its category; the exit status is 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text(HEALTH_SCORE + HEALTH_SCORE.replace('"care.score"', '"care.other"').replace("> 2", ">"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[[rule]\n")
    result = runner.invoke(
        app,
        [
            "rules",
            "check",
            "--data",
            str(tmp_path),
            str(builtin_path("example_rules.toml")),
            str(bad),
            str(broken),
            str(tmp_path / "no.toml"),
        ],
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


def test_declarations_come_from_the_store_or_an_export_never_from_beside_the_rules(tmp_path: Path) -> None:
    """A type the DPOs declared checks against the store or their export; --definitions is refused (issue 16)."""
    data = tmp_path / "data"
    defs = tmp_path / "defs.toml"
    defs.write_text(FINE.format(purpose="judicial"))
    rules = tmp_path / "fines.toml"
    rules.write_text(
        HEALTH_SCORE.replace('"benefit.claimed"', '"fine.unpaid"')
        .replace("claimant.disability_grade", "amount")
        .replace("consumer-credit-act/12", "fines-act/3")  # a basis that covers fines
    )
    assert runner.invoke(app, ["rules", "check", "--data", str(data), str(rules)]).exit_code == 2  # not declared
    result = runner.invoke(app, ["rules", "check", "--definitions", str(defs), str(rules)])
    assert result.exit_code == 1 and "declared by data-protection officers" in result.stderr
    data.mkdir()
    with Store.open(f"sqlite:///{data / 'registry.db'}") as store:
        register = Declarations(store)
        dpo = store.create_principal("dpo", Role.dpo)
        register.propose(dpo, BUILTIN + defs.read_text(), "unpaid fines")
        register.approve(2, dpo)
    result = runner.invoke(app, ["rules", "check", "--data", str(data), str(rules)])
    assert result.exit_code == 0, result.output
    assert "version 2 in force in the store" in result.stderr
    export = tmp_path / "law.json"
    assert runner.invoke(app, ["declarations", "export", "--data", str(data), "--output", str(export)]).exit_code == 0
    result = runner.invoke(app, ["rules", "check", "--declarations", str(export), str(rules)])
    assert result.exit_code == 0 and f"{export} (version 2)" in result.stderr
    export.write_text(export.read_text().replace("judicial", "voting"))  # a rule author edits the export
    result = runner.invoke(app, ["rules", "check", "--declarations", str(export), str(rules)])
    assert result.exit_code == 1 and "the export was altered" in result.stderr


def test_no_files_is_a_usage_error() -> None:
    """rules check with no files is a usage error (exit 2), not a clean pass."""
    assert runner.invoke(app, ["rules", "check"]).exit_code == 2
