"""Scores: the sum of live contributions, each traceable to the rule, the event and the time.

A contribution is one score effect of one rule on one event. It counts fully until it
expires, or halves every ``half_life_s`` if its rule decays it. A person's score in a
scheme is the sum of their live contributions, clamped to ``SCORE_MIN..SCORE_MAX``; the
key factors are the (at most four) rules that lowered it most, in the rules' own plain
words, as an adverse-action notice must give them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from tessera.rules.subjects import checked_subject
from tessera.store import Store, rule_cursors, score_contributions

SCORE_MIN, SCORE_MAX = -1000, 1000
KEY_FACTORS_MAX = 4
INSERT_CHUNK = 5_000  # rows per executemany: bounded statements on both backends
ROW_COLUMNS = (
    "subject", "scheme", "points", "half_life_s", "rule_id", "reason_code", "reason_text",
    "event_ref", "at_ns", "expires_at_ns",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Contribution:
    """One rule's score effect on one event for one subject."""

    subject: str
    scheme: str
    points: int
    rule_id: str
    reason_code: str
    reason_text: str
    event_ref: str  # "ledger:<seq>:<row>", or the domain event's id
    at_ns: int
    expires_at_ns: int
    half_life_s: int | None = None

    def value_at(self, now_ns: int) -> float:
        """What it counts for at ``now_ns``: nothing once expired, halved per half-life if it decays."""
        if now_ns >= self.expires_at_ns:
            return 0.0
        if self.half_life_s is None or now_ns <= self.at_ns:
            return float(self.points)
        halves = (now_ns - self.at_ns) / (self.half_life_s * 1e9)
        return float(self.points * 0.5**halves)


@dataclass(frozen=True, slots=True)
class Factor:
    """A reason a score is lower: one rule, how many live events it counted, and how much it took."""

    rule_id: str
    reason_code: str
    text: str
    points: float  # negative: what this rule's live contributions take off the score now
    events: int


@dataclass(frozen=True, slots=True)
class Score:
    """A subject's score in one scheme, with the range it lies in and the factors that lowered it most."""

    subject: str
    scheme: str
    value: int
    minimum: int
    maximum: int
    factors: tuple[Factor, ...]
    live_contributions: int
    as_of_ns: int


def score_of(subject: str, scheme: str, contributions: Sequence[Contribution], now_ns: int) -> Score:
    """The score from a subject's contributions to one scheme (expired ones count for nothing)."""
    total = 0.0
    live = 0
    lowering: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    texts: dict[str, tuple[str, str]] = {}
    for c in contributions:
        value = c.value_at(now_ns)
        if c.expires_at_ns <= now_ns:
            continue
        live += 1
        total += value
        if c.points < 0:
            entry = lowering[c.rule_id]
            entry[0] += value
            entry[1] += 1
            texts[c.rule_id] = (c.reason_code, c.reason_text)
    worst = sorted(lowering.items(), key=lambda item: (item[1][0], item[0]))[:KEY_FACTORS_MAX]
    factors = tuple(
        Factor(rule_id, texts[rule_id][0], texts[rule_id][1], round(points, 2), int(events))
        for rule_id, (points, events) in worst
    )
    value = round(min(max(total, SCORE_MIN), SCORE_MAX))
    return Score(subject, scheme, value, SCORE_MIN, SCORE_MAX, factors, live, now_ns)


class Scores:
    """Score contributions in the store, and the scores computed from them."""

    def __init__(self, store: Store, clock: Callable[[], int] = time.time_ns) -> None:
        self._store = store
        self._clock = clock

    def record_in(self, conn: Connection, contributions: Sequence[Contribution]) -> None:
        """Insert contributions inside the caller's transaction (with the cursor that caused them)."""
        rows = [tuple(getattr(c, name) for name in ROW_COLUMNS) for c in contributions]
        self.record_rows_in(conn, rows)

    @staticmethod
    def record_rows_in(conn: Connection, rows: Sequence[tuple[object, ...]]) -> None:
        """Insert rows in ``ROW_COLUMNS`` order straight through the driver: the engine's hot path."""
        if not rows:
            return
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        marks = ", ".join([mark] * len(ROW_COLUMNS))
        sql = f"INSERT INTO score_contributions ({', '.join(ROW_COLUMNS)}) VALUES ({marks})"
        for start in range(0, len(rows), INSERT_CHUNK):
            conn.exec_driver_sql(sql, list(rows[start : start + INSERT_CHUNK]))

    def contributions_of(self, subject: str, scheme: str | None = None) -> list[Contribution]:
        """Every contribution recorded for a subject (live or not), oldest first."""
        subject = checked_subject(subject)
        query = select(score_contributions).where(score_contributions.c.subject == subject)
        if scheme is not None:
            query = query.where(score_contributions.c.scheme == scheme)
        with self._store.transaction() as conn:
            rows = conn.execute(query.order_by(score_contributions.c.id)).all()
        return [
            Contribution(
                r.subject,
                r.scheme,
                r.points,
                r.rule_id,
                r.reason_code,
                r.reason_text,
                r.event_ref,
                r.at_ns,
                r.expires_at_ns,
                r.half_life_s,
            )
            for r in rows
        ]

    def scores_of(self, subject: str, now_ns: int | None = None) -> list[Score]:
        """The subject's score in every scheme they have live contributions in, by scheme name."""
        now = self._clock() if now_ns is None else now_ns
        by_scheme: dict[str, list[Contribution]] = defaultdict(list)
        for c in self.contributions_of(subject):
            if c.expires_at_ns > now:
                by_scheme[c.scheme].append(c)
        return [score_of(subject, scheme, cs, now) for scheme, cs in sorted(by_scheme.items())]

    def score(self, subject: str, scheme: str, now_ns: int | None = None) -> Score:
        """The subject's score in one scheme (0 with no factors when nothing is live)."""
        now = self._clock() if now_ns is None else now_ns
        return score_of(subject, scheme, self.contributions_of(subject, scheme), now)

    # -- where each event source has been read up to ----------------------------------------

    def cursor(self, source: str) -> int | None:
        """The last position of ``source`` (a ledger journal seq) whose effects are recorded."""
        with self._store.transaction() as conn:
            return conn.scalar(select(rule_cursors.c.position).where(rule_cursors.c.source == source))

    @staticmethod
    def set_cursor_in(conn: Connection, source: str, position: int) -> None:
        """Move a source's cursor inside the transaction that records what its events caused."""
        moved = conn.execute(
            update(rule_cursors).where(rule_cursors.c.source == source).values(position=position)
        ).rowcount
        if not moved:
            conn.execute(insert(rule_cursors).values(source=source, position=position))
