"""A disbursement reads the frozen preview back as columns, and opens and records only the accounts not open yet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import update

from tessera.errors import ConflictError
from tessera.ledger import CreateAccountStatus, Ledger
from tessera.programs import cycles as cycles_module
from tessera.programs import entitlement_account_ids, entitlement_accounts
from tessera.programs.payable import payable_columns
from tessera.store import cycle_results
from tessera.store import holders as holders_module
from tests.programs.cycle_world import CYCLE_DATE_NS, MONEY, World, cycles_through, open_world, programme_text, register


class CountingLedger:
    """The real ledger, counting the accounts it is asked to open."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.accounts_asked = 0

    def create_accounts(self, accounts: Any, **options: Any) -> Any:
        self.accounts_asked += len(accounts)
        return self._ledger.create_accounts(accounts, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with 60 seeded persons and the adult cash programme registered and funded."""
    made = open_world(tmp_path)
    register(made, programme_text())
    yield made
    made.services.close()


def _approved(world: World, cycle_date_ns: int = CYCLE_DATE_NS) -> int:
    cycles = world.services.cycles
    cycle = cycles.create("adult_cash", cycle_date_ns, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    return cycles.approve(cycle.id, by=world.checker).id


def _by_row(world: World, cycle_id: int) -> list[tuple[str, str, int, tuple[int, ...]]]:
    return [
        (r.person, r.holder, r.seq, r.amounts)
        for r in world.services.cycles.results(cycle_id, limit=1000)
        if r.eligible
    ]


def _columns(world: World, cycle_id: int) -> list[tuple[str, str, int, tuple[int, ...]]]:
    with world.services.store.transaction() as conn:
        numbers, holders, seqs, amounts = payable_columns(conn, cycle_id, 1)
    return [
        (n.decode(), h.decode(), int(s), tuple(a.tolist()))
        for n, h, s, a in zip(numbers, holders, seqs, amounts, strict=True)
    ]


def test_payable_columns__the_eligible_results_in_seq_order(world: World) -> None:
    """The columns hold what the results say of each eligible unit, in the preview's order."""
    cycle_id = _approved(world)
    expected = _by_row(world, cycle_id)
    assert 0 < len(expected) < 60
    assert _columns(world, cycle_id) == expected


def test_payable_columns__a_row_not_as_written_falls_back_to_reading_rows(world: World) -> None:
    """A person's number of another width cannot be cut from the concatenated block: the rows are read instead."""
    cycle_id = _approved(world)
    first = _by_row(world, cycle_id)[0]
    with world.services.store.transaction(write=True) as conn:
        conn.execute(
            update(cycle_results)
            .where(cycle_results.c.cycle_id == cycle_id, cycle_results.c.seq == first[2])
            .values(person="12345")
        )
    expected = _by_row(world, cycle_id)
    assert expected[0][0] == "12345"
    assert _columns(world, cycle_id) == expected


def test_disburse__a_later_cycle_opens_no_account(world: World) -> None:
    """Every entitlement open already: a second cycle asks the ledger to open none (nor records a holder), and pays."""
    services = world.services
    first = services.cycles.disburse(_approved(world), by=world.checker)
    counting = CountingLedger(services.ledger)
    cycles = cycles_through(world, counting)  # type: ignore[arg-type]
    second = cycles.disburse(_approved(world), by=world.checker)
    assert counting.accounts_asked == 0
    assert second.transfers_applied == first.transfers_applied > 0
    paid = _by_row(world, second.cycle.id)
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([person for person, *_ in paid]))
    balances = [a.balance for a in services.ledger.lookup_accounts(ids.tolist())]
    assert balances == [2 * amounts[0] for *_, amounts in paid]


def test_disburse__an_entitlement_open_with_other_fields_is_refused_as_the_ledger_would(world: World) -> None:
    """An account open under the entitlement's id for its holder, but not earmarked as the programme says: refused."""
    cycle_id = _approved(world)
    services = world.services
    person, holder, *_ = _by_row(world, cycle_id)[0]
    programme = services.programmes.get("adult_cash").programme
    account = entitlement_accounts(programme, MONEY, np.array([person]), np.array([holder]))
    account["allowed_categories"] = 0
    services.store.set_account_holders([(int(account["id"][0]), holder)])
    services.ledger.create_accounts(account)
    with pytest.raises(
        ConflictError, match=r"^accounts: entitlement account \d+ refused: exists_with_different_fields"
    ):
        services.cycles.disburse(cycle_id, by=world.checker)
    assert services.ledger.lookup_accounts([int(account["id"][0])])[0].balance == 0


def test_disburse__a_crash_in_the_holders_pass_is_finished_by_disbursing_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the pass's first transaction: some holders recorded, no account open; a rerun pays every unit."""
    cycle_id = _approved(world)
    services = world.services
    paid = _by_row(world, cycle_id)
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([person for person, *_ in paid]))
    record = holders_module.record_holder_columns_part
    calls = []

    def crashing(*args: Any) -> None:
        calls.append(len(args[1]))
        if len(calls) == 2:
            raise RuntimeError("killed")
        record(*args)

    monkeypatch.setattr(holders_module, "PASS_PART_ROWS", 7)
    monkeypatch.setattr(holders_module, "record_holder_columns_part", crashing)
    with pytest.raises(RuntimeError, match="killed"):
        services.cycles.disburse(cycle_id, by=world.checker)
    assert len(services.store.account_holders(ids.tolist())) == 7
    assert services.ledger.lookup_accounts(ids.tolist()) == []
    monkeypatch.setattr(holders_module, "record_holder_columns_part", record)
    done = services.cycles.disburse(cycle_id, by=world.checker)
    assert done.transfers_applied == len(paid) > 7
    assert services.store.account_holders(ids.tolist()) == {
        i: holder for i, (_, holder, *_) in zip(ids.tolist(), paid, strict=True)
    }
    balances = [a.balance for a in services.ledger.lookup_accounts(ids.tolist())]
    assert balances == [amounts[0] for *_, amounts in paid]


def test_disburse__an_entitlement_held_by_another_is_refused_before_any_account_opens(world: World) -> None:
    """An entitlement's id recorded for another principal (not open): the holders pass refuses it, nothing opens."""
    cycle_id = _approved(world)
    services = world.services
    paid = _by_row(world, cycle_id)
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([person for person, *_ in paid]))
    taken = int(ids[len(ids) // 2])
    services.store.set_account_holders([(taken, world.maker.id)])
    with pytest.raises(ConflictError, match=rf"account {taken} is held by {world.maker.id}$"):
        services.cycles.disburse(cycle_id, by=world.checker)
    assert services.ledger.lookup_accounts(ids.tolist()) == []
    assert services.store.account_holders([taken]) == {taken: world.maker.id}


class HolderCheckingLedger(CountingLedger):
    """The real ledger, noting every account it is asked to open whose holder the store has not recorded yet."""

    def __init__(self, ledger: Ledger, store: Any) -> None:
        super().__init__(ledger)
        self._store = store
        self.opened_unheld: list[int] = []

    def create_accounts(self, accounts: Any, **options: Any) -> Any:
        ids = [int(i) for i in accounts["id"]]
        held = self._store.account_holders(ids)
        self.opened_unheld += [i for i in ids if i not in held]
        return super().create_accounts(accounts, **options)


@pytest.fixture
def small_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The world's service paying 4 units a batch, its new holders handed to the pass 8 at a time (the first: 1)."""
    monkeypatch.setattr(cycles_module, "_HOLDERS_CHUNK", 8)
    made = open_world(tmp_path, batch_size=4)
    register(made, programme_text())
    yield made
    made.services.close()


def test_disburse__holders_recorded_a_stretch_at_a_time_each_before_its_accounts_open(
    small_batches: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass runs beside the ledger, stretch by stretch; still no account opens before its holder is recorded."""
    world, store = small_batches, small_batches.services.store
    cycle_id = _approved(world)
    stretches: list[int] = []
    record = store.set_cycle_account_holder_columns

    def counted(ids: Any, holders: Any) -> None:
        stretches.append(len(ids))
        record(ids, holders)

    monkeypatch.setattr(store, "set_cycle_account_holder_columns", counted)
    checking = HolderCheckingLedger(world.services.ledger, store)
    done = cycles_through(world, checking).disburse(cycle_id, by=world.checker)  # type: ignore[arg-type]
    paid = _by_row(world, cycle_id)
    assert done.transfers_applied == len(paid) == sum(stretches) == checking.accounts_asked
    assert stretches[0] <= 4 and max(stretches) <= 8 and len(stretches) == 1 + -(-(done.batches - 1) // 2) > 2
    assert checking.opened_unheld == []
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([person for person, *_ in paid]))
    assert store.account_holders(ids.tolist()) == {i: h for i, (_, h, *_) in zip(ids.tolist(), paid, strict=True)}


def test_disburse__a_stretch_of_holders_refused_stops_the_run_and_disbursing_again_finishes(
    small_batches: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second stretch is refused: what was paid stays paid, nothing later opens; a rerun pays the rest once."""
    world, services = small_batches, small_batches.services
    cycle_id = _approved(world)
    paid = _by_row(world, cycle_id)
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([person for person, *_ in paid])).tolist()
    record = services.store.set_cycle_account_holder_columns
    calls: list[int] = []

    def failing(account_ids: Any, holders: Any) -> None:
        calls.append(len(account_ids))
        if len(calls) == 2:
            raise ConflictError("holders", "refused")
        record(account_ids, holders)

    monkeypatch.setattr(services.store, "set_cycle_account_holder_columns", failing)
    with pytest.raises(ConflictError, match=r"^holders: refused$"):
        services.cycles.disburse(cycle_id, by=world.checker)
    assert [a.id for a in services.ledger.lookup_accounts(ids)] == ids[: calls[0]]  # the first stretch only
    monkeypatch.setattr(services.store, "set_cycle_account_holder_columns", record)
    again = services.cycles.disburse(cycle_id, by=world.checker)
    assert again.transfers_applied + again.transfers_existing >= len(paid) - calls[0]
    balances = [a.balance for a in services.ledger.lookup_accounts(ids)]
    assert balances == [amounts[0] for *_, amounts in paid]


class OverlapLedger(CountingLedger):
    """The real ledger whose ``create_transfers`` waits (a while at most) for the next batch's accounts to be asked."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        self._asked = threading.Condition()
        self.opens = 0
        self.overlapped: list[bool] = []  # per transfers call: the next batch's open came while it waited

    def create_accounts(self, accounts: Any, **options: Any) -> Any:
        with self._asked:
            self.opens += 1
            self._asked.notify_all()
        return super().create_accounts(accounts, **options)

    def create_transfers(self, transfers: Any, **options: Any) -> Any:
        with self._asked:
            opens = self.opens
            self.overlapped.append(self._asked.wait_for(lambda: self.opens > opens, timeout=5))
        return self._ledger.create_transfers(transfers, **options)


def test_disburse__a_batchs_accounts_open_while_the_batch_befores_transfers_apply(
    small_batches: World,
) -> None:
    """Each batch's transfers are sent with the next batch's accounts being opened beside them; all paid once."""
    world = small_batches
    cycle_id = _approved(world)
    overlap = OverlapLedger(world.services.ledger)
    done = cycles_through(world, overlap).disburse(cycle_id, by=world.checker)  # type: ignore[arg-type]
    paid = _by_row(world, cycle_id)
    assert done.transfers_applied == len(paid) == overlap.accounts_asked and done.batches > 2
    assert overlap.overlapped == [True] * (done.batches - 1) + [False]  # the last batch has no next one
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([person for person, *_ in paid])).tolist()
    assert [a.balance for a in world.services.ledger.lookup_accounts(ids)] == [amounts[0] for *_, amounts in paid]


class RefusingLedger(CountingLedger):
    """The real ledger, but its third call to open accounts is refused whole (another opened them meanwhile)."""

    def create_accounts(self, accounts: Any, **options: Any) -> Any:
        self.accounts_asked += 1
        if self.accounts_asked == 3:
            return SimpleNamespace(statuses=np.full(len(accounts), CreateAccountStatus.exists_with_different_fields))
        return self._ledger.create_accounts(accounts, **options)


def test_disburse__an_account_refused_while_the_batch_before_pays_stops_the_run_after_it(
    small_batches: World,
) -> None:
    """The third batch's accounts refused as they open beside the second's transfers: two batches paid, none later."""
    world = small_batches
    cycle_id = _approved(world)
    paid = _by_row(world, cycle_id)
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([person for person, *_ in paid])).tolist()
    refusing = RefusingLedger(world.services.ledger)
    with pytest.raises(ConflictError, match=rf"^accounts: entitlement account {ids[8]} refused"):
        cycles_through(world, refusing).disburse(cycle_id, by=world.checker)  # type: ignore[arg-type]
    balances = [a.balance for a in world.services.ledger.lookup_accounts(ids[:8])]
    assert balances == [amounts[0] for *_, amounts in paid[:8]]
    assert world.services.ledger.lookup_accounts(ids[8:]) == []
    again = world.services.cycles.disburse(cycle_id, by=world.checker)  # the real ledger: the rest paid once
    assert again.transfers_applied + again.transfers_existing >= len(paid) - 8
    assert [a.balance for a in world.services.ledger.lookup_accounts(ids)] == [amounts[0] for *_, amounts in paid]
