"""``tessera rules``: load and check rule files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Policy rules: check rule files before they are deployed.", no_args_is_help=True)


@app.command("check")
def check() -> None:
    """Load rule files; exit 0 when every rule loads, 2 otherwise (not built yet)."""
    raise NotImplementedError("tessera rules check: the rule loader is not built yet (issue 5)")
