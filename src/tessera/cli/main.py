"""``tessera`` command line. Each command is a thin wrapper; the work lives in the domain."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Annotated

import typer

from tessera import __version__
from tessera.audit import verify_log
from tessera.cli.demo import run_demo
from tessera.errors import TesseraError
from tessera.ledger import Ledger

app = typer.Typer(help="Tessera: open digital public infrastructure.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed benchmarks; each prints one JSON object.", no_args_is_help=True)
ledger_app = typer.Typer(help="Inspect and operate a ledger directory.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the tamper-evident access log.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")

# Bench scripts parse their own flags (argparse), so click must pass everything through.
_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


def _bench_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "bench"


def _run_bench(name: str, args: list[str]) -> None:
    script = _bench_dir() / f"{name}.py"
    if not script.exists():
        typer.echo(f"error: {script} not found; benchmarks run from a source checkout (pip install -e .)", err=True)
        raise typer.Exit(2)
    namespace = runpy.run_path(str(script), run_name="tessera_bench")
    raise typer.Exit(namespace["main"](args))


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Tessera: identity, money, programs and policy, with the safeguards inside the engine."""
    if version:
        typer.echo(__version__)
        raise typer.Exit()


@bench_app.command("ledger", context_settings=_PASS_THROUGH)
def bench_ledger(ctx: typer.Context) -> None:
    """Durable transfers/s through the ledger (try: tessera bench ledger --help)."""
    _run_bench("ledger", ctx.args)


@bench_app.command("postgres-ledger", context_settings=_PASS_THROUGH)
def bench_postgres_ledger(ctx: typer.Context) -> None:
    """The same transfer workload against a throwaway PostgreSQL server, for comparison."""
    _run_bench("postgres_ledger", ctx.args)


@ledger_app.command("inspect")
def ledger_inspect(
    directory: Annotated[Path, typer.Argument(help="The ledger's data directory.")],
) -> None:
    """Recover a ledger directory and print what recovery did and what it holds (JSON)."""
    if not directory.is_dir():
        typer.echo(f"error: {directory} is not a directory", err=True)
        raise typer.Exit(2)
    try:
        with Ledger.open(directory, progress=lambda line: typer.echo(line, err=True)) as ledger:
            recovery = ledger.recovery
            report = {
                "directory": str(directory),
                "accounts": ledger.counts["accounts"],
                "transfers": ledger.counts["transfers"],
                "recovery": {
                    "snapshot_seq": recovery.snapshot_seq,
                    "entries_replayed": recovery.entries_replayed,
                    "truncated_bytes": recovery.truncated_bytes,
                    "truncated_segment": recovery.truncated_segment,
                    "seconds": round(recovery.seconds, 3),
                },
            }
    except TesseraError as error:
        typer.echo(f"error [{error.code}]: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report, indent=2))


@ledger_app.command("snapshot")
def ledger_snapshot(
    directory: Annotated[Path, typer.Argument(help="The ledger's data directory.")],
) -> None:
    """Write a snapshot and drop the journal segments it covers."""
    try:
        with Ledger.open(directory) as ledger:
            path = ledger.snapshot()
    except TesseraError as error:
        typer.echo(f"error [{error.code}]: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(path))


@audit_app.command("verify")
def audit_verify(
    directory: Annotated[Path, typer.Argument(help="The access log's directory.")],
) -> None:
    """Re-hash every entry and check every signed tree head; name the first bad entry."""
    try:
        report = verify_log(directory)
    except TesseraError as error:
        typer.echo(f"error [{error.code}]: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"entries": report.entries, "tree_heads": report.tree_heads, "root": report.root.hex()}))


@app.command("demo")
def demo(
    data: Annotated[Path, typer.Option(help="Where the demo ledger lives.")] = Path("tessera-data/ledger"),
) -> None:
    """Issue money to two wallets, pay a merchant, refuse an overdraft; print what happened."""
    try:
        run_demo(data, typer.echo)
    except TesseraError as error:
        typer.echo(f"error [{error.code}]: {error}", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
