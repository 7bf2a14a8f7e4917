"""Outlets: the shops and stations where entitlements are redeemed, and the programmes each is authorised for.

An outlet (issue 19, shops) is operated by a merchant principal, or by an organisation
(``org:<id>``) whose merchants all act for it; it has a display name, its ISO 18245
merchant category (``rules/builtin/mcc.csv``), a location code, and the merchant accounts it
takes payment into (at most one on each ledger, each held by its operator and of its
category). It is authorised for a programme only when the programme is spent at its
category; each authorisation records who made it, when, under which basis (the
programme's) and why, and a revocation is a record of its own: the history is only added
to, never rewritten. Programmes are known through ``KnownProgrammes`` (``known.py``).

**Cached**: an outlet as read by ``get`` (its name, operator, category, location and tills),
keyed by its id, for the process's life. Its row and its tills are written once, when it is
registered, and never updated or deleted, so a cached outlet cannot go stale. What does
change, its **authorisations**, is never cached: every till's request reads the standing one
(``authorisation_of``), so a revocation refuses the very next redemption.

A **location code** is ``CC-AAA-LLLL``: the country's ISO 3166-1 alpha-2 code, the
first-level administrative area as ISO 3166-2 codes it (1-3 capital letters or digits:
``047`` is Nairobi City County in ``KE``), and a four-digit locality (ward, sub-location)
the programme agency numbers within that area: ``KE-047-0012``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, bindparam, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from tessera.auth import ORG_PREFIX, Principal, Role, checked_organisation, organisation_of
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.ledger import Account
from tessera.limits import PAGE_SIZE_MAX
from tessera.programs.known import KnownProgrammes, example_programme, known_programme
from tessera.programs.programmes import Programme
from tessera.rules import builtin_code_tables
from tessera.store import (
    Store,
    outlet_accounts,
    outlet_authorisations,
    outlet_revocations,
    outlets,
    principals,
)
from tessera.text import checked_text, shows_letter_or_digit

OUTLET_NAME_MAX = 200
OUTLET_ACCOUNTS_MAX = 8  # one till per ledger: the currency and a few quotas
OUTLETS_LIST_MAX = PAGE_SIZE_MAX
OUTLETS_CACHED_MAX = 100_000  # outlets kept in memory once read (a country's shops; ~300 bytes each)
AUTHORISATION_REASON_MAX = 500
AUTHORISATIONS_MAX = 1000  # of one outlet, revoked ones included: a history, not a workload
LOCATION_CODE = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}-[0-9]{4}")
LOCATION_PREFIX = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3}(-[0-9]{0,4})?)?")
_OUTLET_ID = re.compile(r"o_[0-9a-f]{16}")
_PRINCIPAL_ID = re.compile(r"p_[0-9a-f]{16}")
_MERCHANT_KIND = 3  # tessera.money.AccountKind.merchant: an account's code
_NO_CATEGORY = 0
_MCC_DIGITS = 4

# The accounts that exist among the ids asked (``Ledger.lookup_accounts``).
AccountLookup = Callable[[Sequence[int]], list[Account]]


@dataclass(frozen=True, slots=True)
class Outlet:
    """A registered shop or station: who operates it, what it sells (MCC), where, and where it is paid."""

    id: str  # "o_" and 16 hex digits
    name: str
    operator: str  # a merchant principal's id, or "org:<id>"
    category: int  # ISO 18245 MCC
    location: str  # "KE-047-0012"
    accounts: tuple[int, ...]  # merchant accounts, at most one per ledger, by id
    registered_by: str
    registered_at_ns: int


@dataclass(frozen=True, slots=True)
class Authorisation:
    """The ``seq``-th authorisation of an outlet for a programme, and its revocation once there is one."""

    outlet_id: str
    programme_id: str
    seq: int
    basis: str  # the programme's legal basis when it was made
    reason: str
    authorised_by: str
    authorised_at_ns: int
    revoked_by: str | None = None
    revoked_at_ns: int | None = None
    revocation_reason: str | None = None

    @property
    def live(self) -> bool:
        """Whether it still stands (not revoked)."""
        return self.revoked_at_ns is None


def checked_location(value: object, field: str = "location") -> str:
    """A location code ``CC-AAA-LLLL`` (module docstring), or InvalidInputError naming ``field``."""
    if not isinstance(value, str) or not LOCATION_CODE.fullmatch(value):
        raise InvalidInputError(
            field, "a location code is CC-AAA-LLLL: ISO 3166-1 country, ISO 3166-2 area (1-3 of A-Z 0-9), "
            f"4-digit locality, like KE-047-0012; got {value!r:.40}",
        )  # fmt: skip
    return value


def checked_category(value: object, field: str = "category") -> int:
    """A registered ISO 18245 merchant category (not 0, which is no shop's), or NotFoundError naming ``field``."""
    code = int(value) if isinstance(value, str) and value.isdigit() and len(value) <= _MCC_DIGITS else value
    table = builtin_code_tables().get("mcc")
    if not isinstance(code, int) or isinstance(code, bool) or code == _NO_CATEGORY or table.meaning(code) is None:
        raise NotFoundError(
            field, f"{value!r:.20} is no registered merchant category (ISO 18245, rules/builtin/mcc.csv)"
        )
    return code


def checked_outlet_id(value: object, field: str = "outlet") -> str:
    """``o_`` and 16 hex digits, or NotFoundError naming ``field`` (an id that cannot exist names no outlet)."""
    if not isinstance(value, str) or not _OUTLET_ID.fullmatch(value):
        raise NotFoundError(field, f"no outlet {value!r:.40} is registered")
    return value


def check_programme_officer(principal: Principal, programme: Programme, field: str = "programme") -> None:
    """An officer acts on a programme's outlets and products only for an agency its basis names (any, if none)."""
    basis = programme.basis
    if principal.role is Role.officer and basis.exercised_by and not basis.exercisable_by(principal.agency):
        raise ForbiddenError(
            f"{field}: programme {programme.id!r} operates under {basis.id}, exercised by {basis.agencies_text()}; "
            f"an officer of {principal.agency} may not act on it"
        )


class Outlets:
    """The outlets on record, and their authorisations for programmes, in the registry database."""

    def __init__(
        self, store: Store, *, known: KnownProgrammes = example_programme, accounts: AccountLookup | None = None
    ) -> None:
        self.store = store
        self.known = known
        self._accounts = accounts
        self._outlets: dict[str, Outlet] = {}  # id -> outlet: a registered outlet is never rewritten

    # -- outlets ----------------------------------------------------------------------------------

    def register(
        self, by: str, *, name: str, operator: str, category: int, location: str, accounts: Sequence[int] = ()
    ) -> Outlet:
        """Register an outlet; every argument is checked before anything is written."""
        name = checked_text(name, "name", OUTLET_NAME_MAX)
        if not shows_letter_or_digit(name):
            raise InvalidInputError("name", f"must be 1-{OUTLET_NAME_MAX} characters, a letter or digit among them")
        operator = self._checked_operator(operator)
        category = checked_category(category)
        location = checked_location(location)
        ledgers = self._checked_accounts(accounts, operator, category)
        outlet = Outlet(
            f"o_{secrets.token_hex(8)}", name, operator, category, location, tuple(sorted(ledgers)), by, time.time_ns()
        )
        with self.store.transaction(write=True) as conn:
            conn.execute(
                outlets.insert().values(
                    id=outlet.id, name=name, operator=operator, category=category, location=location,
                    registered_by=by, registered_at_ns=outlet.registered_at_ns,
                )
            )  # fmt: skip
            if ledgers:
                conn.execute(
                    outlet_accounts.insert(),
                    [{"outlet_id": outlet.id, "account_id": a, "ledger": ledger} for a, ledger in ledgers.items()],
                )
        return outlet

    def get(self, outlet_id: str, field: str = "outlet") -> Outlet:
        """The outlet, or NotFoundError naming ``field``."""
        outlet_id = checked_outlet_id(outlet_id, field)
        known = self._outlets.get(outlet_id)
        if known is not None:
            return known
        with self.store.transaction() as conn:
            found = _outlets_where(conn, outlets.c.id == outlet_id, 1)
        if not found:
            raise NotFoundError(field, f"no outlet {outlet_id!r} is registered")
        if len(self._outlets) >= OUTLETS_CACHED_MAX:  # bounded all the same; a miss only costs a read
            self._outlets.clear()
        self._outlets[outlet_id] = found[0]
        return found[0]

    def find(
        self,
        *,
        operator: str | None = None,
        location: str | None = None,
        after: str | None = None,
        limit: int = OUTLETS_LIST_MAX,
    ) -> list[Outlet]:
        """Outlets by id, after ``after``: of one operator, in an area (a prefix of location codes), or all."""
        if not isinstance(limit, int) or not 1 <= limit <= OUTLETS_LIST_MAX:
            raise InvalidInputError("limit", f"must be 1-{OUTLETS_LIST_MAX}")
        where: list[ColumnElement[bool]] = []
        if operator is not None:
            where.append(outlets.c.operator == operator)
        if location is not None:
            if not isinstance(location, str) or not LOCATION_PREFIX.fullmatch(location):
                raise InvalidInputError("location", "a location code or its start: KE, KE-047, KE-047-0012")
            where.append(outlets.c.location.startswith(location, autoescape=True))
        if after is not None:
            if not isinstance(after, str) or not _OUTLET_ID.fullmatch(after):
                raise InvalidInputError("after", "the last outlet id seen: o_ and 16 hex digits")
            where.append(outlets.c.id > after)
        with self.store.transaction() as conn:
            return _outlets_where(conn, and_(True, *where), limit)

    def operated_by(self, principal: Principal) -> list[Outlet]:
        """The outlets a merchant operates: as itself, or for the organisation it acts for."""
        mine = [principal.id, organisation_of(principal)]
        with self.store.transaction() as conn:
            return _outlets_where(conn, outlets.c.operator.in_(mine), OUTLETS_LIST_MAX)

    def operates(self, principal: Principal, outlet: Outlet) -> bool:
        """Whether ``principal`` operates ``outlet`` (itself, or its organisation)."""
        return principal.role is Role.merchant and outlet.operator in (principal.id, organisation_of(principal))

    # -- authorisations ---------------------------------------------------------------------------

    def authorise(self, outlet_id: str, programme_id: str, by: Principal, reason: str) -> Authorisation:
        """Authorise an outlet for a programme spent at its category; ConflictError while one stands."""
        reason = _checked_reason(reason)
        outlet = self.get(outlet_id)
        programme = known_programme(self.known, programme_id)
        check_programme_officer(by, programme)
        if outlet.category not in programme.merchant_categories:
            spent_at = ", ".join(str(c) for c in sorted(programme.merchant_categories))
            raise InvalidInputError(
                "programme", f"outlet {outlet.id} is of merchant category {outlet.category}, and programme "
                f"{programme.id!r} is spent only at {spent_at}",
            )  # fmt: skip
        twice = ConflictError("programme", f"outlet {outlet.id} is already authorised for {programme.id!r}")
        with self.store.transaction(write=True, conflict=lambda: twice) as conn:
            latest = _latest(conn, outlet.id, programme.id)
            if latest is not None and latest.live:
                raise twice
            made = Authorisation(
                outlet.id,
                programme.id,
                1 if latest is None else latest.seq + 1,
                programme.basis.id,
                reason,
                by.id,
                time.time_ns(),
            )
            conn.execute(
                outlet_authorisations.insert().values(
                    outlet_id=made.outlet_id, programme_id=made.programme_id, seq=made.seq, basis=made.basis,
                    reason=reason, authorised_by=by.id, authorised_at_ns=made.authorised_at_ns,
                )
            )  # fmt: skip
        return made

    def revoke(self, outlet_id: str, programme_id: str, by: Principal, reason: str) -> Authorisation:
        """End the standing authorisation of an outlet for a programme; NotFoundError when none stands."""
        reason = _checked_reason(reason)
        outlet = self.get(outlet_id)
        programme = known_programme(self.known, programme_id)
        check_programme_officer(by, programme)
        none = NotFoundError("programme", f"outlet {outlet.id} is not authorised for {programme.id!r}")
        with self.store.transaction(write=True, conflict=lambda: none) as conn:
            standing = _latest(conn, outlet.id, programme.id)
            if standing is None or not standing.live:
                raise none
            now = time.time_ns()
            conn.execute(
                outlet_revocations.insert().values(
                    outlet_id=outlet.id, programme_id=programme.id, seq=standing.seq, reason=reason,
                    revoked_by=by.id, revoked_at_ns=now,
                )
            )  # fmt: skip
        return Authorisation(
            standing.outlet_id, standing.programme_id, standing.seq, standing.basis, standing.reason,
            standing.authorised_by, standing.authorised_at_ns, by.id, now, reason,
        )  # fmt: skip

    def authorisations(self, outlet_id: str) -> list[Authorisation]:
        """An outlet's whole history of authorisations, revoked ones included, by programme then order made."""
        outlet = self.get(outlet_id)
        with self.store.transaction() as conn:
            return _history(conn, outlet.id)

    def authorised(self, outlet_id: str, programme_id: str) -> Authorisation | None:
        """The authorisation of an outlet for a programme that stands now, or None."""
        return self.authorisation_of(self.get(outlet_id), programme_id)

    def authorisation_of(self, outlet: Outlet, programme_id: str) -> Authorisation | None:
        """As ``authorised``, for an outlet already read (a till's request reads it once)."""
        if not isinstance(programme_id, str):
            return None
        with self.store.transaction() as conn:
            latest = _latest(conn, outlet.id, programme_id)
        return latest if latest is not None and latest.live else None

    def authorised_count(self, programme_id: str) -> int:
        """How many outlets are authorised for a programme now: at most one standing authorisation an outlet."""
        a, r = outlet_authorisations, outlet_revocations
        standing = and_(r.c.outlet_id == a.c.outlet_id, r.c.programme_id == a.c.programme_id, r.c.seq == a.c.seq)
        query = (
            select(func.count())
            .select_from(a.outerjoin(r, standing))
            .where(a.c.programme_id == programme_id, r.c.seq.is_(None))
        )
        with self.store.transaction() as conn:
            return int(conn.scalar(query) or 0)

    # -- checks -----------------------------------------------------------------------------------

    def _checked_operator(self, value: object) -> str:
        """A merchant principal's id, or an organisation that at least one merchant acts for."""
        if isinstance(value, str) and value.startswith(ORG_PREFIX):
            organisation = checked_organisation(value, "operator")
            own = organisation[len(ORG_PREFIX) :]
            acting = principals.c.organisation == organisation
            if _PRINCIPAL_ID.fullmatch(own):
                acting = or_(acting, principals.c.id == own)
        elif isinstance(value, str) and _PRINCIPAL_ID.fullmatch(value):
            organisation, acting = value, principals.c.id == value
        else:
            raise InvalidInputError("operator", "a merchant principal's id (p_...) or an organisation (org:...)")
        query = select(func.count()).where(acting, principals.c.role == Role.merchant.value)
        with self.store.transaction() as conn:
            if not conn.scalar(query):
                raise NotFoundError("operator", f"no merchant is {organisation!r} or acts for it")
        return organisation

    def _checked_accounts(self, value: Sequence[int], operator: str, category: int) -> dict[int, int]:
        """Each account's ledger, for merchant accounts of ``category`` held by ``operator``, one per ledger."""
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) > OUTLET_ACCOUNTS_MAX:
            raise InvalidInputError("accounts", f"a list of at most {OUTLET_ACCOUNTS_MAX} account ids")
        if not value:
            return {}
        if self._accounts is None:
            raise InvalidInputError("accounts", "no ledger is open here to check them: register accounts over the API")
        ids: list[int] = []
        for i, account_id in enumerate(value):
            if isinstance(account_id, bool) or not isinstance(account_id, int) or not 0 < account_id < 2**63:
                raise InvalidInputError(f"accounts[{i}]", "an account id, 1 to 2**63 - 1")
            if account_id in ids:
                raise ConflictError(f"accounts[{i}]", f"account {account_id} is listed twice")
            ids.append(account_id)
        found = {a.id: a for a in self._accounts(ids)}
        holders = self.store.account_holders(ids)
        ledgers: dict[int, int] = {}
        for i, account_id in enumerate(ids):
            at = f"accounts[{i}]"
            account = found.get(account_id)
            if account is None:
                raise NotFoundError(at, f"no account {account_id} exists")
            if account.code != _MERCHANT_KIND or account.category != category:
                raise InvalidInputError(
                    at, f"account {account_id} is not a merchant account of category {category} (kind "
                    f"{account.code}, category {account.category}): an outlet is paid into its own category's tills",
                )  # fmt: skip
            holder = self.store.get_principal(holders.get(account_id, ""))
            if holder is None or operator not in (holder.id, organisation_of(holder)):
                raise ForbiddenError(f"{at}: account {account_id} is not held by the outlet's operator {operator}")
            if account.ledger in ledgers.values():
                raise ConflictError(at, f"the outlet already takes payment on ledger {account.ledger}")
            ledgers[account_id] = account.ledger
        return ledgers


def _checked_reason(value: object) -> str:
    reason = checked_text(value, "reason", AUTHORISATION_REASON_MAX)
    if not shows_letter_or_digit(reason):
        raise InvalidInputError("reason", f"must say why, in 1-{AUTHORISATION_REASON_MAX} characters")
    return reason


def _outlets_where(conn: Connection, where: ColumnElement[bool], limit: int) -> list[Outlet]:
    rows = conn.execute(select(outlets).where(where).order_by(outlets.c.id).limit(limit)).all()
    held: dict[str, list[int]] = {r.id: [] for r in rows}
    if held:
        query = select(outlet_accounts).where(outlet_accounts.c.outlet_id.in_(list(held)))
        for a in conn.execute(query.order_by(outlet_accounts.c.account_id)):
            held[a.outlet_id].append(a.account_id)
    return [
        Outlet(r.id, r.name, r.operator, r.category, r.location, tuple(held[r.id]), r.registered_by, r.registered_at_ns)
        for r in rows
    ]


def _with_revocations() -> Select[Any]:
    a, r = outlet_authorisations, outlet_revocations
    joined = a.outerjoin(
        r, and_(r.c.outlet_id == a.c.outlet_id, r.c.programme_id == a.c.programme_id, r.c.seq == a.c.seq)
    )
    return select(a, r.c.reason.label("revocation_reason"), r.c.revoked_by, r.c.revoked_at_ns).select_from(joined)


def _history(conn: Connection, outlet_id: str) -> list[Authorisation]:
    a = outlet_authorisations
    query = _with_revocations().where(a.c.outlet_id == outlet_id).order_by(a.c.programme_id, a.c.seq)
    return [_authorisation_of(row) for row in conn.execute(query.limit(AUTHORISATIONS_MAX))]


def _latest(conn: Connection, outlet_id: str, programme_id: str) -> Authorisation | None:
    """The newest authorisation of the outlet for the programme, standing or revoked; None if never made."""
    row = conn.execute(_latest_query(), {"outlet_id": outlet_id, "programme_id": programme_id}).first()
    return None if row is None else _authorisation_of(row)


@cache
def _latest_query() -> Select[Any]:
    """``_latest``'s query, built once: a till's every redemption asks it."""
    a = outlet_authorisations
    query = _with_revocations().where(
        a.c.outlet_id == bindparam("outlet_id"), a.c.programme_id == bindparam("programme_id")
    )
    return query.order_by(a.c.seq.desc()).limit(1)


def _authorisation_of(row: Row[Any]) -> Authorisation:
    m = row._mapping
    return Authorisation(
        m["outlet_id"], m["programme_id"], m["seq"], m["basis"], m["reason"], m["authorised_by"],
        m["authorised_at_ns"], m["revoked_by"], m["revoked_at_ns"], m["revocation_reason"],
    )  # fmt: skip
