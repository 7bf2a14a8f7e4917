"""Who exercises a legal basis: the acting officer's agency, a court order's reference, and the bases on record.

``Restrictions`` asks here before anything takes effect (issue 15): a restriction under a
basis is put into effect, decided, amended or lifted only by an enabled officer of an
agency the basis names (``LegalBasis.exercised_by``), looked up in the store in the same
transaction, never taken from the caller; a court order only with its reference
(``CourtOrder``). An appeal on a restriction under a court order or a listing is heard
only by that agency too (``require_appeal_hearer``). The bases' terms, agencies included,
are kept in ``legal_bases``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.rules.basis import (
    BasisKind,
    CourtOrder,
    LegalBasis,
    court_order,
    domains_of,
    domains_text,
    legal_basis,
    with_agencies_of,
)
from tessera.store import agencies, legal_bases, principals

log = logging.getLogger(__name__)
# Appeals on a restriction under these are heard only by an agency the basis names (require_appeal_hearer).
HEARD_BY_ITS_AGENCIES = frozenset({BasisKind.court_order, BasisKind.sanctions_listing})


def basis_of_row(row: Row[Any]) -> LegalBasis:
    """A ``legal_bases`` row as a basis; a record from before migration 0013 names no agency."""
    agencies = row.exercised_by.split(",") if row.exercised_by else []
    return legal_basis(row.id, row.instrument, row.article, row.kind, domains_of(row.domains), exercised_by=agencies)


def record_basis(conn: Connection, basis: LegalBasis, now: int) -> None:
    """Keep the basis's terms on record once; terms that differ from the record are a conflict.

    A record from before bases named their agencies gets them once, from the first
    registration of the same terms that names them (``with_agencies_of``). The agencies
    written are registered ones (the register of agencies, migration 0012).
    """
    row = conn.execute(select(legal_bases).where(legal_bases.c.id == basis.id)).first()
    if row is None:
        _require_registered(conn, basis)
        conn.execute(
            insert(legal_bases).values(
                id=basis.id,
                instrument=basis.instrument,
                article=basis.article,
                kind=basis.kind.value,
                domains=domains_text(basis.domains),
                exercised_by=_agencies_text(basis),
                registered_at_ns=now,
            )
        )
        return
    recorded = basis_of_row(row)
    merged = with_agencies_of(recorded, basis)
    if merged is None:
        raise ConflictError("basis.id", f"legal basis {basis.id} is on record with other terms")
    if merged.exercised_by != recorded.exercised_by:  # what a basis covers is not on record yet (issue 16)
        _require_registered(conn, merged)
        log.warning("legal basis %s: its agencies recorded (%s)", basis.id, merged.agencies_text())
        conn.execute(
            update(legal_bases).where(legal_bases.c.id == basis.id).values(exercised_by=_agencies_text(merged))
        )


def _require_registered(conn: Connection, basis: LegalBasis) -> None:
    """NotFoundError naming the first agency of ``basis`` that the register of agencies does not hold."""
    wanted = sorted(basis.exercised_by)
    known = set(conn.scalars(select(agencies.c.id).where(agencies.c.id.in_(wanted)))) if wanted else set()
    for agency in wanted:
        if agency not in known:
            raise NotFoundError("basis.exercised_by", f"no agency {agency!r} is registered (tessera agencies list)")


def _agencies_text(basis: LegalBasis) -> str | None:
    return ",".join(sorted(basis.exercised_by)) or None


def agencies_of(conn: Connection, ids: set[str]) -> dict[str, str]:
    """The agency of each enabled officer among ``ids`` (principal ids); anyone else (a rule) has none."""
    if not ids:
        return {}
    query = select(principals.c.id, principals.c.agency).where(
        principals.c.id.in_(sorted(ids)), principals.c.role == "officer", principals.c.disabled.is_(False)
    )
    return {principal_id: agency for principal_id, agency in conn.execute(query)}


def require_agency(conn: Connection, officer: str, basis: LegalBasis, verb: str, what: str = "a restriction") -> None:
    """ForbiddenError unless ``officer`` is an enabled officer of an agency ``basis`` names."""
    agency = agencies_of(conn, {officer}).get(officer, "")
    if not basis.exercisable_by(agency):
        raise ForbiddenError(
            f"only an officer of {basis.agencies_text()} may {verb} {what} under {basis.cite()}"
            f" (you act for {agency or 'no agency'})"
        )


def require_appeal_hearer(conn: Connection, officer: str, basis: LegalBasis) -> None:
    """ForbiddenError unless ``officer`` may hear an appeal on a restriction under ``basis`` (docs/rules.md).

    Allowing such an appeal lifts the restriction, so under a court order or a listing it
    is for the agency that alone may lift it: an order is reviewed by the courts, a listing
    by the unit that carries out the lists. A statute's or a regulation's restriction is an
    administrative decision, reviewed by an officer independent of it, the appeals
    tribunal's in practice: any officer who neither proposed nor decided it (``Appeals``).
    """
    if basis.kind in HEARD_BY_ITS_AGENCIES:
        require_agency(conn, officer, basis, "decide an appeal on")


def checked_order(order: object, basis: LegalBasis, now: int, field: str) -> CourtOrder | None:
    """The order's reference checked again (as ``court_order()`` does), and only under a court order."""
    if order is None:
        return None
    if not isinstance(order, CourtOrder):
        raise InvalidInputError(field, "must be a CourtOrder (see court_order())")
    if basis.kind is not BasisKind.court_order:
        raise InvalidInputError(field, f"only a court order carries one, not {basis.cite()}")
    today = dt.datetime.fromtimestamp(now / 1e9, dt.UTC).date()
    return court_order(order.court, order.case_number, order.issued_on, today=today, field=field)


def order_terms(order: CourtOrder) -> dict[str, str]:
    return {"court": order.court, "case_number": order.case_number, "issued_on": order.issued_on.isoformat()}


def bases_on_record(conn: Connection) -> list[LegalBasis]:
    """Every legal basis registered so far, as kept in the store (their terms never change)."""
    return [basis_of_row(row) for row in conn.execute(select(legal_bases))]
