"""Restrictions, notices, appeals, scores, lawful events and the enforcement check (``tessera.rules``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, Strict

from tessera.api.schemas.common import (
    FromRecord,
    IsoDate,
    Rfc3339,
    Rfc3339In,
    Rfc3339OrNone,
    SortedStrs,
    StrictModel,
    TakesTimes,
    batch_field,
    beside,
    vars_of,
)
from tessera.limits import ID_LIMIT
from tessera.rules import (
    CASE_NUMBER_MAX,
    COURT_MAX,
    EVENTS_BATCH_MAX,
    CourtOrder,
    Decision,
    Restriction,
    RestrictionEvent,
)

DomainName = Literal["payments", "travel", "procurement", "licensing", "benefits", "credit"]
PolicySubject = Annotated[
    str,
    Field(
        min_length=5,
        max_length=68,
        pattern=r"^([1-9][0-9]{11}|org:[a-z0-9][a-z0-9._-]{0,63})$",
        description="a Tessera number (check digit last), or org:<id> for an organisation",
    ),
]
RestrictionIdText = Annotated[str, Field(pattern=r"^r_[0-9a-f]{16}$", description="a restriction id")]
ReasonText = Annotated[str, Field(min_length=1, max_length=1000)]
ReasonCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
EndNs = Annotated[int, Strict(), Field(ge=1, lt=ID_LIMIT, description="when it ends, in nanoseconds since 1970")]


class DenialPublic(FromRecord):
    restriction_id: str
    reason_code: str
    reason_text: str
    basis_id: str
    end_ns: int | None
    end: Rfc3339OrNone = beside("end_ns")


class CheckPublic(BaseModel):
    """The enforcement point's answer: allowed, or denied with the restrictions and their reasons."""

    subject: str
    domain: str
    allowed: bool
    restriction_ids: list[str]
    reasons: list[DenialPublic]

    @classmethod
    def of(cls, subject: str, domain: str, d: Decision) -> CheckPublic:
        return cls.model_validate(
            {
                "subject": subject,
                "domain": domain,
                "allowed": d.allowed,
                "restriction_ids": d.restriction_ids,
                "reasons": d.denials,
            }
        )


class LegalBasisPublic(FromRecord):
    id: str
    instrument: str
    article: str
    kind: str
    domains: SortedStrs
    exercised_by: SortedStrs
    covers: SortedStrs = Field(description="the event types a rule citing it may read")
    purposes: SortedStrs = Field(description="or every event type of these purposes")
    self_executing: bool
    allows_open_end: bool


class LegalBasesPublic(BaseModel):
    bases: list[LegalBasisPublic]


class CourtOrderCreate(StrictModel):
    """The order a court-order restriction carries out; a court's officer exercises one only with it."""

    court: Annotated[str, Field(min_length=1, max_length=COURT_MAX)]
    case_number: Annotated[str, Field(min_length=1, max_length=CASE_NUMBER_MAX, description="the docket number")]
    issued_on: dt.date = Field(description="the order's date, YYYY-MM-DD")

    def order(self) -> CourtOrder:
        """The domain's record (checked there again, against its clock)."""
        return CourtOrder(self.court, self.case_number, self.issued_on)


class CourtOrderPublic(FromRecord):
    court: str
    case_number: str
    issued_on: IsoDate


class RestrictionCreate(TakesTimes):
    """A proposal; under a court order or a sanctions listing, sent by an officer of its agency, in force at once."""

    subject: PolicySubject
    domains: list[DomainName] = Field(min_length=1, max_length=6)
    basis_id: Annotated[str, Field(min_length=1, max_length=64)]
    authority: Annotated[str, Field(min_length=1, max_length=200)]
    reason_code: ReasonCode
    reason_text: ReasonText
    end_ns: EndNs | None = Field(default=None, description="required unless the basis is a court order")
    end: Rfc3339In | None = Field(default=None, description="when it ends, RFC 3339 (instead of end_ns)")
    court_order: CourtOrderCreate | None = Field(
        default=None, description="the order's reference; required for a court's officer exercising a court order"
    )


class RestrictionDecisionCreate(StrictModel):
    decision: Literal["activate", "reject"]
    reason: ReasonText
    court_order: CourtOrderCreate | None = Field(
        default=None, description="activating a court order: its reference, where the proposal carries none"
    )


class RestrictionAmendmentCreate(TakesTimes):
    """Omit a field to keep it; ``end: null`` (or ``end_ns: null``) asks for an open end (court orders only)."""

    domains: list[DomainName] | None = Field(default=None, min_length=1, max_length=6)
    end_ns: EndNs | None = None
    end: Rfc3339In | None = Field(default=None, description="when it ends, RFC 3339 (instead of end_ns)")
    reason: ReasonText


class RestrictionLiftCreate(StrictModel):
    reason: ReasonText


class RestrictionEventPublic(FromRecord):
    action: str
    actor: str
    reason: str
    at_ns: int
    at: Rfc3339 = beside("at_ns")


class RestrictionPublic(BaseModel):
    id: str
    subject: str
    domains: SortedStrs
    basis_id: str
    authority: str
    reason_code: str
    reason_text: str
    rule_id: str | None
    event_ref: str | None
    proposed_by: str
    proposed_at_ns: int
    proposed_at: Rfc3339 = beside("proposed_at_ns")
    start_ns: int | None
    start: Rfc3339OrNone = beside("start_ns")
    end_ns: int | None
    end: Rfc3339OrNone = beside("end_ns")
    status: str
    appeal_state: str
    decided_by: str | None
    decision_reason: str | None
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")
    ended_by: str | None
    end_reason: str | None
    ended_at_ns: int | None
    ended_at: Rfc3339OrNone = beside("ended_at_ns")
    court_order: CourtOrderPublic | None = None
    history: list[RestrictionEventPublic] | None = None

    @classmethod
    def of(cls, r: Restriction, history: list[RestrictionEvent] | None = None) -> RestrictionPublic:
        return cls.model_validate({**vars_of(r), "history": history})


class RestrictionsPublic(BaseModel):
    restrictions: list[RestrictionPublic]


class NoticePublic(FromRecord):
    """What a person is told: the decision, its rule and basis, the reasons, until when, and how to appeal."""

    id: str
    kind: str
    reference: str
    rule_id: str | None
    basis_id: str
    basis: str = Field(validation_alias="basis_cite")
    reason_code: str
    reason_text: str
    domains: SortedStrs
    expires_at_ns: int | None
    expires_at: Rfc3339OrNone = beside("expires_at_ns")
    appeal: str
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")


class NoticesPublic(BaseModel):
    notices: list[NoticePublic]
    next_before: str | None = Field(description="pass as ?before= for the next (older) page")


class AppealCreate(StrictModel):
    restriction_id: RestrictionIdText
    grounds: Annotated[str, Field(min_length=1, max_length=2000)]


class AppealDecisionCreate(StrictModel):
    outcome: Literal["uphold", "lift"]
    reason: ReasonText


class AppealPublic(FromRecord):
    id: str
    restriction_id: str
    subject: str
    grounds: str
    status: str
    filed_at_ns: int
    filed_at: Rfc3339 = beside("filed_at_ns")
    decided_by: str | None
    decision_reason: str | None
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")


class AppealQueueItemPublic(BaseModel):
    appeal: AppealPublic
    restriction: RestrictionPublic


class AppealQueuePublic(BaseModel):
    appeals: list[AppealQueueItemPublic]


class NoticeAppealCreate(StrictModel):
    grounds: Annotated[str, Field(min_length=1, max_length=2000)]


class NoticeAppealDecisionCreate(StrictModel):
    outcome: Literal["uphold", "withdraw"]
    reason: ReasonText


class NoticeAppealPublic(FromRecord):
    """An appeal on a score or denial notice; ``withdrawn``: score contributions a withdrawal stopped."""

    id: str
    notice_id: str
    subject: str
    grounds: str
    status: str
    filed_at_ns: int
    filed_at: Rfc3339 = beside("filed_at_ns")
    decided_by: str | None
    decision_reason: str | None
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")
    withdrawn: int | None


class NoticeAppealsPublic(BaseModel):
    appeals: list[NoticeAppealPublic]


class NoticeAppealQueueItemPublic(BaseModel):
    appeal: NoticeAppealPublic
    notice: NoticePublic


class NoticeAppealQueuePublic(BaseModel):
    appeals: list[NoticeAppealQueueItemPublic]


class MyRestrictionsPublic(BaseModel):
    """The caller's restrictions, every status, and their appeals."""

    restrictions: list[RestrictionPublic]
    appeals: list[AppealPublic]


class ScoreFactorPublic(FromRecord):
    """One reason a score is lower, in the rule's own words: how much it takes off, from how many events."""

    rule_id: str
    reason_code: str
    text: str
    points: float
    events: int


class ScorePublic(FromRecord):
    """A score in one scheme, the range it lies in, and at most four factors that lowered it most."""

    scheme: str
    value: int
    minimum: int
    maximum: int
    factors: list[ScoreFactorPublic]
    live_contributions: int
    as_of_ns: int
    as_of: Rfc3339 = beside("as_of_ns")


class ScoresPublic(BaseModel):
    """Every scheme the caller has a live score in; a scheme with nothing live is not listed (it would be 0)."""

    scores: list[ScorePublic]


class RuleEventCreate(TakesTimes):
    """One lawful event: the source's own id for it (its retry key), whom it is about, when, and its fields."""

    required_times: ClassVar[tuple[str, ...]] = ("at",)

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
    subject: PolicySubject
    at_ns: (
        Annotated[int, Strict(), Field(ge=1, lt=ID_LIMIT, description="when it happened, in nanoseconds since 1970")]
        | None
    ) = None
    at: Rfc3339In | None = Field(default=None, description="when it happened, RFC 3339 (instead of at_ns)")
    fields: dict[str, Any] = Field(description="exactly the fields the type declares; a record as an object")


class RuleEventsCreate(StrictModel):
    """A batch of one event type (``GET /v1/legal-bases`` lists the law; docs/rules.md the built-in types)."""

    type: Annotated[str, Field(min_length=1, max_length=64, description="a registered event type: loan.repaid")]
    events: list[RuleEventCreate] = batch_field(EVENTS_BATCH_MAX)


class RuleEventResultPublic(BaseModel):
    index: int
    id: str
    status: Literal["accepted", "duplicate"]  # duplicate: this source sent this id before; not scored again


class RuleEventsPublic(BaseModel):
    results: list[RuleEventResultPublic]
    firings: int  # rule firings the accepted events caused
