"""``Store.exclusive``: a lock for a long task, one holder at a time across threads and processes, lost with it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tessera.errors import ConflictError, InvalidInputError
from tessera.store import Store

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30  # a bound on waiting for the child, so that a broken test fails instead of hanging


def _busy() -> ConflictError:
    return ConflictError("name", "held by another")


def _taken(store: Store, name: str) -> bool:
    """Whether another holder has ``name`` now (we could not take it)."""
    try:
        with store.exclusive(name, _busy):
            return False
    except ConflictError:
        return True


def test_a_second_holder_is_refused_until_the_first_lets_go(store: Store) -> None:
    """Held by one thread, the lock is busy for another; another name is free; let go, it is free again."""
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with store.exclusive("cycle-disbursement-1", _busy):
            held.set()
            release.wait(WAIT_S)
        done.set()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(WAIT_S)
        assert _taken(store, "cycle-disbursement-1")
        assert not _taken(store, "cycle-disbursement-2")
    finally:
        release.set()
        thread.join(WAIT_S)
    assert done.is_set() and not _taken(store, "cycle-disbursement-1")


def test_an_error_inside_lets_the_lock_go(store: Store) -> None:
    """A task that raises leaves the lock free for the next."""
    with pytest.raises(RuntimeError), store.exclusive("task", _busy):
        raise RuntimeError("boom")
    assert not _taken(store, "task")


@pytest.mark.parametrize("name", ["", "Upper", "../escape", "a" * 101, 7])
def test_a_bad_name_is_refused(store: Store, name: object) -> None:
    """A lock's name is lowercase letters, digits and . _ - : it names a file on SQLite."""
    with pytest.raises(InvalidInputError, match=r"^name: "), store.exclusive(name, _busy):  # type: ignore[arg-type]
        pass


def test_a_holder_killed_leaves_no_stale_lock(store: Store) -> None:
    """A process SIGKILLed while it holds the lock loses it: the next caller takes it without waiting out a lease."""
    command = [sys.executable, "-m", "tests.store.lock_holder", store.url_redacted, "killed-task"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert _taken(store, "killed-task")
        child.kill()
        child.wait(WAIT_S)
    deadline = time.monotonic() + WAIT_S  # PostgreSQL ends the session once it sees the socket close
    while _taken(store, "killed-task") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _taken(store, "killed-task")
