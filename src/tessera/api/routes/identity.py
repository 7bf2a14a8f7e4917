"""The person registry over HTTP: enrolment, the adjudication queue, persons and their status.

Enrolment stations and adjudicators are officers. Reading or changing a person's record
needs a stated purpose and lands in that person's access log; so does every probable
duplicate an enrolment turns up, and every adjudication.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    AdjudicationCreate,
    EnrolmentPublic,
    EnrolmentsCreate,
    EnrolmentsPublic,
    PersonPublic,
    StatusChangeCreate,
)
from tessera.api.services import Caller, Services
from tessera.auth import Action
from tessera.errors import ForbiddenError
from tessera.identity.enrolment import DEMOGRAPHIC_FIELDS, Submission
from tessera.identity.numbers import checked_number

router = APIRouter(prefix="/v1/identity", tags=["identity"])

NumberPath = Annotated[str, Path(description="a Tessera number: 12 digits, the last a Verhoeff check digit")]
EnrolmentIdPath = Annotated[str, Path(pattern=r"^e_[0-9a-f]{16}$")]


@router.post(
    "/enrolments", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.identity_enrolments_create)
)
def submit_enrolments(body: EnrolmentsCreate, caller: CallerDep, services: ServicesDep) -> EnrolmentsPublic:
    """Search each applicant 1:N and register them, or queue them for an officer; all checked before any is written."""
    submissions = [
        Submission(
            request_id=s.request_id,
            demographics=s.demographics.model_dump(),
            face=s.face,
            fingers=[(f.position, f.template) for f in s.fingers],
        )
        for s in body.submissions
    ]
    results = services.enrolments.submit_many(submissions, station=caller.principal)
    return EnrolmentsPublic(enrolments=[EnrolmentPublic.of(e) for e in results])


@router.get("/enrolments/{enrolment_id}", openapi_extra=declare(Action.identity_enrolments_read))
def get_enrolment(enrolment_id: EnrolmentIdPath, caller: CallerDep, services: ServicesDep) -> EnrolmentPublic:
    """One submission and what became of it."""
    return EnrolmentPublic.of(services.enrolments.get(enrolment_id))


@router.get("/adjudications", openapi_extra=declare(Action.identity_enrolments_read))
def adjudication_queue(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_ns: Annotated[int | None, Query(ge=0, lt=2**63, description="the last created_at_ns seen")] = None,
) -> EnrolmentsPublic:
    """Probable duplicates awaiting a decision, oldest first, with their candidates and scores."""
    return EnrolmentsPublic(enrolments=[EnrolmentPublic.of(e) for e in services.enrolments.queue(limit, after_ns)])


@router.post("/adjudications/{enrolment_id}", openapi_extra=declare(Action.identity_adjudications_decide))
def decide_adjudication(
    enrolment_id: EnrolmentIdPath, body: AdjudicationCreate, caller: CallerDep, services: ServicesDep
) -> EnrolmentPublic:
    """Decide a probable duplicate: distinct person, same person or fraud. Not by the officer who submitted it."""
    enrolment = services.enrolments.get(enrolment_id)
    if enrolment.station == caller.principal.id:
        raise ForbiddenError("an enrolment is adjudicated by another officer than the one who submitted it")
    decided = services.enrolments.decide(
        enrolment_id, body.decision, officer=caller.principal, reason=body.reason, number=body.number
    )
    return EnrolmentPublic.of(decided)


@router.get("/persons/{number}", openapi_extra=declare(Action.identity_persons_read))
def get_person(number: NumberPath, caller: CallerDep, services: ServicesDep) -> PersonPublic:
    """A person's record and status history; the read is logged for them with its purpose."""
    number = checked_number(number)
    person = services.registry.person(number)
    _logged(services, caller, number, DEMOGRAPHIC_FIELDS, "read")
    return PersonPublic.of(person, services.registry.status_history(number))


@router.post("/persons/{number}/status", openapi_extra=declare(Action.identity_persons_status_update))
def change_status(
    number: NumberPath, body: StatusChangeCreate, caller: CallerDep, services: ServicesDep
) -> PersonPublic:
    """Suspend, revoke, reinstate or record a death, with a reason that joins the history."""
    number = checked_number(number)
    services.registry.person(number)
    _logged(services, caller, number, ("status",), f"status set to {body.status}")
    person = services.registry.set_status(number, body.status, reason=body.reason, actor=caller.principal.id)
    return PersonPublic.of(person, services.registry.status_history(number))


def _logged(services: Services, caller: Caller, number: str, fields: tuple[str, ...], outcome: str) -> None:
    """Log the look for the person before answering; without a purpose the attempt is logged and refused."""
    subject = services.registry.subject_of(number)
    services.require_purpose(caller, [subject], fields, doing="reading or changing a person's record")
    services.record_access(caller, [subject], fields, outcome)
