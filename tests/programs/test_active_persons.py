"""The active persons kept as columns between previews: after any writes, the same as a fresh scan of the registry."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text, update

from tessera.programs import ActivePersons, ActivePersonsSnapshot, PersonColumns, scan_active_persons
from tessera.programs import active_persons as active_persons_module
from tessera.programs.active_persons import _spliced, holder_ints, holder_text, number_ints, number_text
from tessera.programs.gathering import _dense
from tessera.store import Store, person_changes, persons, principals
from tessera.testing import seed_persons

_seeds = iter(range(1000, 10**6))  # each registration a seed of its own: its numbers and principal ids are new

_write = st.one_of(
    st.tuples(st.just("register"), st.integers(1, 4)),
    st.tuples(st.sampled_from(["active", "suspended", "deceased"]), st.integers(0, 10**6)),
    st.tuples(st.just("birth"), st.integers(0, 10**6), st.dates().map(lambda d: f"{d.year:04d}-{d:%m-%d}")),
    st.tuples(st.just("sex"), st.integers(0, 10**6), st.sampled_from("FMX")),
    st.tuples(st.just("subject"), st.integers(0, 10**6), st.sampled_from([None, "own", "other"])),
    st.tuples(st.just("name"), st.integers(0, 10**6)),  # not a fact a cycle reads: logged by no trigger
    st.tuples(st.just("remove"), st.integers(0, 10**6)),
)


def _apply(store: Store, write: tuple[Any, ...]) -> None:
    """One write straight to the tables, as any writer might: the triggers log it, not the writer."""
    kind = write[0]
    if kind == "register":
        seed_persons(store, next(_seeds), write[1])
        return
    with store.transaction(write=True) as conn:
        everyone = conn.execute(select(persons.c.number, persons.c.principal_id).order_by(persons.c.number)).all()
        if not everyone:
            return
        number, holder = everyone[write[1] % len(everyone)]
        person = persons.c.number == number
        if kind in {"active", "suspended", "deceased"}:
            conn.execute(update(persons).where(person).values(status=kind))
        elif kind == "birth":
            conn.execute(update(persons).where(person).values(birth_date=write[2]))
        elif kind == "sex":
            conn.execute(update(persons).where(person).values(sex=write[2]))
        elif kind == "subject":
            subject = {"own": holder, "other": f"s-{number}", None: None}[write[2]]
            conn.execute(update(principals).where(principals.c.id == holder).values(subject=subject))
        elif kind == "name":
            conn.execute(update(persons).where(person).values(name="renamed"))
        else:
            conn.execute(delete(persons).where(person))


def _same(got: ActivePersons, want: PersonColumns) -> None:
    expected = ActivePersons.of(want)
    for name in ActivePersons.__slots__:
        column, wanted = getattr(got, name), getattr(expected, name)
        assert column.dtype.kind == wanted.dtype.kind, name
        assert column.tolist() == wanted.tolist(), name


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rounds=st.lists(st.lists(_write, max_size=6), min_size=1, max_size=4),
    patch_min=st.sampled_from([0, 3, 1000]),
)
def test_snapshot__after_any_writes__is_a_fresh_scan(store: Store, rounds: list[list[Any]], patch_min: int) -> None:
    """Registered, status changed, birth date and sex corrected, subject changed, removed: each read is the scan."""
    snapshot = ActivePersonsSnapshot(store, rebuild_fraction=0.25, patch_min=patch_min)
    _same(snapshot.active_persons(), scan_active_persons(store))
    for writes in rounds:
        for write in writes:
            _apply(store, write)
        before = snapshot.active_persons() if writes else None
        _same(snapshot.active_persons(), scan_active_persons(store))
        assert snapshot.last.how == "kept"  # read twice with no write between: the second changes nothing
        if before is not None:
            for name in ActivePersons.__slots__:
                assert not getattr(before, name).flags.writeable


def test_snapshot__a_few_changes_patched__many_scanned(store: Store) -> None:
    """Two changes of forty are patched in; more than the share allowed are read by a scan."""
    seed_persons(store, 7, 40)
    snapshot = ActivePersonsSnapshot(store, rebuild_fraction=0.1, patch_min=0)
    first = snapshot.active_persons()
    assert snapshot.last.how == "scanned" and len(first.numbers) == 40
    gone, corrected = number_text(first.numbers[[3, 9]]).tolist()
    with store.transaction(write=True) as conn:
        conn.execute(update(persons).where(persons.c.number == gone).values(status="deceased"))
        conn.execute(update(persons).where(persons.c.number == corrected).values(birth_date="2001-02-03"))
    second = snapshot.active_persons()
    assert snapshot.last.how == "patched" and snapshot.last.changed == 2
    _same(second, scan_active_persons(store))
    assert len(first.numbers) == 40 and first.numbers[3] == int(gone)  # what was handed out before stays as it was
    seed_persons(store, 8, 10)
    _same(snapshot.active_persons(), scan_active_persons(store))
    assert snapshot.last.how == "scanned"


@pytest.mark.parametrize("pruned", ["all", "the first"])
def test_snapshot__a_log_emptied_or_pruned_past_it__scans(store: Store, pruned: str) -> None:
    """A change log emptied behind the snapshot's back, or pruned past where it was taken, is not trusted."""
    numbers = sorted(seed_persons(store, 7, 5))
    snapshot = ActivePersonsSnapshot(store)
    snapshot.active_persons()
    with store.transaction(write=True) as conn:
        for number in numbers[:2]:
            conn.execute(update(persons).where(persons.c.number == number).values(sex="X", birth_date="2000-01-01"))
        first = conn.execute(select(func.max(person_changes.c.seq))).scalar_one() - 1
        conn.execute(delete(person_changes).where(person_changes.c.seq <= (first + 1 if pruned == "all" else first)))
    _same(snapshot.active_persons(), scan_active_persons(store))
    assert snapshot.last.how == "scanned"


def test_snapshot__only_the_facts_a_cycle_reads_are_logged(store: Store) -> None:
    """A name or address written, or a status set to what it was, is not a change the snapshot re-reads."""
    seed_persons(store, 7, 3)
    with store.transaction(write=True) as conn:
        logged = conn.execute(select(func.count()).select_from(person_changes)).scalar_one()
        conn.execute(update(persons).values(name="someone", address="somewhere", status="active"))
        assert conn.execute(select(func.count()).select_from(person_changes)).scalar_one() == logged == 3


def test_snapshot__a_birth_date_corrected__no_subject_read_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A person of the same principal, their subject not logged: one row re-read, the subject kept as it was."""
    number = seed_persons(store, 7, 2)[0]
    with store.transaction(write=True) as conn:
        holder = conn.execute(select(persons.c.principal_id).where(persons.c.number == number)).scalar_one()
        conn.execute(update(principals).where(principals.c.id == holder).values(subject="someone else"))
    snapshot = ActivePersonsSnapshot(store, patch_min=1000)
    snapshot.active_persons()
    with store.transaction(write=True) as conn:
        conn.execute(update(persons).where(persons.c.number == number).values(birth_date="2001-02-03"))
    asked: list[tuple[bool, int]] = []
    read_in = active_persons_module._read_in
    monkeypatch.setattr(
        active_persons_module,
        "_read_in",
        lambda conn, query, numbers: (
            asked.append((query == active_persons_module._SUBJECTS, len(numbers))) or read_in(conn, query, numbers)
        ),
    )
    _same(snapshot.active_persons(), scan_active_persons(store))
    assert snapshot.last.how == "patched" and asked == [(False, 1), (True, 0)]


def test_snapshot__a_person_s_row_and_their_subject_are_logged_as_such(store: Store) -> None:
    """Migration 0031's kinds: ``p`` a person registered or written, ``s`` their principal's subject changed."""
    number = seed_persons(store, 7, 1)[0]
    with store.transaction(write=True) as conn:
        holder = conn.execute(select(persons.c.principal_id)).scalar_one()
        conn.execute(update(persons).values(sex="X"))
        conn.execute(update(principals).where(principals.c.id == holder).values(subject="someone else"))
        logged = conn.execute(select(person_changes.c.number, person_changes.c.kind).order_by(person_changes.c.seq))
        assert [tuple(row) for row in logged] == [(number, "p"), (number, "p"), (number, "s")]


@given(
    size=st.integers(0, 30),
    data=st.data(),
)
def test_spliced__as_numpy_deletes_and_inserts(size: int, data: Any) -> None:
    """Rows dropped and put in a run of old rows at a time: the column ``np.delete`` and ``np.insert`` make."""
    old = np.arange(size, dtype=np.int64) * 10
    drop = np.array(sorted(data.draw(st.sets(st.integers(0, max(size - 1, 0)), max_size=size))), dtype=np.intp)
    drop = drop[drop < size]
    new = np.array(sorted(data.draw(st.lists(st.integers(-5, size * 10 + 5), max_size=8))), dtype=np.int64)
    before = np.searchsorted(old, new)
    want = np.insert(np.delete(old, drop), before - np.searchsorted(drop, before), new)
    assert _spliced(old, drop, before, new).tolist() == want.tolist() == sorted([*np.delete(old, drop).tolist(), *new])


@given(
    born=st.lists(st.dates(), max_size=20),
    today=st.dates(),
)
def test_ages_on__from_kept_years_and_month_days__as_from_birth_days(born: list[Any], today: Any) -> None:
    """Ages worked out from birth years and month-days are those worked out from the days themselves."""
    days = np.array(born, dtype="datetime64[D]").astype(np.int64)
    none = np.zeros(0, np.int64)
    persons_ = ActivePersons.of(
        (days, days.astype(np.uint64), days, np.zeros(len(born), "S1"), none, np.zeros(0, "U1"))
    )
    now = int(np.datetime64(today, "D").astype(np.int64))
    assert persons_.ages_on(now).tolist() == _calendar_ages(days, now).tolist()


def _calendar_ages(birth_days: Any, today: int) -> Any:
    """Ages as the calendar counts them, one date at a time: the oracle the columns' arithmetic must match."""
    now = np.datetime64(today, "D").astype(object)
    ages = []
    for day in np.asarray(birth_days).astype("datetime64[D]").astype(object):
        years = now.year - day.year - ((now.month, now.day) < (day.month, day.day))
        ages.append(max(years, 0))
    return np.array(ages, np.int64)


@given(ids=st.lists(st.integers(-(2**40), 2**40) | st.integers(0, 50), max_size=40))
def test_dense__ranked_by_bincount_or_sorted__as_np_unique(ids: list[int]) -> None:
    """Household ids renumbered by their rank, whichever way: as ``np.unique`` numbers them."""
    column = np.array(ids, dtype=np.int64)
    want = np.unique(column, return_inverse=True)[1] if ids else column
    assert _dense(column).tolist() == want.tolist()


def test_snapshot__a_change_drawn_before_a_later_one_commits_is_not_passed_over(store: Store) -> None:
    """PostgreSQL draws sequence numbers before commit: a read waits for the writer holding an earlier one."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: its numbers commit in order")
    first, second = sorted(seed_persons(store, 7, 2))
    snapshot = ActivePersonsSnapshot(store)
    snapshot.active_persons()
    drawn, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with store.transaction(write=True) as conn:
            conn.execute(update(persons).where(persons.c.number == first).values(sex="X", birth_date="2001-01-01"))
            drawn.set()
            release.wait()

    writer = threading.Thread(target=slow_writer, daemon=True)
    writer.start()
    reader = threading.Thread(target=snapshot.active_persons, daemon=True)
    try:
        drawn.wait()
        with store.transaction(write=True) as conn:  # numbered after the slow writer's change, committed before it
            conn.execute(update(persons).where(persons.c.number == second).values(sex="X", birth_date="2002-02-02"))
        reader.start()
        while reader.is_alive():  # until the reader waits on the lock, or has read without waiting
            with store.transaction() as conn:  # a fresh transaction a look: pg_locks as it is now
                if conn.execute(text(_WAITING)).scalar_one():
                    break
            time.sleep(0.002)
    finally:
        release.set()  # the writer commits whatever happened above, so that nothing is left holding the database
        writer.join()
        if reader.ident is not None:
            reader.join()
    _same(snapshot.active_persons(), scan_active_persons(store))


_WAITING = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


@given(
    numbers=st.lists(st.integers(0, 10**12 - 1), max_size=20), holders=st.lists(st.integers(0, 2**64 - 1), max_size=20)
)
def test_number_and_holder_text__as_written_and_back(numbers: list[int], holders: list[int]) -> None:
    """Numbers as 12 digits, zeros first; principal ids as ``p_`` and 16 lower-case hex digits; and back."""
    texts = number_text(np.array(numbers, np.int64)).tolist()
    assert texts == [f"{n:012d}" for n in numbers]
    assert number_ints(texts).tolist() == numbers
    ids = holder_text(np.array(holders, np.uint64)).tolist()
    assert ids == [f"p_{h:016x}" for h in holders]
    assert holder_ints(ids).tolist() == holders


@pytest.mark.parametrize("odd", ["p_0123", "p_0123456789ABCDEF", "q_0123456789abcdef", "p_0123456789abcdeg"])
def test_holder_ints__an_id_not_as_written_is_refused(odd: str) -> None:
    """An id the compact column cannot hold is an error, never a wrong principal."""
    with pytest.raises(ValueError, match="principal id"):
        holder_ints([odd])
