"""``tessera agencies`` and ``tessera ledgers``: the registers that say who may create money.

A ledger, and a key for an officer of an agency that issues one, need two admins: the
commands take two admins' API keys (``--approver`` twice), and the first asks what the
second approves, exactly as ``POST /v1/admin/requests`` and ``.../approve`` do over HTTP.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from tessera.cli.common import DATA_DEFAULT, DatabaseOption, DataOption, command_group, open_store, reporting_errors
from tessera.errors import InvalidInputError

if TYPE_CHECKING:
    from tessera.auth import Principal, Role
    from tessera.money import AdminRequests, Approved
    from tessera.store import Store

agencies_app = command_group("The register of agencies an officer may act for.")
ledgers_app = command_group("The register of ledgers: units of account and their one issuer.")
_APPROVERS = 2  # one admin asks and another approves (money.approvals)
ApproverOption = Annotated[
    list[str] | None,
    typer.Option(
        "--approver",
        help="An admin's API key; give two different admins' keys: the first asks, the second approves.",
    ),
]


def needs_two_admins(store: Store, role: Role, agency: str) -> bool:
    """Whether a key for this role and agency can create money, so that two admins must approve it.

    Only an officer's can: any other key is made without loading ``tessera.money`` (and the
    ledger and numpy behind it), so that ``tessera keys create`` starts fast.
    """
    from tessera.auth import Role

    if role is not Role.officer:
        return False
    from tessera.money import AdminRequests

    return AdminRequests(store).needs_two_admins(role, agency)


def approved_by_two(store: Store, approvers: list[str] | None) -> tuple[AdminRequests, list[Principal]]:
    """The two distinct enabled admins behind ``approvers``, or an error naming the option."""
    from tessera.money import AdminRequests, admin_of_token

    keys = approvers or []
    if len(keys) != _APPROVERS:
        raise InvalidInputError("--approver", f"needs two admins' API keys, got {len(keys)}")
    admins = [admin_of_token(store, key, "--approver") for key in keys]
    if admins[0].id == admins[1].id:
        raise InvalidInputError("--approver", "the two keys must belong to two different admins")
    return AdminRequests(store), admins


@agencies_app.command("add")
def agencies_add(
    agency_id: Annotated[str, typer.Argument(help="Short id officers name: a-z 0-9 -, e.g. energy-ministry.")],
    title: Annotated[str, typer.Option(help="The agency's full title.")],
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Register an agency (never changed or removed afterwards)."""
    from tessera.money import Agencies

    with reporting_errors(), open_store(data, database_url) as store:
        agency = Agencies(store).register(agency_id, title, "cli")
    typer.echo(json.dumps({"id": agency.id, "title": agency.title}))


@agencies_app.command("list")
def agencies_list(data: DataOption = DATA_DEFAULT, database_url: DatabaseOption = None) -> None:
    """Every agency on record, as JSON."""
    from tessera.money import Agencies

    with reporting_errors(), open_store(data, database_url) as store:
        rows = [{"id": a.id, "title": a.title} for a in Agencies(store).all()]
    typer.echo(json.dumps({"agencies": rows}, indent=2))


@ledgers_app.command("add")
def ledgers_add(
    *,
    ledger_id: Annotated[int, typer.Option("--id", help="The ledger number accounts and transfers carry.")],
    name: Annotated[str, typer.Option(help="Short name: a-z 0-9 -, e.g. currency, fuel-quota.")],
    unit: Annotated[str, typer.Option(help="The unit: an ISO 4217 code, or litre, kg ...")],
    decimals: Annotated[int, typer.Option(help="Minor units: 2 means amounts are hundredths.")],
    issuer: Annotated[str, typer.Option(help="The one agency whose officers may create this ledger's money.")],
    category: Annotated[
        str, typer.Option(help="The data category of what it funds: a disability quota is disability data.")
    ] = "financial",
    approver: ApproverOption = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Register a ledger and its issuer; needs two admins (--approver twice)."""
    from tessera.money import ledger_unit

    with reporting_errors(), open_store(data, database_url) as store:
        requests, (asker, approving) = approved_by_two(store, approver)
        request = requests.request_ledger(
            asker, ledger_unit(ledger_id, name, unit, decimals, issuer, category=category)
        )
        approved = requests.approve(request.id, approving)
    typer.echo(json.dumps(_approval(approved)))


@ledgers_app.command("list")
def ledgers_list(data: DataOption = DATA_DEFAULT, database_url: DatabaseOption = None) -> None:
    """Every ledger on record with its unit, decimals and issuer, as JSON."""
    from tessera.money import Ledgers

    with reporting_errors(), open_store(data, database_url) as store:
        rows = [
            {
                "id": u.id,
                "name": u.name,
                "unit": u.unit,
                "decimals": u.decimals,
                "issuer": u.issuer,
                "category": u.category,
            }
            for u in Ledgers(store).all()
        ]
    typer.echo(json.dumps({"ledgers": rows}, indent=2))


def _approval(approved: Approved) -> dict[str, object]:
    request = approved.request
    return {
        "request": request.id,
        "requested_by": request.requested_by,
        "approved_by": request.decided_by,
        **request.terms,
    }
