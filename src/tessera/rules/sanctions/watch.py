"""The sanctions watch: screening people and principals against the imported lists, and the hits officers decide.

A ``SanctionsWatch`` holds a ``Screener`` built from the lists on record and rebuilds it
when a newer import is on record (checked at most every ``refresh_s``). Screening a
subject records each match at or above ``SCREEN_THRESHOLD`` as a **hit** for an officer,
unless the same listing is already pending or confirmed for that subject, or was
dismissed for the same version of its list. An officer confirms a hit (a restriction under
the Sanctions Act's section for its list, for one year until review) or dismisses it, with
a written reason either way. The restriction is in force at once when the confirming
officer acts for an agency the basis names (the financial intelligence unit); anyone
else's confirmation only proposes it to that agency (``Restrictions.propose_in`` decides),
and the unit's rejection of that proposal dismisses the hit (``Restrictions.decide``).
Dismissing is the other answer to the same question, so only that agency's officers
dismiss (issue 15): otherwise anyone could clear a listed person's hit before the unit saw it.

Screening never runs on the caller's thread where that would hold up enrolment or the
ledger's feed: ``submit`` hands the work to one background thread (``ScreeningWorker``).
"""

from __future__ import annotations

import json
import logging
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Row, and_, insert, or_, select, update

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.identity import NewlyRegistered
from tessera.limits import PAGE_SIZE_MAX
from tessera.rules.due_process.notices import checked_text
from tessera.rules.due_process.restriction_records import Proposal, Restriction
from tessera.rules.due_process.restrictions import HIT_REF_PREFIX, Restrictions
from tessera.rules.exercise import require_agency
from tessera.rules.sanctions.lists import ListedEntity
from tessera.rules.sanctions.screening import QUERY_NAME_MAX, SCREEN_THRESHOLD, Screener, ScreeningQuery, checked_query
from tessera.rules.subjects import checked_subject
from tessera.store import ACTOR_MAX, HIT_REFERENCE_MAX, LISTED_NAME_MAX, REASON_TEXT_MAX, Store, screening_hits

SANCTIONS_BASIS = "sanctions-act/listing"  # a list with no section of its own
# The section of the Sanctions Act each list's listings take effect under (builtin/definitions.toml).
BASES_BY_SOURCE = {"un": "sanctions-act/un", "eu": "sanctions-act/eu", "ofac": "sanctions-act/ofac"}
SANCTIONS_BASES = (SANCTIONS_BASIS, *BASES_BY_SOURCE.values())
REASON_CODE = "sanctions.listed"
REVIEW_AFTER_NS = 365 * 86_400 * 10**9  # a confirmed listing is reviewed within a year: no open end without a court
REFRESH_S = 5.0
SUBJECTS_BATCH_MAX = 1000
NAMES_PER_SUBJECT_MAX = 11  # a name and up to ten other names, as the registry keeps them
HITS_LIST_MAX = PAGE_SIZE_MAX
WORK_QUEUE_MAX = 1024  # then submit waits: memory stays bounded and nothing is dropped
MATCHES_PER_NAME = 10
PPM = 1_000_000
_HIT_ID = re.compile(r"h_[0-9a-f]{16}")
# Who issues each list: the authority a confirmed restriction cites.
ISSUERS = {
    "un": "UN Security Council",
    "ofac": "US Treasury, Office of Foreign Assets Control",
    "eu": "Council of the European Union",
    "ftm": "the list's publisher (FollowTheMoney data)",
}
LIST_NAMES = {
    "un": "UN consolidated list",
    "ofac": "OFAC SDN list",
    "eu": "EU financial sanctions list",
    "ftm": "FtM list",
}

log = logging.getLogger(__name__)
Clock = Callable[[], int]


class HitStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    dismissed = "dismissed"


class HitContext(StrEnum):
    enrolment = "enrolment"
    counterparty = "counterparty"
    list_import = "import"  # registered people screened against what an import made new or changed


class ListSource(Protocol):
    """Where the lists come from (``SanctionsLists`` is one)."""

    def lists(self) -> Sequence[Any]: ...  # each with ``source`` and ``imported_at_ns``

    def entities(self) -> list[ListedEntity]: ...


@dataclass(frozen=True, slots=True)
class Screenee:
    """Someone to screen: their subject, their names, and a birth date when they are a person."""

    subject: str  # a Tessera number, or org:<id>
    names: tuple[str, ...]
    birth_date: str | None = None  # YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class Hit:
    """A match of a subject with a listing, for an officer to confirm or dismiss."""

    id: str
    subject: str
    source: str
    list_id: str
    list_version: int
    listed_name: str
    score: float
    features: Mapping[str, float]
    context: HitContext
    reference: str
    status: HitStatus
    decided_by: str | None
    reason: str | None
    restriction_id: str | None
    created_at_ns: int
    decided_at_ns: int | None


def basis_of_source(source: str) -> str:
    """The legal basis a listing from ``source`` takes effect under: its list's section, else the generic one."""
    return BASES_BY_SOURCE.get(source, SANCTIONS_BASIS)


def measures_of(entity: ListedEntity) -> tuple[str, ...]:
    """The domains a listing's measures close: what its issuer orders, never more than the basis allows."""
    if entity.source == "un":
        return ("payments", "travel")  # Security Council listings: asset freeze and travel ban
    if entity.source == "ftm":
        said = " ".join((*entity.programs, entity.legal_basis)).lower()
        return ("payments", "travel") if "travel" in said else ("payments",)
    return ("payments",)  # OFAC blocking, EU financial sanctions: assets only


class SanctionsWatch:
    """Screens subjects against the current lists, records hits, and carries out officers' decisions."""

    def __init__(
        self,
        store: Store,
        restrictions: Restrictions,
        lists: ListSource,
        *,
        refresh_s: float = REFRESH_S,
        clock: Clock = time.time_ns,
    ) -> None:
        self._store = store
        self._restrictions = restrictions
        self._lists = lists
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()  # one screening or decision at a time: the duplicate check holds
        self._versions: dict[str, int] = {}
        self._screener: Screener | None = None
        self._restricted_to: tuple[frozenset[tuple[str, str]], Screener] | None = None
        self._entities: dict[tuple[str, str], ListedEntity] = {}
        self._checked_at = -float("inf")

    # -- the screener --------------------------------------------------------------------------

    def versions(self) -> dict[str, int]:
        """Each imported list's version (its import time), as the current screener was built from."""
        self._refresh()
        return dict(self._versions)

    def refresh(self) -> None:
        """Rebuild the screener now if a newer import is on record (an import in this process calls it)."""
        with self._lock:
            self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self._refresh_s:
            return
        self._checked_at = now
        versions = {str(i.source): int(i.imported_at_ns) for i in self._lists.lists()}
        if versions == self._versions and self._screener is not None:
            return
        entities = self._lists.entities() if versions else []
        self._screener = Screener(entities)
        self._restricted_to = None
        self._entities = {(e.source, e.list_id): e for e in entities}
        self._versions = versions

    # -- screening -------------------------------------------------------------------------------

    def screen(
        self,
        screenees: Sequence[Screenee],
        context: HitContext | str,
        reference: str,
        *,
        listings: Collection[tuple[str, str]] | None = None,
    ) -> list[Hit]:
        """Screen subjects and record their new hits; returns the hits recorded (not those already on record).

        ``listings`` (source, list id) screens against only those listings, scored exactly as
        against the whole lists (``Screener.restricted``): what an import made new or changed.
        Every name of every subject is screened in one call, so the matcher scores them together.
        """
        context = HitContext(context)
        reference = checked_text(reference, "reference", HIT_REFERENCE_MAX)
        if isinstance(screenees, str | bytes) or not isinstance(screenees, Sequence):
            raise InvalidInputError("screenees", "must be a list of Screenee")
        if len(screenees) > SUBJECTS_BATCH_MAX:
            raise InvalidInputError("screenees", f"at most {SUBJECTS_BATCH_MAX} per call")
        with self._lock:
            self._refresh()
            screener = self._screener
            if screener is not None and listings is not None:
                screener = self._restricted(frozenset(listings))
            if screener is None or screener.entity_count == 0:
                return []
            subjects = [checked_subject(s.subject, f"screenees[{i}].subject") for i, s in enumerate(screenees)]
            queries: list[ScreeningQuery] = []
            owners: list[int] = []
            for i, s in enumerate(screenees):
                found_queries = _queries(s)
                queries += found_queries
                owners += [i] * len(found_queries)
            best: list[dict[tuple[str, str], tuple[str, float, Mapping[str, float]]]] = [{} for _ in screenees]
            answers = screener.screen_names(queries, MATCHES_PER_NAME) if queries else []
            for owner, matches in zip(owners, answers, strict=True):
                theirs = best[owner]
                for m in matches:
                    key = (m.entity.source, m.list_id)
                    if m.score >= SCREEN_THRESHOLD and (key not in theirs or theirs[key][1] < m.score):
                        theirs[key] = (m.name, m.score, m.features)
            found = [
                (subject, self._entities[key], *match)
                for subject, theirs in zip(subjects, best, strict=True)
                for key, match in theirs.items()
            ]
            return self._record(found, context, reference)

    def _restricted(self, listings: frozenset[tuple[str, str]]) -> Screener:
        """The screener cut down to ``listings``, kept while the lists and the listings stay the same."""
        assert self._screener is not None
        if self._restricted_to is None or self._restricted_to[0] != listings:
            self._restricted_to = (listings, self._screener.restricted(listings))
        return self._restricted_to[1]

    def _record(
        self,
        found: Sequence[tuple[str, ListedEntity, str, float, Mapping[str, float]]],
        context: HitContext,
        reference: str,
    ) -> list[Hit]:
        if not found:
            return []
        now = self._clock()
        made: list[Hit] = []
        with self._store.transaction(write=True) as conn:
            for subject, entity, name, score, features in found:
                version = self._versions.get(entity.source, 0)
                already = conn.execute(
                    select(screening_hits.c.id)
                    .where(
                        screening_hits.c.subject == subject,
                        screening_hits.c.source == entity.source,
                        screening_hits.c.list_id == entity.list_id,
                        or_(
                            screening_hits.c.status.in_([HitStatus.pending.value, HitStatus.confirmed.value]),
                            and_(
                                screening_hits.c.status == HitStatus.dismissed.value,
                                screening_hits.c.list_version == version,
                            ),
                        ),
                    )
                    .limit(1)
                ).first()
                if already is not None or any(h.subject == subject and h.list_id == entity.list_id for h in made):
                    continue
                made.append(
                    Hit(
                        id="h_" + secrets.token_hex(8),
                        subject=subject,
                        source=entity.source,
                        list_id=entity.list_id,
                        list_version=version,
                        listed_name=name[:LISTED_NAME_MAX],
                        score=round(score, 6),
                        features={k: round(float(v), 6) for k, v in features.items()},
                        context=context,
                        reference=reference,
                        status=HitStatus.pending,
                        decided_by=None,
                        reason=None,
                        restriction_id=None,
                        created_at_ns=now,
                        decided_at_ns=None,
                    )
                )
            if made:
                conn.execute(insert(screening_hits), [_values(h) for h in made])
        return made

    # -- reading -----------------------------------------------------------------------------------

    def hits(
        self, status: HitStatus | str | None = HitStatus.pending, limit: int = 100, after_ns: int | None = None
    ) -> list[Hit]:
        """Hits oldest first (pending by default; None for every status); pass the last ``created_at_ns`` seen."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= HITS_LIST_MAX:
            raise InvalidInputError("limit", f"must be 1-{HITS_LIST_MAX}")
        query = select(screening_hits).order_by(screening_hits.c.created_at_ns, screening_hits.c.id).limit(limit)
        if status is not None:
            if status not in HitStatus.__members__:
                raise InvalidInputError("status", f"must be one of {', '.join(HitStatus)}")
            query = query.where(screening_hits.c.status == HitStatus(status).value)
        if after_ns is not None:
            query = query.where(screening_hits.c.created_at_ns > after_ns)
        with self._store.transaction() as conn:
            return [_hit_of(r) for r in conn.execute(query)]

    def of_subject(self, subject: str) -> list[Hit]:
        """Every hit on one subject, oldest first."""
        subject = checked_subject(subject)
        query = (
            select(screening_hits).where(screening_hits.c.subject == subject).order_by(screening_hits.c.created_at_ns)
        )
        with self._store.transaction() as conn:
            return [_hit_of(r) for r in conn.execute(query.limit(HITS_LIST_MAX))]

    def get(self, hit_id: str) -> Hit:
        """One hit by id, or NotFoundError."""
        hit_id = _checked_hit_id(hit_id)
        with self._store.transaction() as conn:
            row = conn.execute(select(screening_hits).where(screening_hits.c.id == hit_id)).first()
        if row is None:
            raise NotFoundError("hit_id", f"no screening hit {hit_id}")
        return _hit_of(row)

    # -- deciding ----------------------------------------------------------------------------------

    def decide(self, hit_id: str, decision: str, *, officer: str, reason: str) -> tuple[Hit, Restriction | None]:
        """Confirm (a restriction under the listing; at once if its agency confirms) or dismiss, with a reason.

        Only an officer of an agency the listing's basis names dismisses (``ForbiddenError``).
        """
        if decision not in ("confirm", "dismiss"):
            raise InvalidInputError("decision", f"must be confirm or dismiss, got {decision!r:.20}")
        hit_id = _checked_hit_id(hit_id)
        officer = checked_text(officer, "officer", ACTOR_MAX)
        reason = checked_text(reason, "reason", REASON_TEXT_MAX)
        with self._lock, self._restrictions.lock:
            self._refresh(force=True)
            made: list[Restriction] = []
            with self._store.transaction(write=True) as conn:
                row = conn.execute(
                    select(screening_hits).where(screening_hits.c.id == hit_id).with_for_update()
                ).first()
                if row is None:
                    raise NotFoundError("hit_id", f"no screening hit {hit_id}")
                hit = _hit_of(row)
                if hit.status is not HitStatus.pending:
                    raise ConflictError("hit_id", f"this hit was already {hit.status.value} by {hit.decided_by}")
                if decision == "dismiss":
                    basis = self._restrictions.bases.get(basis_of_source(hit.source))
                    require_agency(conn, officer, basis, "dismiss", "a screening hit")
                if decision == "confirm":
                    entity = self._entities.get((hit.source, hit.list_id))
                    if entity is None:
                        raise ConflictError("hit_id", f"{hit.list_id} is no longer on the {hit.source} list")
                    proposal = _proposal(hit, entity, officer, reason, self._clock())
                    made = self._restrictions.propose_in(conn, [proposal])
                status = HitStatus.confirmed if decision == "confirm" else HitStatus.dismissed
                now = self._clock()
                restriction_id = made[0].id if made else None
                conn.execute(
                    update(screening_hits)
                    .where(screening_hits.c.id == hit_id)
                    .values(
                        status=status.value,
                        decided_by=officer,
                        reason=reason,
                        restriction_id=restriction_id,
                        decided_at_ns=now,
                    )
                )
            self._restrictions.took_effect(made)
        decided = replace(
            hit, status=status, decided_by=officer, reason=reason, restriction_id=restriction_id, decided_at_ns=now
        )
        return decided, (made[0] if made else None)


class ScreeningWorker:
    """One background thread that runs screening jobs in order, so no caller waits on a screening."""

    def __init__(self, name: str = "sanctions-watch") -> None:
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue(WORK_QUEUE_MAX)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.done = 0
        self.errors = 0
        self.last_error: BaseException | None = None

    def submit(self, job: Callable[[], object]) -> None:
        """Queue a job; waits only when ``WORK_QUEUE_MAX`` jobs are already waiting."""
        self._queue.put(job)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Whether every job queued so far has finished within ``timeout`` seconds."""
        finished = threading.Event()
        self._queue.put(finished.set)
        return finished.wait(timeout)

    def close(self) -> None:
        """Finish what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job()
                self.done += 1
            except Exception as error:  # a failed screening must not stop the next ones; it is counted and logged
                self.errors += 1
                self.last_error = error
                log.exception("sanctions screening job failed")


def _queries(s: Screenee) -> list[ScreeningQuery]:
    """The screenee's names as queries; a name screening cannot read (no letters) is skipped, not fatal."""
    queries = []
    for name in dict.fromkeys(s.names[:NAMES_PER_SUBJECT_MAX]):
        try:
            queries.append(checked_query(ScreeningQuery(name[:QUERY_NAME_MAX], birth_date=s.birth_date)))
        except InvalidInputError:
            continue
    return queries


def _proposal(hit: Hit, entity: ListedEntity, officer: str, reason: str, now: int) -> Proposal:
    list_name = LIST_NAMES.get(entity.source, entity.source)
    text = (
        f"Confirmed match with the {list_name}, entry {entity.list_id} ({hit.listed_name})"
        f"{': ' + entity.legal_basis if entity.legal_basis else ''}. Officer's finding: {reason}"
    )
    return Proposal(
        subject=hit.subject,
        domains=measures_of(entity),
        basis_id=basis_of_source(entity.source),
        authority=ISSUERS.get(entity.source, entity.source),
        reason_code=REASON_CODE,
        reason_text=text[:REASON_TEXT_MAX],
        end_ns=now + REVIEW_AFTER_NS,
        proposer=officer,
        event_ref=HIT_REF_PREFIX + hit.id,
    )


def _checked_hit_id(value: object) -> str:
    if not isinstance(value, str) or not _HIT_ID.fullmatch(value):
        raise InvalidInputError("hit_id", "must be h_ and 16 hex digits")
    return value


def _values(h: Hit) -> dict[str, Any]:
    return {
        "id": h.id,
        "subject": h.subject,
        "source": h.source,
        "list_id": h.list_id,
        "list_version": h.list_version,
        "listed_name": h.listed_name,
        "score_ppm": round(h.score * PPM),
        "features": json.dumps(dict(h.features), sort_keys=True),
        "context": h.context.value,
        "reference": h.reference,
        "status": h.status.value,
        "decided_by": h.decided_by,
        "reason": h.reason,
        "restriction_id": h.restriction_id,
        "created_at_ns": h.created_at_ns,
        "decided_at_ns": h.decided_at_ns,
    }


def _hit_of(row: Row[Any]) -> Hit:
    return Hit(
        id=row.id,
        subject=row.subject,
        source=row.source,
        list_id=row.list_id,
        list_version=row.list_version,
        listed_name=row.listed_name,
        score=row.score_ppm / PPM,
        features=json.loads(row.features),
        context=HitContext(row.context),
        reference=row.reference,
        status=HitStatus(row.status),
        decided_by=row.decided_by,
        reason=row.reason,
        restriction_id=row.restriction_id,
        created_at_ns=row.created_at_ns,
        decided_at_ns=row.decided_at_ns,
    )


def screen_registrations(watch: SanctionsWatch, registrations: Sequence[NewlyRegistered]) -> list[Hit]:
    """Screen persons just registered by their demographics (name, other names, birth date)."""
    made: list[Hit] = []
    for r in registrations:
        facts = r.demographics
        screenee = Screenee(r.number, (facts.name, *facts.other_names), facts.birth_date.isoformat())
        made.extend(watch.screen([screenee], HitContext.enrolment, f"enrolment:{r.enrolment_id}"))
    return made
