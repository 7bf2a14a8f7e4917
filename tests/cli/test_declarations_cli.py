"""``tessera declarations``: a DPO's key proposes and decides; anyone lists, shows, exports; serve reads the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli.main import app
from tessera.errors import NotFoundError
from tessera.rules import builtin_path
from tessera.service import Settings, check_rule_files

runner = CliRunner()
BUILTIN = builtin_path("definitions.toml").read_text(encoding="utf-8")
FINE = """
[[event_type]]
name = "fine.unpaid"
purpose = "judicial"
fields.amount = { type = "int", category = "judicial" }
"""
TRAVEL_BAN = """
[[legal_basis]]
id = "public-order-act/9"
instrument = "Public Order Act"
article = "s. 9 (travel bans)"
kind = "statute"
domains = ["travel"]
exercised_by = ["courts"]
"""


def key(data: Path, name: str, role: str = "dpo") -> str:
    result = runner.invoke(app, ["keys", "create", "--role", role, "--name", name, "--data", str(data)])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def cli(data: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["declarations", *args, "--data", str(data)])
    return result.exit_code, result.stdout, result.stderr


def test_show_prints_the_law_in_force_and_list_its_history(tmp_path: Path) -> None:
    """A fresh store's law is the built-in definitions, version 1, proposed by no one."""
    code, out, _ = cli(tmp_path, "show")
    assert code == 0 and out == BUILTIN
    code, out, _ = cli(tmp_path, "list")
    listing = json.loads(out)
    assert listing["in_force"] == 1 and listing["versions"][0]["proposed_by"] is None


def test_a_dpo_proposes_and_approves_with_their_key(tmp_path: Path) -> None:
    """A DPO's key proposes a new type and approves it; the CLI says to restart serve and shows it."""
    ada = key(tmp_path, "dpo-ada")
    document = tmp_path / "law.toml"
    document.write_text(BUILTIN + FINE)
    code, out, err = cli(tmp_path, "propose", str(document), "--key", ada, "--note", "unpaid fines")
    assert code == 0, err
    proposal = json.loads(out)
    assert proposal["version"]["version"] == 2 and proposal["changes"]["added"] == ["event_type fine.unpaid"]
    code, out, err = cli(tmp_path, "approve", "2", "--key", ada, "--reason", "read it")
    assert code == 0 and json.loads(out)["status"] == "approved" and "restart tessera serve" in err
    assert "fine.unpaid" in cli(tmp_path, "show")[1]


def test_a_restricting_basis_needs_two_dpos_keys(tmp_path: Path) -> None:
    """One DPO's key twice is one DPO: the version waits for another."""
    ada, bea = key(tmp_path, "dpo-ada"), key(tmp_path, "dpo-bea")
    document = tmp_path / "law.toml"
    document.write_text(BUILTIN + TRAVEL_BAN)
    code, out, _ = cli(tmp_path, "propose", str(document), "--key", ada, "--note", "public order")
    assert json.loads(out)["changes"]["why_two"] == ["legal basis public-order-act/9 can restrict (it names domains)"]
    code, out, err = cli(tmp_path, "approve", "2", "--key", ada)
    assert json.loads(out)["status"] == "pending" and "needs another" in err
    code, _, err = cli(tmp_path, "approve", "2", "--key", ada)
    assert code == 1 and "error [conflict]" in err
    code, out, _ = cli(tmp_path, "approve", "2", "--key", bea)
    assert json.loads(out)["status"] == "approved"


def test_someone_elses_key_decides_nothing(tmp_path: Path) -> None:
    """An admin's or an officer's key is not a DPO's; a bad key is named."""
    admin = key(tmp_path, "root", "admin")
    document = tmp_path / "law.toml"
    document.write_text(BUILTIN + FINE)
    code, _, err = cli(tmp_path, "propose", str(document), "--key", admin, "--note", "x")
    assert code == 1 and "--key: the API key is not an enabled data-protection officer's" in err
    code, _, err = cli(tmp_path, "propose", str(document), "--key", "nonsense", "--note", "x")
    assert code == 1 and "error [invalid_input]: --key" in err


def test_a_protected_name_is_refused_naming_the_file_field_and_category(tmp_path: Path) -> None:
    """A type named for worship is refused in one line naming the file, the field and the category."""
    ada = key(tmp_path, "dpo-ada")
    document = tmp_path / "law.toml"
    document.write_text(BUILTIN + FINE.replace("fine.unpaid", "citizen.worship_visit"))
    code, _, err = cli(tmp_path, "propose", str(document), "--key", ada, "--note", "visits")
    assert code == 1 and err.startswith(f"error [protected_category]: {document}:event_type[")
    assert ".name: uses the protected category 'religion'" in err


def test_an_exception_by_two_and_a_refusal(tmp_path: Path) -> None:
    """A proposal may carry a named exception, another DPO may refuse it, and a malformed one is refused."""
    ada, bea = key(tmp_path, "dpo-ada"), key(tmp_path, "dpo-bea")
    document = tmp_path / "law.toml"
    document.write_text(BUILTIN + FINE.replace("fine.unpaid", "branch.church_street_cash"))
    args = ["propose", str(document), "--key", ada, "--note", "cash"]
    code, out, err = cli(tmp_path, *args, "--exception", "branch.church_street_cash=Church Street: a street name")
    assert code == 0, err
    assert json.loads(out)["changes"]["new_exceptions"] == ["branch.church_street_cash"]
    code, out, _ = cli(tmp_path, "refuse", "2", "--key", bea, "--reason", "rename it to the branch code")
    assert json.loads(out)["status"] == "refused"
    assert cli(tmp_path, *args, "--exception", "no-equals-sign")[2].startswith("error [invalid_input]: --exception")


def test_export_writes_the_law_with_its_hash(tmp_path: Path) -> None:
    """export writes the law in force with its format, version and document to the given file."""
    out_file = tmp_path / "law.json"
    code, _, err = cli(tmp_path, "export", "--output", str(out_file))
    assert code == 0 and "version 1 written" in err
    export = json.loads(out_file.read_text())
    assert export["format"] == "tessera-declarations/1" and export["version"] == 1 and export["document"] == BUILTIN


FINES_ACT = """
[[legal_basis]]
id = "fines-act/3"
instrument = "Fines Act"
article = "s. 3"
kind = "statute"
covers = ["fine.unpaid"]
"""
RULE = """
[[rule]]
id = "fines.unpaid"
title = "An unpaid fine"
basis = "fines-act/3"
inputs = ["fine.unpaid"]
condition = "event.amount > 0"
reason_code = "fine_unpaid"
reason_text = "A fine is unpaid."
effects = [{ kind = "score", scheme = "credit", points = 5, expires_after = "30d" }]
"""


def test_serve_takes_rule_files_but_declarations_only_from_the_store(tmp_path: Path) -> None:
    """Attack: a rule author ships the event type inside the rule file. serve refuses it, naming file and key."""
    data = tmp_path / "data"
    smuggled = tmp_path / "smuggled.toml"
    smuggled.write_text(FINE + RULE)
    result = runner.invoke(app, ["serve", "--data", str(data), "--rules", str(smuggled)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error [invalid_input]: {smuggled}:event_type: a rule file holds only [[rule]]")
    rules = tmp_path / "fines.toml"
    rules.write_text(RULE)
    settings = Settings(data_dir=data, rules=(rules,))
    with pytest.raises(NotFoundError):  # neither fine.unpaid nor the Fines Act is law yet
        check_rule_files(settings)
    ada = key(data, "dpo-ada")
    document = tmp_path / "law.toml"
    document.write_text(BUILTIN + FINE + FINES_ACT)
    cli(data, "propose", str(document), "--key", ada, "--note", "fines")
    cli(data, "approve", "2", "--key", ada)
    check_rule_files(settings)  # the DPO's version, read from the store


HOUSING = """
[[legal_basis]]
id = "housing-act/2"
instrument = "Housing Act"
article = "s. 2 (housing grants)"
kind = "statute"
covers = ["benefit.claimed"]

[[benefit]]
id = "housing_grant"
title = "Housing grant"
bases = ["housing-act/2"]
"""
GRANT = """
[[rule]]
id = "housing.grant"
title = "A claim for the housing programme opens the grant"
basis = "housing-act/2"
inputs = ["benefit.claimed"]
condition = "event.amount > 0"
reason_code = "housing_claimed"
effects = [{ kind = "eligibility", benefit = "housing_grant", expires_after = "365d" }]
"""


def test_a_benefit_the_dpos_declare_is_one_rules_may_grant(tmp_path: Path) -> None:
    """Benefits are declarations too: a rule granting one loads once the DPOs' version holding it is law."""
    data = tmp_path / "data"
    rules = tmp_path / "housing.toml"
    rules.write_text(GRANT)
    settings = Settings(data_dir=data, rules=(rules,))
    with pytest.raises(NotFoundError):
        check_rule_files(settings)
    ada = key(data, "dpo-ada")
    document = tmp_path / "law.toml"
    document.write_text(BUILTIN + HOUSING)
    cli(data, "propose", str(document), "--key", ada, "--note", "housing grants")
    cli(data, "approve", "2", "--key", ada)
    check_rule_files(settings)
