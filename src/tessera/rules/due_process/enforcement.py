"""The enforcement point: may this subject act in this domain now? Answered from memory.

Services that enforce (a border post, a procurement portal, a licensing desk) ask
``check(subject, domain)`` and get a ``Decision``: allowed, or denied with the restriction
ids and reasons. The index holds only restrictions in force (``Restrictions`` keeps it in
step with the store on every change). A restriction past its end stops closing anything
at once, whether or not the expiry sweep has run yet.

A check is first put to ``_closed.Table`` (C): a subject's closed domains, its answer and
the time window the answer holds in, one cache line each, which answers nearly every check
alone; only a subject with several restrictions, or a clock past its answer's window, is
answered here in Python from the per-domain closures, which stay the source of truth.

``tessera.rules.check`` answers from the index installed by the running service
(``install``); without one it raises ``EnforcementClosedError`` rather than allow by default.
"""

from __future__ import annotations

import gc
import heapq
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tessera.errors import EnforcementClosedError, InvalidInputError
from tessera.limits import ID_LIMIT
from tessera.rules import _closed
from tessera.rules.basis import Domain

FOREVER = ID_LIMIT  # past any nanosecond timestamp (all are below it): an open end
BULK_MIN = 10_000  # restrictions put at once, past which the load runs with the cyclic collector off
_DOMAINS = frozenset(d.value for d in Domain)
_ORDINAL = {d.value: i for i, d in enumerate(Domain)}
_ASK_PYTHON = (1, 0)  # a table window no clock is in: the subject's answer depends on the domain

Clock = Callable[[], int]


@dataclass(frozen=True, slots=True)
class Denial:
    """One restriction that closes the domain: its id, why, under which basis, and until when."""

    restriction_id: str
    reason_code: str
    reason_text: str
    basis_id: str
    start_ns: int
    end_ns: int | None  # None: open-ended (a court order)


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed, or denied by one or more restrictions (ordered by id)."""

    allowed: bool
    denials: tuple[Denial, ...] = ()

    @property
    def restriction_ids(self) -> tuple[str, ...]:
        return tuple(d.restriction_id for d in self.denials)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f"{d.reason_code}: {d.reason_text}" for d in self.denials)


ALLOW = Decision(True)


class _Closure:
    """What one subject's domain answers while the clock is in ``[lo, hi)``; rebuilt outside it."""

    __slots__ = ("decision", "denials", "hi", "lo")

    def __init__(self, denials: tuple[Denial, ...], now: int, decision: Decision | None = None) -> None:
        self.denials = denials
        if len(denials) == 1:  # the common case, cheap: one restriction, its decision shared by its domains
            (d,) = denials
            end = FOREVER if d.end_ns is None else d.end_ns
            if now < d.start_ns:
                self.decision, self.lo, self.hi = ALLOW, -1, d.start_ns
            elif now < end:
                self.decision, self.lo, self.hi = decision or Decision(False, denials), d.start_ns, end
            else:
                self.decision, self.lo, self.hi = ALLOW, end, FOREVER
            return
        live = tuple(d for d in denials if d.start_ns <= now < (FOREVER if d.end_ns is None else d.end_ns))
        self.decision = Decision(False, live) if live else ALLOW
        bounds = {d.start_ns for d in denials} | {d.end_ns for d in denials if d.end_ns is not None}
        self.lo = max((b for b in bounds if b <= now), default=-1)
        self.hi = min((b for b in bounds if b > now), default=FOREVER)


class EnforcementIndex:
    """Restrictions in force, by subject and domain. Reads take no lock; writes replace a subject's entry whole."""

    def __init__(self, clock: Clock = time.time_ns) -> None:
        self._clock = clock
        # Per subject, one slot per domain (by ordinal): a list index, not a second hash lookup.
        self._closed: dict[str, list[_Closure | None]] = {}
        self._entries: dict[str, tuple[str, frozenset[str], Denial]] = {}  # restriction id -> subject, domains
        self._ids_by_subject: dict[str, set[str]] = {}
        self._ends: list[tuple[int, str]] = []  # a heap of (end_ns, id), for the expiry sweep
        self._lock = threading.Lock()
        self._table: _closed.Table[Decision] = _closed.Table(
            tuple(_ORDINAL), ALLOW, None if clock is time.time_ns else clock
        )

    def check(self, subject: str, domain: str) -> Decision:
        """Allowed, or denied with the restrictions in force now. ``subject`` is taken as given (no check digit)."""
        found = self._table.check(subject, domain)
        return found if found is not None else self._check_slowly(subject, domain)

    def _check_slowly(self, subject: str, domain: str) -> Decision:
        """The answer from the per-domain closures, for what the table leaves to Python (or refuses)."""
        closures = self._closed.get(subject)
        if closures is None:
            if domain in _DOMAINS:
                return ALLOW
            raise _unknown_domain(domain)
        slot = _ORDINAL.get(domain)
        if slot is None:
            raise _unknown_domain(domain)
        found = closures[slot]
        if found is None:
            return ALLOW
        now = self._clock()
        if found.lo <= now < found.hi:
            return found.decision
        # The clock crossed a start or an end: answer afresh, and keep the answer for next time.
        fresh = _Closure(found.denials, now)
        closures[slot] = fresh
        with self._lock:
            # Not rebuilt meanwhile (so this answer is current), and one restriction: one answer for every domain.
            if self._closed.get(subject) is closures and len(self._ids_by_subject.get(subject, ())) == 1:
                self._table.put(str(subject), _mask(closures), fresh.lo, fresh.hi, fresh.decision)
        return fresh.decision

    def put(self, subject: str, domains: Iterable[Domain | str], denial: Denial) -> None:
        """Index a restriction in force (or replace it, after an amendment)."""
        self.put_many([(subject, domains, denial)])

    def put_many(self, items: Iterable[tuple[str, Iterable[Domain | str], Denial]]) -> None:
        """Index many restrictions at once (loading at start): each subject is rebuilt once."""
        batch = list(items)
        if len(batch) < BULK_MIN:
            self._put_many(batch)
            return
        # Millions of small objects: the cyclic collector would rescan them all, again and again,
        # while they are made (3x the load time), and at every later full collection (a long
        # pause for every request). None of them forms a cycle, so they are made with it off and
        # then frozen out of its sight.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._put_many(batch)
        finally:
            gc.freeze()
            if enabled:
                gc.enable()

    def _put_many(self, items: list[tuple[str, Iterable[Domain | str], Denial]]) -> None:
        with self._lock:
            touched: set[str] = set()
            for subject, domains, denial in items:
                closed = frozenset(str(d) for d in domains)
                unknown = closed - _DOMAINS
                if unknown:
                    raise _unknown_domain(sorted(unknown)[0])
                previous = self._entries.get(denial.restriction_id)
                if previous is not None and previous[0] != subject:
                    self._forget(denial.restriction_id, previous[0])
                    touched.add(previous[0])
                self._entries[denial.restriction_id] = (subject, closed, denial)
                self._ids_by_subject.setdefault(subject, set()).add(denial.restriction_id)
                if denial.end_ns is not None:
                    heapq.heappush(self._ends, (denial.end_ns, denial.restriction_id))
                touched.add(subject)
            now = self._clock()
            for subject in touched:
                self._rebuild(subject, now)

    def discard(self, restriction_id: str) -> None:
        """Forget a restriction that no longer closes anything (lifted, expired)."""
        with self._lock:
            entry = self._entries.pop(restriction_id, None)
            if entry is None:
                return
            self._forget(restriction_id, entry[0])
            self._rebuild(entry[0], self._clock())

    def _forget(self, restriction_id: str, subject: str) -> None:
        ids = self._ids_by_subject.get(subject, set())
        ids.discard(restriction_id)
        if not ids:
            self._ids_by_subject.pop(subject, None)

    def _rebuild(self, subject: str, now: int) -> None:
        ids = self._ids_by_subject.get(subject)
        if not ids:
            self._closed.pop(subject, None)
            self._table.remove(str(subject))  # str(): the table keys exact str only
            return
        closures: list[_Closure | None] = [None] * len(_ORDINAL)
        if len(ids) == 1:
            (restriction_id,) = ids
            _, domains, denial = self._entries[restriction_id]
            shared = _Closure((denial,), now, Decision(False, (denial,)))  # immutable once made: shared by domain
            for d in domains:
                closures[_ORDINAL[d]] = shared
            window = shared.lo, shared.hi, shared.decision
        else:
            by_domain: dict[str, list[Denial]] = {}
            for restriction_id in sorted(ids):
                _, domains, denial = self._entries[restriction_id]
                for d in domains:
                    by_domain.setdefault(d, []).append(denial)
            for d, denials in by_domain.items():
                closures[_ORDINAL[d]] = _Closure(tuple(denials), now)
            window = (*_ASK_PYTHON, ALLOW)
        # A new list, swapped in whole: a reader sees the old one or the new one, never half of either.
        self._closed[subject] = closures
        self._table.put(str(subject), _mask(closures), *window)

    def next_end_ns(self) -> int | None:
        """The earliest end among restrictions in force, for the sweep to wake at."""
        with self._lock:
            while self._ends:
                end_ns, restriction_id = self._ends[0]
                entry = self._entries.get(restriction_id)
                if entry is not None and entry[2].end_ns == end_ns:
                    return end_ns
                heapq.heappop(self._ends)  # lifted, or amended to another end since
            return None

    def ids(self) -> set[str]:
        """The ids of every indexed restriction."""
        with self._lock:
            return set(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _mask(closures: list[_Closure | None]) -> int:
    """The table's bits for the domains a subject has closures in."""
    return sum(1 << slot for slot, closure in enumerate(closures) if closure is not None)


def _unknown_domain(domain: object) -> InvalidInputError:
    known = ", ".join(sorted(_DOMAINS))
    return InvalidInputError("domain", f"unknown domain {domain!r:.40}; known: {known}")


_installed: list[EnforcementIndex] = []  # at most one: the index ``check`` answers from


def install_index(index: EnforcementIndex) -> None:
    """Make ``index`` the one ``check`` answers from (the running service installs its own)."""
    _installed[:] = [index]


def uninstall_index(index: EnforcementIndex) -> None:
    """Remove ``index`` if it is the installed one (a later service's index stays)."""
    if _installed and _installed[0] is index:
        _installed.clear()


def check(subject: str, domain: str) -> Decision:
    """Whether ``subject`` may act in ``domain`` now, from this process's open enforcement index."""
    if not _installed:
        raise EnforcementClosedError(
            "no enforcement index is open in this process: open the service (tessera.service.Services) "
            "or install one with tessera.rules.install_index"
        )
    index = _installed[0]
    found = index._table.check(subject, domain)  # EnforcementIndex.check, inlined: a call is 1/10 of a check
    return found if found is not None else index._check_slowly(subject, domain)
