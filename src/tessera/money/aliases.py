"""Aliases payees publish for their accounts, as UPI's payment addresses are: a name that resolves to a wallet.

A shop prints ``corner-grocer`` on its counter; a payer pays ``corner-grocer`` and the
service finds the account. The alias resolves to an account id and nothing more: who
holds the account is never shown (DESIGN.md principle 5, pseudonymous money). Aliases are
unique, lower-case, and a holder keeps at most ``ALIASES_PER_HOLDER_MAX``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.limits import ALIAS_MAX, ALIAS_MIN, ALIASES_PER_HOLDER_MAX
from tessera.store import Store, payment_aliases

# Letters and digits at both ends; dots, hyphens, underscores and one @ between, as in
# "corner-grocer" or "alice@tessera". ASCII only: no look-alike letters from other scripts.
_ALIAS = re.compile(r"[a-z0-9](?:[a-z0-9._-]*(?:@[a-z0-9][a-z0-9.-]*)?)?[a-z0-9]")


@dataclass(frozen=True, slots=True)
class Alias:
    """An alias and the account it pays into; ``principal_id`` is its holder's, never shown to payers."""

    alias: str
    account_id: int
    principal_id: str
    created_at_ns: int


def checked_alias(value: object, field: str = "alias") -> str:
    """An alias as stored: ``value`` in lower case, 3-64 of a-z 0-9 . _ - and one @, a letter or digit at each end."""
    if not isinstance(value, str):
        raise InvalidInputError(field, "must be a string")
    alias = value.lower() if value.isascii() else value
    if not ALIAS_MIN <= len(alias) <= ALIAS_MAX:
        raise InvalidInputError(field, f"must be {ALIAS_MIN}-{ALIAS_MAX} characters, got {len(alias)}")
    if not _ALIAS.fullmatch(alias):
        raise InvalidInputError(
            field, "must be a-z 0-9 . _ - and at most one @, starting and ending with a letter or digit"
        )
    return alias


class Aliases:
    """The aliases on record, in the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def publish(self, alias: str, account_id: int, principal_id: str) -> Alias:
        """Publish ``alias`` for an account its holder ``principal_id`` holds (the caller checks that); unique."""
        name = checked_alias(alias)
        published = Alias(name, account_id, principal_id, time.time_ns())
        taken = ConflictError("alias", f"{name!r} is taken; choose another")
        with self.store.transaction(write=True, conflict=lambda: taken) as conn:
            held = conn.scalar(
                select(func.count()).select_from(payment_aliases).where(payment_aliases.c.principal_id == principal_id)
            )
            if held is not None and held >= ALIASES_PER_HOLDER_MAX:
                raise ConflictError("alias", f"at most {ALIASES_PER_HOLDER_MAX} aliases each; delete one first")
            if conn.scalar(select(payment_aliases.c.alias).where(payment_aliases.c.alias == name)) is not None:
                raise taken
            conn.execute(
                payment_aliases.insert().values(
                    alias=name, account_id=account_id, principal_id=principal_id, created_at_ns=published.created_at_ns
                )
            )
        return published

    def resolve(self, alias: str, field: str = "alias") -> Alias:
        """The alias's record, or NotFoundError naming ``field``."""
        name = checked_alias(alias, field)
        with self.store.transaction() as conn:
            row = conn.execute(select(payment_aliases).where(payment_aliases.c.alias == name)).first()
        if row is None:
            raise NotFoundError(field, f"no alias {name!r} is published")
        return Alias(row.alias, row.account_id, row.principal_id, row.created_at_ns)

    def held_by(self, principal_id: str) -> list[Alias]:
        """A holder's aliases, by name (at most ``ALIASES_PER_HOLDER_MAX``)."""
        query = (
            select(payment_aliases)
            .where(payment_aliases.c.principal_id == principal_id)
            .order_by(payment_aliases.c.alias)
            .limit(ALIASES_PER_HOLDER_MAX)
        )
        with self.store.transaction() as conn:
            return [Alias(r.alias, r.account_id, r.principal_id, r.created_at_ns) for r in conn.execute(query)]

    def withdraw(self, alias: str, principal_id: str) -> None:
        """Delete one of the holder's aliases; another's, or none, is NotFoundError (the same answer for both)."""
        name = checked_alias(alias)
        with self.store.transaction(write=True) as conn:
            gone = conn.execute(
                delete(payment_aliases).where(
                    (payment_aliases.c.alias == name) & (payment_aliases.c.principal_id == principal_id)
                )
            ).rowcount
        if not gone:
            raise NotFoundError("alias", f"you have no alias {name!r}")
