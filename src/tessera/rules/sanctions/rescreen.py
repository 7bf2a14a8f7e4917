"""The screening an import owes: every registered person against the listings it made new or changed.

``SanctionsLists.import_list`` compares each listing with the previous import of its list
(list id and content hash) and records, with the import, that the registered people are
owed a screening against the new and changed listings. ``ListScreenings.run_owed`` pays
that debt as a batch job:

- people in number order, ``SCREEN_PEOPLE_BATCH`` at a time, the deceased left out;
- each batch's names screened in one call against only the owed listings
  (``SanctionsWatch.screen`` with ``listings``, through ``Screener.restricted``: scored
  exactly as against the whole lists), hits recorded by the watch as any other: the same
  records, the context ``import``, the reference ``import:<source>:<version>``, and the same
  rule that never raises a listing twice for a subject;
- after each batch the last number done and the counts are written with the import, so a
  crash or a stop loses at most the batch in flight: run again, the job goes on from there,
  and a batch screened twice records nothing twice.

A newer import of the same list before the job finishes takes its listings over (they are
still owed) and starts from the first person again; the older job stops at its next batch.

Every person screened gets an entry in their access log before their names are screened
(DESIGN.md principle 4), as a relying party's login does: the job as principal
(``job:sanctions-screening``, role ``screening_job``, for the financial intelligence unit,
whose queue its hits join), the stated purpose naming the list, its import date and how many
listings, the fields read, and the outcome ``read for screening``. Whether the person
matched is not in the entry: a hit is a question for the unit, and its officers' reading
of the queue is logged on its own (``GET /v1/sanctions/hits``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row, select, update

from tessera.audit import AccessEntry
from tessera.errors import InvalidInputError
from tessera.identity import FINAL_STATUSES, Registry
from tessera.rules.sanctions.watch import LIST_NAMES, HitContext, SanctionsWatch, Screenee
from tessera.store import Store, sanctions_entities, sanctions_lists

POLL_S = 5.0  # how soon a server notices an import another process made (the watch's refresh interval)
SLICE_BATCHES = 10  # batches a server's worker runs before enrolments and counterparties queued behind get a turn
SCREEN_PEOPLE_BATCH = 1000  # people a batch: the watch's most, and the matcher's 1,024-query chunk
SCREENING_PRINCIPAL = "job:sanctions-screening"  # the job, in the access log: no person or key acts
SCREENING_ROLE = "screening_job"
SCREENING_AGENCY = "financial-intelligence-unit"  # whose queue the hits join (the Sanctions Act's bases)
SCREENING_FIELDS = ("name", "other_names", "birth_date")
SCREENING_OUTCOME = "read for screening"
ENTRY_TEXT_MAX = 200  # an access entry's texts (tessera.audit)

Clock = Callable[[], int]
log = logging.getLogger(__name__)


class Worker(Protocol):
    """Where a server runs screening (``ScreeningWorker``)."""

    def submit(self, job: Callable[[], object]) -> None: ...


class AccessAppender(Protocol):
    """Where the job's access entries go (``AccessLog`` is one)."""

    def append(self, entries: Sequence[AccessEntry]) -> int: ...


@dataclass(frozen=True, slots=True)
class ScreeningProgress:
    """Where a running job is: its list, how many people are done of how many, and the hits so far."""

    source: str
    listings: int
    people_done: int
    people_total: int
    hits: int


@dataclass(frozen=True, slots=True)
class ListScreening:
    """What one import's screening did: the import's changes, and the people screened and hits recorded."""

    source: str
    list_version: int
    listings_new: int
    listings_changed: int
    listings_removed: int
    listings_screened: int  # new and changed listings screened against (more when an unfinished job's carried over)
    people: int  # screened by this import's job, over every run
    hits: int  # recorded by this import's job, over every run
    finished: bool


class ListScreenings:
    """Runs the screenings imports owe, with the watch's screener and hit records."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        watch: SanctionsWatch,
        access_log: AccessAppender,
        *,
        batch_size: int = SCREEN_PEOPLE_BATCH,
        clock: Clock = time.time_ns,
    ) -> None:
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 1 <= batch_size <= SCREEN_PEOPLE_BATCH
        ):
            raise InvalidInputError("batch_size", f"must be 1-{SCREEN_PEOPLE_BATCH}")
        self._store = store
        self._registry = registry
        self._watch = watch
        self._log = access_log
        self._batch_size = batch_size
        self._clock = clock

    def owed(self) -> list[str]:
        """The sources whose last import's screening is not finished."""
        query = (
            select(sanctions_lists.c.source)
            .where(sanctions_lists.c.screen_since_ns.is_not(None), sanctions_lists.c.screened_at_ns.is_(None))
            .order_by(sanctions_lists.c.source)
        )
        with self._store.transaction() as conn:
            return list(conn.scalars(query))

    def run_owed(
        self, progress: Callable[[ScreeningProgress], None] | None = None, *, batches_max: int | None = None
    ) -> list[ListScreening]:
        """Screen every registered person against what each import left owed; one summary per list screened.

        ``progress`` is called after each batch. ``batches_max`` stops after that many
        batches (a test's crash, or a server sharing its worker); the rest stays owed.
        """
        done: list[ListScreening] = []
        for source in self.owed():
            self._watch.refresh()  # the import is on record: the watch's screener must be built from it
            summary = self._run(source, progress, batches_max)
            if summary is not None:
                done.append(summary)
        return done

    def _run(
        self, source: str, progress: Callable[[ScreeningProgress], None] | None, batches_max: int | None
    ) -> ListScreening | None:
        with self._store.transaction() as conn:
            job = conn.execute(select(sanctions_lists).where(sanctions_lists.c.source == source)).first()
            if job is None or job.screen_since_ns is None or job.screened_at_ns is not None:
                return None
            listings = set(
                conn.scalars(
                    select(sanctions_entities.c.list_id).where(
                        sanctions_entities.c.source == source,
                        sanctions_entities.c.changed_at_ns >= job.screen_since_ns,
                    )
                )
            )
        version = int(job.imported_at_ns)
        if self._watch.versions().get(source) != version:
            return None  # another import of this list is landing; its own job will screen
        keys = {(source, list_id) for list_id in listings}
        after, people, hits = job.screened_through, int(job.screened_people or 0), int(job.screened_hits or 0)
        total = people + self._registry.count(after=after, excluding=FINAL_STATUSES)
        purpose = _purpose(source, version, len(listings))
        reference = f"import:{source}:{version}"
        batches = 0
        while batches_max is None or batches < batches_max:
            page = self._registry.persons_after(after, self._batch_size, excluding=FINAL_STATUSES)
            if not page:
                self._finish(source, version)
                return _summary(job, len(listings), people, hits, finished=True)
            who = (self._clock(), SCREENING_PRINCIPAL, SCREENING_ROLE, SCREENING_AGENCY, purpose)
            self._log.append([AccessEntry(*who, subject, SCREENING_FIELDS, SCREENING_OUTCOME) for _, subject in page])
            screenees = [Screenee(p.number, (p.name, *p.other_names), p.birth_date.isoformat()) for p, _ in page]
            made = self._watch.screen(screenees, HitContext.list_import, reference, listings=keys)
            after, people, hits = page[-1][0].number, people + len(page), hits + len(made)
            if not self._advance(source, version, after, people, hits):
                return None  # a newer import took the job over
            batches += 1
            if progress is not None:
                progress(ScreeningProgress(source, len(listings), people, max(total, people), hits))
        return _summary(job, len(listings), people, hits, finished=False)

    def _advance(self, source: str, version: int, after: str, people: int, hits: int) -> bool:
        """Write the job's progress, if the import it screens for is still the list's last."""
        with self._store.transaction(write=True) as conn:
            written = conn.execute(
                update(sanctions_lists)
                .where(sanctions_lists.c.source == source, sanctions_lists.c.imported_at_ns == version)
                .values(screened_through=after, screened_people=people, screened_hits=hits)
            )
            return bool(written.rowcount)

    def _finish(self, source: str, version: int) -> None:
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(sanctions_lists)
                .where(sanctions_lists.c.source == source, sanctions_lists.c.imported_at_ns == version)
                .values(screened_at_ns=self._clock())
            )


class OwedScreeningsPoller:
    """A daemon thread that hands the screenings imports owe to a server's worker, a slice at a time.

    It looks at start (a job a crash cut short goes on) and then every ``interval_s``, so an
    import made by ``tessera sanctions import`` while the server holds the access log is
    screened by the server. A slice is ``SLICE_BATCHES`` batches; the next one is queued
    behind whatever the worker was given meanwhile, so enrolments are not held up for long.
    """

    def __init__(
        self,
        screenings: ListScreenings,
        worker: Worker,
        *,
        interval_s: float = POLL_S,
        slice_batches: int = SLICE_BATCHES,
    ) -> None:
        self._screenings = screenings
        self._worker = worker
        self._interval_s = interval_s
        self._slice_batches = slice_batches
        self._queued = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tessera-owed-screenings", daemon=True)

    def start(self) -> OwedScreeningsPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._queued.is_set() and self._screenings.owed():
                    self._queued.set()
                    self._worker.submit(self._slice)
            except Exception:  # a store fault: the next tick tries again
                log.exception("looking for owed sanctions screenings failed")
            self._stop.wait(self._interval_s)

    def _slice(self) -> None:
        again = False
        try:
            if not self._stop.is_set():
                done = self._screenings.run_owed(batches_max=self._slice_batches)
                again = any(not s.finished for s in done) and not self._stop.is_set()
        finally:
            if again:
                self._worker.submit(self._slice)  # behind what was queued meanwhile; still marked queued
            else:
                self._queued.clear()


def _purpose(source: str, version: int, listings: int) -> str:
    day = dt.datetime.fromtimestamp(version / 1e9, dt.UTC).date().isoformat()
    said = f"sanctions screening against the {LIST_NAMES.get(source, source)} imported {day}"
    return f"{said}: {listings} new or changed listings"[:ENTRY_TEXT_MAX]


def _summary(job: Row[Any], listings: int, people: int, hits: int, *, finished: bool) -> ListScreening:
    return ListScreening(
        source=job.source,
        list_version=int(job.imported_at_ns),
        listings_new=int(job.listings_new or 0),
        listings_changed=int(job.listings_changed or 0),
        listings_removed=int(job.listings_removed or 0),
        listings_screened=listings,
        people=people,
        hits=hits,
        finished=finished,
    )
