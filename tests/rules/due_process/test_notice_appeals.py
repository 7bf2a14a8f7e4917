"""Appeals on a lowered score or a denial, through its notice: answered in writing, undone at once."""

from __future__ import annotations

import itertools

import pytest

from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.rules.due_process.notice_appeals import NoticeAppeals, NoticeAppealStatus
from tessera.rules.due_process.notices import Notice, NoticeDraft, NoticeKind
from tessera.rules.scoring.scores import Scores
from tests.rules.intake_world import DAY, LENDER, NOW, Intake, repaid

OFFICER = "p_00000000000000bb"
_READINGS = itertools.count(NOW)  # a clock that moves a nanosecond a reading: the queue's order is the filing order


def _appeals(w: Intake) -> NoticeAppeals:
    return NoticeAppeals(w.store, w.notices, clock=lambda: next(_READINGS))


def _late(w: Intake, *ids: str) -> Notice:
    """Ada repaid late, once per id, in one batch: one score notice for them all."""
    w.intake.submit(LENDER, "loan.repaid", [repaid(i, w.ada.number, 45) for i in ids])
    return w.notices.of_subject(w.ada.number, limit=1)[0]


def _file(w: Intake, notice: Notice) -> str:
    appeal = _appeals(w).file(notice.id, appellant=w.ada.number, filed_by=w.ada.principal_id, grounds="I paid on time")
    assert appeal.status is NoticeAppealStatus.pending
    return appeal.id


class TestWithdraw:
    def test_every_contribution_of_the_notices_batch_stops_and_no_other(self, world: Intake) -> None:
        """Withdrawing on appeal stops every contribution of that notice's batch, no other, and keeps them on record."""
        notice = _late(world, "L-1", "L-2")
        _late(world, "L-3")
        assert world.score(world.ada) == -120
        decided = _appeals(world).decide(_file(world, notice), "withdraw", officer=OFFICER, reason="bank's error")
        assert decided.status is NoticeAppealStatus.withdrawn and decided.withdrawn == 2
        assert world.score(world.ada) == -40  # L-3, another batch, stands
        assert len(Scores(world.store).contributions_of(world.ada.number)) == 3  # withdrawn ones stay on the record
        answer = world.notices.of_subject(world.ada.number, limit=1)[0]
        assert answer.kind is NoticeKind.appeal_decided and answer.reference == notice.id
        assert "withdrawn (2 score contribution(s) no longer count)" in answer.reason_text
        assert "bank's error" in answer.reason_text

    def test_upheld__the_score_stays_and_the_person_is_told_where_to_go_next(self, world: Intake) -> None:
        """Upholding keeps the score and the answer tells the person a court is the next step."""
        notice = _late(world, "L-1")
        decided = _appeals(world).decide(_file(world, notice), "uphold", officer=OFFICER, reason="paid 45 days late")
        assert decided.status is NoticeAppealStatus.upheld and decided.withdrawn is None
        assert world.score(world.ada) == -40
        answer = world.notices.of_subject(world.ada.number, limit=1)[0]
        assert "refused: the decision stays" in answer.reason_text and "court" in answer.appeal

    def test_a_denial_is_withdrawn_with_nothing_to_undo(self, world: Intake) -> None:
        """A denial's notice can be withdrawn though it has no score contribution to undo."""
        notice = world.notices.create_many(
            [
                NoticeDraft(
                    world.ada.number, NoticeKind.denial, "consumer-credit-act/12", "credit_denied",
                    "New credit is refused for a month after a default.", "events:9:9", NOW + 30 * DAY,
                    rule_id="credit.new-credit-denied",
                )
            ]
        )[0]  # fmt: skip
        decided = _appeals(world).decide(_file(world, notice), "withdraw", officer=OFFICER, reason="no default")
        assert decided.status is NoticeAppealStatus.withdrawn and decided.withdrawn == 0


class TestRefused:
    def test_someone_elses_notice__forbidden_and_nothing_filed(self, world: Intake) -> None:
        """Appealing someone else's notice is forbidden and leaves nothing in the queue."""
        notice = _late(world, "L-1")
        with pytest.raises(ForbiddenError):
            _appeals(world).file(notice.id, appellant=world.ben.number, filed_by=world.ben.principal_id, grounds="x")
        assert _appeals(world).pending() == []

    def test_a_restriction_notice_is_appealed_as_the_restriction(self, world: Intake) -> None:
        """A restriction's notice is refused here and points to the restriction's own appeal route."""
        draft = NoticeDraft(
            world.ada.number, NoticeKind.restriction, "civil-procedure-code/enforcement", "judgment_unpaid", "x",
            "r_0000000000000001", None,
        )  # fmt: skip
        notice = world.notices.create_many([draft])[0]
        with pytest.raises(ConflictError, match="POST /v1/me/appeals"):
            _file(world, notice)

    def test_once_per_notice_even_after_the_answer(self, world: Intake) -> None:
        """A notice is appealed once, even after the answer, and a decided appeal cannot be decided again."""
        notice = _late(world, "L-1")
        appeal_id = _file(world, notice)
        with pytest.raises(ConflictError):
            _file(world, notice)
        _appeals(world).decide(appeal_id, "uphold", officer=OFFICER, reason="late")
        with pytest.raises(ConflictError):
            _file(world, notice)
        with pytest.raises(ConflictError):
            _appeals(world).decide(appeal_id, "withdraw", officer=OFFICER, reason="changed my mind")
        assert world.score(world.ada) == -40

    @pytest.mark.parametrize(
        ("appeal_id", "outcome", "reason", "error"),
        [
            ("na_0000000000000000", "uphold", "x", NotFoundError),
            ("a_0000000000000000", "uphold", "x", NotFoundError),
            (None, "lift", "x", InvalidInputError),
            (None, "uphold", "  ", InvalidInputError),
        ],
    )
    def test_bad_decisions__specific_errors_and_nothing_changes(
        self, world: Intake, appeal_id: str | None, outcome: str, reason: str, error: type[Exception]
    ) -> None:
        """Unknown appeals, a restriction's outcome or a blank reason each fail, leaving the appeal pending."""
        notice = _late(world, "L-1")
        mine = _file(world, notice)
        with pytest.raises(error):
            _appeals(world).decide(appeal_id or mine, outcome, officer=OFFICER, reason=reason)
        assert _appeals(world).get(mine).status is NoticeAppealStatus.pending and world.score(world.ada) == -40

    def test_an_unknown_notice__not_found(self, world: Intake) -> None:
        """Appealing a notice that does not exist is not found."""
        with pytest.raises(NotFoundError):
            _appeals(world).file("n_0000000000000000", appellant=world.ada.number, filed_by="p", grounds="x")


def test_the_queue__oldest_first_with_each_notice(world: Intake) -> None:
    """The officers' queue lists pending appeals oldest first, each with its notice."""
    first = _late(world, "L-1")
    second = _late(world, "L-2")
    ids = [_file(world, first), _file(world, second)]
    queue = _appeals(world).pending()
    assert [(a.id, n.id) for a, n in queue] == list(zip(ids, [first.id, second.id], strict=True))
    assert _appeals(world).of_subject(world.ada.number)[0].notice_id in {first.id, second.id}
