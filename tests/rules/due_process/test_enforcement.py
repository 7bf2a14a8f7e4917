"""The enforcement index: its answer agrees with a plain reading of the restrictions, at any time."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.rules import _closed
from tessera.rules.basis import Domain
from tessera.rules.due_process.enforcement import ALLOW, Denial, EnforcementIndex

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
    """The next end skips discarded restrictions and open-ended ones, so the sweeper never waits on them."""
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


# -- the answer table (C) on its own, against a dict ------------------------------------------------

KEYS = ("org:a", "100000000004", "org:restricted-999999", "org:" + "x" * 40, "org:zürich", "org:東京", "")


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(("put", "remove", "check")),
            st.one_of(st.sampled_from(KEYS), st.text(max_size=30)),
            st.integers(0, 2 ** len(DOMAINS) - 1),
            st.integers(-5, 30),
            st.integers(-5, 30),
            st.sampled_from([*DOMAINS, "voting"]),
        ),
        max_size=300,
    ),
    now=st.integers(0, 25),
)
def test_the_table_answers_as_a_dict_of_its_puts_would(
    ops: list[tuple[str, str, int, int, int, str]], now: int
) -> None:
    """Keys short and long, ASCII or not, built afresh for each call (equal, never the same object); slots reused."""
    table = _closed.Table(tuple(DOMAINS), ALLOW, lambda: now)
    model: dict[str, tuple[int, int, int, object]] = {}
    for op, key, mask, lo, hi, domain in ops:
        fresh = "".join(list(key))  # an equal str, another object
        if op == "put":
            answer = object()
            table.put(fresh, mask, lo, hi, answer)
            model[key] = (mask, lo, hi, answer)
        elif op == "remove":
            table.remove(fresh)
            model.pop(key, None)
        else:
            got = table.check(fresh, domain)
            if domain not in DOMAINS:
                assert got is None
            elif key not in model or not model[key][0] & (1 << DOMAINS.index(domain)):
                assert got is ALLOW
            else:
                _, start, end, answer = model[key]
                assert got is (answer if start <= now < end else None)
        assert len(table) == len(model)


def test_the_table_grows_and_reuses_deleted_slots_without_losing_a_subject() -> None:
    """The C table grows and reuses deleted slots over 20,000 subjects without losing or mixing one."""
    table = _closed.Table(tuple(DOMAINS), ALLOW, lambda: 0)
    answers = {f"org:s-{i}": object() for i in range(20_000)}
    for rounds in range(3):
        for key, answer in answers.items():
            table.put(key, 1, 0, 1, answer)
        for i, key in enumerate(answers):
            if i % 3 == rounds:
                table.remove(key)
        live = {key for i, key in enumerate(answers) if i % 3 != rounds}
        assert len(table) == len(live)
        for key, answer in answers.items():
            assert table.check("".join(key), DOMAINS[0]) is (answer if key in live else ALLOW)


def test_the_table_refuses_bad_puts() -> None:
    """The C table refuses bad masks and bytes keys, clamps bounds past int64, leaves non-str keys to Python."""
    table = _closed.Table(tuple(DOMAINS), ALLOW)
    with pytest.raises(ValueError, match="mask"):
        table.put("org:a", 1 << len(DOMAINS), 0, 1, ALLOW)
    with pytest.raises(TypeError):
        table.put(b"org:a", 1, 0, 1, ALLOW)  # type: ignore[arg-type]
    assert len(table) == 0
    table.put("org:a", 1, -(2**70), 2**63, "deny")  # bounds past int64 are clamped: "forever"
    assert table.check("org:a", DOMAINS[0]) == "deny"
    assert table.check(42, DOMAINS[0]) is None  # not a str: Python answers


def test_the_table_answers_a_domain_given_as_the_enum_as_its_name() -> None:
    """``Domain.payments`` is the str "payments": the table answers it, not the slower Python path."""
    table = _closed.Table(tuple(DOMAINS), ALLOW)
    table.put("org:a", 1 << DOMAINS.index("payments"), 0, 2**63, "deny")
    assert table.check("org:a", Domain.payments) == "deny" == table.check("org:a", "payments")
    assert table.check("org:a", Domain.travel) is ALLOW and table.check("org:b", Domain.payments) is ALLOW


def test_checks_while_restrictions_come_and_go_on_other_threads() -> None:
    """Readers never crash or see a restriction that was never put, while a writer puts, amends and lifts."""
    index = EnforcementIndex()
    subjects = [f"org:s-{i}" for i in range(50)]
    ever: set[str] = set()
    stop = threading.Event()
    seen: list[str] = []
    errors: list[BaseException] = []

    def write() -> None:
        rng = random.Random(5)
        for n in range(20_000):
            subject = rng.choice(subjects)
            restriction_id = f"r_{n % 400:016x}"
            if rng.random() < 0.4:
                index.discard(restriction_id)
            else:
                ever.add(restriction_id)
                end = time.time_ns() + rng.choice((10**3, 10**9))  # some end while readers read
                domains = rng.sample(DOMAINS, rng.randint(1, 3))
                index.put(subject, domains, Denial(restriction_id, "c", "t", "b", 0, end))
        stop.set()

    def read() -> None:
        rng = random.Random(threading.get_ident())
        try:
            while not stop.is_set():
                decision = index.check(rng.choice(subjects), rng.choice(DOMAINS))
                seen.extend(decision.restriction_ids)
        except BaseException as error:  # handed to the main thread, which asserts there were none
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    write()
    for reader in readers:
        reader.join()
    assert not errors
    assert set(seen) <= ever and seen  # denials were seen, and each was a restriction once put
