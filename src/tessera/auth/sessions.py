"""Sessions for people who logged in with a passkey: short-lived bearer tokens ``tss_<secret>``.

A person has no API key; they prove themselves with a passkey and get a session token
for the service's own routes (``/v1/me/...``). Tokens live in memory, hashed, and expire
after ``ttl_s``: a restart logs everyone out, which costs a person one more touch of
their authenticator and keeps no bearer secret on disk. ``end_all`` ends a principal's
sessions at once (a re-bound credential, a changed status); it finds them through an
index by principal, so a revocation costs the same with a million sessions open.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "tss_"
TTL_S = 15 * 60
SESSIONS_MAX = 1_000_000  # past this the oldest are dropped: a flood of logins must not exhaust memory


@dataclass(frozen=True, slots=True)
class Session:
    """A session as its holder receives it: the token (shown once) and when it expires."""

    token: str
    principal_id: str
    expires_at: float  # on the sessions' clock (monotonic seconds)


class Sessions:
    """Session tokens by the hash of their secret; safe to share between threads."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._by_hash: dict[bytes, tuple[str, float]] = {}
        self._by_principal: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def issue(self, principal_id: str) -> Session:
        """A new session for ``principal_id``."""
        token = PREFIX + secrets.token_urlsafe(32)
        expires_at = self._clock() + self._ttl_s
        with self._lock:
            if len(self._by_hash) >= SESSIONS_MAX:
                self._drop_expired_or_oldest()
            key = _hash(token)
            self._by_hash[key] = (principal_id, expires_at)
            self._by_principal.setdefault(principal_id, set()).add(key)
        return Session(token, principal_id, expires_at)

    def principal_of(self, token: str) -> str | None:
        """The principal of a live session token; None for an unknown or expired one."""
        if not token.startswith(PREFIX):
            return None
        key = _hash(token)
        found = self._by_hash.get(key)
        if found is None:
            return None
        if found[1] <= self._clock():
            with self._lock:
                self._drop(key)
            return None
        return found[0]

    def end(self, token: str) -> None:
        """Log out: the token stops working at once."""
        with self._lock:
            self._drop(_hash(token))

    def end_all(self, principal_id: str) -> int:
        """End every session of a principal (re-bound passkeys, a status change); returns how many."""
        with self._lock:
            mine = self._by_principal.pop(principal_id, set())
            for key in mine:
                del self._by_hash[key]
        return len(mine)

    def _drop(self, key: bytes) -> None:
        found = self._by_hash.pop(key, None)
        if found is not None:
            keys = self._by_principal[found[0]]
            keys.discard(key)
            if not keys:
                del self._by_principal[found[0]]

    def _drop_expired_or_oldest(self) -> None:
        now = self._clock()
        live = {k: v for k, v in self._by_hash.items() if v[1] > now}
        if len(live) >= SESSIONS_MAX:
            # Dicts keep insertion order: the first tenth are the oldest sessions.
            for key in list(live)[: SESSIONS_MAX // 10]:
                del live[key]
        self._by_hash = live
        self._by_principal = {}
        for key, (principal_id, _) in live.items():
            self._by_principal.setdefault(principal_id, set()).add(key)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
