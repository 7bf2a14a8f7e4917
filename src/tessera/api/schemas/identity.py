"""The registry: enrolments from capture stations, adjudication, a person's record and status."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, Strict

from tessera.api.schemas.common import (
    FromRecord,
    IsoDate,
    Rfc3339,
    Rfc3339OrNone,
    StrictModel,
    batch_field,
    beside,
    vars_of,
)
from tessera.identity import MEMBERS_MAX, NOMINEES_MAX, SUBMIT_BATCH_MAX, Person, StatusChange

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
    household: Annotated[
        str,
        Field(
            max_length=64,
            deprecated=True,
            description='no longer free text: "" or absent; any other value is refused with where households went '
            "(POST /v1/identity/households after enrolment)",
        ),
    ] = ""


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


class DemographicsPublic(FromRecord):
    name: str
    other_names: list[str]
    birth_date: IsoDate
    sex: str
    address: str


class CandidatePublic(FromRecord):
    number: str
    score: float


class EnrolmentPublic(FromRecord):
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
    created_at: Rfc3339 = beside("created_at_ns")
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")
    demographics: DemographicsPublic = Field(description="as the applicant stated them")


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


class StatusChangePublic(FromRecord):
    status: str
    reason: str
    actor: str
    at_ns: int
    at: Rfc3339 = beside("at_ns")


class VirtualIdPublic(FromRecord):
    vid: str
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    revoked_at_ns: int | None
    revoked_at: Rfc3339OrNone = beside("revoked_at_ns")


class PersonPublic(BaseModel):
    """A person's registry record, with their status history."""

    number: str
    name: str
    other_names: list[str]
    birth_date: IsoDate
    sex: str
    address: str
    household: str = Field(description='the id of the household the person is in now; "" for none')
    status: str
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    status_history: list[StatusChangePublic]

    @classmethod
    def of(cls, p: Person, history: list[StatusChange]) -> PersonPublic:
        return cls.model_validate({**vars_of(p), "status_history": history})


# --- households -------------------------------------------------------------------------------

Reason = Annotated[
    str, Field(min_length=1, max_length=500, description="why, in the officer's words; joins the history")
]


class HouseholdCreate(StrictModel):
    """A new household: its members (the head among them) and any nominees, with the reason."""

    members: list[Number] = Field(max_length=MEMBERS_MAX, description="at least one: the head")
    head: Number
    nominees: list[Number] = Field(default_factory=list, max_length=NOMINEES_MAX)
    reason: Reason


class HouseholdPersonCreate(StrictModel):
    """A person to add to a household, as a member or a nominee, or to make its head."""

    number: Number
    reason: Reason


class HouseholdMemberRemoval(StrictModel):
    """A member leaves; the head leaves only naming another member as ``new_head``."""

    reason: Reason
    new_head: Number | None = None


class HouseholdNomineeRemoval(StrictModel):
    reason: Reason


class HouseholdChangePublic(FromRecord):
    """One entry of a household's history."""

    change: Literal["member_joined", "member_left", "head_changed", "nominee_added", "nominee_removed"]
    number: str
    actor: str
    reason: str
    at_ns: int
    at: Rfc3339 = beside("at_ns")


class HouseholdPublic(FromRecord):
    """A household now, and every change that made it so, oldest first."""

    id: str
    head: str | None = Field(description="None once the household closed (its last member left)")
    members: list[str]
    nominees: list[str] = Field(description="registered persons who may collect on the household's behalf")
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    created_by: str
    closed_at_ns: int | None
    closed_at: Rfc3339OrNone = beside("closed_at_ns")
    history: list[HouseholdChangePublic]
