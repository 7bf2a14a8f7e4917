"""What every ``tessera`` command shares: the data options and the one-line error report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tessera.errors import LedgerLockedError, TesseraError

if TYPE_CHECKING:
    from tessera.store import Store


DataOption = Annotated[Path, typer.Option("--data", help="The data directory (created on first start).")]
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Registries in PostgreSQL (postgresql://...) instead of SQLite under --data."),
]
DATA_DEFAULT = Path("tessera-data")


def command_group(help: str) -> typer.Typer:
    """A group of commands whose help is click's plain text: rich's help formatter alone takes about
    a quarter of a second to import, and ``tessera --help`` is meant to answer in less than that."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a TesseraError into one line on stderr and exit status 1, never a traceback."""
    try:
        yield
    except TesseraError as error:
        typer.echo(f"error [{error.code}]: {error}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def naming_another_directory() -> Iterator[None]:
    """A ledger another process holds (a running ``tessera serve``, most often) says what to do about it."""
    try:
        yield
    except LedgerLockedError as error:
        hint = "a running tessera serve holds it: pass --data with another directory, or stop the server"
        raise LedgerLockedError(f"{error}; {hint}") from None


def open_store(data: Path, database_url: str | None) -> Store:
    """The registries under ``data`` (SQLite), or in PostgreSQL when a database URL is given."""
    from tessera.store import Store, store_url  # not tessera.service: a small command needs only the store

    data.mkdir(parents=True, exist_ok=True)
    return Store.open(store_url(data, database_url))
