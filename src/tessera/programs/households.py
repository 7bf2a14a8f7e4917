"""Household composition as a cycle reads it: a small interface of its own, so the registry's households plug in.

``tessera.identity`` keeps households (members, a head, nominees, a history); a cycle only
needs, for each registered person, their household and whether they head it, and the birth
dates of members who are not registered persons (a newborn). ``PersonsAlone`` makes each
person a household of one, and its head; ``RegisteredHouseholds`` reads the registry's
households afresh on each call, ``KeptHouseholds`` (the service's) keeps them between previews.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from tessera.identity import MembershipColumns, read_membership_columns
from tessera.programs.active_persons import Lineage, Refresh, number_ints
from tessera.programs.kept_files import PATCH_MIN, REBUILD_FRACTION, SAVE_FRACTION, Keeping, log_span
from tessera.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Composition:
    """Per registered person (in the order asked): household and head; and members who are not registered persons."""

    household: npt.NDArray[np.int64]  # any integer naming the household; equal for members of one
    head: npt.NDArray[np.bool_]  # exactly one head per household
    others_household: npt.NDArray[np.int64]  # unregistered members: their household
    others_birth_day: npt.NDArray[np.int64]  # and their birth date, in days since 1970-01-01


class HouseholdSource(Protocol):
    """Where a cycle reads household composition from (``tessera.identity``'s households, when wired)."""

    def composition(self, numbers: npt.NDArray[np.int64]) -> Composition:
        """The composition for the persons numbered ``numbers`` (Tessera numbers as integers, ascending)."""
        ...


class PersonsAlone:
    """Each person a household of one, and its head: what a cycle assumes until households are registered."""

    def composition(self, numbers: npt.NDArray[np.int64]) -> Composition:
        """Household i for person i, each the head; nobody else."""
        empty = np.zeros(0, np.int64)
        return Composition(np.arange(len(numbers), dtype=np.int64), np.ones(len(numbers), np.bool_), empty, empty)


class RegisteredHouseholds:
    """The registry's households (``tessera.identity.Households.membership_columns``) as a cycle reads them.

    A person in no household is a household of one, and its head, as ``PersonsAlone`` has
    everyone. Every member of a registered household is a registered person, so there are no
    others to count. The members come as numpy columns read in one block, and are matched to
    the persons asked with ``np.searchsorted``: no Python object per member.
    """

    def __init__(self, memberships: Callable[[], MembershipColumns]) -> None:
        self._memberships = memberships

    def composition(self, numbers: npt.NDArray[np.int64]) -> Composition:
        """Each person's household numbered (registered ones first, then one apiece for the rest) and head flag."""
        return _composed(self._memberships(), numbers)


def _composed(members: MembershipColumns, numbers: npt.NDArray[np.int64]) -> Composition:
    """The composition of the persons ``numbers``, their households and heads looked up among ``members``."""
    if numbers.dtype.kind in "US":  # numbers as text, as a caller may still hand them: the same persons
        numbers = number_ints(numbers.astype(np.str_))
    if len(members.numbers) and len(numbers):
        at, found = _found(members.numbers, numbers)
        household = members.households.take(at)  # gathered into arrays of their own, then mended in place
        head = members.heads.take(at)
        alone = np.flatnonzero(~found)
        head[alone] = True
    else:
        household, head = np.zeros(len(numbers), np.int64), np.ones(len(numbers), np.bool_)
        alone = np.arange(len(numbers))
    household[alone] = members.count + np.arange(len(alone), dtype=np.int64)  # past every registered household
    empty = np.zeros(0, np.int64)
    return Composition(household, head, empty, empty)


_STEP = 16  # one binary search a stride of this many persons; the rest guessed from it, and checked


def _found(
    members: npt.NDArray[np.int64], numbers: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Where each of ``numbers`` is among ``members`` (both ascending, neither repeating), and whether it is there.

    The members and the active persons are mostly the same people: after the first of a stride
    is searched, the next ones are most often the next members. Each guess is checked (a number
    found at a place is that place), and only the numbers guessed wrong are searched: about a
    third of a binary search each at ten million. No array of ten million is made but ``at``,
    the guesses checked and the found flags (each a page fault per 4 KiB at its first write).
    """
    last = len(members) - 1
    count = len(numbers)
    if count <= _STEP or (numbers[1:] <= numbers[:-1]).any():
        at = np.minimum(np.searchsorted(members, numbers), last)
        return at, members[at] == numbers
    first = np.searchsorted(members, numbers[::_STEP])
    at = np.arange(count, dtype=np.intp)
    whole = count - count % _STEP
    at[:whole].reshape(-1, _STEP)[:] += (first[: whole // _STEP] - np.arange(0, whole, _STEP))[:, None]
    at[whole:] += first[-1] - whole if whole < count else 0
    np.minimum(at, last, out=at)
    found = members.take(at) == numbers
    wrong = np.flatnonzero(~found)
    if len(wrong):
        again = np.minimum(np.searchsorted(members, numbers[wrong]), last)
        at[wrong] = again
        found[wrong] = members[again] == numbers[wrong]
    return at, found


_NUMBERS_CHUNK = 1000  # numbers per IN list: well under SQLite's and PostgreSQL's parameter limits


class KeptHouseholds:
    """The registry's households kept as columns between previews, patched from ``person_changes``.

    Migration 0029's triggers log every member inserted, deleted, or moved or made head or not,
    in the log the active persons are patched from. On each read only the members it names are
    re-read, in the transaction that read the log's newest number (on PostgreSQL holding its
    lock, so that no change commits meanwhile; on SQLite in one snapshot): a head changed is two
    rows, and both are read as of the same moment. More changes than ``rebuild_fraction`` of the
    members (and than ``patch_min``), or a log emptied or pruned past it, and it reads afresh
    (``read_membership_columns``). Reads are serialised; what one returns is read-only and
    never changes. A second preview of the same persons with nothing changed is handed the
    same composition. Given a ``path``, kept in a file too, read back and written as the active
    persons' snapshot is (``ActivePersonsSnapshot``, ``kept_files.py``).
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
            store, _KIND, _FILED, kinds=("h",),
            rebuild_fraction=rebuild_fraction, patch_min=patch_min, path=path, save_fraction=save_fraction,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._kept: tuple[int, MembershipColumns] | None = None
        self._last: _Composed | None = None
        # the members re-read since the last composition was worked out; None: read afresh meanwhile
        self._moved: list[npt.NDArray[np.int64]] | None = None
        self.last = Refresh("scanned", 0, 0)

    def save(self) -> None:
        """The memberships kept written to the file, unless it holds them already (or none are kept, or no file)."""
        with self._lock:
            if self._kept is not None:
                self._keeping.save(self._kept[0], _filed(self._kept[1]))

    def _save_if_due(self) -> None:
        if self._kept is not None:
            seq, members = self._kept
            scanned = self.last.how == "scanned"
            self._keeping.save_if_due(seq, len(members.numbers), scanned, lambda: _filed(members))

    def memberships(self) -> MembershipColumns:
        """Every membership now, as columns (household numbers stay as they were while kept)."""
        with self._lock:
            members = self._refreshed()
            self._save_if_due()
            return members

    def composition(self, numbers: npt.NDArray[np.int64], since: Lineage | None = None) -> Composition:
        """Each person's household and head flag, from the memberships kept (brought up to date first).

        Given how ``numbers`` were spliced from the persons of the last composition (``since``), that one is
        spliced the same way and only the persons put in, and the members re-read since, are looked up: at ten
        million, tens of milliseconds instead of a search per person.
        """
        with self._lock:
            members = self._refreshed()
            self._save_if_due()
            last, moved = self._last, self._moved
            self._moved = []
            # Only an array no one can write to is known to be the same persons when it is the same object.
            if last is not None and last.numbers is numbers and last.members is members and not numbers.flags.writeable:
                return last.composition
            found = _recomposed(last, members, numbers, since, moved)
            if found is None:
                composition = _composed(members, numbers)
                alone = members.count + int((composition.household >= members.count).sum())
                found = composition, alone
            for array in (found[0].household, found[0].head):
                array.flags.writeable = False
            self._last = _Composed(numbers, members, *found)
            return found[0]

    def _refreshed(self) -> MembershipColumns:
        """The memberships as of the newest change committed: kept as they were, patched, or read afresh."""
        kept = self._kept
        loaded = False
        if kept is None and (found := self._keeping.load(_checked_members)) is not None:
            _read_only(found[1])
            kept, loaded = found, True
            self._kept = kept
        with self._store.transaction() as conn:
            oldest, newest = log_span(conn)
            if kept is not None and newest == kept[0]:
                self.last = Refresh("loaded" if loaded else "kept", 0, newest)
                return kept[1]
            # A log emptied or pruned past the copy kept is never trusted (as for the active persons).
            if kept is not None and newest > kept[0] and oldest <= kept[0] + 1:
                changed = self._keeping.changed(conn, kept[0], newest, len(kept[1].numbers))
                if changed is not None:
                    patched = _patched(kept[1], changed, _rows_of(conn, changed))
                    if self._moved is not None:
                        self._moved.append(number_ints(changed))
                    how = "loaded" if loaded else "patched"
                    self._kept, self.last = (newest, patched), Refresh(how, len(changed), newest)
                    return patched
        # Read after the newest change was: a later change may be in it already, and is re-read next time.
        fresh = read_membership_columns(self._store)
        _read_only(fresh)
        self._moved = None
        self._kept, self.last = (newest, fresh), Refresh("scanned", len(fresh.numbers), newest)
        return fresh


@dataclass(frozen=True, slots=True)
class _Composed:
    """The last composition worked out: of the persons ``numbers`` from ``members``; persons in no household numbered
    from ``alone`` up (each apart: past every household's number)."""

    numbers: npt.NDArray[np.int64]
    members: MembershipColumns
    composition: Composition
    alone: int


def _recomposed(
    last: _Composed | None,
    members: MembershipColumns,
    numbers: npt.NDArray[np.int64],
    since: Lineage | None,
    moved: list[npt.NDArray[np.int64]] | None,
) -> tuple[Composition, int] | None:
    """The last composition spliced as ``since`` spliced the persons, the persons put in and the members re-read
    looked up; None unless both lineages reach back to it and the households kept their numbers (no new one)."""
    if last is None or moved is None or last.members.ids is not members.ids or numbers.dtype != np.int64:
        return None
    old = last.composition
    if last.numbers is numbers:
        household, head, fresh = old.household, old.head, np.zeros(0, np.int64)
    elif since is not None and since.prior is last.numbers and since.numbers is numbers:
        fresh = since.fresh
        household = since.splice.apply(old.household, np.zeros(len(fresh), np.int64))
        head = since.splice.apply(old.head, np.zeros(len(fresh), np.bool_))
    else:
        return None
    asked = np.union1d(fresh, np.concatenate(moved)) if moved else fresh
    at = np.minimum(np.searchsorted(numbers, asked), max(len(numbers) - 1, 0))
    at = at[numbers[at] == asked] if len(numbers) else at[:0]
    if not len(at):
        return Composition(household, head, old.others_household, old.others_birth_day), last.alone
    looked = _composed(members, numbers[at])
    alone = looked.household >= members.count
    looked.household[alone] = last.alone + np.arange(int(alone.sum()), dtype=np.int64)
    household = household if household is not old.household else household.copy()
    head = head if head is not old.head else head.copy()
    household[at], head[at] = looked.household, looked.head
    return Composition(household, head, old.others_household, old.others_birth_day), last.alone + int(alone.sum())


def _filed(members: MembershipColumns) -> dict[str, npt.NDArray[Any]]:
    """The columns a file keeps of ``members``: household ids as ASCII bytes where they are (a quarter of the bytes)."""
    try:
        ids: npt.NDArray[Any] = members.ids if members.ids.dtype.kind == "S" else members.ids.astype(np.bytes_)
    except UnicodeEncodeError:
        ids = members.ids
    return {"numbers": members.numbers, "households": members.households, "heads": members.heads, "ids": ids}


def _rows_of(conn: Connection, numbers: list[str]) -> list[tuple[str, str, bool]]:
    """The membership rows of ``numbers`` now (those in a household), sorted by number."""
    rows: list[tuple[str, str, bool]] = []
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    for start in range(0, len(numbers), _NUMBERS_CHUNK):
        chunk = numbers[start : start + _NUMBERS_CHUNK]
        cursor.execute(_MEMBERS_OF.format(", ".join([mark] * len(chunk))), chunk)
        rows += [(str(n), str(h), bool(head)) for n, h, head in cursor.fetchall()]
    return sorted(rows)


_MEMBERS_OF = "SELECT number, household_id, is_head FROM household_members WHERE number IN ({})"


def _patched(kept: MembershipColumns, changed: list[str], rows: list[tuple[str, str, bool]]) -> MembershipColumns:
    """``kept`` without the members numbered ``changed``, then with ``rows`` (their memberships now) put in."""
    asked = number_ints(changed)
    at = np.searchsorted(kept.numbers, asked)
    present = at < len(kept.numbers)
    present[present] = kept.numbers[at[present]] == asked[present]
    drop = at[present]
    new_numbers = number_ints([n for n, _, _ in rows])
    new_ids, ids = _ids_like([h for _, h, _ in rows], kept.ids)
    new_heads = np.array([head for _, _, head in rows], dtype=np.bool_)
    households = kept.households
    known = np.minimum(np.searchsorted(ids, new_ids), max(len(ids) - 1, 0))
    if len(drop) == len(new_numbers) and np.array_equal(kept.numbers[drop], new_numbers):
        same = bool(len(ids)) and (ids[known] == new_ids).all() and np.array_equal(households[drop], known)
        if same and np.array_equal(kept.heads[drop], new_heads):
            return kept  # every member asked about is where they were, as they were: nothing to rebuild
    if len(new_ids) and (not len(ids) or not (ids[known] == new_ids).all()):
        old_ids, ids = ids, np.union1d(ids, new_ids)  # a new household: the numbers shift, to keep ids ascending
        households = np.searchsorted(ids, old_ids).astype(np.int64)[households]
    numbers = np.delete(kept.numbers, drop)
    before = np.searchsorted(numbers, new_numbers)
    patched = MembershipColumns(
        np.insert(numbers, before, new_numbers),
        np.insert(np.delete(households, drop), before, np.searchsorted(ids, new_ids).astype(np.int64)),
        np.insert(np.delete(kept.heads, drop), before, new_heads),
        len(ids),
        ids,
    )
    _read_only(patched)
    return patched


def _ids_like(values: list[str], ids: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """``values`` as household ids of the kind ``ids`` are (ASCII bytes as a file keeps them, or text), and ``ids``
    (as text, if one of ``values`` is not ASCII)."""
    if ids.dtype.kind == "S":
        try:
            return (np.array(values, np.bytes_) if values else np.zeros(0, ids.dtype)), ids
        except UnicodeEncodeError:
            ids = ids.astype(np.str_)
    return (np.array(values) if values else np.zeros(0, ids.dtype)), ids


_KIND = "household members"
_FILED = ("numbers", "households", "heads", "ids")


def _checked_members(columns: Mapping[str, npt.NDArray[Any]]) -> MembershipColumns | None:
    """A file's memberships, if of their kinds, numbers ascending, households among the ids; else None."""
    numbers, households, heads, ids = (columns[name] for name in _FILED)
    if [c.dtype.kind for c in (numbers, households, heads)] != ["i", "i", "b"] or ids.dtype.kind not in "SU":
        return None
    if not len(ids):
        ids = np.zeros(0, "U18")
    # ids kept as the file's ASCII bytes (a quarter of text's): widening 2.5M costs 0.2-0.3 s at each restart
    if any(c.ndim != 1 for c in (numbers, households, heads, ids)) or not len(numbers) == len(households) == len(heads):
        return None
    if not (numbers[1:] > numbers[:-1]).all() or (ids[1:] <= ids[:-1]).any():
        return None
    if len(households) and not (households.min() >= 0 and households.max() < len(ids)):
        return None
    return MembershipColumns(np.asarray(numbers, np.int64), np.asarray(households, np.int64), heads, len(ids), ids)


def _read_only(columns: MembershipColumns) -> None:
    for array in (columns.numbers, columns.households, columns.heads, columns.ids):
        array.flags.writeable = False
