"""``tessera oidc``: register the services people log in to (relying parties) from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.errors import InvalidInputError

if TYPE_CHECKING:
    from tessera.store import Store

OPERATOR = "operator"  # the admin principal the CLI acts as unless --by names another


def admin_id(store: Store, name: str) -> str:
    """The admin principal named ``name``; the default operator is made on first use."""
    from tessera.auth import Role, checked_name

    principal = store.get_principal_by_name(checked_name(name, "by"))
    if principal is None and name == OPERATOR:
        principal = store.create_principal(OPERATOR, Role.admin)
    if principal is None:
        raise InvalidInputError("by", f"no principal {name!r}")
    if principal.role is not Role.admin or principal.disabled:
        raise InvalidInputError("by", f"{name} is not an enabled admin")
    return principal.id


def register(
    store: Store, name: str, redirect_uris: list[str], *, claims: list[str], public: bool, sector: str | None, by: str
) -> dict[str, object]:
    """Register a relying party; the answer holds the client secret, shown this once.

    It also lists the relying parties already in the same sector (``shares_sector_with``):
    they see the same ``sub`` of a person as this one will, so the admin sees who they join.
    """
    from tessera.identity import RelyingParties

    parties = RelyingParties(store)
    registration = parties.register(
        name, redirect_uris, claims=claims, public=public, sector_id=sector, created_by=admin_id(store, by)
    )
    party = registration.relying_party
    others = [p for p in parties.in_sector(party.sector_id) if p.client_id != party.client_id]
    return {
        "client_id": party.client_id,
        "client_secret": registration.client_secret,
        "name": party.name,
        "redirect_uris": list(party.redirect_uris),
        "sector_id": party.sector_id,
        "claims": list(party.claims),
        "public": party.public,
        "shares_sector_with": [{"client_id": p.client_id, "name": p.name} for p in others],
    }
