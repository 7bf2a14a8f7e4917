"""The docs say what the code does: statuses, commands and the C engine agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from tessera.cli.main import app
from tessera.ledger import CreateAccountStatus, CreateTransferStatus, OrderStatus

ROOT = Path(__file__).resolve().parents[1]
LEDGER_DOC = (ROOT / "docs" / "ledger.md").read_text()
ENGINE_H = (ROOT / "src" / "tessera" / "ledger" / "engine.h").read_text()


def _doc_table(heading: str) -> dict[int, str]:
    section = LEDGER_DOC.split(f"### {heading}")[1].split("###")[0]
    return {int(code): name for code, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", section, re.M)}


@pytest.mark.parametrize("enum", [CreateTransferStatus, CreateAccountStatus, OrderStatus])
def test_every_status_is_in_the_docs_table(enum: type) -> None:
    """docs/ledger.md lists each status with its number."""
    assert _doc_table(enum.__name__) == {s.value: s.name for s in enum}


@pytest.mark.parametrize(("enum", "prefix"), [(CreateTransferStatus, "T_"), (CreateAccountStatus, "A_")])
def test_engine_status_numbers_match_python(enum: type, prefix: str) -> None:
    """The C enum and the Python IntEnum number the statuses identically."""
    body = re.search(r"enum \{\s*" + prefix + r"OK = 0,(.*?)\};", ENGINE_H, re.S)
    assert body is not None
    names = ["OK", *re.findall(prefix + r"(\w+)", body.group(1))]
    assert [n.lower() for n in names] == [s.name for s in enum]


def _commands() -> list[list[str]]:
    group = typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        found += [[name, s] for s in sub] if sub else [[name]]
    return found


def test_every_cli_command_has_help_and_a_docs_mention() -> None:
    """Each command answers --help (or documents itself) and the README or docs name it."""
    docs = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    runner = CliRunner()
    commands = _commands()
    assert ["bench", "ledger"] in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "usage" in result.output.lower()
        assert f"tessera {' '.join(command)}" in docs, command
