"""Simulated redemptions for reconciliation's tests: the store's rows and the ledger's transfers, as redemption does.

This writes what redemption writes: a ``redemptions`` row and its
``redemption_transfers`` first, then the transfers to the ledger as one linked chain (a
draw per line from the entitlement to the outlet's till, an expired remainder returned to
the programme, a co-payment from the person's wallet), and the status the ledger's answer
gives. A hold's draws are pending transfers, settled by a post (partly, or whole) or released
by a void (a hold's wallet co-payment is taken at its post, as redemption takes it). Adjustments
(a return, back-pay) go the same way: the row, then the transfer. It makes on demand what a till
rarely does (an expired remainder returned, a chain the ledger refuses, a crash between row and
transfer); ``test_reconciliation_redeemed.py`` runs the same checks against redemption itself.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import insert, update

from tessera.auth import Role
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Transfer, TransferFlags
from tessera.money import AccountKind
from tessera.programs import (
    BACK_PAY_CODE,
    CO_PAYMENT_CODE,
    REDEMPTION_CODE,
    RETURN_CODE,
    Outlet,
    entitlement_account_ids,
)
from tessera.service import Services
from tessera.store import entitlement_adjustments, redemption_transfers, redemptions

FIRST_ID = 1 << 40  # the simulation's transfer ids: below disbursements' (2**62), above the worlds' own
TILL = AccountFlags.debits_must_not_exceed_credits


@dataclass
class Shop:
    """An outlet and the merchant operating it; its tills by ledger (the line's, the currency's)."""

    outlet: Outlet
    merchant_id: str
    tills: dict[int, int]


@dataclass
class Redemption:
    """What the simulation made: the redemption's id, status, and its transfers by kind."""

    id: str
    status: str
    draws: list[Transfer] = field(default_factory=list)


@dataclass
class Simulation:
    """Redemptions and adjustments on one line of one programme, made the way redemption makes them."""

    services: Services
    programme_id: str
    ledger_id: int  # the line's
    currency_id: int  # where co-payments are paid
    funding: int  # the line's programme account
    officer_id: str
    now_ns: int
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(FIRST_ID))
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def entitlement(self, number: str) -> int:
        return int(entitlement_account_ids(self.programme_id, self.ledger_id, np.array([number]))[0])

    def open_shop(self, name: str, first_till: int, *, category: int = 5411) -> Shop:
        """A merchant, its tills on the line's ledger and the currency (``first_till`` and the next id), its outlet."""
        services = self.services
        merchant = services.store.create_principal(name, Role.merchant)
        tills = {self.ledger_id: first_till, self.currency_id: first_till + 1}
        accounts = [Account(a, ledger, AccountKind.merchant, TILL, category=category) for ledger, a in tills.items()]
        assert services.ledger.create_accounts(accounts).all_ok
        services.store.set_account_holders([(a, merchant.id) for a in tills.values()])
        outlet = services.outlets.register(
            self.officer_id, name=name, operator=merchant.id, category=category, location="KE-047-0012",
            accounts=list(tills.values()),
        )  # fmt: skip
        return Shop(outlet, merchant.id, tills)

    def _next_id(self) -> str:
        return f"r_{next(self.serial):016x}"

    def redeem(
        self,
        shop: Shop,
        number: str,
        draws: list[tuple[int, int]],
        *,
        hold: bool = False,
        returns: list[tuple[int, int]] = (),  # type: ignore[assignment]
        co_payment: tuple[int, int, str] | None = None,  # (wallet, amount, method)
        at_ns: int | None = None,
    ) -> Redemption:
        """Draw ``(cycle, amount)`` pieces from ``number``'s entitlement at ``shop``; ``hold`` reserves them only."""
        redemption_id = self._next_id()
        entitlement = self.entitlement(number)
        chain: list[tuple[str, int, Transfer]] = []
        for cycle_id, amount in returns:
            t = Transfer(
                next(self.ids), entitlement, self.funding, amount, self.ledger_id, RETURN_CODE, user_data_64=cycle_id
            )
            chain.append(("return", cycle_id, t))
        pending = TransferFlags.pending if hold else TransferFlags.none
        for cycle_id, amount in draws:
            t = Transfer(
                next(self.ids), entitlement, shop.tills[self.ledger_id], amount, self.ledger_id, REDEMPTION_CODE,
                pending, user_data_64=cycle_id,
            )  # fmt: skip
            chain.append(("draw", cycle_id, t))
        if co_payment is not None and co_payment[2] == "wallet":
            wallet, amount, _ = co_payment
            till = shop.tills[self.currency_id]
            t = Transfer(next(self.ids), wallet, till, amount, self.currency_id, CO_PAYMENT_CODE, pending)
            chain.append(("co_payment", 0, t))
        at = self.now_ns if at_ns is None else at_ns
        row = {
            "id": redemption_id, "outlet_id": shop.outlet.id, "programme": self.programme_id,
            "merchant": shop.merchant_id,
            "idempotency_key": redemption_id, "body_sha256": "0" * 64, "person": number, "holder": "p_0000000000000000",
            "presented_by": number, "auth": "pin", "status": "awaiting_approval",
            "items": json.dumps([{"product": "RICE-1KG", "quantity": 1}]),
            "co_payment": None if co_payment is None else co_payment[1],
            "co_payment_method": None if co_payment is None else co_payment[2],
            "hold_timeout_s": 0 if hold else None, "created_at_ns": at,
        }  # fmt: skip
        with self.services.store.transaction(write=True) as conn:
            conn.execute(insert(redemptions).values(**row))
            if chain:
                conn.execute(
                    insert(redemption_transfers), [self._row(redemption_id, shop, k, c, t) for k, c, t in chain]
                )
        # One linked chain, as redemption applies it: all of it, or none.
        linked = [replace(t, flags=t.flags | TransferFlags.linked) for _, _, t in chain[:-1]]
        linked += [t for _, _, t in chain[-1:]]
        ok = bool(linked) and self.services.ledger.create_transfers(linked).all_ok
        status = ("held" if hold else "completed") if ok else "declined"
        self._decide(redemption_id, status)
        return Redemption(redemption_id, status, [t for k, _, t in chain if k == "draw"])

    def post(
        self, redemption: Redemption, shop: Shop, fraction: float, co_payment: tuple[int, int] | None = None
    ) -> int:
        """Settle a hold for ``fraction`` of each draw (at least 1), a wallet's co-payment with it; how much."""
        settled = 0
        posts: list[tuple[Transfer | None, Transfer]] = []
        for draw in redemption.draws:
            amount = max(1, int(draw.amount * fraction))
            post = Transfer(
                next(self.ids), amount=amount, flags=TransferFlags.post_pending_transfer, pending_id=draw.id
            )
            posts.append((draw, post))
            settled += amount
        rows = [self._row(redemption.id, shop, "post", d.user_data_64, p, p.amount, d.id) for d, p in posts if d]
        if co_payment is not None:  # as redemption does: taken at the post, for what was poured, a plain transfer
            wallet, amount = co_payment
            till = shop.tills[self.currency_id]
            paid = Transfer(next(self.ids), wallet, till, amount, self.currency_id, CO_PAYMENT_CODE)
            rows.append(self._row(redemption.id, shop, "co_payment", 0, paid))
            posts.append((None, paid))
        with self.services.store.transaction(write=True) as conn:
            conn.execute(insert(redemption_transfers), rows)
        chain = [replace(p, flags=p.flags | TransferFlags.linked) for _, p in posts[:-1]] + [p for _, p in posts[-1:]]
        assert self.services.ledger.create_transfers(chain).all_ok
        self._decide(redemption.id, "posted")
        if co_payment is not None:
            with self.services.store.transaction(write=True) as conn:
                paid_by = update(redemptions).where(redemptions.c.id == redemption.id)
                conn.execute(paid_by.values(co_payment=co_payment[1], co_payment_method="wallet"))
        redemption.status = "posted"
        return settled

    def void(self, redemption: Redemption, shop: Shop) -> None:
        """Release a hold whole."""
        voids = [
            (d, Transfer(next(self.ids), flags=TransferFlags.void_pending_transfer, pending_id=d.id))
            for d in redemption.draws
        ]
        with self.services.store.transaction(write=True) as conn:
            conn.execute(
                insert(redemption_transfers),
                [self._row(redemption.id, shop, "void", d.user_data_64, v, d.amount, d.id) for d, v in voids],
            )
        assert self.services.ledger.create_transfers([v for _, v in voids]).all_ok
        self._decide(redemption.id, "voided")
        redemption.status = "voided"

    def adjust(self, kind: str, number: str, cycle_id: int, amount: int, *, send: bool = True) -> bool:
        """A return (to the programme) or back-pay (from it); ``send=False``: a crash after the row is written."""
        entitlement = self.entitlement(number)
        transfer_id = next(self.ids)
        if kind == "return":
            t = Transfer(
                transfer_id, entitlement, self.funding, amount, self.ledger_id, RETURN_CODE, user_data_64=cycle_id
            )
        else:
            t = Transfer(
                transfer_id, self.funding, entitlement, amount, self.ledger_id, BACK_PAY_CODE, user_data_64=cycle_id
            )
        row = {
            "transfer_id": transfer_id, "kind": kind, "programme": self.programme_id, "cycle_id": cycle_id,
            "ledger_id": self.ledger_id, "person": number, "amount": amount, "reference": f"sim:{transfer_id}",
            "made_by": self.officer_id, "made_at_ns": self.now_ns,
        }  # fmt: skip
        with self.services.store.transaction(write=True) as conn:
            conn.execute(insert(entitlement_adjustments).values(**row))
        if not send:
            return False
        return self.services.ledger.create_transfers([t]).statuses[0] == CreateTransferStatus.ok

    def _decide(self, redemption_id: str, status: str) -> None:
        with self.services.store.transaction(write=True) as conn:
            conn.execute(
                update(redemptions)
                .where(redemptions.c.id == redemption_id)
                .values(status=status, decided_at_ns=self.now_ns)
            )

    def _row(  # noqa: PLR0917 (one table row)
        self, redemption_id: str, shop: Shop, kind: str, cycle_id: int, t: Transfer, amount: int | None = None,
        pending_id: int | None = None,
    ) -> dict[str, object]:  # fmt: skip
        return {
            "transfer_id": t.id, "redemption_id": redemption_id, "kind": kind, "programme": self.programme_id,
            "cycle_id": cycle_id, "ledger_id": t.ledger or self.ledger_id, "outlet_id": shop.outlet.id,
            "amount": t.amount if amount is None else amount, "pending_id": pending_id,
            "debit_account_id": t.debit_account_id, "credit_account_id": t.credit_account_id, "code": t.code,
            "flags": int(t.flags), "timeout": t.timeout,
        }  # fmt: skip


def pick(left: dict[tuple[str, int], int], number: str, amount: int) -> list[tuple[int, int]]:
    """``amount`` drawn from ``number``'s cycles, earliest first, out of what the simulation knows is left."""
    pieces = []
    for (who, cycle_id), have in sorted(left.items(), key=lambda kv: kv[0][1]):
        if who != number or not have or not amount:
            continue
        take = min(have, amount)
        pieces.append((cycle_id, take))
        amount -= take
    return pieces
