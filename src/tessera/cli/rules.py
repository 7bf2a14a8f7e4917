"""``tessera rules``: load and check rule files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tessera.cli.common import reporting_errors
from tessera.rules.definitions import BUILTIN_DEFINITIONS, builtin_path, load_benefits, load_definitions
from tessera.rules.language import check_rules

app = typer.Typer(help="Policy rules: check rule files before they are deployed.", no_args_is_help=True)


@app.command("check")
def check(
    files: Annotated[list[Path], typer.Argument(help="Rule files (TOML, [[rule]] tables).")],
    definitions: Annotated[
        list[Path] | None,
        typer.Option(
            "--definitions", help="More event types, legal bases and benefits (TOML), besides the built-in ones."
        ),
    ] = None,
) -> None:
    """Load rule files; exit 0 when every rule loads, 2 otherwise, printing each refusal on one line."""
    with reporting_errors():
        sources = [builtin_path(BUILTIN_DEFINITIONS), *(definitions or [])]
        types, bases = load_definitions(sources)
        benefits = load_benefits(sources, bases)
    rules, refusals = check_rules(files, types, bases, benefits)
    for refusal in refusals:
        typer.echo(refusal.line())
    typer.echo(f"{len(rules)} rules load, {len(refusals)} refused", err=True)
    if refusals:
        raise typer.Exit(2)
