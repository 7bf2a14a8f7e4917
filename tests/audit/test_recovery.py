"""Open is fast and repairs what a crash leaves: caches are rebuilt from the entries' tail only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.audit import AccessLog, RecoveryReport, verify_log
from tessera.audit import log as log_module
from tessera.audit.layout import read_checkpoint
from tessera.errors import CorruptionError, LogLockedError
from tests.audit.entries import expected_root, make_entries, read_back, write_log

CACHES = ("leaves.bin", "index.bin", "nodes-01.bin", "nodes-03.bin")
RECORD = {"leaves.bin": 32, "index.bin": 16, "nodes-01.bin": 32, "nodes-03.bin": 32}


def _crash_image(log: AccessLog, to: Path) -> Path:
    """The directory as a crash would leave it: files as they are now, no close, no final checkpoint."""
    shutil.copytree(log.path, to)
    return to


def _reopened(path: Path) -> tuple[AccessLog, list[int]]:
    log = AccessLog.open(path)
    sizes = [(path / name).stat().st_size for name in CACHES]
    return log, sizes


class TestCleanReopen:
    def test_reopen_after_close__nothing_rederived(self, tmp_path: Path) -> None:
        """A log closed cleanly reopens from its caches without re-hashing a single entry."""
        entries = write_log(tmp_path, [7, 1, 20])
        with AccessLog.open(tmp_path) as log:
            assert log.recovery == RecoveryReport(28, 0, 0, False)
            assert log.tree_head().root == expected_root(entries)
            assert read_back(log) == entries

    def test_new_directory__empty_log(self, tmp_path: Path) -> None:
        """Opening a directory that does not exist yet creates an empty log."""
        with AccessLog.open(tmp_path / "new") as log:
            assert log.size == 0
            assert log.recovery.entries == 0

    def test_directory_without_caches__every_entry_rederived(self, tmp_path: Path) -> None:
        """A log whose caches and checkpoint are gone (an older layout, say) is rebuilt from its entries."""
        entries = write_log(tmp_path, [5, 6])
        for name in ("leaves.bin", "index.bin", "checkpoint.bin", *(p.name for p in tmp_path.glob("nodes-*"))):
            (tmp_path / name).unlink()
        with AccessLog.open(tmp_path) as log:
            assert log.recovery.entries_rederived == 11
            assert log.tree_head().root == expected_root(entries)
        assert verify_log(tmp_path).entries == 11


class TestCrashAfterCheckpoint:
    def test_tail_after_checkpoint__only_tail_rederived(self, tmp_path: Path) -> None:
        """Entries acknowledged after the last checkpoint are re-hashed on open; earlier ones are not."""
        with AccessLog.open(tmp_path / "live") as log:
            log.append(make_entries(0, 10))
            log.checkpoint()
            log.append(make_entries(10, 4))
            log.append(make_entries(14, 3))
            image = _crash_image(log, tmp_path / "image")
        with AccessLog.open(image) as log:
            assert log.recovery == RecoveryReport(17, 7, 0, False)
            assert log.tree_head().root == expected_root(make_entries(0, 17))
            assert read_back(log) == make_entries(0, 17)
        assert verify_log(image).entries == 17

    def test_garbage_in_caches_past_checkpoint__cut_and_rederived(self, tmp_path: Path) -> None:
        """Cache records written after the checkpoint are not trusted, whatever they hold."""
        with AccessLog.open(tmp_path / "live") as log:
            log.append(make_entries(0, 9))
            log.checkpoint()
            log.append(make_entries(9, 9))
            log.checkpoint()  # the caches are now complete on disk ...
            image = _crash_image(log, tmp_path / "image")
        (image / "checkpoint.bin").unlink()
        write_log(tmp_path / "nine", [9])
        shutil.copy(tmp_path / "nine" / "checkpoint.bin", image)  # ... but only 9 were checkpointed
        for name in CACHES[:3]:
            data = bytearray((image / name).read_bytes())
            start = 9 * RECORD[name] // (2 if name.startswith("nodes") else 1)
            data[start:] = os.urandom(len(data) - start)
            (image / name).write_bytes(bytes(data))
        with AccessLog.open(image) as log:
            assert log.recovery == RecoveryReport(18, 9, 0, False)
            assert log.tree_head().root == expected_root(make_entries(0, 18))
        assert verify_log(image).entries == 18

    def test_checkpoints_happen_in_the_background(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without close or checkpoint(), the caches still become durable as the log grows."""
        monkeypatch.setattr(log_module, "CHECKPOINT_ENTRIES", 8)
        with AccessLog.open(tmp_path) as log:
            for first in range(0, 40, 4):
                log.append(make_entries(first, 4))
            deadline = time.monotonic() + 30
            while read_checkpoint(tmp_path)[0] < 32 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert read_checkpoint(tmp_path)[0] >= 32


class TestDamagedCaches:
    @pytest.mark.parametrize("name", CACHES)
    def test_short_cache__repaired(self, tmp_path: Path, name: str) -> None:
        """A cache cut short (by a crash or by hand) is completed from the entries."""
        entries = write_log(tmp_path, [12, 9])
        with open(tmp_path / name, "r+b") as f:
            f.truncate(RECORD[name] + 5)  # one record and a torn one
        log, _ = _reopened(tmp_path)
        with log:
            assert log.tree_head().root == expected_root(entries)
            assert read_back(log) == entries
        assert verify_log(tmp_path).entries == 21

    @pytest.mark.parametrize("name", CACHES)
    def test_long_cache__cut_back(self, tmp_path: Path, name: str) -> None:
        """Records past the entries (from appends a crash lost) are cut off, not believed."""
        entries = write_log(tmp_path, [12, 9])
        size = (tmp_path / name).stat().st_size
        with open(tmp_path / name, "ab") as f:
            f.write(os.urandom(3 * RECORD[name] + 7))
        log, sizes = _reopened(tmp_path)
        with log:
            assert log.recovery.caches_rebuilt is False
            assert sizes[CACHES.index(name)] == size
            assert log.tree_head().root == expected_root(entries)
        assert verify_log(tmp_path).entries == 21

    @pytest.mark.parametrize("name", ["leaves.bin", "index.bin"])
    def test_garbage_in_last_record__caches_rebuilt(self, tmp_path: Path, name: str) -> None:
        """A last cache record that disagrees with its entry fails the check at open; all caches are rebuilt."""
        entries = write_log(tmp_path, [12, 9])
        data = bytearray((tmp_path / name).read_bytes())
        data[-RECORD[name] :] = os.urandom(RECORD[name])
        (tmp_path / name).write_bytes(bytes(data))
        with AccessLog.open(tmp_path) as log:
            assert log.recovery.caches_rebuilt is True
            assert log.recovery.entries_rederived == 21
            assert log.tree_head().root == expected_root(entries)
        assert verify_log(tmp_path).entries == 21

    def test_garbage_in_middle_of_cache__found_by_verify(self, tmp_path: Path) -> None:
        """Open checks only the edge; a damaged record in the middle is what verify_log is for."""
        write_log(tmp_path, [12, 9])
        data = bytearray((tmp_path / "index.bin").read_bytes())
        data[5 * 16] ^= 1
        (tmp_path / "index.bin").write_bytes(bytes(data))
        with pytest.raises(CorruptionError, match="index record 5 does not match entry 5"):
            verify_log(tmp_path)


class TestDamagedEntries:
    def test_torn_frame_after_checkpoint__truncated_and_reported(self, tmp_path: Path) -> None:
        """A half-written frame (never acknowledged) is cut; the report says how many bytes."""
        entries = write_log(tmp_path, [6])
        torn = b"\xc8\x00\x00\x00\x01\x02\x03\x04" + b'{"agency":"tax'
        with open(tmp_path / "entries.log", "ab") as f:
            f.write(torn)
        with AccessLog.open(tmp_path) as log:
            assert log.recovery == RecoveryReport(6, 0, len(torn), False)
            assert log.tree_head().root == expected_root(entries)
        assert verify_log(tmp_path).entries == 6

    def test_entries_shorter_than_checkpoint__corruption(self, tmp_path: Path) -> None:
        """Losing acknowledged entries is never passed off as a torn tail."""
        write_log(tmp_path, [6])
        size = (tmp_path / "entries.log").stat().st_size
        os.truncate(tmp_path / "entries.log", size - 10)
        with pytest.raises(CorruptionError, match="acknowledged entries"):
            AccessLog.open(tmp_path)
        with pytest.raises(CorruptionError, match="entry 5 fails its checksum"):
            verify_log(tmp_path)

    def test_bad_frame_below_checkpoint_without_caches__corruption(self, tmp_path: Path) -> None:
        """Rebuilding the caches stops at a damaged acknowledged entry instead of truncating there."""
        write_log(tmp_path, [6])
        data = bytearray((tmp_path / "entries.log").read_bytes())
        data[len(data) // 3] ^= 1
        (tmp_path / "entries.log").write_bytes(bytes(data))
        (tmp_path / "leaves.bin").write_bytes(b"")
        size = len(data)
        with pytest.raises(CorruptionError, match="below the checkpoint"):
            AccessLog.open(tmp_path)
        assert (tmp_path / "entries.log").stat().st_size == size  # nothing was cut


@st.composite
def _damage(draw: st.DrawFn) -> tuple[list[int], int, dict[str, int], bytes]:
    """Batch sizes, how many batches were checkpointed, a new length per cache, a torn tail."""
    sizes = draw(st.lists(st.integers(1, 9), min_size=1, max_size=6))
    checkpointed = draw(st.integers(0, len(sizes)))
    lengths = {name: draw(st.integers(0, 80 * RECORD[name])) for name in draw(st.sets(st.sampled_from(CACHES)))}
    torn = draw(st.binary(max_size=40))
    return sizes, checkpointed, lengths, torn


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_damage())
def test_any_crash_image__opens_to_the_acknowledged_entries(
    damage: tuple[list[int], int, dict[str, int], bytes],
) -> None:
    """Whatever a crash does to the caches and the unacknowledged tail, open yields every acknowledged entry."""
    sizes, checkpointed, lengths, torn = damage
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "log"
        entries = make_entries(0, sum(sizes))
        with AccessLog.open(directory) as log:
            done = 0
            for k, size in enumerate(sizes):
                log.append(entries[done : done + size])
                done += size
                if k + 1 == checkpointed:
                    log.checkpoint()
            image = _crash_image(log, Path(tmp) / "image")
        for name, length in lengths.items():
            path = image / name
            data = path.read_bytes() if path.exists() else b""
            path.write_bytes(data[:length] + os.urandom(max(0, length - len(data))))
        with open(image / "entries.log", "ab") as f:
            f.write(torn)
        with AccessLog.open(image) as log:
            assert log.size == len(entries)
            assert log.tree_head().root == expected_root(entries)
        assert verify_log(image).entries == len(entries)


class TestLock:
    def test_second_open_in_same_process__refused(self, tmp_path: Path) -> None:
        """A directory already open cannot be opened again; the error names the holder's pid."""
        with AccessLog.open(tmp_path), pytest.raises(LogLockedError, match=f"already open .*pid {os.getpid()}"):
            AccessLog.open(tmp_path)

    def test_open_in_another_process__refused(self, tmp_path: Path) -> None:
        """Another process gets a clear error while this one holds the log."""
        code = "import sys; from tessera.audit import AccessLog; AccessLog.open(sys.argv[1])"
        with AccessLog.open(tmp_path):
            result = subprocess.run(
                [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False
            )
        assert result.returncode != 0
        assert "LogLockedError" in result.stderr and "already open" in result.stderr

    def test_open_after_close__allowed(self, tmp_path: Path) -> None:
        """Closing releases the directory."""
        with AccessLog.open(tmp_path) as log:
            log.append(make_entries(0, 1))
        with AccessLog.open(tmp_path) as log:
            assert log.size == 1

    def test_failed_open__releases_the_lock(self, tmp_path: Path) -> None:
        """An open that fails (here on corruption) does not leave the directory locked."""
        write_log(tmp_path, [3])
        os.truncate(tmp_path / "entries.log", 10)
        for _ in range(2):
            with pytest.raises(CorruptionError):
                AccessLog.open(tmp_path)
