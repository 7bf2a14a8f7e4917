"""The Ledger's reads and operations beyond create_*: history, holds, freezes, reservations."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tessera.ledger import (
    Account,
    AccountFlags,
    CreateTransferStatus,
    Ledger,
    OrderStatus,
    PendingState,
    Transfer,
    TransferFlags,
)
from tessera.ledger.journal import EntryKind
from tests.accounts import ALICE, BOB, ISSUER, SHOP

S = CreateTransferStatus


def _pay(id_: int, debit: int, credit: int, amount: int, **kw: int) -> Transfer:
    return Transfer(id_, debit, credit, amount, 1, 2, **kw)  # type: ignore[arg-type]


class TestAccountTransfers:
    def test_history_oldest_first_and_newest_first(self, funded: Ledger) -> None:
        """The history lists every transfer touching the account, in either order, with a limit."""
        funded.create_transfers([_pay(10 + i, ALICE, BOB if i % 2 else SHOP, 1) for i in range(6)])
        ids = [t.id for t in funded.get_account_transfers(ALICE, limit=100)]
        assert ids == [1, 10, 11, 12, 13, 14, 15]
        assert [t.id for t in funded.get_account_transfers(ALICE, limit=3)] == [1, 10, 11]
        assert [t.id for t in funded.get_account_transfers(ALICE, limit=3, reverse=True)] == [15, 14, 13]
        assert [t.id for t in funded.get_account_transfers(BOB, limit=100)] == [2, 11, 13, 15]

    def test_history_of_unknown_account__empty(self, funded: Ledger) -> None:
        """An account that does not exist has no history (and no error)."""
        assert funded.get_account_transfers(12345) == []

    def test_refused_transfer__not_in_history(self, funded: Ledger) -> None:
        """Only applied transfers are stored; a refusal leaves no trace in the ledger."""
        assert funded.create_transfers([_pay(20, ALICE, BOB, 10**6)])[0].status == S.exceeds_credits
        assert [t.id for t in funded.get_account_transfers(ALICE)] == [1]
        assert funded.lookup_transfers([20]) == []

    def test_lookup_returns_timestamps_in_order(self, funded: Ledger) -> None:
        """Each event gets its own timestamp, strictly increasing in submission order."""
        funded.create_transfers([_pay(30, ALICE, BOB, 1), _pay(31, BOB, ALICE, 1)])
        a, b = funded.lookup_transfers([30, 31])
        assert 0 < a.timestamp < b.timestamp


class TestHolds:
    def test_post_resolves_accounts_from_the_pending_transfer(self, funded: Ledger) -> None:
        """A post may leave accounts, ledger and code zero; the stored record has them filled in."""
        funded.create_transfers([_pay(40, ALICE, SHOP, 300, flags=TransferFlags.pending, timeout=60)])
        post = Transfer(41, pending_id=40, amount=250, flags=TransferFlags.post_pending_transfer)
        assert funded.create_transfers([post]).all_ok
        (stored,) = funded.lookup_transfers([41])
        assert (stored.debit_account_id, stored.credit_account_id, stored.amount, stored.ledger) == (
            ALICE,
            SHOP,
            250,
            1,
        )
        assert funded.lookup_pending_states([40, 41]) == {40: PendingState.posted, 41: PendingState.none}
        alice = funded.lookup_accounts([ALICE])[0]
        assert (alice.debits_pending, alice.debits_posted, alice.balance) == (0, 250, 750)

    def test_expired_hold__released_and_refused(self, tmp_path: Path) -> None:
        """A hold past its timeout gives its reservation back and can no longer be posted."""
        now = [10**18]
        with Ledger.open(tmp_path, clock=lambda: now[0]) as ledger:
            ledger.create_accounts([Account(1, 1, 1), Account(2, 1, 1)])
            ledger.create_transfers([Transfer(1, 1, 2, 50, 1, 1, flags=TransferFlags.pending, timeout=2)])
            assert ledger.lookup_accounts([1])[0].debits_pending == 50
            now[0] += 3 * 10**9
            post = Transfer(2, pending_id=1, flags=TransferFlags.post_pending_transfer)
            assert ledger.create_transfers([post])[0].status == S.pending_expired
            assert ledger.lookup_accounts([1])[0].debits_pending == 0
            assert ledger.lookup_pending_states([1]) == {1: PendingState.expired}


class TestFreezes:
    def test_frozen_account__refuses_both_directions_until_unfrozen(self, funded: Ledger) -> None:
        """A freeze blocks debits and credits; the unfreeze restores them; both are on record."""
        assert funded.freeze_accounts([ALICE, 999], "court-order/2026/118").statuses.tolist() == [
            OrderStatus.ok,
            OrderStatus.account_not_found,
        ]
        assert funded.lookup_accounts([ALICE])[0].flags & AccountFlags.frozen
        out, into = funded.create_transfers([_pay(50, ALICE, BOB, 1), _pay(51, BOB, ALICE, 1)])
        assert (out.status, into.status) == (S.account_frozen, S.account_frozen)
        assert funded.freeze_accounts([ALICE], "again")[0].status == OrderStatus.already_frozen
        assert funded.unfreeze_accounts([ALICE], "appeal/2026/7")[0].status == OrderStatus.ok
        assert funded.unfreeze_accounts([ALICE], "appeal/2026/7")[0].status == OrderStatus.not_frozen
        assert funded.create_transfers([_pay(52, ALICE, BOB, 1)]).all_ok
        history = funded.lookup_account_orders(ALICE)
        assert [(o.action, o.reference) for o in history] == [
            ("freeze", "court-order/2026/118"),
            ("unfreeze", "appeal/2026/7"),
        ]
        assert history[0].timestamp < history[1].timestamp

    def test_account_opened_frozen__no_batch_between_and_the_freeze_survives_a_restart(self, tmp_path: Path) -> None:
        """The freeze of a restricted holder's new account is journaled right behind its opening."""
        seen: list[tuple[int, int]] = []
        with Ledger.open(tmp_path / "l") as ledger:
            ledger.subscribe(lambda batch: seen.append((batch.seq, batch.kind)))
            assert ledger.create_accounts([Account(ISSUER, 1, 1)]).all_ok
            opened = ledger.create_accounts(
                [Account(ALICE, 1, 2), Account(BOB, 1, 2), Account(ISSUER, 1, 1)],
                frozen_by={BOB: "court-order/2026/118", ISSUER: "not opened by this call"},
            )
            assert opened.statuses.tolist()[:2] == [0, 0] and opened[2].status != 0
            assert ledger.feed.wait_idle(5)
        kinds = [kind for _, kind in seen]
        assert kinds == [EntryKind.accounts, EntryKind.accounts, EntryKind.orders]
        assert [seq for seq, _ in seen][1:] == [seen[1][0], seen[1][0] + 1]
        with Ledger.open(tmp_path / "l") as reopened:
            flags = [a.flags & AccountFlags.frozen for a in reopened.lookup_accounts([ALICE, BOB, ISSUER])]
            assert flags == [0, AccountFlags.frozen, 0]
            assert [(o.action, o.reference) for o in reopened.lookup_account_orders(BOB)] == [
                ("freeze", "court-order/2026/118")
            ]
            assert reopened.lookup_account_orders(ISSUER) == []
            refused = reopened.create_transfers([_pay(1, ISSUER, BOB, 5)])
            assert refused[0].status == S.account_frozen

    def test_account_opened_frozen__a_payer_racing_the_opening_never_gets_through(self, ledger: Ledger) -> None:
        """Transfers into the account keep arriving while it opens: not one lands before the freeze."""
        assert ledger.create_accounts([Account(ISSUER, 1, 1)]).all_ok
        stop, outcomes = threading.Event(), collections.Counter[int]()

        def pay_bob() -> None:
            transfer_id = 100
            while not stop.is_set():
                transfer_id += 1
                outcomes[int(ledger.create_transfers([_pay(transfer_id, ISSUER, BOB, 1)])[0].status)] += 1

        payer = threading.Thread(target=pay_bob)
        payer.start()
        try:
            _wait_for(lambda: outcomes[S.account_not_found] >= 20)
            assert ledger.create_accounts([Account(BOB, 1, 2)], frozen_by={BOB: "court-order/2026/118"}).all_ok
            _wait_for(lambda: outcomes[S.account_frozen] >= 20)
        finally:
            stop.set()
            payer.join()
        assert outcomes[S.ok] == 0 and ledger.get_account_transfers(BOB) == []


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Poll until ``condition`` holds; fail rather than hang if it never does."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.001)


class TestReserve:
    def test_reserve__room_without_changing_state(self, funded: Ledger) -> None:
        """Reserving capacity changes nothing observable, and later batches still apply."""
        before = funded.lookup_accounts([ALICE, BOB])
        funded.reserve(accounts=10_000, transfers=100_000)
        assert funded.lookup_accounts([ALICE, BOB]) == before
        assert funded.create_transfers([_pay(60, ALICE, BOB, 5)]).all_ok

    @pytest.mark.parametrize("value", [-1, "10", 1.5])
    def test_reserve_bad_value__error(self, funded: Ledger, value: object) -> None:
        """Capacity hints are validated like every other input."""
        with pytest.raises(ValueError, match="transfers"):
            funded.reserve(transfers=value)  # type: ignore[arg-type]
