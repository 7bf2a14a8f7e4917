"""Payments at the level people think at: pay this amount, in this currency, to an alias, a wallet or a request.

The service picks what the raw transfer API asks a system for: the ledger (the payee's
account's, whose unit must be the currency named), the code (``PAYMENT_CODE``) and the
transfer id (``transfer_id_now``: milliseconds since the epoch in the high bits, random
low bits, so ids sort by time as TigerBeetle recommends). The transfer then goes through
the same safeguards as any other (``post``, which the service gives: who may debit what,
freezes from restrictions, the feed to the rules and to sanctions screening).

An ``Idempotency-Key`` makes a payment safe to retry. The key's row is written with the
transfer it resolved to *before* the ledger sees that transfer: a retry, even after a
crash, posts the very same transfer, and the ledger answers ``exists`` instead of moving
money twice. The same key with another request is refused (``IdempotencyKeyReusedError``).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from tessera.errors import (
    ForbiddenError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    PaymentRefusedError,
    PaymentRequestClosedError,
)
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Ledger, Transfer
from tessera.limits import IDEMPOTENCY_KEY_MAX
from tessera.money.aliases import Aliases
from tessera.money.amounts import format_amount, parse_amount
from tessera.money.kinds import AccountKind, kind_of
from tessera.money.ledgers import LedgerUnit
from tessera.money.payment_requests import PaymentRequest, PaymentRequests, RequestStatus
from tessera.store import PAYMENT_OUTCOME_MAX, Store, payment_keys

PAYMENT_CODE = 2  # "Payment for goods or services" in Tessera's chart (rules/builtin/transfer_codes.csv)
RANDOM_BITS = 21  # 2**42 ms since 1970 last past the year 2100; 21 random bits keep the id below 2**63
PAYING_KINDS = (AccountKind.wallet, AccountKind.merchant)  # never issuance, programme or system accounts
_KEY = re.compile(rf"[A-Za-z0-9_.:-]{{1,{IDEMPOTENCY_KEY_MAX}}}")
OK = "ok"

Post = Callable[[Transfer], CreateTransferStatus]


def transfer_id_now(now_ns: int | None = None) -> int:
    """A fresh transfer id that sorts by time: milliseconds since the epoch, then ``RANDOM_BITS`` random bits."""
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    return (ms << RANDOM_BITS) | secrets.randbits(RANDOM_BITS)


def checked_key(value: object) -> str:
    """An Idempotency-Key: 1-128 of letters, digits and ``_ . : -`` (a UUID fits)."""
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise InvalidInputError("Idempotency-Key", f"must be 1-{IDEMPOTENCY_KEY_MAX} of A-Z a-z 0-9 _ . : - (a UUID)")
    return value


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """What a payer asks: an amount in a currency, to one of an alias, a wallet or a request; optionally from which."""

    amount: str | None
    currency: str | None
    to_alias: str | None = None
    to_wallet: int | None = None
    to_request: str | None = None
    from_wallet: int | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment the ledger took: its transfer, and the request it paid, if any."""

    transfer_id: int
    debit_account_id: int
    credit_account_id: int
    ledger: int
    amount: int
    request_id: str | None
    timestamp: int  # ns, as the ledger stamped the transfer
    replayed: bool  # answered from the Idempotency-Key's record, not made now


@dataclass(frozen=True, slots=True)
class PaymentKey:
    """A payer's key: the request's hash, the transfer it resolved to, and the answer once given."""

    principal_id: str
    key: str
    body_sha256: str
    transfer: Transfer
    request_id: str | None
    outcome: dict[str, str] | None  # {"status": "ok"} or the ledger's refusal and its message


class PaymentKeys:
    """Payers' Idempotency-Keys, in the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, principal_id: str, key: str) -> PaymentKey | None:
        with self.store.transaction() as conn:
            row = conn.execute(
                select(payment_keys).where((payment_keys.c.principal_id == principal_id) & (payment_keys.c.key == key))
            ).first()
        if row is None:
            return None
        transfer = Transfer(
            row.transfer_id, row.debit_account_id, row.credit_account_id, row.amount, row.ledger, PAYMENT_CODE
        )
        outcome = None if row.outcome is None else json.loads(row.outcome)
        return PaymentKey(row.principal_id, row.key, row.body_sha256, transfer, row.request_id, outcome)

    def claim(self, principal_id: str, key: str, body_sha256: str, transfer: Transfer, request_id: str | None) -> bool:
        """Record the key with its transfer; False if the key was recorded meanwhile (read it again)."""
        values = {
            "principal_id": principal_id,
            "key": key,
            "body_sha256": body_sha256,
            "transfer_id": transfer.id,
            "debit_account_id": transfer.debit_account_id,
            "credit_account_id": transfer.credit_account_id,
            "ledger": transfer.ledger,
            "amount": transfer.amount,
            "request_id": request_id,
            "created_at_ns": time.time_ns(),
        }
        with self.store.transaction(write=True, conflict=lambda: None) as conn:
            taken = conn.scalar(
                select(payment_keys.c.key).where(
                    (payment_keys.c.principal_id == principal_id) & (payment_keys.c.key == key)
                )
            )
            if taken is not None:
                return False
            conn.execute(payment_keys.insert().values(**values))
        return True

    def answer(self, principal_id: str, key: str, http_status: int, outcome: dict[str, str]) -> None:
        """Keep the answer the key replays from now on."""
        text = json.dumps(outcome, separators=(",", ":"))[:PAYMENT_OUTCOME_MAX]
        with self.store.transaction(write=True) as conn:
            conn.execute(
                update(payment_keys)
                .where((payment_keys.c.principal_id == principal_id) & (payment_keys.c.key == key))
                .values(http_status=http_status, outcome=text)
            )


class Payments:
    """Turns a payer's order into one transfer, posts it through the service's safeguards, and remembers the key."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        unit_of: Callable[[int, str], LedgerUnit],
        accounts_of: Callable[[str], list[int]],
        aliases: Aliases,
        requests: PaymentRequests,
        keys: PaymentKeys,
    ) -> None:
        self.ledger = ledger
        self.unit_of = unit_of
        self.accounts_of = accounts_of
        self.aliases = aliases
        self.requests = requests
        self.keys = keys

    def pay(self, principal_id: str, key: str, body_sha256: str, order: PaymentOrder, post: Post) -> Payment:
        """Make the payment ``order`` asks for, once per ``key``; raise what refuses it.

        ``post`` applies one transfer through the service's checks (ForbiddenError when the
        caller may not debit its account) and answers the ledger's status. A refusal by the
        ledger is a ``PaymentRefusedError`` naming its status and, for a payer, what to do.
        """
        key = checked_key(key)
        known = self.keys.get(principal_id, key)
        if known is None:
            transfer, request_id = self._resolve(principal_id, order)
            if not self.keys.claim(principal_id, key, body_sha256, transfer, request_id):
                known = self.keys.get(principal_id, key)  # a twin request won the race: answer as it does
        if known is not None:
            if known.body_sha256 != body_sha256:
                raise IdempotencyKeyReusedError(
                    "Idempotency-Key", "this key was sent before with a different request; use a new key"
                )
            if known.outcome is not None:
                return self._replay(known)
            transfer, request_id = known.transfer, known.request_id
        return self._post(principal_id, key, transfer, request_id, post)

    def _post(self, principal_id: str, key: str, transfer: Transfer, request_id: str | None, post: Post) -> Payment:
        if request_id is not None:
            self.requests.claim(request_id, transfer.id, time.time_ns())
        try:
            status = post(transfer)
        except BaseException:
            # Released only if the ledger never took the transfer: a fault after it did (the access
            # log, say) must leave the request claimed, or a second payer could pay it again.
            if request_id is not None and not self.ledger.lookup_transfers([transfer.id]):
                self.requests.release(request_id, transfer.id)
            raise
        if status in (CreateTransferStatus.ok, CreateTransferStatus.exists):
            timestamp = self.ledger.lookup_transfers([transfer.id])[0].timestamp
            if request_id is not None:
                self.requests.settle(request_id, transfer.id, timestamp)
            self.keys.answer(principal_id, key, 200, {"status": OK})
            return _payment(transfer, request_id, timestamp, replayed=status is CreateTransferStatus.exists)
        if request_id is not None:
            self.requests.release(request_id, transfer.id)
        field, message = self._refusal(transfer, status)
        self.keys.answer(principal_id, key, 422, {"status": status.name, "field": field, "message": message})
        raise PaymentRefusedError(field, status.name, message)

    def _replay(self, known: PaymentKey) -> Payment:
        outcome = known.outcome or {}
        if outcome.get("status") != OK:
            raise PaymentRefusedError(outcome.get("field", "amount"), outcome["status"], outcome.get("message", ""))
        found = self.ledger.lookup_transfers([known.transfer.id])
        timestamp = found[0].timestamp if found else 0
        return _payment(known.transfer, known.request_id, timestamp, replayed=True)

    def request_as_it_stands(self, request_id: str) -> PaymentRequest:
        """A payment request, its payment settled first if the ledger took it but a crash cut off the marking."""
        request = self.requests.get(request_id)
        if request.transfer_id is not None and request.paid_at_ns is None:
            found = self.ledger.lookup_transfers([request.transfer_id])
            if found:
                self.requests.settle(request.id, request.transfer_id, found[0].timestamp)
                request = self.requests.get(request_id)
        return request

    # -- from an order to a transfer ---------------------------------------------------------

    def _resolve(self, principal_id: str, order: PaymentOrder) -> tuple[Transfer, str | None]:
        """The transfer an order means; refuses what no transfer could make right."""
        amount_text, currency, request_id = order.amount, order.currency, None
        if order.to_request is not None:
            request = self.requests.get(order.to_request, "to.request")
            status = request.status(time.time_ns())
            if status is not RequestStatus.open:
                raise PaymentRequestClosedError("to.request", f"payment request {request.id} is {status.value}")
            payee_id, request_id = request.account_id, request.id
        elif order.to_alias is not None:
            payee_id = self.aliases.resolve(order.to_alias, "to.alias").account_id
        elif order.to_wallet is not None:
            payee_id = order.to_wallet
        else:
            raise InvalidInputError("to", "name one of alias, wallet or request")
        payees = self.ledger.lookup_accounts([payee_id])
        if not payees:
            raise NotFoundError("to", f"no wallet {payee_id}")
        payee = payees[0]
        if kind_of(payee.code) is AccountKind.issuance:  # money goes back to its issuer by the issuer's own acts
            raise ForbiddenError(f"to: account {payee_id} does not take payments")
        unit = self.unit_of(payee.ledger, "to")
        if currency is None:
            if request_id is None:
                raise InvalidInputError("currency", f"send the currency, such as {unit.unit!r}")
            currency = unit.unit
        if currency != unit.unit:
            raise InvalidInputError("currency", f"the payee's wallet takes {unit.unit}, not {currency!r:.20}")
        if order.to_request is not None:
            amount = request.amount
            if amount_text is not None and parse_amount(amount_text, unit.decimals) != amount:
                wanted = format_amount(amount, unit.decimals)
                raise InvalidInputError("amount", f"the request is for {wanted} {unit.unit}; send that or leave it out")
        else:
            if amount_text is None:
                raise InvalidInputError("amount", f'send the amount as a decimal string, such as "12.50" {unit.unit}')
            amount = parse_amount(amount_text, unit.decimals)
        payer, _ = self.own_account(principal_id, order.from_wallet, unit.unit, "from_wallet", unit.id)
        if payer.id == payee.id:
            raise InvalidInputError("to", "a wallet cannot pay itself")
        return Transfer(transfer_id_now(), payer.id, payee.id, amount, unit.id, PAYMENT_CODE), request_id

    def own_account(
        self, principal_id: str, account_id: int | None, currency: str, field: str, ledger: int | None = None
    ) -> tuple[Account, LedgerUnit]:
        """The caller's own wallet (or till) in ``currency``: the one named, or the only one it holds.

        Another's account, or one that does not exist, is the same ForbiddenError; an
        issuance, programme or system account never pays or is paid through this path.
        """
        held = self.accounts_of(principal_id)
        if account_id is not None:
            refused = ForbiddenError(f"{field}: no account {account_id} the caller may debit")
            found = self.ledger.lookup_accounts([account_id]) if account_id in held else []
            if not found:
                raise refused
            account = found[0]
            if kind_of(account.code) not in PAYING_KINDS:
                raise ForbiddenError(f"{field}: payments are made from a wallet or a till, never an issuance account")
            unit = self.unit_of(account.ledger, field)
            if unit.unit != currency or (ledger is not None and account.ledger != ledger):
                raise InvalidInputError(field, f"wallet {account_id} does not hold {currency!r:.20}")
            return account, unit
        mine = []
        for account in self.ledger.lookup_accounts(held):
            if kind_of(account.code) in PAYING_KINDS and (ledger is None or account.ledger == ledger):
                unit = self.unit_of(account.ledger, field)
                if unit.unit == currency:
                    mine.append((account, unit))
        if not mine:
            raise NotFoundError(field, f"you hold no wallet in {currency!r:.20}")
        if len(mine) > 1:
            ids = ", ".join(str(a.id) for a, _ in mine)
            raise InvalidInputError(field, f"you hold several wallets in {currency} ({ids}); name one")
        return mine[0]

    def _refusal(self, transfer: Transfer, status: CreateTransferStatus) -> tuple[str, str]:
        """The field at fault and, in words a payer acts on, why the ledger refused the payment."""
        unit = self.unit_of(transfer.ledger, "ledger")
        accounts = {
            a.id: a for a in self.ledger.lookup_accounts([transfer.debit_account_id, transfer.credit_account_id])
        }
        payer = accounts.get(transfer.debit_account_id)
        needed = f"{format_amount(transfer.amount, unit.decimals)} {unit.unit}"
        if status is CreateTransferStatus.exceeds_credits and payer is not None:
            has = format_amount(payer.available, unit.decimals)
            return (
                "amount",
                f"insufficient funds: wallet {payer.id} has {has} {unit.unit} available, the payment needs {needed}",
            )
        if status is CreateTransferStatus.account_frozen:
            if payer is not None and payer.flags & AccountFlags.frozen:
                return "from_wallet", (
                    f"wallet {payer.id} is frozen under a restriction; "
                    "GET /v1/me/restrictions says why and how to appeal"
                )
            return "to", "the payee's wallet cannot take payments now"
        if status is CreateTransferStatus.category_not_allowed and payer is not None:
            allowed = ", ".join(str(c) for c in sorted(payer.allowed_categories))
            return "to", f"wallet {payer.id} may pay only merchants of categories {allowed} (GET /v1/me/accounts)"
        if status is CreateTransferStatus.holding_limit_exceeded:
            return "amount", "the payee's wallet cannot hold that much more"
        if status is CreateTransferStatus.exists_with_different_fields:
            return "Idempotency-Key", "the transfer id drawn for this payment is taken; send it again with a new key"
        return "amount", f"the ledger refused the payment of {needed}"


def _payment(transfer: Transfer, request_id: str | None, timestamp: int, *, replayed: bool) -> Payment:
    return Payment(
        transfer.id,
        transfer.debit_account_id,
        transfer.credit_account_id,
        transfer.ledger,
        transfer.amount,
        request_id,
        timestamp,
        replayed,
    )
