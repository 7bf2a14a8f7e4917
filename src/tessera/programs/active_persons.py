"""The active persons as a cycle reads them, kept as columns between previews, patched from the store's change log.

A preview reads every active person (number, principal, access-log subject, birth day, sex).
Scanning ``persons`` costs about a microsecond of SQLite's CPU a person (10 s at ten
million), so ``ActivePersonsSnapshot`` keeps the columns in memory, sorted by number and
read-only, and on each read asks the store's ``person_changes`` log (migration 0028: written
by triggers on ``persons`` and on ``principals``' subject, so that no writer can leave it
behind) what changed after the sequence number it was taken at. It re-reads only those
persons and splices them in (new arrays: a column already handed out never changes), or
scans afresh when the log says more than ``REBUILD_FRACTION`` of the persons changed, or
when the log was emptied or pruned past it. It is kept in 29 bytes a person (numbers and
principal ids as integers), and in a file of the data directory (``kept_files.py``) that a
restarted process reads at its first preview, then patches, instead of scanning.

``scan_active_persons`` is that scan: one block of fixed-width lines parsed with numpy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from tessera.programs.kept_files import PATCH_MIN, REBUILD_FRACTION, SAVE_FRACTION, Keeping, log_span, logged_numbers
from tessera.store import Store, fixed_lines, line_block

logger = logging.getLogger(__name__)

# number, principal id (its 16 hex digits), birth day (days since 1970-01-01), sex (one byte), by number; and the
# persons whose access-log subject is not their principal's id (by number), with those subjects
PersonColumns = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.int64],
    npt.NDArray[np.bytes_],
    npt.NDArray[np.int64],
    npt.NDArray[np.str_],
]
_NUMBERS_CHUNK = 1000  # numbers per IN list: well under SQLite's and PostgreSQL's parameter limits
NUMBER_DIGITS = 12  # a Tessera number's digits (tessera.identity.numbers)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_HEX = np.full(256, 255, np.uint8)  # byte -> its value as a lower-case hex digit; 255 for any other byte
_HEX[_HEX_DIGITS] = np.arange(16, dtype=np.uint8)
# 0..9999 as four digits' code points; a byte as its two hex digits' code points (one uint64); "p_" likewise
_FOUR_DIGITS = np.array([[ord(c) for c in f"{i:04d}"] for i in range(10**4)], np.uint32)
_HEX_PAIRS = np.array([[ord(c) for c in f"{i:02x}"] for i in range(256)], np.uint32).view(np.uint64).reshape(-1)
_PREFIX = np.array([ord("p"), ord("_")], np.uint32).view(np.uint64)[0]


@dataclass(frozen=True, slots=True)
class ActivePersons:
    """Every active person, by number, as compact columns; birth years and month-days kept apart, so that ages are sums.

    Numbers are kept as integers (a Tessera number is 12 digits) and principal ids as their
    16 hex digits' integer (every one is ``p_`` and 16 hex digits): 29 bytes a person, not
    136 as text. ``number_text`` and ``holder_text`` give the text back for the few read so.
    """

    numbers: npt.NDArray[np.int64]
    holders: npt.NDArray[np.uint64]  # their principal ids' 16 hex digits
    birth_days: npt.NDArray[np.int64]  # days since 1970-01-01
    sexes: npt.NDArray[np.bytes_]  # one byte each
    birth_years: npt.NDArray[np.int16]
    birth_month_days: npt.NDArray[np.int16]  # month (0-11) * 32 + day (0-30): birthdays compare as one integer
    other_numbers: npt.NDArray[np.int64]  # the persons whose access-log subject is not their principal's id, by number
    other_subjects: npt.NDArray[np.str_]  # and those subjects ("" for none)

    @classmethod
    def of(cls, columns: PersonColumns) -> ActivePersons:
        """The columns a scan returns, with birth years and month-days worked out."""
        numbers, holders, birth_days, sexes, other_numbers, other_subjects = columns
        return cls(numbers, holders, birth_days, sexes, *_year_and_month_day(birth_days), other_numbers, other_subjects)

    def ages_on(self, today: int) -> npt.NDArray[np.int64]:
        """Whole years from each birth day to ``today`` (days since 1970-01-01); 0 for one born after."""
        return _ages(self.birth_years, self.birth_month_days, today)

    def subjects(self) -> npt.NDArray[np.str_]:
        """Every person's access-log subject, as text: their principal's id, but for the others'."""
        subjects = holder_text(self.holders)
        if len(self.other_numbers):
            subjects = subjects.astype(np.result_type(subjects, self.other_subjects))
            subjects[np.searchsorted(self.numbers, self.other_numbers)] = self.other_subjects
        return subjects


def number_text(numbers: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """Tessera numbers as 12-digit text (``U12``), a column at a time: three groups of four digits from a table."""
    values = np.asarray(numbers, np.int64)
    groups = np.stack([values // 10**8, values // 10**4 % 10**4, values % 10**4], axis=1)
    digits = np.ascontiguousarray(_FOUR_DIGITS[groups]).reshape(len(values), NUMBER_DIGITS)
    return digits.view(f"U{NUMBER_DIGITS}").reshape(-1)


def number_ints(numbers: Sequence[str] | npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
    """Tessera numbers (12-digit text) as integers."""
    return np.asarray(numbers, dtype=np.str_).astype(np.int64) if len(numbers) else np.zeros(0, np.int64)


def holder_text(holders: npt.NDArray[np.uint64]) -> npt.NDArray[np.str_]:
    """Principal ids from their 16 hex digits' integers: ``p_`` and the digits (``U18``), a byte's two at a time."""
    chars = np.empty((len(holders), 9), np.uint64)  # 18 code points of 4 bytes: 9 pairs
    chars[:, 0] = _PREFIX
    chars[:, 1:] = _HEX_PAIRS[np.asarray(holders, ">u8").view(np.uint8).reshape(-1, 8)]
    return chars.view("U18").reshape(-1)


def holder_ints(holders: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Principal ids (``p_`` and 16 lower-case hex digits, as every one is written) as their digits' integers."""
    out = np.zeros(len(holders), np.uint64)
    for i, holder in enumerate(holders):
        if len(holder) != 18 or holder[:2] != "p_" or holder[2:].strip("0123456789abcdef"):  # noqa: PLR2004
            raise ValueError(f"a principal id is 'p_' and 16 hex digits, got {holder!r:.40}")
        out[i] = int(holder[2:], 16)
    return out


def ages_on(birth_days: npt.NDArray[np.int64], today: int) -> npt.NDArray[np.int64]:
    """Whole years from each birth day to ``today`` (days since 1970-01-01); 0 for one born after."""
    return _ages(*_year_and_month_day(birth_days), today)


def _ages(years: npt.NDArray[np.int16], month_days: npt.NDArray[np.int16], today: int) -> npt.NDArray[np.int64]:
    year, month_day = _year_and_month_day(np.array([today], np.int64))
    # Worked out in the columns' 16 bits (a quarter of the memory to write), widened once at the end.
    ages: npt.NDArray[np.int16] = np.subtract(year[0], years, dtype=np.int16)
    ages -= month_days > month_day[0]
    np.maximum(ages, 0, out=ages)
    return ages.astype(np.int64)


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


@dataclass(frozen=True, slots=True)
class Lineage:
    """How a snapshot's numbers were made from the ones it handed out before: ``prior`` with ``splice`` applied, the
    persons ``fresh`` (ascending) put in. What is worked out per person (a household's composition) is spliced the
    same way, and only the fresh ones looked up."""

    prior: npt.NDArray[np.int64]
    numbers: npt.NDArray[np.int64]
    splice: _Splice
    fresh: npt.NDArray[np.int64]


_SPLICED = ("numbers", "holders", "birth_days", "sexes", "birth_years", "birth_month_days")  # one row a person


@dataclass(frozen=True, slots=True)
class _Kept:
    """One generation of the snapshot; its arrays are read-only and never change."""

    seq: int
    persons: ActivePersons

    @classmethod
    def of(cls, seq: int, persons: ActivePersons) -> _Kept:
        for name in ActivePersons.__slots__:
            getattr(persons, name).flags.writeable = False
        return cls(seq, persons)

    def columns(self) -> list[npt.NDArray[Any]]:
        return [getattr(self.persons, name) for name in _SPLICED]


class ActivePersonsSnapshot:
    """The active persons' columns, kept in memory and patched from ``person_changes`` on each read.

    Reads are serialised (a preview at a time refreshes it); what a read returns is
    read-only and stays as it was when later reads patch the snapshot. Given a ``path`` (the
    service's data directory), the columns are also kept in a file (``kept_files.py``): read at
    the first read of a process and patched from the log from there, written after each scan,
    after patches once the log has moved ``save_fraction`` of the persons past the file (so that
    a restart patches at most that many), and by ``save`` (the service's, as it closes).
    """

    def __init__(
        self,
        store: Store,
        *,
        rebuild_fraction: float = REBUILD_FRACTION,
        patch_min: int = PATCH_MIN,
        path: Path | None = None,
        save_fraction: float = SAVE_FRACTION,
    ) -> None:
        self._store = store
        self._keeping = Keeping(
            store, _KIND, _FILED, kinds=("p", "s"),
            rebuild_fraction=rebuild_fraction, patch_min=patch_min, path=path, save_fraction=save_fraction,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._kept: _Kept | None = None
        self._lineage: Lineage | None = None
        self.last = Refresh("scanned", 0, 0)

    def lineage(self, numbers: npt.NDArray[np.int64]) -> Lineage | None:
        """How ``numbers`` (if the last read's) were spliced from the read's before; None if not known so."""
        lineage = self._lineage
        return lineage if lineage is not None and lineage.numbers is numbers else None

    def active_persons(self) -> ActivePersons:
        """Every active person's columns, by number, as of the newest change committed when called."""
        with self._lock:
            self._kept, self.last = self._refreshed(self._kept)
            self._save_if_due(self._kept)
            return self._kept.persons

    def save(self) -> None:
        """The columns kept written to the file, unless it holds them already (or none are kept, or no file)."""
        with self._lock:
            if self._kept is not None:
                self._keeping.save(self._kept.seq, _filed(self._kept))

    def _save_if_due(self, kept: _Kept) -> None:
        scanned = self.last.how == "scanned"
        self._keeping.save_if_due(kept.seq, len(kept.persons.numbers), scanned, lambda: _filed(kept))

    def _refreshed(self, kept: _Kept | None) -> tuple[_Kept, Refresh]:
        loaded = False
        if kept is None and (found := self._keeping.load(_checked_columns)) is not None:
            kept, loaded = _Kept.of(*found), True
        oldest, newest = _log_span(self._store)
        if kept is not None and newest == kept.seq:
            return kept, Refresh("loaded" if loaded else "kept", 0, newest)
        # A log emptied (its newest below the snapshot) or pruned past the snapshot (its oldest after the next) is
        # never trusted; so a log may be pruned from its oldest end, up to the oldest snapshot anyone keeps.
        if kept is not None and newest > kept.seq and oldest <= kept.seq + 1:
            with self._store.transaction() as conn:
                changed = self._keeping.changed(conn, kept.seq, newest, len(kept.persons.numbers))
                subjects = logged_numbers(conn, kept.seq, newest, ("s",)) if changed is not None else []
            if changed is not None:
                patched, splice = _patched(self._store, kept, newest, changed, subjects)
                if splice is not None:
                    numbers = patched.persons.numbers
                    self._lineage = Lineage(kept.persons.numbers, numbers, *splice)
                return patched, Refresh("loaded" if loaded else "patched", len(changed), newest)
        # Scanned after the newest change was read: a later change may be in it already, and is re-read next time.
        scanned = ActivePersons.of(scan_active_persons(self._store))
        return _Kept.of(newest, scanned), Refresh("scanned", len(scanned.numbers), newest)


def _filed(kept: _Kept) -> dict[str, npt.NDArray[Any]]:
    """The columns a file keeps of ``kept``: every one."""
    return {name: getattr(kept.persons, name) for name in _FILED}


_KIND = "active persons"
_FILED = ActivePersons.__slots__  # every column, birth years and month-days too: not worked out again
_FILED_TYPES = ("i8", "u8", "i8", "S", "i2", "i2", "i8", "U")  # each one's numpy type ("S", "U": of any width)


def _checked_columns(columns: Mapping[str, npt.NDArray[Any]]) -> ActivePersons | None:
    """The persons of a file's columns, if each is one-dimensional, of its type, and numbers ascend; else None."""
    got = [columns[name] for name in _FILED]
    if any(
        c.ndim != 1 or (c.dtype.str[1:] != want and c.dtype.kind != want)
        for c, want in zip(got, _FILED_TYPES, strict=True)
    ):
        return None
    numbers, holders, births, sexes, years, month_days, other_numbers, other_subjects = got
    if len({len(numbers), len(holders), len(births), len(sexes), len(years), len(month_days)}) != 1:
        return None
    ascending = bool((numbers[1:] > numbers[:-1]).all() and (other_numbers[1:] > other_numbers[:-1]).all())
    if len(other_numbers) != len(other_subjects) or not ascending:
        return None
    at = np.minimum(np.searchsorted(numbers, other_numbers), max(len(numbers) - 1, 0))
    if len(other_numbers) and not (numbers[at] == other_numbers).all():
        return None
    return ActivePersons(numbers, holders, births, sexes, years, month_days, other_numbers, other_subjects)


def _log_span(store: Store) -> tuple[int, int]:
    """``log_span`` in a transaction of its own."""
    with store.transaction() as conn:
        return log_span(conn)


_FRESH = "SELECT number, principal_id, birth_date, sex FROM persons WHERE status = 'active' AND number IN ({})"
_SUBJECTS = (
    "SELECT persons.number, principals.subject, principals.id "
    "FROM persons JOIN principals ON principals.id = persons.principal_id WHERE persons.number IN ({})"
)


def _patched(
    store: Store, kept: _Kept, seq: int, changed: list[str], subjects: list[str]
) -> tuple[_Kept, tuple[_Splice, npt.NDArray[np.int64]] | None]:
    """``kept`` with the persons numbered ``changed`` re-read: updated in place, left out, or put in; and the splice
    that did it, with the numbers it put in (None when every row stayed where it was).

    A principal's subject is read only for those of them new to ``kept``, of another principal now, or whose
    subject was logged as changed (``subjects``): a birth date corrected is one row read, not two.
    """
    current = kept.persons
    with store.transaction() as conn:
        rows = sorted(_read_in(conn, _FRESH, changed))
        numbers = number_ints([r[0] for r in rows])
        holders = holder_ints([r[1] for r in rows])
        at = np.minimum(np.searchsorted(current.numbers, numbers), max(len(current.numbers) - 1, 0))
        same = (current.numbers[at] == numbers) & (current.holders[at] == holders) if len(current.numbers) else at < 0
        ask = sorted({rows[i][0] for i in np.flatnonzero(~same).tolist()} | (set(subjects) & {r[0] for r in rows}))
        looked_up = _read_in(conn, _SUBJECTS, ask)
    births = np.array([r[2] for r in rows], dtype="datetime64[D]").astype(np.int64)
    sexes = np.array([r[3] for r in rows], dtype=np.bytes_) if rows else np.zeros(0, current.sexes.dtype)
    fresh = [numbers, holders, births, sexes, *_year_and_month_day(births)]
    other = [(number, subject or "") for number, subject, holder in looked_up if subject != holder]
    asked = number_ints(changed)
    at = np.searchsorted(current.numbers, asked)
    present = at < len(current.numbers)
    present[present] = current.numbers[at[present]] == asked[present]
    still = np.isin(asked, numbers)
    columns = kept.columns()
    spliced = None
    if (present == still).all():  # every person asked about was active and still is: the same rows, new values
        where = at[present]
        columns = [_replaced(old, where, new) for old, new in zip(columns, fresh, strict=True)]
    else:
        drop = at[present]
        before = np.searchsorted(current.numbers, numbers)
        splice = _Splice.of(len(current.numbers), drop, before)
        columns = [splice.apply(old, new) for old, new in zip(columns, fresh, strict=True)]
        spliced = splice, numbers
    # a subject kept for those still active, of the same principal, and whose subject was not logged
    keep = ~np.isin(current.other_numbers, np.union1d(np.setdiff1d(asked, numbers), number_ints(ask)))
    other_numbers = np.concatenate([current.other_numbers[keep], number_ints([n for n, _ in other])])
    other_subjects = np.concatenate(
        [current.other_subjects[keep], _column([s for _, s in other], current.other_subjects)]
    )
    order = np.argsort(other_numbers, kind="stable")
    kept_numbers, holders, birth_days, sexes, years, month_days = columns
    others = other_numbers[order], other_subjects[order]
    persons = ActivePersons(kept_numbers, holders, birth_days, sexes, years, month_days, *others)
    return _Kept.of(seq, persons), spliced


def _read_in(conn: Connection, query: str, numbers: list[str]) -> list[tuple[Any, ...]]:
    """``query``'s rows for ``numbers`` (its ``IN ({})``), a chunk of them at a time, on the driver's own cursor."""
    rows: list[tuple[Any, ...]] = []
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    for start in range(0, len(numbers), _NUMBERS_CHUNK):
        chunk = numbers[start : start + _NUMBERS_CHUNK]
        cursor.execute(query.format(", ".join([mark] * len(chunk))), chunk)
        rows += cursor.fetchall()
    return rows


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


@dataclass(frozen=True, slots=True)
class _Splice:
    """Where a column's rows go when its rows at ``drop`` are left out and new ones put before rows ``before``.

    Worked out once for every column: the runs of old rows between the places touched, each
    copied as one slice (memory-speed), and the new rows' places. A few thousand changes in
    ten million rows are a few thousand slices a column, not ``np.delete`` and ``np.insert``'s
    two whole passes.
    """

    size: int
    runs: list[tuple[int, int, int]]  # old rows [start, end) go to out[to:]
    new_at: npt.NDArray[np.intp]

    @classmethod
    def of(cls, old_size: int, drop: npt.NDArray[np.intp], before: npt.NDArray[np.intp]) -> _Splice:
        """``drop`` and ``before`` ascending, as ``np.searchsorted`` gives them."""
        points = np.unique(np.concatenate([drop, before]).astype(np.intp))
        starts = np.concatenate([[0], points]).astype(np.intp)
        starts[1:] += np.isin(points, drop)  # a run that starts at a dropped row starts after it
        ends = np.concatenate([points, [old_size]]).astype(np.intp)
        to = starts - np.searchsorted(drop, starts) + np.searchsorted(before, starts, side="right")
        runs = [(s, e, t) for s, e, t in zip(starts.tolist(), ends.tolist(), to.tolist(), strict=True) if e > s]
        new_at = before - np.searchsorted(drop, before) + np.arange(len(before), dtype=np.intp)
        return cls(old_size - len(drop) + len(before), runs, new_at.astype(np.intp))

    def apply(self, old: npt.NDArray[Any], new: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = np.empty(self.size, np.result_type(old, new) if len(new) else old.dtype)
        for start, end, to in self.runs:
            out[to : to + end - start] = old[start:end]
        out[self.new_at] = new
        return out


def _spliced(
    old: npt.NDArray[Any], drop: npt.NDArray[np.intp], before: npt.NDArray[np.intp], new: npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """``old`` without its rows at ``drop`` (ascending), ``new[i]`` put before its row ``before[i]`` (ascending)."""
    return _Splice.of(len(old), drop, before).apply(old, new)


def scan_active_persons(store: Store) -> PersonColumns:
    """Every active registered person, by number: numbers, principals, birth days, sexes; and the other subjects.

    The facts come as one block of fixed-width lines (number, principal, birth date, sex:
    41 characters), parsed a column at a time with numpy: no Python object per person. A
    registry with a line of another width (none is written so) is read row by row instead.
    """
    with store.transaction() as conn:
        block = line_block(conn, _PERSON_LINE, "persons", "status = 'active'")
        # Citizens' subjects are their principal ids (``Registry.register``): read only those that are not.
        others = sorted((str(n), s or "") for n, s in conn.exec_driver_sql(_OTHER_SUBJECTS))
    parsed = _parsed_persons(block)
    if parsed is None:
        return _active_persons_by_row(store)
    return *parsed, number_ints([n for n, _ in others]), _column([s for _, s in others], _NONE)


_NONE = np.zeros(0, np.str_)
_LINE = 41  # number (12), principal id (18), birth date (10), sex (1)
_PERSON_LINE = "number || principal_id || birth_date || sex"
_OTHER_SUBJECTS = (  # principals first: the few whose subject is not their id, then their persons by index
    "SELECT persons.number, principals.subject FROM principals CROSS JOIN persons "
    "WHERE persons.principal_id = principals.id AND persons.status = 'active' "
    "AND (principals.subject IS NULL OR principals.subject != principals.id)"
)


def _parsed_persons(
    block: bytes,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.bytes_]] | None:
    """Numbers, principals, birth days and sexes from the lines, by number; None unless every line is as written."""
    lines = fixed_lines(block, _LINE)
    if lines is None:
        return None
    digits = np.concatenate([lines[:, :12], lines[:, 30:40]], axis=1) - _ZERO  # below "0" wraps round
    digits[:, [16, 19]] = 0  # the birth date's dashes, checked apart
    hex_digits = _HEX[lines[:, 14:30]]
    if not (
        (digits <= 9).all()  # noqa: PLR2004
        and (lines[:, _DASHES] == _DASH).all()
        and (lines[:, 12] == ord("p")).all()
        and (lines[:, 13] == ord("_")).all()
        and (hex_digits < 16).all()  # noqa: PLR2004
    ):
        return None
    number = np.zeros(len(lines), np.int64)
    for k in range(12):  # a Tessera number's 12 digits, as one integer to sort by
        number = number * 10 + digits[:, k]
    order = np.argsort(number, kind="stable")
    number, digits = number[order], np.take(digits, order, axis=0).astype(np.int64)
    year = digits[:, 12] * 1000 + digits[:, 13] * 100 + digits[:, 14] * 10 + digits[:, 15]
    month, day = digits[:, 17] * 10 + digits[:, 18], digits[:, 20] * 10 + digits[:, 21]
    if not (((month >= 1) & (month <= 12)).all() and ((day >= 1) & (day <= 31)).all()):  # noqa: PLR2004
        return None
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    birth_days = months.astype("datetime64[D]").astype(np.int64) + day - 1
    # The principal id's 16 hex digits as 8 bytes, read as one big-endian integer.
    hex_digits = np.take(hex_digits, order, axis=0)
    packed = np.ascontiguousarray((hex_digits[:, 0::2] << 4) | hex_digits[:, 1::2])
    holders = packed.view(">u8").reshape(-1).astype(np.uint64)
    sexes = np.ascontiguousarray(lines[order, 40]).view("S1")
    return number, holders, np.asarray(birth_days, np.int64), sexes


_ZERO, _DASH = ord("0"), ord("-")
_DASHES = [34, 37]


def _active_persons_by_row(store: Store) -> PersonColumns:
    """``scan_active_persons`` a row at a time: two plain scans on the driver's cursor, joined and sorted with numpy."""
    with store.transaction() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT number, principal_id, birth_date, sex FROM persons WHERE status = 'active'")
        rows = sorted(cursor.fetchall())  # Tessera numbers are 12 digits: in order as text and as integers
        cursor.execute("SELECT id, subject FROM principals")
        subject_of = dict(cursor.fetchall())
    other = [(r[0], subject_of.get(r[1]) or "") for r in rows if subject_of.get(r[1]) != r[1]]
    if not rows:
        return _active_persons_none()
    numbers, holders, births, sexes = (list(column) for column in zip(*rows, strict=True))
    birth_days = np.array(births, dtype="datetime64[D]").astype(np.int64)
    others = number_ints([n for n, _ in other]), _column([s for _, s in other], _NONE)
    return number_ints(numbers), holder_ints(holders), birth_days, np.array(sexes, dtype=np.bytes_), *others


def _active_persons_none() -> PersonColumns:
    empty = np.zeros(0, np.int64)
    return empty, np.zeros(0, np.uint64), empty, np.zeros(0, "S1"), empty, _NONE
