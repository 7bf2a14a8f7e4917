"""Payment requests: a payee asks to be paid an amount for something, until a time; paid once, never after.

A shop makes one at its till and shows its ``payload`` as a QR code
(``tessera:pay?request=pr_...&amount=12.50&currency=XTS``); the payer's phone reads the
request by id (payee alias or account, amount, what for, expiry) and approves by paying it
(``money.payments``). The id is the capability: 64 random bits, so requests cannot be
guessed or listed by payers. A request names an account and never its holder.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from sqlalchemy import select, update

from tessera.errors import InvalidInputError, NotFoundError, PaymentRequestClosedError
from tessera.limits import PAYMENT_DESCRIPTION_MAX, PAYMENT_REQUEST_EXPIRY_DEFAULT_S, PAYMENT_REQUEST_EXPIRY_MAX_S
from tessera.money.amounts import format_amount
from tessera.store import Store, inserted, payment_requests
from tessera.text import checked_text, shows_letter_or_digit
from tessera.times import rfc3339_to_ns

REQUEST_ID = re.compile(r"pr_[0-9a-f]{16}")
_SHORT_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_ISO_DURATION = re.compile(r"P(?:([0-9]{1,5})D)?(?:T(?:([0-9]{1,6})H)?(?:([0-9]{1,7})M)?(?:([0-9]{1,9})S)?)?")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
NS = 1_000_000_000


class RequestStatus(StrEnum):
    """Where a request stands; ``open`` may still be paid."""

    open = "open"
    paid = "paid"
    expired = "expired"


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A request to be paid ``amount`` minor units on ``ledger`` into ``account_id``, until ``expires_at_ns``."""

    id: str
    principal_id: str  # the payee's: never shown to a payer
    account_id: int
    ledger: int
    amount: int
    description: str
    alias: str | None  # what the payer is shown as the payee; None: the account id
    created_at_ns: int
    expires_at_ns: int
    transfer_id: int | None  # the payment paying it, claimed before the ledger saw it
    paid_at_ns: int | None

    def status(self, now_ns: int) -> RequestStatus:
        if self.paid_at_ns is not None:
            return RequestStatus.paid
        return RequestStatus.expired if now_ns >= self.expires_at_ns else RequestStatus.open

    def payload(self, unit: str, decimals: int) -> str:
        """The QR code's text: a URI a payer's app reads, with the amount and currency to show before it asks."""
        query = urlencode({"request": self.id, "amount": format_amount(self.amount, decimals), "currency": unit})
        return f"tessera:pay?{query}"


def checked_request_id(value: object, field: str = "request_id") -> str:
    if not isinstance(value, str) or not REQUEST_ID.fullmatch(value):
        raise InvalidInputError(field, "must be pr_ and 16 hex digits")
    return value


def parse_rfc3339(value: str, field: str) -> int:
    """An RFC 3339 date-time with its offset ("2026-12-07T15:00:00Z") as nanoseconds since the epoch."""
    try:
        return rfc3339_to_ns(value)
    except ValueError as error:
        raise InvalidInputError(field, f"{error}; got {value!r:.40}") from None


def parse_duration_s(value: str, field: str) -> int:
    """A duration as "90s", "15m", "2h", "7d" or ISO 8601's "PT15M", "P1DT2H", in seconds."""
    short = _SHORT_DURATION.fullmatch(value)
    if short:
        return int(short[1]) * _UNIT_S[short[2]]
    iso = _ISO_DURATION.fullmatch(value)
    if iso and value not in ("P", "PT") and not value.endswith("T"):
        days, hours, minutes, seconds = (int(g or 0) for g in iso.groups())
        return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    raise InvalidInputError(field, f"must be a duration such as 15m, 2h, 7d or PT15M, got {value!r:.40}")


def expiry_ns(expires_at: str | None, expires_in: str | None, now_ns: int) -> int:
    """When a request stops being payable: at ``expires_at`` or after ``expires_in``; by default in an hour."""
    if expires_at is not None and expires_in is not None:
        raise InvalidInputError("expires_in", "send expires_at or expires_in, not both")
    if expires_at is not None:
        at, field = parse_rfc3339(expires_at, "expires_at"), "expires_at"
    else:
        field = "expires_in"
        seconds = PAYMENT_REQUEST_EXPIRY_DEFAULT_S if expires_in is None else parse_duration_s(expires_in, field)
        at = now_ns + seconds * NS
    if at <= now_ns:
        raise InvalidInputError(field, "must be in the future")
    if at > now_ns + PAYMENT_REQUEST_EXPIRY_MAX_S * NS:
        raise InvalidInputError(field, f"must be within {PAYMENT_REQUEST_EXPIRY_MAX_S // 86400} days")
    return at


class PaymentRequests:
    """Payment requests on record, in the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        principal_id: str,
        *,
        account_id: int,
        ledger: int,
        amount: int,
        description: str,
        alias: str | None,
        expires_at_ns: int,
        created_at_ns: int | None = None,
    ) -> PaymentRequest:
        """Record a request the caller checked (its account is the payee's, ``amount`` parsed); a fresh random id.

        ``created_at_ns`` is the moment ``expires_at_ns`` was reckoned from (default: now).
        """
        text = checked_text(description, "description", PAYMENT_DESCRIPTION_MAX)  # the payer reads it: all seen
        if not shows_letter_or_digit(text):
            raise InvalidInputError("description", "must say what the payment is for")
        now = time.time_ns() if created_at_ns is None else created_at_ns
        with self.store.transaction(write=True) as conn:
            while True:
                request = PaymentRequest(
                    f"pr_{secrets.token_hex(8)}",
                    principal_id,
                    account_id,
                    ledger,
                    amount,
                    text,
                    alias,
                    now,
                    expires_at_ns,
                    None,
                    None,
                )
                values = {name: getattr(request, name) for name in PaymentRequest.__slots__}
                if inserted(conn, payment_requests.insert().values(**values)):
                    return request

    def get(self, request_id: str, field: str = "request_id") -> PaymentRequest:
        """The request, or NotFoundError naming ``field``."""
        request_id = checked_request_id(request_id, field)
        with self.store.transaction() as conn:
            row = conn.execute(select(payment_requests).where(payment_requests.c.id == request_id)).first()
        if row is None:
            raise NotFoundError(field, f"no payment request {request_id}")
        return PaymentRequest(*(getattr(row, name) for name in PaymentRequest.__slots__))

    def claim(self, request_id: str, transfer_id: int, now_ns: int) -> None:
        """Reserve an open request for the payment ``transfer_id``, before the ledger sees it.

        The same transfer may claim again (a retried key); another is refused while the
        claim stands, so two payers cannot both pay one request.
        """
        with self.store.transaction(write=True) as conn:
            row = conn.execute(select(payment_requests).where(payment_requests.c.id == request_id)).first()
            if row is None:
                raise NotFoundError("to.request", f"no payment request {request_id}")
            if row.transfer_id == transfer_id:
                return
            if row.paid_at_ns is not None or row.transfer_id is not None:
                raise PaymentRequestClosedError("to.request", f"payment request {request_id} is already paid")
            if now_ns >= row.expires_at_ns:
                raise PaymentRequestClosedError("to.request", f"payment request {request_id} has expired")
            # Conditional, so that of two claims racing on PostgreSQL only one finds the request unclaimed.
            claimed = conn.execute(
                update(payment_requests)
                .where((payment_requests.c.id == request_id) & payment_requests.c.transfer_id.is_(None))
                .values(transfer_id=transfer_id)
            ).rowcount
            if not claimed:
                raise PaymentRequestClosedError("to.request", f"payment request {request_id} is already paid")

    def release(self, request_id: str, transfer_id: int) -> None:
        """Drop a claim whose payment the ledger refused: the request can be paid again."""
        with self.store.transaction(write=True) as conn:
            conn.execute(
                update(payment_requests)
                .where(
                    (payment_requests.c.id == request_id)
                    & (payment_requests.c.transfer_id == transfer_id)
                    & payment_requests.c.paid_at_ns.is_(None)
                )
                .values(transfer_id=None)
            )

    def settle(self, request_id: str, transfer_id: int, paid_at_ns: int) -> None:
        """Mark the request paid by ``transfer_id``, which the ledger took."""
        with self.store.transaction(write=True) as conn:
            conn.execute(
                update(payment_requests)
                .where((payment_requests.c.id == request_id) & (payment_requests.c.transfer_id == transfer_id))
                .values(paid_at_ns=paid_at_ns)
            )
