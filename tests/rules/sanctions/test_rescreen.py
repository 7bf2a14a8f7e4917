"""An import screens the registered people against its new and changed listings only, once, resumably.

Run on SQLite and PostgreSQL (the ``store`` fixture), with FtM lists written by hand, a
recording access log and the real watch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from tessera.audit import AccessEntry
from tessera.errors import ConflictError
from tessera.identity import Registry
from tessera.identity.registry import Person
from tessera.rules.basis import LegalBases
from tessera.rules.definitions import builtin_definitions
from tessera.rules.due_process.notices import Notices
from tessera.rules.due_process.restrictions import Restrictions
from tessera.rules.sanctions.imported import ImportedList, SanctionsLists
from tessera.rules.sanctions.rescreen import (
    SCREENING_FIELDS,
    SCREENING_PRINCIPAL,
    ListScreenings,
    OwedScreeningsPoller,
    ScreeningProgress,
)
from tessera.rules.sanctions.watch import SANCTIONS_BASES, HitContext, HitStatus, SanctionsWatch, Screenee
from tessera.store import Store, sanctions_entities, screening_hits

T0 = 1_800_000_000 * 10**9
LISTED = {"id": "p-zorbanov", "name": "Khaledin Zorbanov DIMITRENKO", "born": "1961-03-04"}
OTHER = {"id": "p-montevaldi", "name": "Vaskar Ulbrecht MONTEVALDI", "born": "1955-11-20"}
THIRD = {"id": "p-quillaby", "name": "Oderic Fennimore QUILLABY", "born": "1970-06-01"}


def _line(listing: dict[str, str], aliases: Sequence[str] = ()) -> str:
    properties = {"name": [listing["name"]], "alias": list(aliases), "birthDate": [listing["born"]]}
    return json.dumps({"id": listing["id"], "schema": "Person", "properties": properties})


@dataclass
class RecordingLog:
    """An access log that keeps what is appended, and can fail on a given call (a crash there)."""

    entries: list[AccessEntry] = field(default_factory=list)
    fail_on_call: int | None = None
    calls: int = 0

    def append(self, entries: Sequence[AccessEntry]) -> int:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise OSError("disk gone")
        self.entries += entries
        return len(self.entries)


@dataclass
class World:
    store: Store
    lists: SanctionsLists
    registry: Registry
    watch: SanctionsWatch
    log: RecordingLog
    folder: Path
    imports: int = 0

    def import_ftm(self, *lines: str) -> ImportedList:
        self.imports += 1
        path = self.folder / f"list{self.imports}.jsonl"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return self.lists.import_list(path, "ftm")

    def person(self, name: str, born: str, other_names: Sequence[str] = ()) -> Person:
        facts = {"name": name, "birth_date": born, "sex": "M", "other_names": list(other_names)}
        return self.registry.create_person(facts, station="x")

    def screenings(self, batch_size: int = 2) -> ListScreenings:
        return ListScreenings(self.store, self.registry, self.watch, self.log, batch_size=batch_size, clock=lambda: T0)

    def hits(self) -> list[tuple[str, str, str]]:
        return sorted((h.subject, h.list_id, h.context.value) for h in self.watch.hits(None))


def _world(store: Store, folder: Path) -> World:
    bases = LegalBases()
    restrictions = Restrictions(store, bases, Notices(store, bases), clock=lambda: T0)
    _, builtin = builtin_definitions()
    restrictions.register_bases([builtin.get(b) for b in SANCTIONS_BASES])
    lists = SanctionsLists(store)
    watch = SanctionsWatch(store, restrictions, lists, refresh_s=0.0, clock=lambda: T0)
    return World(store, lists, Registry(store), watch, RecordingLog(), folder)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return _world(store, tmp_path)


class TestWhatIsScreened:
    def test_a_new_listing__a_hit_for_the_registered_person_it_names(self, world: World) -> None:
        """A person registered before their listing appears gets a pending hit once the list with it is imported."""
        world.import_ftm(_line(OTHER))
        world.screenings().run_owed()
        person = world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        imported = world.import_ftm(_line(OTHER), _line(LISTED))
        assert (imported.new, imported.changed, imported.removed, imported.owed) == (1, 0, 0, 1)
        (summary,) = world.screenings().run_owed()
        assert (summary.listings_new, summary.listings_screened, summary.people, summary.hits) == (1, 1, 1, 1)
        (hit,) = world.watch.hits()
        assert (hit.subject, hit.list_id, hit.status) == (person.number, "ftm:p-zorbanov", HitStatus.pending)
        assert hit.context is HitContext.list_import and hit.reference.startswith("import:ftm:")
        assert "birth_date" in hit.features and hit.score >= 0.72

    def test_a_person_who_matches_no_listing__no_hit(self, world: World) -> None:
        """Screened (and logged) like everyone, someone on no list raises nothing."""
        world.person("Amara Tindall", "1990-01-01")
        world.import_ftm(_line(LISTED), _line(OTHER))
        (summary,) = world.screenings().run_owed()
        assert (summary.people, summary.hits) == (1, 0) and world.hits() == []
        assert len(world.log.entries) == 1

    def test_an_unchanged_reimport__screens_nobody_and_records_nothing(self, world: World) -> None:
        """The same listings again owe nothing: no batch, no access entry, no hit."""
        world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.import_ftm(_line(LISTED), _line(OTHER))
        world.screenings().run_owed()
        hits, entries = world.hits(), list(world.log.entries)
        imported = world.import_ftm(_line(OTHER), _line(LISTED))  # other order, same content
        assert (imported.new, imported.changed, imported.removed, imported.owed) == (0, 0, 0, 0)
        assert world.screenings().owed() == [] and world.screenings().run_owed() == []
        assert world.hits() == hits and world.log.entries == entries

    def test_a_changed_listing__a_new_alias_finds_a_person_it_did_not(self, world: World) -> None:
        """A listing that gains an alias is screened again: the person known by that alias is now a hit."""
        person = world.person("Oderic Fennimore Quillaby", "1970-06-01")
        renamed = {**LISTED, "born": "1970-06-01"}
        world.import_ftm(_line(renamed), _line(OTHER))
        world.screenings().run_owed()
        assert world.hits() == []
        imported = world.import_ftm(_line(renamed, aliases=["Oderic Fennimore QUILLABY"]), _line(OTHER))
        assert (imported.new, imported.changed) == (0, 1)
        (summary,) = world.screenings().run_owed()
        assert (summary.listings_changed, summary.listings_screened) == (1, 1)
        assert world.hits() == [(person.number, "ftm:p-zorbanov", "import")]

    def test_only_the_new_and_changed_listings_are_screened(self, world: World) -> None:
        """A person matching an unchanged listing is not raised by the import (the watch raised them before, or not)."""
        world.import_ftm(_line(OTHER))
        world.screenings().run_owed()
        world.person("Vaskar Ulbrecht Montevaldi", "1955-11-20")  # registered outside enrolment: never screened
        world.import_ftm(_line(OTHER), _line(THIRD))
        (summary,) = world.screenings().run_owed()
        assert (summary.listings_screened, summary.people, summary.hits) == (1, 1, 0)

    def test_a_person_already_raised_on_a_listing_is_not_raised_again(self, world: World) -> None:
        """The watch's rule holds: a pending hit from enrolment stops a second one from the import."""
        person = world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.import_ftm(_line(LISTED))
        world.watch.refresh()
        world.watch.screen([Screenee(person.number, (person.name,), "1961-03-04")], "enrolment", "enrolment:e_1")
        (summary,) = world.screenings().run_owed()
        assert summary.hits == 0 and world.hits() == [(person.number, "ftm:p-zorbanov", "enrolment")]

    def test_the_deceased_are_not_screened(self, world: World) -> None:
        """A person whose status is final is neither read nor screened."""
        person = world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.registry.set_status(person.number, "deceased", reason="death certificate", actor="registrar")
        world.import_ftm(_line(LISTED))
        (summary,) = world.screenings().run_owed()
        assert (summary.people, summary.hits) == (0, 0) and world.log.entries == []


class TestRemovedListings:
    def test_an_open_hit_on_a_removed_listing_stays_for_the_unit_and_cannot_be_confirmed(self, world: World) -> None:
        """Delisting closes no hit by itself: the import counts it, the hit stays pending, confirming it is refused."""
        world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.import_ftm(_line(LISTED), _line(OTHER))
        world.screenings().run_owed()
        (hit,) = world.watch.hits()
        imported = world.import_ftm(_line(OTHER))
        assert (imported.removed, imported.open_hits_removed, imported.owed) == (1, 1, 0)
        assert [h.id for h in world.watch.hits()] == [hit.id]
        with pytest.raises(ConflictError):
            world.watch.decide(hit.id, "confirm", officer="p_aaaaaaaaaaaaaaaa", reason="same person")


class TestAccessLog:
    def test_each_person_screened_has_one_entry_naming_the_job_its_purpose_and_the_fields(self, world: World) -> None:
        """Every look is logged: one entry per person, by the job, for the unit, with the list and its listings."""
        people = [world.person(name, "1980-01-01") for name in ("Amara Tindall", "Bo Lindqvist", "Cy Okafor")]
        world.import_ftm(_line(LISTED), _line(OTHER))
        world.screenings().run_owed()
        subjects = sorted(world.registry.subject_of(p.number) for p in people)
        assert sorted(e.subject for e in world.log.entries) == subjects
        entry = world.log.entries[0]
        assert (entry.principal, entry.fields, entry.agency) == (
            SCREENING_PRINCIPAL,
            SCREENING_FIELDS,
            "financial-intelligence-unit",
        )
        assert "FtM list" in entry.purpose and "2 new or changed listings" in entry.purpose


class TestBatchJob:
    def test_progress_after_each_batch_counts_people_and_hits(self, world: World) -> None:
        """Five people in batches of two: progress at 2, 4 and 5 of 5, with the hit counted when it lands."""
        for name in ("Amara Tindall", "Bo Lindqvist", "Cy Okafor", "Dee Marchetti"):
            world.person(name, "1980-01-01")
        world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.import_ftm(_line(LISTED))
        seen: list[ScreeningProgress] = []
        world.screenings(batch_size=2).run_owed(seen.append)
        assert [(p.people_done, p.people_total) for p in seen] == [(2, 5), (4, 5), (5, 5)]
        assert seen[-1].hits == 1 and {p.listings for p in seen} == {1}

    def test_stopped_after_a_batch__run_again_it_goes_on_from_there(self, world: World) -> None:
        """A job cut short keeps its place: the second run reads only the people after it."""
        people = [world.person(name, "1980-01-01") for name in ("Amara Tindall", "Bo Lindqvist", "Cy Okafor")]
        world.import_ftm(_line(LISTED))
        (first,) = world.screenings(batch_size=2).run_owed(batches_max=1)
        assert (first.people, first.finished) == (2, False) and world.screenings().owed() == ["ftm"]
        (second,) = world.screenings(batch_size=2).run_owed()
        assert (second.people, second.finished) == (3, True) and world.screenings().owed() == []
        logged = sorted(e.subject for e in world.log.entries)
        assert logged == sorted(world.registry.subject_of(p.number) for p in people)

    def test_a_newer_import_before_the_job_ends_takes_its_listings_over(self, world: World) -> None:
        """Listings an unfinished job owed stay owed after the next import, with that import's own."""
        world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.person("Vaskar Ulbrecht Montevaldi", "1955-11-20")
        world.person("Amara Tindall", "1980-01-01")
        world.import_ftm(_line(LISTED))
        world.screenings(batch_size=1).run_owed(batches_max=1)
        imported = world.import_ftm(_line(LISTED), _line(OTHER))
        assert (imported.new, imported.owed) == (1, 2)
        (summary,) = world.screenings().run_owed()
        assert (summary.listings_screened, summary.people) == (2, 3)  # everyone, against both
        assert {list_id for _, list_id, _ in world.hits()} == {"ftm:p-zorbanov", "ftm:p-montevaldi"}

    def test_an_import_with_nothing_new_keeps_an_unfinished_jobs_place(self, world: World) -> None:
        """Re-importing the same file while its screening is unfinished does not start it over."""
        for name in ("Amara Tindall", "Bo Lindqvist", "Cy Okafor"):
            world.person(name, "1980-01-01")
        world.import_ftm(_line(LISTED))
        world.screenings(batch_size=2).run_owed(batches_max=1)
        world.import_ftm(_line(LISTED))
        (summary,) = world.screenings(batch_size=2).run_owed()
        assert (summary.people, summary.finished) == (3, True) and len(world.log.entries) == 3

    def test_hashes_missing_from_before_the_migration_are_computed_so_nothing_looks_changed(self, world: World) -> None:
        """Rows imported before 0016 have no hash; the next import of the same file finds them unchanged."""
        world.import_ftm(_line(LISTED), _line(OTHER))
        with world.store.transaction(write=True) as conn:
            conn.execute(update(sanctions_entities).values(content_hash=None, changed_at_ns=None))
        imported = world.import_ftm(_line(LISTED), _line(OTHER))
        assert (imported.new, imported.changed, imported.owed) == (0, 0, 0)


class TestCrashSafety:
    @pytest.mark.parametrize("crash_on_batch", [1, 2, 3])
    def test_a_crash_in_any_batch_then_a_rerun__the_same_hits_once_each(
        self, world: World, crash_on_batch: int
    ) -> None:
        """The access log failing in batch k stops the job there; a rerun ends with each hit once."""
        for name in ("Amara Tindall", "Bo Lindqvist", "Cy Okafor", "Dee Marchetti"):
            world.person(name, "1980-01-01")
        world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.person("Vaskar Ulbrecht Montevaldi", "1955-11-20")
        world.import_ftm(_line(LISTED), _line(OTHER))
        world.log.fail_on_call = crash_on_batch
        with pytest.raises(OSError, match="disk gone"):
            world.screenings(batch_size=2).run_owed()
        world.log.fail_on_call = None
        world.screenings(batch_size=2).run_owed()
        with world.store.transaction() as conn:
            hits = conn.scalar(select(func.count()).select_from(screening_hits))
        assert hits == 2 and world.screenings().owed() == []


# Few examples, no shrinking: each builds a store, and a failure's example is small as drawn.
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batch_size=st.integers(1, 4),
    stops=st.lists(st.integers(1, 3), max_size=4),
    hits_before=st.booleans(),
)
def test_however_a_job_is_cut_into_runs__the_hits_are_those_of_one_run(
    tmp_path_factory: pytest.TempPathFactory, batch_size: int, stops: list[int], hits_before: bool
) -> None:
    """Stopping after any number of batches, any number of times, then finishing: the same hits, each once."""
    folder = tmp_path_factory.mktemp("cut")
    with Store.open(f"sqlite:///{folder / 'registry.db'}") as store:
        world = _world(store, folder)
        for name in ("Amara Tindall", "Bo Lindqvist", "Khaledin Zorbanov Dimitrenko"):
            world.person(name, "1961-03-04")
        world.person("Vaskar Ulbrecht Montevaldi", "1955-11-20")
        world.person("Oderic Quillaby", "1961-03-04", other_names=["Khaledin Zorbanov Dimitrenko"])
        world.import_ftm(_line(LISTED), _line(OTHER))
        if hits_before:
            world.screenings(batch_size).run_owed(batches_max=1)
            world.import_ftm(_line(LISTED), _line(OTHER), _line(THIRD))  # takes the job over, from the start
        for stop in stops:
            world.screenings(batch_size).run_owed(batches_max=stop)
        world.screenings(batch_size).run_owed()
        found = world.hits()
        assert len(found) == len(set(found))
        assert {(list_id, context) for _, list_id, context in found} == {
            ("ftm:p-zorbanov", "import"),
            ("ftm:p-montevaldi", "import"),
        }
        assert len(found) == 3  # Dimitrenko twice (by name, and by another name), Montevaldi once


class TestServer:
    def test_the_poller_hands_an_owed_screening_to_the_worker_until_it_is_done(self, world: World) -> None:
        """A server finds what an import owes (made by another process) and screens it a slice at a time."""
        for name in ("Amara Tindall", "Bo Lindqvist", "Cy Okafor"):
            world.person(name, "1980-01-01")
        world.person("Khaledin Zorbanov Dimitrenko", "1961-03-04")
        world.import_ftm(_line(LISTED))

        @dataclass
        class InlineQueue:
            jobs: list[object] = field(default_factory=list)

            def submit(self, job: object) -> None:
                self.jobs.append(job)

        queue = InlineQueue()
        poller = OwedScreeningsPoller(world.screenings(batch_size=1), queue, interval_s=60.0, slice_batches=2).start()
        try:
            for _ in range(100):
                if queue.jobs:
                    break
                poller._stop.wait(0.01)
            slices = 0
            while queue.jobs:
                job = queue.jobs.pop(0)
                job()  # type: ignore[operator]
                slices += 1
        finally:
            poller.stop()
        assert slices == 3 and world.screenings().owed() == []  # 4 people, 2 a slice, then the empty page
        assert len(world.hits()) == 1
