"""Durability: torn tails are cut, corruption elsewhere is named, snapshots are atomic."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tessera.errors import (
    CorruptionError,
    LedgerClosedError,
    LedgerFailedError,
    LedgerLockedError,
    SnapshotCorruptError,
)
from tessera.ledger import Account, AccountFlags, Ledger, Transfer
from tessera.ledger.journal import HEADER_SIZE, list_segments

ISSUER, WALLET = 1, 2


def _fixed_clock() -> int:
    return 10**18  # the ledger still makes every timestamp unique and increasing


def _fill(path: Path, batches: int, per_batch: int = 5, **options: int) -> None:
    """Accounts, then ``batches`` calls of ``per_batch`` issuance transfers (ids 100*b + i)."""
    with Ledger.open(path, clock=_fixed_clock, **options) as ledger:  # type: ignore[arg-type]
        ledger.create_accounts([Account(ISSUER, 1, 1), Account(WALLET, 1, 2)])
        for b in range(1, batches + 1):
            batch = [Transfer(100 * b + i, ISSUER, WALLET, 1, 1, 1) for i in range(per_batch)]
            assert ledger.create_transfers(batch).all_ok


def _entry_offsets(segment: Path) -> list[int]:
    """Offsets of every entry in a segment, read from the headers' body sizes."""
    data = segment.read_bytes()
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        body_size = int.from_bytes(data[offset + 36 : offset + 40], "little")
        offset += HEADER_SIZE + body_size
    return offsets


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def _present(path: Path, ids: list[int]) -> list[int]:
    with Ledger.open(path) as ledger:
        return [t.id for t in ledger.lookup_transfers(ids)]


class TestTornTail:
    def test_truncated_tail__last_batch_dropped_earlier_kept(self, tmp_path: Path) -> None:
        """A tail cut anywhere inside the last entry loses that batch and nothing else."""
        _fill(tmp_path, batches=4)
        (segment,) = list_segments(tmp_path)
        last = _entry_offsets(segment)[-1]
        size = segment.stat().st_size
        for cut in (last + 1, last + HEADER_SIZE - 1, last + HEADER_SIZE + 7, size - 1):
            copy = tmp_path / f"copy-{cut}"
            copy.mkdir()
            shutil.copy(segment, copy / segment.name)
            with open(copy / segment.name, "r+b") as f:
                f.truncate(cut)
            with Ledger.open(copy) as ledger:
                assert ledger.recovery.truncated_bytes == cut - last
                assert [t.id for t in ledger.lookup_transfers([300, 400])] == [300]
                assert ledger.lookup_accounts([WALLET])[0].credits_posted == 15

    def test_truncated_tail__ledger_keeps_working_after_cut(self, tmp_path: Path) -> None:
        """After cutting a torn tail, new batches append cleanly and survive a reopen."""
        _fill(tmp_path, batches=3)
        (segment,) = list_segments(tmp_path)
        with open(segment, "r+b") as f:
            f.truncate(segment.stat().st_size - 10)
        with Ledger.open(tmp_path) as ledger:
            assert ledger.create_transfers([Transfer(999, ISSUER, WALLET, 7, 1, 1)]).all_ok
        with Ledger.open(tmp_path) as ledger:
            assert ledger.recovery.truncated_bytes == 0
            assert ledger.lookup_accounts([WALLET])[0].credits_posted == 10 + 7

    @pytest.mark.parametrize("where", ["header", "body"])
    def test_bit_flip_in_last_entry__treated_as_torn(self, tmp_path: Path, where: str) -> None:
        """A flipped bit in the last entry fails its checksum and the entry is cut."""
        _fill(tmp_path, batches=3)
        (segment,) = list_segments(tmp_path)
        last = _entry_offsets(segment)[-1]
        _flip(segment, last + (20 if where == "header" else HEADER_SIZE + 30))
        assert _present(tmp_path, [200, 300]) == [200]

    def test_garbage_after_last_entry__cut(self, tmp_path: Path) -> None:
        """Bytes that never became an entry (a write in flight) are cut off."""
        _fill(tmp_path, batches=2)
        (segment,) = list_segments(tmp_path)
        with open(segment, "ab") as f:
            f.write(b"\x00" * 100)
        with Ledger.open(tmp_path) as ledger:
            assert ledger.recovery.truncated_bytes == 100
        assert _present(tmp_path, [100, 200]) == [100, 200]


class TestCorruption:
    @pytest.mark.parametrize("where", ["header", "body"])
    def test_corrupt_middle_entry__error_names_file_and_offset(self, tmp_path: Path, where: str) -> None:
        """Damage to an entry that later fsync groups follow is corruption, not a torn tail."""
        _fill(tmp_path, batches=4)
        (segment,) = list_segments(tmp_path)
        middle = _entry_offsets(segment)[2]
        _flip(segment, middle + (20 if where == "header" else HEADER_SIZE + 3))
        with pytest.raises(CorruptionError) as caught:
            Ledger.open(tmp_path)
        assert caught.value.path == str(segment)
        assert caught.value.offset == middle
        assert str(segment) in str(caught.value) and str(middle) in str(caught.value)

    def test_corruption_in_older_segment__error(self, tmp_path: Path) -> None:
        """Only the newest segment may end torn; a bad entry in an older one is corruption."""
        _fill(tmp_path, batches=6, segment_bytes_max=1000)
        segments = list_segments(tmp_path)
        assert len(segments) > 2
        _flip(segments[0], 10)
        with pytest.raises(CorruptionError, match=segments[0].name):
            Ledger.open(tmp_path)

    def test_missing_segment__gap_is_an_error(self, tmp_path: Path) -> None:
        """A segment that disappeared leaves a gap in the sequence; recovery refuses it."""
        _fill(tmp_path, batches=6, segment_bytes_max=1000)
        segments = list_segments(tmp_path)
        segments[1].unlink()
        with pytest.raises(CorruptionError, match="expected entry"):
            Ledger.open(tmp_path)

    def test_snapshot_bit_flip__error(self, tmp_path: Path) -> None:
        """A snapshot that fails its checksum is refused with its path and offset."""
        _fill(tmp_path, batches=2)
        with Ledger.open(tmp_path) as ledger:
            snapshot = ledger.snapshot()
        _flip(snapshot, snapshot.stat().st_size - 5)
        with pytest.raises(SnapshotCorruptError, match=snapshot.name):
            Ledger.open(tmp_path)


class TestSnapshots:
    def test_snapshot_then_journal__same_state(self, tmp_path: Path) -> None:
        """State after snapshot + later journal equals state from the journal alone."""
        _fill(tmp_path / "a", batches=5)
        with Ledger.open(tmp_path / "b", clock=_fixed_clock) as ledger:
            ledger.create_accounts([Account(ISSUER, 1, 1), Account(WALLET, 1, 2)])
            for b in range(1, 6):
                ledger.create_transfers([Transfer(100 * b + i, ISSUER, WALLET, 1, 1, 1) for i in range(5)])
                if b == 3:
                    ledger.snapshot()
        with Ledger.open(tmp_path / "a") as a, Ledger.open(tmp_path / "b") as b_:
            assert b_.recovery.snapshot_seq > 0
            assert a.lookup_accounts([ISSUER, WALLET]) == b_.lookup_accounts([ISSUER, WALLET])
            assert a.get_account_transfers(WALLET, limit=50) == b_.get_account_transfers(WALLET, limit=50)

    def test_snapshot_drops_covered_segments(self, tmp_path: Path) -> None:
        """After a snapshot only the fresh, empty segment remains."""
        _fill(tmp_path, batches=3, segment_bytes_max=1000)
        with Ledger.open(tmp_path) as ledger:
            ledger.snapshot()
        (segment,) = list_segments(tmp_path)
        assert segment.stat().st_size == 0

    def test_crash_between_snapshot_and_cleanup__old_entries_skipped(self, tmp_path: Path) -> None:
        """If old segments survive a snapshot (crash before delete), replay skips what it covers."""
        _fill(tmp_path, batches=3)
        (old,) = list_segments(tmp_path)
        kept = old.read_bytes()
        with Ledger.open(tmp_path) as ledger:
            ledger.snapshot()
            before = ledger.lookup_accounts([WALLET])
        old.write_bytes(kept)
        with Ledger.open(tmp_path) as ledger:
            assert ledger.recovery.entries_replayed == 0
            assert ledger.lookup_accounts([WALLET]) == before

    def test_freeze_orders_survive_snapshot(self, tmp_path: Path) -> None:
        """Freeze history, with its order references, is kept across snapshot and reopen."""
        with Ledger.open(tmp_path) as ledger:
            ledger.create_accounts([Account(ISSUER, 1, 1), Account(WALLET, 1, 2)])
            ledger.freeze_accounts([WALLET], "court-order/2026/118")
            ledger.snapshot()
            ledger.unfreeze_accounts([WALLET], "appeal/2026/7")
        with Ledger.open(tmp_path) as ledger:
            orders = ledger.lookup_account_orders(WALLET)
            assert [(o.action, o.reference) for o in orders] == [
                ("freeze", "court-order/2026/118"),
                ("unfreeze", "appeal/2026/7"),
            ]
            assert not ledger.lookup_accounts([WALLET])[0].flags & AccountFlags.frozen


class TestLifecycle:
    def test_second_open__locked(self, tmp_path: Path) -> None:
        """Two handles on one directory would interleave journals; the second is refused."""
        with Ledger.open(tmp_path), pytest.raises(LedgerLockedError):
            Ledger.open(tmp_path)

    def test_closed_ledger__refuses_calls(self, tmp_path: Path) -> None:
        """A closed handle answers with LedgerClosedError, not a crash."""
        ledger = Ledger.open(tmp_path)
        ledger.close()
        with pytest.raises(LedgerClosedError):
            ledger.create_accounts([Account(ISSUER, 1, 1)])
        with pytest.raises(LedgerClosedError):
            ledger.lookup_accounts([ISSUER])

    def test_close_snapshots_large_journal(self, tmp_path: Path) -> None:
        """Close writes a snapshot once the journal passes the threshold, so reopen is quick."""
        _fill(tmp_path, batches=3, snapshot_journal_bytes=1)
        with Ledger.open(tmp_path) as ledger:
            assert ledger.recovery.snapshot_seq == 4
            assert ledger.recovery.entries_replayed == 0


class TestGroupCommit:
    def test_concurrent_callers__every_acknowledged_batch_survives(self, tmp_path: Path) -> None:
        """Threads sharing fsyncs still get exactly their own results, all durable."""
        with Ledger.open(tmp_path) as ledger:
            ledger.create_accounts([Account(ISSUER, 1, 1), Account(WALLET, 1, 2)])

            def client(c: int) -> None:
                for b in range(15):
                    batch = [Transfer(10_000 * (c + 1) + 100 * b + i, ISSUER, WALLET, 1, 1, 1) for i in range(3)]
                    assert ledger.create_transfers(batch).all_ok

            threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        with Ledger.open(tmp_path) as ledger:
            assert ledger.counts["transfers"] == 4 * 15 * 3
            assert ledger.lookup_accounts([WALLET])[0].credits_posted == 180

    def test_fsync_failure__ledger_refuses_until_reopened(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After a failed fsync memory may be ahead of disk, so the handle stops serving."""
        ledger = Ledger.open(tmp_path)
        ledger.create_accounts([Account(ISSUER, 1, 1), Account(WALLET, 1, 2)])

        def broken(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", broken)
        with pytest.raises(LedgerFailedError, match="Input/output error"):
            ledger.create_transfers([Transfer(1, ISSUER, WALLET, 5, 1, 1)])
        with pytest.raises(LedgerFailedError):
            ledger.lookup_accounts([WALLET])
        monkeypatch.undo()
        with pytest.raises(LedgerFailedError):
            ledger.create_transfers([Transfer(2, ISSUER, WALLET, 5, 1, 1)])
        ledger.close()
        with Ledger.open(tmp_path) as reopened:  # the write reached the page cache, so it is replayed
            assert reopened.lookup_accounts([WALLET])[0].credits_posted in (0, 5)
