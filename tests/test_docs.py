"""The docs say what the code does: statuses, commands and the C engine agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from fastapi.routing import APIRoute, iter_route_contexts
from typer.testing import CliRunner

from tessera.api import create_app
from tessera.cli.main import app
from tessera.ledger import CreateAccountStatus, CreateTransferStatus, OrderStatus
from tessera.service import Settings

ROOT = Path(__file__).resolve().parents[1]
LEDGER_DOC = (ROOT / "docs" / "ledger.md").read_text()
API_DOC = (ROOT / "docs" / "api.md").read_text()
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


Route = tuple[str, str]  # (method, path with each {parameter} written {})


def _route(method: str, path: str) -> Route:
    return method, re.sub(r"\{[^}]*\}", "{}", path)


def _app_routes(data: Path) -> dict[Route, str]:
    """Every route the app serves, to the group it belongs to (its routes module: ledger, me, oidc, ...)."""
    found = {}
    for context in iter_route_contexts(create_app(Settings(data_dir=data, ledger_sync=False)).routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            group = route.endpoint.__module__.rsplit(".", 1)[-1]
            found |= {_route(method, context.path): group for method in route.methods - {"HEAD"}}
    return found


def _section(heading: str) -> str:
    return API_DOC.split(f"\n## {heading}\n")[1].split("\n## ")[0]


def test_every_route_is_in_the_docs_routes_table(tmp_path: Path) -> None:
    """docs/api.md's table names every route the app serves, and no route it does not."""
    rows = re.findall(r"^\| `([A-Z, ]+) (/\S*)` \|", _section("Routes"), re.M)
    documented = {_route(method, path) for methods, path in rows for method in methods.split(", ")}
    served = set(_app_routes(tmp_path))
    assert sorted(served - documented) == [], "served, not in docs/api.md's Routes table"
    assert sorted(documented - served) == [], "in docs/api.md's Routes table, not served"


def _examples() -> list[Route]:
    """The method and path of each curl line in docs/api.md's Examples."""
    found = []
    for line in _section("Examples").splitlines():
        if line.startswith("curl "):
            url = re.search(r"http://127\.0\.0\.1:8000(/[^\s'\"?]*)", line)
            assert url is not None, line
            method = re.search(r" -X ([A-Z]+)", line)
            sends = re.search(r" (-d|--data|--json) ", line)
            path = re.sub(r"\$\{?[A-Za-z_]\w*\}?", "{}", url.group(1))  # a shell variable holds a path parameter
            found.append(_route(method.group(1) if method else ("POST" if sends else "GET"), path))
    return found


def test_each_group_of_routes_has_an_example_of_a_route_that_exists(tmp_path: Path) -> None:
    """Every curl example names a served route, and each group of routes (ledger, me, oidc, ...) has one."""
    served = _app_routes(tmp_path)
    examples = _examples()
    assert [e for e in examples if e not in served] == []
    assert sorted(set(served.values()) - {served[e] for e in examples}) == [], "groups without an example"


def test_the_docs_name_only_loggers_the_code_has() -> None:
    """Each logger docs/api.md names (`tessera.x` logger) is one the code logs on."""
    source = "".join(p.read_text() for p in (ROOT / "src" / "tessera").rglob("*.py"))
    named = re.findall(r"`(tessera\.[a-z_.]+)` logger", API_DOC)
    assert named and [n for n in named if f'getLogger("{n}")' not in source] == []
