"""``tessera programs products import`` and ``tessera programs outlets list``: the shops' registers from a shell."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tessera.auth import Role
from tessera.cli.main import app
from tessera.programs import Outlets
from tessera.store import Store, store_url
from tests.programs.cycle_world import open_world, register_ration

runner = CliRunner()
RICE = "product_code,description,unit,commodity,quantity\nRICE-5KG,Rice 5 kg bag,bag,rice,5000\n"


def _store_with_officer(data: Path) -> None:
    """A store where ``rice_ration`` is registered (a quota of rice) and ``maker`` is an officer."""
    world = open_world(data, persons=4)
    try:
        register_ration(world)
    finally:
        world.services.close()


def test_a_product_list_imports_and_prints_its_version(tmp_path: Path) -> None:
    """The import prints programme, version, count and SHA-256; a second import is version 2."""
    _store_with_officer(tmp_path)
    csv = tmp_path / "rice.csv"
    csv.write_text(RICE)
    args = ["programs", "products", "import", "rice_ration", str(csv), "--as", "maker", "--data", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    made = json.loads(first.stdout)
    assert (made["programme"], made["version"], made["products"]) == ("rice_ration", 1, 1)
    assert json.loads(runner.invoke(app, args).stdout)["version"] == 2


def test_a_bad_line_is_one_error_line_naming_line_and_column(tmp_path: Path) -> None:
    """A negative quantity exits 1 with the code, line and column, and no version is made."""
    _store_with_officer(tmp_path)
    csv = tmp_path / "rice.csv"
    csv.write_text(RICE.replace("5000", "-5"))
    args = ["programs", "products", "import", "rice_ration", str(csv), "--as", "maker", "--data", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error [invalid_input]: line 2, quantity:")


def test_an_unknown_actor_or_programme_is_refused(tmp_path: Path) -> None:
    """--as must name an officer or admin, the programme must exist: each a not_found on stderr, exit 1."""
    _store_with_officer(tmp_path)
    csv = tmp_path / "rice.csv"
    csv.write_text(RICE)
    # food_cash is a built-in example, but not registered here: the store's register decides, not the examples.
    cases = [("rice_ration", "nobody", "--as"), ("free_beer", "maker", "programme")]
    cases.append(("food_cash", "maker", "programme"))
    for programme, actor, field in cases:
        args = ["programs", "products", "import", programme, str(csv), "--as", actor, "--data", str(tmp_path)]
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and f"error [not_found]: {field}:" in result.stderr


def test_outlets_list_prints_one_json_line_each(tmp_path: Path) -> None:
    """Outlets print one JSON object a line, filtered by a location prefix."""
    tmp_path.mkdir(exist_ok=True)
    with Store.open(store_url(tmp_path)) as store:
        grocer = store.create_principal("grocer", Role.merchant)
        outlets = Outlets(store)
        made = outlets.register("admin", name="Grocer", operator=grocer.id, category=5411, location="KE-047-0012")
        outlets.register("admin", name="Station", operator=grocer.id, category=5541, location="KE-030-0001")
    result = runner.invoke(app, ["programs", "outlets", "list", "--location", "KE-047", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [made.id]
