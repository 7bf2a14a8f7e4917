"""Notices: what a person is told about every decision that touches them.

DESIGN.md's second principle: no silent decisions. Every adverse effect (a restriction, a
negative score contribution, a refused benefit) produces a notice the person can read at
``GET /v1/me/notices``, carrying the rule, the legal basis as cited on that day, the reason
code and text, the expiry and how to appeal.

Other parts create notices in batches inside their own transaction, so the effect and its
notice commit together or not at all::

    with store.transaction(write=True) as conn:
        ...  # write the effect
        notices.create_in(conn, [NoticeDraft(subject, NoticeKind.score, ...), ...])
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select

import tessera.text
from tessera.errors import BatchSizeError, InvalidInputError, NotFoundError
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT, PAGE_SIZE_MAX
from tessera.rules.basis import Domain, LegalBases, domains_of, domains_text
from tessera.rules.subjects import checked_subject
from tessera.store import (
    ACTOR_MAX,
    APPEAL_TEXT_MAX,
    POLICY_REFERENCE_MAX,
    REASON_CODE_MAX,
    REASON_TEXT_MAX,
    Store,
    notices,
)

NOTICES_BATCH_MAX = BATCH_SIZE_MAX  # one ledger batch's worth of people
NOTICES_LIST_MAX = PAGE_SIZE_MAX
NOTICE_ID_LENGTH = 18  # "n_" and 16 hex digits
APPEAL_DEFAULT = (
    "You may appeal: POST /v1/me/appeals with the restriction id, or at any Tessera office. "
    "An officer other than the one who decided it answers, in writing."
)
APPEAL_NOTICE = (
    "You may appeal: POST /v1/me/notices/{id}/appeal with this notice's id, or at any Tessera office. "
    "An officer answers in writing; if your appeal is allowed, the decision is withdrawn."
)
APPEAL_CONTEST = "You may contest this at any Tessera office; an officer answers in writing."

Clock = Callable[[], int]


class NoticeKind(StrEnum):
    """What the notice tells; the adverse kinds must carry an expiry their basis allows."""

    restriction = "restriction"  # a restriction took effect
    restriction_changed = "restriction_changed"  # an active restriction was narrowed or shortened
    restriction_ended = "restriction_ended"  # lifted or expired
    appeal_decided = "appeal_decided"
    score = "score"  # a negative score contribution
    denial = "denial"  # a benefit, a licence or a payment refused
    entitlement_expiring = "entitlement_expiring"  # what is left of an entitlement, until when: it then returns


ADVERSE = frozenset({NoticeKind.restriction, NoticeKind.score, NoticeKind.denial})
APPEALABLE = frozenset({NoticeKind.score, NoticeKind.denial})  # through the notice (notice_appeals.py)
APPEAL_HOW = {NoticeKind.restriction: APPEAL_DEFAULT, NoticeKind.score: APPEAL_NOTICE, NoticeKind.denial: APPEAL_NOTICE}


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    """A notice to be created; ``reference`` names what it is about (a restriction id, a contribution)."""

    subject: str  # a Tessera number, or org:<id>
    kind: NoticeKind | str
    basis_id: str  # a registered legal basis
    reason_code: str
    reason_text: str
    reference: str
    expires_at_ns: int | None  # None only under a basis that allows an open end (a court order)
    rule_id: str | None = None
    domains: frozenset[Domain] = frozenset()
    appeal: str = ""  # how to appeal; empty: the default text for the kind


@dataclass(frozen=True, slots=True)
class Notice:
    """A created notice, as the person reads it."""

    id: str
    subject: str
    kind: NoticeKind
    reference: str
    rule_id: str | None
    basis_id: str
    basis_cite: str  # "Instrument, article", as cited when the notice was made
    reason_code: str
    reason_text: str
    domains: frozenset[Domain]
    expires_at_ns: int | None
    appeal: str
    created_at_ns: int


def checked_text(value: object, field: str, limit: int, *, required: bool = True) -> str:
    """Text a person or an officer reads (a reason, grounds, a reference): ``tessera.text.checked_text``, lines allowed.

    Nothing in it may be hidden or reorder what is shown (a right-to-left override, a
    zero-width space, a Hangul filler); a required one must show a letter or digit.
    """
    text = tessera.text.checked_text(value, field, limit, newlines=True)
    if required and not tessera.text.shows_letter_or_digit(text):
        raise InvalidInputError(field, "is required: an adverse decision without reasons cannot be made")
    return text


def checked_limit(value: object, most: int, field: str = "limit") -> int:
    """A page size from 1 to ``most`` (the listings of restrictions, appeals and notice appeals)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise InvalidInputError(field, f"must be an integer from 1 to {most}")
    return value


def checked_code(value: object, field: str = "reason_code") -> str:
    """A reason code: printable ASCII without spaces, e.g. ``court.judgment_unpaid``."""
    if not isinstance(value, str) or not value or len(value) > REASON_CODE_MAX:
        raise InvalidInputError(field, f"is required: 1-{REASON_CODE_MAX} characters")
    if not value.isascii() or not all(c.isalnum() or c in "._:/-" for c in value):
        raise InvalidInputError(field, "letters, digits and . _ : / - only")
    return value


class Notices:
    """Notices in the store's database; the legal bases they cite come from ``bases``."""

    def __init__(self, store: Store, bases: LegalBases, clock: Clock = time.time_ns) -> None:
        self._store = store
        self._bases = bases
        self._clock = clock

    def create_many(self, drafts: Sequence[NoticeDraft]) -> list[Notice]:
        """Create a batch of notices in one transaction of their own."""
        with self._store.transaction(write=True) as conn:
            return self.create_in(conn, drafts)

    def create_in(self, conn: Connection, drafts: Sequence[NoticeDraft]) -> list[Notice]:
        """Create a batch of notices inside the caller's transaction; every draft is checked before any is written.

        A draft without a registered basis, a reason code or a reason text, or an adverse one
        without an expiry (unless its basis is a court order), refuses the whole batch with
        ``InvalidInputError`` naming ``drafts[i].field``.
        """
        if isinstance(drafts, str | bytes) or not isinstance(drafts, Sequence):
            raise InvalidInputError("drafts", "must be a list of NoticeDraft")
        if not drafts or len(drafts) > NOTICES_BATCH_MAX:
            raise BatchSizeError("drafts", f"must hold 1-{NOTICES_BATCH_MAX} notices, got {len(drafts)}")
        now = self._clock()
        made = [self._checked(d, f"drafts[{i}]", now) for i, d in enumerate(drafts)]
        conn.execute(notices.insert(), [_values(n) for n in made])
        return made

    def _checked(self, draft: object, where: str, now: int) -> Notice:
        if not isinstance(draft, NoticeDraft):
            raise InvalidInputError(where, "must be a NoticeDraft")
        subject = checked_subject(draft.subject, f"{where}.subject")
        if not isinstance(draft.kind, str) or draft.kind not in NoticeKind.__members__.values():
            known = ", ".join(k.value for k in NoticeKind)
            raise InvalidInputError(f"{where}.kind", f"unknown kind {draft.kind!r:.40}; known: {known}")
        kind = NoticeKind(draft.kind)
        if not isinstance(draft.basis_id, str) or draft.basis_id not in self._bases:
            raise InvalidInputError(f"{where}.basis_id", f"no legal basis {draft.basis_id!r:.80} is registered")
        basis = self._bases.get(draft.basis_id)
        reason_code = checked_code(draft.reason_code, f"{where}.reason_code")
        reason_text = checked_text(draft.reason_text, f"{where}.reason_text", REASON_TEXT_MAX)
        reference = checked_text(draft.reference, f"{where}.reference", POLICY_REFERENCE_MAX)
        expires = draft.expires_at_ns
        if expires is None:
            if kind in ADVERSE and not basis.allows_open_end:
                raise InvalidInputError(f"{where}.expires_at_ns", f"is required: {basis.cite()} allows no open end")
        elif isinstance(expires, bool) or not isinstance(expires, int) or not 0 < expires < ID_LIMIT:
            raise InvalidInputError(f"{where}.expires_at_ns", "must be nanoseconds since 1970, or None")
        rule_id = None if draft.rule_id is None else checked_text(draft.rule_id, f"{where}.rule_id", ACTOR_MAX)
        if not isinstance(draft.domains, frozenset) or not all(isinstance(d, Domain) for d in draft.domains):
            raise InvalidInputError(f"{where}.domains", "must be a frozenset of Domain")
        appeal = checked_text(draft.appeal, f"{where}.appeal", APPEAL_TEXT_MAX, required=False)
        if not appeal:
            appeal = APPEAL_HOW.get(kind, APPEAL_CONTEST)
        return Notice(
            id="n_" + secrets.token_hex(8),
            subject=subject,
            kind=kind,
            reference=reference,
            rule_id=rule_id,
            basis_id=basis.id,
            basis_cite=basis.cite(),
            reason_code=reason_code,
            reason_text=reason_text,
            domains=draft.domains,
            expires_at_ns=expires,
            appeal=appeal,
            created_at_ns=now,
        )

    @staticmethod
    def get_in(conn: Connection, notice_id: object) -> Notice:
        """The notice, read inside the caller's transaction, or NotFoundError."""
        if not isinstance(notice_id, str) or len(notice_id) != NOTICE_ID_LENGTH or not notice_id.startswith("n_"):
            raise NotFoundError("notice_id", f"no notice {notice_id!r:.40}")
        row = conn.execute(select(notices).where(notices.c.id == notice_id)).first()
        if row is None:
            raise NotFoundError("notice_id", f"no notice {notice_id}")
        return _notice_of(row)

    @staticmethod
    def by_id_in(conn: Connection, notice_ids: Sequence[str]) -> dict[str, Notice]:
        """The notices of ``notice_ids`` that exist, by id, read in one query inside the caller's transaction."""
        rows = conn.execute(select(notices).where(notices.c.id.in_(sorted(set(notice_ids)))))
        return {row.id: _notice_of(row) for row in rows}

    def of_subject(self, subject: str, limit: int = 100, before: tuple[int, str] | None = None) -> list[Notice]:
        """A subject's notices, newest first; ``before`` is the (created_at_ns, id) of the last one seen."""
        subject = checked_subject(subject)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= NOTICES_LIST_MAX:
            raise InvalidInputError("limit", f"must be an integer from 1 to {NOTICES_LIST_MAX}")
        query = (
            select(notices)
            .where(notices.c.subject == subject)
            .order_by(notices.c.created_at_ns.desc(), notices.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            at_ns, notice_id = before
            query = query.where(
                or_(
                    notices.c.created_at_ns < at_ns,
                    and_(notices.c.created_at_ns == at_ns, notices.c.id < notice_id),
                )
            )
        with self._store.transaction() as conn:
            return [_notice_of(row) for row in conn.execute(query)]


def _values(n: Notice) -> dict[str, Any]:
    return {
        "id": n.id,
        "subject": n.subject,
        "kind": n.kind.value,
        "reference": n.reference,
        "rule_id": n.rule_id,
        "basis_id": n.basis_id,
        "basis_cite": n.basis_cite,
        "reason_code": n.reason_code,
        "reason_text": n.reason_text,
        "domains": domains_text(n.domains),
        "expires_at_ns": n.expires_at_ns,
        "appeal": n.appeal,
        "created_at_ns": n.created_at_ns,
    }


def _notice_of(row: Row[Any]) -> Notice:
    return Notice(
        id=row.id,
        subject=row.subject,
        kind=NoticeKind(row.kind),
        reference=row.reference,
        rule_id=row.rule_id,
        basis_id=row.basis_id,
        basis_cite=row.basis_cite,
        reason_code=row.reason_code,
        reason_text=row.reason_text,
        domains=domains_of(row.domains),
        expires_at_ns=row.expires_at_ns,
        appeal=row.appeal,
        created_at_ns=row.created_at_ns,
    )
