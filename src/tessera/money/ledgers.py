"""The register of ledgers: each unit of account, its decimals, and the one agency that issues it.

A ledger number in an account or a transfer (``tessera.ledger``) means what this register
says: ledger 1 might be the currency in cents, issued by the central bank; ledger 7 a fuel
quota in decilitres, issued by the energy ministry. Only the issuer's officers may hold an
account that can go negative on a ledger (``money.kinds``), so the issuer is the fact that
decides who can create money. Rows are added by two admins (``money.approvals``), never changed.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX, U32_LIMIT
from tessera.money.agencies import checked_agency_id
from tessera.store import LEDGER_NAME_MAX, LEDGER_UNIT_MAX, Store, agencies, ledgers

# tessera.rules.Category.financial (a test checks), spelled out: the register loads without the rules engine,
# so that a command such as `tessera keys create` starts in a fraction of a second.
FINANCIAL = "financial"

LEDGER_ID_MAX = U32_LIMIT - 1  # the records' u32
DECIMALS_MAX = 18
LEDGERS_LIST_MAX = PAGE_SIZE_MAX
_NAME = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{LEDGER_NAME_MAX - 1}}}")
_UNIT = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{LEDGER_UNIT_MAX - 1}}}")


@dataclass(frozen=True, slots=True)
class LedgerUnit:
    """A unit of account: ledger ``id`` counts ``unit`` in 10**-decimals, and ``issuer`` alone creates it."""

    id: int
    name: str  # "currency", "fuel-quota"
    unit: str  # "XTS", "litre"
    decimals: int  # 2: amounts are cents
    issuer: str  # an agency id
    category: str = FINANCIAL  # what it funds, as data: a disability quota is disability data
    registered_at_ns: int = 0
    requested_by: str = ""
    approved_by: str = ""


def ledger_unit(
    id: object, name: object, unit: object, decimals: object, issuer: object, *, category: object = FINANCIAL
) -> LedgerUnit:
    """A checked unit of account from plain values; the message names the field at fault.

    ``category`` is the data category of what the ledger funds (``tessera.rules.Category``):
    a rule comparing an amount's ledger with this one reads that category (issue 16).
    """
    if isinstance(id, bool) or not isinstance(id, int) or not 1 <= id <= LEDGER_ID_MAX:
        raise InvalidInputError("id", f"must be an integer from 1 to {LEDGER_ID_MAX}, got {id!r:.40}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError("name", f"must be 1-{LEDGER_NAME_MAX} of a-z 0-9 - (starting a-z 0-9)")
    if not isinstance(unit, str) or not _UNIT.fullmatch(unit):
        raise InvalidInputError("unit", f"must be 1-{LEDGER_UNIT_MAX} of A-Z a-z 0-9 . _ - (an ISO 4217 code, 'litre')")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= DECIMALS_MAX:
        raise InvalidInputError("decimals", f"must be an integer from 0 to {DECIMALS_MAX}")
    from tessera.rules import Category  # noqa: PLC0415 (the rules engine loads only where a ledger is made)

    if category not in Category.__members__:
        raise InvalidInputError("category", f"must be a data category ({', '.join(Category)}), got {category!r:.40}")
    return LedgerUnit(id, name, unit, decimals, checked_agency_id(issuer, "issuer"), str(category))


class Ledgers:
    """The ledgers on record, in the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, ledger: LedgerUnit, *, requested_by: str, approved_by: str) -> LedgerUnit:
        """Add a ledger as two admins agreed (``money.approvals`` calls this); a taken id or name conflicts."""
        if requested_by == approved_by:
            raise ConflictError("approved_by", "a ledger is registered by two different admins")
        stored = dataclasses.replace(
            ledger, registered_at_ns=time.time_ns(), requested_by=requested_by, approved_by=approved_by
        )
        with self.store.transaction(
            write=True,
            conflict=lambda: ConflictError(
                "id", f"ledger {ledger.id} or the name {ledger.name!r} is already registered"
            ),
        ) as conn:
            if conn.scalar(select(agencies.c.id).where(agencies.c.id == ledger.issuer)) is None:
                raise NotFoundError("issuer", f"no agency {ledger.issuer!r} is registered")
            taken = conn.execute(
                select(ledgers.c.id).where((ledgers.c.id == ledger.id) | (ledgers.c.name == ledger.name))
            ).first()
            if taken is not None:
                field = "id" if taken.id == ledger.id else "name"
                raise ConflictError(field, f"ledger {ledger.id} or the name {ledger.name!r} is already registered")
            conn.execute(
                ledgers.insert().values(
                    id=stored.id,
                    name=stored.name,
                    unit=stored.unit,
                    decimals=stored.decimals,
                    issuer=stored.issuer,
                    category=stored.category,
                    registered_at_ns=stored.registered_at_ns,
                    requested_by=requested_by,
                    approved_by=approved_by,
                )
            )
        return stored

    def get(self, ledger_id: int) -> LedgerUnit | None:
        if isinstance(ledger_id, bool) or not isinstance(ledger_id, int) or not 1 <= ledger_id <= LEDGER_ID_MAX:
            return None
        with self.store.transaction() as conn:
            row = conn.execute(select(ledgers).where(ledgers.c.id == ledger_id)).first()
        return None if row is None else _unit_of(row)

    def require(self, ledger_id: int, field: str = "ledger") -> LedgerUnit:
        """The ledger, or NotFoundError naming the field."""
        found = self.get(ledger_id)
        if found is None:
            raise NotFoundError(field, f"ledger {ledger_id} is not registered (tessera ledgers list)")
        return found

    def all(self) -> list[LedgerUnit]:
        """Every ledger on record, by id (at most ``LEDGERS_LIST_MAX``)."""
        with self.store.transaction() as conn:
            rows = conn.execute(select(ledgers).order_by(ledgers.c.id).limit(LEDGERS_LIST_MAX))
            return [_unit_of(r) for r in rows]

    def issued_by(self, agency: str) -> list[LedgerUnit]:
        """The ledgers an agency issues: its officers can create money on these."""
        if not agency:
            return []
        with self.store.transaction() as conn:
            rows = conn.execute(select(ledgers).where(ledgers.c.issuer == agency).order_by(ledgers.c.id))
            return [_unit_of(r) for r in rows]


def _unit_of(r: Row[Any]) -> LedgerUnit:
    category = r.category or FINANCIAL  # registered before ledgers had categories: money
    return LedgerUnit(
        r.id, r.name, r.unit, r.decimals, r.issuer, category, r.registered_at_ns, r.requested_by, r.approved_by
    )
