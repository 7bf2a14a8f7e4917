"""The ledger against its reference model (tests/ledger/model.py): same calls, same answers.

A ``Twin`` feeds one real ledger and the model the same batches under a fake clock that
the test controls, so both stamp every event with the same timestamp; it asserts that
every status agrees and ``check()`` compares every account, transfer and pending state.
The hypothesis state machine drives the twin at random; the example tests below it are
hand-picked scenarios with their expected statuses spelled out.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tessera.errors import InvalidInputError
from tessera.ledger import (
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    Account,
    AccountFlags,
    CreateAccountStatus,
    CreateTransferStatus,
    Ledger,
    OrderStatus,
    PendingState,
    Transfer,
    TransferFlags,
)
from tests.ledger.model import LIMIT, NS_PER_S, Model

A = CreateAccountStatus
S = CreateTransferStatus

CLOCK_START = 10**18
ACCOUNT_ID_MAX = 30  # small id spaces, so that ids collide
TRANSFER_ID_MAX = 200
ORDER_REFERENCE = "court-order/2026/118"

LINKED = TransferFlags.linked
PENDING = TransferFlags.pending
POST = TransferFlags.post_pending_transfer
VOID = TransferFlags.void_pending_transfer
WALLET = AccountFlags.debits_must_not_exceed_credits
MIRROR = AccountFlags.credits_must_not_exceed_debits


class FakeClock:
    """A wall clock that moves only when the test says so."""

    def __init__(self, now: int = CLOCK_START) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds * NS_PER_S


def pack_accounts(batch: Sequence[Account]) -> np.ndarray:
    """Accounts as packed records, without the dataclass edge's checks (ids >= 2**63 pass)."""
    out = np.zeros(len(batch), dtype=ACCOUNT_DTYPE)
    for i, a in enumerate(batch):
        for name in ACCOUNT_DTYPE.names or ():
            if name == "allowed_categories":
                out[name][i] = sorted(a.allowed_categories) + [0] * (8 - len(a.allowed_categories))
            elif not name.startswith("reserved"):
                out[name][i] = int(getattr(a, name))
    return out


def pack_transfers(batch: Sequence[Transfer]) -> np.ndarray:
    """Transfers as packed records, without the dataclass edge's checks."""
    out = np.zeros(len(batch), dtype=TRANSFER_DTYPE)
    for i, t in enumerate(batch):
        for name in TRANSFER_DTYPE.names or ():
            if name != "reserved":
                out[name][i] = int(getattr(t, name))
    return out


def _record(item: Account | Transfer) -> dict[str, Any]:
    fields = dataclasses.asdict(item)
    fields["flags"] = int(fields["flags"])
    return fields


def _mismatches(batch: Sequence[Any], actual: Sequence[Any], expected: Sequence[Any]) -> str:
    lines = [f"  [{i}] ledger={a.name} model={e.name}  {batch[i]}"
             for i, (a, e) in enumerate(zip(actual, expected, strict=True)) if a != e]
    return "ledger and model disagree:\n" + "\n".join(lines) + "\nbatch:\n" + "\n".join(f"  {x}" for x in batch)


class Twin:
    """A real ledger and the model, fed the same calls under the same fake clock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.clock = FakeClock()
        self.ledger = Ledger.open(directory, sync=False, clock=self.clock)
        self.model = Model()
        self.last_timestamp = 0  # the ledger's last event timestamp, tracked independently

    def _stamp(self, count: int) -> int:
        """The batch timestamp the ledger assigns: after the clock and after every earlier event."""
        first = max(self.clock.now, self.last_timestamp + 1)
        self.last_timestamp = first + count - 1
        return first

    def create_accounts(self, batch: Sequence[Account]) -> list[CreateAccountStatus]:
        try:
            results = self.ledger.create_accounts(batch)
        except InvalidInputError:  # outside the dataclass contract: send the raw records
            results = self.ledger.create_accounts(pack_accounts(batch))
        expected = self.model.create_accounts(batch, self._stamp(len(batch)))
        actual = [r.status for r in results]
        assert actual == expected, _mismatches(batch, actual, expected)
        return actual

    def create_transfers(self, batch: Sequence[Transfer]) -> list[CreateTransferStatus]:
        try:
            results = self.ledger.create_transfers(batch)
        except InvalidInputError:
            results = self.ledger.create_transfers(pack_transfers(batch))
        expected = self.model.create_transfers(batch, self._stamp(len(batch)))
        actual = [r.status for r in results]
        assert actual == expected, _mismatches(batch, actual, expected)
        return actual

    def freeze_accounts(self, ids: Sequence[int]) -> list[OrderStatus]:
        actual = [r.status for r in self.ledger.freeze_accounts(ids, ORDER_REFERENCE)]
        self._stamp(len(ids))
        expected = self.model.freeze_accounts(ids)
        assert actual == expected, _mismatches(ids, actual, expected)
        return actual

    def unfreeze_accounts(self, ids: Sequence[int]) -> list[OrderStatus]:
        actual = [r.status for r in self.ledger.unfreeze_accounts(ids, ORDER_REFERENCE)]
        self._stamp(len(ids))
        expected = self.model.unfreeze_accounts(ids)
        assert actual == expected, _mismatches(ids, actual, expected)
        return actual

    def reopen(self, snapshot: bool) -> None:
        """Close and recover from disk (the journal, or a snapshot plus an empty journal)."""
        if snapshot:
            self.ledger.snapshot()
        self.ledger.close()
        self.ledger = Ledger.open(self.directory, sync=False, clock=self.clock)

    def close(self) -> None:
        self.ledger.close()

    def account(self, account_id: int) -> dict[str, Any]:
        (found,) = self.ledger.lookup_accounts([account_id])
        return _record(found)

    def check(self) -> None:
        """Every account, transfer and pending state agrees, and each ledger sums to zero."""
        account_ids = list(range(1, ACCOUNT_ID_MAX + 1))
        accounts = {a.id: _record(a) for a in self.ledger.lookup_accounts(account_ids)}
        assert accounts == self.model.lookup_accounts(account_ids)
        for ledger in {a["ledger"] for a in accounts.values()}:
            on_ledger = [a for a in accounts.values() if a["ledger"] == ledger]
            assert sum(a["credits_posted"] - a["debits_posted"] for a in on_ledger) == 0
            assert sum(a["credits_pending"] - a["debits_pending"] for a in on_ledger) == 0
        transfer_ids = list(range(1, TRANSFER_ID_MAX + 1))
        transfers = {t.id: _record(t) for t in self.ledger.lookup_transfers(transfer_ids)}
        assert transfers == self.model.lookup_transfers(transfer_ids)
        assert self.ledger.lookup_pending_states(transfer_ids) == self.model.pending_states(transfer_ids)


# -- strategies -----------------------------------------------------------------------------


def rarely(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """``rare`` about once in ``one_in`` draws, else ``usual``."""
    return st.integers(0, one_in - 1).flatmap(lambda k: rare if k == 0 else usual)


@st.composite
def fresh_accounts(draw: st.DrawFn) -> Account:
    flags = draw(st.sampled_from([0, 0, WALLET, WALLET, MIRROR]))
    flags |= draw(rarely(st.just(0), st.just(AccountFlags.linked), 5))
    account = Account(
        id=draw(st.integers(1, ACCOUNT_ID_MAX)),
        ledger=draw(st.integers(1, 2)),
        code=draw(st.integers(1, 2)),
        flags=AccountFlags(flags),
        category=draw(st.sampled_from([0, 10, 20, 30])),
        holding_limit=draw(rarely(st.just(0), st.sampled_from([100, 1000]), 4)),
        allowed_categories=draw(
            rarely(st.just(frozenset()), st.frozensets(st.sampled_from([10, 20, 30]), min_size=1), 4)
        ),
        user_data_32=draw(rarely(st.just(0), st.integers(1, 3), 6)),
    )
    broken = st.sampled_from(
        [
            {"ledger": 0},
            {"code": 0},
            {"id": 0},
            {"id": LIMIT},
            {"flags": flags | AccountFlags.frozen},
            {"flags": flags | WALLET | MIRROR},
            {"flags": flags | 0x10},
            {"credits_posted": 5},
            {"timestamp": 1},
            {"holding_limit": LIMIT},
        ]
    )
    changes = draw(rarely(st.just({}), broken, 10))
    return dataclasses.replace(account, **changes)


def _amounts() -> st.SearchStrategy[int]:
    return rarely(st.integers(1, 300), st.sampled_from([0, 2**62, LIMIT - 1, LIMIT]), 12)


class LedgerMachine(RuleBasedStateMachine):
    """Random batches against the ledger and the model; they must never disagree."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="tessera-model-"))
        self.twin = Twin(self.directory / "ledger")
        self.accounts_sent: list[Account] = []
        self.transfers_sent: list[Transfer] = []

    def teardown(self) -> None:
        try:
            self.twin.close()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def model(self) -> Model:
        return self.twin.model

    # -- drawing events from the current state ----------------------------------------------

    def _account(self, data: st.DataObject) -> Account:
        if self.accounts_sent and data.draw(st.integers(0, 3)) == 0:
            earlier = data.draw(st.sampled_from(self.accounts_sent))
            changes = data.draw(
                st.sampled_from([{}, {}, {"code": earlier.code % 2 + 1}, {"user_data_32": 9}, {"category": 40}])
            )
            return dataclasses.replace(earlier, **changes)
        return data.draw(fresh_accounts())

    def _account_id(self, data: st.DataObject) -> int:
        known = sorted(self.model.accounts)
        if known and data.draw(st.integers(0, 7)):
            return data.draw(st.sampled_from(known))
        return data.draw(st.integers(1, ACCOUNT_ID_MAX + 2))

    def _plain_or_pending(self, data: st.DataObject, pending: bool) -> Transfer:
        debit, credit = self._account_id(data), self._account_id(data)
        account = self.model.accounts.get(debit)
        ledger = account["ledger"] if account else 1
        timeout = data.draw(st.integers(0, 5)) if pending else data.draw(rarely(st.just(0), st.just(1), 20))
        return Transfer(
            id=data.draw(st.integers(1, TRANSFER_ID_MAX)),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=data.draw(_amounts()),
            ledger=data.draw(rarely(st.just(ledger), st.integers(0, 2), 12)),
            code=data.draw(rarely(st.just(1), st.integers(0, 2), 12)),
            flags=PENDING if pending else TransferFlags.none,
            timeout=timeout,
            user_data_64=data.draw(rarely(st.just(0), st.integers(1, 3), 6)),
        )

    def _post_or_void(self, data: st.DataObject, post: bool) -> Transfer:
        pending = sorted(i for i, t in self.model.transfers.items() if t["flags"] & PENDING)
        if pending and data.draw(st.integers(0, 7)):
            pending_id = data.draw(st.sampled_from(pending))
        else:
            pending_id = data.draw(st.integers(0, TRANSFER_ID_MAX))
        p = self.model.transfers.get(pending_id)
        reserved = p["amount"] if p else 100
        amount = data.draw(
            st.one_of(
                st.just(0),
                st.just(reserved),
                st.integers(1, max(1, reserved - 1)),
                rarely(st.just(reserved + 1), st.just(LIMIT), 4),
            )
        )

        def same_or_zero(name: str) -> int:
            stored = p[name] if p else 1
            return int(data.draw(rarely(st.sampled_from([0, stored]), st.integers(0, 3), 12)))

        return Transfer(
            id=data.draw(rarely(st.integers(1, TRANSFER_ID_MAX), st.just(pending_id), 20)),
            debit_account_id=same_or_zero("debit_account_id"),
            credit_account_id=same_or_zero("credit_account_id"),
            amount=amount,
            ledger=same_or_zero("ledger"),
            code=same_or_zero("code"),
            flags=POST if post else VOID,
            pending_id=pending_id,
            timeout=data.draw(rarely(st.just(0), st.just(1), 20)),
            user_data_64=data.draw(rarely(st.just(0), st.integers(1, 3), 8)),
        )

    def _resubmitted(self, data: st.DataObject) -> Transfer:
        earlier = data.draw(st.sampled_from(self.transfers_sent))
        changes = data.draw(
            st.sampled_from(
                [
                    {},
                    {},
                    {"user_data_64": earlier.user_data_64 + 1},
                    {"amount": earlier.amount + 1},
                    {"amount": 0},
                    {"debit_account_id": 0},
                    {"code": earlier.code % 2 + 1},
                    {"flags": earlier.flags ^ LINKED},
                ]
            )
        )
        return dataclasses.replace(earlier, **changes)

    def _malformed(self, data: st.DataObject) -> Transfer:
        base = self._plain_or_pending(data, pending=False)
        changes = data.draw(
            st.sampled_from(
                [
                    {"id": 0},
                    {"id": LIMIT},
                    {"timestamp": 1},
                    {"flags": PENDING | POST},
                    {"flags": POST | VOID},
                    {"flags": 0x40},
                    {"pending_id": 1},
                    {"credit_account_id": base.debit_account_id},
                    {"debit_account_id": 0},
                    {"credit_account_id": LIMIT},
                    {"flags": POST, "pending_id": base.id},
                    {"flags": POST, "pending_id": LIMIT},
                    {"flags": VOID, "pending_id": 1, "debit_account_id": LIMIT},
                ]
            )
        )
        return dataclasses.replace(base, **changes)

    def _transfer(self, data: st.DataObject, settle: bool) -> Transfer:
        kinds = ["post", "void", "post", "pending"] if settle else ["plain", "plain", "pending", "pending"]
        kinds += ["post", "void", "malformed"] + (["again", "again"] if self.transfers_sent else [])
        kind = data.draw(st.sampled_from(kinds))
        if kind == "again":
            return self._resubmitted(data)  # keeps its own linked flag, so retried chains match
        if kind == "malformed":
            transfer = self._malformed(data)
        elif kind in ("post", "void"):
            transfer = self._post_or_void(data, post=kind == "post")
        else:
            transfer = self._plain_or_pending(data, pending=kind == "pending")
        linked = data.draw(rarely(st.just(False), st.just(True), 4))
        return dataclasses.replace(transfer, flags=transfer.flags | LINKED) if linked else transfer

    # -- rules ----------------------------------------------------------------------------

    @initialize(data=st.data())
    def open_accounts(self, data: st.DataObject) -> None:
        batch = [data.draw(fresh_accounts()) for _ in range(data.draw(st.integers(4, 12)))]
        self.accounts_sent += batch
        self.twin.create_accounts(batch)

    @rule(data=st.data())
    def create_accounts(self, data: st.DataObject) -> None:
        batch = [self._account(data) for _ in range(data.draw(st.integers(1, 5)))]
        self.accounts_sent += batch
        self.twin.create_accounts(batch)

    @rule(data=st.data())
    def create_transfers(self, data: st.DataObject) -> None:
        batch: list[Transfer] = []
        for _ in range(data.draw(st.integers(1, 8))):
            batch.append(self._transfer(data, settle=False))
            self.transfers_sent.append(batch[-1])
        self.twin.create_transfers(batch)

    @rule(data=st.data())
    def settle_transfers(self, data: st.DataObject) -> None:
        batch: list[Transfer] = []
        for _ in range(data.draw(st.integers(1, 6))):
            batch.append(self._transfer(data, settle=True))
            self.transfers_sent.append(batch[-1])
        self.twin.create_transfers(batch)

    @rule(ids=st.lists(st.integers(1, ACCOUNT_ID_MAX + 2), min_size=1, max_size=3), freeze=st.booleans())
    def order(self, ids: list[int], freeze: bool) -> None:
        if freeze:
            self.twin.freeze_accounts(ids)
        else:
            self.twin.unfreeze_accounts(ids)

    @rule(seconds=rarely(st.integers(0, 6), st.integers(7, 30), 4))
    def advance_clock(self, seconds: int) -> None:
        self.twin.clock.advance(seconds)

    @rule(snapshot=st.booleans())
    def reopen(self, snapshot: bool) -> None:
        self.twin.reopen(snapshot)

    @invariant()
    def agrees_with_model(self) -> None:
        self.twin.check()


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


# -- hand-picked scenarios ------------------------------------------------------------------

ISSUER, ALICE, BOB, SHOP, BAKERY = 1, 2, 3, 4, 5
GROCERIES, PASTRY = 5411, 5462


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    """An issuer, two wallets (Alice 1000, Bob 1000) and two shops, in ledger and model."""
    pair = Twin(tmp_path / "ledger")
    assert pair.create_accounts(
        [
            Account(ISSUER, 1, 1),
            Account(ALICE, 1, 2, flags=WALLET),
            Account(BOB, 1, 2, flags=WALLET),
            Account(SHOP, 1, 3, flags=WALLET, category=GROCERIES),
            Account(BAKERY, 1, 3, flags=WALLET, category=PASTRY),
        ]
    ) == [A.ok] * 5
    assert pair.create_transfers([Transfer(1, ISSUER, ALICE, 1000, 1, 1), Transfer(2, ISSUER, BOB, 1000, 1, 1)]) == [
        S.ok,
        S.ok,
    ]
    yield pair
    pair.check()
    pair.close()


def _pay(transfer_id: int, debit: int, credit: int, amount: int, **fields: Any) -> Transfer:
    return Transfer(transfer_id, debit, credit, amount, ledger=1, code=1, **fields)


class TestLinkedChains:
    def test_chain_rolled_back__when_one_transfer_fails(self, twin: Twin) -> None:
        """A chain whose second transfer overdraws has no effect; its first gets linked_event_failed."""
        statuses = twin.create_transfers([_pay(10, ALICE, SHOP, 600, flags=LINKED), _pay(11, ALICE, BOB, 600)])
        assert statuses == [S.linked_event_failed, S.exceeds_credits]
        assert twin.account(ALICE)["debits_posted"] == 0
        assert twin.ledger.lookup_transfers([10, 11]) == []

    def test_chain_open__last_event_linked(self, twin: Twin) -> None:
        """A batch ending inside a chain refuses the whole chain."""
        statuses = twin.create_transfers([_pay(10, ALICE, SHOP, 5, flags=LINKED), _pay(11, BOB, SHOP, 5, flags=LINKED)])
        assert statuses == [S.linked_event_failed, S.linked_event_chain_open]
        assert twin.account(SHOP)["credits_posted"] == 0

    def test_retried_chain__exists_for_every_event(self, twin: Twin) -> None:
        """Submitting the same chain twice answers exists for each event, with no second effect."""
        chain = [_pay(10, ALICE, SHOP, 5, flags=LINKED), _pay(11, BOB, SHOP, 5)]
        assert twin.create_transfers(chain) == [S.ok, S.ok]
        assert twin.create_transfers(chain) == [S.exists, S.exists]
        assert twin.account(SHOP)["credits_posted"] == 10


class TestTwoPhase:
    def test_partial_post__releases_the_rest(self, twin: Twin) -> None:
        """Posting 300 of a 500 hold moves 300 and frees the other 200."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING)]) == [S.ok]
        assert twin.create_transfers([Transfer(11, amount=300, pending_id=10, flags=POST)]) == [S.ok]
        alice = twin.account(ALICE)
        assert (alice["debits_pending"], alice["debits_posted"]) == (0, 300)
        assert twin.ledger.lookup_pending_states([10]) == {10: PendingState.posted}

    def test_void__releases_reservation(self, twin: Twin) -> None:
        """A void gives the whole reservation back; a second settle is pending_already_voided."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING)]) == [S.ok]
        assert twin.create_transfers([Transfer(11, pending_id=10, flags=VOID)]) == [S.ok]
        assert twin.create_transfers([Transfer(12, pending_id=10, flags=POST)]) == [S.pending_already_voided]
        assert twin.account(ALICE)["debits_pending"] == 0

    def test_partial_void__refused(self, twin: Twin) -> None:
        """A void is all or nothing: less than the reserved amount is a different transfer."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING)]) == [S.ok]
        assert twin.create_transfers([Transfer(11, amount=100, pending_id=10, flags=VOID)]) == [
            S.pending_transfer_has_different_fields
        ]

    def test_post_refused__pending_expired(self, twin: Twin) -> None:
        """Once the deadline passes the reservation is released and a post is pending_expired."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING, timeout=2)]) == [S.ok]
        twin.clock.advance(3)  # the hold was stamped a few nanoseconds after the clock's reading
        assert twin.create_transfers([Transfer(11, pending_id=10, flags=POST)]) == [S.pending_expired]
        assert twin.account(ALICE)["debits_pending"] == 0
        assert twin.ledger.lookup_pending_states([10]) == {10: PendingState.expired}

    def test_post_accepted__before_deadline(self, twin: Twin) -> None:
        """One nanosecond less than the timeout later the hold still stands and can be posted."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING, timeout=2)]) == [S.ok]
        twin.clock.advance(1)
        assert twin.create_transfers([Transfer(11, pending_id=10, flags=POST)]) == [S.ok]


class TestRefusals:
    def test_transfer_refused__frozen_debit_account(self, twin: Twin) -> None:
        """A frozen wallet cannot pay; after unfreezing it can."""
        assert twin.freeze_accounts([ALICE]) == [OrderStatus.ok]
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5)]) == [S.account_frozen]
        assert twin.unfreeze_accounts([ALICE]) == [OrderStatus.ok]
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5)]) == [S.ok]

    def test_post_refused__frozen_account_but_void_allowed(self, twin: Twin) -> None:
        """A hold touching a frozen account cannot be posted, only voided."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5, flags=PENDING)]) == [S.ok]
        assert twin.freeze_accounts([SHOP]) == [OrderStatus.ok]
        assert twin.create_transfers([Transfer(11, pending_id=10, flags=POST)]) == [S.account_frozen]
        assert twin.create_transfers([Transfer(12, pending_id=10, flags=VOID)]) == [S.ok]

    def test_transfer_refused__category_not_allowed(self, twin: Twin) -> None:
        """Purpose-bound money pays groceries only: the bakery is refused."""
        voucher = Account(20, 1, 2, flags=WALLET, allowed_categories=frozenset({GROCERIES}))
        assert twin.create_accounts([voucher]) == [A.ok]
        assert twin.create_transfers([_pay(10, ISSUER, 20, 100)]) == [S.ok]
        assert twin.create_transfers([_pay(11, 20, BAKERY, 10), _pay(12, 20, SHOP, 10)]) == [
            S.category_not_allowed,
            S.ok,
        ]

    def test_transfer_refused__holding_limit_exceeded(self, twin: Twin) -> None:
        """A wallet limited to 1500 takes 500 more, pending included, and not one unit beyond."""
        assert twin.create_accounts([Account(20, 1, 2, flags=WALLET, holding_limit=1500)]) == [A.ok]
        assert twin.create_transfers(
            [_pay(10, ISSUER, 20, 1000), _pay(11, ALICE, 20, 400, flags=PENDING), _pay(12, BOB, 20, 101)]
        ) == [S.ok, S.ok, S.holding_limit_exceeded]
        assert twin.create_transfers([_pay(13, 20, SHOP, 1), _pay(14, BOB, 20, 101)]) == [S.ok, S.ok]


class TestIdempotency:
    def test_resubmitted_transfer__exists(self, twin: Twin) -> None:
        """The same transfer twice moves money once."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5)]) == [S.ok]
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5)]) == [S.exists]
        assert twin.account(SHOP)["credits_posted"] == 5

    def test_resubmitted_transfer__exists_with_different_fields(self, twin: Twin) -> None:
        """A taken id with another amount is refused, not applied."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5)]) == [S.ok]
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 6)]) == [S.exists_with_different_fields]

    def test_resubmitted_post__zero_fields_match_resolved(self, twin: Twin) -> None:
        """A retried post with zeros matches the stored post, whose fields were resolved."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING)]) == [S.ok]
        assert twin.create_transfers([Transfer(11, pending_id=10, flags=POST)]) == [S.ok]
        assert twin.create_transfers([Transfer(11, ALICE, SHOP, 500, 1, 1, flags=POST, pending_id=10)]) == [
            S.exists
        ]
        assert twin.create_transfers([Transfer(11, amount=400, pending_id=10, flags=POST)]) == [
            S.exists_with_different_fields
        ]

    def test_resubmitted_account__exists_vs_different(self, twin: Twin) -> None:
        """Accounts follow the same rule: same fields exists, other fields are refused."""
        assert twin.create_accounts([Account(ALICE, 1, 2, flags=WALLET), Account(ALICE, 1, 3, flags=WALLET)]) == [
            A.exists,
            A.exists_with_different_fields,
        ]
