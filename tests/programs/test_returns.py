"""The end of validity: notices beforehand, then what was not spent returns to the programme, once."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, update

from tessera.auth import Role
from tessera.errors import ConflictError, InvalidInputError
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Transfer
from tessera.money import AccountKind
from tessera.programs import BACK_PAY_CODE, RETURN_CODE, entitlement_account_ids, transfer_ids
from tessera.programs.disbursement import RETURN_ID_NAMESPACE, return_transfer_ids, returns_account_id
from tessera.programs.entitlements import Entitlements
from tessera.programs.returns import Returns
from tessera.rules.due_process.notices import NoticeKind
from tessera.store import cycle_followups, entitlement_adjustments
from tests.programs.cycle_world import (
    CYCLE_DATE_NS,
    MONEY,
    RICE,
    World,
    open_world,
    programme_text,
    register,
    register_ration,
)

DAY = 86_400 * 10**9
EXPIRY = CYCLE_DATE_NS + 60 * DAY  # the test programmes' valid_for is 60 days


@dataclass
class Clock:
    """A clock the test moves."""

    now: int = CYCLE_DATE_NS

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with 40 seeded persons."""
    made = open_world(tmp_path, persons=40)
    yield made
    made.services.close()


def _paid(world: World, programme_id: str, cycle_date_ns: int = CYCLE_DATE_NS) -> int:
    cycles = world.services.cycles
    cycle = cycles.create(programme_id, cycle_date_ns, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    cycles.approve(cycle.id, by=world.checker)
    cycles.disburse(cycle.id, by=world.maker)
    return cycle.id


def _returns(world: World, clock: Clock, *, notice_days: int = 3) -> Returns:
    s = world.services
    entitlements = Entitlements(s.store, s.programmes, s.ledger, clock=clock)
    return Returns(
        s.store, s.programmes, s.cycles, entitlements, s.ledger, s.notices,
        clock=clock, batch_size=7, notice_s=notice_days * 86_400,
    )  # fmt: skip


def _paid_units(world: World, cycle_id: int) -> list[str]:
    return [r.person for r in world.services.cycles.results(cycle_id, limit=1000) if r.eligible]


def _balances(world: World, programme_id: str, ledger_id: int, numbers: list[str]) -> list[int]:
    ids = entitlement_account_ids(programme_id, ledger_id, np.array(numbers))
    found = {a.id: a.credits_posted - a.debits_posted for a in world.services.ledger.lookup_accounts(ids.tolist())}
    return [found[i] for i in ids.tolist()]


def _programme_balance(world: World, account_id: int) -> int:
    (account,) = world.services.ledger.lookup_accounts([account_id])
    return account.credits_posted - account.debits_posted


def _ration(world: World) -> tuple[int, int, list[str]]:
    """A disbursed rice ration: its cycle, its programme account, the units paid."""
    registered = register_ration(world)
    cycle_id = _paid(world, "rice_ration")
    return cycle_id, registered.funding[RICE], _paid_units(world, cycle_id)


def _spend(world: World, number: str, amount: int) -> None:
    """A redemption, as the ledger sees it: from the unit's rice entitlement to a shop's rice account."""
    ledger = world.services.ledger
    shop = 7_000_001
    store = world.services.store
    if not ledger.lookup_accounts([shop]):
        till = store.create_principal("till", Role.merchant)
        store.set_account_holders([(shop, till.id)])
        ledger.create_accounts([Account(shop, RICE, AccountKind.merchant, AccountFlags.debits_must_not_exceed_credits)])
    (account,) = entitlement_account_ids("rice_ration", RICE, np.array([number])).tolist()
    spent = Transfer(8_000_000 + int(number[-6:]) % 10**6, account, shop, amount, ledger=RICE, code=15)
    assert ledger.create_transfers([spent]).statuses[0] == CreateTransferStatus.ok


class TestRefusals:
    def test_return__refused_before_validity_ends(self, world: World) -> None:
        """A day before expiry nothing returns; the error names the date."""
        cycle_id, _, _ = _ration(world)
        clock = Clock(EXPIRY - DAY)
        with pytest.raises(ConflictError, match="valid until 2027-03-02"):
            _returns(world, clock).return_expired("rice_ration", cycle_id, by=world.admin)

    def test_return__refused_without_notices_then_too_soon_after(self, world: World) -> None:
        """Expired but nobody told: refused; told a day ago when three are asked: refused, naming when."""
        cycle_id, _, _ = _ration(world)
        clock = Clock(EXPIRY + DAY)
        returns = _returns(world, clock)
        with pytest.raises(ConflictError, match="notify-expiry"):
            returns.return_expired("rice_ration", cycle_id, by=world.admin)
        returns.notify_expiring("rice_ration", cycle_id, by=world.maker, days_before=3)
        clock.now += DAY
        with pytest.raises(ConflictError, match="returns from 2027-03-06"):
            returns.return_expired("rice_ration", cycle_id, by=world.admin)

    def test_notify__refused_too_early(self, world: World) -> None:
        """Notices 3 days before are refused 10 days before, naming the day they may go out."""
        cycle_id, _, _ = _ration(world)
        with pytest.raises(ConflictError, match="go out from 2027-02-27"):
            _returns(world, Clock(EXPIRY - 10 * DAY)).notify_expiring(
                "rice_ration", cycle_id, by=world.maker, days_before=3
            )


class TestNotices:
    def test_notify__once_per_unit_with_what_is_left(self, world: World) -> None:
        """Each unit with rice left is told how much, until when, where; a second call adds none."""
        cycle_id, _, units = _ration(world)
        _spend(world, units[0], 5000)  # all of it: nothing left to tell of
        returns = _returns(world, Clock(EXPIRY - 2 * DAY))
        done = returns.notify_expiring("rice_ration", cycle_id, by=world.maker, days_before=3)
        assert done.created == done.total == len(units) - 1 and done.notified_at_ns is not None
        again = returns.notify_expiring("rice_ration", cycle_id, by=world.maker, days_before=3)
        assert again.created == 0 and again.total == len(units) - 1
        told = [n for n in world.services.notices.of_subject(units[1]) if n.kind is NoticeKind.entitlement_expiring]
        assert len(told) == 1
        assert "5.000 kg of rice" in told[0].reason_text and "2027-03-02" in told[0].reason_text
        assert "5411" in told[0].reason_text and told[0].expires_at_ns == EXPIRY
        assert not [n for n in world.services.notices.of_subject(units[0]) if n.kind is NoticeKind.entitlement_expiring]


class TestReturn:
    def _notified(self, world: World, cycle_id: int, clock: Clock) -> Returns:
        returns = _returns(world, clock)
        clock.now = EXPIRY - 2 * DAY
        returns.notify_expiring("rice_ration", cycle_id, by=world.maker, days_before=3)
        clock.now = EXPIRY + 2 * DAY
        return returns

    def test_return__the_unspent_rest_returns_exactly(self, world: World) -> None:
        """What the units hold returns to the programme account; a partly spent one returns only the rest."""
        cycle_id, funding, units = _ration(world)
        _spend(world, units[0], 1200)
        clock = Clock()
        returns = self._notified(world, cycle_id, clock)
        held = _balances(world, "rice_ration", RICE, units)
        assert held[0] == 3800 and set(held[1:]) == {5000}
        before = _programme_balance(world, funding)
        run = returns.return_expired("rice_ration", cycle_id, by=world.admin)
        assert _programme_balance(world, funding) - before == sum(held) == run.returned[RICE]
        assert set(_balances(world, "rice_ration", RICE, units)) == {0}
        assert run.transfers_applied == len(units) and run.returned_by == world.admin.id
        (transfer,) = [
            t for t in world.services.ledger.get_account_transfers(funding, limit=100, reverse=True)
            if t.debit_account_id == int(entitlement_account_ids("rice_ration", RICE, np.array(units[:1]))[0])
        ]  # fmt: skip
        assert transfer.amount == 3800 and transfer.code == RETURN_CODE and transfer.user_data_64 == cycle_id

    def test_return__a_rerun_returns_nothing_twice(self, world: World) -> None:
        """Again: nothing sent. After a crash that lost the progress, the same transfers are found applied."""
        cycle_id, funding, units = _ration(world)
        clock = Clock()
        returns = self._notified(world, cycle_id, clock)
        first = returns.return_expired("rice_ration", cycle_id, by=world.admin)
        after = _programme_balance(world, funding)
        again = returns.return_expired("rice_ration", cycle_id, by=world.admin)
        assert again.already_returned and again.returned == first.returned
        with world.services.store.transaction(write=True) as conn:  # as if it crashed before its progress was kept
            conn.execute(
                update(cycle_followups)
                .where(cycle_followups.c.cycle_id == cycle_id)
                .values(returned_at_ns=None, return_through_seq=-1)
            )
        redone = returns.return_expired("rice_ration", cycle_id, by=world.admin)
        assert redone.transfers_applied == 0 and redone.transfers_existing == len(units)
        assert _programme_balance(world, funding) == after and redone.returned == first.returned

    def test_return__a_later_cycle_still_valid_stays(self, world: World) -> None:
        """Two cycles a month apart: after the first expires only its rest returns; the second's credit stays whole."""
        cycle_id, funding, units = _ration(world)
        cycles = world.services.cycles
        later = cycles.create("rice_ration", CYCLE_DATE_NS + 30 * DAY, by=world.maker)
        cycles.preview(later.id, by=world.maker)
        cycles.approve(later.id, by=world.checker)
        cycles.disburse(later.id, by=world.maker)
        _spend(world, units[0], 1200)  # first to expire, first spent: from the first cycle's credit
        clock = Clock()
        returns = self._notified(world, cycle_id, clock)
        told = [n for n in world.services.notices.of_subject(units[0]) if n.kind is NoticeKind.entitlement_expiring]
        assert "3.800 kg of rice" in told[0].reason_text
        before = _programme_balance(world, funding)
        run = returns.return_expired("rice_ration", cycle_id, by=world.admin)
        assert run.returned[RICE] == 5000 * (len(units) - 1) + 3800 == _programme_balance(world, funding) - before
        assert set(_balances(world, "rice_ration", RICE, units)) == {5000}

    def test_return_ids__never_meet_a_disbursement(self) -> None:
        """Bit 61 marks a return: the highest cycle's disbursements stay below the lowest cycle's returns."""
        seqs = np.array([0, 1, (1 << 38) // 2 - 1], np.int64)
        paid = transfer_ids((1 << 23) - 1, seqs, 1, 2)
        returned = return_transfer_ids(1, seqs, 0, 2)
        assert int(paid.max()) < RETURN_ID_NAMESPACE <= int(returned.min()) and int(returned.max()) < 2**63
        with pytest.raises(InvalidInputError, match="cycle"):
            return_transfer_ids(1 << 23, seqs, 0, 2)

    def test_return__cash_goes_to_the_programmes_returns_account(self, world: World) -> None:
        """A cash entitlement, earmarked for shops, returns to the programme's returns account, which it may pay."""
        register(world, programme_text())
        cycle_id = _paid(world, "adult_cash")
        units = _paid_units(world, cycle_id)
        clock = Clock(EXPIRY - DAY)
        returns = _returns(world, clock, notice_days=0)
        returns.notify_expiring("adult_cash", cycle_id, by=world.maker, days_before=3)
        clock.now = EXPIRY
        held = _balances(world, "adult_cash", MONEY, units)
        run = returns.return_expired("adult_cash", cycle_id, by=world.admin)
        assert run.returned[MONEY] == sum(held) == _programme_balance(world, returns_account_id("adult_cash", MONEY))
        assert set(_balances(world, "adult_cash", MONEY, units)) == {0}


class TestShares:
    def test_shares__agree_with_each_accounts_standing(self, world: World) -> None:
        """Worked in bulk, what is left of each cycle and what its expiry returns are what ``standing`` says."""
        # Back-pay lives valid_for from when the ledger pays it (now): the cycles are dated before now,
        # so that it expires after both and counts among the credits sorted after each.
        today = time.time_ns() // DAY * DAY
        funding = register_ration(world).funding[RICE]
        first = _paid(world, "rice_ration", today - 40 * DAY)
        units = _paid_units(world, first)
        cycles = world.services.cycles
        second = cycles.get(_paid(world, "rice_ration", today - 10 * DAY))
        for k, number in enumerate(units[:4]):
            _spend(world, number, 2500 * (k + 1))  # 2.5 kg to 10 kg: the last spends both cycles' credits
        account = int(entitlement_account_ids("rice_ration", RICE, np.array(units[5:6]))[0])
        back_pay = Transfer(9_000_001, funding, account, 700, ledger=RICE, code=BACK_PAY_CODE, user_data_64=second.id)
        with world.services.store.transaction(write=True) as conn:
            conn.execute(
                insert(entitlement_adjustments).values(
                    transfer_id=back_pay.id, kind="back_pay", programme="rice_ration", cycle_id=second.id,
                    ledger_id=RICE, person=units[5], amount=700, reference="g_1", made_by=world.admin.id, made_at_ns=1,
                )
            )  # fmt: skip
        assert world.services.ledger.create_transfers([back_pay]).statuses[0] == CreateTransferStatus.ok
        s = world.services
        holder = next(r.holder for r in cycles.results(first, limit=1000) if r.person == units[6])
        grievance = s.grievances.file(units[6], holder, "rice_ration", "not_received", "short by 300 g")

        def post(number: str, transfers: Sequence[Transfer]) -> list[CreateTransferStatus]:
            return [CreateTransferStatus(int(x)) for x in s.ledger.create_transfers(list(transfers)).statuses]

        s.grievances.resolve(
            grievance.id, world.checker, upheld=True, reason="Short.", back_pay={"rice": 300}, post=post
        )
        entitlements = Entitlements(s.store, s.programmes, s.ledger)
        programme = s.programmes.get("rice_ration").programme
        numbers = np.array(units)
        first_ends, second_ends = today + 20 * DAY, today + 50 * DAY
        for cycle_id, now in (
            (first, first_ends + DAY),
            (second.id, second_ends - DAY),
            (second.id, second_ends + DAY),
        ):
            shares = entitlements.shares(programme, 0, numbers, cycle_id)
            standings = entitlements.standings(programme, RICE, numbers, now_ns=now)
            expires = entitlements.cycle_expiry(cycle_id)
            left = [sum(p.left for p in x.portions if p.cycle_id == cycle_id and p.credited == 5000) for x in standings]
            assert shares.left.tolist() == left and len(set(left)) > 1
            if now >= expires:
                returned = [
                    sum(p.left for p in x.portions if not p.live and p.expires_at_ns <= expires) for x in standings
                ]
                assert shares.returnable.tolist() == returned
        assert shares.credited.tolist() == [5000] * len(units)


class TestEligibilityLost:
    def test_approval__tells_those_no_longer_eligible_once_and_they_may_appeal(self, world: World) -> None:
        """Paid last cycle, not eligible now (40 and over): a denial notice with the reason, basis and appeal, once."""
        register(world, programme_text())
        first = _paid(world, "adult_cash")
        register(world, programme_text(upper=40), fund=0)  # version 2: under 40 only
        cycles = world.services.cycles
        cycle = cycles.create("adult_cash", CYCLE_DATE_NS + 31 * DAY, by=world.maker)
        cycles.preview(cycle.id, by=world.maker)
        cycles.approve(cycle.id, by=world.checker)
        before = set(_paid_units(world, first))
        lost = [r for r in cycles.results(cycle.id, limit=1000) if not r.eligible and r.person in before]
        assert lost and all(r.reason == "not met: person.age < 40" for r in lost)
        notices = world.services.notices
        for r in lost:
            (told,) = [n for n in notices.of_subject(r.person) if n.kind is NoticeKind.denial]
            assert "not met: person.age < 40" in told.reason_text and told.basis_id == "social-protection-act/food"
            assert "/v1/me/notices/" in told.appeal and told.reference == f"programme:adult_cash:cycle:{cycle.id}"
        minors = [r for r in cycles.results(cycle.id, limit=1000) if not r.eligible and r.person not in before]
        assert minors and not [n for n in notices.of_subject(minors[0].person) if n.kind is NoticeKind.denial]
        cycles.disburse(cycle.id, by=world.maker)  # makes good a crash after approval: adds none here
        assert len([n for n in notices.of_subject(lost[0].person) if n.kind is NoticeKind.denial]) == 1
        (told,) = [n for n in notices.of_subject(lost[0].person) if n.kind is NoticeKind.denial]
        appeals = world.services.notice_appeals
        appeal = appeals.file(told.id, appellant=lost[0].person, filed_by=lost[0].holder, grounds="I am 39.")
        decided = appeals.decide(appeal.id, "uphold", officer=world.checker.id, reason="The register says 52.")
        assert decided.status.value == "upheld"
        answer = notices.of_subject(lost[0].person)[0]
        assert answer.kind is NoticeKind.appeal_decided
