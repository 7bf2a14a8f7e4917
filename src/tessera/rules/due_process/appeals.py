"""Appeals: a person contests a restriction on them; an officer answers in writing.

Only the restricted person files an appeal on their own restriction; anyone else's is
refused (``ForbiddenError``) and nothing changes. One appeal is open per restriction at a
time. An officer who neither proposed nor activated the restriction decides it, with a
written reason: ``uphold`` keeps the restriction, ``lift`` ends it at once (unfreezing,
index, notice and history in the same step as the decision). Either way the person gets
a notice with the answer.

Lifting on appeal must not be a way round "only the agency a basis names exercises it"
(issue 15): under a court order or a sanctions listing the officer must also act for an
agency the basis names (the courts; the financial intelligence unit), read from the store
(``require_appeal_hearer``). A statute's or a regulation's appeal stays with any officer
independent of the decision (docs/rules.md says why).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, insert, select, update

from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX
from tessera.rules.due_process.notices import NoticeDraft, NoticeKind, checked_limit, checked_text
from tessera.rules.due_process.restriction_records import AppealState, Restriction, RestrictionStatus
from tessera.rules.due_process.restrictions import Restrictions, _event, _locked, _restriction_of, _save
from tessera.rules.exercise import require_appeal_hearer
from tessera.rules.subjects import checked_subject
from tessera.store import ACTOR_MAX, GROUNDS_MAX, REASON_TEXT_MAX, Store, appeals, restrictions

APPEALS_LIST_MAX = PAGE_SIZE_MAX
_ID_PREFIX = "a_"
_ID_BYTES = 8  # random bytes of an appeal id, written as hex after its prefix
_ID_CHARS = len(_ID_PREFIX) + 2 * _ID_BYTES

Clock = Callable[[], int]


class AppealStatus(StrEnum):
    pending = "pending"
    upheld = "upheld"
    lifted = "lifted"


@dataclass(frozen=True, slots=True)
class Appeal:
    """An appeal and, once decided, its answer."""

    id: str
    restriction_id: str
    subject: str
    filed_by: str
    grounds: str
    status: AppealStatus
    filed_at_ns: int
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at_ns: int | None = None


class Appeals:
    """Appeals in the store; lifting goes through ``restrictions`` so every effect follows."""

    def __init__(self, store: Store, restrictions: Restrictions, clock: Clock = time.time_ns) -> None:
        self._store = store
        self._restrictions = restrictions
        self._clock = clock

    def file(self, restriction_id: str, *, appellant: str, filed_by: str, grounds: str) -> Appeal:
        """File an appeal on the appellant's own active restriction; ``filed_by`` is their principal id."""
        appellant = checked_subject(appellant, "appellant")
        filed_by = checked_text(filed_by, "filed_by", ACTOR_MAX)
        grounds = checked_text(grounds, "grounds", GROUNDS_MAX)
        with self._restrictions.lock, self._store.transaction(write=True) as conn:
            current = _locked(conn, restriction_id)
            if current.subject != appellant:
                raise ForbiddenError(f"restriction {restriction_id} is not yours: only its subject may appeal it")
            if current.status is not RestrictionStatus.active:
                raise ConflictError(
                    "restriction_id", f"{current.id} is {current.status}: only an active one is appealed"
                )
            if current.appeal_state is AppealState.pending:
                raise ConflictError("restriction_id", f"{current.id} already has an appeal awaiting a decision")
            now = self._clock()
            appeal = Appeal(_new_id(), current.id, appellant, filed_by, grounds, AppealStatus.pending, now)
            conn.execute(insert(appeals).values(_values(appeal)))
            _save(conn, replace(current, appeal_state=AppealState.pending))
            _event(
                conn, current.id, "appealed", actor=filed_by, reason=grounds, detail={"appeal_id": appeal.id}, now=now
            )
        return appeal

    def decide(self, appeal_id: str, outcome: str, *, officer: str, reason: str) -> Appeal:
        """Uphold or lift, by an officer who neither proposed nor activated the restriction, with a reason.

        Under a court order or a listing, only an officer of an agency its basis names decides.
        """
        if outcome not in ("uphold", "lift"):
            raise InvalidInputError("outcome", f"must be uphold or lift, got {outcome!r:.20}")
        officer = checked_text(officer, "officer", ACTOR_MAX)
        reason = checked_text(reason, "reason", REASON_TEXT_MAX)
        lifted: Restriction | None = None
        with self._restrictions.lock:
            with self._store.transaction(write=True) as conn:
                row = conn.execute(
                    select(appeals).where(appeals.c.id == _checked_id(appeal_id)).with_for_update()
                ).first()
                if row is None:
                    raise NotFoundError("appeal_id", f"no appeal {appeal_id}")
                appeal = _appeal_of(row)
                if appeal.status is not AppealStatus.pending:
                    raise ConflictError("appeal_id", f"{appeal.id} was decided already ({appeal.status})")
                current = _locked(conn, appeal.restriction_id)
                require_appeal_hearer(conn, officer, self._restrictions.bases.get(current.basis_id))
                if officer in (current.proposed_by, current.decided_by):
                    raise ForbiddenError(
                        "an appeal is decided by an officer who neither proposed nor decided the restriction"
                    )
                now = self._clock()
                status = AppealStatus.lifted if outcome == "lift" else AppealStatus.upheld
                decided = replace(appeal, status=status, decided_by=officer, decision_reason=reason, decided_at_ns=now)
                conn.execute(update(appeals).where(appeals.c.id == appeal.id).values(_values(decided)))
                if outcome == "lift" and current.status is RestrictionStatus.active:
                    lifted = self._restrictions._end_in(
                        conn,
                        current,
                        RestrictionStatus.lifted,
                        actor=officer,
                        reason=f"appeal {appeal.id} allowed: {reason}",
                        appeal=True,
                    )
                else:
                    state = AppealState.lifted if outcome == "lift" else AppealState.upheld
                    _save(conn, replace(current, appeal_state=state))
                    _event(
                        conn,
                        current.id,
                        f"appeal_{status.value}",
                        actor=officer,
                        reason=reason,
                        detail={"appeal_id": appeal.id},
                        now=now,
                    )
                self._restrictions.notices.create_in(conn, [_answer(current, decided)])
            if lifted is not None:
                self._restrictions._ended(lifted)
        return decided

    def get(self, appeal_id: str) -> Appeal:
        """The appeal, or NotFoundError."""
        with self._store.transaction() as conn:
            row = conn.execute(select(appeals).where(appeals.c.id == _checked_id(appeal_id))).first()
        if row is None:
            raise NotFoundError("appeal_id", f"no appeal {appeal_id}")
        return _appeal_of(row)

    def of_subject(self, subject: str, limit: int = 100) -> list[Appeal]:
        """A subject's appeals, newest first."""
        subject = checked_subject(subject)
        query = (
            select(appeals)
            .where(appeals.c.subject == subject)
            .order_by(appeals.c.filed_at_ns.desc(), appeals.c.id)
            .limit(checked_limit(limit, APPEALS_LIST_MAX))
        )
        with self._store.transaction() as conn:
            return [_appeal_of(row) for row in conn.execute(query)]

    def pending(self, limit: int = 100, after_ns: int | None = None) -> list[tuple[Appeal, Restriction]]:
        """Appeals awaiting a decision, oldest first, each with its restriction."""
        query = (
            select(appeals)
            .where(appeals.c.status == "pending")
            .order_by(appeals.c.filed_at_ns, appeals.c.id)
            .limit(checked_limit(limit, APPEALS_LIST_MAX))
        )
        if after_ns is not None:
            query = query.where(appeals.c.filed_at_ns > after_ns)
        with self._store.transaction() as conn:
            found = [_appeal_of(row) for row in conn.execute(query)]
            ids = sorted({a.restriction_id for a in found})
            rows = conn.execute(select(restrictions).where(restrictions.c.id.in_(ids))).all()
            by_id = {r.id: r for r in map(_restriction_of, rows)}
        return [(a, by_id[a.restriction_id]) for a in found]


def _answer(r: Restriction, a: Appeal) -> NoticeDraft:
    verdict = (
        "allowed: the restriction is lifted" if a.status is AppealStatus.lifted else "refused: the restriction stays"
    )
    return NoticeDraft(
        subject=r.subject,
        kind=NoticeKind.appeal_decided,
        basis_id=r.basis_id,
        reason_code="appeal." + a.status.value,
        reason_text=f"Your appeal {a.id} was {verdict}. {a.decision_reason}",
        reference=r.id,
        expires_at_ns=r.end_ns,
        rule_id=r.rule_id,
        domains=r.domains,
        appeal="You may take this decision to court." if a.status is AppealStatus.upheld else "",
    )


def _new_id() -> str:
    return _ID_PREFIX + secrets.token_hex(_ID_BYTES)


def _checked_id(value: object) -> str:
    if not isinstance(value, str) or len(value) != _ID_CHARS or not value.startswith(_ID_PREFIX):
        raise NotFoundError("appeal_id", f"no appeal {value!r:.40}")
    return value


def _values(a: Appeal) -> dict[str, Any]:
    return {
        "id": a.id,
        "restriction_id": a.restriction_id,
        "subject": a.subject,
        "filed_by": a.filed_by,
        "grounds": a.grounds,
        "status": a.status.value,
        "filed_at_ns": a.filed_at_ns,
        "decided_by": a.decided_by,
        "decision_reason": a.decision_reason,
        "decided_at_ns": a.decided_at_ns,
    }


def _appeal_of(row: Row[Any]) -> Appeal:
    return Appeal(
        id=row.id,
        restriction_id=row.restriction_id,
        subject=row.subject,
        filed_by=row.filed_by,
        grounds=row.grounds,
        status=AppealStatus(row.status),
        filed_at_ns=row.filed_at_ns,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        decided_at_ns=row.decided_at_ns,
    )
