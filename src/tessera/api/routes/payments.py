"""Payments a person makes: my wallets, pay an alias / wallet / request, aliases, payment requests, incoming.

A payment becomes one transfer that takes the raw transfer route's own path
(``routes.ledger.post_transfers``): the same check of who may debit what, the same
freezes, the same feed to the rules and to sanctions screening. The server picks the
ledger, the code and a time-sorted transfer id (``tessera.money.payments``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.routes.ledger import post_transfers
from tessera.api.schemas import (
    AliasCreate,
    AliasesPublic,
    AliasPublic,
    IncomingPaymentPublic,
    IncomingPaymentsPublic,
    MerchantCategoryPublic,
    MyAccountPublic,
    MyAccountsPublic,
    PaymentCreate,
    PaymentPublic,
    PaymentRequestCreate,
    PaymentRequestPublic,
    rfc3339,
)
from tessera.auth import Action
from tessera.errors import ForbiddenError, InvalidInputError
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Transfer, encode_transfers
from tessera.limits import ALIAS_MAX, IDEMPOTENCY_KEY_MAX, INCOMING_WAIT_MAX_S, PAGE_SIZE_MAX
from tessera.money import (
    PAYING_KINDS,
    PAYMENT_CODE,
    LedgerUnit,
    Payment,
    PaymentRequest,
    expiry_ns,
    format_amount,
    incoming_transfers,
    kind_of,
    parse_amount,
)
from tessera.rules import builtin_code_tables
from tessera.service import Caller, Services

router = APIRouter(tags=["payments"])
FOLLOW_POLL_S = 0.05  # how often a long-poll looks at the arrivals count: one integer compare
FOLLOW_RETRY_S = 1.0  # how soon an EventSource reconnects when a stream ends
EVENT_STREAM = "text/event-stream"
_CURSOR = re.compile(r"t([0-9]{1,19})")
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        description="a fresh random value (a UUID) per payment: a retry with it never pays twice",
    ),
]
RequestId = Annotated[str, Path(min_length=19, max_length=19, pattern=r"^pr_[0-9a-f]{16}$")]
AliasPath = Annotated[str, Path(min_length=1, max_length=ALIAS_MAX)]


@functools.cache
def _category(code: int) -> MerchantCategoryPublic:
    meaning = builtin_code_tables().get("mcc").meaning(code)
    return MerchantCategoryPublic(code=code, label=meaning.label if meaning else "(no registered meaning)")


def _unit(services: Services, ledger_id: int) -> LedgerUnit | None:
    return services.ledger_units.get(ledger_id)


def _my_account(services: Services, account: Account, aliases: list[str]) -> MyAccountPublic:
    unit = _unit(services, account.ledger)
    decimals, currency = (unit.decimals, unit.unit) if unit else (0, f"ledger {account.ledger}")
    allowed = [_category(c) for c in sorted(account.allowed_categories)]
    if allowed:
        may_pay = "only merchants of these categories: " + ", ".join(f"{c.code} {c.label}" for c in allowed)
    else:
        may_pay = "any payee"
    limit = account.holding_limit or None
    kind = kind_of(account.code)
    return MyAccountPublic(
        id=account.id,
        kind=None if kind is None else kind.name,
        ledger=account.ledger,
        currency=currency,
        balance=format_amount(account.balance, decimals),
        balance_minor=account.balance,
        available=format_amount(account.available, decimals),
        available_minor=account.available,
        frozen=bool(account.flags & AccountFlags.frozen),
        may_pay=may_pay,
        allowed_categories=allowed,
        category=_category(account.category) if account.category else None,
        holding_limit=None if limit is None else format_amount(limit, decimals),
        holding_limit_minor=limit,
        aliases=aliases,
    )


@router.get("/v1/me/accounts", openapi_extra=declare(Action.me_accounts_read))
def my_accounts(caller: CallerDep, services: ServicesDep) -> MyAccountsPublic:
    """The caller's wallets (a shop's tills): balances as "12.50" and in minor units, what each may pay, limits."""
    held = services.store.accounts_held_by(caller.principal.id)
    aliases: dict[int, list[str]] = {}
    for a in services.aliases.held_by(caller.principal.id):
        aliases.setdefault(a.account_id, []).append(a.alias)
    accounts = services.ledger.lookup_accounts(held) if held else []
    return MyAccountsPublic(accounts=[_my_account(services, a, aliases.get(a.id, [])) for a in accounts])


def _payment_public(services: Services, payment: Payment, to_alias: str | None) -> PaymentPublic:
    unit = services.ledger_unit(payment.ledger)
    return PaymentPublic(
        transfer_id=payment.transfer_id,
        status="posted",
        amount=format_amount(payment.amount, unit.decimals),
        amount_minor=payment.amount,
        currency=unit.unit,
        ledger=payment.ledger,
        code=PAYMENT_CODE,
        from_wallet=payment.debit_account_id,
        to_wallet=payment.credit_account_id,
        to_alias=to_alias,
        request_id=payment.request_id,
        posted_at=rfc3339(payment.timestamp),
        posted_at_ns=payment.timestamp,
        replayed=payment.replayed,
    )


def _post_one(services: Services, caller: Caller, transfer: Transfer) -> CreateTransferStatus:
    """One payment's transfer down the raw route's path: who may debit it, the log's note, the ledger."""
    result = post_transfers(services, caller, encode_transfers([transfer]))[0]
    return CreateTransferStatus(result.status)


@router.post("/v1/me/payments", openapi_extra=declare(Action.me_payments_create))
def create_payment(
    body: PaymentCreate, idempotency_key: IdempotencyKey, caller: CallerDep, services: ServicesDep
) -> PaymentPublic:
    """Pay an amount (a decimal string) in a currency to an alias, a wallet or a payment request, once per key.

    The same ``Idempotency-Key`` with the same body answers as the first time and never pays
    twice; with another body it is 409 ``idempotency_key_reused``. A refusal by the ledger
    (not enough money, a frozen wallet, money earmarked for other shops) is 422
    ``payment_refused`` naming the field and the ledger's status.
    """
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    payment = services.payments.pay(
        caller.principal.id,
        idempotency_key,
        digest,
        body.to_domain(),
        lambda transfer: _post_one(services, caller, transfer),
    )
    return _payment_public(services, payment, body.to.alias)


def _cursor(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    match = _CURSOR.fullmatch(value)
    if match is None:
        raise InvalidInputError(field, "must be a cursor from an earlier answer (t and digits)")
    return int(match[1])


def _incoming_public(services: Services, t: Transfer) -> IncomingPaymentPublic:
    unit = _unit(services, t.ledger)
    decimals, currency = (unit.decimals, unit.unit) if unit else (0, f"ledger {t.ledger}")
    return IncomingPaymentPublic(
        transfer_id=t.id,
        amount=format_amount(t.amount, decimals),
        amount_minor=t.amount,
        currency=currency,
        ledger=t.ledger,
        code=t.code,
        from_wallet=t.debit_account_id,
        to_wallet=t.credit_account_id,
        received_at=rfc3339(t.timestamp),
        received_at_ns=t.timestamp,
    )


@router.get("/v1/me/payments/incoming", openapi_extra=declare(Action.me_payments_read))
async def incoming_payments(
    caller: CallerDep,
    services: ServicesDep,
    *,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
    cursor: Annotated[str | None, Query(max_length=20, description="next_cursor of the page before")] = None,
    after: Annotated[str | None, Query(max_length=20, description="latest_cursor seen: only what came after")] = None,
    wait: Annotated[
        float, Query(ge=0, le=INCOMING_WAIT_MAX_S, description="seconds to wait for a payment when there is none")
    ] = 0,
) -> IncomingPaymentsPublic:
    """Payments into the caller's accounts, newest first, a page at a time; with ``after`` and ``wait``, a long-poll.

    ``?after=<latest_cursor>&wait=25`` answers as soon as a payment arrives after what the
    caller has seen, or with none when the wait is over: call again with the new cursor.
    """
    before_ns, after_ns = _cursor(cursor, "cursor"), _cursor(after, "after")
    accounts = await run_in_threadpool(services.store.accounts_held_by, caller.principal.id)

    def page() -> list[Transfer]:
        return incoming_transfers(services.ledger, accounts, limit, before_ns=before_ns, after_ns=after_ns)

    seen = services.arrivals.count(accounts)  # before reading: what lands between is in the page or moves it
    found = await run_in_threadpool(page) if accounts else []
    deadline = time.monotonic() + min(wait, services.settings.incoming_wait_max_s)
    while not found and accounts and time.monotonic() < deadline:
        await asyncio.sleep(FOLLOW_POLL_S)
        now = services.arrivals.count(accounts)
        if now != seen:
            seen = now
            found = await run_in_threadpool(page)
    payments = [_incoming_public(services, t) for t in found]
    full = len(found) == limit
    return IncomingPaymentsPublic(
        payments=payments,
        next_cursor=f"t{found[-1].timestamp}" if full else None,
        latest_cursor=f"t{found[0].timestamp}" if found else after,
    )


def _events_after(services: Services, accounts: list[int], after_ns: int) -> list[Transfer]:
    """What arrived after ``after_ns``, oldest first: the order a follower's stream sends them in."""
    return incoming_transfers(services.ledger, accounts, PAGE_SIZE_MAX, after_ns=after_ns)[::-1]


@router.get(
    "/v1/me/payments/incoming/events",
    openapi_extra=declare(Action.me_payments_read),
    response_class=StreamingResponse,
    responses={200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}}}},
)
async def follow_incoming_payments(
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    *,
    after: Annotated[str | None, Query(max_length=20, description="a cursor: send what came after it")] = None,
    wait: Annotated[
        float, Query(ge=0, le=INCOMING_WAIT_MAX_S, description="seconds the stream stays open (default: the most)")
    ] = INCOMING_WAIT_MAX_S,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    """Server-sent events: one ``payment`` event per payment into the caller's accounts, as it arrives.

    The stream stays open ``wait`` seconds (at most 30), then ends; an ``EventSource``
    reconnects by itself with ``Last-Event-ID`` (each event's ``id`` is a cursor) and misses
    nothing. Without a cursor it starts from now.
    """
    after_ns = _cursor(last_event_id, "Last-Event-ID") if last_event_id else _cursor(after, "after")
    accounts = await run_in_threadpool(services.store.accounts_held_by, caller.principal.id)
    if after_ns is None:  # from now on: the newest payment so far is the cursor
        newest = await run_in_threadpool(incoming_transfers, services.ledger, accounts, 1)
        after_ns = newest[0].timestamp if newest else 0
    deadline = time.monotonic() + min(wait, services.settings.incoming_wait_max_s)

    async def events() -> AsyncIterator[str]:
        cursor, seen = after_ns, -1
        yield f"retry: {int(FOLLOW_RETRY_S * 1000)}\n\n"
        while accounts:
            count = services.arrivals.count(accounts)
            if count != seen:
                seen = count
                for t in await run_in_threadpool(_events_after, services, accounts, cursor):
                    data = _incoming_public(services, t).model_dump_json()
                    yield f"id: t{t.timestamp}\nevent: payment\ndata: {data}\n\n"
                    cursor = t.timestamp
            if time.monotonic() >= deadline or await request.is_disconnected():
                break
            await asyncio.sleep(FOLLOW_POLL_S)

    return StreamingResponse(events(), media_type=EVENT_STREAM, headers={"Cache-Control": "no-store"})


# -- aliases ----------------------------------------------------------------------------------


def _alias_public(alias: str, account_id: int, created_at_ns: int) -> AliasPublic:
    return AliasPublic(alias=alias, wallet=account_id, created_at=rfc3339(created_at_ns), created_at_ns=created_at_ns)


@router.get("/v1/me/aliases", openapi_extra=declare(Action.me_aliases_read))
def my_aliases(caller: CallerDep, services: ServicesDep) -> AliasesPublic:
    """The aliases the caller published, by name."""
    found = services.aliases.held_by(caller.principal.id)
    return AliasesPublic(aliases=[_alias_public(a.alias, a.account_id, a.created_at_ns) for a in found])


def _own_paying_account(services: Services, caller: Caller, account_id: int, field: str) -> Account:
    """One of the caller's wallets or tills, or the same 403 whether it is someone else's or not there."""
    refused = ForbiddenError(f"{field}: no account {account_id} the caller holds")
    if services.holders([account_id]).get(account_id) != caller.principal.id:
        raise refused
    found = services.ledger.lookup_accounts([account_id])
    if not found:
        raise refused
    if kind_of(found[0].code) not in PAYING_KINDS:
        raise ForbiddenError(f"{field}: only a wallet or a till takes payments")
    return found[0]


@router.post("/v1/me/aliases", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.me_aliases_write))
def publish_alias(body: AliasCreate, caller: CallerDep, services: ServicesDep) -> AliasPublic:
    """Publish an alias for one of the caller's wallets: payers pay it, and learn the wallet, never who holds it."""
    _own_paying_account(services, caller, body.wallet, "wallet")
    alias = services.aliases.publish(body.alias, body.wallet, caller.principal.id)
    return _alias_public(alias.alias, alias.account_id, alias.created_at_ns)


@router.delete(
    "/v1/me/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT, openapi_extra=declare(Action.me_aliases_write)
)
def withdraw_alias(alias: AliasPath, caller: CallerDep, services: ServicesDep) -> None:
    """Delete one of the caller's aliases; the name is free again."""
    services.aliases.withdraw(alias, caller.principal.id)


# -- payment requests -------------------------------------------------------------------------


def _request_public(services: Services, request: PaymentRequest) -> PaymentRequestPublic:
    unit = services.ledger_unit(request.ledger)
    paid = request.paid_at_ns
    return PaymentRequestPublic(
        id=request.id,
        payload=request.payload(unit.unit, unit.decimals),
        status=request.status(time.time_ns()).value,
        amount=format_amount(request.amount, unit.decimals),
        amount_minor=request.amount,
        currency=unit.unit,
        ledger=request.ledger,
        description=request.description,
        payee_wallet=request.account_id,
        payee_alias=request.alias,
        created_at=rfc3339(request.created_at_ns),
        created_at_ns=request.created_at_ns,
        expires_at=rfc3339(request.expires_at_ns),
        expires_at_ns=request.expires_at_ns,
        transfer_id=request.transfer_id if paid is not None else None,
        paid_at=None if paid is None else rfc3339(paid),
        paid_at_ns=paid,
    )


@router.post(
    "/v1/payment-requests", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.payment_requests_create)
)
def create_payment_request(
    body: PaymentRequestCreate, caller: CallerDep, services: ServicesDep
) -> PaymentRequestPublic:
    """Ask to be paid: an id, and a payload for a QR code the payer's app reads, pays once, until it expires."""
    account_id = body.wallet
    if body.alias is not None:
        alias = services.aliases.resolve(body.alias, "alias")
        if alias.principal_id != caller.principal.id:
            raise ForbiddenError("alias: not one of the caller's aliases")
        if account_id is not None and account_id != alias.account_id:
            raise InvalidInputError("alias", f"names wallet {alias.account_id}, not {account_id}")
        account_id = alias.account_id
    account, unit = services.payments.own_account(caller.principal.id, account_id, body.currency, "wallet")
    amount = parse_amount(body.amount, unit.decimals)
    now = time.time_ns()
    expires = expiry_ns(body.expires_at, body.expires_in, now)
    alias_shown = None if body.alias is None else body.alias.lower()
    request = services.payment_requests.create(
        caller.principal.id,
        account_id=account.id,
        ledger=unit.id,
        amount=amount,
        description=body.description,
        alias=alias_shown,
        expires_at_ns=expires,
        created_at_ns=now,
    )
    return _request_public(services, request)


@router.get("/v1/payment-requests/{request_id}", openapi_extra=declare(Action.payment_requests_read))
def get_payment_request(request_id: RequestId, caller: CallerDep, services: ServicesDep) -> PaymentRequestPublic:
    """A request as the payer reads it before approving: payee alias or wallet, amount, what for, status, expiry."""
    return _request_public(services, services.payments.request_as_it_stands(request_id))
