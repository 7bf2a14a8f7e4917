"""A cycle end to end on each store: the results written and read back, and holders recorded, in bulk on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tessera.programs import entitlement_account_ids
from tests.programs.cycle_world import CYCLE_DATE_NS, MONEY, World, open_world, programme_text, register


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """60 seeded persons, their registry on SQLite or on a throwaway PostgreSQL database."""
    url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        url = server.create_database(request.getfixturevalue("pg_template"))
    made = open_world(tmp_path, database_url=url, batch_size=7)  # several batches, several holder writes
    try:
        yield made
    finally:
        made.services.close()
        if url is not None:
            server.drop_database(url)


def test_cycle__previewed_pro_rated_and_paid_on_each_store(world: World) -> None:
    """Results read back as written; each payee credited amount x budget / asked once, a second run pays nothing."""
    register(world, programme_text(budget=100_000, over_budget="pro_rate"))
    cycles, ledger = world.services.cycles, world.services.ledger
    cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
    cycle, found = cycles.preview(cycle.id, by=world.maker)
    results = cycles.results(cycle.id, limit=1000)
    assert [r.person for r in results] == found.population.numbers.tolist()
    assert [r.eligible for r in results] == found.eligible.tolist()
    assert [r.amounts for r in results] == [tuple(a) for a in found.amounts.tolist()]
    cycles.approve(cycle.id, by=world.checker)
    done = cycles.disburse(cycle.id, by=world.checker)
    paid = [r for r in results if r.eligible]
    assert done.transfers_applied == len(paid) and done.batches > 1
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([r.person for r in paid])).tolist()
    total = cycle.totals[0]
    owed = [r.amounts[0] * total.budget // total.asked for r in paid]
    assert [a.balance for a in ledger.lookup_accounts(ids)] == owed
    assert world.services.store.account_holders(ids) == {i: r.holder for i, r in zip(ids, paid, strict=True)}
    assert cycles.disburse(cycle.id, by=world.checker).transfers_applied == 0
