"""Passkey sessions: issued, expired, ended one at a time or all of a principal's at once."""

from __future__ import annotations

from tessera.auth import Sessions


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_end_all_ends_only_that_principals_sessions() -> None:
    """A status change or a re-bound passkey ends every session of one person, and no one else's."""
    sessions = Sessions()
    mine = [sessions.issue("p_a").token for _ in range(3)]
    theirs = sessions.issue("p_b").token
    assert sessions.end_all("p_a") == 3
    assert [sessions.principal_of(t) for t in mine] == [None, None, None]
    assert sessions.principal_of(theirs) == "p_b"
    assert sessions.end_all("p_a") == 0


def test_the_index_by_principal_keeps_step_with_logouts_and_expiries() -> None:
    """A session ended or expired is gone from the index too: end_all counts only what was still there."""
    clock = FakeClock()
    sessions = Sessions(ttl_s=10, clock=clock)
    ended, expiring = sessions.issue("p_a").token, sessions.issue("p_a").token
    sessions.end(ended)
    clock.now += 5
    live = sessions.issue("p_a").token
    clock.now += 6
    assert sessions.principal_of(expiring) is None  # expired: dropped on sight
    assert sessions.principal_of(live) == "p_a"
    assert sessions.end_all("p_a") == 1
    assert sessions.principal_of(live) is None
