"""Redemption at a shop: a beneficiary spends an entitlement at an authorised outlet, in one linked chain.

The till (a merchant principal operating the outlet) names the programme, the person (their
number or a virtual ID), how the person is known, and what they take: products from the
programme's approved list (a quota's kilograms, litres), or an amount of money (cash). The
person is known by one of:

- **their PIN** at the till (``pin``), or a **nominee's** number and PIN (``nominee``: the
  household's registered nominees collect for the elderly, the sick, people whose fingerprints
  fail);
- **their own approval** (``app``): the till's redemption waits, and the person approves it in
  their app, logged in with their passkey (``approve``);
- an **officer's attestation** (``attestation``): an officer vouches, with a reason, for one
  person at one outlet and programme, once, for a short while (logged, and the way in for the
  people biometric-only systems exclude).

A household's programme is redeemed by any member of the household (on their own PIN) or a
nominee; the entitlement drawn is the household's (its head's account). What is drawn follows
``entitlements.py``: an expired remainder is returned to the programme first, then the live
credits that expire first are spent, one transfer per cycle drawn on. A subsidised price adds
the co-payment, from the presenter's wallet (or taken in cash at the till, recorded). Every
transfer of a redemption is one linked chain: all apply or none. A **hold** (fuel) reserves
instead (pending transfers with a time-out); ``post`` settles what was poured and releases the
rest, ``void`` releases it all.

As payments do, the redemption's row and its transfers are written before the ledger sees them,
keyed by the till's Idempotency-Key: a retry posts the very same chain, and the ledger answers
``exists``. What the ledger did is then recorded without waiting for the disk when it took the
chain (the ledger's journal holds it durably already); a row a crash left ``posting`` is settled
when the service starts (``finish_interrupted``). Refusals are ``RedemptionRefusedError`` with a
stable reason and words a shopkeeper reads to the customer.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.auth import Principal
from tessera.errors import (
    ConflictError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    RedemptionRefusedError,
)
from tessera.identity import Households, Person, Pins, Registry, checked_number
from tessera.ledger import CreateTransferStatus, Ledger, TransferFlags
from tessera.money import LedgerUnit, format_amount, parse_amount
from tessera.programs.attestations import Attestations
from tessera.programs.disbursement import CO_PAYMENT_CODE, REDEMPTION_CODE, RETURN_CODE, return_account
from tessera.programs.entitlements import Entitlements, Standing
from tessera.programs.outlets import Outlet, Outlets
from tessera.programs.products import ProductLists
from tessera.programs.programmes import Kind, Line, Programme, Unit
from tessera.programs.redemption_chain import (
    Drawn,
    Plan,
    Row,
    co_payment_of,
    insert_transfers,
    items_json,
    ledger_refusal,
    packed,
    refused,
    settlement_id,
    till_on,
    transfer_record,
    without_id,
)
from tessera.programs.redemption_rows import RedemptionRows
from tessera.programs.registered import RegisteredProgramme, RegisteredProgrammes
from tessera.store import (
    Store,
    redemption_transfers,
)
from tessera.times import ns_to_rfc3339

ITEMS_MAX = 32  # lines on one receipt
ITEM_QUANTITY_MAX = 10_000
HOLD_TIMEOUT_S = 900  # a fuel hold lapses after 15 minutes unless posted
HOLD_TIMEOUT_MIN_S = 60
HOLD_TIMEOUT_MAX_S = 3600
APPROVAL_WAIT_S = 300  # a redemption awaiting the person's approval lapses after 5 minutes
# As plain ints: a status read from the ledger's array compared to an enum member costs a lookup each.
_PASSED = frozenset(
    int(s) for s in (CreateTransferStatus.ok, CreateTransferStatus.exists, CreateTransferStatus.linked_event_failed)
)
_NS = 1_000_000_000
_INTERRUPTED = {
    "field": "items", "reason": "interrupted",
    "words": "the service stopped before anything was drawn; nothing was drawn, ask again",
}  # fmt: skip

# Post a packed linked chain through the service (access note, ledger, feed), naming the principals whose
# accounts it touches (the unit's holder, the presenter): the statuses.
Post = Callable[[npt.NDArray[np.void], tuple[str, ...]], npt.NDArray[np.uint32]]
# The presenter's wallet on a ledger (their principal id, the ledger's id), or None.
WalletOf = Callable[[str, int], int | None]
# A registered ledger by id (NotFoundError when none), and by name (None when none).
UnitOf = Callable[[int], LedgerUnit]
UnitNamed = Callable[[str], LedgerUnit | None]


class Auth(StrEnum):
    """How the person at the till was known."""

    pin = "pin"
    app = "app"
    nominee = "nominee"
    attestation = "attestation"


class Status(StrEnum):
    """Where a redemption stands."""

    awaiting_approval = "awaiting_approval"
    posting = "posting"  # written, sent to the ledger; a retry finds out what the ledger did
    completed = "completed"
    held = "held"
    posted = "posted"
    voided = "voided"
    declined = "declined"
    refused = "refused"


@dataclass(frozen=True, slots=True)
class Item:
    """A product from the approved list and how many."""

    product: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Order:
    """What the till asks: for whom, how they are known, what they take."""

    programme: str
    number: str | None = None
    virtual_id: str | None = None
    auth: Auth = Auth.pin
    pin: str | None = None
    nominee_number: str | None = None
    nominee_virtual_id: str | None = None
    attestation: str | None = None
    items: tuple[Item, ...] = ()
    amount: str | None = None  # cash programmes: a decimal string in the currency
    hold: bool = False
    hold_timeout_s: int = HOLD_TIMEOUT_S
    co_payment: str = "wallet"  # or "cash", taken at the till


@dataclass(frozen=True, slots=True)
class Redemption:
    """A redemption as it stands."""

    id: str
    outlet_id: str
    programme: str
    person: str  # the unit's number (a household's head)
    presented_by: str
    auth: Auth
    status: Status
    items: tuple[dict[str, Any], ...]
    lines: tuple[Drawn, ...]
    co_payment: int | None
    co_payment_method: str | None
    transfers: tuple[int, ...]
    created_at_ns: int
    decided_at_ns: int | None
    hold_expires_at_ns: int | None = None
    replayed: bool = False


class Redemptions:
    """Redemptions at outlets, kept in the store and applied through ``post``."""

    def __init__(
        self,
        store: Store,
        *,
        programmes: RegisteredProgrammes,
        entitlements: Entitlements,
        outlets: Outlets,
        products: ProductLists,
        registry: Registry,
        households: Households,
        pins: Pins,
        ledger: Ledger,
        unit_of: UnitOf,
        unit_named: UnitNamed,
        wallet_of: WalletOf,
        attestations: Attestations,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._rows = RedemptionRows(store)
        self._programmes = programmes
        self._entitlements = entitlements
        self._outlets = outlets
        self._products = products
        self._registry = registry
        self._households = households
        self._pins = pins
        self._ledger = ledger
        self._unit_of = unit_of
        self._unit_named = unit_named
        self._attestations = attestations
        self._wallet_of = wallet_of
        self._clock = clock

    # -- at the till ----------------------------------------------------------------------------------------------

    def redeem(
        self, till: Principal, outlet_id: str, order: Order, *, key: str, body_sha256: str, post: Post
    ) -> Redemption:
        """Redeem ``order`` at the outlet, or answer what the same Idempotency-Key did before."""
        with self._store.reading():  # the request's reads in one transaction
            return self._redeem(till, outlet_id, order, key=key, body_sha256=body_sha256, post=post)

    def _redeem(
        self, till: Principal, outlet_id: str, order: Order, *, key: str, body_sha256: str, post: Post
    ) -> Redemption:
        known = self._rows.by_key(till.id, key)
        if known is not None:
            if known["body_sha256"] != body_sha256:
                raise IdempotencyKeyReusedError(
                    "Idempotency-Key", f"key {key!r} was used for another redemption; use a new key for a new one"
                )
            return self._finish(known, post, replayed=True)
        outlet = self._till_outlet(till, outlet_id)
        registered = self._programme(order.programme)
        programme = registered.programme
        if self._outlets.authorisation_of(outlet, programme.id) is None:
            raise _not_authorised(programme)
        person = self._person(order.number, order.virtual_id, "person")
        unit_number, holder = self._unit(programme, person)
        presenter, attestation = self._authenticate(order, person, unit_number, outlet, programme)
        items, amounts = self._amounts(programme, order)
        now = self._clock()
        redemption_id = f"r_{secrets.token_hex(8)}"
        row = {
            "id": redemption_id, "outlet_id": outlet.id, "programme": programme.id, "merchant": till.id,
            "idempotency_key": key, "body_sha256": body_sha256, "person": unit_number, "holder": holder,
            "presented_by": presenter.number, "auth": order.auth.value, "attestation_id": attestation,
            "items": json.dumps({"items": items, "amounts": {str(k): v for k, v in amounts.items()}, "drawn": []}),
            "co_payment": None, "co_payment_method": None,
            "hold_timeout_s": order.hold_timeout_s if order.hold else None, "created_at_ns": now,
        }  # fmt: skip
        if order.auth is Auth.app:
            row["status"] = Status.awaiting_approval.value
            row["co_payment_method"] = order.co_payment
            self._rows.insert(row, [], attestation)
            return self._redemption(row, [])
        plan = _told(
            holder, lambda: self._plan(registered, outlet, unit_number, presenter, amounts, order=order, now=now)
        )
        row.update(
            status=Status.posting.value,
            co_payment=plan.co_payment,
            co_payment_method=_method(programme, order),
            items=items_json(items, plan),
        )
        written = self._rows.insert(row, plan.rows, attestation)
        return self._finish(row, post, replayed=False, transfers=written)

    def approve(self, person_principal: Principal, redemption_id: str, post: Post) -> Redemption:
        """The person approves, in their app, a redemption a till asked them to approve."""
        with self._store.reading():
            return self._approve(person_principal, redemption_id, post)

    def _approve(self, person_principal: Principal, redemption_id: str, post: Post) -> Redemption:
        row = self._rows.get(redemption_id)
        person = self._registry.person_of_principal(person_principal.id)
        if person is None or row["presented_by"] != person.number:
            raise NotFoundError("redemption_id", f"no redemption {redemption_id} awaits your approval")
        if row["status"] != Status.awaiting_approval.value:
            return self._finish(row, post, replayed=True)
        now = self._clock()
        if now > row["created_at_ns"] + APPROVAL_WAIT_S * _NS:
            self._rows.decide(
                row["id"], Status.declined, now, {"reason": "lapsed", "words": "the approval was not given in time"}
            )
            raise ConflictError("redemption_id", f"redemption {redemption_id} waited too long; the shop must ask again")
        registered = self._programme(row["programme"])
        outlet = self._outlets.get(row["outlet_id"])
        if self._outlets.authorisation_of(outlet, registered.programme.id) is None:  # revoked while it waited
            error = _not_authorised(registered.programme)
            self._rows.decide(
                row["id"], Status.refused, now, {"field": error.field, "reason": error.reason, "words": error.words}
            )
            raise error
        order = Order(
            row["programme"], auth=Auth.app, hold=row["hold_timeout_s"] is not None,
            hold_timeout_s=row["hold_timeout_s"] or HOLD_TIMEOUT_S, co_payment=row["co_payment_method"] or "wallet",
        )  # fmt: skip
        saved = json.loads(row["items"])
        amounts = {int(k): v for k, v in saved["amounts"].items()}
        plan = self._plan(registered, outlet, row["person"], person, amounts, order=order, now=now)
        moved_to = {
            "status": Status.posting.value, "co_payment": plan.co_payment,
            "co_payment_method": _method(registered.programme, order), "items": items_json(saved["items"], plan),
        }  # fmt: skip
        written = self._rows.approved(row, moved_to, plan.rows)
        row.update(moved_to)  # what the update wrote: the request has the row, no need to read it again
        return self._finish(row, post, replayed=False, transfers=written)

    def decline(self, person_principal: Principal, redemption_id: str) -> Redemption:
        """The person declines a redemption awaiting their approval: nothing is drawn."""
        row = self._rows.get(redemption_id)
        person = self._registry.person_of_principal(person_principal.id)
        if person is None or row["presented_by"] != person.number:
            raise NotFoundError("redemption_id", f"no redemption {redemption_id} awaits your approval")
        if row["status"] == Status.awaiting_approval.value:
            self._rows.decide(
                row["id"], Status.declined, self._clock(), {"reason": "declined", "words": "the person declined"}
            )
        return self._redemption(self._rows.get(redemption_id), self._rows.transfers(redemption_id))

    def post_hold(self, till: Principal, outlet_id: str, redemption_id: str, poured: int, post: Post) -> Redemption:
        """Settle a hold for ``poured`` minor units of its quota (at most what was held); the rest is released."""
        row = self._held_row(till, outlet_id, redemption_id)
        if row["status"] == Status.posted.value:
            return self._redemption(row, self._rows.transfers(redemption_id), replayed=True)
        draws = [t for t in self._rows.transfers(redemption_id) if t["kind"] == "draw"]
        held = sum(t["amount"] for t in draws)
        if isinstance(poured, bool) or not isinstance(poured, int) or not 0 <= poured <= held:
            raise InvalidInputError("amount", f"must be 0 to the {held} held (minor units of the quota)")
        rows: list[Row] = []
        left = poured
        for draw in draws:  # what was poured settles the hold's first pieces first: first to expire, first spent
            take = min(left, draw["amount"])
            left -= take
            flag = TransferFlags.post_pending_transfer if take else TransferFlags.void_pending_transfer
            transfer = {
                "id": settlement_id(draw["transfer_id"], "post"), "debit_account_id": 0, "credit_account_id": 0,
                "amount": take, "pending_id": draw["transfer_id"], "ledger": draw["ledger_id"],
                "code": REDEMPTION_CODE, "flags": int(flag), "user_data_64": draw["cycle_id"],
            }  # fmt: skip
            rows.append(Row("post" if take else "void", transfer, draw["cycle_id"], draw["transfer_id"]))
        co_payment = self._hold_co_payment(row, draws[0]["ledger_id"] if draws else 0, poured, rows)
        self._settle(row, rows, post, Status.posted, co_payment)
        return self._redemption(self._rows.get(redemption_id), self._rows.transfers(redemption_id))

    def void_hold(self, till: Principal, outlet_id: str, redemption_id: str, post: Post) -> Redemption:
        """Release a hold whole: nothing was poured."""
        row = self._held_row(till, outlet_id, redemption_id)
        if row["status"] == Status.voided.value:
            return self._redemption(row, self._rows.transfers(redemption_id), replayed=True)
        rows = [
            Row(
                "void",
                {
                    "id": settlement_id(d["transfer_id"], "void"),
                    "debit_account_id": 0,
                    "credit_account_id": 0,
                    "amount": 0,
                    "pending_id": d["transfer_id"],
                    "ledger": d["ledger_id"],
                    "code": REDEMPTION_CODE,
                    "flags": int(TransferFlags.void_pending_transfer),
                    "user_data_64": d["cycle_id"],
                },
                d["cycle_id"],
                d["transfer_id"],
            )
            for d in self._rows.transfers(redemption_id)
            if d["kind"] == "draw"
        ]
        self._settle(row, rows, post, Status.voided, None)
        return self._redemption(self._rows.get(redemption_id), self._rows.transfers(redemption_id))

    # -- at start ---------------------------------------------------------------------------------------------------

    def finish_interrupted(self) -> list[Redemption]:
        """Redemptions a crash left ``posting``, settled from what the ledger holds; run at start, before any till.

        A chain the ledger holds (it was durable before the ledger answered) is ``completed`` (or
        ``held``); one it holds none of (a linked chain is all or nothing) drew nothing and is
        ``refused``, reason ``interrupted``: nobody waits at the till any more, so nothing is drawn
        at start, and a retry under the same key hears that refusal and asks again under a new one.
        """
        settled, after = [], ""
        while batch := self._rows.posting(after):
            settled += [self._settled(row) for row in batch]
            after = batch[-1]["id"]
        return settled

    def _settled(self, row: dict[str, Any]) -> Redemption:
        transfers = self._rows.transfers(row["id"])
        chain = [t["transfer_id"] for t in transfers if t["kind"] in ("return", "draw", "co_payment")]
        applied = bool(chain) and bool(self._ledger.lookup_transfers(chain))
        now = self._clock()
        if applied:
            status = Status.held if row["hold_timeout_s"] is not None else Status.completed
            self._rows.decide(row["id"], status, now, None)
        else:
            status = Status.refused
            self._rows.decide(row["id"], status, now, _INTERRUPTED)
        return self._redemption({**row, "status": status.value, "decided_at_ns": now}, transfers)

    # -- reads ------------------------------------------------------------------------------------------------------

    def get(self, redemption_id: str) -> Redemption:
        """A redemption as it stands; NotFoundError naming ``redemption_id``."""
        return self._redemption(self._rows.get(redemption_id), self._rows.transfers(redemption_id))

    def get_at(self, till: Principal, outlet_id: str, redemption_id: str) -> Redemption:
        """A redemption of an outlet the till operates (another's reads as not there)."""
        outlet = self._till_outlet(till, outlet_id)
        found = self.get(redemption_id)
        if found.outlet_id != outlet.id:
            raise NotFoundError("redemption_id", f"no redemption {redemption_id} at outlet {outlet.id}")
        return found

    def get_mine(self, person_principal: Principal, redemption_id: str) -> Redemption:
        """A redemption the person presented or whose entitlement it drew (another's reads as not there)."""
        found = self.get(redemption_id)
        person = self._registry.person_of_principal(person_principal.id)
        if person is None or person.number not in (found.presented_by, found.person):
            raise NotFoundError("redemption_id", f"no redemption {redemption_id}")
        return found

    # -- steps ------------------------------------------------------------------------------------------------------

    def _till_outlet(self, till: Principal, outlet_id: str) -> Outlet:
        outlet = self._outlets.get(outlet_id)
        if not self._outlets.operates(till, outlet):
            raise ForbiddenError(f"outlet: {till.id} does not operate outlet {outlet.id}")
        return outlet

    def _programme(self, programme_id: object) -> RegisteredProgramme:
        if not isinstance(programme_id, str):
            raise InvalidInputError("programme", "must be a programme's id")
        return self._programmes.get(programme_id)

    def _person(self, number: str | None, virtual_id: str | None, field_name: str) -> Person:
        if (number is None) == (virtual_id is None):
            raise InvalidInputError(field_name, "name the person by their number or a virtual ID, one of them")
        words = "no person with that number or ID was found; check it with the customer"
        try:
            resolved = checked_number(number) if number is not None else self._registry.resolve_virtual_id(virtual_id)  # type: ignore[arg-type]
        except (InvalidInputError, NotFoundError):
            raise refused(field_name, "person_not_found", words) from None
        person = self._registry.get_person(resolved)
        if person is None or person.status != "active":
            raise refused(field_name, "person_not_found", words)
        return person

    def _unit(self, programme: Programme, person: Person) -> tuple[str, str]:
        """The unit's number (whose account) and principal: the person, or their household's head."""
        if programme.unit is Unit.person:
            return person.number, person.principal_id
        household = self._households.household_of(person.number)
        if household is None or household.head is None:
            raise refused(
                "person", "not_in_household",
                f"{programme.name} is for households, and this person belongs to no household on the register",
            )  # fmt: skip
        head = self._registry.person(household.head)
        return head.number, head.principal_id

    def _authenticate(
        self, order: Order, person: Person, unit_number: str, outlet: Outlet, programme: Programme
    ) -> tuple[Person, str | None]:
        """Who was known at the till, and the attestation spent; raises when nobody is."""
        if order.auth is Auth.pin:
            self._pins.verify_pin(person.number, _required(order.pin, "pin"))
            return person, None
        if order.auth is Auth.nominee:
            nominee = self._person(order.nominee_number, order.nominee_virtual_id, "nominee")
            household = self._households.household_of(person.number)
            if household is None or nominee.number not in household.nominees:
                raise refused(
                    "nominee", "not_a_nominee",
                    "this person is not a registered nominee of the customer's household; an officer can register one",
                )  # fmt: skip
            self._pins.verify_pin(nominee.number, _required(order.pin, "pin"))
            return nominee, None
        if order.auth is Auth.attestation:
            attestation_id = _required(order.attestation, "attestation")
            found = self._attestations.get(attestation_id)
            if (
                found is None or found.used_by is not None or found.expires_at_ns <= self._clock()
                or found.person != person.number or found.outlet_id != outlet.id or found.programme != programme.id
            ):  # fmt: skip
                raise refused(
                    "attestation", "attestation_invalid",
                    "the officer's attestation is not for this person, shop and programme, was used, or has lapsed",
                )  # fmt: skip
            return person, found.id
        return person, None  # the app: the person approves, logged in, later

    def _amounts(self, programme: Programme, order: Order) -> tuple[list[dict[str, Any]], dict[int, int]]:
        """The receipt's items and what each line (by ledger id) draws."""
        if programme.kind is Kind.cash:
            if order.items:
                raise InvalidInputError("items", "a cash programme is redeemed by an amount, not items")
            line = programme.lines[0]
            return [], {line.ledger_id: parse_amount(order.amount, self._unit_of(line.ledger_id).decimals)}
        if order.amount is not None:
            raise InvalidInputError("amount", f"{programme.name} is redeemed by items from its list, not an amount")
        if not order.items or len(order.items) > ITEMS_MAX:
            raise InvalidInputError("items", f"1 to {ITEMS_MAX} products from the programme's approved list")
        amounts: dict[int, int] = {}
        items = []
        for k, item in enumerate(order.items):
            if isinstance(item.quantity, bool) or not isinstance(item.quantity, int):
                raise InvalidInputError(f"items[{k}].quantity", "must be a whole number")
            if not 1 <= item.quantity <= ITEM_QUANTITY_MAX:
                raise InvalidInputError(f"items[{k}].quantity", f"must be 1 to {ITEM_QUANTITY_MAX}")
            product = self._products.lookup_in(programme, item.product)
            if product is None or product.commodity is None:
                raise refused(
                    f"items[{k}].product", "not_on_list",
                    f"{str(item.product)[:40]} is not on the approved list of {programme.name}",
                    product=str(item.product)[:40],
                )  # fmt: skip
            line = programme.line(product.commodity)
            amounts[line.ledger_id] = amounts.get(line.ledger_id, 0) + item.quantity * product.quantity
            items.append({"product": product.code, "quantity": item.quantity, "commodity": product.commodity})
        return items, amounts

    def _plan(
        self,
        registered: RegisteredProgramme,
        outlet: Outlet,
        unit_number: str,
        presenter: Person,
        amounts: dict[int, int],
        *,
        order: Order,
        now: int,
    ) -> Plan:
        """The chain: expired remainders returned, then each line drawn by cycle, then the co-payment."""
        programme = registered.programme
        hold = order.hold
        if hold and not HOLD_TIMEOUT_MIN_S <= order.hold_timeout_s <= HOLD_TIMEOUT_MAX_S:
            raise InvalidInputError("hold_timeout", f"must be {HOLD_TIMEOUT_MIN_S} to {HOLD_TIMEOUT_MAX_S} seconds")
        if hold and len(amounts) != 1:
            raise InvalidInputError("hold", "a hold reserves one quota (fuel): redeem other items apart")
        tills = {a.ledger: a.id for a in self._ledger.lookup_accounts(list(outlet.accounts))}
        plan = Plan()
        co_payment = 0
        for ledger_id, amount in sorted(amounts.items()):
            line = next(line for line in programme.lines if line.ledger_id == ledger_id)
            unit = self._unit_of(ledger_id)
            standing = self._standing(programme, line, unit_number, now)
            if amount > standing.left:
                raise self._short(programme, line, standing, amount, unit)
            till = till_on(tills, ledger_id, line.ledger, line.commodity or "money")
            for cycle_id, back in standing.returns():
                home = return_account(programme, ledger_id, registered.funding, self._ledger)
                returned = transfer_record(standing.account_id, home, back, ledger_id, RETURN_CODE, cycle_id=cycle_id)
                plan.rows.append(Row("return", returned, cycle_id))
            for cycle_id, take in standing.draw(amount):
                transfer = transfer_record(
                    standing.account_id, till, take, ledger_id, REDEMPTION_CODE, cycle_id=cycle_id
                )
                if hold:
                    transfer.update(flags=int(TransferFlags.pending), timeout=order.hold_timeout_s)
                plan.rows.append(Row("draw", transfer, cycle_id))
            plan.lines.append(
                Drawn(ledger_id, line.commodity, unit.unit, unit.decimals, amount, standing.left - amount,
                      standing.until_ns)
            )  # fmt: skip
            co_payment += co_payment_of(line, amount, unit.decimals)
        if co_payment and not hold:
            plan.co_payment = co_payment
            if order.co_payment == "wallet":
                plan.rows.append(self._co_payment_row(programme, presenter, tills, co_payment))
        return plan

    def _standing(self, programme: Programme, line: Line, unit_number: str, now: int) -> Standing:
        try:
            return self._entitlements.standing(programme, line.ledger_id, unit_number, now_ns=now)
        except NotFoundError:
            raise refused(
                "person", "no_entitlement", f"the customer has no entitlement under {programme.name}",
                programme=programme.id,
            ) from None  # fmt: skip

    def _short(
        self, programme: Programme, line: Line, standing: Standing, asked: int, ledger: LedgerUnit
    ) -> RedemptionRefusedError:
        what, unit, decimals = line.commodity or "money", ledger.unit, ledger.decimals
        left = f"{format_amount(standing.left, decimals)} {unit}"
        if standing.left == 0 and standing.until_ns is None and standing.last_expired_ns is not None:
            on = ns_to_rfc3339(standing.last_expired_ns)[:10]
            return refused(
                "items", "expired", f"the {what} entitlement of {programme.name} expired on {on}; nothing is left",
                expired_on=on,
            )  # fmt: skip
        until = "" if standing.until_ns is None else f", usable until {ns_to_rfc3339(standing.until_ns)[:10]}"
        return refused(
            "items", "quota_used_up",
            f"not enough {what} left under {programme.name}: {left} left{until}, "
            f"{format_amount(asked, decimals)} {unit} asked",
            left=format_amount(standing.left, decimals), unit=unit, asked=format_amount(asked, decimals),
        )  # fmt: skip

    def _co_payment_row(self, programme: Programme, presenter: Person, tills: dict[int, int], amount: int) -> Row:
        """The co-payment, from the presenter's wallet in the programme's currency to the outlet's till in it."""
        currency = None if programme.currency is None else self._unit_named(programme.currency)
        if currency is None:
            raise ConflictError("programme", f"{programme.name} names no registered currency for its co-payment")
        till = till_on(tills, currency.id, currency.name, "the co-payment")
        wallet = self._wallet_of(presenter.principal_id, currency.id)
        if wallet is None:
            raise refused(
                "co_payment", "no_wallet",
                f"the customer has no {currency.unit} wallet for the co-payment; take it in cash (co_payment: cash)",
            )  # fmt: skip
        return Row("co_payment", transfer_record(wallet, till, amount, currency.id, CO_PAYMENT_CODE), 0)

    def _hold_co_payment(self, row: dict[str, Any], ledger_id: int, poured: int, rows: list[Row]) -> int | None:
        """A subsidised hold's co-payment, for what was poured; its transfer joins the settlement's chain."""
        programme = self._programme(row["programme"]).programme
        line = next((line for line in programme.lines if line.ledger_id == ledger_id), None)
        amount = 0 if line is None else co_payment_of(line, poured, self._unit_of(ledger_id).decimals)
        if not amount:
            return None
        if row["co_payment_method"] == "wallet":
            outlet = self._outlets.get(row["outlet_id"])
            tills = {a.ledger: a.id for a in self._ledger.lookup_accounts(list(outlet.accounts))}
            co_payment = self._co_payment_row(programme, self._registry.person(row["presented_by"]), tills, amount)
            co_payment.transfer["id"] = settlement_id(rows[0].pending_id or 0, "co_payment")  # a retry sends the same
            rows.append(co_payment)
        return amount

    # -- applying ----------------------------------------------------------------------------------------------------

    def _finish(
        self, row: dict[str, Any], post: Post, *, replayed: bool, transfers: list[dict[str, Any]] | None = None
    ) -> Redemption:
        """Send a written chain to the ledger (again, after a crash) and record what it did.

        ``transfers``: the rows this request has just written, if it wrote them; else they are read.
        """
        if transfers is None:
            transfers = self._rows.transfers(row["id"])
        else:  # in the order a retry reads them in, so that it posts the very same chain
            transfers = sorted(transfers, key=lambda t: t["transfer_id"])
        if row["status"] == Status.refused.value and row.get("outcome"):
            outcome = json.loads(row["outcome"])  # a retry hears the same refusal
            raise refused(outcome.get("field", "items"), outcome["reason"], outcome["words"])
        if row["status"] != Status.posting.value:
            return self._redemption(row, transfers, replayed=replayed)
        chain = [t for t in transfers if t["kind"] in ("return", "draw", "co_payment")]
        statuses = post(packed(chain), self._touched(row))
        failed = [k for k, s in enumerate(statuses.tolist()) if s not in _PASSED]
        now = self._clock()
        if failed:
            error = ledger_refusal(CreateTransferStatus(int(statuses[failed[0]])), chain[failed[0]]["kind"])
            self._rows.decide(
                row["id"], Status.refused, now, {"field": error.field, "reason": error.reason, "words": error.words}
            )
            raise error
        done = Status.held if row["hold_timeout_s"] is not None else Status.completed
        # Not waiting for the disk: were it lost with the machine, the ledger holds the chain (durable before
        # it answered), and the start-up sweep (finish_interrupted) or a retry finds this outcome again.
        self._rows.decide(row["id"], done, now, None, durable=False)
        return self._redemption({**row, "status": done.value, "decided_at_ns": now}, transfers, replayed=replayed)

    def _settle(self, row: dict[str, Any], rows: list[Row], post: Post, status: Status, co_payment: int | None) -> None:
        with self._store.transaction(write=True) as conn:
            insert_transfers(conn, row, rows, skip_existing=True)
        statuses = post(
            packed([{"transfer_id": r.transfer["id"], **without_id(r.transfer)} for r in rows]), self._touched(row)
        )
        bad = [k for k, s in enumerate(statuses.tolist()) if s not in _PASSED]
        if bad:
            status_found = CreateTransferStatus(int(statuses[bad[0]]))
            with self._store.transaction(write=True) as conn:  # nothing moved: the rows would count what did not
                conn.execute(
                    redemption_transfers.delete().where(
                        redemption_transfers.c.transfer_id.in_([r.transfer["id"] for r in rows])
                    )
                )
            if status_found in (CreateTransferStatus.pending_expired, CreateTransferStatus.pending_already_voided):
                lapsed = {"reason": "lapsed", "words": "the hold lapsed and was released"}
                self._rows.decide(row["id"], Status.voided, self._clock(), lapsed)
                raise ConflictError("redemption_id", f"the hold {row['id']} lapsed and was released; redeem again")
            raise ConflictError("redemption_id", f"the hold {row['id']} cannot be settled: {status_found.name}")
        self._rows.decide(row["id"], status, self._clock(), None, co_payment=co_payment)

    def _touched(self, row: dict[str, Any]) -> tuple[str, ...]:
        """The principals a redemption's transfers touch: the unit's holder, and the presenter (a co-payment)."""
        if row["presented_by"] == row["person"]:  # the unit's own number: its holder
            return (row["holder"],)
        presenter = self._registry.get_person(row["presented_by"])
        others = () if presenter is None or presenter.principal_id == row["holder"] else (presenter.principal_id,)
        return (row["holder"], *others)

    # -- store ----------------------------------------------------------------------------------------------------

    def _held_row(self, till: Principal, outlet_id: str, redemption_id: str) -> dict[str, Any]:
        self.get_at(till, outlet_id, redemption_id)
        row = self._rows.get(redemption_id)
        if row["status"] not in (Status.held.value, Status.posted.value, Status.voided.value):
            raise ConflictError("redemption_id", f"redemption {redemption_id} is {row['status']}, not a hold")
        return row

    def _redemption(
        self, row: dict[str, Any], transfers: Sequence[dict[str, Any]], *, replayed: bool = False
    ) -> Redemption:
        saved = json.loads(row["items"])
        if saved["drawn"]:
            lines = [Drawn(**d) for d in saved["drawn"]]
        else:  # awaiting approval: what it asks, before anything is drawn
            lines = []
            for ledger_id, amount in sorted((int(k), v) for k, v in saved["amounts"].items()):
                unit = self._unit_of(ledger_id)
                commodity = next((i["commodity"] for i in saved["items"] if True), None)
                lines.append(Drawn(ledger_id, commodity, unit.unit, unit.decimals, amount, -1, None))
        held = row["hold_timeout_s"]
        return Redemption(
            row["id"], row["outlet_id"], row["programme"], row["person"], row["presented_by"], Auth(row["auth"]),
            Status(row["status"]), tuple(saved["items"]), tuple(lines), row["co_payment"], row["co_payment_method"],
            tuple(int(t["transfer_id"]) for t in transfers), row["created_at_ns"], row.get("decided_at_ns"),
            None if held is None else row["created_at_ns"] + held * _NS, replayed,
        )  # fmt: skip


# -- helpers --------------------------------------------------------------------------------------------------------


def _told(holder: str, plan: Callable[[], Plan]) -> Plan:
    """``plan()``; a refusal that tells the till about the entitlement names whose it is, for the access log."""
    try:
        return plan()
    except RedemptionRefusedError as refusal:
        refusal.holder = holder
        raise


def _not_authorised(programme: Programme) -> RedemptionRefusedError:
    return refused(
        "programme", "not_authorised",
        f"this shop is not authorised for {programme.name}; the customer may use any authorised shop",
        programme=programme.id,
    )  # fmt: skip


def _required(value: str | None, field_name: str) -> str:
    if value is None:
        raise InvalidInputError(field_name, "is required for this way of knowing the person")
    return value


def _method(programme: Programme, order: Order) -> str | None:
    """How a co-payment is taken, for a programme that asks one."""
    return order.co_payment if any(line.co_payment for line in programme.lines) else None
