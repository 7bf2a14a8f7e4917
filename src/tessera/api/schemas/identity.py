"""The registry: enrolments from capture stations, adjudication, a person's record and status."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, Strict

from tessera.api.schemas.common import StrictModel, batch_field
from tessera.identity import SUBMIT_BATCH_MAX, Enrolment, Person, StatusChange, VirtualId

Number = Annotated[str, Field(min_length=12, max_length=12, pattern=r"^[0-9]{12}$", description="a Tessera number")]
# Templates arrive as JSON numbers or as base64 of little-endian float32; the domain checks
# sizes, NaN and zero vectors and names the element at fault.
TemplateData = Annotated[list[float], Field(max_length=4096)] | Annotated[str, Field(max_length=32_768)]


class DemographicsCreate(StrictModel):
    """What the applicant states; names in any script."""

    name: Annotated[str, Field(min_length=1, max_length=300)]
    other_names: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=10)
    birth_date: Annotated[str, Field(min_length=10, max_length=10, description="YYYY-MM-DD")]
    sex: Literal["F", "M", "X"]
    address: Annotated[str, Field(max_length=500)] = ""
    household: Annotated[str, Field(max_length=64)] = ""


class FingerCreate(StrictModel):
    position: Annotated[
        int, Strict(), Field(description="ISO/IEC 19794 finger position, 1 (right thumb) to 10 (left little)")
    ]
    template: TemplateData


class EnrolmentCreate(StrictModel):
    """One applicant from a capture station: demographics and templates, never images."""

    request_id: Annotated[
        str, Field(min_length=1, max_length=64, description="the station's own id for this submission")
    ]
    demographics: DemographicsCreate
    face: TemplateData
    fingers: list[FingerCreate] = Field(default_factory=list, max_length=10)


class EnrolmentsCreate(StrictModel):
    submissions: list[EnrolmentCreate] = batch_field(SUBMIT_BATCH_MAX)


class DemographicsPublic(BaseModel):
    name: str
    other_names: list[str]
    birth_date: str
    sex: str
    address: str
    household: str


class CandidatePublic(BaseModel):
    number: str
    score: float


class EnrolmentPublic(BaseModel):
    """What became of a submission: ``enrolled`` (a new number), ``review``, ``merged`` or ``rejected``."""

    id: str
    request_id: str
    state: str
    number: str | None
    candidates: list[CandidatePublic]
    decision: str | None
    decided_by: str | None
    reason: str | None
    created_at_ns: int
    decided_at_ns: int | None
    demographics: DemographicsPublic = Field(description="as the applicant stated them")

    @classmethod
    def of(cls, e: Enrolment) -> EnrolmentPublic:
        return cls(
            id=e.id,
            request_id=e.request_id,
            state=e.state,
            number=e.number,
            candidates=[CandidatePublic(number=c.number, score=c.score) for c in e.candidates],
            decision=e.decision,
            decided_by=e.decided_by,
            reason=e.reason,
            created_at_ns=e.created_at_ns,
            decided_at_ns=e.decided_at_ns,
            demographics=DemographicsPublic(**e.demographics.to_json()),
        )


class EnrolmentsPublic(BaseModel):
    enrolments: list[EnrolmentPublic]


class AdjudicationCreate(StrictModel):
    """An officer's decision on a probable duplicate, with the reason written down."""

    decision: Literal["distinct", "same", "fraud"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    number: Number | None = Field(default=None, description="for same or fraud: which candidate (default: the best)")


class StatusChangeCreate(StrictModel):
    status: Literal["active", "suspended", "revoked", "deceased"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class StatusChangePublic(BaseModel):
    status: str
    reason: str
    actor: str
    at_ns: int


class VirtualIdPublic(BaseModel):
    vid: str
    created_at_ns: int
    revoked_at_ns: int | None

    @classmethod
    def of(cls, v: VirtualId) -> VirtualIdPublic:
        return cls(vid=v.vid, created_at_ns=v.created_at_ns, revoked_at_ns=v.revoked_at_ns)


class PersonPublic(BaseModel):
    """A person's registry record, with their status history."""

    number: str
    name: str
    other_names: list[str]
    birth_date: str
    sex: str
    address: str
    household: str
    status: str
    created_at_ns: int
    status_history: list[StatusChangePublic]

    @classmethod
    def of(cls, p: Person, history: list[StatusChange]) -> PersonPublic:
        return cls(
            number=p.number,
            name=p.name,
            other_names=list(p.other_names),
            birth_date=p.birth_date.isoformat(),
            sex=p.sex,
            address=p.address,
            household=p.household,
            status=p.status,
            created_at_ns=p.created_at_ns,
            status_history=[
                StatusChangePublic(status=h.status, reason=h.reason, actor=h.actor, at_ns=h.at_ns) for h in history
            ],
        )
