"""``tessera programs check``: exit 0 when every programme loads, 2 otherwise, one line per refusal."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tessera.cli.main import app
from tessera.money import Ledgers, ledger_unit
from tessera.programs import EXAMPLE_LEDGERS, EXAMPLE_PROGRAMMES, builtin_programmes_path
from tessera.store import Store

runner = CliRunner()
EXAMPLES = str(builtin_programmes_path(EXAMPLE_PROGRAMMES))
LEDGERS = str(builtin_programmes_path(EXAMPLE_LEDGERS))
NARROWING = """
[[programme]]
id = "food_cash"
name = "Food cash"
basis = "social-protection-act/food"
unit = "household"
kind = "cash"
currency = "currency"
eligibility = "reported.income_assessed.monthly_income < 3000000 && !grants.disability_allowance"
schedule = "monthly"
valid_for = "60d"
over_budget = "refuse"
merchant_categories = [5411]

[programme.cash]
amount = "5000"
budget = 100000
"""


def test_the_example_programmes_check_clean(tmp_path: Path) -> None:
    """The shipped examples load against a fresh install's declarations and the example ledgers: exit 0."""
    result = runner.invoke(app, ["programs", "check", "--data", str(tmp_path), "--ledgers", LEDGERS, EXAMPLES])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "3 programmes load, 0 refused" in result.stderr
    assert "declarations: the built-in declarations (no store at" in result.stderr
    assert f"ledgers: {LEDGERS} (3 ledgers)" in result.stderr
    assert not (tmp_path / "registry.db").exists()  # checking creates nothing


def test_refusals_print_programme_field_and_category_one_line_each(tmp_path: Path) -> None:
    """Every refusal across every file is one line, the guard's with its category; the exit status is 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text(NARROWING + NARROWING.replace('"food_cash"', '"food_too"').replace("[5411]", "[8661]"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[[programme]\n")
    args = ["programs", "check", "--data", str(tmp_path), "--ledgers", LEDGERS, EXAMPLES, str(bad), str(broken)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(
        f"{bad}:programme[0]: programme=food_cash field=eligibility.grants.disability_allowance category=disability "
        "[protected_category]"
    )
    assert "absent" in lines[0]
    assert lines[1].startswith(f"{bad}:programme[1]: programme=food_too field=eligibility.grants.disability_allowance")
    assert lines[2].startswith(f"{broken}: programme=- ") and "malformed TOML" in lines[2]
    assert "3 programmes load, 3 refused" in result.stderr


def test_without_ledgers_every_ledger_is_unknown(tmp_path: Path) -> None:
    """No store and no --ledgers: the check says so, and each programme is refused for its first ledger."""
    result = runner.invoke(app, ["programs", "check", "--data", str(tmp_path), EXAMPLES])
    assert result.exit_code == 2
    assert "ledgers: none (no store at" in result.stderr
    assert all("[not_found] no ledger" in line for line in result.stdout.splitlines())


def test_ledgers_come_from_the_store(tmp_path: Path) -> None:
    """With a store, its register of ledgers is the one checked against (the central bank is a built-in agency)."""
    with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
        Ledgers(store).register(ledger_unit(1, "currency", "XTS", 2, "central-bank"), requested_by="a", approved_by="b")
    result = runner.invoke(app, ["programs", "check", "--data", str(tmp_path), EXAMPLES])
    assert "ledgers: 1 registered in the store at" in result.stderr
    assert result.exit_code == 2 and "1 programmes load, 2 refused" in result.stderr  # food cash: the currency


def test_a_malformed_register_of_ledgers__error(tmp_path: Path) -> None:
    """--ledgers takes what `tessera ledgers list` prints; anything else is an error naming the file (exit 1)."""
    bad = tmp_path / "ledgers.json"
    bad.write_text(json.dumps({"ledgers": [{"id": 0, "name": "x", "unit": "XTS", "decimals": 2, "issuer": "b"}]}))
    result = runner.invoke(app, ["programs", "check", "--ledgers", str(bad), EXAMPLES])
    assert result.exit_code == 1 and f"{bad}:ledgers[0].id" in result.stderr
    bad.write_text("[]")
    result = runner.invoke(app, ["programs", "check", "--ledgers", str(bad), EXAMPLES])
    assert result.exit_code == 1 and "not a register of ledgers" in result.stderr
    result = runner.invoke(app, ["programs", "check", "--ledgers", str(tmp_path / "none.json"), EXAMPLES])
    assert result.exit_code == 1 and "no such file" in result.stderr
