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
from tests.ledger.model import LIMIT, NS_PER_S, Model, _chains

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


def _differences(kind: str, actual: dict[int, dict[str, Any]], expected: dict[int, dict[str, Any]]) -> str:
    lines = [f"  {kind} {i}: only in the {'ledger' if i in actual else 'model'}" for i in actual.keys() ^ expected.keys()]
    for i in sorted(actual.keys() & expected.keys()):
        lines += [f"  {kind} {i}.{name}: ledger={actual[i][name]!r} model={expected[i][name]!r}"
                  for name in actual[i] if actual[i][name] != expected[i].get(name)]
    return "ledger and model disagree:\n" + "\n".join(lines)


def _mismatches(batch: Sequence[Any], actual: Sequence[Any], expected: Sequence[Any]) -> str:
    lines = [f"  [{i}] ledger={a.name} model={e.name}  {batch[i]}"
             for i, (a, e) in enumerate(zip(actual, expected, strict=True)) if a != e]
    return "ledger and model disagree:\n" + "\n".join(lines) + "\nbatch:\n" + "\n".join(f"  {x}" for x in batch)


def _known_chain_open_deviation(batch: Sequence[Account] | Sequence[Transfer], expected: list[Any]) -> list[Any]:
    """KNOWN ENGINE DEVIATION, pinned by ``test_chain_open__after_earlier_failure`` (xfail).

    docs/ledger.md: "A batch whose last event is linked gets linked_event_chain_open on
    it". The engine answers ``linked_event_failed`` there instead when an earlier event of
    that chain already failed. Only the status differs (the chain fails either way), so
    the twin expects the engine's answer rather than stop every run on it.
    """
    chain = _chains(batch)[-1]
    if int(batch[-1].flags) & LINKED and any(expected[i] != 1 for i in chain[:-1]):  # 1: linked_event_failed
        return [*expected[:-1], type(expected[-1]).linked_event_failed]
    return expected


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
        expected = _known_chain_open_deviation(batch, self.model.create_accounts(batch, self._stamp(len(batch))))
        actual = [r.status for r in results]
        assert actual == expected, _mismatches(batch, actual, expected)
        return actual

    def create_transfers(self, batch: Sequence[Transfer]) -> list[CreateTransferStatus]:
        try:
            results = self.ledger.create_transfers(batch)
        except InvalidInputError:
            results = self.ledger.create_transfers(pack_transfers(batch))
        expected = _known_chain_open_deviation(batch, self.model.create_transfers(batch, self._stamp(len(batch))))
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
        # KNOWN DEVIATION, pinned by test_reopen__timestamps_keep_increasing (xfail): recovery
        # forgets the timestamps of batches that changed nothing (they are not journaled), so
        # a clock that has not moved would hand them out again. A restart takes time; let it.
        self.clock.now = max(self.clock.now, self.last_timestamp + 1)
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
        expected = self.model.lookup_accounts(account_ids)
        assert accounts == expected, _differences("account", accounts, expected)
        for ledger in {a["ledger"] for a in accounts.values()}:
            on_ledger = [a for a in accounts.values() if a["ledger"] == ledger]
            assert sum(a["credits_posted"] - a["debits_posted"] for a in on_ledger) == 0
            assert sum(a["credits_pending"] - a["debits_pending"] for a in on_ledger) == 0
        transfer_ids = list(range(1, TRANSFER_ID_MAX + 1))
        transfers = {t.id: _record(t) for t in self.ledger.lookup_transfers(transfer_ids)}
        expected = self.model.lookup_transfers(transfer_ids)
        assert transfers == expected, _differences("transfer", transfers, expected)
        states = self.ledger.lookup_pending_states(transfer_ids)
        expected_states = self.model.pending_states(transfer_ids)
        assert states == expected_states, _differences(
            "pending", {i: {"state": s} for i, s in states.items()}, {i: {"state": s} for i, s in expected_states.items()}
        )


# -- strategies -----------------------------------------------------------------------------


def rarely(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """``rare`` about once in ``one_in`` draws, else ``usual``."""
    return st.integers(0, one_in - 1).flatmap(lambda k: rare if k == 0 else usual)


@st.composite
def fresh_accounts(draw: st.DrawFn, account_id: int | None = None) -> Account:
    """A random account; with ``account_id`` a valid, unlinked one (for the opening set)."""
    flags = draw(st.sampled_from([0, 0, WALLET, WALLET, MIRROR]))
    if account_id is None:
        flags |= draw(rarely(st.just(0), st.just(AccountFlags.linked), 5))
    account = Account(
        id=account_id or draw(st.integers(1, ACCOUNT_ID_MAX)),
        ledger=draw(rarely(st.just(1), st.just(2), 3)),
        code=draw(st.integers(1, 2)),
        flags=AccountFlags(flags),
        category=draw(st.sampled_from([0, 10, 20, 30])),
        holding_limit=draw(rarely(st.just(0), st.sampled_from([100, 1000]), 4)),
        allowed_categories=draw(
            rarely(st.just(frozenset()), st.frozensets(st.sampled_from([10, 20, 30]), min_size=1), 6)
        ),
        user_data_32=draw(rarely(st.just(0), st.integers(1, 3), 6)),
    )
    if account_id is not None:
        return account
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
    return rarely(st.integers(1, 300), st.sampled_from([0, 2**62, LIMIT - 1, LIMIT]), 20)


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

    def _account_id(self, data: st.DataObject, ledger: int | None = None, other: int = 0) -> int:
        """Mostly an existing account (on ``ledger``, not ``other``); sometimes any id at all."""
        known = sorted(i for i, a in self.model.accounts.items() if ledger in (None, a["ledger"]) and i != other)
        if known and data.draw(st.integers(0, 19)):
            return data.draw(st.sampled_from(known))
        return data.draw(st.integers(1, ACCOUNT_ID_MAX + 2))

    def _transfer_id(self, data: st.DataObject, batch: list[Transfer]) -> int:
        """Mostly an id not used yet; sometimes any id, which may collide."""
        taken = self.model.transfers.keys() | {t.id for t in batch}
        unused = [i for i in range(1, TRANSFER_ID_MAX + 1) if i not in taken]
        if unused and data.draw(st.integers(0, 5)):
            return int(data.draw(st.sampled_from(unused)))
        return data.draw(st.integers(1, TRANSFER_ID_MAX))

    def _plain_or_pending(self, data: st.DataObject, pending: bool, batch: list[Transfer]) -> Transfer:
        debit = self._account_id(data)
        account = self.model.accounts.get(debit)
        ledger = account["ledger"] if account else 1
        credit = self._account_id(data, ledger, other=debit)
        timeout = data.draw(st.integers(0, 5)) if pending else data.draw(rarely(st.just(0), st.just(1), 30))
        return Transfer(
            id=self._transfer_id(data, batch),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=data.draw(_amounts()),
            ledger=data.draw(rarely(st.just(ledger), st.integers(0, 2), 25)),
            code=data.draw(rarely(st.just(1), st.integers(0, 2), 25)),
            flags=PENDING if pending else TransferFlags.none,
            timeout=timeout,
            user_data_64=data.draw(rarely(st.just(0), st.integers(1, 3), 6)),
        )

    def _post_or_void(self, data: st.DataObject, post: bool, batch: list[Transfer]) -> Transfer:
        holds = {t.id: dataclasses.asdict(t) for t in batch if t.flags & PENDING}  # maybe created by now
        holds |= {i: t for i, t in self.model.transfers.items() if t["state"] == PendingState.pending}
        choice = data.draw(st.integers(0, 9))
        if holds and choice > 1:
            pending_id = data.draw(st.sampled_from(sorted(holds)))
        elif self.model.transfers and choice == 1:  # settled, expired, or not pending at all
            pending_id = data.draw(st.sampled_from(sorted(self.model.transfers)))
        else:
            pending_id = data.draw(st.integers(0, TRANSFER_ID_MAX))
        p = self.model.transfers.get(pending_id) or holds.get(pending_id)
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
            id=self._transfer_id(data, batch) if data.draw(st.integers(0, 19)) else pending_id,
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
        stored = [t for t in self.transfers_sent if t.id in self.model.transfers]
        earlier = data.draw(st.sampled_from(stored if stored and data.draw(st.integers(0, 3)) else self.transfers_sent))
        changes = data.draw(
            st.sampled_from(
                [
                    {},
                    {},
                    {},
                    {"user_data_64": earlier.user_data_64 + 1},
                    {"amount": earlier.amount + 1},
                    {"amount": 0},
                    {"debit_account_id": 0},
                    {"ledger": 0},
                    {"code": earlier.code % 2 + 1},
                    {"flags": earlier.flags ^ LINKED},
                ]
            )
        )
        return dataclasses.replace(earlier, **changes)

    def _malformed(self, data: st.DataObject, batch: list[Transfer]) -> Transfer:
        base = self._plain_or_pending(data, pending=False, batch=batch)
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

    def _transfer(self, data: st.DataObject, settle: bool, batch: list[Transfer]) -> Transfer:
        if settle:
            kinds = ["post", "post", "post", "void", "void", "pending", "pending", "plain", "malformed"]
        else:
            kinds = ["plain"] * 4 + ["pending"] * 3 + ["post", "void", "malformed"]
        kinds += ["again", "again"] if self.transfers_sent else []
        kind = data.draw(st.sampled_from(kinds))
        if kind == "again":
            return self._resubmitted(data)  # keeps its own linked flag, so retried chains match
        if kind == "malformed":
            transfer = self._malformed(data, batch)
        elif kind in ("post", "void"):
            transfer = self._post_or_void(data, post=kind == "post", batch=batch)
        else:
            transfer = self._plain_or_pending(data, pending=kind == "pending", batch=batch)
        linked = data.draw(rarely(st.just(False), st.just(True), 6))
        return dataclasses.replace(transfer, flags=transfer.flags | LINKED) if linked else transfer

    # -- rules ----------------------------------------------------------------------------

    @initialize(data=st.data())
    def open_accounts(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(4, 14))
        batch = [data.draw(fresh_accounts(account_id=i)) for i in range(1, count + 1)]
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
            batch.append(self._transfer(data, settle=False, batch=batch))
            self.transfers_sent.append(batch[-1])
        self.twin.create_transfers(batch)

    @rule(data=st.data())
    def settle_transfers(self, data: st.DataObject) -> None:
        batch: list[Transfer] = []
        for _ in range(data.draw(st.integers(1, 6))):
            batch.append(self._transfer(data, settle=True, batch=batch))
            self.transfers_sent.append(batch[-1])
        self.twin.create_transfers(batch)

    @rule(data=st.data(), freeze=st.booleans())
    def order(self, data: st.DataObject, freeze: bool) -> None:
        frozen = sorted(i for i, a in self.model.accounts.items() if a["flags"] & AccountFlags.frozen)
        if not freeze and frozen and data.draw(st.integers(0, 3)):
            ids = data.draw(st.lists(st.sampled_from(frozen), min_size=1, max_size=2))
        else:
            ids = [self._account_id(data) for _ in range(data.draw(rarely(st.just(1), st.just(2), 4)))]
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
from hypothesis import Phase
TestLedgerMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None, phases=[Phase.reuse, Phase.generate, Phase.shrink], report_multiple_bugs=True)


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

    def test_pending_refused__overflows_timeout(self, twin: Twin) -> None:
        """A deadline must stay below 2**63 ns, like every other quantity in the ledger."""
        twin.clock.now = LIMIT - 1 - 1000 * NS_PER_S
        statuses = twin.create_transfers([_pay(10, ALICE, SHOP, 5, flags=PENDING, timeout=1000),
                                          _pay(11, ALICE, SHOP, 5, flags=PENDING, timeout=1000)])
        assert statuses == [S.ok, S.overflows_timeout]

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

    def test_resubmitted_account__exists_while_frozen(self, twin: Twin) -> None:
        """A freeze is state, not a field: retrying the original account still answers exists."""
        assert twin.freeze_accounts([ALICE]) == [OrderStatus.ok]
        assert twin.create_accounts([Account(ALICE, 1, 2, flags=WALLET)]) == [A.exists]

    def test_resubmitted_account__exists_vs_different(self, twin: Twin) -> None:
        """Accounts follow the same rule: same fields exists, other fields are refused."""
        assert twin.create_accounts([Account(ALICE, 1, 2, flags=WALLET), Account(ALICE, 1, 3, flags=WALLET)]) == [
            A.exists,
            A.exists_with_different_fields,
        ]


class TestKnownDeviations:
    """Where the ledger departs from docs/ledger.md; the twin above works around each one."""

    @pytest.mark.xfail(reason="engine answers linked_event_failed, not linked_event_chain_open", strict=True)
    def test_chain_open__after_earlier_failure(self, tmp_path: Path) -> None:
        """The last event of a batch, if linked, gets linked_event_chain_open even in a failed chain."""
        with Ledger.open(tmp_path, sync=False) as ledger:
            assert ledger.create_accounts([Account(1, 1, 1), Account(2, 1, 1)]).all_ok
            results = ledger.create_transfers([_pay(10, 1, 2, 0, flags=LINKED), _pay(11, 1, 2, 5, flags=LINKED)])
            assert [r.status for r in results] == [S.amount_must_not_be_zero, S.linked_event_chain_open]

    @pytest.mark.xfail(reason="recovery forgets timestamps of batches that were not journaled", strict=True)
    def test_reopen__timestamps_keep_increasing(self, tmp_path: Path) -> None:
        """After a restart under a stalled clock, events are still stamped after every earlier one."""
        clock = FakeClock()
        with Ledger.open(tmp_path, sync=False, clock=clock) as ledger:
            assert ledger.create_accounts([Account(1, 1, 1), Account(2, 1, 1)]).all_ok
            assert ledger.create_transfers([_pay(10, 1, 2, 5, flags=PENDING, timeout=1)]).all_ok
            deadline = ledger.lookup_transfers([10])[0].timestamp + NS_PER_S
            clock.now = deadline - 2
            refused = ledger.create_transfers([_pay(11, 1, 2, 0), _pay(12, 1, 2, 0)])  # stamped deadline - 2, - 1
            assert not refused.failed()[0].ok
        with Ledger.open(tmp_path, sync=False, clock=clock) as ledger:
            # The post must be stamped at or after the deadline, so the hold has expired.
            assert ledger.create_transfers([Transfer(13, pending_id=10, flags=POST)])[0].status == S.pending_expired
