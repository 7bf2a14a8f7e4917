"""Acts that need two admins: a key for an officer of an issuing agency, and a new ledger.

Either one gives someone the power to create money, so no single admin can do it: one
asks (``request_*``), a different admin approves (``approve``), and only then is the key
made or the ledger registered. The key's token is handed to the approving admin once,
never stored. Every request, approval and refusal is kept in ``admin_requests``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, update

from tessera.auth import Principal, Role, checked_display_name, checked_name, new_key, parse_token, secret_matches
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, UnauthenticatedError
from tessera.limits import PAGE_SIZE_MAX
from tessera.money.agencies import Agencies
from tessera.money.ledgers import Ledgers, LedgerUnit, ledger_unit
from tessera.store import ADMIN_REQUEST_ID_LENGTH, Store, admin_requests
from tessera.text import checked_text, shows_letter_or_digit

REQUESTS_LIST_MAX = PAGE_SIZE_MAX
REASON_MAX = 500


class RequestKind(StrEnum):
    officer_key = "officer_key"  # terms: name, agency
    ledger = "ledger"  # terms: id, name, unit, decimals, issuer, category


@dataclass(frozen=True, slots=True)
class AdminRequest:
    """One act asked by an admin, waiting for (or decided by) another."""

    id: str
    kind: RequestKind
    terms: dict[str, Any]
    requested_by: str
    requested_at_ns: int
    status: str  # pending, approved, refused
    decided_by: str | None = None
    decided_at_ns: int | None = None
    outcome: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Approved:
    """What an approval made: a key (its token, shown this once) or a ledger."""

    request: AdminRequest
    token: str | None = None
    ledger: LedgerUnit | None = None


def _checked_admin(principal: Principal, doing: str) -> None:
    if principal.role is not Role.admin or principal.disabled:
        raise ForbiddenError(f"only an admin may {doing}")


def admin_of_token(store: Store, token: str, field: str = "approver") -> Principal:
    """The enabled admin whose API key this is, or an error naming the field (the CLI's two-admin check)."""
    try:
        key_id, secret = parse_token(token)
    except UnauthenticatedError:
        raise InvalidInputError(field, "must be an admin's API key (tsk_...)") from None
    record = store.get_api_key(key_id)
    if record is None or record.revoked_at_ns is not None or not secret_matches(secret, record.secret_hash):
        raise InvalidInputError(field, "the API key is unknown or revoked")
    principal = store.get_principal(record.principal_id)
    if principal is None or principal.disabled or principal.role is not Role.admin:
        raise InvalidInputError(field, "the API key is not an enabled admin's")
    return principal


class AdminRequests:
    """Two-admin requests over the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.agencies = Agencies(store)
        self.ledgers = Ledgers(store)

    def needs_two_admins(self, role: Role, agency: str) -> bool:
        """Whether a key for this principal gives the power to create money: an officer of an issuer."""
        return role is Role.officer and bool(self.ledgers.issued_by(agency))

    def request_officer_key(self, by: Principal, name: str, agency: str, display_name: str = "") -> AdminRequest:
        """Ask for an API key for officer ``name`` of ``agency`` (created if new, with ``display_name``)."""
        _checked_admin(by, "ask for an officer's key")
        name = checked_name(name)
        display_name = checked_display_name(display_name)
        self.agencies.require(agency)
        existing = self.store.get_principal_by_name(name)
        if existing is not None and (existing.role is not Role.officer or existing.agency != agency):
            raise ConflictError("name", f"{name} exists as a {existing.role.value} of {existing.agency or 'no agency'}")
        terms = {"name": name, "agency": agency, **({"display_name": display_name} if display_name else {})}
        return self._insert(RequestKind.officer_key, terms, by)

    def request_ledger(self, by: Principal, unit: LedgerUnit) -> AdminRequest:
        """Ask to register a ledger and its issuer."""
        _checked_admin(by, "ask for a ledger")
        checked = ledger_unit(unit.id, unit.name, unit.unit, unit.decimals, unit.issuer, category=unit.category)
        self.agencies.require(checked.issuer, "issuer")
        if self.ledgers.get(checked.id) is not None:
            raise ConflictError("id", f"ledger {checked.id} is already registered")
        terms = {"id": checked.id, "name": checked.name, "unit": checked.unit, "decimals": checked.decimals}
        return self._insert(RequestKind.ledger, {**terms, "issuer": checked.issuer, "category": checked.category}, by)

    def approve(self, request_id: str, by: Principal) -> Approved:
        """Carry out a pending request; ``by`` must be an admin other than the one who asked."""
        _checked_admin(by, "approve a request")
        request = self.require(request_id)
        if request.requested_by == by.id:
            raise ForbiddenError("a request is approved by a different admin than the one who asked")
        self._decide(request, by, "approved")
        try:
            approved = self._carry_out(request, by)
        except BaseException:
            self._undecide(request)  # nothing was made: the request waits again
            raise
        with self.store.transaction(write=True) as conn:
            conn.execute(
                update(admin_requests)
                .where(admin_requests.c.id == request.id)
                .values(outcome=json.dumps(approved.request.outcome, sort_keys=True))
            )
        return approved

    def refuse(self, request_id: str, by: Principal, reason: str) -> AdminRequest:
        """Close a pending request without acting on it (either admin may)."""
        _checked_admin(by, "refuse a request")
        reason = checked_text(reason, "reason", REASON_MAX)  # the requesting admin reads it: nothing hidden
        if not shows_letter_or_digit(reason):
            raise InvalidInputError("reason", f"must be 1-{REASON_MAX} characters, a letter or digit among them")
        request = self.require(request_id)
        self._decide(request, by, "refused", {"reason": reason})
        return self.require(request_id)

    def get(self, request_id: str) -> AdminRequest | None:
        if not isinstance(request_id, str) or len(request_id) != ADMIN_REQUEST_ID_LENGTH:
            return None
        with self.store.transaction() as conn:
            row = conn.execute(select(admin_requests).where(admin_requests.c.id == request_id)).first()
        return None if row is None else _request_of(row)

    def require(self, request_id: str) -> AdminRequest:
        found = self.get(request_id)
        if found is None:
            raise NotFoundError("request_id", f"no request {request_id!r:.40}")
        return found

    def with_status(self, status: str = "pending") -> list[AdminRequest]:
        """Requests with ``status``, oldest first (at most ``REQUESTS_LIST_MAX``)."""
        if status not in ("pending", "approved", "refused"):
            raise InvalidInputError("status", "must be pending, approved or refused")
        query = (
            select(admin_requests)
            .where(admin_requests.c.status == status)
            .order_by(admin_requests.c.requested_at_ns, admin_requests.c.id)
            .limit(REQUESTS_LIST_MAX)
        )
        with self.store.transaction() as conn:
            return [_request_of(r) for r in conn.execute(query)]

    # -- inside ---------------------------------------------------------------------------

    def _insert(self, kind: RequestKind, terms: dict[str, Any], by: Principal) -> AdminRequest:
        request = AdminRequest("r_" + secrets.token_hex(8), kind, terms, by.id, time.time_ns(), "pending")
        with self.store.transaction(write=True) as conn:
            conn.execute(
                admin_requests.insert().values(
                    id=request.id,
                    kind=kind.value,
                    payload=json.dumps(terms, sort_keys=True),
                    requested_by=by.id,
                    requested_at_ns=request.requested_at_ns,
                    status="pending",
                )
            )
        return request

    def _decide(self, request: AdminRequest, by: Principal, status: str, outcome: dict[str, Any] | None = None) -> None:
        """Move a pending request to ``status``; of two admins deciding at once, one wins."""
        with self.store.transaction(write=True) as conn:
            done = conn.execute(
                update(admin_requests)
                .where((admin_requests.c.id == request.id) & (admin_requests.c.status == "pending"))
                .values(
                    status=status,
                    decided_by=by.id,
                    decided_at_ns=time.time_ns(),
                    outcome=None if outcome is None else json.dumps(outcome, sort_keys=True),
                )
            )
            if done.rowcount != 1:
                raise ConflictError("request_id", f"request {request.id} was already decided")

    def _undecide(self, request: AdminRequest) -> None:
        with self.store.transaction(write=True) as conn:
            conn.execute(
                update(admin_requests)
                .where(admin_requests.c.id == request.id)
                .values(status="pending", decided_by=None, decided_at_ns=None, outcome=None)
            )

    def _carry_out(self, request: AdminRequest, by: Principal) -> Approved:
        terms = request.terms
        if request.kind is RequestKind.ledger:
            category = terms.get("category", "financial")  # asked for before ledgers had categories: money
            unit = ledger_unit(
                terms["id"], terms["name"], terms["unit"], terms["decimals"], terms["issuer"], category=category
            )
            stored = self.ledgers.register(unit, requested_by=request.requested_by, approved_by=by.id)
            decided = _with_outcome(request, by, {"ledger": stored.id})
            return Approved(decided, ledger=stored)
        principal = self.store.get_principal_by_name(terms["name"])
        if principal is None:
            principal = self.store.create_principal(
                terms["name"], Role.officer, agency=terms["agency"], display_name=terms.get("display_name", "")
            )
        elif principal.role is not Role.officer or principal.agency != terms["agency"]:
            raise ConflictError("name", f"{terms['name']} is no longer an officer of {terms['agency']}")
        key = new_key()
        self.store.add_api_key(key.key_id, principal.id, key.secret_hash, time.time_ns())
        decided = _with_outcome(request, by, {"principal": principal.id, "key_id": key.key_id})
        return Approved(decided, token=key.token)


def _with_outcome(request: AdminRequest, by: Principal, outcome: dict[str, Any]) -> AdminRequest:
    return AdminRequest(
        request.id,
        request.kind,
        request.terms,
        request.requested_by,
        request.requested_at_ns,
        "approved",
        by.id,
        time.time_ns(),
        outcome,
    )


def _request_of(row: Row[Any]) -> AdminRequest:
    return AdminRequest(
        row.id,
        RequestKind(row.kind),
        json.loads(row.payload),
        row.requested_by,
        row.requested_at_ns,
        row.status,
        row.decided_by,
        row.decided_at_ns,
        None if row.outcome is None else json.loads(row.outcome),
    )
