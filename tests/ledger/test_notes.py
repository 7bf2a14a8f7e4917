"""Notes: journaled with their batch under one lock, handed back until delivered, kept across snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import SnapshotCorruptError
from tessera.ledger import Account, AccountFlags, Ledger, Transfer
from tessera.ledger.journal import HEADER_SIZE, iter_entries
from tessera.ledger.snapshot import Snapshot, read_snapshot, write_snapshot
from tessera.ledger.state import State

WALLET = AccountFlags.debits_must_not_exceed_credits


def _open_funded(path: Path) -> Ledger:
    ledger = Ledger.open(path)
    ledger.create_accounts([Account(1, 1, 1), Account(2, 1, 2, flags=WALLET)])
    return ledger


def test_a_note_is_handed_back_until_delivered(tmp_path: Path) -> None:
    """Undelivered at a crash (no mark): the next open hands it back with its batch's timestamp and statuses."""
    with _open_funded(tmp_path / "l") as ledger:
        results = ledger.create_transfers([Transfer(10, 1, 2, 5, 1, 1), Transfer(11, 2, 1, 99, 1, 1)], note=b"x")
        (made,) = ledger.notes.undelivered()
        assert results.note_seq == made.seq > 0 and ledger.notes.get(made.seq) is made
        assert made.statuses.tolist() == results.statuses.tolist()
        stamped = ledger.lookup_transfers([10])[0].timestamp
    with Ledger.open(tmp_path / "l") as ledger:
        (back,) = ledger.notes.undelivered()
        assert (back.payload, back.timestamp) == (b"x", stamped)
        assert back.statuses.tolist() == results.statuses.tolist()  # replay recomputed what happened: one refusal
        assert back.statuses[1] != 0
        ledger.notes.mark_delivered([back.seq])
    with Ledger.open(tmp_path / "l") as ledger:
        assert ledger.notes.undelivered() == []


def test_a_note_made_under_the_lock_sees_what_the_guard_did(tmp_path: Path) -> None:
    """A function note is called after the settle guard and the apply; None journals no note."""
    seen: list[str] = []
    with _open_funded(tmp_path / "l") as ledger:
        ledger.create_transfers([Transfer(9, 1, 2, 5, 1, 1, flags=2)])  # a hold
        guard = ([0], lambda indices, debits, credits: seen.append(f"guard {debits.tolist()}"))
        results = ledger.create_transfers(
            [Transfer(10, pending_id=9, flags=4)], settle_guard=guard, note=lambda: seen.append("note") or None
        )
        assert seen == ["guard [1]", "note"] and results.note_seq == 0 and ledger.notes.undelivered() == []


def test_undelivered_notes_outlive_a_snapshot(tmp_path: Path) -> None:
    """The snapshot drops the journal the note was in; the note survives in the snapshot."""
    with _open_funded(tmp_path / "l") as ledger:
        ledger.create_transfers([Transfer(10, 1, 2, 5, 1, 1)], note=b"kept")
        delivered = ledger.create_transfers([Transfer(11, 1, 2, 5, 1, 1)], note=b"done")
        ledger.notes.mark_delivered([delivered.note_seq])
        ledger.snapshot()
    with Ledger.open(tmp_path / "l") as ledger:
        assert [n.payload for n in ledger.notes.undelivered()] == [b"kept"]
        assert ledger.lookup_accounts([2])[0].balance == 10


def test_accounts_carry_notes_too_even_when_frozen_at_opening(tmp_path: Path) -> None:
    """Accounts opened frozen carry their note too, stamped with the batch's seq and timestamp."""
    with Ledger.open(tmp_path / "l") as ledger:
        results = ledger.create_accounts([Account(3, 1, 2, flags=WALLET)], frozen_by={3: "r_1"}, note=b"a")
        (note,) = ledger.notes.undelivered()
        assert note.seq == results.note_seq and note.timestamp == ledger.lookup_accounts([3])[0].timestamp


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=6))
def test_notes_of_any_length_keep_the_journal_aligned(tmp_path_factory: object, sizes: list[int]) -> None:
    """Every entry stays a multiple of 64 bytes, so recovery reads batches after any note."""
    path = tmp_path_factory.mktemp("aligned") / "l"  # type: ignore[attr-defined]
    with _open_funded(path) as ledger:
        for k, size in enumerate(sizes):
            ledger.create_transfers([Transfer(100 + k, 1, 2, 1, 1, 1)], note=b"n" * size or None)
    for entry, _, cut in iter_entries(path):
        assert cut is None and entry is not None and (HEADER_SIZE + len(entry.body)) % 64 == 0
    with Ledger.open(path) as ledger:
        assert ledger.lookup_accounts([2])[0].balance == len(sizes)
        assert [len(n.payload) for n in ledger.notes.undelivered()] == [n for n in sizes if n]


@pytest.mark.parametrize(
    "extra",
    [
        {"orders": [], "notes": []},
        {"orders": {"x": []}, "notes": []},
        {"orders": {"2": [["melt", "r", 1]]}, "notes": []},
        {"orders": {}, "notes": {"1": "x"}},
        {"orders": {}, "notes": [[1, 2, "not base64!", ""]]},
        {"orders": {}, "notes": [["1", 2, "eA==", ""]]},
        {"orders": {}, "notes": [[1, 2, "eA==", "eA=="]]},
    ],
    ids=["orders-list", "orders-key", "orders-action", "notes-object", "notes-base64", "notes-seq", "notes-statuses"],
)
def test_a_snapshot_whose_extra_is_forged_is_refused_naming_it(tmp_path: Path, extra: dict[str, object]) -> None:
    """Checksums redone over a forged header field: refused as snapshot_corrupt, never a KeyError or TypeError."""
    with _open_funded(tmp_path / "l") as ledger:
        path = ledger.snapshot()
    snap = read_snapshot(path, State.ARRAY_DTYPES)
    path.unlink()
    write_snapshot(tmp_path / "l", Snapshot(snap.seq, snap.last_timestamp, snap.arrays, extra))
    with pytest.raises(SnapshotCorruptError, match="extra"):
        Ledger.open(tmp_path / "l")
