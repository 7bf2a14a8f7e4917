"""The facts of every unit of a cycle, gathered from the store into numpy columns, one per fact a programme reads.

One query per source, never one per person: the registry's persons (number, principal,
birth date, sex; ``active_persons.py``, kept as columns between cycles by the service),
the live eligibility grants of the benefits read, and the latest event of each reported
type read. Household facts are counted from the household composition
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

from tessera.programs.active_persons import (
    NUMBER_DIGITS,
    ActivePersons,
    ActivePersonsSnapshot,
    PersonSource,
    ScannedPersons,
    ages_on,
    holder_text,
    number_text,
)
from tessera.programs.facts import GRANTS, HOUSEHOLD, PERSON, REPORTED
from tessera.programs.households import Composition, HouseholdSource, KeptHouseholds
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

    # the person paid for each unit (the head, for a household), and their principal id: as the snapshot keeps them
    # (numbers as integers, ids as their hex digits' integers), or as text; ``numbers`` and ``holders`` are the text
    number_column: npt.NDArray[Any]
    holder_column: npt.NDArray[Any]
    columns: Mapping[str, npt.NDArray[Any]]  # fact name -> one value per unit
    # the access-log subjects of every person whose facts were read (all members), or the persons to work them out of
    read_from: npt.NDArray[np.str_] | ActivePersons
    # reported.* fact name -> True for each unit with no value reported; a fact not named was reported for all
    missing: Mapping[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    _text: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.number_column)

    @property
    def numbers(self) -> npt.NDArray[np.str_]:
        """Each unit's person's Tessera number, as text: made when first asked (the results written, not the totals)."""
        if "numbers" not in self._text:
            column = self.number_column
            self._text["numbers"] = column if column.dtype.kind == "U" else number_text(column)
        return self._text["numbers"]

    @property
    def holders(self) -> npt.NDArray[np.str_]:
        """Each unit's person's principal id, as text: made when first asked."""
        if "holders" not in self._text:
            column = self.holder_column
            self._text["holders"] = column if column.dtype.kind == "U" else holder_text(column)
        return self._text["holders"]

    @property
    def read(self) -> npt.NDArray[np.str_]:
        """The access-log subject of every person whose facts were read: text made only when asked (10M: ~1 s)."""
        return self.read_from.subjects() if isinstance(self.read_from, ActivePersons) else self.read_from


def gather_population(
    store: Store,
    facts: Mapping[str, FieldType],
    unit: Unit,
    cycle_date_ns: int,
    *,
    households: HouseholdSource,
    types: EventTypes,
    persons: PersonSource | None = None,
) -> Population:
    """The units of a programme of ``unit`` on the cycle's date with the ``facts`` it reads (name -> type).

    The active persons come from ``persons`` (a snapshot kept between cycles), else a scan of the registry.
    """
    active = (persons or ScannedPersons(store)).active_persons()
    numbers = active.numbers
    today = cycle_date_ns // DAY_NS
    ages = active.ages_on(today)
    composition = _composition(households, numbers, persons)
    household = _counted(composition)
    mine, others = household[: len(numbers)], household[len(numbers) :]
    other_ages = ages_on(composition.others_birth_day, today)
    households_count = int(household.max()) + 1 if len(household) else 0
    units = np.flatnonzero(composition.head) if unit is Unit.household else np.arange(len(numbers))
    columns: dict[str, npt.NDArray[Any]] = {}
    missing: dict[str, npt.NDArray[np.bool_]] = {}
    grants = _grants(store, [n.split(".", 1)[1] for n in facts if n.startswith(f"{GRANTS}.")], numbers, cycle_date_ns)
    for name, field_type in facts.items():
        group, _, rest = name.partition(".")
        if group == PERSON:
            columns[name] = ages[units] if rest == "age" else active.sexes[units].astype(np.str_)
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
    return Population(numbers[units], active.holders[units], columns, active, missing)


def _composition(
    households: HouseholdSource, numbers: npt.NDArray[np.int64], persons: PersonSource | None
) -> Composition:
    """The persons' households; a kept copy told how a kept snapshot spliced the persons, so as to splice its own."""
    if isinstance(households, KeptHouseholds) and isinstance(persons, ActivePersonsSnapshot):
        return households.composition(numbers, persons.lineage(numbers))
    return households.composition(numbers)


def _counted(composition: Composition) -> npt.NDArray[np.int64]:
    """Every member's household (registered persons', then the others'), as ids a bincount can count by.

    Ids as a kept composition numbers them (0 up to the members and persons, a few unused) are
    counted as they are: renumbering ten million costs a bincount, a cumsum and a gather more.
    """
    ids = composition.household
    if len(composition.others_household):
        ids = np.concatenate([ids, composition.others_household])
    if len(ids) and int(ids.min()) >= 0 and int(ids.max()) < 2 * len(ids):
        return np.asarray(ids, np.int64)
    return _dense(ids)


def _dense(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Household ids renumbered 0, 1, … so that counts are one bincount."""
    if not len(ids):
        return ids.astype(np.int64)
    low, high = int(ids.min()), int(ids.max())
    if high - low < 4 * len(ids):  # ids as a composition numbers them: ranked by one bincount, no sort
        used = np.bincount(ids - low, minlength=high - low + 1) > 0
        return (np.cumsum(used) - 1)[ids - low].astype(np.int64)
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
    members = np.concatenate([mine, others]) if len(others) else mine
    every_age = np.concatenate([ages, other_ages]) if len(others) else ages
    if name == "size":
        return np.bincount(members, minlength=count).astype(np.int64)
    wanted = {
        "members_under_5": every_age < 5,  # noqa: PLR2004 (the fact's own bound)
        "members_under_18": every_age < 18,  # noqa: PLR2004
        "members_60_and_over": every_age >= 60,  # noqa: PLR2004
    }[name]
    return np.bincount(members[wanted], minlength=count).astype(np.int64)


def _grants(
    store: Store, benefits: Iterable[str], numbers: npt.NDArray[np.int64], at_ns: int
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
        found[benefit] = np.isin(numbers, _as_numbers([r.subject for r in rows if r.benefit == benefit])[0])
    return found


def _reported(
    store: Store, types: EventTypes, rest: str, field_type: FieldType, numbers: npt.NDArray[np.int64]
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
        subjects, numbered = _as_numbers(list(latest))
        index = np.searchsorted(numbers, subjects)
        index = np.minimum(index, max(len(numbers) - 1, 0))
        hit = (numbers[index] == subjects) & numbered if len(numbers) else np.zeros(len(subjects), np.bool_)
        values = np.array(list(latest.values()), dtype=column.dtype)
        if field_type is FieldType.text:
            column = column.astype(values.dtype if values.dtype.itemsize > column.dtype.itemsize else column.dtype)
        column[index[hit]] = values[hit]
        reported[index[hit]] = True
    return column, reported


def _as_numbers(subjects: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Subjects as Tessera numbers' integers (-1 for one that is not a number), and which were."""
    numbered = np.array([len(s) == NUMBER_DIGITS and s.isascii() and s.isdigit() for s in subjects], np.bool_)
    ints = np.array([int(s) if ok else -1 for s, ok in zip(subjects, numbered.tolist(), strict=True)], np.int64)
    return ints, numbered
