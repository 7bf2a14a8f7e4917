"""Cycles: preview over every person at once, four-eyes approval, idempotent disbursement through the ledger."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tessera.auth import Role
from tessera.errors import ConflictError, ForbiddenError, NotFoundError
from tessera.ledger import Ledger, Transfer
from tessera.limits import ID_LIMIT
from tessera.money import RETURNS_CATEGORY
from tessera.programs import (
    TRANSFER_ID_NAMESPACE,
    CycleStatus,
    entitlement_account_ids,
    entitlement_accounts,
    transfer_ids,
)
from tessera.rules import legal_basis
from tests.programs.cycle_world import (
    CYCLE_DATE_NS,
    MONEY,
    RESERVE,
    World,
    cycles_through,
    open_world,
    programme_text,
    register,
)

WAIT_S = 60  # a bound on a thread's wait, so that a broken test fails instead of hanging


class SlowLedger:
    """The real ledger, but ``create_transfers`` waits to be let through, having said it was entered."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.entered = threading.Event()
        self.release = threading.Event()

    def create_transfers(self, transfers: Any) -> Any:
        self.entered.set()
        assert self.release.wait(WAIT_S), "the test never let the transfers through"
        return self._ledger.create_transfers(transfers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with 60 seeded persons."""
    made = open_world(tmp_path)
    yield made
    made.services.close()


def _approved(world: World, text: str | None = None) -> int:
    register(world, text or programme_text())
    cycles = world.services.cycles
    cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    return cycles.approve(cycle.id, by=world.checker).id


class TestPreview:
    def test_preview__every_adult_eligible_with_amount_by_age(self, world: World) -> None:
        """The preview finds the adults, pays each 5000 + 10 a year of age, and totals it; minors told why not."""
        register(world, programme_text())
        cycles = world.services.cycles
        cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
        cycle, found = cycles.preview(cycle.id, by=world.maker)
        ages = found.population.columns["person.age"]
        assert cycle.status is CycleStatus.previewed and cycle.units == 60
        assert found.eligible.tolist() == (ages >= 18).tolist()
        assert found.amounts[:, 0].tolist() == np.where(ages >= 18, 5000 + 10 * ages, 0).tolist()
        assert cycle.totals[0].asked == int(found.amounts.sum()) and cycle.over_budget is None
        results = cycles.results(cycle.id, limit=1000)
        minors = [r for r in results if not r.eligible]
        assert minors and all(r.reason == "not met: person.age >= 18" for r in minors)

    def test_preview__over_budget_shows_pro_rating(self, world: World) -> None:
        """A cycle over its budget under pro_rate shows what approval would pay: the total pro-rated within budget."""
        register(world, programme_text(budget=100_000, over_budget="pro_rate"))
        cycles = world.services.cycles
        cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
        cycle, found = cycles.preview(cycle.id, by=world.maker)
        total = cycle.totals[0]
        assert total.asked > 100_000 >= total.paid == int(found.paid().sum())
        assert cycle.over_budget is not None and cycle.over_budget.value == "pro_rate"


class TestApproval:
    def test_approve__refused_to_the_officer_who_previewed(self, world: World) -> None:
        """Four eyes: the officer who previewed a cycle cannot approve it, and nothing changes."""
        register(world, programme_text())
        cycles = world.services.cycles
        cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
        cycles.preview(cycle.id, by=world.maker)
        with pytest.raises(ForbiddenError, match="approved_by"):
            cycles.approve(cycle.id, by=world.maker)
        assert cycles.get(cycle.id).status is CycleStatus.previewed

    def test_approve__refused_before_a_preview(self, world: World) -> None:
        """A draft cycle cannot be approved: the error names its status."""
        register(world, programme_text())
        cycle = world.services.cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
        with pytest.raises(ConflictError, match=r"^status: .*not been previewed"):
            world.services.cycles.approve(cycle.id, by=world.checker)

    def test_approve__refused_over_budget_under_refuse(self, world: World) -> None:
        """A cycle over budget whose programme refuses is not approved; the error names the budget and the excess."""
        register(world, programme_text(budget=1000))
        cycles = world.services.cycles
        cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
        cycles.preview(cycle.id, by=world.maker)
        with pytest.raises(ConflictError, match=r"^budget: .*over its budget of 1000"):
            cycles.approve(cycle.id, by=world.checker)
        assert cycles.get(cycle.id).approved is None

    def test_preview__frozen_once_approved(self, world: World) -> None:
        """An approved cycle's preview cannot be run again."""
        cycle_id = _approved(world)
        with pytest.raises(ConflictError, match=r"^status: .*frozen"):
            world.services.cycles.preview(cycle_id, by=world.maker)

    def test_create__unknown_programme(self, world: World) -> None:
        """A cycle of a programme never registered is refused, naming the programme."""
        with pytest.raises(NotFoundError, match=r"^programme: "):
            world.services.cycles.create("no_such", CYCLE_DATE_NS, by=world.maker)


class TestDisbursement:
    def test_disburse__pays_each_eligible_person_once_into_an_earmarked_account(self, world: World) -> None:
        """Disbursement credits each adult's entitlement account with their amount, earmarked for the food shops."""
        cycle_id = _approved(world)
        cycles, ledger = world.services.cycles, world.services.ledger
        done = cycles.disburse(cycle_id, by=world.checker)
        results = [r for r in cycles.results(cycle_id, limit=1000) if r.eligible]
        assert done.transfers_applied == len(results) and done.cycle.status is CycleStatus.disbursed
        ids = entitlement_account_ids("adult_cash", MONEY, np.array([r.person for r in results]))
        accounts = {a.id: a for a in ledger.lookup_accounts(ids.tolist())}
        assert [accounts[int(i)].balance for i in ids] == [r.amounts[0] for r in results]
        assert all(a.allowed_categories == frozenset({5411, 5499, RETURNS_CATEGORY}) for a in accounts.values())
        holders = world.services.store.account_holders(ids.tolist())
        assert [holders[int(i)] for i in ids] == [r.holder for r in results]

    def test_disburse__again_pays_nothing_and_answers_what_was_done(self, world: World) -> None:
        """A second disbursement of a disbursed cycle sends nothing and says it was disbursed already."""
        cycle_id = _approved(world)
        cycles = world.services.cycles
        first = cycles.disburse(cycle_id, by=world.checker)
        transfers_before = dict(world.services.ledger.counts)
        again = cycles.disburse(cycle_id, by=world.checker)
        assert again.already_disbursed and again.transfers_applied == 0
        assert again.cycle.batches_done == first.cycle.batches_done
        assert dict(world.services.ledger.counts) == transfers_before

    def test_disburse__unfunded_programme_refused_and_resumable(self, world: World) -> None:
        """A programme account without funds stops the run naming the funding; funded, disbursing again finishes it."""
        register(world, programme_text(), fund=0)
        cycles = world.services.cycles
        cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
        cycle, _ = cycles.preview(cycle.id, by=world.maker)
        cycles.approve(cycle.id, by=world.checker)
        with pytest.raises(ConflictError, match=r"^funding: "):
            cycles.disburse(cycle.id, by=world.checker)
        assert cycles.get(cycle.id).status is CycleStatus.disbursing
        account = world.services.programmes.get("adult_cash").funding[MONEY]
        assert world.services.ledger.create_transfers([Transfer(77, RESERVE, account, 10**12, MONEY, 1)]).all_ok
        done = cycles.disburse(cycle.id, by=world.checker)  # the failed run let its claim on the cycle go
        assert done.cycle.status is CycleStatus.disbursed and done.transfers_applied == cycle.eligible

    def test_close__only_a_disbursed_cycle(self, world: World) -> None:
        """A cycle closes once disbursed, naming who closed it; an approved one does not."""
        cycle_id = _approved(world)
        cycles = world.services.cycles
        with pytest.raises(ConflictError, match=r"^status: "):
            cycles.close(cycle_id, by=world.maker)
        cycles.disburse(cycle_id, by=world.checker)
        closed = cycles.close(cycle_id, by=world.maker)
        assert closed.status is CycleStatus.closed and closed.closed is not None and closed.closed.by == world.maker.id

    def test_disburse__a_second_cycle_credits_the_same_entitlements(self, world: World) -> None:
        """Two cycles of one programme credit each adult's one entitlement account twice, with two transfers."""
        first = _approved(world)
        cycles, ledger = world.services.cycles, world.services.ledger
        cycles.disburse(first, by=world.checker)
        second = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
        cycles.preview(second.id, by=world.maker)
        cycles.approve(second.id, by=world.checker)
        assert cycles.disburse(second.id, by=world.checker).transfers_applied > 0
        results = [r for r in cycles.results(second.id, limit=1000) if r.eligible]
        ids = entitlement_account_ids("adult_cash", MONEY, np.array([r.person for r in results]))
        accounts = {a.id: a for a in ledger.lookup_accounts(ids.tolist())}
        assert [accounts[int(i)].balance for i in ids] == [2 * r.amounts[0] for r in results]


class TestIds:
    def test_transfer_ids__unique_ascending_and_in_their_namespace(self) -> None:
        """Transfer ids grow with the cycle, then the unit, then the line; all above 2**62 and below the id limit."""
        seqs = np.arange(1000, dtype=np.int64)
        first = [transfer_ids(5, seqs, k, 2) for k in range(2)]
        later = transfer_ids(6, seqs, 0, 2)
        every = np.concatenate([*first, later])
        assert len(set(every.tolist())) == 3000 and int(every.min()) >= TRANSFER_ID_NAMESPACE
        assert int(every.max()) < ID_LIMIT and int(first[1].max()) < int(later.min())
        assert (np.diff(first[0].astype(np.int64)) == 2).all()

    def test_entitlement_ids__the_same_on_every_run_and_distinct_per_line(self) -> None:
        """An entitlement account id depends on programme, ledger and person only: stable, below the limit."""
        numbers = np.array(["123456789012", "234567890123"])
        ids = entitlement_account_ids("adult_cash", 1, numbers)
        assert ids.tolist() == entitlement_account_ids("adult_cash", 1, numbers).tolist()
        assert not set(ids.tolist()) & set(entitlement_account_ids("adult_cash", 2, numbers).tolist())
        assert all(0 < i < ID_LIMIT for i in ids.tolist())


def test_disburse__an_entitlement_held_by_someone_else_is_never_credited(world: World) -> None:
    """An entitlement id already open and held by another principal (a collision) stops the run, naming it."""
    cycle_id = _approved(world)
    cycles, services = world.services.cycles, world.services
    first = next(r for r in cycles.results(cycle_id, limit=1000) if r.eligible)
    (account_id,) = entitlement_account_ids("adult_cash", MONEY, np.array([first.person])).tolist()
    services.store.set_account_holders([(account_id, world.maker.id)])
    programme = services.programmes.get("adult_cash").programme
    services.ledger.create_accounts(
        entitlement_accounts(programme, MONEY, np.array([first.person]), np.array([world.maker.id]))
    )
    with pytest.raises(ConflictError, match=rf"^accounts: entitlement account {account_id} is open for another"):
        cycles.disburse(cycle_id, by=world.checker)
    assert services.ledger.lookup_accounts([account_id])[0].balance == 0


def test_disburse__a_pro_rated_cycle_pays_within_budget(world: World) -> None:
    """Over budget under pro_rate, approval passes and each adult is paid amount x budget / asked, rounded down."""
    register(world, programme_text(budget=100_000, over_budget="pro_rate"))
    cycles, ledger = world.services.cycles, world.services.ledger
    cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
    cycle, _ = cycles.preview(cycle.id, by=world.maker)
    cycles.approve(cycle.id, by=world.checker)
    cycles.disburse(cycle.id, by=world.checker)
    total = cycle.totals[0]
    results = [r for r in cycles.results(cycle.id, limit=1000) if r.eligible]
    ids = entitlement_account_ids("adult_cash", MONEY, np.array([r.person for r in results]))
    balances = [a.balance for a in ledger.lookup_accounts(ids.tolist())]
    assert balances == [r.amounts[0] * total.budget // total.asked for r in results]
    assert sum(balances) == total.paid <= total.budget


def test_registered__known_answers_the_latest_definition_or_none(world: World) -> None:
    """The register answers which programme an id names (the latest version), and None for an unknown id."""
    register(world, programme_text())
    register(world, programme_text(upper=65))
    programmes = world.services.programmes
    known = programmes.known("adult_cash")
    assert known is not None and "person.age < 65" in known.eligibility
    assert programmes.get("adult_cash").version == 2 and programmes.known("no_such") is None


def test_disburse__a_second_call_while_one_runs_is_refused_and_pays_nothing(world: World) -> None:
    """Two disbursements of one cycle at once (two threads, one store): the second is refused and sends nothing."""
    cycle_id = _approved(world)
    slow = SlowLedger(world.services.ledger)
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            outcome["done"] = cycles_through(world, slow).disburse(cycle_id, by=world.checker)
        except Exception as error:  # reported to the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert slow.entered.wait(WAIT_S), "the first call never reached the ledger"
        counts = dict(world.services.ledger.counts)
        with pytest.raises(ConflictError, match=rf"^status: cycle {cycle_id} is being disbursed by another call"):
            world.services.cycles.disburse(cycle_id, by=world.checker)
        assert dict(world.services.ledger.counts) == counts
        assert world.services.cycles.get(cycle_id).batches_done == 0
    finally:
        slow.release.set()
        thread.join(WAIT_S)
    assert "error" not in outcome, outcome.get("error")
    eligible = [r for r in world.services.cycles.results(cycle_id, limit=1000) if r.eligible]
    assert outcome["done"].transfers_applied == len(eligible) and outcome["done"].transfers_existing == 0
    again = world.services.cycles.disburse(cycle_id, by=world.checker)
    assert again.already_disbursed and again.transfers_applied == 0


def test_steps__an_officer_of_an_agency_the_basis_does_not_name_is_refused(world: World) -> None:
    """Under a basis naming social-welfare, a central-bank officer may not create, preview, approve or disburse."""
    basis = legal_basis(
        "welfare-act/cash", "Welfare Act", "s. 3", "statute",
        exercised_by=["social-welfare"], covers=["income.assessed", "benefit.claimed"],
    )  # fmt: skip
    world.services.restrictions.register_bases([basis])
    register(world, programme_text(basis="welfare-act/cash"))
    cycles, store = world.services.cycles, world.services.store
    bank = store.get_principal_by_name("bank")
    admin = store.get_principal_by_name("admin")
    assert bank is not None and bank.role is Role.officer and admin is not None
    refused = r"^programme: programme 'adult_cash' operates under welfare-act/cash, exercised by social-welfare"
    with pytest.raises(ForbiddenError, match=refused):
        cycles.create("adult_cash", CYCLE_DATE_NS, by=bank)
    cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
    with pytest.raises(ForbiddenError, match=refused):
        cycles.preview(cycle.id, by=bank)
    cycles.preview(cycle.id, by=world.maker)
    with pytest.raises(ForbiddenError, match=refused):
        cycles.approve(cycle.id, by=bank)
    cycles.approve(cycle.id, by=world.checker)
    with pytest.raises(ForbiddenError, match=refused):
        cycles.disburse(cycle.id, by=bank)
    with pytest.raises(ForbiddenError, match=refused):
        cycles.read(cycle.id, by=bank)
    assert cycles.read(cycle.id, by=admin).status is CycleStatus.approved  # an admin is not an agency's officer
    assert cycles.get(cycle.id).batches_done == 0 and cycles.get(cycle.id).disbursed is None
