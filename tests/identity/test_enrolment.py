"""Enrolment: one person, one number; probable duplicates wait for an officer; nothing is lost in a crash."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.audit import AccessLog
from tessera.auth import Principal, Role
from tessera.errors import ConflictError, InvalidInputError
from tessera.identity import ENROLMENT_PURPOSE
from tessera.identity.dedup import Gallery
from tessera.identity.enrolment import Enrolments, Submission
from tessera.identity.registry import Registry
from tessera.store import Store
from tessera.testing import synthetic_enrolments


@dataclass
class Office:
    store: Store
    registry: Registry
    gallery: Gallery
    log: AccessLog
    enrolments: Enrolments
    station: Principal
    adjudicator: Principal


@pytest.fixture
def office(store: Store, tmp_path: Path) -> Iterator[Office]:
    registry = Registry(store)
    with Gallery.open(tmp_path / "gallery") as gallery, AccessLog.open(tmp_path / "audit") as log:
        station = store.create_principal("station-1", Role.officer, agency="civil-registry")
        adjudicator = store.create_principal("adjudicator", Role.officer, agency="civil-registry")
        yield Office(store, registry, gallery, log, Enrolments(store, registry, gallery, log), station, adjudicator)


def test_a_population_enrols_with_every_repeat_sent_to_review(office: Office) -> None:
    """Each new person gets a number; each repeat under another name waits, matched to the first."""
    people = list(synthetic_enrolments(7, 300, duplicate_share=0.1))
    results = office.enrolments.submit_many([s.submission() for s in people], station=office.station)
    number_of = {}
    for s, e in zip(people, results, strict=True):
        if s.duplicate_of is None:
            assert e.state == "enrolled", (s.request_id, e.candidates)
            number_of[s.person] = e.number
        else:
            assert e.state == "review"
            assert e.candidates[0].number == number_of[s.person]
    assert office.registry.count() == len(number_of) == len(office.gallery)
    assert len(office.enrolments.queue(limit=1000)) == sum(s.duplicate_of is not None for s in people)


def test_a_station_learns_what_became_of_its_requests(office: Office) -> None:
    """of_requests answers each submitted request id with its enrolment; an id never submitted is absent."""
    people = list(synthetic_enrolments(9, 20, duplicate_share=0.2))
    results = office.enrolments.submit_many([s.submission() for s in people], station=office.station)
    asked = [people[0].request_id, people[-1].request_id, "never-sent"]
    found = office.enrolments.of_requests(asked)
    assert found == {people[0].request_id: results[0], people[-1].request_id: results[-1]}


def test_one_at_a_time_or_in_a_batch_ends_the_same(office: Office, tmp_path: Path) -> None:
    """Batched submission (faster) decides exactly as single submissions would."""
    people = list(synthetic_enrolments(8, 60, duplicate_share=0.2))
    single = [office.enrolments.submit(s.submission(), station=office.station).state for s in people]
    with (
        Store.open(f"sqlite:///{tmp_path / 'other.db'}") as store,
        Gallery.open(tmp_path / "g2") as gallery,
        AccessLog.open(tmp_path / "a2") as log,
    ):
        station = store.create_principal("station-1", Role.officer, agency="civil-registry")
        batched = Enrolments(store, Registry(store), gallery, log).submit_many(
            [s.submission() for s in people], station=station
        )
    assert [e.state for e in batched] == single


def test_adjudication_paths(office: Office) -> None:
    """same merges into the match, fraud refuses, distinct registers; each once only."""
    people = list(synthetic_enrolments(9, 400, duplicate_share=0.05))
    results = office.enrolments.submit_many([s.submission() for s in people], station=office.station)
    queued = [e for e in results if e.state == "review"]
    assert len(queued) >= 3
    same, fraud, distinct = queued[:3]
    merged = office.enrolments.decide(same.id, "same", officer=office.adjudicator, reason="same person, new card")
    assert merged.state == "merged" and merged.number == same.candidates[0].number
    rejected = office.enrolments.decide(fraud.id, "fraud", officer=office.adjudicator, reason="second identity")
    assert rejected.state == "rejected"
    before = office.registry.count()
    made = office.enrolments.decide(distinct.id, "distinct", officer=office.adjudicator, reason="twins")
    assert made.state == "enrolled" and made.number not in {c.number for c in distinct.candidates}
    assert office.registry.count() == before + 1 and made.number in office.gallery
    with pytest.raises(ConflictError):
        office.enrolments.decide(same.id, "fraud", officer=office.adjudicator, reason="again")
    subject = office.registry.subject_of(same.candidates[0].number)
    outcomes = [e.outcome for _, e in office.log.entries_for_subject(subject, limit=10)]
    assert f"adjudication: {same.id} decided same" in outcomes


def test_the_officers_purpose_is_logged_as_given__what_happened_is_the_outcome(office: Office) -> None:
    """The station's and the adjudicator's stated purposes reach the person's log unchanged, never a word of ours."""
    people = list(synthetic_enrolments(11, 120, duplicate_share=0.05))
    results = office.enrolments.submit_many(
        [s.submission() for s in people], station=office.station, purpose="enrolment drive, district 4"
    )
    case = next(e for e in results if e.state == "review")
    office.enrolments.decide(case.id, "same", officer=office.adjudicator, reason="one person", purpose="case 2026/9")
    subject = office.registry.subject_of(case.candidates[0].number)
    looks = [(e.principal, e.purpose, e.outcome) for _, e in office.log.entries_for_subject(subject, limit=10)]
    assert (office.adjudicator.id, "case 2026/9", f"adjudication: {case.id} decided same") in looks
    dedup = f"1:N de-duplication: probable duplicate of {case.id}"
    assert (office.station.id, "enrolment drive, district 4", dedup) in looks


def test_without_a_purpose_the_log_gives_enrolments_own(office: Office) -> None:
    """A station that states no purpose is logged with the one enrolment carries in itself, in words."""
    [made] = office.enrolments.submit_many(
        [next(iter(synthetic_enrolments(12, 1))).submission()], station=office.station
    )
    assert made.number is not None
    [(_, entry)] = office.log.entries_for_subject(office.registry.subject_of(made.number), limit=10)
    assert (entry.purpose, entry.outcome) == (ENROLMENT_PURPOSE, f"enrolled ({made.id})")


def test_a_purpose_the_log_cannot_take_is_refused_before_anything_is_written(office: Office) -> None:
    """It is checked first: after the commit the log must accept the entry."""
    submission = next(iter(synthetic_enrolments(13, 1))).submission()
    with pytest.raises(InvalidInputError) as caught:
        office.enrolments.submit_many([submission], station=office.station, purpose="x" * 201)
    assert caught.value.field == "purpose" and office.registry.count() == 0


@pytest.mark.parametrize("purpose", ["drive\u200b 4", "case \u202e9/6202", "drive\u3164"])
def test_a_purpose_that_hides_something_is_refused_in_the_domain_too(office: Office, purpose: str) -> None:
    """The person reads it in their log: the domain checks it as the API's X-Tessera-Purpose is checked."""
    submission = next(iter(synthetic_enrolments(13, 1))).submission()
    with pytest.raises(InvalidInputError, match="U\\+") as caught:
        office.enrolments.submit_many([submission], station=office.station, purpose=purpose)
    assert caught.value.field == "purpose" and office.registry.count() == 0


@pytest.mark.parametrize(
    ("decision", "reason", "number", "field"),
    [
        ("maybe", "x", None, "decision"),
        ("fraud", "  ", None, "reason"),
        ("fraud", "\u3164", None, "reason"),  # a Hangul filler: shows as nothing
        ("fraud", "second \u202eytitnedi", None, "reason"),  # an override: reads otherwise than it shows
        ("distinct", "x", "123456789012", "number"),
    ],
)
def test_a_bad_decision_changes_nothing(
    office: Office, decision: str, reason: str, number: str | None, field: str
) -> None:
    """An unknown decision, a blank, hidden or reordered reason, or a bad number is refused; the case is unchanged."""
    people = list(synthetic_enrolments(10, 200, duplicate_share=0.05))
    results = office.enrolments.submit_many([s.submission() for s in people], station=office.station)
    case = next(e for e in results if e.state == "review")
    with pytest.raises(InvalidInputError) as caught:
        office.enrolments.decide(case.id, decision, officer=office.adjudicator, reason=reason, number=number)
    assert caught.value.field == field
    assert office.enrolments.get(case.id) == case


def test_a_batch_with_one_bad_applicant_writes_nothing(office: Office) -> None:
    """The whole batch is checked first: a NaN in the last applicant leaves no one registered."""
    people = [s.submission() for s in synthetic_enrolments(11, 5, duplicate_share=0)]
    face = people[-1].face.copy()  # type: ignore[attr-defined]
    face[3] = float("nan")
    people[-1] = Submission(people[-1].request_id, people[-1].demographics, face)
    with pytest.raises(InvalidInputError) as caught:
        office.enrolments.submit_many(people, station=office.station)
    assert caught.value.field == "submissions[4].templates.face[3]"
    assert office.registry.count() == 0 and len(office.gallery) == 0


def test_a_crash_between_registry_and_gallery_is_repaired_at_start(office: Office, tmp_path: Path) -> None:
    """A person committed to the registry but missing from the gallery is put back on reconcile."""
    people = list(synthetic_enrolments(12, 20, duplicate_share=0))
    office.enrolments.submit_many([s.submission() for s in people[:10]], station=office.station)
    # The crash: the registry commits, the gallery append never happens.
    gallery_add = office.gallery.add
    office.gallery.add = lambda numbers, templates: None  # type: ignore[method-assign]
    lost = office.enrolments.submit(people[10].submission(), station=office.station)
    office.gallery.add = gallery_add  # type: ignore[method-assign]
    assert lost.number not in office.gallery
    assert office.enrolments.reconcile_gallery() == 1
    assert lost.number in office.gallery and office.enrolments.reconcile_gallery() == 0
    # And the person is now found again: a repeat goes to review.
    again = Submission("again-1", {**people[10].demographics, "name": "Alias"}, people[10].templates.face * 1.01)
    assert office.enrolments.submit(again, station=office.station).state == "review"


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), count=st.integers(2, 40), share=st.floats(0, 0.5))
def test_no_person_is_ever_registered_twice(seed: int, count: int, share: float) -> None:
    """Whatever the mix of repeats, the registry holds each true person exactly once."""
    people = list(synthetic_enrolments(seed, count, duplicate_share=share))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with (
            Store.open(f"sqlite:///{root / 'r.db'}") as store,
            Gallery.open(root / "g") as gallery,
            AccessLog.open(root / "a") as log,
        ):
            station = store.create_principal("station-1", Role.officer, agency="civil-registry")
            results = Enrolments(store, Registry(store), gallery, log).submit_many(
                [s.submission() for s in people], station=station
            )
    enrolled = [s.person for s, e in zip(people, results, strict=True) if e.state == "enrolled"]
    assert sorted(enrolled) == sorted({s.person for s in people})
