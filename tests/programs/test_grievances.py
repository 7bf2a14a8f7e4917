"""Grievances: filed with every input checked, resolved once, back-pay paid through the ledger at most once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.ledger import CreateTransferStatus, Ledger, Transfer
from tessera.programs import (
    BACK_PAY_CODE,
    BACK_PAY_FIELD,
    OPEN_GRIEVANCES_MAX,
    Grievances,
    GrievanceStatus,
    entitlement_account_ids,
)
from tessera.programs import grievances as grievances_module
from tessera.store import persons
from tests.programs.cycle_world import CYCLE_DATE_NS, MONEY, World, open_world, programme_text, register

REASON = "the shop's till was down on the day; paid by hand"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with 12 seeded persons and the adult cash programme registered and funded."""
    made = open_world(tmp_path, persons=12)
    register(made, programme_text())
    yield made
    made.services.close()


def _holder(world: World, number: str) -> str:
    with world.services.store.transaction() as conn:
        return str(conn.scalar(select(persons.c.principal_id).where(persons.c.number == number)))


def _post(ledger: Ledger, sent: list[Transfer] | None = None) -> Any:
    """What the service's route does, less the access note: the transfers to the ledger, their statuses back."""

    def post(number: str, transfers: Sequence[Transfer]) -> list[CreateTransferStatus]:
        if sent is not None:
            sent.extend(transfers)
        return [CreateTransferStatus(int(s)) for s in ledger.create_transfers(list(transfers)).statuses]

    return post


def _crash(number: str, transfers: Sequence[Transfer]) -> list[CreateTransferStatus]:
    raise RuntimeError("the process died before the ledger saw the back-pay")


def _balance(world: World, number: str) -> int:
    account_id = int(entitlement_account_ids("adult_cash", MONEY, np.array([number]))[0])
    found = world.services.ledger.lookup_accounts([account_id])
    return found[0].balance if found else 0


def _filed(world: World, number: str | None = None, **terms: Any) -> Any:
    number = number or world.numbers[0]
    text = terms.pop("text", "my grant for January never came")
    kind = terms.pop("kind", "not_received")
    return world.services.grievances.file(number, _holder(world, number), "adult_cash", kind, text, **terms)


def _disbursed_cycle(world: World) -> int:
    cycles = world.services.cycles
    cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    cycles.approve(cycle.id, by=world.checker)
    cycles.disburse(cycle.id, by=world.checker)
    return cycle.id


class TestFiling:
    def test_file__recorded_open_with_the_persons_words(self, world: World) -> None:
        """A grievance is filed open, with its id, kind, words and the principal who filed it."""
        made = _filed(world, text="  never came  ")
        assert made.status is GrievanceStatus.open and made.text == "never came"
        assert made.id.startswith("g_") and len(made.id) == 18
        assert made.subject == world.numbers[0] and made.holder == _holder(world, world.numbers[0])
        assert world.services.grievances.of_person(world.numbers[0]) == [made]

    @pytest.mark.parametrize(
        ("terms", "error", "field"),
        [
            ({"programme_id": "no_such"}, NotFoundError, "programme"),
            ({"kind": "lost_card"}, InvalidInputError, "kind"),
            ({"text": "   "}, InvalidInputError, "text"),
            ({"text": "x" * 2001}, InvalidInputError, "text"),
            ({"text": "not\x07seen"}, InvalidInputError, "text"),
            ({"cycle_id": 999}, NotFoundError, "cycle"),
            ({"redemption_id": "r_123"}, InvalidInputError, "redemption_id"),
            ({"holder": "p_0000000000000000"}, NotFoundError, "number"),
        ],
    )
    def test_file__each_bad_input_names_its_field(
        self, world: World, terms: dict[str, Any], error: type[Exception], field: str
    ) -> None:
        """A refused grievance names the field at fault, and nothing is written."""
        number = world.numbers[0]
        args: dict[str, Any] = {
            "holder": _holder(world, number),
            "programme_id": "adult_cash",
            "kind": "not_received",
            "text": "it never came",
            **terms,
        }
        with pytest.raises(error, match=rf"^{field}"):
            world.services.grievances.file(number, **args)
        assert world.services.grievances.of_person(number) == []

    def test_file__a_cycle_of_another_programme_is_refused(self, world: World) -> None:
        """The cycle named must be one of the programme's."""
        register(world, programme_text("other_cash"))
        cycle = world.services.cycles.create("other_cash", CYCLE_DATE_NS, by=world.maker)
        with pytest.raises(NotFoundError, match=r"^cycle_id: "):
            _filed(world, cycle_id=cycle.id)

    def test_file__at_most_so_many_open_at_once(self, world: World) -> None:
        """Past the bound the next is refused, naming the person; one resolved makes room again."""
        made = [_filed(world) for _ in range(OPEN_GRIEVANCES_MAX)]
        with pytest.raises(ConflictError, match=r"^number: .*grievances open"):
            _filed(world)
        world.services.grievances.resolve(
            made[0].id, world.checker, upheld=False, reason=REASON, post=_post(world.services.ledger)
        )
        assert _filed(world).status is GrievanceStatus.open


class TestResolution:
    def test_reject__pays_nothing_and_a_second_resolution_is_refused(self, world: World) -> None:
        """A rejection records who, when and why, moves no money; another decision on it is a conflict."""
        made = _filed(world)
        sent: list[Transfer] = []
        done = world.services.grievances.resolve(
            made.id, world.checker, upheld=False, reason=REASON, post=_post(world.services.ledger, sent)
        )
        assert done.status is GrievanceStatus.resolved_rejected and done.resolved_by == world.checker.id
        assert done.reason == REASON and done.back_pay == () and sent == []
        with pytest.raises(ConflictError, match=r"^status: .*resolved already"):
            world.services.grievances.resolve(
                made.id, world.checker, upheld=True, reason=REASON, post=_post(world.services.ledger)
            )
        assert world.services.grievances.get(made.id) == done

    def test_uphold__back_pay_moves_exactly_the_amount_to_the_entitlement(self, world: World) -> None:
        """Back-pay goes from the programme account to the person's entitlement account, code 21, the cycle named."""
        cycle_id = _disbursed_cycle(world)
        number = next(r.person for r in world.services.cycles.results(cycle_id, limit=100) if r.eligible)
        before = _balance(world, number)
        funding = world.services.programmes.get("adult_cash").funding[MONEY]
        fund_before = world.services.ledger.lookup_accounts([funding])[0]
        made = _filed(world, number, kind="wrong_amount", cycle_id=cycle_id)
        sent: list[Transfer] = []
        done = world.services.grievances.resolve(
            made.id,
            world.checker,
            upheld=True,
            reason=REASON,
            back_pay={"currency": 1234},
            post=_post(world.services.ledger, sent),
        )
        assert done.status is GrievanceStatus.resolved_upheld and [b.amount for b in done.back_pay] == [1234]
        assert _balance(world, number) == before + 1234
        fund_after = world.services.ledger.lookup_accounts([funding])[0]
        assert fund_after.debits_posted - fund_before.debits_posted == 1234
        [transfer] = world.services.ledger.lookup_transfers([done.back_pay[0].transfer_id])
        assert (transfer.code, transfer.user_data_64, transfer.debit_account_id) == (BACK_PAY_CODE, cycle_id, funding)
        figures = world.services.reconciliation.programme("adult_cash")
        [row] = [r for r in figures.rows if r.cycle_id == cycle_id]
        assert row.back_pay == 1234 and row.issued == row.disbursed + 1234  # reconciliation counts it as issued
        assert all(line.agrees for line in figures.lines)

    def test_uphold__opens_the_entitlement_account_when_none_is_open(self, world: World) -> None:
        """Without a cycle paid before, the account is opened as disbursement opens it, held by the person."""
        number = world.numbers[1]
        made = _filed(world, number)
        world.services.grievances.resolve(
            made.id, world.checker, upheld=True, reason=REASON, back_pay={"currency": 500},
            post=_post(world.services.ledger),
        )  # fmt: skip
        account_id = int(entitlement_account_ids("adult_cash", MONEY, np.array([number]))[0])
        assert _balance(world, number) == 500
        assert world.services.store.account_holders([account_id]) == {account_id: _holder(world, number)}

    @pytest.mark.parametrize(
        ("upheld", "back_pay", "field"),
        [
            (False, {"currency": 100}, "back_pay"),
            (True, {"rice": 100}, "back_pay.rice"),
            (True, {"currency": 0}, "back_pay.currency"),
            (True, {"currency": 10**15 + 1}, "back_pay.currency"),
            (True, {"currency": True}, "back_pay.currency"),
        ],
    )
    def test_resolve__bad_back_pay_names_its_field_and_writes_nothing(
        self, world: World, upheld: bool, back_pay: dict[str, Any], field: str
    ) -> None:
        """Back-pay only when upheld, on a line of the programme, above 0 and within the line's budget."""
        made = _filed(world)
        with pytest.raises(InvalidInputError, match=rf"^{field}"):
            world.services.grievances.resolve(
                made.id, world.checker, upheld=upheld, reason=REASON, back_pay=back_pay,
                post=_post(world.services.ledger),
            )  # fmt: skip
        assert world.services.grievances.get(made.id).status is GrievanceStatus.open

    def test_resolve__a_reason_is_required(self, world: World) -> None:
        """A resolution without words of why is refused, naming the reason."""
        made = _filed(world)
        with pytest.raises(InvalidInputError, match=r"^reason"):
            world.services.grievances.resolve(
                made.id, world.checker, upheld=False, reason=" ", post=_post(world.services.ledger)
            )

    def test_resolve__not_by_the_person_themselves(self, world: World) -> None:
        """The principal who filed a grievance cannot resolve it."""
        made = _filed(world)
        person = world.services.store.get_principal(made.holder)
        assert person is not None
        with pytest.raises(ForbiddenError, match=r"^resolved_by"):
            world.services.grievances.resolve(
                made.id, person, upheld=True, reason=REASON, post=_post(world.services.ledger)
            )


class TestCrash:
    def test_retry_after_a_crash_before_the_post_pays_once(self, world: World) -> None:
        """The row holds the transfer id before the ledger sees it: the same decision again pays, then pays nothing."""
        number = world.numbers[2]
        made = _filed(world, number)
        decision: dict[str, Any] = {"upheld": True, "reason": REASON, "back_pay": {"currency": 700}}
        with pytest.raises(RuntimeError):
            world.services.grievances.resolve(made.id, world.checker, **decision, post=_crash)
        recorded = world.services.grievances.get(made.id)
        assert recorded.status is GrievanceStatus.resolved_upheld and _balance(world, number) == 0
        sent: list[Transfer] = []
        again = world.services.grievances.resolve(
            made.id, world.checker, **decision, post=_post(world.services.ledger, sent)
        )
        assert replace(again, back_paid_at_ns=None) == recorded and _balance(world, number) == 700
        assert recorded.back_paid_at_ns is None and again.back_paid_at_ns is not None
        world.services.grievances.resolve(made.id, world.checker, **decision, post=_post(world.services.ledger, sent))
        assert _balance(world, number) == 700 and len({t.id for t in sent}) == 1

    def test_retry_after_the_ledger_applied_answers_exists(self, world: World) -> None:
        """A crash after the ledger took the back-pay: the retry is answered ``exists`` and moves nothing."""
        number = world.numbers[3]
        made = _filed(world, number)
        decision: dict[str, Any] = {"upheld": True, "reason": REASON, "back_pay": {"currency": 300}}
        statuses: list[CreateTransferStatus] = []

        def applied_then_crashed(who: str, transfers: Sequence[Transfer]) -> list[CreateTransferStatus]:
            world.services.ledger.create_transfers(list(transfers))
            raise RuntimeError("died after the ledger applied the batch")

        def recording(who: str, transfers: Sequence[Transfer]) -> list[CreateTransferStatus]:
            statuses.extend(_post(world.services.ledger)(who, transfers))
            return statuses

        with pytest.raises(RuntimeError):
            world.services.grievances.resolve(made.id, world.checker, **decision, post=applied_then_crashed)
        world.services.grievances.resolve(made.id, world.checker, **decision, post=recording)
        assert statuses == [CreateTransferStatus.exists] and _balance(world, number) == 300

    def test_back_pay_owed_after_a_crash_is_sent_at_the_next_start_and_logged(self, tmp_path: Path) -> None:
        """Nobody has to resolve it again: the restarted service sends what was decided, as the officer's act, once."""
        world = open_world(tmp_path / "service", persons=12)
        try:
            register(world, programme_text())
            number = world.numbers[4]
            made = _filed(world, number)
            with pytest.raises(RuntimeError):
                world.services.grievances.resolve(
                    made.id, world.checker, upheld=True, reason=REASON, back_pay={"currency": 700}, post=_crash
                )
            assert [g.id for g in world.services.grievances.owed_back_pay()] == [made.id]
            assert world.services.grievances.get(made.id).back_paid_at_ns is None
        finally:
            world.services.close()
        again = open_world(tmp_path / "service", persons=12)
        try:
            services = again.services
            assert _balance(again, number) == 700 and services.grievances.owed_back_pay() == []
            assert services.grievances.get(made.id).back_paid_at_ns is not None
            logged = [e for _, e in services.access_log.entries_for_subject(services.subject_of_person(number))]
            paid = [e for e in logged if e.fields == (BACK_PAY_FIELD,)]
            assert [(e.principal, e.outcome) for e in paid] == [(again.checker.id, "written")]
            assert made.id in paid[0].purpose
        finally:
            again.services.close()
        third = open_world(tmp_path / "service", persons=12)  # nothing owed: nothing sent, nothing logged again
        try:
            assert _balance(third, number) == 700
            logged = third.services.access_log.entries_for_subject(third.services.subject_of_person(number))
            assert len([e for _, e in logged if e.fields == (BACK_PAY_FIELD,)]) == 1
        finally:
            third.services.close()

    def test_back_pay_the_ledger_refuses_stays_owed(self, world: World) -> None:
        """An unfunded programme account: the resolution stands, the back-pay stays owed until it is paid."""
        number = world.numbers[5]
        made = _filed(world, number)
        refusing = _post(world.services.ledger)
        decision: dict[str, Any] = {"upheld": True, "reason": REASON, "back_pay": {"currency": 10**15}}
        with pytest.raises(ConflictError, match=r"^funding"):
            world.services.grievances.resolve(made.id, world.checker, **decision, post=refusing)
        assert [g.id for g in world.services.grievances.owed_back_pay()] == [made.id]
        with pytest.raises(ConflictError, match=r"^funding"):
            world.services.grievances.finish_back_pay(world.services.grievances.get(made.id), refusing)
        assert _balance(world, number) == 0

    def test_retry_with_another_decision_is_a_conflict(self, world: World) -> None:
        """Only the same decision finishes a resolution; another amount is refused and pays nothing."""
        made = _filed(world)
        with pytest.raises(RuntimeError):
            world.services.grievances.resolve(
                made.id, world.checker, upheld=True, reason=REASON, back_pay={"currency": 700}, post=_crash
            )
        with pytest.raises(ConflictError, match=r"^status"):
            world.services.grievances.resolve(
                made.id, world.checker, upheld=True, reason=REASON, back_pay={"currency": 900},
                post=_post(world.services.ledger),
            )  # fmt: skip
        assert _balance(world, world.numbers[0]) == 0


class _Clock:
    """A clock the test moves: seconds, in nanoseconds."""

    def __init__(self) -> None:
        self.now_ns = 1_800_000_000 * 10**9

    def time_ns(self) -> int:
        return self.now_ns


def test_stats__counts_and_median_and_p90_time_to_resolution(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Open, upheld and rejected are counted; times to resolution are from filing to resolution, in seconds."""
    clock = _Clock()
    monkeypatch.setattr(grievances_module, "time", clock)
    service: Grievances = world.services.grievances
    assert service.stats("adult_cash").resolution_s_median is None
    waits = [10, 20, 30, 40, 100]
    for k, wait in enumerate(waits):
        made = _filed(world, world.numbers[k])
        clock.now_ns += wait * 10**9
        service.resolve(made.id, world.checker, upheld=k % 2 == 0, reason=REASON, post=_post(world.services.ledger))
    _filed(world, world.numbers[6])
    stats = service.stats("adult_cash")
    assert (stats.open, stats.upheld, stats.rejected) == (1, 3, 2)
    assert stats.resolution_s_median == pytest.approx(30.0)
    assert stats.resolution_s_p90 == pytest.approx(float(np.percentile(waits, 90)))


def test_queue__oldest_first_by_status_and_programme_paged(world: World) -> None:
    """The officers' queue lists grievances in filing order, filtered, a page after the last id seen."""
    made = [_filed(world, n) for n in world.numbers[:3]]
    service = world.services.grievances
    service.resolve(made[1].id, world.checker, upheld=False, reason=REASON, post=_post(world.services.ledger))
    assert [g.id for g in service.queue("open")] == [made[0].id, made[2].id]
    assert [g.id for g in service.queue(limit=2)] == [made[0].id, made[1].id]
    assert [g.id for g in service.queue(after=made[1].id)] == [made[2].id]
    assert service.queue(programme="other") == [] and service.queue(among=[]) == []
    with pytest.raises(InvalidInputError, match=r"^status"):
        service.queue("closed")


HOUSEHOLD_PROGRAMME = """
[[programme]]
id = "family_cash"
name = "Family cash"
basis = "social-protection-act/food"
unit = "household"
kind = "cash"
currency = "currency"
eligibility = "household.size >= 2"
schedule = "monthly"
valid_for = "60d"
over_budget = "refuse"
merchant_categories = [5411]

[programme.cash]
amount = "1000"
budget = 1_000_000
"""


@pytest.mark.parametrize("with_cycle", [True, False])
def test_uphold__a_household_programme_pays_the_head(world: World, with_cycle: bool) -> None:
    """A member's grievance on a household programme credits the head's entitlement, the unit the cycle paid."""
    member, head = world.numbers[4], world.numbers[5]
    world.services.households.create_household(
        [member, head], head=head, nominees=[], actor=world.maker.id, reason="registered at the desk"
    )
    register(world, HOUSEHOLD_PROGRAMME)
    cycle_id = None
    if with_cycle:
        cycles = world.services.cycles
        cycle = cycles.create("family_cash", CYCLE_DATE_NS, by=world.maker)
        cycles.preview(cycle.id, by=world.maker)
        cycles.approve(cycle.id, by=world.checker)
        cycles.disburse(cycle.id, by=world.checker)
        cycle_id = cycle.id
    service = world.services.grievances
    made = service.file(member, _holder(world, member), "family_cash", "not_received", "none came", cycle_id=cycle_id)
    service.resolve(
        made.id, world.checker, upheld=True, reason=REASON, back_pay={"currency": 250},
        post=_post(world.services.ledger),
    )  # fmt: skip
    ids = entitlement_account_ids("family_cash", MONEY, np.array([head, member]))
    found = {a.id: a.balance for a in world.services.ledger.lookup_accounts(ids.tolist())}
    assert found == {int(ids[0]): (1000 if with_cycle else 0) + 250}
