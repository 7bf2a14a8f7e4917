"""The facts of every unit of a cycle, gathered from the store into numpy columns, one per fact a programme reads.

One query per source, never one per person: the registry's persons (number, principal,
birth date, sex), the live eligibility grants of the benefits read, and the latest event of
each reported type read. Household facts are counted from the household composition
(``households.py``) by ``np.bincount``; a household programme's units are the heads, and
its ``person.*`` and ``reported.*`` facts are the head's, its ``grants.*`` any member's.
A fact with no value reads as its absent value (``false``, ``0``, ``""``); for ``reported.*``
facts, ``Population.missing`` also says who has none, so that a preview never pays on an
income that was simply never reported (``preview.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, select

from tessera.programs.facts import GRANTS, HOUSEHOLD, PERSON, REPORTED
from tessera.programs.households import HouseholdSource
from tessera.programs.programmes import Unit
from tessera.rules import EventTypes, FieldType
from tessera.store import Store, eligibility_grants, rule_events

DAY_NS = 86_400 * 10**9
_ROWS_CHUNK = 50_000  # rows fetched at a time from one query
_ABSENT_DTYPE = {
    FieldType.integer: np.int64,
    FieldType.date: np.int64,
    FieldType.timestamp: np.int64,
    FieldType.number: np.float64,
    FieldType.boolean: np.bool_,
    FieldType.text: np.str_,
}


@dataclass(frozen=True, slots=True)
class Population:
    """The units of a cycle in a fixed order (by Tessera number of the person paid) and their facts as columns."""

    numbers: npt.NDArray[np.str_]  # the person paid for each unit: the head, for a household
    holders: npt.NDArray[np.str_]  # their principal ids
    columns: Mapping[str, npt.NDArray[Any]]  # fact name -> one value per unit
    read: npt.NDArray[np.str_]  # the access-log subject of every person whose facts were read (all members)
    # reported.* fact name -> True for each unit with no value reported; a fact not named was reported for all
    missing: Mapping[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.numbers)


def gather_population(
    store: Store,
    facts: Mapping[str, FieldType],
    unit: Unit,
    cycle_date_ns: int,
    *,
    households: HouseholdSource,
    types: EventTypes,
) -> Population:
    """The units of a programme of ``unit`` on the cycle's date with the ``facts`` it reads (name -> type)."""
    numbers, holders, subjects, birth_days, sexes = _active_persons(store)
    today = cycle_date_ns // DAY_NS
    ages = _ages(birth_days, today)
    composition = households.composition(numbers)
    household = _dense(np.concatenate([composition.household, composition.others_household]))
    mine, others = household[: len(numbers)], household[len(numbers) :]
    other_ages = _ages(composition.others_birth_day, today)
    households_count = int(household.max()) + 1 if len(household) else 0
    units = np.flatnonzero(composition.head) if unit is Unit.household else np.arange(len(numbers))
    columns: dict[str, npt.NDArray[Any]] = {}
    missing: dict[str, npt.NDArray[np.bool_]] = {}
    grants = _grants(store, [n.split(".", 1)[1] for n in facts if n.startswith(f"{GRANTS}.")], numbers, cycle_date_ns)
    for name, field_type in facts.items():
        group, _, rest = name.partition(".")
        if group == PERSON:
            columns[name] = ages[units] if rest == "age" else sexes[units]
        elif group == HOUSEHOLD and rest == "head_age":
            column = np.zeros(households_count, np.int64)
            column[mine[composition.head]] = ages[composition.head]
            columns[name] = column[mine[units]]
        elif group == HOUSEHOLD:
            column = _household_fact(rest, mine, ages, others, other_ages, households_count)
            columns[name] = column[mine[units]]
        elif group == GRANTS:
            held = grants[rest]
            if unit is Unit.household:  # any member's grant is the household's
                held = np.bincount(mine, weights=held, minlength=households_count)[mine[units]] > 0
            else:
                held = held[units]
            columns[name] = held
        elif group == REPORTED:
            column, reported = _reported(store, types, rest, field_type, numbers)
            columns[name], missing[name] = column[units], ~reported[units]
    return Population(numbers[units], holders[units], columns, subjects, missing)


def _active_persons(
    store: Store,
) -> tuple[
    npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.str_]
]:
    """Every active registered person, by number: numbers, principals, subjects, birth days, sexes.

    The facts come as one block of fixed-width text lines (number, principal, birth date, sex:
    41 characters), parsed a column at a time with numpy: no Python object per person. A
    registry with a line of another width (none is written so) is read row by row instead.
    """
    with store.transaction() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if conn.dialect.name == "postgresql":
            block = _copied(cursor, f"COPY ({_PERSON_LINES}) TO STDOUT")
        else:
            block = _concatenated(cursor)
        # Citizens' subjects are their principal ids (``Registry.register``): read only those that are not.
        cursor.execute(_OTHER_SUBJECTS)
        other_subjects = cursor.fetchall()
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
_PERSON_LINES = "SELECT number || principal_id || birth_date || sex FROM persons WHERE status = 'active'"
_OTHER_SUBJECTS = (  # principals first: the few whose subject is not their id, then their persons by index
    "SELECT persons.number, principals.subject FROM principals CROSS JOIN persons "
    "WHERE persons.principal_id = principals.id AND persons.status = 'active' "
    "AND (principals.subject IS NULL OR principals.subject != principals.id)"
)
_SQLITE_CHUNK = 1_000_000  # persons per concatenated block: SQLite caps a value at 10**9 bytes


def _concatenated(cursor: Any) -> bytes:
    """SQLite: the active persons' lines, newline-terminated, concatenated in SQL a million rows at a time."""
    blocks: list[bytes] = []
    after = 0
    while True:
        cursor.execute(
            "SELECT count(*), max(r), CAST(group_concat(line, char(10)) AS BLOB) FROM ("
            "SELECT rowid AS r, number || principal_id || birth_date || sex AS line FROM persons "
            "WHERE status = 'active' AND rowid > ? ORDER BY rowid LIMIT ?)",
            (after, _SQLITE_CHUNK),
        )
        count, last, block = cursor.fetchone()
        if not count:
            return b"".join(blocks)
        blocks += [block, b"\n"]
        after = last


def _copied(cursor: Any, statement: str) -> bytes:
    """PostgreSQL: what ``COPY ... TO STDOUT`` sends, in one piece."""
    with cursor.copy(statement) as copy:
        return b"".join(bytes(chunk) for chunk in copy)


def _parsed_persons(
    block: bytes,
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.str_]] | None:
    """Numbers, principals, birth days and sexes from the lines, by number; None unless every line is as written."""
    raw = np.frombuffer(block, dtype=np.uint8)
    if len(raw) % (_LINE + 1) or np.count_nonzero(raw == _NEWLINE) != len(raw) // (_LINE + 1):
        return None
    lines = raw.reshape(-1, _LINE + 1)
    digits = np.concatenate([lines[:, :12], lines[:, 30:40]], axis=1) - _ZERO  # below "0" wraps round
    digits[:, [16, 19]] = 0  # the birth date's dashes, checked apart
    if not ((lines[:, _LINE] == _NEWLINE).all() and (digits <= 9).all() and (lines[:, _DASHES] == _DASH).all()):  # noqa: PLR2004
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


_NEWLINE, _ZERO, _DASH = ord("\n"), ord("0"), ord("-")
_DASHES = [34, 37]


def _text(columns: npt.NDArray[np.uint8]) -> npt.NDArray[np.str_]:
    """ASCII bytes, one row a string, as a numpy unicode column: widened to code points, not decoded one by one."""
    width = columns.shape[1]
    return np.ascontiguousarray(columns, dtype=np.uint32).view(f"U{width}").reshape(-1)


def _active_persons_by_row(
    store: Store,
) -> tuple[
    npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.str_]
]:
    """``_active_persons`` a row at a time: two plain scans on the driver's cursor, joined and sorted with numpy."""
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


def _ages(birth_days: npt.NDArray[np.int64], today: int) -> npt.NDArray[np.int64]:
    """Whole years from each birth day to ``today`` (days since 1970-01-01): birthdays counted by month and day."""
    born = birth_days.astype("datetime64[D]")
    now = np.datetime64(int(today), "D")
    years = now.astype("datetime64[Y]").astype(np.int64) - born.astype("datetime64[Y]").astype(np.int64)
    born_md = _month_day(born)
    now_md = _month_day(np.array([now]))[0]
    ages: npt.NDArray[np.int64] = np.maximum(years - (born_md > now_md), 0).astype(np.int64)
    return ages


def _month_day(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    months = days.astype("datetime64[M]")
    month = months.astype(np.int64) % 12
    day = (days - months.astype("datetime64[D]")).astype(np.int64)
    return np.asarray(month * 32 + day, dtype=np.int64)


def _dense(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Household ids renumbered 0, 1, … so that counts are one bincount."""
    if not len(ids):
        return ids.astype(np.int64)
    _, dense = np.unique(ids, return_inverse=True)
    return np.asarray(dense, dtype=np.int64)


def _household_fact(  # noqa: PLR0917 (one household's columns, read together)
    name: str,
    mine: npt.NDArray[np.int64],
    ages: npt.NDArray[np.int64],
    others: npt.NDArray[np.int64],
    other_ages: npt.NDArray[np.int64],
    count: int,
) -> npt.NDArray[np.int64]:
    """One household fact per household, counted over registered and unregistered members alike."""
    members = np.concatenate([mine, others])
    every_age = np.concatenate([ages, other_ages])
    if name == "size":
        return np.bincount(members, minlength=count).astype(np.int64)
    wanted = {
        "members_under_5": every_age < 5,  # noqa: PLR2004 (the fact's own bound)
        "members_under_18": every_age < 18,  # noqa: PLR2004
        "members_60_and_over": every_age >= 60,  # noqa: PLR2004
    }[name]
    return np.bincount(members[wanted], minlength=count).astype(np.int64)


def _grants(
    store: Store, benefits: Iterable[str], numbers: npt.NDArray[np.str_], at_ns: int
) -> dict[str, npt.NDArray[np.bool_]]:
    """Per benefit, per person: whether a grant of it is live on the cycle's date."""
    found = {b: np.zeros(len(numbers), np.bool_) for b in benefits}
    if not found:
        return found
    query = select(eligibility_grants.c.subject, eligibility_grants.c.benefit).where(
        and_(
            eligibility_grants.c.benefit.in_(sorted(found)),
            eligibility_grants.c.at_ns <= at_ns,
            eligibility_grants.c.expires_at_ns > at_ns,
        )
    )
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    for benefit in found:
        subjects = np.array([r.subject for r in rows if r.benefit == benefit] or [""])
        found[benefit] = np.isin(numbers, subjects)
    return found


def _reported(
    store: Store, types: EventTypes, rest: str, field_type: FieldType, numbers: npt.NDArray[np.str_]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """The field ``rest`` of each person's latest event of its type, who has one."""
    key, _, path = rest.partition(".")
    type_name = next((n for n in types.names() if n.replace(".", "_") == key), key)
    column: npt.NDArray[Any] = np.zeros(len(numbers), _ABSENT_DTYPE[field_type])
    reported = np.zeros(len(numbers), np.bool_)
    query = (
        select(rule_events.c.subject, rule_events.c.fields)
        .where(rule_events.c.type == type_name)
        .order_by(rule_events.c.at_ns, rule_events.c.seq)  # the latest last: it overwrites the others
    )
    latest: dict[str, Any] = {}
    with store.transaction() as conn:
        result = conn.execute(query)
        while chunk := result.fetchmany(_ROWS_CHUNK):
            for subject, fields in chunk:
                value: Any = json.loads(fields)
                for part in path.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if value is not None:
                    latest[subject] = value
    if latest:
        subjects = np.array(list(latest))
        index = np.searchsorted(numbers, subjects)
        index = np.minimum(index, max(len(numbers) - 1, 0))
        hit = (numbers[index] == subjects) if len(numbers) else np.zeros(len(subjects), np.bool_)
        values = np.array(list(latest.values()), dtype=column.dtype)
        if field_type is FieldType.text:
            column = column.astype(values.dtype if values.dtype.itemsize > column.dtype.itemsize else column.dtype)
        column[index[hit]] = values[hit]
        reported[index[hit]] = True
    return column, reported
