"""Appeals on a rule's lowered score or denial: the person contests it through its notice; an officer answers.

DESIGN.md's second principle: every adverse effect on a person produces a notice the
person can read and appeal. A restriction is appealed as itself (``appeals.py``); a
score a rule lowered, or a denial a rule made, is appealed through the notice that told
the person. Only the person the notice is about files, once per notice. An officer
decides with a written reason: ``uphold`` keeps the decision; ``withdraw`` undoes it. For
a score notice that means every contribution of that rule to that person from the batch
the notice covers (one notice per person, rule and batch: the event references sharing
its prefix, ``ledger:<seq>:``) stops counting at once (its expiry set to the decision's
time; the row stays on the record). A denial has no state to undo: the withdrawal is
recorded and the person may ask again. Either way the person gets a notice with the answer.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX
from tessera.rules.due_process.notices import (
    APPEALABLE,
    Notice,
    NoticeDraft,
    NoticeKind,
    Notices,
    checked_limit,
    checked_text,
)
from tessera.rules.subjects import checked_subject
from tessera.store import (
    ACTOR_MAX,
    GROUNDS_MAX,
    NOTICE_APPEAL_ID_LENGTH,
    REASON_TEXT_MAX,
    Store,
    notice_appeals,
    score_contributions,
)

NOTICE_APPEALS_LIST_MAX = PAGE_SIZE_MAX
_PREFIX = "na_"


class NoticeAppealStatus(StrEnum):
    pending = "pending"
    upheld = "upheld"
    withdrawn = "withdrawn"  # allowed: the decision is withdrawn


@dataclass(frozen=True, slots=True)
class NoticeAppeal:
    """An appeal on a notice and, once decided, its answer (``withdrawn``: contributions it stopped)."""

    id: str
    notice_id: str
    subject: str
    filed_by: str
    grounds: str
    status: NoticeAppealStatus
    filed_at_ns: int
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at_ns: int | None = None
    withdrawn: int | None = None


class NoticeAppeals:
    """Appeals on score and denial notices, in the store; the answer is itself a notice."""

    def __init__(self, store: Store, notices: Notices, clock: Callable[[], int] = time.time_ns) -> None:
        self._store = store
        self._notices = notices
        self._clock = clock

    def file(self, notice_id: str, *, appellant: str, filed_by: str, grounds: str) -> NoticeAppeal:
        """Appeal the appellant's own score or denial notice, once; ``filed_by`` is their principal id."""
        appellant = checked_subject(appellant, "appellant")
        filed_by = checked_text(filed_by, "filed_by", ACTOR_MAX)
        grounds = checked_text(grounds, "grounds", GROUNDS_MAX)
        with self._store.transaction(write=True) as conn:
            notice = Notices.get_in(conn, notice_id)
            if notice.subject != appellant:
                raise ForbiddenError(f"notice {notice.id} is not yours: only the person it is about may appeal it")
            if notice.kind not in APPEALABLE:
                hint = (
                    "a restriction is appealed as itself (POST /v1/me/appeals with its id)"
                    if notice.kind is NoticeKind.restriction
                    else "only a lowered score or a denial is appealed through its notice"
                )
                raise ConflictError("notice_id", f"{notice.id} tells of {notice.kind.value}: {hint}")
            taken = conn.scalar(select(notice_appeals.c.id).where(notice_appeals.c.notice_id == notice.id))
            if taken is not None:
                raise ConflictError("notice_id", f"{notice.id} was appealed already ({taken})")
            appeal = NoticeAppeal(
                _PREFIX + secrets.token_hex(8),
                notice.id,
                appellant,
                filed_by,
                grounds,
                NoticeAppealStatus.pending,
                self._clock(),
            )
            conn.execute(insert(notice_appeals).values(_values(appeal)))
        return appeal

    def decide(self, appeal_id: str, outcome: str, *, officer: str, reason: str) -> NoticeAppeal:
        """``uphold`` or ``withdraw``, with a written reason; a withdrawal takes effect at once."""
        if outcome not in ("uphold", "withdraw"):
            raise InvalidInputError("outcome", f"must be uphold or withdraw, got {outcome!r:.20}")
        officer = checked_text(officer, "officer", ACTOR_MAX)
        reason = checked_text(reason, "reason", REASON_TEXT_MAX)
        with self._store.transaction(write=True) as conn:
            query = select(notice_appeals).where(notice_appeals.c.id == _checked_id(appeal_id)).with_for_update()
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError("appeal_id", f"no notice appeal {appeal_id}")
            appeal = _appeal_of(row)
            if appeal.status is not NoticeAppealStatus.pending:
                raise ConflictError("appeal_id", f"{appeal.id} was decided already ({appeal.status})")
            notice = Notices.get_in(conn, appeal.notice_id)
            now = self._clock()
            withdrawn = None
            if outcome == "withdraw":
                withdrawn = _withdraw_contributions(conn, notice, now) if notice.kind is NoticeKind.score else 0
            status = NoticeAppealStatus.withdrawn if outcome == "withdraw" else NoticeAppealStatus.upheld
            decided = replace(
                appeal,
                status=status,
                decided_by=officer,
                decision_reason=reason,
                decided_at_ns=now,
                withdrawn=withdrawn,
            )
            conn.execute(update(notice_appeals).where(notice_appeals.c.id == appeal.id).values(_values(decided)))
            self._notices.create_in(conn, [_answer(notice, decided)])
        return decided

    def get(self, appeal_id: str) -> NoticeAppeal:
        """The appeal, or NotFoundError."""
        with self._store.transaction() as conn:
            row = conn.execute(select(notice_appeals).where(notice_appeals.c.id == _checked_id(appeal_id))).first()
        if row is None:
            raise NotFoundError("appeal_id", f"no notice appeal {appeal_id}")
        return _appeal_of(row)

    def of_subject(self, subject: str, limit: int = 100) -> list[NoticeAppeal]:
        """A subject's notice appeals, newest first."""
        query = (
            select(notice_appeals)
            .where(notice_appeals.c.subject == checked_subject(subject))
            .order_by(notice_appeals.c.filed_at_ns.desc(), notice_appeals.c.id)
            .limit(checked_limit(limit, NOTICE_APPEALS_LIST_MAX))
        )
        with self._store.transaction() as conn:
            return [_appeal_of(row) for row in conn.execute(query)]

    def pending(self, limit: int = 100, after_ns: int | None = None) -> list[tuple[NoticeAppeal, Notice]]:
        """Appeals awaiting a decision, oldest first, each with the notice it contests."""
        query = (
            select(notice_appeals)
            .where(notice_appeals.c.status == NoticeAppealStatus.pending.value)
            .order_by(notice_appeals.c.filed_at_ns, notice_appeals.c.id)
            .limit(checked_limit(limit, NOTICE_APPEALS_LIST_MAX))
        )
        if after_ns is not None:
            if isinstance(after_ns, bool) or not isinstance(after_ns, int) or after_ns < 0:
                raise InvalidInputError("after_ns", "must be nanoseconds since 1970")
            query = query.where(notice_appeals.c.filed_at_ns > after_ns)
        with self._store.transaction() as conn:
            appeals = [_appeal_of(row) for row in conn.execute(query)]
            by_id = Notices.by_id_in(conn, [a.notice_id for a in appeals])  # one query, not one per appeal
        return [(a, by_id[a.notice_id]) for a in appeals]


def _withdraw_contributions(conn: Connection, notice: Notice, now: int) -> int:
    """Stop the contributions the score notice told of: its rule, its person, its batch; returns how many."""
    batch = notice.reference.rsplit(":", 1)[0] + ":"  # "ledger:<seq>:<row>" -> "ledger:<seq>:"
    live = (
        (score_contributions.c.subject == notice.subject)
        & (score_contributions.c.rule_id == notice.rule_id)
        & score_contributions.c.event_ref.startswith(batch, autoescape=True)
        & (score_contributions.c.expires_at_ns > now)
    )
    return int(conn.execute(update(score_contributions).where(live).values(expires_at_ns=now)).rowcount)


def _answer(notice: Notice, a: NoticeAppeal) -> NoticeDraft:
    if a.status is NoticeAppealStatus.withdrawn:
        undone = f"{a.withdrawn} score contribution(s) no longer count" if notice.kind is NoticeKind.score else ""
        verdict = "allowed: the decision is withdrawn" + (f" ({undone})" if undone else "")
    else:
        verdict = "refused: the decision stays"
    return NoticeDraft(
        subject=notice.subject,
        kind=NoticeKind.appeal_decided,
        basis_id=notice.basis_id,
        reason_code="appeal." + a.status.value,
        reason_text=f"Your appeal {a.id} on notice {notice.id} was {verdict}. {a.decision_reason}"[:REASON_TEXT_MAX],
        reference=notice.id,
        expires_at_ns=notice.expires_at_ns,
        rule_id=notice.rule_id,
        appeal="You may take this decision to court." if a.status is NoticeAppealStatus.upheld else "",
    )


def _checked_id(value: object) -> str:
    if not isinstance(value, str) or len(value) != NOTICE_APPEAL_ID_LENGTH or not value.startswith(_PREFIX):
        raise NotFoundError("appeal_id", f"no notice appeal {value!r:.40}")
    return value


def _values(a: NoticeAppeal) -> dict[str, Any]:
    return {
        "id": a.id,
        "notice_id": a.notice_id,
        "subject": a.subject,
        "filed_by": a.filed_by,
        "grounds": a.grounds,
        "status": a.status.value,
        "filed_at_ns": a.filed_at_ns,
        "decided_by": a.decided_by,
        "decision_reason": a.decision_reason,
        "decided_at_ns": a.decided_at_ns,
        "withdrawn": a.withdrawn,
    }


def _appeal_of(row: Row[Any]) -> NoticeAppeal:
    return NoticeAppeal(
        id=row.id,
        notice_id=row.notice_id,
        subject=row.subject,
        filed_by=row.filed_by,
        grounds=row.grounds,
        status=NoticeAppealStatus(row.status),
        filed_at_ns=row.filed_at_ns,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        decided_at_ns=row.decided_at_ns,
        withdrawn=row.withdrawn,
    )
