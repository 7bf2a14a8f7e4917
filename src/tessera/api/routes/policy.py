"""Restrictions, notices and appeals over HTTP, and the enforcement point services ask.

Officers propose, decide, amend and lift restrictions, and decide appeals; each of these
touches a person's data, so each needs a stated purpose and lands in that person's access
log. Who may do which is the basis's to say (``LegalBasis.exercised_by``, checked by
``Restrictions``): only officers of the agencies it names decide, amend or lift a
restriction, or exercise a court order (with the order's reference) or a listing at once;
anyone else's proposal waits for them. ``GET /v1/check`` is for enforcing services
(officers of a border or licensing agency): a check on a person says something about them,
so each one is logged for them too. Citizens read their own restrictions and notices and
file appeals on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tessera.api.deps import AfterNs, CallerDep, ServicesDep, client_address, declare
from tessera.api.schemas import (
    AppealCreate,
    AppealDecisionCreate,
    AppealPublic,
    AppealQueueItemPublic,
    AppealQueuePublic,
    CheckPublic,
    DomainName,
    LegalBasesPublic,
    LegalBasisPublic,
    MyRestrictionsPublic,
    NoticeAppealCreate,
    NoticeAppealDecisionCreate,
    NoticeAppealPublic,
    NoticeAppealQueueItemPublic,
    NoticeAppealQueuePublic,
    NoticeAppealsPublic,
    NoticePublic,
    NoticesPublic,
    RestrictionAmendmentCreate,
    RestrictionCreate,
    RestrictionDecisionCreate,
    RestrictionLiftCreate,
    RestrictionPublic,
    RestrictionsPublic,
    RuleEventResultPublic,
    RuleEventsCreate,
    RuleEventsPublic,
    ScorePublic,
    ScoresPublic,
)
from tessera.auth import Action, authorize
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX, check_batch_size
from tessera.rules import (
    EVENTS_BATCH_MAX,
    SUBJECT_MAX,
    Appeal,
    Keep,
    Restriction,
    RestrictionStatus,
    checked_subject,
    is_person,
)
from tessera.service import PURPOSE_BYTES_MAX, Caller, Services, checked_purpose

router = APIRouter(tags=["policy"])

SubjectQuery = Annotated[
    str, Query(min_length=1, max_length=SUBJECT_MAX, description="a Tessera number, or org:<id> for an organisation")
]
RestrictionIdPath = Annotated[str, Path(pattern=r"^r_[0-9a-f]{16}$")]
AppealIdPath = Annotated[str, Path(pattern=r"^a_[0-9a-f]{16}$")]
NoticeIdPath = Annotated[str, Path(pattern=r"^n_[0-9a-f]{16}$")]
NoticeAppealIdPath = Annotated[str, Path(pattern=r"^na_[0-9a-f]{16}$")]
RESTRICTION_FIELDS = ("restrictions",)
APPEAL_FIELDS = ("restrictions", "appeals")
EVENT_FIELDS = ("rules.events",)
NOTICE_FIELDS = ("notices", "appeals")
OUTCOME_MAX = 200  # a refusal's message in the person's access log, cut to one line's worth
_Changed = TypeVar("_Changed", Restriction, Appeal)
_bearer = HTTPBearer(auto_error=False, description="An API key from `tessera keys create`: `Bearer tsk_...`")


def _logged(
    services: Services, caller: Caller, subjects: list[str], fields: tuple[str, ...], outcome: str, *, doing: str
) -> None:
    """Refuse without a purpose, else log the look for each person among ``subjects`` before answering."""
    people = sorted({services.subject_of_person(s) for s in subjects if is_person(s)})
    services.require_purpose(caller, people, fields, doing=doing)
    if people:
        services.record_access(caller, people, fields, outcome)


def _changed(
    services: Services,
    caller: Caller,
    subject: str,
    asked: str,
    *,
    act: Callable[[], _Changed],
    done: Callable[[_Changed], str],
    fields: tuple[str, ...] = RESTRICTION_FIELDS,
) -> _Changed:
    """A change to a person's restriction (or appeal), logged for them as asked, then as done or as refused (and why).

    Refusals are common by design (only the basis's agency acts), so the log says what
    happened, never only what was asked; the purpose is the officer's, as given.
    """
    _logged(services, caller, [subject], fields, f"{asked} requested", doing=asked)
    people = [services.subject_of_person(subject)] if is_person(subject) else []
    try:
        changed = act()
    except (ConflictError, ForbiddenError, InvalidInputError, NotFoundError) as exc:
        if people:
            services.record_access(caller, people, fields, f"{asked} refused: {exc}"[:OUTCOME_MAX])
        raise
    if people:
        services.record_access(caller, people, fields, done(changed))
    return changed


# -- the enforcement point ---------------------------------------------------------------------------


async def _enforcing_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_tessera_purpose: Annotated[
        str | None,
        Header(
            description="Why the service checks this person, in UTF-8; shown to that person.",
            max_length=PURPOSE_BYTES_MAX,  # the latin-1 reading of the bytes: checked_purpose counts characters
        ),
    ] = None,
) -> Caller:
    """``get_caller``'s checks on the event loop: the hot path pays no thread hop (the caller cache is in memory)."""
    services: Services = request.app.state.services
    principal = services.authenticate(credentials.credentials if credentials else None, client_address(request))
    grant = authorize(principal, Action.restrictions_check)
    services.limiter.take("lookup", principal.id)
    return Caller(principal, grant, checked_purpose(x_tessera_purpose))


@router.get("/v1/check", openapi_extra=declare(Action.restrictions_check))
async def check(
    request: Request,
    subject: SubjectQuery,
    domain: Annotated[DomainName, Query()],
    caller: Annotated[Caller, Depends(_enforcing_caller)],
) -> CheckPublic:
    """Allowed, or denied with the restriction ids and reasons; logged for the person checked.

    A plain request (a recently used API key, a purpose, well-formed parameters) is answered
    by ``tessera.api.fast_check`` before it reaches this route, with the same ``answer_check``.
    """
    services: Services = request.app.state.services
    subject = checked_subject(subject)
    if is_person(subject):
        # The person's access-log entry waits on an fsync: off the event loop, and before the answer leaves.
        return await run_in_threadpool(answer_check, services, caller, subject, domain)
    return answer_check(services, caller, subject, domain)


def answer_check(services: Services, caller: Caller, subject: str, domain: str) -> CheckPublic:
    """The enforcement point's answer to a checked subject; for a person, durably logged first."""
    person = [services.subject_of_person(subject)] if is_person(subject) else []
    if not caller.purpose:
        services.require_purpose(caller, person, RESTRICTION_FIELDS, doing="checking")
    decision = services.restrictions.check(subject, domain)
    if person:
        outcome = f"check {domain}: " + ("allowed" if decision.allowed else "denied")
        services.record_access(caller, person, RESTRICTION_FIELDS, outcome)
    return CheckPublic.of(subject, domain, decision)


# -- legal bases -------------------------------------------------------------------------------------


@router.get("/v1/legal-bases", openapi_extra=declare(Action.legal_bases_read))
def list_legal_bases(caller: CallerDep, services: ServicesDep) -> LegalBasesPublic:
    """Every registered legal basis: instrument, article, kind, and the domains it allows closing."""
    return LegalBasesPublic(bases=[LegalBasisPublic.of(services.bases.get(i)) for i in services.bases.ids()])


# A legal basis is declared by data-protection officers, with the other declarations
# (``/v1/declarations``): a basis that can restrict needs two of them (issue 16).


# -- restrictions ------------------------------------------------------------------------------------


@router.post(
    "/v1/restrictions", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.restrictions_propose)
)
def propose_restriction(body: RestrictionCreate, caller: CallerDep, services: ServicesDep) -> RestrictionPublic:
    """Propose a restriction; an officer of an agency its basis names decides it.

    Under a court order or a sanctions listing, proposed by an officer of such an agency, it
    is in force at once (a court order only with ``court_order``, the order's reference).
    """
    subject = checked_subject(body.subject)
    made = _changed(
        services,
        caller,
        subject,
        "restriction proposal",
        act=lambda: services.restrictions.propose(
            subject,
            body.domains,
            body.basis_id,
            authority=body.authority,
            reason_code=body.reason_code,
            reason_text=body.reason_text,
            end_ns=body.end_ns,
            proposer=caller.principal.id,
            court_order=None if body.court_order is None else body.court_order.order(),
        ),
        done=lambda r: f"restriction {r.id} {'proposed' if r.status is RestrictionStatus.proposed else 'in force'}",
    )
    return RestrictionPublic.of(made)


@router.get("/v1/restrictions", openapi_extra=declare(Action.restrictions_read))
def list_restrictions(
    caller: CallerDep,
    services: ServicesDep,
    after_ns: AfterNs,
    subject: SubjectQuery | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
) -> RestrictionsPublic:
    """A subject's restrictions (every status), or without ``subject`` the proposals awaiting a decision."""
    if subject is not None:
        subject = checked_subject(subject)
        _logged(services, caller, [subject], RESTRICTION_FIELDS, "read", doing="reading a person's restrictions")
        found = services.restrictions.of_subject(subject, limit)
    else:
        found = services.restrictions.proposed(limit, after_ns)
        _logged(services, caller, [r.subject for r in found], RESTRICTION_FIELDS, "read", doing="reading the proposals")
    return RestrictionsPublic(restrictions=[RestrictionPublic.of(r) for r in found])


@router.get("/v1/restrictions/{restriction_id}", openapi_extra=declare(Action.restrictions_read))
def get_restriction(restriction_id: RestrictionIdPath, caller: CallerDep, services: ServicesDep) -> RestrictionPublic:
    """One restriction and its history."""
    found = services.restrictions.get(restriction_id)
    _logged(services, caller, [found.subject], RESTRICTION_FIELDS, "read", doing="reading a restriction")
    return RestrictionPublic.of(found, services.restrictions.history(restriction_id))


@router.post("/v1/restrictions/{restriction_id}/decision", openapi_extra=declare(Action.restrictions_decide))
def decide_restriction(
    restriction_id: RestrictionIdPath, body: RestrictionDecisionCreate, caller: CallerDep, services: ServicesDep
) -> RestrictionPublic:
    """Activate (the notice goes out, payments freeze) or reject, by an officer of the basis's agency, not its proposer.

    A court order activates with its reference: the proposal's, or ``court_order`` here.
    """
    found = services.restrictions.get(restriction_id)
    decided = _changed(
        services,
        caller,
        found.subject,
        f"restriction {restriction_id} {body.decision}",
        act=lambda: services.restrictions.decide(
            restriction_id,
            body.decision,
            officer=caller.principal.id,
            reason=body.reason,
            court_order=None if body.court_order is None else body.court_order.order(),
        ),
        done=lambda r: f"restriction {r.id} {r.status.value}",
    )
    return RestrictionPublic.of(decided)


@router.post("/v1/restrictions/{restriction_id}/amendment", openapi_extra=declare(Action.restrictions_amend))
def amend_restriction(
    restriction_id: RestrictionIdPath, body: RestrictionAmendmentCreate, caller: CallerDep, services: ServicesDep
) -> RestrictionPublic:
    """Change a proposal's domains or end, within its basis; an active one only narrows or shortens (its agency's)."""
    if "domains" in body.model_fields_set and body.domains is None:
        raise InvalidInputError("body.domains", "must list at least one domain (omit it to keep them)")
    found = services.restrictions.get(restriction_id)
    amended = _changed(
        services,
        caller,
        found.subject,
        f"restriction {restriction_id} amendment",
        act=lambda: services.restrictions.amend(
            restriction_id,
            officer=caller.principal.id,
            reason=body.reason,
            domains=body.domains,
            end_ns=body.end_ns if "end_ns" in body.model_fields_set else Keep.keep,
        ),
        done=lambda r: f"restriction {r.id} amended",
    )
    return RestrictionPublic.of(amended)


@router.post("/v1/restrictions/{restriction_id}/lift", openapi_extra=declare(Action.restrictions_lift))
def lift_restriction(
    restriction_id: RestrictionIdPath, body: RestrictionLiftCreate, caller: CallerDep, services: ServicesDep
) -> RestrictionPublic:
    """End an active restriction now, with a reason, by an officer of an agency its basis names; payments unfreeze."""
    found = services.restrictions.get(restriction_id)
    lifted = _changed(
        services,
        caller,
        found.subject,
        f"restriction {restriction_id} lift",
        act=lambda: services.restrictions.lift(restriction_id, officer=caller.principal.id, reason=body.reason),
        done=lambda r: f"restriction {r.id} lifted",
    )
    return RestrictionPublic.of(lifted)


# -- appeals -----------------------------------------------------------------------------------------


@router.get("/v1/appeals", openapi_extra=declare(Action.appeals_read))
def appeal_queue(
    caller: CallerDep,
    services: ServicesDep,
    after_ns: AfterNs,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
) -> AppealQueuePublic:
    """Appeals awaiting a decision, oldest first, each with its restriction."""
    found = services.appeals.pending(limit, after_ns)
    _logged(services, caller, [a.subject for a, _ in found], APPEAL_FIELDS, "read", doing="reading the appeals")
    items = [AppealQueueItemPublic(appeal=AppealPublic.of(a), restriction=RestrictionPublic.of(r)) for a, r in found]
    return AppealQueuePublic(appeals=items)


@router.post("/v1/appeals/{appeal_id}/decision", openapi_extra=declare(Action.appeals_decide))
def decide_appeal(
    appeal_id: AppealIdPath, body: AppealDecisionCreate, caller: CallerDep, services: ServicesDep
) -> AppealPublic:
    """Uphold (the restriction stays) or lift (it ends now), with a reason the person reads.

    Under a court order or a listing, only an officer of an agency its basis names decides.
    """
    found = services.appeals.get(appeal_id)
    decided = _changed(
        services,
        caller,
        found.subject,
        f"appeal {appeal_id} {body.outcome}",
        act=lambda: services.appeals.decide(appeal_id, body.outcome, officer=caller.principal.id, reason=body.reason),
        done=lambda a: f"appeal {a.id} {a.status.value}",
        fields=APPEAL_FIELDS,
    )
    return AppealPublic.of(decided)


# -- events for the rules ------------------------------------------------------------------------------------


@router.post("/v1/events", openapi_extra=declare(Action.rule_events_create))
def submit_events(body: RuleEventsCreate, caller: CallerDep, services: ServicesDep) -> RuleEventsPublic:
    """An agency's lawful events about people (``loan.repaid``, ``tax.filed_late``) for the rules, scored at once.

    The batch is checked whole before anything is kept; an event id this caller sent before
    is a retry, answered ``duplicate`` and not scored again.
    """
    check_batch_size(len(body.events), "events", EVENTS_BATCH_MAX)
    events = [e.model_dump(exclude={"at"}) for e in body.events]
    prepared = services.event_intake.prepare(caller.principal, body.type, events)
    subjects = [e.subject for e in prepared.events]
    _logged(services, caller, subjects, EVENT_FIELDS, "event submitted", doing="submitting events about a person")
    submitted = services.event_intake.keep(prepared)
    results = [
        RuleEventResultPublic(index=i, id=e.event_id, status=status)
        for i, (e, status) in enumerate(zip(prepared.events, submitted.statuses, strict=True))
    ]
    return RuleEventsPublic(results=results, firings=submitted.firings)


# -- appeals on score and denial notices ----------------------------------------------------------------------


@router.get("/v1/notice-appeals", openapi_extra=declare(Action.appeals_read))
def notice_appeal_queue(
    caller: CallerDep,
    services: ServicesDep,
    after_ns: AfterNs,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
) -> NoticeAppealQueuePublic:
    """Appeals on a rule's lowered score or denial awaiting a decision, oldest first, each with its notice."""
    found = services.notice_appeals.pending(limit, after_ns)
    _logged(services, caller, [a.subject for a, _ in found], NOTICE_FIELDS, "read", doing="reading the appeals")
    items = [NoticeAppealQueueItemPublic(appeal=NoticeAppealPublic.of(a), notice=NoticePublic.of(n)) for a, n in found]
    return NoticeAppealQueuePublic(appeals=items)


@router.post("/v1/notice-appeals/{appeal_id}/decision", openapi_extra=declare(Action.appeals_decide))
def decide_notice_appeal(
    appeal_id: NoticeAppealIdPath, body: NoticeAppealDecisionCreate, caller: CallerDep, services: ServicesDep
) -> NoticeAppealPublic:
    """Uphold (the decision stays) or withdraw it (a lowered score's contributions stop counting now), with a reason."""
    found = services.notice_appeals.get(appeal_id)
    _logged(services, caller, [found.subject], NOTICE_FIELDS, f"appeal {body.outcome}", doing="deciding an appeal")
    decided = services.notice_appeals.decide(appeal_id, body.outcome, officer=caller.principal.id, reason=body.reason)
    return NoticeAppealPublic.of(decided)


# -- the person's own --------------------------------------------------------------------------------


@router.get("/v1/me/restrictions", openapi_extra=declare(Action.me_restrictions_read))
def my_restrictions(
    caller: CallerDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100
) -> MyRestrictionsPublic:
    """The caller's restrictions, every status, and their appeals."""
    number = services.person_of(caller).number
    return MyRestrictionsPublic(
        restrictions=[RestrictionPublic.of(r) for r in services.restrictions.of_subject(number, limit)],
        appeals=[AppealPublic.of(a) for a in services.appeals.of_subject(number, limit)],
    )


@router.get("/v1/me/notices", openapi_extra=declare(Action.me_notices_read))
def my_notices(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
    before: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,19}\.n_[0-9a-f]{16}$", description="next_before of the previous page")
    ] = None,
) -> NoticesPublic:
    """Every notice to the caller, newest first: the decision, its basis, reasons, expiry and how to appeal."""
    number = services.person_of(caller).number
    cursor = None
    if before is not None:
        at_ns, notice_id = before.split(".", 1)
        cursor = (int(at_ns), notice_id)
    found = services.notices.of_subject(number, limit, cursor)
    last = f"{found[-1].created_at_ns}.{found[-1].id}" if len(found) == limit and found else None
    return NoticesPublic(notices=[NoticePublic.of(n) for n in found], next_before=last)


@router.get("/v1/me/scores", openapi_extra=declare(Action.me_scores_read))
def my_scores(caller: CallerDep, services: ServicesDep) -> ScoresPublic:
    """The caller's scores: each one's value, range, and the key factors that lowered it most, in plain words."""
    number = services.person_of(caller).number
    return ScoresPublic(scores=[ScorePublic.of(s) for s in services.scores.scores_of(number)])


@router.get("/v1/me/notice-appeals", openapi_extra=declare(Action.me_notices_read))
def my_notice_appeals(
    caller: CallerDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100
) -> NoticeAppealsPublic:
    """The caller's appeals on score and denial notices, newest first, pending or answered."""
    number = services.person_of(caller).number
    return NoticeAppealsPublic(
        appeals=[NoticeAppealPublic.of(a) for a in services.notice_appeals.of_subject(number, limit)]
    )


@router.post(
    "/v1/me/notices/{notice_id}/appeal",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=declare(Action.me_appeals_write),
)
def appeal_my_notice(
    notice_id: NoticeIdPath, body: NoticeAppealCreate, caller: CallerDep, services: ServicesDep
) -> NoticeAppealPublic:
    """Appeal a lowered score or a denial told in one of the caller's own notices, once; others' are refused (403)."""
    number = services.person_of(caller).number
    filed = services.notice_appeals.file(
        notice_id, appellant=number, filed_by=caller.principal.id, grounds=body.grounds
    )
    return NoticeAppealPublic.of(filed)


@router.post("/v1/me/appeals", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.me_appeals_write))
def file_my_appeal(body: AppealCreate, caller: CallerDep, services: ServicesDep) -> AppealPublic:
    """Appeal one of the caller's own active restrictions; anyone else's is refused (403) and nothing changes."""
    number = services.person_of(caller).number
    filed = services.appeals.file(
        body.restriction_id, appellant=number, filed_by=caller.principal.id, grounds=body.grounds
    )
    return AppealPublic.of(filed)
