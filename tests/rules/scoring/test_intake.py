"""Events agencies submit: checked whole, kept once per (source, id), scored exactly once, even across a crash."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tessera.auth.principals import Principal, Role
from tessera.errors import BatchSizeError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.rules.scoring.intake import CLOCK_SKEW_NS, EVENTS_BATCH_MAX, EVENTS_SOURCE
from tessera.rules.scoring.scores import Scores
from tessera.store.tables import eligibility_grants
from tests.rules.intake_world import DAY, LENDER, NOW, Intake, engine_for, repaid

# Another lender, and the social-security and tax offices' principals, beside conftest's LENDER.
BANK = Principal("p_000000000000002e", "second-bank", Role.officer, agency="credit-bureau")
WELFARE = Principal("p_000000000000003e", "welfare", Role.officer, agency="social-security")
TAX = Principal("p_000000000000004e", "tax", Role.officer, agency="tax-office")


def claimed(event_id: str, subject: str, grade: int) -> dict[str, Any]:
    claimant = {"age_band": 40, "disability_grade": grade, "chronic_condition": False}
    fields = {"programme": "disability_allowance", "amount": 0, "claimant": claimant}
    return {"id": event_id, "subject": subject, "at_ns": NOW, "fields": fields}


def _crash(*args: object, **kwargs: object) -> int:
    raise RuntimeError("the process died before the effects were committed")


class TestScoring:
    def test_a_late_repayment__scored_traceably_with_a_notice(self, world: Intake) -> None:
        """A late repayment scores the person at the event's own time, traceable to rule and event, with a notice."""
        done = world.intake.submit(
            LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45), repaid("L-2", world.ben.number, 0)]
        )
        assert done.statuses == ("accepted", "accepted") and done.firings == 1
        assert world.score(world.ada) == -40 and world.score(world.ben) == 0
        [contribution] = Scores(world.store).contributions_of(world.ada.number)
        assert contribution.rule_id == "credit.repaid-late" and contribution.event_ref.startswith("events:")
        assert contribution.at_ns == NOW - DAY  # when it happened, not when it arrived
        assert [(n.kind.value, n.rule_id) for n in world.notices.of_subject(world.ada.number)] == [
            ("score", "credit.repaid-late")
        ]

    def test_a_retry_is_a_duplicate_and_never_scored_twice(self, world: Intake) -> None:
        """Resubmitting an event id is a duplicate and is never scored twice; new ids in the batch still count."""
        world.intake.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        again = world.intake.submit(
            LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45), repaid("L-3", world.ada.number, 45)]
        )
        assert again.statuses == ("duplicate", "accepted") and again.firings == 1
        assert world.score(world.ada) == -80 and world.kept() == 2

    def test_ids_are_the_sources_own(self, world: Intake) -> None:
        """Another agency's L-1 is another event."""
        world.intake.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        other = world.intake.submit(BANK, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        assert other.statuses == ("accepted",) and world.score(world.ada) == -80

    def test_a_record_as_a_nested_object_opens_a_benefit(self, world: Intake) -> None:
        """The grant is stored with the categories it came from: disability data stays disability data."""
        claim = claimed("C-1", world.ben.number, grade=3)
        assert world.intake.submit(WELFARE, "benefit.claimed", [claim]).firings == 1
        with world.store.transaction() as conn:
            grants = conn.execute(
                select(eligibility_grants.c.subject, eligibility_grants.c.benefit, eligibility_grants.c.categories)
            ).all()
        assert [(s, b) for s, b, _ in grants] == [(world.ben.number, "disability_allowance")]
        assert "disability" in grants[0][2].split(",")

    def test_every_kind_of_value_reaches_the_compiled_rule(self, world: Intake) -> None:
        """A date as its day number (20819 is 2027-01-01), a float, a timestamp and a bool."""

        def renewed(event_id: str, on: str, fee: float) -> dict[str, Any]:
            fields = {"on": on, "fee": fee, "paid_at": NOW - DAY, "online": True}
            return {"id": event_id, "subject": world.ada.number, "at_ns": NOW, "fields": fields}

        batch = [
            renewed("R-1", "2026-12-31", 100),
            renewed("R-2", "2027-01-01", 10.0),
            renewed("R-3", "2026-06-01", 100.5),
        ]
        assert world.intake.submit(LENDER, "licence.renewed", batch).firings == 1
        assert [c.event_ref for c in Scores(world.store).contributions_of(world.ada.number)] == ["events:1:1"]

    def test_an_organisation_may_be_the_subject(self, world: Intake) -> None:
        """An organisation can be the subject of a reported event and carries its own score."""
        done = world.intake.submit(LENDER, "loan.repaid", [repaid("L-9", "org:acme-foods", 45)])
        assert done.firings == 1 and Scores(world.store).score("org:acme-foods", "credit").value == -40


class TestCrash:
    def test_kept_but_not_scored__the_next_start_scores_them_once(
        self, world: Intake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Events kept before a crash are scored exactly once at the next start, and a retry is a duplicate."""
        monkeypatch.setattr(world.engine, "process", _crash)
        with pytest.raises(RuntimeError):
            world.intake.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        assert world.kept() == 1 and world.score(world.ada) == 0
        _, restarted, _ = engine_for(world.store)
        assert restarted.catch_up() == 1 and world.score(world.ada) == -40
        assert restarted.catch_up() == 0 and world.score(world.ada) == -40
        assert Scores(world.store).cursor(EVENTS_SOURCE) == 1
        # And the retry the lender sends after the failed answer is a duplicate.
        assert restarted.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)]).statuses == ("duplicate",)

    def test_a_batch_the_engine_failed_on_is_scored_before_the_next_one(
        self, world: Intake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No restart: the events were kept, the retry is a duplicate, and the next batch brings them in first."""
        process = world.engine.process
        order: list[str] = []

        def flaky(event_type: str, columns: Any, size: int, **kwargs: Any) -> int:
            if not order:
                order.append("failed")
                raise RuntimeError("a bug in a rule's evaluation")
            order.append(kwargs["refs"]([0])[0])
            return process(event_type, columns, size, **kwargs)

        monkeypatch.setattr(world.engine, "process", flaky)
        with pytest.raises(RuntimeError):
            world.intake.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        retry = world.intake.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        assert retry.statuses == ("duplicate",) and world.score(world.ada) == 0
        world.intake.submit(LENDER, "loan.repaid", [repaid("L-2", world.ben.number, 45)])
        assert order == ["failed", "events:1:1", "events:2:2"]
        assert world.score(world.ada) == -40 and world.score(world.ben) == -40
        assert Scores(world.store).cursor(EVENTS_SOURCE) == 2

    def test_a_failed_commit_is_retried_by_the_engine_not_scored_twice(
        self, world: Intake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The engine holds what it evaluated when its commit fails; the intake must not hand it over again."""
        record, failures = Scores.record_rows_in, [OSError("database is locked")]

        def flaky(conn: Any, rows: Any) -> None:
            if failures:
                raise failures.pop()
            record(conn, rows)

        monkeypatch.setattr(Scores, "record_rows_in", staticmethod(flaky))
        with pytest.raises(OSError):
            world.intake.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        world.intake.submit(LENDER, "loan.repaid", [repaid("L-2", world.ben.number, 45)])
        assert world.score(world.ada) == -40 and world.score(world.ben) == -40
        assert len(Scores(world.store).contributions_of(world.ada.number)) == 1

    def test_a_batch_that_always_fails_is_skipped_after_three_tries_not_blocking_the_rest(
        self, world: Intake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A batch that always fails is skipped after three tries, so it cannot block later events."""
        process = world.engine.process

        def poisoned(event_type: str, columns: Any, size: int, **kwargs: Any) -> int:
            if kwargs["refs"]([0])[0] == "events:1:1":
                raise RuntimeError("a bug in a rule's evaluation")
            return process(event_type, columns, size, **kwargs)

        monkeypatch.setattr(world.engine, "process", poisoned)
        for i in range(1, 4):  # the poisoned batch, then two that wait behind it and fail with it
            with pytest.raises(RuntimeError):
                world.intake.submit(LENDER, "loan.repaid", [repaid(f"L-{i}", world.ben.number, 45)])
        done = world.intake.submit(LENDER, "loan.repaid", [repaid("L-4", world.ben.number, 45)])
        assert done.firings == 1 and world.score(world.ben) == -120  # L-2, L-3 and L-4; L-1 skipped
        assert world.kept() == 4

    def test_catch_up_scores_runs_of_several_types_in_order(
        self, world: Intake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Catching up replays kept events of several types in order: scores and grants alike."""
        monkeypatch.setattr(world.engine, "process", _crash)
        claim = claimed("C-1", world.ben.number, grade=2)
        for reporter, event_type, event in [
            (LENDER, "loan.repaid", repaid("L-1", world.ada.number, 45)),
            (WELFARE, "benefit.claimed", claim),
            (LENDER, "loan.repaid", repaid("L-2", world.ben.number, 31)),
        ]:
            with pytest.raises(RuntimeError):
                world.intake.submit(reporter, event_type, [event])
        _, restarted, _ = engine_for(world.store)
        assert restarted.catch_up() == 3 and Scores(world.store).cursor(EVENTS_SOURCE) == 3
        assert world.score(world.ada) == -40 and world.score(world.ben) == -40
        with world.store.transaction() as conn:
            assert conn.scalar(select(func.count()).select_from(eligibility_grants)) == 1

    def test_kept_events_of_a_type_no_longer_registered__skipped_with_the_cursor_past_them(
        self, world: Intake, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Kept events of a type no longer registered are skipped, and the cursor moves past them."""
        monkeypatch.setattr(world.engine, "process", _crash)
        fields = {"on": "2026-12-01", "fee": 1.0, "paid_at": 1, "online": True}
        with pytest.raises(RuntimeError):
            world.intake.submit(
                LENDER, "licence.renewed", [{"id": "R-1", "subject": world.ada.number, "at_ns": NOW, "fields": fields}]
            )
        _, restarted, _ = engine_for(world.store, licences=False)
        assert restarted.catch_up() == 1 and Scores(world.store).cursor(EVENTS_SOURCE) == 1
        assert world.score(world.ada, "licence") == 0
        assert restarted.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)]).firings == 1


@pytest.mark.parametrize(
    ("events", "error", "field"),
    [
        ([{"id": "X"}], InvalidInputError, "events[0].subject"),
        ([repaid("L 1", "ADA", 1)], InvalidInputError, "events[0].id"),
        ([repaid("L-1", "123456789012", 1)], InvalidInputError, "events[0].subject"),  # check digit
        ([repaid("L-1", "ADA", 1, at_ns=True)], InvalidInputError, "events[0].at_ns"),
        ([repaid("L-1", "ADA", 1, at_ns=NOW + CLOCK_SKEW_NS + 1)], InvalidInputError, "events[0].at_ns"),
        ([repaid("L-1", "ADA", 1, fields={"amount": 1, "days_late": 1})], InvalidInputError, "events[0].fields.lender"),
        (
            [repaid("L-1", "ADA", 1, fields={"amount": 1, "days_late": 1, "lender": "x", "religion": 1})],
            InvalidInputError,
            "events[0].fields.religion",
        ),
        ([repaid("L-1", "ADA", True)], InvalidInputError, "events[0].fields.days_late"),
        ([repaid("L-1", "ADA", 1.5)], InvalidInputError, "events[0].fields.days_late"),
        ([repaid("L-1", "ADA", 2**63)], InvalidInputError, "events[0].fields.days_late"),
        ([repaid("L-1", "ADA", 1, extra=1)], InvalidInputError, "events[0].extra"),
        ([repaid("L-1", "ADA", 1), repaid("L-1", "BEN", 1)], InvalidInputError, "events[1].id"),
        ([repaid("L-1", "ADA", 1), repaid("L-2", "100000000004", 1)], NotFoundError, "events[1].subject"),
        ([], BatchSizeError, "events"),
        ([repaid(f"L-{i}", "ADA", 1) for i in range(EVENTS_BATCH_MAX + 1)], BatchSizeError, "events"),
    ],
)
def test_a_bad_event__its_error_names_it_and_nothing_is_kept(
    world: Intake, events: list[dict[str, Any]], error: type[Exception], field: str
) -> None:
    """Each malformed event fails the whole batch naming its index and field, and nothing is kept or scored."""
    people = {"ADA": world.ada.number, "BEN": world.ben.number}
    for e in events:
        e["subject"] = people.get(e.get("subject", ""), e.get("subject"))
    with pytest.raises(error) as caught:
        world.intake.submit(LENDER, "loan.repaid", events)
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert world.kept() == 0 and world.score(world.ada) == 0


def test_only_the_agencies_a_type_names_may_report_it(world: Intake) -> None:
    """A tax office cannot invent a court judgment (its rule would restrict at once), nor a loan repayment."""
    judgment = {
        "id": "J-1",
        "subject": world.ada.number,
        "at_ns": NOW,
        "fields": {"amount": 2_000_000, "days_unpaid": 61, "case_id": "HC-1"},
    }
    with pytest.raises(ForbiddenError, match="reported by: courts"):
        world.intake.submit(TAX, "court.judgment_unpaid", [judgment])
    with pytest.raises(ForbiddenError, match="credit-bureau"):
        world.intake.submit(TAX, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
    assert world.kept() == 0 and world.score(world.ada) == 0


@pytest.mark.parametrize(
    "lender",
    ["\ud800", "First\u200b Bank", "First \u202eknaB", "First\u3164Bank", "Bank\U000e0041"],
    ids=["surrogate", "zero-width-space", "override", "filler", "tag"],
)
def test_text_that_cannot_be_stored_or_hides_something__refused_naming_the_field(world: Intake, lender: str) -> None:
    """A rule compares it with its own text: nothing may make it differ where a reader sees no difference."""
    event = repaid("L-1", world.ada.number, 45, fields={"amount": 1, "days_late": 45, "lender": lender})
    with pytest.raises(InvalidInputError) as caught:
        world.intake.submit(LENDER, "loan.repaid", [event])
    assert caught.value.field == "events[0].fields.lender" and world.kept() == 0


@pytest.mark.parametrize(
    ("event_type", "error", "field"),
    [
        ("ledger.transfer", InvalidInputError, "type"),
        ("loan.forgiven", NotFoundError, "type"),
        (7, InvalidInputError, "type"),
    ],
)
def test_an_event_type_from_outside_must_be_registered_and_not_the_ledgers(
    world: Intake, event_type: object, error: type[Exception], field: str
) -> None:
    """Agencies may not submit the ledger's own type, an unregistered type or a non-string: nothing is kept."""
    with pytest.raises(error) as caught:
        world.intake.submit(LENDER, event_type, [repaid("L-1", world.ada.number, 45)])
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert world.kept() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"on": "2026-13-01", "fee": 1.0, "paid_at": 1, "online": True}, "on"),
        ({"on": "2026-1-01", "fee": 1.0, "paid_at": 1, "online": True}, "on"),
        ({"on": "2026-12-01", "fee": float("nan"), "paid_at": 1, "online": True}, "fee"),
        ({"on": "2026-12-01", "fee": "1", "paid_at": 1, "online": True}, "fee"),
        ({"on": "2026-12-01", "fee": 1.0, "paid_at": -1, "online": True}, "paid_at"),
        ({"on": "2026-12-01", "fee": 1.0, "paid_at": 1, "online": 1}, "online"),
    ],
)
def test_each_kind_of_value_is_checked(world: Intake, fields: dict[str, Any], field: str) -> None:
    """Dates, floats (NaN too), timestamps and bools are each checked for their kind, by field."""
    event = {"id": "R-1", "subject": world.ada.number, "at_ns": NOW, "fields": fields}
    with pytest.raises(InvalidInputError) as caught:
        world.intake.submit(LENDER, "licence.renewed", [event])
    assert caught.value.field == f"events[0].fields.{field}"


def test_a_record_given_flat_or_short__refused(world: Intake) -> None:
    """A nested record missing a field, or given as a bare value, is refused naming the record's path."""
    fields = {"programme": "x", "amount": 0, "claimant": {"age_band": 40, "disability_grade": 3}}
    event = {"id": "C-1", "subject": world.ben.number, "at_ns": NOW, "fields": fields}
    with pytest.raises(InvalidInputError) as caught:
        world.intake.submit(WELFARE, "benefit.claimed", [event])
    assert caught.value.field == "events[0].fields.claimant.chronic_condition"
    event["fields"] = {"programme": "x", "amount": 0, "claimant": 3}
    with pytest.raises(InvalidInputError) as caught:
        world.intake.submit(WELFARE, "benefit.claimed", [event])
    assert caught.value.field == "events[0].fields.claimant"
