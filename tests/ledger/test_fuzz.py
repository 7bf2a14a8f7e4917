"""Fuzz: random and garbage batches, and random snapshot bytes, into the engine: it answers, never crashes.

Run in the normal suite and, compiled with AddressSanitizer and UBSan, by ``tools/sanitize``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import SnapshotCorruptError
from tessera.ledger import (
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    Account,
    AccountFlags,
    CreateAccountStatus,
    CreateTransferStatus,
    Ledger,
    Transfer,
    TransferFlags,
)
from tessera.ledger.snapshot import read_snapshot
from tessera.ledger.state import State, check_arrays
from tessera.limits import BATCH_SIZE_MAX
from tests.ledger.forge import forge_arrays

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCOUNTS = (2, 3, 4, 5, 6)
EDGES = (0, 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1)

u64 = st.sampled_from(EDGES) | st.integers(0, 2**64 - 1)
HOSTILE = {  # values for any field: out of range, missing, reserved
    "id": u64,
    "debit_account_id": st.sampled_from((0, 99, 2**63, 2**64 - 1)),
    "credit_account_id": st.sampled_from((0, 99, 2**63, 2**64 - 1)),
    "amount": u64,
    "pending_id": st.integers(1, 40) | u64,
    "timeout": st.sampled_from([1, 3, 2**32 - 1]),
    "ledger": st.sampled_from([0, 2, 2**32 - 1]),
    "code": st.sampled_from([0, 7]),
    "flags": st.integers(0, 0xFFFF),
    "timestamp": u64,
    "user_data_64": u64,
}


@st.composite
def transfer(draw: st.DrawFn) -> dict[str, int]:
    """A plausible transfer (payment, hold, post or void, maybe linked), with up to two fields made hostile."""
    debit, credit = draw(st.permutations(ACCOUNTS))[:2]
    kind = draw(st.sampled_from(["payment", "payment", "hold", "post", "void"]))
    fields = {
        "id": draw(st.integers(1, 40)),
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": draw(st.integers(1, 50)),
        "ledger": 1,
        "code": 1,
        "flags": {"payment": 0, "hold": 2, "post": 4, "void": 8}[kind] | draw(st.sampled_from([0, 0, 0, 1])),
    }
    if kind == "hold":
        fields["timeout"] = draw(st.sampled_from([0, 1, 2, 5]))
    if kind in ("post", "void"):
        fields["pending_id"] = draw(st.integers(1, 40))
        for name in draw(st.sets(st.sampled_from(["debit_account_id", "credit_account_id", "amount", "ledger"]))):
            fields[name] = 0  # "as in the pending transfer"
    for name in draw(st.lists(st.sampled_from(sorted(HOSTILE)), max_size=2)):
        fields[name] = draw(HOSTILE[name])
    return fields


batches = st.lists(st.lists(transfer(), min_size=1, max_size=24), min_size=1, max_size=4)
gaps_ns = st.lists(st.sampled_from([0, 1, 10**9, 2 * 10**9, 4 * 10**9, 2**62]), min_size=4, max_size=4)


def _records(dicts: list[dict[str, int]]) -> npt.NDArray[np.void]:
    records = np.zeros(len(dicts), dtype=TRANSFER_DTYPE)
    for i, fields in enumerate(dicts):
        for name, value in fields.items():
            records[i][name] = value
    return records


def _state() -> State:
    """Five accounts with every kind of limit, one of them frozen."""
    state = State()
    accounts = np.zeros(len(ACCOUNTS), dtype=ACCOUNT_DTYPE)
    accounts["id"] = ACCOUNTS
    accounts["ledger"] = 1
    accounts["code"] = 1
    accounts["flags"] = (
        0,
        AccountFlags.debits_must_not_exceed_credits,
        AccountFlags.credits_must_not_exceed_debits,
        0,
        0,
    )
    accounts["holding_limit"][3] = 30
    accounts["allowed_categories"][1][:2] = (5411, 5412)
    accounts["category"][2] = 5411
    assert (state.apply_accounts(accounts, 1) == CreateAccountStatus.ok).all()
    state.accounts["flags"][4] |= AccountFlags.frozen  # as a freeze order would
    return state


def _check_invariants(state: State) -> None:
    """Money is conserved; stored transfers name accounts and ids that resolve; histories end; snapshots load."""
    accounts = state.accounts[: state.n_accounts]
    assert int(accounts["debits_posted"].sum()) == int(accounts["credits_posted"].sum())
    assert int(accounts["debits_pending"].sum()) == int(accounts["credits_pending"].sum())
    stored = state.transfers[: state.n_transfers]
    for field in ("debit_account_id", "credit_account_id"):
        assert (state.account_slots(np.ascontiguousarray(stored[field])) >= 0).all()
    ids = np.ascontiguousarray(stored["id"])
    assert (state.transfer_slots(ids) == np.arange(len(ids))).all()
    for account in ACCOUNTS:
        history = state.account_transfer_slots(account, BATCH_SIZE_MAX, reverse=True)
        assert (np.diff(history) < 0).all()
    check_arrays(state.arrays())  # what the engine makes, a snapshot of it must load


@FUZZ
@given(batches=batches, gaps=gaps_ns)
def test_random_transfer_batches__statuses_and_invariants(batches: list[list[dict[str, int]]], gaps: list[int]) -> None:
    """Batches of random (mostly wrong) transfers: each gets a known status and the state stays sound."""
    state = _state()
    timestamp = 10
    for batch, gap in zip(batches, gaps, strict=False):
        before = state.n_transfers
        statuses = state.apply_transfers(_records(batch), timestamp)
        assert statuses.max() < len(CreateTransferStatus)
        assert state.n_transfers - before == int((statuses == CreateTransferStatus.ok).sum())
        _check_invariants(state)
        timestamp += len(batch) + gap


@FUZZ
@given(raw=st.binary(min_size=1, max_size=128 * 12), padding=st.binary(min_size=127, max_size=127))
def test_garbage_batches__refused_or_applied_never_a_crash(raw: bytes, padding: bytes) -> None:
    """Any bytes, as accounts and as transfers: statuses for each record, and the state stays sound."""
    data = raw + padding[: -len(raw) % 128]
    state = _state()
    account_statuses = state.apply_accounts(np.frombuffer(data, dtype=ACCOUNT_DTYPE), 5)
    assert account_statuses.max() < len(CreateAccountStatus)
    transfer_statuses = state.apply_transfers(np.frombuffer(data, dtype=TRANSFER_DTYPE), 10)
    assert transfer_statuses.max() < len(CreateTransferStatus)
    _check_invariants(state)


@pytest.fixture(scope="module")
def snapshot_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small snapshot with every kind of record: payments, a hold with a timeout, a post, a void."""
    directory = tmp_path_factory.mktemp("snapshot")
    with Ledger.open(directory / "ledger", sync=False) as ledger:
        ledger.create_accounts([Account(a, 1, 1) for a in ACCOUNTS])
        held = TransferFlags.pending
        assert ledger.create_transfers(
            [
                Transfer(10, 2, 3, 5, 1, 1),
                Transfer(11, 3, 4, 2, 1, 1),
                Transfer(12, 2, 4, 3, 1, 1, flags=held, timeout=3600),
                Transfer(13, 2, 5, 3, 1, 1, flags=held, timeout=1),
                Transfer(14, 0, 0, 0, 0, 0, pending_id=13, flags=TransferFlags.post_pending_transfer),
                Transfer(15, 5, 6, 1, 1, 1, flags=held, timeout=2),
                Transfer(16, 0, 0, 0, 0, 0, pending_id=15, flags=TransferFlags.void_pending_transfer),
                Transfer(17, 6, 2, 1, 1, 1, flags=held, timeout=5),
            ]
        ).all_ok
        return ledger.snapshot().read_bytes()


ARRAY_NAMES = tuple(State.ARRAY_DTYPES)
edits = st.lists(
    st.tuples(st.sampled_from(ARRAY_NAMES), st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=6
)


def _use(state: State) -> None:
    """Follow every index the state holds: expire every hold, settle one, list each history."""
    records = np.zeros(3, dtype=TRANSFER_DTYPE)
    records["id"] = (900, 901, 902)
    records["debit_account_id"] = (2, 0, 0)
    records["credit_account_id"] = (3, 0, 0)
    records["amount"] = (1, 0, 0)
    records["ledger"] = (1, 0, 0)
    records["code"] = (1, 0, 0)
    records["pending_id"] = (0, 12, 17)
    records["flags"] = (TransferFlags.linked, TransferFlags.post_pending_transfer, TransferFlags.void_pending_transfer)
    state.apply_transfers(records, 2**62)
    for account in state.accounts["id"][: state.n_accounts]:
        state.account_transfer_slots(int(account), BATCH_SIZE_MAX, reverse=False)


@FUZZ
@given(edits=edits)
def test_snapshot_bytes_changed_checksums_redone__refused_or_sound(
    snapshot_bytes: bytes, edits: list[tuple[str, int, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Random bytes written into a snapshot's arrays, checksums redone: refused on load, or safe to use."""

    def change(arrays: dict[str, npt.NDArray[Any]]) -> None:
        for name, position, value in edits:
            raw = arrays[name].view(np.uint8)
            if len(raw):
                raw[position % len(raw)] = value

    path = tmp_path_factory.mktemp("forged") / "00000000000000000001.snapshot"
    path.write_bytes(forge_arrays(snapshot_bytes, change))
    try:
        snapshot = read_snapshot(path, State.ARRAY_DTYPES)
    except SnapshotCorruptError as error:
        assert path.name in str(error)
        return
    _use(State.from_arrays(snapshot.arrays))


@FUZZ
@given(raw=st.binary(max_size=512), cut=st.integers(0, 4096))
def test_snapshot_garbage_or_cut__refused(
    snapshot_bytes: bytes, raw: bytes, cut: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Random bytes, or a real snapshot cut short or with garbage spliced in, never load unnoticed."""
    path = tmp_path_factory.mktemp("garbage") / "00000000000000000001.snapshot"
    cut %= len(snapshot_bytes)  # bytes after the last array are never read: not damage
    for data in (raw, snapshot_bytes[:cut], snapshot_bytes[:cut] + raw + snapshot_bytes[cut:]):
        if data == snapshot_bytes:
            continue
        path.write_bytes(data)
        with pytest.raises(SnapshotCorruptError):
            read_snapshot(path, State.ARRAY_DTYPES)
