"""The active persons as a cycle reads them, kept as columns between previews, patched from the store's change log.

A preview reads every active person (number, principal, access-log subject, birth day, sex).
Scanning ``persons`` costs about a microsecond of SQLite's CPU a person (10 s at ten
million), so ``ActivePersonsSnapshot`` keeps the columns in memory, sorted by number and
read-only, and on each read asks the store's ``person_changes`` log (migration 0028: written
by triggers on ``persons`` and on ``principals``' subject, so that no writer can leave it
behind) what changed after the sequence number it was taken at. It re-reads only those
persons and splices them in (new arrays: a column already handed out never changes), or
scans afresh when the log says more than ``REBUILD_FRACTION`` of the persons changed, or
when the log was emptied or pruned past it. It is kept in memory only (about 140 bytes a
person): a restarted process scans once, at its first preview.

``scan_active_persons`` is that scan: one block of fixed-width lines parsed with numpy.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select, text

from tessera.store import Store, fixed_lines, line_block, person_changes

# number, principal id, access-log subject, birth day (days since 1970-01-01), sex: one row a person, by number
PersonColumns = tuple[
    npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.str_]
]
CHANGES_LOCK = 0x7E55E7A_0028  # migration 0028's advisory lock: its triggers take it shared
REBUILD_FRACTION = 0.1  # more changes than this share of the persons (and than PATCH_MIN): scan afresh
PATCH_MIN = 1000  # as many changes as this are patched in, however few the persons
_SPLICE_LOOP_MAX = 8192  # up to this many rows spliced a segment at a time: one pass over each column
_NUMBERS_CHUNK = 1000  # numbers per IN list: well under SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True, slots=True)
class ActivePersons:
    """Every active person, by number, as columns; birth years and month-days kept apart, so that ages are sums."""

    numbers: npt.NDArray[np.str_]
    holders: npt.NDArray[np.str_]  # their principal ids
    subjects: npt.NDArray[np.str_]  # their access-log subjects (their principal's id, but for a few)
    birth_days: npt.NDArray[np.int64]  # days since 1970-01-01
    sexes: npt.NDArray[np.str_]
    birth_years: npt.NDArray[np.int16]
    birth_month_days: npt.NDArray[np.int16]  # month (0-11) * 32 + day (0-30): birthdays compare as one integer

    @classmethod
    def of(cls, columns: PersonColumns) -> ActivePersons:
        """The columns a scan returns, with birth years and month-days worked out."""
        return cls(*columns, *_year_and_month_day(columns[3]))

    def ages_on(self, today: int) -> npt.NDArray[np.int64]:
        """Whole years from each birth day to ``today`` (days since 1970-01-01); 0 for one born after."""
        return _ages(self.birth_years, self.birth_month_days, today)


def ages_on(birth_days: npt.NDArray[np.int64], today: int) -> npt.NDArray[np.int64]:
    """Whole years from each birth day to ``today`` (days since 1970-01-01); 0 for one born after."""
    return _ages(*_year_and_month_day(birth_days), today)


def _ages(years: npt.NDArray[np.int16], month_days: npt.NDArray[np.int16], today: int) -> npt.NDArray[np.int64]:
    year, month_day = _year_and_month_day(np.array([today], np.int64))
    ages = int(year[0]) - years.astype(np.int64) - (month_days > month_day[0])
    return np.asarray(np.maximum(ages, 0), dtype=np.int64)


def _year_and_month_day(days: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
    """Calendar year and month (0-11) * 32 + day (0-30) of each day since 1970-01-01."""
    born = days.astype("datetime64[D]")
    months = born.astype("datetime64[M]")
    years = months.astype("datetime64[Y]")
    month = months.astype(np.int64) - years.astype("datetime64[M]").astype(np.int64)
    day = days - months.astype("datetime64[D]").astype(np.int64)
    return (years.astype(np.int64) + 1970).astype(np.int16), (month * 32 + day).astype(np.int16)


class PersonSource(Protocol):
    """Where a cycle reads the active persons from: a fresh scan, or a snapshot kept up to date."""

    def active_persons(self) -> ActivePersons:
        """Every active person's columns, by number."""
        ...


class ScannedPersons:
    """The registry scanned on every read: what a cycle reads when no snapshot is kept."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def active_persons(self) -> ActivePersons:
        """A fresh scan."""
        return ActivePersons.of(scan_active_persons(self._store))


@dataclass(frozen=True, slots=True)
class Refresh:
    """What the last read of a snapshot did: kept as was, patched from the log, or scanned afresh."""

    how: str  # "kept", "patched", "scanned"
    changed: int  # persons the log named (patched), or persons scanned
    seq: int  # the log's sequence number the snapshot is now at


_SPLICED = ("numbers", "holders", "birth_days", "sexes", "birth_years", "birth_month_days")  # subjects: from others


@dataclass(frozen=True, slots=True)
class _Kept:
    """One generation of the snapshot; its arrays are read-only and never change."""

    seq: int
    persons: ActivePersons
    other_numbers: npt.NDArray[np.str_]  # the persons whose subject is not their principal's id, by number
    other_subjects: npt.NDArray[np.str_]

    @classmethod
    def of(cls, seq: int, columns: Sequence[npt.NDArray[Any]], others: Sequence[npt.NDArray[Any]]) -> _Kept:
        """The columns of ``_SPLICED``, and the persons whose subjects differ from their principal's id."""
        numbers, holders, birth_days, sexes, years, month_days = columns
        other_numbers, other_subjects = others
        subjects = holders
        if len(other_numbers):
            subjects = holders.astype(np.result_type(holders, other_subjects))
            subjects[np.searchsorted(numbers, other_numbers)] = other_subjects
        persons = ActivePersons(numbers, holders, subjects, birth_days, sexes, years, month_days)
        for array in (*columns, subjects, other_numbers, other_subjects):
            array.flags.writeable = False
        return cls(seq, persons, other_numbers, other_subjects)

    def columns(self) -> list[npt.NDArray[Any]]:
        return [getattr(self.persons, name) for name in _SPLICED]


class ActivePersonsSnapshot:
    """The active persons' columns, kept in memory and patched from ``person_changes`` on each read.

    Reads are serialised (a preview at a time refreshes it); what a read returns is
    read-only and stays as it was when later reads patch the snapshot.
    """

    def __init__(self, store: Store, *, rebuild_fraction: float = REBUILD_FRACTION, patch_min: int = PATCH_MIN) -> None:
        self._store = store
        self._rebuild_fraction = rebuild_fraction
        self._patch_min = patch_min
        self._lock = threading.Lock()
        self._kept: _Kept | None = None
        self.last = Refresh("scanned", 0, 0)

    def active_persons(self) -> ActivePersons:
        """Every active person's columns, by number, as of the newest change committed when called."""
        with self._lock:
            self._kept, self.last = self._refreshed(self._kept)
            return self._kept.persons

    def _refreshed(self, kept: _Kept | None) -> tuple[_Kept, Refresh]:
        oldest, newest = _log_span(self._store)
        if kept is not None and newest == kept.seq:
            return kept, Refresh("kept", 0, newest)
        # A log emptied (its newest below the snapshot) or pruned past the snapshot (its oldest after the next) is
        # never trusted; so a log may be pruned from its oldest end, up to the oldest snapshot anyone keeps.
        if kept is not None and newest > kept.seq and oldest <= kept.seq + 1:
            changed = self._changed(kept, newest)
            if changed is not None:
                return _patched(self._store, kept, newest, changed), Refresh("patched", len(changed), newest)
        # Scanned after the newest change was read: a later change may be in it already, and is re-read next time.
        scanned = ActivePersons.of(scan_active_persons(self._store))
        numbers, subjects = scanned.numbers, scanned.subjects
        other = np.flatnonzero(subjects != scanned.holders)
        columns = [getattr(scanned, name) for name in _SPLICED]
        return _Kept.of(newest, columns, (numbers[other], subjects[other])), Refresh("scanned", len(numbers), newest)

    def _changed(self, kept: _Kept, newest: int) -> list[str] | None:
        """The numbers of the persons changed after ``kept`` up to ``newest``, sorted; None when too many to patch."""
        after = (person_changes.c.seq > kept.seq, person_changes.c.seq <= newest)
        with self._store.transaction() as conn:
            pending = conn.execute(select(func.count()).where(*after)).scalar_one()
            if pending > max(self._rebuild_fraction * len(kept.persons.numbers), self._patch_min):
                return None
            return sorted(conn.execute(select(person_changes.c.number).where(*after).distinct()).scalars())


def _log_span(store: Store) -> tuple[int, int]:
    """``log_span`` in a transaction of its own."""
    with store.transaction() as conn:
        return log_span(conn)


def log_span(conn: Connection) -> tuple[int, int]:
    """The oldest sequence number ``person_changes`` holds, and the newest that every change up to has committed by.

    Both 0 when it holds none. On PostgreSQL the exclusive advisory lock waits out the writers
    that hold it shared: their numbers are drawn but not yet committed; until ``conn``'s
    transaction ends no writer logs another, so what it reads meanwhile is as of the newest
    (on SQLite, the transaction's one snapshot).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGES_LOCK})
    # Two queries: SQLite reads a min() or a max() from the key alone only when it is the only aggregate.
    oldest = conn.execute(select(func.min(person_changes.c.seq))).scalar_one()
    newest = conn.execute(select(func.max(person_changes.c.seq))).scalar_one()
    return int(oldest or 0), int(newest or 0)


_FRESH = (
    "SELECT persons.number, persons.principal_id, persons.birth_date, persons.sex, principals.subject "
    "FROM persons JOIN principals ON principals.id = persons.principal_id "
    "WHERE persons.status = 'active' AND persons.number IN ({})"
)


def _patched(store: Store, kept: _Kept, seq: int, changed: list[str]) -> _Kept:
    """``kept`` with the persons numbered ``changed`` re-read: updated in place, left out, or put in."""
    rows: list[tuple[Any, ...]] = []
    with store.transaction() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        for start in range(0, len(changed), _NUMBERS_CHUNK):
            chunk = changed[start : start + _NUMBERS_CHUNK]
            cursor.execute(_FRESH.format(", ".join([mark] * len(chunk))), chunk)
            rows += cursor.fetchall()
    rows.sort()
    current = kept.persons
    numbers = _column([r[0] for r in rows], current.numbers)
    births = np.array([r[2] for r in rows], dtype="datetime64[D]").astype(np.int64)
    fresh = [
        numbers,
        _column([r[1] for r in rows], current.holders),
        births,
        _column([r[3] for r in rows], current.sexes),
    ]
    fresh += _year_and_month_day(births)
    other = [(r[0], r[4] or "") for r in rows if r[4] != r[1]]
    asked = np.array(changed)
    at = np.searchsorted(current.numbers, asked)
    present = at < len(current.numbers)
    present[present] = current.numbers[at[present]] == asked[present]
    still = np.isin(asked, numbers)
    columns = kept.columns()
    if (present == still).all():  # every person asked about was active and still is: the same rows, new values
        where = at[present]
        columns = [_replaced(old, where, new) for old, new in zip(columns, fresh, strict=True)]
    else:
        drop = at[present]
        before = np.searchsorted(current.numbers, numbers)
        columns = [_spliced(old, drop, before, new) for old, new in zip(columns, fresh, strict=True)]
    keep = ~np.isin(kept.other_numbers, asked)
    other_numbers = np.concatenate([kept.other_numbers[keep], _column([n for n, _ in other], current.numbers)])
    other_subjects = np.concatenate([kept.other_subjects[keep], _column([s for _, s in other], kept.other_subjects)])
    order = np.argsort(other_numbers, kind="stable")
    return _Kept.of(seq, columns, (other_numbers[order], other_subjects[order]))


def _column(values: list[str], like: npt.NDArray[np.str_]) -> npt.NDArray[np.str_]:
    """``values`` as a numpy text column; of ``like``'s type when there are none."""
    return np.array(values) if values else np.zeros(0, like.dtype)


def _replaced(old: npt.NDArray[Any], where: npt.NDArray[np.intp], new: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``old`` itself when ``new`` is what it holds at ``where`` already; else a copy with them written there."""
    if np.array_equal(old[where], new):
        return old
    out = old.astype(np.result_type(old, new))
    out[where] = new
    return out


def _spliced(
    old: npt.NDArray[Any],
    drop: npt.NDArray[np.intp],
    before: npt.NDArray[np.intp],
    new: npt.NDArray[Any],
    loop_max: int = _SPLICE_LOOP_MAX,
) -> npt.NDArray[Any]:
    """``old`` without its rows at ``drop`` (ascending), ``new[i]`` put before its row ``before[i]`` (ascending)."""
    dtype = np.result_type(old, new) if len(new) else old.dtype
    if len(drop) + len(new) > loop_max:  # numpy's own two passes beat a Python loop over many segments
        kept = np.delete(old, drop)
        return np.insert(kept.astype(dtype, copy=False), before - np.searchsorted(drop, before), new)
    out = np.empty(len(old) - len(drop) + len(new), dtype)
    # Each event is an insertion before a row (kind 0) or a row dropped (kind 1), in the order they fall.
    events = sorted([(int(p), 0, i) for i, p in enumerate(before)] + [(int(p), 1, 0) for p in drop])
    source = written = 0
    for position, kind, i in events:
        length = position - source
        out[written : written + length] = old[source:position]
        written, source = written + length, position
        if kind == 0:
            out[written] = new[i]
            written += 1
        else:
            source += 1
    out[written:] = old[source:]
    return out


def scan_active_persons(store: Store) -> PersonColumns:
    """Every active registered person, by number: numbers, principals, subjects, birth days, sexes.

    The facts come as one block of fixed-width text lines (number, principal, birth date, sex:
    41 characters), parsed a column at a time with numpy: no Python object per person. A
    registry with a line of another width (none is written so) is read row by row instead.
    """
    with store.transaction() as conn:
        block = line_block(conn, _PERSON_LINE, "persons", "status = 'active'")
        # Citizens' subjects are their principal ids (``Registry.register``): read only those that are not.
        other_subjects = [tuple(r) for r in conn.exec_driver_sql(_OTHER_SUBJECTS)]
    parsed = _parsed_persons(block)
    if parsed is None:
        return _active_persons_by_row(store)
    numbers, holders, birth_days, sexes = parsed
    subjects = holders.copy()
    if other_subjects:
        at = np.searchsorted(numbers, np.array([n for n, _ in other_subjects], dtype=numbers.dtype))
        subjects = subjects.astype(np.result_type(subjects, np.array([s or "" for _, s in other_subjects])))
        subjects[at] = [s or "" for _, s in other_subjects]
    return numbers, holders, subjects, birth_days, sexes


_LINE = 41  # number (12), principal id (18), birth date (10), sex (1)
_PERSON_LINE = "number || principal_id || birth_date || sex"
_OTHER_SUBJECTS = (  # principals first: the few whose subject is not their id, then their persons by index
    "SELECT persons.number, principals.subject FROM principals CROSS JOIN persons "
    "WHERE persons.principal_id = principals.id AND persons.status = 'active' "
    "AND (principals.subject IS NULL OR principals.subject != principals.id)"
)


def _parsed_persons(
    block: bytes,
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.str_]] | None:
    """Numbers, principals, birth days and sexes from the lines, by number; None unless every line is as written."""
    lines = fixed_lines(block, _LINE)
    if lines is None:
        return None
    digits = np.concatenate([lines[:, :12], lines[:, 30:40]], axis=1) - _ZERO  # below "0" wraps round
    digits[:, [16, 19]] = 0  # the birth date's dashes, checked apart
    if not ((digits <= 9).all() and (lines[:, _DASHES] == _DASH).all()):  # noqa: PLR2004
        return None
    number = np.zeros(len(lines), np.int64)
    for k in range(12):  # a Tessera number's 12 digits, as one integer to sort by
        number = number * 10 + digits[:, k]
    order = np.argsort(number, kind="stable")
    lines, digits = np.take(lines, order, axis=0), np.take(digits, order, axis=0).astype(np.int64)
    year = digits[:, 12] * 1000 + digits[:, 13] * 100 + digits[:, 14] * 10 + digits[:, 15]
    month, day = digits[:, 17] * 10 + digits[:, 18], digits[:, 20] * 10 + digits[:, 21]
    if not (((month >= 1) & (month <= 12)).all() and ((day >= 1) & (day <= 31)).all()):  # noqa: PLR2004
        return None
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    birth_days = months.astype("datetime64[D]").astype(np.int64) + day - 1
    return _text(lines[:, :12]), _text(lines[:, 12:30]), np.asarray(birth_days, np.int64), _text(lines[:, 40:41])


_ZERO, _DASH = ord("0"), ord("-")
_DASHES = [34, 37]


def _text(columns: npt.NDArray[np.uint8]) -> npt.NDArray[np.str_]:
    """ASCII bytes, one row a string, as a numpy unicode column: widened to code points, not decoded one by one."""
    width = columns.shape[1]
    return np.ascontiguousarray(columns, dtype=np.uint32).view(f"U{width}").reshape(-1)


def _active_persons_by_row(store: Store) -> PersonColumns:
    """``scan_active_persons`` a row at a time: two plain scans on the driver's cursor, joined and sorted with numpy."""
    with store.transaction() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT number, principal_id, birth_date, sex FROM persons WHERE status = 'active'")
        rows = cursor.fetchall()
        cursor.execute("SELECT id, subject FROM principals WHERE role = 'citizen'")
        citizens = cursor.fetchall()
    if not rows:
        empty = np.zeros(0, np.str_)
        return empty, empty, empty, np.zeros(0, np.int64), empty
    numbers, holders, births, sexes = (np.array(column) for column in zip(*rows, strict=True))
    order = np.argsort(numbers.astype(np.int64), kind="stable")  # Tessera numbers are 12 digits
    numbers, holders, births, sexes = numbers[order], holders[order], births[order], sexes[order]
    ids, subjects = (np.array(column) for column in zip(*citizens, strict=True))
    by_id = np.argsort(ids)
    ids, subjects = ids[by_id], subjects[by_id]
    subject_of = subjects[np.minimum(np.searchsorted(ids, holders), len(ids) - 1)]
    birth_days = births.astype("datetime64[D]").astype(np.int64)
    return numbers, holders, subject_of, birth_days, sexes
