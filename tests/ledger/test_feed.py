"""The ledger's event feed: durable batches, in journal order, as whole arrays, with catch-up after a restart."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tessera.errors import InvalidInputError
from tessera.ledger import Account, AccountFlags, CommittedBatch, CreateTransferStatus, Ledger, Transfer
from tessera.ledger.journal import EntryKind
from tessera.ledger.records import encode_transfers
from tests.accounts import ALICE, BOB, ISSUER, SHOP


def _pay(id_: int, debit: int, credit: int, amount: int) -> Transfer:
    return Transfer(id_, debit, credit, amount, 1, 2)


def _open_funded(path: Path) -> Ledger:
    ledger = Ledger.open(path, sync=False)
    wallet = AccountFlags.debits_must_not_exceed_credits
    wallets = [Account(ALICE, 1, 2, flags=wallet), Account(BOB, 1, 2, flags=wallet)]
    ledger.create_accounts([Account(ISSUER, 1, 1), *wallets])
    ledger.create_transfers([Transfer(1, ISSUER, ALICE, 1000, 1, 1)])
    return ledger


class TestLiveFeed:
    def test_batches_arrive_in_order_with_statuses(self, funded: Ledger) -> None:
        """Each committed batch arrives once, in journal order, with the engine's status per record."""
        seen: list[CommittedBatch] = []
        funded.subscribe(seen.append)
        funded.create_transfers([_pay(10, ALICE, BOB, 5), _pay(11, ALICE, BOB, 10**6)])
        funded.create_transfers([_pay(12, BOB, ALICE, 1)])
        assert funded.feed.wait_idle(5)
        assert [b.kind for b in seen] == [EntryKind.transfers, EntryKind.transfers]
        assert seen[0].seq + 1 == seen[1].seq == funded.last_seq
        assert seen[0].records["id"].tolist() == [10, 11]
        assert seen[0].statuses.tolist() == [0, CreateTransferStatus.exceeds_credits]
        assert seen[1].records["amount"].tolist() == [1]

    def test_records_are_a_copy(self, funded: Ledger) -> None:
        """A caller reusing its packed buffer after the call cannot change what subscribers see."""
        seen: list[CommittedBatch] = []
        funded.subscribe(seen.append)
        packed = encode_transfers([_pay(20, ALICE, BOB, 7)])
        funded.create_transfers(packed)
        packed["amount"] = 999
        assert funded.feed.wait_idle(5)
        assert seen[0].records["amount"].tolist() == [7]

    def test_broken_subscriber__counted_others_still_served(self, funded: Ledger) -> None:
        """A subscriber that raises neither stops the ledger nor the other subscribers."""
        seen: list[int] = []

        def broken(batch: CommittedBatch) -> None:
            raise RuntimeError("boom")

        funded.subscribe(broken)
        funded.subscribe(lambda b: seen.append(b.seq))
        assert funded.create_transfers([_pay(30, ALICE, BOB, 1)]).all_ok
        assert funded.feed.wait_idle(5)
        assert seen == [funded.last_seq]
        assert funded.feed.errors == 1 and isinstance(funded.feed.last_error, RuntimeError)

    def test_closed_subscription__receives_nothing_more(self, funded: Ledger) -> None:
        """A closed subscription's callback is not called for later batches."""
        seen: list[int] = []
        subscription = funded.subscribe(lambda b: seen.append(b.seq))
        funded.create_transfers([_pay(40, ALICE, BOB, 1)])
        assert funded.feed.wait_idle(5)
        subscription.close()
        funded.create_transfers([_pay(41, ALICE, BOB, 1)])
        assert funded.feed.wait_idle(5)
        assert len(seen) == 1

    def test_subscriber_may_write_to_the_ledger(self, funded: Ledger) -> None:
        """A subscriber that freezes an account (as a restriction does) runs on the feed thread without deadlock."""
        done = threading.Event()

        def freeze_on_refusal(batch: CommittedBatch) -> None:
            if batch.kind == EntryKind.transfers and batch.statuses.any():
                funded.freeze_accounts([int(batch.records["debit_account_id"][0])], "order/1")
                done.set()

        funded.subscribe(freeze_on_refusal)
        funded.create_transfers([_pay(50, ALICE, BOB, 10**6)])
        assert done.wait(5)
        assert funded.lookup_accounts([ALICE])[0].flags & AccountFlags.frozen

    def test_many_threads__order_is_journal_order(self, tmp_path: Path) -> None:
        """Batches from parallel writers arrive with strictly increasing seqs and none missing."""
        ledger = _open_funded(tmp_path / "l")
        seqs: list[int] = []
        ledger.subscribe(lambda b: seqs.append(b.seq))
        first = ledger.last_seq + 1

        def writer(base: int) -> None:
            for i in range(50):
                ledger.create_transfers([_pay(base + i, ALICE, BOB, 1)])

        threads = [threading.Thread(target=writer, args=(1000 * (k + 1),)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ledger.feed.wait_idle(10)
        assert seqs == list(range(first, ledger.last_seq + 1))
        ledger.close()


class TestCatchUp:
    def test_after_restart__missed_batches_delivered_first(self, tmp_path: Path) -> None:
        """A subscriber that had processed up to seq N gets N+1.. from recovery, with the same statuses."""
        path = tmp_path / "l"
        ledger = _open_funded(path)
        processed = ledger.last_seq
        ledger.create_transfers([_pay(60, ALICE, BOB, 1), _pay(61, ALICE, BOB, 10**6)])
        ledger.create_transfers([_pay(62, BOB, SHOP, 1)])  # SHOP does not exist: refused
        ledger.close()
        reopened = Ledger.open(path, sync=False, feed_after=processed)
        seen: list[CommittedBatch] = []
        subscription = reopened.subscribe(seen.append, after_seq=processed)
        reopened.create_transfers([_pay(63, ALICE, BOB, 1)])
        assert reopened.feed.wait_idle(5)
        assert [b.seq for b in seen] == [processed + 1, processed + 2, processed + 3]
        assert seen[0].statuses.tolist() == [0, CreateTransferStatus.exceeds_credits]
        assert seen[1].statuses.tolist() == [CreateTransferStatus.account_not_found]
        assert subscription.missed == []
        reopened.close()

    def test_not_kept__named_as_missed(self, tmp_path: Path) -> None:
        """Without feed_after recovery keeps nothing, and the subscriber is told which seqs it will never see."""
        path = tmp_path / "l"
        ledger = _open_funded(path)
        ledger.create_transfers([_pay(70, ALICE, BOB, 1)])
        last = ledger.last_seq
        ledger.close()
        reopened = Ledger.open(path, sync=False)
        subscription = reopened.subscribe(lambda b: None, after_seq=1)
        assert subscription.missed == [(2, last)]
        reopened.close()

    @pytest.mark.parametrize("bad", [-1, True, "3", 1.5])
    def test_bad_seq__refused(self, tmp_path: Path, bad: object) -> None:
        """A negative, boolean, string or float sequence number is refused at open and at subscribe."""
        with pytest.raises(InvalidInputError) as caught:
            Ledger.open(tmp_path / "l", feed_after=bad)  # type: ignore[arg-type]
        assert caught.value.field == "feed_after"
        with Ledger.open(tmp_path / "m") as ledger, pytest.raises(InvalidInputError) as caught:
            ledger.subscribe(lambda b: None, after_seq=bad)  # type: ignore[arg-type]
        assert caught.value.field == "after_seq"


def test_no_subscriber__no_copy_kept(funded: Ledger) -> None:
    """Without subscribers nothing is queued (the hot path pays nothing)."""
    funded.create_transfers([_pay(80, ALICE, BOB, 1)])
    assert not funded.feed.active
    assert funded.feed.delivered == 0 and funded.feed.wait_idle(0)
