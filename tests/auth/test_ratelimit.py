"""Token buckets: a burst, then the steady rate; each caller has its own bucket."""

from __future__ import annotations

import pytest

from tessera.auth import Rate, RateLimiter
from tessera.errors import InvalidInputError, RateLimitedError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_a_refusal_with_the_wait_then_refilled() -> None:
    """A caller gets the burst, then a refusal saying how long to wait; other callers are unaffected, and it refills."""
    clock = Clock()
    limiter = RateLimiter({"lookup": Rate(per_second=2, burst=3)}, clock)
    for _ in range(3):
        limiter.take("lookup", "alice")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("lookup", "alice")
    assert refused.value.retry_after_s == pytest.approx(0.5)
    limiter.take("lookup", "bob")  # another caller is unaffected
    clock.now = 0.5
    limiter.take("lookup", "alice")


def test_refill_never_exceeds_the_burst() -> None:
    """However long a caller was idle, the bucket holds no more than the burst."""
    clock = Clock()
    limiter = RateLimiter({"lookup": Rate(per_second=100, burst=2)}, clock)
    clock.now = 1000.0
    limiter.take("lookup", "a")
    limiter.take("lookup", "a")
    with pytest.raises(RateLimitedError):
        limiter.take("lookup", "a")


@pytest.mark.parametrize(("per_second", "burst"), [(0, 1), (-1, 1), (1, 0.5)])
def test_a_rate_must_be_positive_with_a_burst_of_one_or_more(per_second: float, burst: float) -> None:
    """A rate of zero or less, or a burst below one, is refused."""
    with pytest.raises(InvalidInputError):
        Rate(per_second=per_second, burst=burst)
