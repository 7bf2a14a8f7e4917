"""Per-principal token buckets: a steady rate with a burst allowance, in memory.

One process serves the API, so the buckets live in memory; a restart forgives everyone,
which is the safe direction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tessera.errors import InvalidInputError, RateLimitedError

BUCKETS_MAX = 100_000  # past this, idle buckets are dropped so memory stays bounded


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` sustained, up to ``burst`` at once."""

    per_second: float
    burst: float

    def __post_init__(self) -> None:
        if not self.per_second > 0:
            raise InvalidInputError("per_second", "must be positive")
        if not self.burst >= 1:
            raise InvalidInputError("burst", "must be at least 1")


class RateLimiter:
    """Token buckets keyed by (kind, caller); ``take`` raises RateLimitedError when one is empty."""

    def __init__(self, rates: dict[str, Rate], clock: Callable[[], float] = time.monotonic) -> None:
        self._rates = rates
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, kind: str, key: str, cost: float = 1.0) -> None:
        rate = self._rates[kind]
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get((kind, key), (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - then) * rate.per_second)
            if tokens < cost:
                wait = (cost - tokens) / rate.per_second
                raise RateLimitedError(f"too many {kind} calls; retry in {wait:.2f} s", retry_after_s=wait)
            if len(self._buckets) >= BUCKETS_MAX:
                self._drop_full(now)
            self._buckets[(kind, key)] = (tokens - cost, now)

    def _drop_full(self, now: float) -> None:
        """Forget buckets that have refilled: they hold no state worth keeping."""
        for bucket_key, (tokens, then) in list(self._buckets.items()):
            rate = self._rates[bucket_key[0]]
            if tokens + (now - then) * rate.per_second >= rate.burst:
                del self._buckets[bucket_key]
