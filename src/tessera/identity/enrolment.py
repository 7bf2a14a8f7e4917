"""Enrolment: a capture station's submission becomes a person, or a case for an officer.

Every submission is searched 1:N against the whole gallery before anyone is created. With
no candidate at or above ``DUPLICATE_THRESHOLD`` the person is registered and their
templates join the gallery; otherwise the submission waits in the adjudication queue with
its candidates and scores until an officer decides: a distinct person (registered then),
the same person (no new number), or fraud (refused). Each step lands in the access log
of the persons it concerns, with the purpose the officer stated (as given, never replaced
by a word of ours) and what happened; the submission itself is kept, whatever became of it.

The registry row commits before the gallery append. A crash between the two leaves a
person the gallery lacks; ``reconcile_gallery`` (run at start) puts them back, so the
gallery never names a number the registry does not know.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Row, select, update

from tessera.audit import AccessEntry, AccessLog
from tessera.auth import Principal
from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.identity.dedup import DUPLICATE_THRESHOLD, Candidate, Gallery
from tessera.identity.fusion import pairwise_fused_scores
from tessera.identity.registry import Clock, Demographics, Registry, checked_demographics, stored_demographics
from tessera.identity.templates import Templates, checked_templates
from tessera.limits import PAGE_SIZE_MAX, check_batch_size
from tessera.store import DECISIONS, REASON_MAX, REQUEST_ID_MAX, Store, enrolments
from tessera.text import checked_text, checked_visible, shows_letter_or_digit

CANDIDATES_MAX = 16  # the gallery search's k: the cases an officer is shown
QUEUE_LIST_MAX = PAGE_SIZE_MAX
SUBMIT_BATCH_MAX = 1000
RECONCILE_PAGE = 10_000
_REQUEST_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{REQUEST_ID_MAX - 1}}}")
_ENROLMENT_ID = re.compile(r"e_[0-9a-f]{16}")
TEMPLATE_FIELDS = ("face_template", "finger_templates")
DEMOGRAPHIC_FIELDS = ("name", "other_names", "birth_date", "sex", "address")
# The purpose a submission carries in itself, logged where the station states none: the 1:N
# search is what enrolment is, so a station's search needs no purpose of its own. A decision
# on a case needs one (the API asks for it); a caller in the domain that gives none is logged
# with NO_PURPOSE, as the API logs a refused look.
ENROLMENT_PURPOSE = "enrolment: checking a new applicant is not someone already registered"
NO_PURPOSE = "none stated"
PURPOSE_MAX = 200  # an access entry's text limit

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewlyRegistered:
    """A person just registered, as ``on_registered`` hears of it (after the commit)."""

    number: str
    demographics: Demographics
    enrolment_id: str


OnRegistered = Callable[[Sequence[NewlyRegistered]], None]


@dataclass(frozen=True, slots=True)
class Submission:
    """One applicant as a capture station sends them: no images, only templates."""

    request_id: str
    demographics: Mapping[str, object]
    face: object
    fingers: object = ()


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What became of a submission. ``number`` is the person made (enrolled) or matched (merged, rejected)."""

    id: str
    request_id: str
    state: str
    number: str | None
    candidates: tuple[Candidate, ...]
    decision: str | None
    decided_by: str | None
    reason: str | None
    created_at_ns: int
    decided_at_ns: int | None
    station: str
    demographics: Demographics  # as the applicant stated them, for the officer comparing candidates


@dataclass(frozen=True, slots=True)
class _Checked:
    request_id: str
    facts: Demographics
    templates: Templates
    digest: bytes
    demographics_json: str


class Enrolments:
    """Submissions, the 1:N search and the adjudication queue over one registry and gallery."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        gallery: Gallery,
        access_log: AccessLog,
        *,
        threshold: float = DUPLICATE_THRESHOLD,
        clock: Clock = time.time_ns,
        on_registered: OnRegistered | None = None,
    ) -> None:
        self._store = store
        self._on_registered = on_registered
        self._registry = registry
        self._gallery = gallery
        self._log = access_log
        self._threshold = threshold
        self._clock = clock
        # One search-and-register at a time: two submissions of one person must not both
        # pass the search before either joins the gallery.
        self._lock = threading.Lock()

    # --- submitting ---------------------------------------------------------------------------

    def submit(self, submission: Submission, *, station: Principal, purpose: str | None = None) -> Enrolment:
        """Search one applicant 1:N and register them, or queue them for an officer."""
        return self.submit_many([submission], station=station, purpose=purpose)[0]

    def submit_many(
        self, submissions: Sequence[Submission], *, station: Principal, purpose: str | None = None
    ) -> list[Enrolment]:
        """Several applicants with one batched gallery search; checked whole before anything is written.

        Applicants in one batch are also compared with each other, so a person sent twice
        in one batch is caught like one sent twice in two. ``purpose`` is the station's
        stated purpose, logged as given for each person the search turns up.
        """
        if not isinstance(submissions, Sequence):
            raise InvalidInputError("submissions", f"must be a list of 1-{SUBMIT_BATCH_MAX} applicants")
        check_batch_size(len(submissions), "submissions", SUBMIT_BATCH_MAX)
        purpose = _checked_purpose(purpose)
        several = len(submissions) > 1
        checked = [_checked_submission(s, f"submissions[{i}]" if several else "") for i, s in enumerate(submissions)]
        _refuse_repeats_within(checked)
        with self._lock:
            self._refuse_resubmissions(checked)
            found = self._gallery.search([c.templates for c in checked], k=CANDIDATES_MAX)
            within = pairwise_fused_scores([c.templates for c in checked]) if len(checked) > 1 else None
            results: list[Enrolment] = []
            batch_rows: list[int] = []  # where in this batch the applicants registered so far are
            batch_numbers: list[str] = []
            batch_templates: list[Templates] = []

            # One transaction for the batch: all of it is registered, or none.
            def meanwhile() -> ConflictError:
                # Another process got one of these requests in between (the lock is per process).
                return ConflictError("request_id", "a submission of this batch was made meanwhile: nothing was written")

            with self._store.transaction(write=True, conflict=meanwhile) as conn:
                for i, (c, candidates) in enumerate(zip(checked, found, strict=True)):
                    probable = [m for m in candidates if m.score >= self._threshold]
                    if within is not None:  # the applicants registered earlier in this batch
                        earlier = [(j, e.number) for j, e in enumerate(results) if e.number is not None]
                        probable += [
                            Candidate(n, float(within[i, j])) for j, n in earlier if within[i, j] >= self._threshold
                        ]
                    probable.sort(key=lambda m: -m.score)
                    enrolment = self._record(conn, c, probable[:CANDIDATES_MAX], station)
                    if enrolment.number is not None:
                        batch_rows.append(i)
                        batch_numbers.append(enrolment.number)
                        batch_templates.append(c.templates)
                    results.append(enrolment)
            if batch_numbers:
                self._gallery.add(batch_numbers, batch_templates)
        self._log_submissions(results, station, purpose)
        self._registered(
            [NewlyRegistered(e.number, e.demographics, e.id) for e in results if e.state == "enrolled" and e.number]
        )
        return results

    def _registered(self, registrations: list[NewlyRegistered]) -> None:
        """Tell ``on_registered`` (sanctions screening) after the commit; its failure never fails the enrolment."""
        if not registrations or self._on_registered is None:
            return
        try:
            self._on_registered(registrations)
        except Exception:
            log.exception("on_registered failed for %d registrations", len(registrations))

    def _refuse_resubmissions(self, checked: Sequence[_Checked]) -> None:
        """A request id or an identical submission seen before is refused, naming the first enrolment."""
        request_ids = [c.request_id for c in checked]
        digests = [c.digest for c in checked]
        with self._store.transaction() as conn:
            rows = list(
                conn.execute(
                    select(enrolments.c.id, enrolments.c.request_id, enrolments.c.digest, enrolments.c.state).where(
                        enrolments.c.request_id.in_(request_ids) | enrolments.c.digest.in_(digests)
                    )
                )
            )
        for row in rows:
            for i, c in enumerate(checked):
                at = f"submissions[{i}]." if len(checked) > 1 else ""
                if row.request_id == c.request_id:
                    raise ConflictError(
                        f"{at}request_id", f"{c.request_id!r} was already submitted as {row.id} ({row.state})"
                    )
                if bytes(row.digest) == c.digest:
                    raise ConflictError(
                        f"{at}templates", f"this exact enrolment was already submitted as {row.id} ({row.state})"
                    )

    def _record(self, conn: Connection, c: _Checked, probable: list[Candidate], station: Principal) -> Enrolment:
        """Insert the enrolment and, with no probable duplicate, the person, inside the batch's transaction."""
        enrolment = Enrolment(
            id="e_" + secrets.token_hex(8),
            request_id=c.request_id,
            state="review" if probable else "enrolled",
            number=None,
            candidates=tuple(Candidate(m.number, _rounded(m.score)) for m in probable),  # as stored
            decision=None,
            decided_by=None,
            reason=None,
            created_at_ns=self._clock(),
            decided_at_ns=None,
            station=station.id,
            demographics=c.facts,
        )
        if not probable:
            person = self._registry.create_person_in(conn, c.facts, station=station.id, enrolment_id=enrolment.id)
            enrolment = replace(enrolment, number=person.number)
        conn.execute(
            enrolments.insert().values(
                id=enrolment.id,
                request_id=c.request_id,
                digest=c.digest,
                station=station.id,
                demographics=c.demographics_json,
                templates=c.templates.to_bytes(),
                state=enrolment.state,
                number=enrolment.number,
                candidates=_candidates_json(probable),
                decision=None,
                decided_by=None,
                reason=None,
                created_at_ns=enrolment.created_at_ns,
                decided_at_ns=None,
            )
        )
        return enrolment

    # --- the adjudication queue -------------------------------------------------------------------

    def get(self, enrolment_id: str) -> Enrolment:
        """One enrolment by id, or NotFoundError."""
        enrolment_id = _checked_enrolment_id(enrolment_id)
        with self._store.transaction() as conn:
            row = conn.execute(select(enrolments).where(enrolments.c.id == enrolment_id)).first()
        if row is None:
            raise NotFoundError("enrolment_id", f"no enrolment {enrolment_id}")
        return _enrolment_of(row)

    def of_requests(self, request_ids: Sequence[str]) -> dict[str, Enrolment]:
        """What became of each of a station's submissions, by its request id; ids never submitted are absent."""
        check_batch_size(len(request_ids), "request_ids", SUBMIT_BATCH_MAX)
        with self._store.transaction() as conn:
            rows = conn.execute(select(enrolments).where(enrolments.c.request_id.in_(list(request_ids))))
            return {row.request_id: _enrolment_of(row) for row in rows}

    def queue(self, limit: int = 100, after_ns: int | None = None) -> list[Enrolment]:
        """Enrolments awaiting an officer, oldest first; pass the last ``created_at_ns`` seen as ``after_ns``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= QUEUE_LIST_MAX:
            raise InvalidInputError("limit", f"must be 1-{QUEUE_LIST_MAX}")
        query = (
            select(enrolments)
            .where(enrolments.c.state == "review")
            .order_by(enrolments.c.created_at_ns, enrolments.c.id)
            .limit(limit)
        )
        if after_ns is not None:
            query = query.where(enrolments.c.created_at_ns > after_ns)
        with self._store.transaction() as conn:
            return [_enrolment_of(row) for row in conn.execute(query)]

    def decide(
        self,
        enrolment_id: str,
        decision: str,
        *,
        officer: Principal,
        reason: str,
        number: str | None = None,
        purpose: str | None = None,
    ) -> Enrolment:
        """An officer's decision on a queued enrolment, with a written reason.

        ``distinct`` registers the applicant (refused if the gallery gained a new match since
        the case was opened: the officer must see it first); ``same`` and ``fraud`` name the
        matched person (``number``, defaulting to the best candidate) and register no one.
        ``purpose`` is the officer's stated purpose, logged as given for every person concerned.
        """
        enrolment_id = _checked_enrolment_id(enrolment_id)
        purpose = _checked_purpose(purpose)
        if decision not in DECISIONS:
            raise InvalidInputError("decision", f"must be one of {', '.join(DECISIONS)}, got {decision!r:.20}")
        reason = checked_text(reason, "reason", REASON_MAX)  # read by officers and in the person's history
        if not shows_letter_or_digit(reason):
            raise InvalidInputError("reason", "an adjudication needs a written reason")
        with self._lock:
            enrolment = self.get(enrolment_id)
            if enrolment.state != "review":
                raise ConflictError("enrolment_id", f"{enrolment_id} is {enrolment.state}, not awaiting a decision")
            matched = {c.number for c in enrolment.candidates}
            if decision == "distinct":
                if number is not None:
                    raise InvalidInputError("number", "a distinct person gets a new number; name none")
                return self._register_distinct(enrolment, officer, reason, purpose)
            if number is None:
                number = enrolment.candidates[0].number
            elif number not in matched:
                raise InvalidInputError("number", f"{number} is not among this enrolment's candidates")
            state = "merged" if decision == "same" else "rejected"
            decided = self._close(
                enrolment, state=state, decision=decision, officer=officer, reason=reason, number=number
            )
        self._log_decision(decided, officer, purpose)
        return decided

    def _register_distinct(
        self, enrolment: Enrolment, officer: Principal, reason: str, purpose: str | None
    ) -> Enrolment:
        with self._store.transaction() as conn:
            row = conn.execute(select(enrolments).where(enrolments.c.id == enrolment.id)).one()
        templates = Templates.from_bytes(bytes(row.templates))
        facts = stored_demographics(json.loads(row.demographics))
        seen = {c.number for c in enrolment.candidates}
        fresh = [m for m in self._gallery.search([templates], k=CANDIDATES_MAX)[0] if m.score >= self._threshold]
        if any(m.number not in seen for m in fresh):
            merged = sorted({m.number: m for m in [*enrolment.candidates, *fresh]}.values(), key=lambda m: -m.score)
            with self._store.transaction(write=True) as conn:
                conn.execute(
                    update(enrolments)
                    .where(enrolments.c.id == enrolment.id)
                    .values(candidates=_candidates_json(merged[:CANDIDATES_MAX]))
                )
            raise ConflictError("decision", "the gallery gained a new match since this case opened: review it again")
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            person = self._registry.create_person_in(conn, facts, station=enrolment.station, enrolment_id=enrolment.id)
            conn.execute(
                update(enrolments)
                .where(enrolments.c.id == enrolment.id, enrolments.c.state == "review")
                .values(
                    state="enrolled",
                    number=person.number,
                    decision="distinct",
                    decided_by=officer.id,
                    reason=reason,
                    decided_at_ns=now,
                )
            )
        self._gallery.add([person.number], [templates])
        decided = self.get(enrolment.id)
        self._log_decision(decided, officer, purpose)
        self._registered([NewlyRegistered(person.number, facts, enrolment.id)])
        return decided

    def _close(
        self, enrolment: Enrolment, *, state: str, decision: str, officer: Principal, reason: str, number: str
    ) -> Enrolment:
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(enrolments)
                .where(enrolments.c.id == enrolment.id, enrolments.c.state == "review")
                .values(
                    state=state,
                    number=number,
                    decision=decision,
                    decided_by=officer.id,
                    reason=reason,
                    decided_at_ns=self._clock(),
                )
            )
        return self.get(enrolment.id)

    # --- keeping the gallery whole ------------------------------------------------------------------

    def reconcile_gallery(self) -> int:
        """Add to the gallery every registered person it lacks (after a crash); returns how many."""
        added = 0
        after: str | None = None
        with self._lock:
            # The gallery never holds a number the registry lacks (the registry commits
            # first), so equal counts mean nothing is missing: the usual start skips the scan.
            if self._registry.count() == len(self._gallery):
                return 0
            while True:
                page = self._registry.numbers_after(after, RECONCILE_PAGE)
                if not page:
                    return added
                after = page[-1]
                missing = [n for n in page if n not in self._gallery]
                if missing:
                    with self._store.transaction() as conn:
                        rows = conn.execute(
                            select(enrolments.c.number, enrolments.c.templates).where(
                                enrolments.c.number.in_(missing), enrolments.c.state == "enrolled"
                            )
                        )
                        found = {r.number: Templates.from_bytes(bytes(r.templates)) for r in rows}
                    numbers = [n for n in missing if n in found]
                    if numbers:
                        self._gallery.add(numbers, [found[n] for n in numbers])
                        added += len(numbers)

    # --- the access log -----------------------------------------------------------------------------

    # The purpose is the officer's, as given; what happened (an enrolment, a 1:N match, an
    # adjudication) is the outcome. A fixed word in the purpose would hide the officer's reason,
    # so one is written only where none was stated.

    def _log_submissions(self, results: Sequence[Enrolment], station: Principal, purpose: str | None) -> None:
        looks: list[tuple[str, tuple[str, ...], str]] = []
        for e in results:
            if e.state == "enrolled" and e.number is not None:
                looks.append((e.number, (*DEMOGRAPHIC_FIELDS, *TEMPLATE_FIELDS), f"enrolled ({e.id})"))
            looks += [
                (c.number, TEMPLATE_FIELDS, f"1:N de-duplication: probable duplicate of {e.id}") for c in e.candidates
            ]
        self._append(station, purpose or ENROLMENT_PURPOSE, looks)

    def _log_decision(self, e: Enrolment, officer: Principal, purpose: str | None) -> None:
        fields = (*DEMOGRAPHIC_FIELDS, *TEMPLATE_FIELDS)
        looks = [(c.number, fields, f"adjudication: {e.id} decided {e.decision}") for c in e.candidates]
        if e.state == "enrolled" and e.number is not None:
            looks.append((e.number, fields, f"adjudication: enrolled as a distinct person ({e.id})"))
        self._append(officer, purpose or NO_PURPOSE, looks)

    def _append(self, who: Principal, purpose: str, looks: Sequence[tuple[str, tuple[str, ...], str]]) -> None:
        """One access entry per (number, fields, outcome), the subjects looked up at once."""
        if not looks:
            return
        subjects = self._registry.subjects_of([number for number, _, _ in looks])
        now = self._clock()
        agency = who.agency or "-"
        self._log.append(
            [
                AccessEntry(now, who.id, who.role.value, agency, purpose, subjects[number], fields, outcome[:200])
                for number, fields, outcome in looks
            ]
        )


# --- checks and rows ------------------------------------------------------------------------------


def _checked_submission(s: object, at: str) -> _Checked:
    prefix = f"{at}." if at else ""
    if not isinstance(s, Submission):
        raise InvalidInputError(at or "submission", "must be a Submission")
    if not isinstance(s.request_id, str) or not _REQUEST_ID.fullmatch(s.request_id):
        raise InvalidInputError(f"{prefix}request_id", f"must be 1-{REQUEST_ID_MAX} letters, digits or _.:-")
    facts = checked_demographics(s.demographics, f"{prefix}demographics")
    templates = checked_templates(s.face, s.fingers, field=f"{prefix}templates")
    demographics_json = json.dumps(facts.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(demographics_json.encode() + b"\0" + templates.to_bytes()).digest()
    return _Checked(s.request_id, facts, templates, digest, demographics_json)


def _refuse_repeats_within(checked: Sequence[_Checked]) -> None:
    seen: dict[str, int] = {}
    digests: dict[bytes, int] = {}
    for i, c in enumerate(checked):
        if c.request_id in seen:
            raise InvalidInputError(f"submissions[{i}].request_id", f"repeats submissions[{seen[c.request_id]}]")
        if c.digest in digests:
            raise InvalidInputError(f"submissions[{i}]", f"repeats submissions[{digests[c.digest]}] exactly")
        seen[c.request_id] = i
        digests[c.digest] = i


def _checked_enrolment_id(value: object) -> str:
    if not isinstance(value, str) or not _ENROLMENT_ID.fullmatch(value):
        raise InvalidInputError("enrolment_id", f"must be 'e_' and 16 hex digits, got {value!r:.40}")
    return value


def _checked_purpose(value: object) -> str | None:
    """A stated purpose, checked before anything is written: the log must take it after the commit.

    Text the person will read, not too long, nothing in it hidden (``checked_visible``, as
    the API's ``checked_purpose``, which lets a Persian or Indic purpose keep its joiners).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > PURPOSE_MAX:
        raise InvalidInputError("purpose", f"must be text of at most {PURPOSE_MAX} characters")
    return checked_visible(value, "purpose")


def _rounded(score: float) -> float:
    return round(float(score), 6)


def _candidates_json(candidates: Sequence[Candidate]) -> str:
    return json.dumps([[c.number, _rounded(c.score)] for c in candidates])


def _enrolment_of(row: Row[Any]) -> Enrolment:
    return Enrolment(
        id=row.id,
        request_id=row.request_id,
        state=row.state,
        number=row.number,
        candidates=tuple(Candidate(n, s) for n, s in json.loads(row.candidates)),
        decision=row.decision,
        decided_by=row.decided_by,
        reason=row.reason,
        created_at_ns=row.created_at_ns,
        decided_at_ns=row.decided_at_ns,
        station=row.station,
        # Stored already checked; the birth date may be older than any "today" check of the future.
        demographics=stored_demographics(json.loads(row.demographics)),
    )
