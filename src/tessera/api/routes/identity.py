"""The person registry over HTTP: enrolment, the adjudication queue, persons and their status.

Enrolment stations and adjudicators are officers. Every route that shows a person's data
to an officer needs a stated purpose and lands in that person's access log: reading or
changing a person's record, reading an enrolment (the person it made or matched, and its
candidates' numbers and scores), reading the adjudication queue (each candidate listed),
and deciding a case. Enrolment logs each probable duplicate it turns up, with the
station's purpose if it stated one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from tessera.api.deps import AfterNs, CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    AdjudicationCreate,
    EnrolmentPublic,
    EnrolmentsCreate,
    EnrolmentsPublic,
    PersonPublic,
    StatusChangeCreate,
)
from tessera.auth import Action
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.identity import DEMOGRAPHIC_FIELDS, Enrolment, Submission, checked_number
from tessera.limits import PAGE_SIZE_MAX
from tessera.service import Caller, Services

router = APIRouter(prefix="/v1/identity", tags=["identity"])

NumberPath = Annotated[str, Path(description="a Tessera number: 12 digits, the last a Verhoeff check digit")]
EnrolmentIdPath = Annotated[str, Path(pattern=r"^e_[0-9a-f]{16}$")]
CANDIDATE_FIELDS = ("number", "match_score")  # what an enrolment shows of each candidate


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
    results = services.enrolments.submit_many(submissions, station=caller.principal, purpose=caller.purpose or None)
    return EnrolmentsPublic(enrolments=[EnrolmentPublic.of(e) for e in results])


@router.get("/enrolments/{enrolment_id}", openapi_extra=declare(Action.identity_enrolments_read))
def get_enrolment(enrolment_id: EnrolmentIdPath, caller: CallerDep, services: ServicesDep) -> EnrolmentPublic:
    """One submission and what became of it; logged for the person it made or matched and for each candidate."""
    enrolment = services.enrolments.get(enrolment_id)
    _shown(services, caller, [enrolment], "read", doing="reading an enrolment")
    return EnrolmentPublic.of(enrolment)


@router.get("/adjudications", openapi_extra=declare(Action.identity_enrolments_read))
def adjudication_queue(
    caller: CallerDep,
    services: ServicesDep,
    after_ns: AfterNs,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
) -> EnrolmentsPublic:
    """Probable duplicates awaiting a decision, oldest first, with their candidates and scores; logged for each."""
    found = services.enrolments.queue(limit, after_ns)
    _shown(services, caller, found, "read", doing="reading the adjudication queue")
    return EnrolmentsPublic(enrolments=[EnrolmentPublic.of(e) for e in found])


@router.post("/adjudications/{enrolment_id}", openapi_extra=declare(Action.identity_adjudications_decide))
def decide_adjudication(
    enrolment_id: EnrolmentIdPath, body: AdjudicationCreate, caller: CallerDep, services: ServicesDep
) -> EnrolmentPublic:
    """Decide a probable duplicate: distinct person, same person or fraud. Not by the officer who submitted it."""
    enrolment = services.enrolments.get(enrolment_id)
    if enrolment.station == caller.principal.id:
        raise ForbiddenError("an enrolment is adjudicated by another officer than the one who submitted it")
    # The decision is logged for every candidate (and the new person) by Enrolments, with this purpose.
    people = services.registry.subjects_of([c.number for c in enrolment.candidates])
    services.require_purpose(caller, people.values(), CANDIDATE_FIELDS, doing="deciding an enrolment")
    decided = services.enrolments.decide(
        enrolment_id,
        body.decision,
        officer=caller.principal,
        reason=body.reason,
        number=body.number,
        purpose=caller.purpose,
    )
    return EnrolmentPublic.of(decided)


@router.get("/persons/{number}", openapi_extra=declare(Action.identity_persons_read))
def get_person(number: NumberPath, caller: CallerDep, services: ServicesDep) -> PersonPublic:
    """A person's record and status history; the read is logged for them with its purpose."""
    number = checked_number(number)
    person = services.registry.person(number)
    subject = _purposeful(services, caller, number, DEMOGRAPHIC_FIELDS, doing="reading a person's record")
    services.record_access(caller, [subject], DEMOGRAPHIC_FIELDS, "read")
    return PersonPublic.of(person, services.registry.status_history(number))


@router.post("/persons/{number}/status", openapi_extra=declare(Action.identity_persons_status_update))
def change_status(
    number: NumberPath, body: StatusChangeCreate, caller: CallerDep, services: ServicesDep
) -> PersonPublic:
    """Suspend, revoke, reinstate or record a death, with a reason that joins the history.

    The request is logged before anything changes, and what came of it after: the change
    made, or the refusal and why.
    """
    number = checked_number(number)
    services.registry.person(number)
    fields = ("status",)
    subject = _purposeful(services, caller, number, fields, doing="changing a person's status")
    services.record_access(caller, [subject], fields, f"status change to {body.status} requested")
    try:
        person = services.registry.set_status(number, body.status, reason=body.reason, actor=caller.principal.id)
    except (ConflictError, InvalidInputError, NotFoundError) as exc:
        services.record_access(caller, [subject], fields, f"status change to {body.status} refused: {exc}"[:200])
        raise
    services.record_access(caller, [subject], fields, f"status set to {body.status}")
    return PersonPublic.of(person, services.registry.status_history(number))


def _purposeful(services: Services, caller: Caller, number: str, fields: tuple[str, ...], *, doing: str) -> str:
    """The person's access-log subject; without a purpose the attempt is logged for them and refused."""
    subject = services.subject_of_person(number)
    services.require_purpose(caller, [subject], fields, doing=doing)
    return subject


def _shown(services: Services, caller: Caller, enrolments: Sequence[Enrolment], outcome: str, *, doing: str) -> None:
    """Log what ``enrolments`` show of each registered person, before answering; refuse without a purpose.

    The person an enrolment made or matched is shown with the demographics the applicant
    stated; each candidate with their number and match score. An applicant still in review
    is no one's record yet, so nothing is logged for them.
    """
    made = {e.number for e in enrolments if e.number is not None}
    candidates = {c.number for e in enrolments for c in e.candidates} - made
    subjects = services.registry.subjects_of(sorted(made | candidates)) if made or candidates else {}
    services.require_purpose(caller, subjects.values(), (*DEMOGRAPHIC_FIELDS, *CANDIDATE_FIELDS), doing=doing)
    for numbers, fields in ((made, DEMOGRAPHIC_FIELDS), (candidates, CANDIDATE_FIELDS)):
        if numbers:
            services.record_access(caller, [subjects[n] for n in sorted(numbers)], fields, outcome)
