"""``tessera`` command line. Each command is a thin wrapper; the work lives in the domain.

A command imports the domain when it runs, so `tessera --help` loads none of it (no FastAPI,
SQLAlchemy or numpy): the help stays instant, and the tests check it."""

from __future__ import annotations

import ipaddress
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tessera import __version__
from tessera.cli import declarations, money, oidc, programs, rules, sanctions
from tessera.cli.common import (
    DATA_DEFAULT,
    DatabaseOption,
    DataOption,
    command_group,
    naming_another_directory,
    open_store,
    reporting_errors,
)
from tessera.errors import InvalidInputError, NotFoundError

app = command_group("Tessera: open digital public infrastructure.")
bench_app = command_group("Speed benchmarks; each prints one JSON object.")
ledger_app = command_group("Inspect and operate a ledger directory.")
audit_app = command_group("Check the tamper-evident access log.")
keys_app = command_group("API keys for service principals (stored hashed).")
oidc_app = command_group("Relying parties: the services people log in to with their internet ID.")
app.add_typer(bench_app, name="bench")
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(oidc_app, name="oidc")
app.add_typer(rules.app, name="rules")
app.add_typer(programs.app, name="programs")
app.add_typer(declarations.app, name="declarations")
app.add_typer(sanctions.app, name="sanctions")
app.add_typer(money.agencies_app, name="agencies")
app.add_typer(money.ledgers_app, name="ledgers")

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


@bench_app.command("audit", context_settings=_PASS_THROUGH)
def bench_audit(ctx: typer.Context) -> None:
    """Durable access-log appends/s and proof latency (try: tessera bench audit --help)."""
    _run_bench("audit", ctx.args)


@bench_app.command("dedup", context_settings=_PASS_THROUGH)
def bench_dedup(ctx: typer.Context) -> None:
    """1:N de-duplication recall, false matches and search latency (try: tessera bench dedup --help)."""
    _run_bench("dedup", ctx.args)


@bench_app.command("http", context_settings=_PASS_THROUGH)
def bench_http(ctx: typer.Context) -> None:
    """Transfers/s and latency through HTTP against a local `tessera serve` (bounded load)."""
    _run_bench("http", ctx.args)


@bench_app.command("postgres-ledger", context_settings=_PASS_THROUGH)
def bench_postgres_ledger(ctx: typer.Context) -> None:
    """The same transfer workload against a throwaway PostgreSQL server, for comparison."""
    _run_bench("postgres_ledger", ctx.args)


@bench_app.command("programs", context_settings=_PASS_THROUGH)
def bench_programs(ctx: typer.Context) -> None:
    """A cycle's preview and durable disbursement over synthetic households (try: tessera bench programs --help)."""
    _run_bench("programs", ctx.args)


@bench_app.command("redemption", context_settings=_PASS_THROUGH)
def bench_redemption(ctx: typer.Context) -> None:
    """Redemptions at many shops over HTTP: approved in the app, and by PIN apart (try: --help)."""
    _run_bench("redemption", ctx.args)


@bench_app.command("rules", context_settings=_PASS_THROUGH)
def bench_rules(ctx: typer.Context) -> None:
    """Events/s from the ledger's event feed through 50 compiled rules to updated scores."""
    _run_bench("rules", ctx.args)


@bench_app.command("screening", context_settings=_PASS_THROUGH)
def bench_screening(ctx: typer.Context) -> None:
    """Sanctions screening: names/s against the lists, and recall and precision on labelled pairs."""
    _run_bench("screening", ctx.args)


@bench_app.command("check", context_settings=_PASS_THROUGH)
def bench_check(ctx: typer.Context) -> None:
    """Restriction checks/s in process, and their latency over HTTP."""
    _run_bench("check", ctx.args)


@ledger_app.command("inspect")
def ledger_inspect(
    directory: Annotated[Path, typer.Argument(help="The ledger's data directory.")],
) -> None:
    """Recover a ledger directory and print what recovery did and what it holds (JSON)."""
    from tessera.ledger import Ledger

    if not directory.is_dir():
        typer.echo(f"error: {directory} is not a directory", err=True)
        raise typer.Exit(2)
    with reporting_errors(), Ledger.open(directory, progress=lambda line: typer.echo(line, err=True)) as ledger:
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
    typer.echo(json.dumps(report, indent=2))


@ledger_app.command("snapshot")
def ledger_snapshot(
    directory: Annotated[Path, typer.Argument(help="The ledger's data directory.")],
) -> None:
    """Write a snapshot and drop the journal segments it covers."""
    from tessera.ledger import Ledger

    with reporting_errors(), Ledger.open(directory) as ledger:
        path = ledger.snapshot()
    typer.echo(str(path))


@audit_app.command("verify")
def audit_verify(
    directory: Annotated[Path, typer.Argument(help="The access log's directory.")],
) -> None:
    """Re-hash every entry and check every signed tree head; name the first bad entry."""
    from tessera.audit import verify_log

    with reporting_errors():
        report = verify_log(directory)
    typer.echo(json.dumps({"entries": report.entries, "tree_heads": report.tree_heads, "root": report.root.hex()}))


@app.command("serve")
def serve(
    *,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    public_url: Annotated[
        str | None,
        typer.Option(help="The https URL people reach this service at: the OIDC issuer and the passkeys' origin."),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Seed demo principals, wallets, enrolments, programmes and shops; print their keys."
        ),
    ] = False,
    reserve_accounts: Annotated[int, typer.Option(help="Make room for this many more accounts at start.", min=0)] = 0,
    reserve_transfers: Annotated[
        int, typer.Option(help="Make room for this many more transfers at start (no growth pauses).", min=0)
    ] = 0,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            help="A rule file to run on the ledger's feed (repeat for more; --demo adds the examples). Rules only: "
            "event types and legal bases are the declarations in force in the store (tessera declarations)."
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto to believe: addresses or networks, "
            "comma-separated. Default: none; each connection's own address is its client's (per-client rate limits)."
        ),
    ] = None,
) -> None:
    """Run the HTTP API (OpenAPI at /docs) on the ledger, registries and access log under --data."""
    import uvicorn

    from tessera.api import create_app
    from tessera.cli.banner import base_url, demo_banner
    from tessera.cli.seed import seed_demo
    from tessera.cli.story import tell_demo_story
    from tessera.rules import EXAMPLE_RULES, builtin_path
    from tessera.service import Services, Settings, check_rule_files, checked_public_url

    with reporting_errors():
        proxies = None if forwarded_allow_ips is None else checked_proxies(forwarded_allow_ips)
        rule_files = tuple(rules or ()) + ((builtin_path(EXAMPLE_RULES),) if demo else ())
        settings = Settings(
            data_dir=data,
            database_url=database_url,
            reserve_accounts=reserve_accounts,
            reserve_transfers=reserve_transfers,
            rules=rule_files,
            # Browsers allow passkeys over plain http on localhost only.
            public_url=checked_public_url(public_url or f"http://localhost:{port}"),
        )
        check_rule_files(settings)  # a refused rule stops here, in one line
        app_ = create_app(settings, freeze_startup=True)
        if demo:
            with naming_another_directory():
                services = Services(settings)
            try:
                seeded = seed_demo(services)
            finally:
                services.close()
            told = tell_demo_story(app_, seeded)  # the officers' requests, through the app before it listens
            typer.echo("\n".join(demo_banner(told, base_url(host, port))))
    typer.echo(f"Tessera on http://{host}:{port} (docs at /docs), data in {data}", err=True)
    # No access log: at this level it prints nothing, yet its arguments cost every request a few µs.
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # uvicorn's default believes the headers from 127.0.0.1: anyone on this host could then be any client.
        proxy_headers=proxies is not None,
        forwarded_allow_ips=proxies,
    )


def checked_proxies(value: str) -> str:
    """``--forwarded-allow-ips``: addresses and networks (``10.0.0.0/8``), comma-separated; ``*`` believes anyone."""
    items = [item.strip() for item in value.split(",")]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise InvalidInputError("--forwarded-allow-ips", f"{item!r:.60} is not an address or network") from None
    return ",".join(items)


@keys_app.command("create")
def keys_create(
    *,
    role: Annotated[str, typer.Option(help="citizen, officer, merchant, auditor, admin or dpo.")],
    name: Annotated[str, typer.Option(help="The principal's unique name; created if new.")],
    agency: Annotated[str, typer.Option(help="The agency an officer acts for.")] = "",
    display_name: Annotated[
        str, typer.Option(help="What people whose data it reads are shown (default: a pseudonym from its id).")
    ] = "",
    organisation: Annotated[
        str, typer.Option(help="org:<id>: the organisation a merchant acts for; its restrictions reach the accounts.")
    ] = "",
    approver: money.ApproverOption = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Create a principal (if new) and an API key for it; the key is printed once and stored hashed.

    A key for an officer of an agency that issues a ledger can create money: it needs two
    admins' API keys (--approver twice), the first asking and the second approving.
    """
    from tessera.auth import checked_name, checked_role, new_key

    with reporting_errors():
        wanted = checked_role(role)
        with open_store(data, database_url) as store:
            if money.needs_two_admins(store, wanted, agency):
                requests, (asker, approving) = money.approved_by_two(store, approver)
                approved = requests.approve(
                    requests.request_officer_key(asker, name, agency, display_name).id, approving
                )
                assert approved.token is not None and approved.request.outcome is not None
                typer.echo(f"officer key {approved.request.outcome['key_id']} approved by two admins:", err=True)
                typer.echo(approved.token)
                return
            if approver:
                raise InvalidInputError("--approver", "only keys for officers of an issuing agency need approvers")
            principal = store.get_principal_by_name(checked_name(name))
            if principal is None:
                principal = store.create_principal(
                    name, wanted, agency=agency, organisation=organisation, display_name=display_name
                )
            elif principal.role is not wanted:
                raise InvalidInputError("role", f"{name} exists as a {principal.role.value}, not a {wanted.value}")
            elif organisation and principal.organisation != organisation:
                found = principal.organisation or "no organisation"
                raise InvalidInputError("organisation", f"{name} exists acting for {found}, not {organisation}")
            elif display_name and principal.display_name != display_name:
                shown = repr(principal.display_name) if principal.display_name else "a pseudonym"
                raise InvalidInputError("display_name", f"{name} exists shown as {shown}: a display name never changes")
            key = new_key()
            store.add_api_key(key.key_id, principal.id, key.secret_hash, time.time_ns())
    typer.echo(f"principal {principal.id} ({principal.role.value} {principal.name}); key {key.key_id}:", err=True)
    typer.echo(key.token)


@keys_app.command("list")
def keys_list(
    name: Annotated[str, typer.Option(help="The principal's name.")],
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """List a principal's keys (ids and dates, never secrets) as JSON."""
    from tessera.auth import checked_name

    with reporting_errors(), open_store(data, database_url) as store:
        principal = store.get_principal_by_name(checked_name(name))
        if principal is None:
            raise NotFoundError("name", f"no principal named {name}")
        keys = store.list_api_keys(principal.id)
    rows = [{"key_id": k.key_id, "created_at_ns": k.created_at_ns, "revoked_at_ns": k.revoked_at_ns} for k in keys]
    typer.echo(json.dumps({"principal": principal.id, "keys": rows}, indent=2))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (the part after tsk_).")],
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Revoke an API key; requests with it are refused within seconds."""
    with reporting_errors(), open_store(data, database_url) as store:
        if store.get_api_key(key_id) is None:
            raise NotFoundError("key_id", f"no key {key_id}")
        store.revoke_api_key(key_id, time.time_ns())
    typer.echo(f"revoked {key_id}")


@app.command("demo")
def demo(
    data: Annotated[Path, typer.Option(help="Where the demo ledger lives.")] = Path("tessera-data/ledger"),
) -> None:
    """Issue money to two wallets, pay a merchant, refuse an overdraft; print what happened."""
    from tessera.cli.demo import run_demo

    with reporting_errors(), naming_another_directory():
        run_demo(data, typer.echo)


@oidc_app.command("register")
def oidc_register(
    *,
    name: Annotated[str, typer.Option(help="The service's name, shown on the consent page.")],
    redirect_uri: Annotated[list[str], typer.Option(help="An exact redirect URI (repeat for more); https.")],
    claim: Annotated[
        list[str] | None, typer.Option(help="A claim it may ask for: name, age_over_18, resident.")
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="A public client (an app): PKCE only, no secret.")] = False,
    sector: Annotated[
        str | None,
        typer.Option(help="The pairwise sector (default: the redirect URIs' host); it must hold every redirect host."),
    ] = None,
    by: Annotated[str, typer.Option(help="The admin principal registering it.")] = oidc.OPERATOR,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Register a relying party; prints its client id and secret (shown once, stored hashed) as JSON."""
    with reporting_errors(), open_store(data, database_url) as store:
        answer = oidc.register(store, name, redirect_uri, claims=claim or [], public=public, sector=sector, by=by)
    typer.echo(json.dumps(answer, ensure_ascii=False))


@oidc_app.command("disable")
def oidc_disable(
    client_id: Annotated[str, typer.Argument(help="The relying party's client id (rp_...).")],
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Stop a relying party for good: no new logins; its codes and tokens stop working."""
    from tessera.identity import RelyingParties

    with reporting_errors(), open_store(data, database_url) as store:
        if RelyingParties(store).get(client_id) is None:
            raise NotFoundError("client_id", f"no relying party {client_id}")
        RelyingParties(store).disable(client_id)
    typer.echo(f"disabled {client_id}", err=True)


if __name__ == "__main__":  # pragma: no cover (after every command is defined, the oidc ones included)
    sys.exit(app())
