"""The enforcement index: its answer agrees with a plain reading of the restrictions, at any time."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.rules.basis import Domain
from tessera.rules.enforcement import ALLOW, Denial, EnforcementIndex

SUBJECTS = ("100000000004", "org:acme", "org:globex")
DOMAINS = [d.value for d in Domain]


@dataclass(frozen=True)
class Drawn:
    subject: str
    domains: frozenset[str]
    start: int
    end: int | None
    kept: bool  # False: discarded after it was put (lifted)


@st.composite
def restrictions(draw: st.DrawFn) -> Drawn:
    start = draw(st.integers(0, 100))
    end = draw(st.one_of(st.none(), st.integers(start + 1, start + 100)))
    domains = draw(st.frozensets(st.sampled_from(DOMAINS), min_size=1))
    return Drawn(draw(st.sampled_from(SUBJECTS)), domains, start, end, draw(st.booleans()))


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


@settings(max_examples=150, deadline=None)
@given(
    drawn=st.lists(restrictions(), max_size=12),
    queries=st.lists(st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(DOMAINS), st.integers(-5, 220)), max_size=40),
)
def test_check_agrees_with_a_naive_reading(drawn: list[Drawn], queries: list[tuple[str, str, int]]) -> None:
    """Denied exactly by the kept restrictions naming the domain whose [start, end) holds the time, in id order."""
    clock = Clock()
    index = EnforcementIndex(clock)
    for i, r in enumerate(drawn):
        clock.now = r.start  # put happens at any time; the answer must not depend on when
        index.put(r.subject, r.domains, Denial(f"r_{i:016x}", "code", "text", "basis", r.start, r.end))
    for i, r in enumerate(drawn):
        if not r.kept:
            index.discard(f"r_{i:016x}")
    for subject, domain, t in queries:  # times in any order: the cached window must follow the clock both ways
        clock.now = t
        expected = tuple(
            f"r_{i:016x}"
            for i, r in enumerate(drawn)
            if r.kept and r.subject == subject and domain in r.domains and r.start <= t < (r.end or 2**63)
        )
        decision = index.check(subject, domain)
        assert decision.restriction_ids == expected
        assert decision.allowed == (not expected)
        if not expected:
            assert decision == ALLOW


def test_next_end_skips_discarded_and_open_ended() -> None:
    clock = Clock()
    index = EnforcementIndex(clock)
    index.put("org:a", ["travel"], Denial("r_1", "c", "t", "b", 0, 50))
    index.put("org:a", ["travel"], Denial("r_2", "c", "t", "b", 0, 80))
    index.put("org:b", ["travel"], Denial("r_3", "c", "t", "b", 0, None))
    assert index.next_end_ns() == 50
    index.discard("r_1")
    assert index.next_end_ns() == 80
    index.discard("r_2")
    assert index.next_end_ns() is None and len(index) == 1
