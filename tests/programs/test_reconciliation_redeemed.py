"""Reconciliation against redemption itself: cash and rice redeemed, fuel held then posted or voided, all agree."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tessera.errors import RedemptionRefusedError
from tessera.programs import entitlement_account_ids
from tessera.programs.redemption import Item, Order, Status
from tests.programs.redemption_world import FUEL, MONEY, PIN, RICE, Shops, open_shops, post_direct, redeem

LINES = {"adult_cash": MONEY, "rice_test": RICE, "fuel_test": FUEL}


@pytest.fixture
def shops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shops]:
    made = open_shops(tmp_path_factory.mktemp("recon-shops"), pins=8)
    yield made
    made.world.services.close()


def _workload(shops: Shops, rng: random.Random, steps: int) -> None:
    """Cash by amount, rice by the bag (co-paid in cash), fuel held and then posted in part or voided."""
    services = shops.world.services
    holds = []
    for _ in range(steps):
        number = rng.choice(shops.beneficiaries[:8])
        roll = rng.random()
        try:
            if roll < 0.35:
                amount = f"{rng.randint(1, 900)}.{rng.randint(0, 99):02d}"
                redeem(shops, shops.grocery, Order("adult_cash", number=number, pin=PIN, amount=amount))
            elif roll < 0.6:
                items = (Item("RICE-1KG", rng.randint(1, 3)),)
                redeem(shops, shops.grocery, Order("rice_test", number=number, pin=PIN, items=items, co_payment="cash"))
            elif roll < 0.8:
                order = Order(
                    "fuel_test", number=number, pin=PIN, items=(Item("FUEL-1L", rng.randint(1, 8)),), hold=True
                )
                holds.append(redeem(shops, shops.station, order))
            elif holds:
                held = holds.pop(rng.randrange(len(holds)))
                reserved = sum(line.amount for line in held.lines)
                if rng.random() < 0.6:
                    poured = rng.randint(0, reserved)
                    services.redemptions.post_hold(
                        shops.station_keeper, shops.station.id, held.id, poured, post_direct(shops)
                    )
                else:
                    services.redemptions.void_hold(shops.station_keeper, shops.station.id, held.id, post_direct(shops))
        except RedemptionRefusedError:
            pass  # spent out: refused, and nothing moved


@pytest.mark.parametrize("seed", [11, 12])
def test_real_redemptions_agree_with_the_ledger(shops: Shops, seed: int) -> None:
    """Each line's entitlements hold what is outstanding and reserve what is held; each till took its statement."""
    start = time.time_ns()
    _workload(shops, random.Random(seed), 60)
    span = (start, time.time_ns() + 1)
    services = shops.world.services
    ledger, reconciliation = services.ledger, services.reconciliation
    numbers = np.array(sorted(shops.beneficiaries))
    for programme_id, ledger_id in LINES.items():
        found = reconciliation.programme(programme_id)
        rows = [r for r in found.rows if r.ledger_id == ledger_id]
        ids = entitlement_account_ids(programme_id, ledger_id, numbers).tolist()
        accounts = ledger.lookup_accounts(ids)
        assert sum(a.available for a in accounts) == sum(r.outstanding for r in rows), programme_id
        assert sum(a.debits_pending for a in accounts) == sum(r.held for r in rows), programme_id
        assert sum(a.debits_posted for a in accounts) == sum(r.redeemed + r.returned for r in rows), programme_id
        assert all(line.agrees for line in found.lines), programme_id
    statuses: set[str] = set()
    for outlet in (shops.grocery, shops.station):
        statement = reconciliation.outlet_statement(outlet.id, span)
        tills = {a.ledger: a for a in ledger.lookup_accounts(list(outlet.accounts))}
        for ledger_id, till in tills.items():
            taken = sum(t.redeemed for t in statement.totals if t.ledger_id == ledger_id)
            taken += sum(c.amount for c in statement.co_payments if c.method == "wallet" and c.ledger_id == ledger_id)
            assert till.credits_posted == taken, (outlet.name, ledger_id)
            assert till.credits_pending == sum(t.held for t in statement.totals if t.ledger_id == ledger_id)
        statuses.update(e.status for e in statement.entries)
    assert Status.completed.value in statuses and statuses & {Status.posted.value, Status.voided.value}, statuses
