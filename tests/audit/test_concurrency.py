"""Many threads share one log: appends are group-committed, readers see only durable, provable state."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from tessera.audit import AccessEntry, AccessLog, verify_log
from tessera.errors import InvalidInputError, LedgerFailedError
from tests.audit.entries import expected_root, make_entries, make_entry, read_back
from tests.audit.rfc9162 import verify_consistency, verify_inclusion

THREADS = 8
APPENDS = 12


def _run_threads(work: list[threading.Thread]) -> None:
    for t in work:
        t.start()
    for t in work:
        t.join()


def _appenders(
    log: AccessLog, placed: list[tuple[int, list[AccessEntry]]], errors: list[BaseException]
) -> list[threading.Thread]:
    def appender(worker: int) -> None:
        try:
            for k in range(APPENDS):
                batch = make_entries(1000 * worker + 10 * k, 1 + (worker + k) % 5)
                placed.append((log.append(batch), batch))
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    return [threading.Thread(target=appender, args=(w,)) for w in range(THREADS)]


class TestConcurrentAppends:
    def test_many_threads__every_batch_whole_where_append_said(self, tmp_path: Path) -> None:
        """Each batch lands contiguously at the indexes its append returned; nothing is lost or doubled."""
        placed: list[tuple[int, list[AccessEntry]]] = []
        errors: list[BaseException] = []
        with AccessLog.open(tmp_path) as log:
            _run_threads(_appenders(log, placed, errors))
            assert not errors
            total = sum(len(b) for _, b in placed)
            assert log.size == total
            stored = read_back(log)
            for end, batch in placed:
                assert stored[end - len(batch) : end] == batch
            assert sorted(end for end, _ in placed)[-1] == total
            assert log.tree_head().root == expected_root(stored)
        assert verify_log(tmp_path).entries == total

    def test_concurrent_appends__share_fsyncs(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Batches written while an fsync runs are made durable by the next one: fewer fsyncs than appends."""
        real = os.fdatasync
        calls: list[int] = []

        def slow_fdatasync(fd: int) -> None:
            calls.append(fd)
            time.sleep(0.005)  # a slow disk, so that appends pile up behind each fsync
            real(fd)

        placed: list[tuple[int, list[AccessEntry]]] = []
        errors: list[BaseException] = []
        with AccessLog.open(tmp_path) as log:
            monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
            _run_threads(_appenders(log, placed, errors))
            monkeypatch.setattr(os, "fdatasync", real)
        assert not errors
        assert len(placed) == THREADS * APPENDS
        assert 0 < len(calls) < len(placed)

    def test_readers_during_appends__heads_and_proofs_verify(self, tmp_path: Path) -> None:
        """Tree heads, inclusion and consistency proofs taken mid-append all check against each other."""
        placed: list[tuple[int, list[AccessEntry]]] = []
        errors: list[BaseException] = []
        with AccessLog.open(tmp_path) as log:
            log.append([make_entry(0)])
            writers = _appenders(log, placed, errors)
            done = threading.Event()
            checked = [0]

            def reader() -> None:
                previous = log.tree_head()
                try:
                    while not done.is_set() or checked[0] < 3:
                        head = log.tree_head()
                        assert head.verify(log.public_key)
                        index = head.size // 2
                        leaf = log.leaf_hash_at(index)
                        assert verify_inclusion(
                            index, head.size, leaf, log.inclusion_proof(index, head.size), head.root
                        )
                        proof = log.consistency_proof(previous.size, head.size)
                        assert verify_consistency(previous.size, head.size, previous.root, head.root, proof)
                        assert log.entries_for_subject("person-1", limit=3, before=head.size) is not None
                        previous = head
                        checked[0] += 1
                except BaseException as error:
                    errors.append(error)

            readers = [threading.Thread(target=reader) for _ in range(2)]
            for t in readers:
                t.start()
            _run_threads(writers)
            done.set()
            for t in readers:
                t.join()
        assert not errors
        assert checked[0] >= 6


class TestFailuresAndClose:
    def test_failed_fsync__log_refuses_until_reopened(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """After a failed fsync nothing is acknowledged any more; reopening recovers a consistent log."""
        with AccessLog.open(tmp_path) as log:
            log.append(make_entries(0, 3))

            def broken(fd: int) -> None:
                raise OSError(errno.EIO, "I/O error")

            monkeypatch.setattr(os, "fdatasync", broken)
            with pytest.raises(LedgerFailedError, match="I/O error"):
                log.append(make_entries(3, 2))
            with pytest.raises(LedgerFailedError, match="failed earlier"):
                log.append(make_entries(5, 1))
            with pytest.raises(LedgerFailedError):
                log.tree_head()
            monkeypatch.undo()
        with AccessLog.open(tmp_path) as log:
            assert log.size in (3, 5)  # the unacknowledged batch may or may not have reached the disk
            assert log.tree_head().root == expected_root(read_back(log))
            size = log.size
        assert verify_log(tmp_path).entries == size

    def test_closed_log__calls_refused(self, tmp_path: Path) -> None:
        """Using a closed log is a caller bug, reported as such; closing twice is harmless."""
        log = AccessLog.open(tmp_path)
        log.append([make_entry(0)])
        log.close()
        log.close()
        for call in (
            lambda: log.append([make_entry(1)]),
            log.tree_head,
            lambda: log.inclusion_proof(0),
            lambda: log.entries_for_subject("person-7"),
            lambda: log.entry(0),
            log.checkpoint,
        ):
            with pytest.raises(InvalidInputError, match=r"^log: .* is closed"):
                call()
