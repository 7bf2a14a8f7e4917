"""The registry's households kept between previews: patched from the change log, each read as a fresh one."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from tessera.identity import Households, MembershipColumns, read_membership_columns
from tessera.programs import ActivePersonsSnapshot, Composition, KeptHouseholds, RegisteredHouseholds
from tessera.programs import households as households_module
from tessera.store import Store, household_members, households, person_changes, persons
from tessera.testing import seed_persons

OFFICER = "p_00000000000000aa"
REASON = "family registered at the desk, birth certificates seen"
_seeds = itertools.count(5000)  # each example's persons of a seed of their own
_ids = itertools.count(1)

_write = st.one_of(
    st.tuples(st.just("join"), st.integers(0, 99), st.integers(0, 9)),
    st.tuples(st.just("leave"), st.integers(0, 99)),
    st.tuples(st.just("head"), st.integers(0, 99)),
    st.tuples(st.just("move"), st.integers(0, 99), st.integers(0, 9)),
    st.tuples(st.just("birth"), st.integers(0, 99)),  # a person's fact, logged as theirs: no member re-read
)


def _apply(store: Store, numbers: list[str], write: tuple[Any, ...]) -> None:
    """One write straight to the tables, as any writer might: the triggers log it, not the writer."""
    kind, number = write[0], numbers[write[1] % len(numbers)]
    member = household_members.c.number == number
    with store.transaction(write=True) as conn:
        if kind == "birth":
            conn.execute(update(persons).where(persons.c.number == number).values(birth_date="2001-02-03"))
            return
        homes = sorted(conn.execute(select(households.c.id)).scalars())
        current = conn.execute(select(household_members.c.household_id).where(member)).scalar()
        if kind == "join" and current is None:
            if write[2] >= len(homes):
                home = f"h_{next(_ids):016x}"
                conn.execute(households.insert().values(id=home, created_at_ns=1, created_by="t", closed_at_ns=None))
            else:
                home = homes[write[2]]
            headed = conn.execute(
                select(household_members.c.number).where(
                    household_members.c.household_id == home, household_members.c.is_head
                )
            ).first()
            row = {"number": number, "household_id": home, "is_head": headed is None, "joined_at_ns": 1}
            conn.execute(household_members.insert().values(**row))
        elif kind == "leave" and current is not None:
            conn.execute(delete(household_members).where(member))
        elif kind == "head" and current is not None:
            same = household_members.c.household_id == current
            conn.execute(update(household_members).where(same).values(is_head=False))
            conn.execute(update(household_members).where(member).values(is_head=True))
        elif kind == "move" and current is not None and homes:
            home = homes[write[2] % len(homes)]
            conn.execute(update(household_members).where(member).values(household_id=home, is_head=False))


def _same(kept: MembershipColumns, fresh: MembershipColumns) -> None:
    assert kept.numbers.tolist() == fresh.numbers.tolist()
    assert kept.heads.tolist() == fresh.heads.tolist()
    assert kept.ids[kept.households].astype(str).tolist() == fresh.ids[fresh.households].tolist()
    assert kept.households.max(initial=-1) < kept.count == len(kept.ids)


def _partition(composition: Composition) -> list[int]:
    """Each person's household named by the first person in it: the same for two equal compositions."""
    first: dict[int, int] = {}
    return [first.setdefault(int(h), i) for i, h in enumerate(composition.household.tolist())]


def _persons(store: Store, count: int) -> tuple[list[str], npt.NDArray[np.str_]]:
    numbers = seed_persons(store, next(_seeds), count)
    asked = np.array(sorted(numbers))
    asked.flags.writeable = False
    return numbers, asked


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rounds=st.lists(st.lists(_write, max_size=8), min_size=1, max_size=4),
    patch_min=st.sampled_from([0, 3, 1000]),
)
def test_kept__after_any_membership_writes__is_a_fresh_read(
    store: Store, rounds: list[list[Any]], patch_min: int
) -> None:
    """Joined (a new household or another's), left, made head, moved, a person's birth date corrected between them:
    each read and composition is the fresh one, and only the members written are re-read."""
    numbers, asked = _persons(store, 12)
    kept = KeptHouseholds(store, rebuild_fraction=0.25, patch_min=patch_min)
    fresh = RegisteredHouseholds(lambda: read_membership_columns(store))
    _same(kept.memberships(), read_membership_columns(store))
    for writes in rounds:
        for write in writes:
            _apply(store, numbers, write)
        _same(kept.memberships(), read_membership_columns(store))
        if all(write[0] == "birth" for write in writes):
            assert kept.last.how == "kept" if not writes else kept.last.changed == 0
        composition = kept.composition(asked)
        assert _partition(composition) == _partition(fresh.composition(asked))
        assert composition.head.tolist() == fresh.composition(asked).head.tolist()
        assert kept.composition(asked) is composition and kept.last.how == "kept"  # nothing written between


_person_write = st.one_of(
    st.tuples(st.just("register"), st.integers(1, 3)),
    st.tuples(st.sampled_from(["active", "deceased"]), st.integers(0, 99)),
)


def _apply_to_persons(store: Store, numbers: list[str], write: tuple[Any, ...]) -> None:
    if write[0] == "register":
        seed_persons(store, next(_seeds), write[1])
        return
    with store.transaction(write=True) as conn:
        number = numbers[write[1] % len(numbers)]
        conn.execute(update(persons).where(persons.c.number == number).values(status=write[0]))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(st.lists(st.one_of(_write, _person_write), max_size=8), min_size=1, max_size=4))
def test_kept__spliced_as_the_persons_were__is_a_fresh_composition(store: Store, rounds: list[list[Any]]) -> None:
    """Persons registered, gone and back, members joined, left, moved: the composition spliced as the active persons
    were, with only those put in and the members re-read looked up, is the one worked out afresh."""
    numbers, _ = _persons(store, 12)
    kept, snapshot = KeptHouseholds(store, patch_min=1000), ActivePersonsSnapshot(store, patch_min=1000)
    fresh = RegisteredHouseholds(lambda: read_membership_columns(store))
    for writes in [[], *rounds]:
        for write in writes:
            (_apply_to_persons if write[0] in {"register", "active", "deceased"} else _apply)(store, numbers, write)
        active = snapshot.active_persons().numbers
        composition = kept.composition(active, snapshot.lineage(active))
        want = fresh.composition(active)
        assert _partition(composition) == _partition(want)
        assert composition.head.tolist() == want.head.tolist()


def test_kept__spliced__only_the_persons_put_in_are_looked_up(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two persons registered and one gone since: the composition is spliced, two persons looked up, not all."""
    homes = Households(store)
    numbers, _ = _persons(store, 6)
    homes.create_household(numbers[:3], head=numbers[0], actor=OFFICER, reason=REASON)
    kept, snapshot = KeptHouseholds(store), ActivePersonsSnapshot(store)
    kept.composition(snapshot.active_persons().numbers)
    seed_persons(store, next(_seeds), 2)
    with store.transaction(write=True) as conn:
        conn.execute(update(persons).where(persons.c.number == numbers[1]).values(status="deceased"))
    looked_up: list[int] = []
    composed = households_module._composed
    monkeypatch.setattr(households_module, "_composed", lambda m, n: looked_up.append(len(n)) or composed(m, n))
    active = snapshot.active_persons().numbers
    composition = kept.composition(active, snapshot.lineage(active))
    assert looked_up == [2] and len(active) == 7
    want = RegisteredHouseholds(lambda: read_membership_columns(store)).composition(active)
    assert _partition(composition) == _partition(want) and composition.head.tolist() == want.head.tolist()


def test_kept__a_few_changes_patched__the_same_persons_unchanged_handed_the_same(store: Store) -> None:
    """A head changed is two members re-read; asked again with nothing changed, the same composition is handed out."""
    homes = Households(store)
    numbers, asked = _persons(store, 6)
    made = homes.create_household(numbers[:3], head=numbers[0], actor=OFFICER, reason=REASON)
    kept = KeptHouseholds(store)
    first = kept.composition(asked)
    assert kept.last.how == "scanned" and kept.composition(asked) is first
    homes.change_head(made.id, numbers[2], actor=OFFICER, reason=REASON)
    second = kept.composition(asked)
    assert kept.last.how == "patched" and kept.last.changed == 2 and second is not first
    head = dict(zip(asked.tolist(), second.head.tolist(), strict=True))
    assert [head[n] for n in numbers] == [False, False, True, True, True, True]
    assert not second.household.flags.writeable and not first.head.flags.writeable
    writable = asked.copy()  # an array its caller may change is never taken for the same persons
    assert kept.composition(writable) is not kept.composition(writable)


def test_every_membership_write_is_logged(store: Store) -> None:
    """Joining, a head changed (two rows) and leaving each log the members written, by the database's triggers."""
    homes = Households(store)
    numbers, _ = _persons(store, 3)

    def logged() -> list[tuple[str, str]]:
        with store.transaction() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    select(person_changes.c.number, person_changes.c.kind).order_by(person_changes.c.seq)
                )
            ]

    before = len(logged())
    made = homes.create_household(numbers[:2], head=numbers[0], actor=OFFICER, reason=REASON)
    homes.change_head(made.id, numbers[1], actor=OFFICER, reason=REASON)
    homes.remove_member(made.id, numbers[0], actor=OFFICER, reason=REASON)
    written = [numbers[0], numbers[1], numbers[0], numbers[1], numbers[0]]
    assert logged()[before:] == [(number, "h") for number in written]


def test_each_copy_re_reads_the_entries_of_its_kinds_and_those_of_none(store: Store) -> None:
    """A birth date corrected is the persons' to re-read, a member moved the households'; an entry of no kind
    (logged before migration 0031) is read by both."""
    homes = Households(store)
    numbers, asked = _persons(store, 4)
    made = homes.create_household(numbers[:2], head=numbers[0], actor=OFFICER, reason=REASON)
    kept, snapshot = KeptHouseholds(store), ActivePersonsSnapshot(store)
    kept.composition(asked), snapshot.active_persons()
    with store.transaction(write=True) as conn:
        conn.execute(update(persons).where(persons.c.number == numbers[3]).values(birth_date="2001-02-03"))
    homes.add_member(made.id, numbers[2], actor=OFFICER, reason=REASON)
    kept.composition(asked), snapshot.active_persons()
    assert (kept.last.how, kept.last.changed, snapshot.last.how, snapshot.last.changed) == ("patched", 1, "patched", 1)
    homes.remove_member(made.id, numbers[2], actor=OFFICER, reason=REASON)
    with store.transaction(write=True) as conn:  # as if logged before the entries had kinds
        conn.execute(update(person_changes).values(kind=None).where(person_changes.c.number == numbers[2]))
    assert (
        kept.composition(asked).household.tolist()
        == RegisteredHouseholds(lambda: read_membership_columns(store)).composition(asked).household.tolist()
    )
    snapshot.active_persons()
    assert (kept.last.changed, snapshot.last.how, snapshot.last.changed) == (1, "patched", 1)
