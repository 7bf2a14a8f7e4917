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


_FIELDS = {kind: tuple(f.name for f in dataclasses.fields(kind)) for kind in (Account, Transfer)}


def _record(item: Account | Transfer) -> dict[str, Any]:
    fields = {name: getattr(item, name) for name in _FIELDS[type(item)]}
    fields["flags"] = int(fields["flags"])
    return fields


def _differences(kind: str, actual: dict[int, Any], expected: dict[int, Any]) -> str:
    lines = [
        f"  {kind} {i}: only in the {'ledger' if i in actual else 'model'}"
        for i in sorted(actual.keys() ^ expected.keys())
    ]
    for i in sorted(actual.keys() & expected.keys()):
        if not isinstance(actual[i], dict):
            lines += [f"  {kind} {i}: ledger={actual[i]!r} model={expected[i]!r}"] if actual[i] != expected[i] else []
            continue
        lines += [
            f"  {kind} {i}.{name}: ledger={actual[i][name]!r} model={expected[i][name]!r}"
            for name in actual[i]
            if actual[i][name] != expected[i].get(name)
        ]
    return "ledger and model disagree:\n" + "\n".join(lines)


def _mismatches(batch: Sequence[Any], actual: Sequence[Any], expected: Sequence[Any]) -> str:
    lines = [
        f"  [{i}] ledger={a.name} model={e.name}  {batch[i]}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True))
        if a != e
    ]
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
        assert states == expected_states, _differences("pending state", states, expected_states)


# -- random events --------------------------------------------------------------------------

_CHANCE = st.integers(0, 1199)  # 1200 divides evenly by every odds used below
_INDEX = st.integers(0, 2**16 - 1)
_CATEGORY_SETS = [(10,), (20,), (30,), (10, 20), (10, 30), (20, 30), (10, 20, 30)]


class Dice:
    """Choices drawn through hypothesis from two strategies built once (building them is slow)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def chance(self, one_in: int) -> bool:
        """True about once in ``one_in`` throws; shrinks to False."""
        return bool(self.data.draw(_CHANCE) % one_in == one_in - 1)

    def pick(self, items: Sequence[Any]) -> Any:
        """One of ``items``; shrinks to the first."""
        return items[self.data.draw(_INDEX) % len(items)]

    def number(self, low: int, high: int) -> int:
        """An integer from ``low`` to ``high``; shrinks to ``low``."""
        return low + int(self.data.draw(_INDEX)) % (high - low + 1)


def _broken_account(flags: int) -> list[dict[str, Any]]:
    return [
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


def _malformed_transfer(base: Transfer) -> list[dict[str, Any]]:
    return [
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


class LedgerMachine(RuleBasedStateMachine):
    """Random batches against the ledger and the model; they must never disagree.

    Events are drawn from the model's current state (existing accounts, live holds, ids
    already used) so that most of them get past validation and reach the money rules.
    """

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

    def _holds(self) -> dict[int, dict[str, Any]]:
        return {i: t for i, t in self.model.transfers.items() if t["state"] == PendingState.pending}

    # -- accounts -------------------------------------------------------------------------

    def _fresh_account(self, dice: Dice, account_id: int = 0) -> Account:
        """A random account; with ``account_id`` a valid, unlinked one for the opening set."""
        flags = dice.pick([0, 0, WALLET, WALLET, MIRROR])
        if not account_id and dice.chance(5):
            flags |= AccountFlags.linked
        account = Account(
            id=account_id or dice.number(1, ACCOUNT_ID_MAX),
            ledger=2 if dice.chance(3) else 1,
            code=dice.number(1, 2),
            flags=AccountFlags(flags),
            category=dice.pick([0, 10, 20, 30]),
            holding_limit=dice.pick([100, 400, 1000]) if dice.chance(3) else 0,
            allowed_categories=frozenset(dice.pick(_CATEGORY_SETS)) if dice.chance(6) else frozenset(),
            user_data_32=dice.number(1, 3) if dice.chance(6) else 0,
        )
        if not account_id and dice.chance(10):
            return dataclasses.replace(account, **dice.pick(_broken_account(flags)))
        return account

    def _account(self, dice: Dice) -> Account:
        if self.accounts_sent and dice.chance(4):
            earlier: Account = dice.pick(self.accounts_sent)
            changes = dice.pick([{}, {}, {"code": earlier.code % 2 + 1}, {"user_data_32": 9}, {"category": 40}])
            return dataclasses.replace(earlier, **changes)
        return self._fresh_account(dice)

    def _account_id(self, dice: Dice, ledger: int = 0, other: int = 0) -> int:
        """Mostly an existing account (on ``ledger``, not ``other``); sometimes any id at all."""
        known = [i for i, a in self.model.accounts.items() if ledger in (0, a["ledger"]) and i != other]
        if known and not dice.chance(20):
            return int(dice.pick(known))
        return dice.number(1, ACCOUNT_ID_MAX + 2)

    # -- transfers ------------------------------------------------------------------------

    def _transfer_id(self, dice: Dice, batch: list[Transfer]) -> int:
        """Mostly an id not used yet; sometimes any id, which may collide."""
        taken = self.model.transfers.keys() | {t.id for t in batch}
        unused = [i for i in range(1, TRANSFER_ID_MAX + 1) if i not in taken]
        return int(dice.pick(unused)) if unused and not dice.chance(6) else dice.number(1, TRANSFER_ID_MAX)

    def _amount(self, dice: Dice, debit: int, credit: int) -> int:
        """Mostly small; sometimes exactly at, or one past, what a limit still allows."""
        dr, cr = self.model.accounts.get(debit), self.model.accounts.get(credit)
        room = []
        if dr and cr and dice.chance(4):  # the largest amount that fits in both balances
            room.append(
                LIMIT
                - 1
                - max(dr["debits_pending"] + dr["debits_posted"], cr["credits_pending"] + cr["credits_posted"])
            )
        if dr and dr["flags"] & WALLET:
            room.append(dr["credits_posted"] - dr["debits_posted"] - dr["debits_pending"])
        if cr and cr["flags"] & MIRROR:
            room.append(cr["debits_posted"] - cr["credits_posted"] - cr["credits_pending"])
        if cr and cr["holding_limit"]:
            room.append(cr["holding_limit"] + cr["debits_posted"] - cr["credits_posted"] - cr["credits_pending"])
        room = [r for r in room if r > 0]
        if room and dice.chance(4):
            return int(dice.pick(room)) + dice.number(0, 1)
        return int(dice.pick([0, 2**62, LIMIT - 1, LIMIT])) if dice.chance(20) else dice.number(1, 300)

    def _plain_or_pending(self, dice: Dice, pending: bool, batch: list[Transfer]) -> Transfer:
        debit = self._account_id(dice)
        account = self.model.accounts.get(debit)
        ledger = account["ledger"] if account else 1
        credit = self._account_id(dice, ledger, other=debit)
        timeout = dice.number(0, 5) if pending else int(dice.chance(30))
        return Transfer(
            id=self._transfer_id(dice, batch),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=self._amount(dice, debit, credit),
            ledger=dice.number(0, 2) if dice.chance(25) else ledger,
            code=dice.number(0, 2) if dice.chance(25) else 1,
            flags=PENDING if pending else TransferFlags.none,
            timeout=timeout,
            user_data_64=dice.number(1, 3) if dice.chance(6) else 0,
        )

    def _post_or_void(self, dice: Dice, post: bool, batch: list[Transfer]) -> Transfer:
        holds = {t.id: dataclasses.asdict(t) for t in batch if t.flags & PENDING}  # if they succeed
        holds |= self._holds()
        if holds and not dice.chance(5):
            pending_id = int(dice.pick(sorted(holds)))
        elif self.model.transfers and dice.chance(2):  # settled, expired, or not pending at all
            pending_id = int(dice.pick(sorted(self.model.transfers)))
        else:
            pending_id = dice.number(0, TRANSFER_ID_MAX)
        p = self.model.transfers.get(pending_id) or holds.get(pending_id)
        reserved = p["amount"] if p else 100
        too_much = LIMIT if dice.chance(4) else reserved + 1
        amount = dice.pick([0, reserved, dice.number(1, max(1, reserved - 1)), too_much])

        def same_or_zero(name: str) -> int:
            return dice.number(0, 3) if dice.chance(12) else int(dice.pick([0, p[name] if p else 1]))

        return Transfer(
            id=pending_id if dice.chance(20) else self._transfer_id(dice, batch),
            debit_account_id=same_or_zero("debit_account_id"),
            credit_account_id=same_or_zero("credit_account_id"),
            amount=amount,
            ledger=same_or_zero("ledger"),
            code=same_or_zero("code"),
            flags=POST if post else VOID,
            pending_id=pending_id,
            timeout=int(dice.chance(20)),
            user_data_64=dice.number(1, 3) if dice.chance(8) else 0,
        )

    def _resubmitted(self, dice: Dice) -> Transfer:
        stored = [t for t in self.transfers_sent if t.id in self.model.transfers]
        earlier: Transfer = dice.pick(stored if stored and not dice.chance(4) else self.transfers_sent)
        changes = dice.pick(
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
        return dataclasses.replace(earlier, **changes)

    def _transfer(self, dice: Dice, settle: bool, batch: list[Transfer], linked_one_in: int) -> Transfer:
        if settle:
            kinds = ["post", "post", "post", "void", "void", "pending", "pending", "plain", "malformed"]
        else:
            kinds = ["plain"] * 4 + ["pending"] * 3 + ["post", "void", "malformed"]
        kinds += ["again", "again"] if self.transfers_sent else []
        kind = dice.pick(kinds)
        if kind == "again":
            return self._resubmitted(dice)  # keeps its own linked flag, so retried chains match
        if kind == "malformed":
            base = self._plain_or_pending(dice, pending=False, batch=batch)
            transfer = dataclasses.replace(base, **dice.pick(_malformed_transfer(base)))
        elif kind in ("post", "void"):
            transfer = self._post_or_void(dice, post=kind == "post", batch=batch)
        else:
            transfer = self._plain_or_pending(dice, pending=kind == "pending", batch=batch)
        return dataclasses.replace(transfer, flags=transfer.flags | LINKED) if dice.chance(linked_one_in) else transfer

    def _transfers(self, dice: Dice, settle: bool, linked_one_in: int = 6) -> None:
        batch: list[Transfer] = []
        for _ in range(dice.number(1, 6 if settle else 8)):
            batch.append(self._transfer(dice, settle, batch, linked_one_in))
        self.transfers_sent += batch
        self.twin.create_transfers(batch)

    # -- rules ----------------------------------------------------------------------------

    @initialize(data=st.data())
    def open_accounts(self, data: st.DataObject) -> None:
        dice = Dice(data)
        batch = [self._fresh_account(dice, account_id=i) for i in range(1, dice.number(4, 14) + 1)]
        self.accounts_sent += batch
        self.twin.create_accounts(batch)

    @rule(data=st.data())
    def create_accounts(self, data: st.DataObject) -> None:
        dice = Dice(data)
        batch = [self._account(dice) for _ in range(dice.number(1, 5))]
        self.accounts_sent += batch
        self.twin.create_accounts(batch)

    @rule(data=st.data())
    def create_transfers(self, data: st.DataObject) -> None:
        self._transfers(Dice(data), settle=False)

    @rule(data=st.data())
    def settle_transfers(self, data: st.DataObject) -> None:
        self._transfers(Dice(data), settle=True)

    @rule(data=st.data())
    def order(self, data: st.DataObject) -> None:
        """Freeze (often an account holding a reservation) or unfreeze (often a frozen one)."""
        dice = Dice(data)
        frozen = [i for i, a in self.model.accounts.items() if a["flags"] & AccountFlags.frozen]
        sides = ("debit_account_id", "credit_account_id")
        holding = sorted({hold[side] for hold in self._holds().values() for side in sides})
        if dice.chance(2):
            ids = [int(dice.pick(frozen)) if frozen and not dice.chance(4) else self._account_id(dice)]
            self.twin.unfreeze_accounts(ids * 2 if dice.chance(8) else ids)
        else:
            ids = [int(dice.pick(holding)) if holding and dice.chance(2) else self._account_id(dice)]
            self.twin.freeze_accounts(ids * 2 if dice.chance(8) else ids)

    @rule(data=st.data())
    def transfers_across_deadline(self, data: st.DataObject) -> None:
        """A batch, often with chains, that starts a few nanoseconds before a hold's deadline."""
        dice = Dice(data)
        now = self.twin.clock.now
        deadlines = sorted(t["deadline"] for t in self._holds().values() if t["deadline"] > now + 3)
        if deadlines:
            self.twin.clock.now = int(dice.pick(deadlines)) - dice.number(0, 3)
        self._transfers(dice, settle=dice.chance(2), linked_one_in=3)

    @rule(data=st.data())
    def advance_clock(self, data: st.DataObject) -> None:
        dice = Dice(data)
        self.twin.clock.advance(dice.number(7, 30) if dice.chance(4) else dice.number(0, 6))

    @rule(snapshot=st.booleans())
    def reopen(self, snapshot: bool) -> None:
        self.twin.reopen(snapshot)

    @invariant()
    def agrees_with_model(self) -> None:
        self.twin.check()


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)


# -- hand-picked scenarios ------------------------------------------------------------------

ISSUER, ALICE, BOB, SHOP, BAKERY = 1, 2, 3, 4, 5
GROCERIES, PASTRY = 5411, 5462


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    """An issuer, two wallets (Alice 1000, Bob 1000) and two shops, in ledger and model."""
    pair = Twin(tmp_path / "ledger")
    assert (
        pair.create_accounts(
            [
                Account(ISSUER, 1, 1),
                Account(ALICE, 1, 2, flags=WALLET),
                Account(BOB, 1, 2, flags=WALLET),
                Account(SHOP, 1, 3, flags=WALLET, category=GROCERIES),
                Account(BAKERY, 1, 3, flags=WALLET, category=PASTRY),
            ]
        )
        == [A.ok] * 5
    )
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

    def test_failed_chain__expiry_inside_it_stands(self, twin: Twin) -> None:
        """A hold whose deadline passes mid-chain stays expired when the chain rolls back."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING, timeout=1)]) == [S.ok]
        twin.clock.now = twin.ledger.lookup_transfers([10])[0].timestamp + NS_PER_S - 1
        statuses = twin.create_transfers([_pay(11, BOB, SHOP, 5, flags=LINKED), _pay(12, BOB, SHOP, 0)])
        assert statuses == [S.linked_event_failed, S.amount_must_not_be_zero]
        assert twin.ledger.lookup_pending_states([10]) == {10: PendingState.expired}
        assert twin.account(ALICE)["debits_pending"] == 0

    def test_chain_open__after_earlier_failure(self, twin: Twin) -> None:
        """A batch's final linked event gets linked_event_chain_open even when its chain already failed."""
        chain = [_pay(10, ALICE, SHOP, 0, flags=LINKED), _pay(11, ALICE, SHOP, 5, flags=LINKED)]
        statuses = twin.create_transfers(chain)
        assert statuses == [S.amount_must_not_be_zero, S.linked_event_chain_open]


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
        hold = _pay(10, ALICE, SHOP, 5, flags=PENDING, timeout=1000)  # its deadline: 2**63 - 1
        statuses = twin.create_transfers([hold, dataclasses.replace(hold, id=11)])  # one ns later: 2**63
        assert statuses == [S.ok, S.overflows_timeout]

    def test_post_accepted__before_deadline(self, twin: Twin) -> None:
        """A second into a two-second hold it still stands and can be posted."""
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
        assert twin.create_transfers([Transfer(11, ALICE, SHOP, 500, 1, 1, flags=POST, pending_id=10)]) == [S.exists]
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


class TestRecovery:
    def test_reopen__timestamps_keep_increasing(self, twin: Twin) -> None:
        """A restart under a stalled clock stamps new events after refused ones, so holds still expire."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5, flags=PENDING, timeout=1)]) == [S.ok]
        deadline = twin.ledger.lookup_transfers([10])[0].timestamp + NS_PER_S
        twin.clock.now = deadline - 2
        refused = twin.create_transfers([_pay(11, ALICE, SHOP, 0), _pay(12, ALICE, SHOP, 0)])
        assert refused == [S.amount_must_not_be_zero] * 2  # stamped deadline - 2 and deadline - 1
        twin.reopen(snapshot=False)
        assert twin.create_transfers([Transfer(13, pending_id=10, flags=POST)]) == [S.pending_expired]

    def test_reopen_from_snapshot__same_state(self, twin: Twin) -> None:
        """A snapshot plus an empty journal recovers exactly what replaying the journal would."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 5, flags=PENDING, timeout=3), _pay(11, BOB, SHOP, 7)]) == [
            S.ok,
            S.ok,
        ]
        twin.reopen(snapshot=True)
        twin.check()
        twin.clock.advance(4)
        assert twin.create_transfers([Transfer(12, pending_id=10, flags=POST)]) == [S.pending_expired]


class TestChainRollbackAndExpiry:
    def test_failed_chain__undone_post_lets_hold_expire(self, twin: Twin) -> None:
        """A post undone by its chain leaves the hold pending, so a deadline inside the chain expires it."""
        assert twin.create_transfers([_pay(10, ALICE, SHOP, 500, flags=PENDING, timeout=1)]) == [S.ok]
        twin.clock.now = twin.ledger.lookup_transfers([10])[0].timestamp + NS_PER_S - 1
        statuses = twin.create_transfers([Transfer(11, pending_id=10, flags=POST | LINKED), _pay(12, BOB, SHOP, 0)])
        assert statuses == [S.linked_event_failed, S.amount_must_not_be_zero]
        assert twin.ledger.lookup_pending_states([10]) == {10: PendingState.expired}
