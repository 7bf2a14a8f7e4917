"""``tessera declarations``: data-protection officers propose, approve, refuse and export what data means.

A DPO acts with their own API key (``--key``, or ``TESSERA_DPO_KEY``), made with
``tessera keys create --role dpo``; the CLI checks it as the API would, so the two-DPO rule
holds here as over HTTP. Reading (``list``, ``show``, ``export``) needs no key: the law is
public. ``tessera rules check`` reads the version in force from the store, or an export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tessera.cli.common import DATA_DEFAULT, DatabaseOption, DataOption, command_group, open_store, reporting_errors
from tessera.errors import InvalidInputError, NotFoundError, UnauthenticatedError

if TYPE_CHECKING:
    from tessera.auth import Principal
    from tessera.rules import DeclarationProposal, DeclarationVersion, Declared
    from tessera.store import Store

app = command_group("Declarations (event types, records, legal bases): law made by data-protection officers.")
KeyOption = Annotated[
    str,
    typer.Option("--key", envvar="TESSERA_DPO_KEY", help="Your API key as a data-protection officer (tsk_...)."),
]
VERSION_MAX = 2**31 - 1


def dpo_of_token(store: Store, token: str, field: str = "--key") -> Principal:
    """The enabled data-protection officer whose API key this is, or an error naming the option."""
    from tessera.auth import Role, parse_token, secret_matches

    try:
        key_id, secret = parse_token(token)
    except UnauthenticatedError:
        raise InvalidInputError(field, "must be a data-protection officer's API key (tsk_...)") from None
    record = store.get_api_key(key_id)
    if record is None or record.revoked_at_ns is not None or not secret_matches(secret, record.secret_hash):
        raise InvalidInputError(field, "the API key is unknown or revoked")
    principal = store.get_principal(record.principal_id)
    if principal is None or principal.disabled or principal.role is not Role.dpo:
        raise InvalidInputError(field, "the API key is not an enabled data-protection officer's")
    return principal


def declared_for_check(export: Path | None, data: Path, database_url: str | None) -> tuple[Declared, str]:
    """The declarations ``tessera rules check`` judges rules against, and where they came from.

    A DPO's export if given; else the version in force in the store (``--data`` or
    ``--database-url``); a data directory with no store yet reads as a fresh install would
    (version 1: the built-in definitions), creating nothing.
    """
    from tessera.rules import Declarations, builtin_declarations, declared_from_export, ledger_codes_in

    if export is not None:
        try:
            data_ = json.loads(export.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(str(export), "no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidInputError(str(export), f"not a declarations export: {error}") from None
        made = declared_from_export(data_, str(export))
        return made, f"{export} (version {made.version})"
    if database_url is None and not (data / "registry.db").exists():
        made = builtin_declarations()
        return made, f"the built-in declarations (no store at {data}: what version 1 of a fresh install is)"
    with open_store(data, database_url) as store:
        made = Declarations(store).current()
        with store.transaction() as conn:  # what each ledger funds, as the service reads it (rules/codes.py)
            made.types.use_codes(made.types.codes.replaced(ledger_codes_in(conn)))
    where = "--database-url" if database_url else str(data)
    return made, f"version {made.version or 1} in force in the store at {where}"


@app.command("list")
def list_versions(
    status: Annotated[str | None, typer.Option(help="pending, approved or refused.")] = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Every version, newest first (no documents), with its status and who decided it, as JSON."""
    from tessera.rules import Declarations, DeclarationStatus

    with reporting_errors(), open_store(data, database_url) as store:
        if status is not None and status not in DeclarationStatus.__members__:
            raise InvalidInputError("--status", "must be pending, approved or refused")
        register = Declarations(store)
        current = register.bootstrap()  # version 1 recorded on a store with none, as the service does at start
        found = register.versions(None if status is None else DeclarationStatus(status))
    rows = [_version_json(v) for v in found]
    typer.echo(json.dumps({"in_force": current.version, "versions": rows}, indent=2))


@app.command("show")
def show(
    version: Annotated[int | None, typer.Argument(help="A version number (default: the one in force).", min=1)] = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Print a version's whole document (TOML): the text to edit for the next proposal."""
    from tessera.rules import Declarations

    with reporting_errors(), open_store(data, database_url) as store:
        register = Declarations(store)
        found = register.bootstrap() if version is None else register.require(version)
    typer.echo(found.document, nl=False)


@app.command("propose")
def propose(
    file: Annotated[Path, typer.Argument(help="The whole declarations document (TOML), as it is to be law.")],
    *,
    key: KeyOption,
    note: Annotated[str, typer.Option(help="Why: the DPOs who approve it read this.")],
    exception: Annotated[
        list[str] | None,
        typer.Option(help="NAME=REASON: waive the lexicon's refusal of NAME (repeat; needs two DPOs)."),
    ] = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Propose a new version (checked now: lexicon, shapes, loader, bases on record); print what it changes."""
    from tessera.rules import Declarations

    with reporting_errors():
        text = _document(file)
        exceptions = _exceptions(exception) if exception else None
        with open_store(data, database_url) as store:
            proposal = Declarations(store).propose(dpo_of_token(store, key), text, note, exceptions, name=str(file))
    typer.echo(json.dumps(_proposal_json(proposal), indent=2))


@app.command("approve")
def approve(
    version: Annotated[int, typer.Argument(help="The pending version.", min=1, max=VERSION_MAX)],
    key: KeyOption,
    reason: Annotated[str, typer.Option(help="Why (optional).")] = "",
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Approve a pending version; it is law once it has its approvals (a running service loads it at its next start)."""
    from tessera.rules import Declarations, DeclarationStatus

    with reporting_errors(), open_store(data, database_url) as store:
        decided = Declarations(store).approve(version, dpo_of_token(store, key), reason)
    if decided.status is DeclarationStatus.approved:
        typer.echo(f"version {version} is in force; restart tessera serve to load it", err=True)
    else:
        typer.echo(f"version {version} needs another data-protection officer's approval", err=True)
    typer.echo(json.dumps(_version_json(decided), indent=2))


@app.command("refuse")
def refuse(
    version: Annotated[int, typer.Argument(help="The pending version.", min=1, max=VERSION_MAX)],
    key: KeyOption,
    reason: Annotated[str, typer.Option(help="Why it is refused (the proposer reads it).")],
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Refuse a pending version, with a reason (the proposer may: a withdrawal)."""
    from tessera.rules import Declarations

    with reporting_errors(), open_store(data, database_url) as store:
        decided = Declarations(store).refuse(version, dpo_of_token(store, key), reason)
    typer.echo(json.dumps(_version_json(decided), indent=2))


@app.command("export")
def export(
    version: Annotated[int | None, typer.Option(help="An approved version (default: the one in force).", min=1)] = None,
    output: Annotated[Path | None, typer.Option(help="Write the export here instead of stdout.")] = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """The declarations as JSON with their hash, for tessera rules check --declarations where the store is not."""
    from tessera.rules import Declarations

    with reporting_errors(), open_store(data, database_url) as store:
        made = Declarations(store).export(version)
    text = json.dumps(made, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"version {made['version']} written to {output}", err=True)


def _document(file: Path) -> str:
    """The file's text, read and parsed as the loader does (size, UTF-8, TOML), so errors name the file."""
    from tessera.rules import read_toml

    read_toml(file, 0)
    return file.read_text(encoding="utf-8")


def _exceptions(items: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        name, sep, reason = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError("--exception", f"must be NAME=REASON, got {item!r:.60}")
        found[name.strip()] = reason.strip()
    return found


def _version_json(v: DeclarationVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "base_version": v.base_version,
        "status": v.status.value,
        "sha256": v.sha256,
        "note": v.note,
        "approvals_needed": v.approvals_needed,
        "proposed_by": v.proposed_by,
        "proposed_at_ns": v.proposed_at_ns,
        "decided_at_ns": v.decided_at_ns,
        "exceptions": dict(v.exceptions),
        "decisions": [
            {"principal_id": d.principal_id, "decision": d.decision, "reason": d.reason, "at_ns": d.at_ns}
            for d in v.decisions
        ],
    }


def _proposal_json(p: DeclarationProposal) -> dict[str, Any]:
    c = p.changes
    changes = {
        "added": list(c.added),
        "changed": list(c.changed),
        "removed": list(c.removed),
        "restricting_bases": list(c.restricting_bases),
        "new_exceptions": list(c.new_exceptions),
        "benefit_bases": list(c.benefit_bases),
        "why_two": c.why_two(),
    }
    return {"version": _version_json(p.version), "changes": changes}
