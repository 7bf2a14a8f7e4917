"""Events agencies submit for the rules: checked against their type, kept, and scored exactly once.

A lender reports ``loan.repaid``, a tax office ``tax.filed_late``, a court
``court.judgment_unpaid``: only the agencies an event type names in ``reported_by`` may
report it (a rule on a court judgment lowers a credit score; a tax office must not be able
to invent one). Each event carries the source's own id
for it, whom it is about (a Tessera number of a registered person, or ``org:<id>``), when
it happened, and exactly the fields its type declares (a record as a nested object). A
batch is checked whole before anything is kept, so a bad event 900 keeps nothing; then it
is stored in one transaction. An event whose (source, id) is on record already is a retry:
answered ``duplicate`` and not scored again.

The rule engine runs over the new events as one columnar batch and commits their effects
with the ``events`` cursor (the highest ``seq`` scored), so after a crash between the two
the next start scores exactly the events not yet scored (``catch_up``); if the engine
raised on a batch, the next submission scores that batch first. ``ledger.transfer``
events come only from the ledger's own feed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Row, insert, select

from tessera.auth import Principal
from tessera.errors import BatchSizeError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.limits import ID_LIMIT
from tessera.rules.categories import EventField, EventType, EventTypes, FieldType
from tessera.rules.scoring.engine import RuleEngine
from tessera.rules.subjects import checked_subject, require_registered
from tessera.store import EVENT_ID_MAX, Store, rule_events
from tessera.text import checked_visible

log = logging.getLogger(__name__)

EVENTS_SOURCE = "events"  # the engine's cursor over rule_events.seq
EVENTS_BATCH_MAX = 1000
EVENT_TEXT_MAX = 200  # a text field's value
# fromisoformat also reads 20240101 and week dates (2024-W01-1); a date field is YYYY-MM-DD only.
_ISO_DATE_CHARS = len("YYYY-MM-DD")
CLOCK_SKEW_NS = 300 * 10**9  # an event may be stamped at most five minutes ahead of this clock
CATCH_UP_CHUNK = 10_000
ATTEMPTS_MAX = 3  # a kept run that fails to score this often is skipped (logged), not retried forever
FEED_ONLY = frozenset({"ledger.transfer"})
_EVENT_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:/-]{{0,{EVENT_ID_MAX - 1}}}")
_EPOCH = dt.date(1970, 1, 1)


EventStatus = Literal["accepted", "duplicate"]


@dataclass(frozen=True, slots=True)
class Submitted:
    """What became of a batch: ``accepted`` or ``duplicate`` per event, in order, and the rule firings."""

    statuses: tuple[EventStatus, ...]
    firings: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch checked whole and not yet kept (``EventIntake.prepare``)."""

    source: str  # the reporter's principal id: an event id is unique per source
    type: EventType
    events: tuple[_Checked, ...]
    at_ns: int  # when it was received


@dataclass(frozen=True, slots=True)
class _Checked:
    event_id: str
    subject: str
    at_ns: int
    fields: dict[str, object]  # as received (nested), to keep
    values: dict[str, object]  # leaf path -> value as the compiled rules read it (a date as its day number)


class EventIntake:
    """``submit`` batches of one event type; ``catch_up`` at start scores what a crash left unscored."""

    def __init__(
        self, store: Store, types: EventTypes, engine: RuleEngine, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self._store = store
        self._types = types
        self._engine = engine
        self._clock = clock
        # One submission at a time: seqs are scored in order, so one cursor says what is done.
        self._lock = threading.Lock()
        self._scored_through: int | None = None  # the last seq handed to the engine; None: read its cursor
        self._failures: dict[int, int] = {}  # first seq of a kept run -> failed attempts to score it

    def submit(self, reporter: Principal, event_type: object, events: Sequence[Mapping[str, object]]) -> Submitted:
        """Check, keep and score a batch of ``event_type`` events that ``reporter`` (an agency's principal) sends."""
        return self.keep(self.prepare(reporter, event_type, events))

    def prepare(self, reporter: Principal, event_type: object, events: Sequence[Mapping[str, object]]) -> Prepared:
        """Check a batch whole, keeping nothing yet (the API logs the access in between)."""
        t = self._submittable(event_type)
        if reporter.agency not in t.reported_by:
            # A tax office cannot report a court judgment: a rule on it lowers a credit score.
            agencies = ", ".join(t.reported_by) or "none (it comes from inside Tessera)"
            raise ForbiddenError(f"agency {reporter.agency!r:.60} may not report {t.name}; reported by: {agencies}")
        if not isinstance(events, Sequence) or isinstance(events, str) or not 1 <= len(events) <= EVENTS_BATCH_MAX:
            raise BatchSizeError("events", f"must list 1-{EVENTS_BATCH_MAX} events")
        now = self._clock()
        checked = tuple(_checked_event(t, e, f"events[{i}]", now) for i, e in enumerate(events))
        first: dict[str, int] = {}
        for i, c in enumerate(checked):
            if c.event_id in first:
                raise InvalidInputError(f"events[{i}].id", f"repeats events[{first[c.event_id]}].id")
            first[c.event_id] = i
        with self._store.transaction() as conn:  # persons are never deleted: checked once, before any log entry
            require_registered(conn, [(f"events[{i}].subject", c.subject) for i, c in enumerate(checked)])
        return Prepared(reporter.id, t, checked, now)

    def keep(self, batch: Prepared) -> Submitted:
        """Store a prepared batch's new events in one transaction, then score them; retries are ``duplicate``."""
        source, checked, ids = batch.source, batch.events, [c.event_id for c in batch.events]
        with self._lock:
            with self._store.transaction(write=True) as conn:
                mine = rule_events.c.source == source
                known = set(conn.scalars(select(rule_events.c.event_id).where(mine, rule_events.c.event_id.in_(ids))))
                fresh = [c for c in checked if c.event_id not in known]
                if fresh:
                    submission = secrets.token_hex(8)
                    rows = [_row(source, batch.type.name, c, batch.at_ns, submission) for c in fresh]
                    conn.execute(insert(rule_events), rows)
                    new_ids = [c.event_id for c in fresh]
                    query = select(rule_events.c.event_id, rule_events.c.seq).where(
                        mine, rule_events.c.event_id.in_(new_ids)
                    )
                    seqs: dict[str, int] = {event_id: seq for event_id, seq in conn.execute(query)}
            firings = 0
            if fresh:
                first = min(seqs.values())
                # Kept earlier but not scored (the engine raised then): scored first, in seq order.
                self._score_kept(before=first)
                firings = self._score(batch.type, [(seqs[c.event_id], c) for c in fresh])
        return Submitted(tuple("duplicate" if c.event_id in known else "accepted" for c in checked), firings)

    def catch_up(self) -> int:
        """Score the kept events after the ``events`` cursor (a crash between keeping and scoring); returns them."""
        with self._lock:
            self._scored_through = None  # from the cursor on record
            try:
                return self._score_kept()
            except Exception:  # the service still starts; the next submission tries these again
                log.exception("scoring the kept events after the events cursor failed")
                return 0

    def _score_kept(self, before: int | None = None) -> int:
        """Score the kept events after the last one scored (and before ``before``), one submission at a time."""
        if self._scored_through is None:
            self._scored_through = self._engine.scores.cursor(EVENTS_SOURCE) or 0
        done = 0
        while before is None or self._scored_through < before - 1:
            query = select(rule_events).where(rule_events.c.seq > self._scored_through)
            if before is not None:
                query = query.where(rule_events.c.seq < before)
            with self._store.transaction() as conn:
                rows = conn.execute(query.order_by(rule_events.c.seq).limit(CATCH_UP_CHUNK)).all()
            if not rows:
                break
            start = 0
            for end in range(1, len(rows) + 1):  # each submission on its own, as it was first scored
                if end == len(rows) or _submission(rows[end]) != _submission(rows[start]):
                    self._score_run(rows[start:end])
                    start = end
            done += len(rows)
        return done

    def _score_run(self, run: Sequence[Row[Any]]) -> None:
        """Score kept events; a run that fails ``ATTEMPTS_MAX`` times is skipped, not left to block all after it."""
        try:
            self._score_stored(run)
        except Exception:
            if self._scored_through is not None and self._scored_through >= run[-1].seq:
                raise  # the engine took them; only its commit failed, which it retries with the next
            first = run[0].seq
            self._failures[first] = self._failures.get(first, 0) + 1
            if self._failures[first] < ATTEMPTS_MAX:
                raise
            log.exception(
                "kept events %d-%d failed to score %d times: skipped, not scored", first, run[-1].seq, ATTEMPTS_MAX
            )
            self._skip(run[-1].seq)

    def _submittable(self, event_type: object) -> EventType:
        if not isinstance(event_type, str):
            raise InvalidInputError("type", "must name a registered event type, e.g. 'loan.repaid'")
        if event_type in FEED_ONLY:
            raise InvalidInputError("type", f"{event_type} events come from the ledger's own feed, not from outside")
        if event_type not in self._types:
            raise NotFoundError("type", f"no event type {event_type!r:.80} is registered")
        return self._types.get(event_type)

    def _score_stored(self, rows: Sequence[Row[Any]]) -> None:
        name = rows[0].type
        if name not in self._types:
            log.error("kept events of type %s, which is no longer registered, are not scored", name)
            self._skip(rows[-1].seq)
            return
        t = self._types.get(name)
        try:
            batch = [(r.seq, _checked_event(t, _stored(r), f"rule_events[{r.seq}]", None)) for r in rows]
        except InvalidInputError as error:  # the type's fields changed since they were kept
            log.error("kept %s events no longer fit their type (%s); they are not scored", name, error)
            self._skip(rows[-1].seq)
            return
        self._score(t, batch)

    def _skip(self, seq: int) -> None:
        self._engine.advance(EVENTS_SOURCE, seq)
        self._scored_through = seq

    def _score(self, t: EventType, batch: Sequence[tuple[int, _Checked]]) -> int:
        """Evaluate the rules over the batch as columns; the effects commit with the cursor at its last seq."""
        leaves = t.leaf_fields()
        columns = {path: _column([c.values[path] for _, c in batch], leaf.type) for path, leaf in leaves.items()}
        seqs = [seq for seq, _ in batch]
        subjects = [c.subject for _, c in batch]
        try:
            firings = self._engine.process(
                t.name,
                columns,
                len(batch),
                subjects=lambda rows: [subjects[i] for i in rows.tolist()],
                times=np.array([c.at_ns for _, c in batch], dtype=np.int64),
                refs=lambda rows: [f"events:{seqs[0]}:{seqs[i]}" for i in rows],  # batch, then event: as the ledger's
                cursor=(EVENTS_SOURCE, seqs[-1]),
            )
        except Exception:
            if self._engine.accepted.get(EVENTS_SOURCE, 0) >= seqs[-1]:
                self._scored_through = seqs[-1]  # taken: only its commit failed, which the engine retries
            raise
        self._scored_through = seqs[-1]
        return firings


def _submission(row: Row[Any]) -> str:
    return str(row.submission)


def _stored(row: Row[Any]) -> dict[str, object]:
    return {"id": row.event_id, "subject": row.subject, "at_ns": row.at_ns, "fields": json.loads(row.fields)}


def _row(source: str, type_name: str, c: _Checked, now: int, submission: str) -> dict[str, object]:
    return {
        "submission": submission,
        "source": source,
        "event_id": c.event_id,
        "type": type_name,
        "subject": c.subject,
        "at_ns": c.at_ns,
        "fields": json.dumps(c.fields, sort_keys=True, ensure_ascii=False),
        "received_at_ns": now,
    }


def _checked_event(t: EventType, event: object, where: str, now: int | None) -> _Checked:
    """One event, checked whole; ``now`` None skips the clock check (an event kept earlier)."""
    if not isinstance(event, Mapping):
        raise InvalidInputError(where, "must be an object with id, subject, at_ns and fields")
    unknown = set(event) - {"id", "subject", "at_ns", "fields"}
    if unknown:
        raise InvalidInputError(f"{where}.{sorted(map(str, unknown))[0]}", "is not a key of an event")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise InvalidInputError(f"{where}.id", f"the source's id for the event: 1-{EVENT_ID_MAX} of A-Z a-z 0-9 ._:/-")
    subject = checked_subject(event.get("subject"), f"{where}.subject")
    at_ns = event.get("at_ns")
    if type(at_ns) is not int or not 0 < at_ns < ID_LIMIT:
        raise InvalidInputError(f"{where}.at_ns", "when it happened, in nanoseconds since 1970 (UTC)")
    if now is not None and at_ns > now + CLOCK_SKEW_NS:
        raise InvalidInputError(f"{where}.at_ns", "is in the future")
    fields = event.get("fields")
    values: dict[str, object] = {}
    _checked_fields(t.fields, fields, f"{where}.fields", "", values)
    return _Checked(event_id, subject, at_ns, dict(fields), values)  # type: ignore[arg-type]


def _checked_fields(
    declared: Sequence[EventField], given: object, where: str, prefix: str, values: dict[str, object]
) -> None:
    """Exactly the declared fields, each of its type; records as nested objects, read into ``values`` by path."""
    if not isinstance(given, Mapping):
        raise InvalidInputError(where, f"must be an object of {', '.join(f.name for f in declared)}")
    names = {f.name for f in declared}
    for key in given:
        if key not in names:
            raise InvalidInputError(f"{where}.{key}", "is not a field of the event type")
    for f in declared:
        if f.name not in given:
            raise InvalidInputError(f"{where}.{f.name}", "missing: every declared field is given")
        value = given[f.name]
        if f.record is not None:
            _checked_fields(f.record.fields, value, f"{where}.{f.name}", f"{prefix}{f.name}.", values)
        else:
            values[prefix + f.name] = _checked_value(value, f.type, f"{where}.{f.name}")


def _checked_value(value: object, field_type: FieldType, where: str) -> object:
    if field_type in (FieldType.integer, FieldType.timestamp):
        if type(value) is not int or not -ID_LIMIT <= value < ID_LIMIT:
            raise InvalidInputError(where, "must be a whole number (64-bit)")
        if field_type is FieldType.timestamp and value < 0:
            raise InvalidInputError(where, "nanoseconds since 1970 (UTC), 0 or more")
        return value
    if field_type is FieldType.number:
        if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
            raise InvalidInputError(where, "must be a finite number")
        return float(value)  # type: ignore[arg-type]
    if field_type is FieldType.boolean:
        if type(value) is not bool:
            raise InvalidInputError(where, "must be true or false")
        return value
    if field_type is FieldType.text:
        if not isinstance(value, str) or len(value) > EVENT_TEXT_MAX:
            raise InvalidInputError(where, f"must be text of at most {EVENT_TEXT_MAX} characters")
        # Kept as sent, but nothing hidden in it: a rule compares it with the rule's own text,
        # and "casino" with a zero-width space inside would differ where no reader sees why.
        # A lone surrogate (JSON allows one, UTF-8 cannot store it) is refused here too.
        return checked_visible(value, where)
    if field_type is FieldType.date:
        try:
            day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == _ISO_DATE_CHARS else None
        except ValueError:
            day = None
        if day is None:
            raise InvalidInputError(where, "must be a date, YYYY-MM-DD")
        return (day - _EPOCH).days
    raise InvalidInputError(where, f"a {field_type.value} field cannot be given")


def _column(values: list[object], field_type: FieldType) -> npt.NDArray[np.generic]:
    if field_type is FieldType.number:
        return np.array(values, dtype=np.float64)
    if field_type is FieldType.boolean:
        return np.array(values, dtype=np.bool_)
    if field_type is FieldType.text:
        return np.array(values, dtype=np.str_)
    return np.array(values, dtype=np.int64)
