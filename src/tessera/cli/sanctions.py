"""``tessera sanctions``: import sanctions lists and screen names against them."""

from __future__ import annotations

import typer

app = typer.Typer(help="Sanctions lists: import them, screen names against them.", no_args_is_help=True)


@app.command("import")
def import_list() -> None:
    """Import a sanctions list file (not built yet)."""
    raise NotImplementedError("tessera sanctions import: not built yet (issue 5)")
