"""Notices of eligibility lost: a unit the programme's previous disbursed cycle paid, that a new cycle does not.

DESIGN.md's second principle: no silent decisions. A cycle's decision is its approval (the
preview may run again until then, with facts corrected, and would otherwise tell people of
results that never stood), so when a cycle is approved each unit that the programme's last
disbursed cycle before it paid, and that this one finds not eligible, gets a ``denial``
notice: the reason in words (the clauses of the condition that did not hold), the
programme's legal basis, and how to appeal (``POST /v1/me/notices/{id}/appeal``; an officer
answers in writing). At most once per unit and cycle: every notice and the mark that they
went out (``cycle_followups.lost_notices``) commit together. A unit no longer among the
programme's units at all (a household's head changed, a person gone) is not told here.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select, update

from tessera.programs.programmes import Programme
from tessera.rules import APPEAL_NOTICE, NOTICES_BATCH_MAX, NoticeDraft, NoticeKind, Notices
from tessera.store import Store, cycle_followups, cycle_results, inserted, programme_cycles

logger = logging.getLogger(__name__)
LOST_CODE = "programme.eligibility_lost"
_PAID = ("disbursed", "closed")


class EligibilityLoss:
    """Denial notices to the units a cycle no longer pays, in the store's notices."""

    def __init__(self, store: Store, notices: Notices, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._store = store
        self._notices = notices
        self._clock = clock

    def notify(self, cycle_id: int, cycle_date_ns: int, programme: Programme, reason: Callable[[int, int], str]) -> int:
        """Tell each unit paid by the previous disbursed cycle and not eligible in ``cycle_id``; notices made now."""
        with self._store.transaction(write=True) as conn:  # the notices and the mark that they went out, or neither
            if followups_in(conn, cycle_id).lost_notices is not None:
                return 0
            previous = conn.execute(
                select(programme_cycles.c.id, programme_cycles.c.cycle_date_ns)
                .where(
                    programme_cycles.c.programme == programme.id,
                    programme_cycles.c.status.in_(_PAID),
                    programme_cycles.c.cycle_date_ns < cycle_date_ns,
                    programme_cycles.c.id != cycle_id,
                )
                .order_by(programme_cycles.c.cycle_date_ns.desc(), programme_cycles.c.id.desc())
                .limit(1)
            ).first()
            drafts = (
                [] if previous is None else self._drafts(conn, cycle_id, cycle_date_ns, programme, previous, reason)
            )
            for start in range(0, len(drafts), NOTICES_BATCH_MAX):
                self._notices.create_in(conn, drafts[start : start + NOTICES_BATCH_MAX])
            conn.execute(
                update(cycle_followups)
                .where(cycle_followups.c.cycle_id == cycle_id)
                .values(lost_notices=len(drafts), lost_notified_at_ns=self._clock())
            )
        logger.info("cycle %s: %s notices of eligibility lost", cycle_id, len(drafts))
        return len(drafts)

    def _drafts(  # noqa: PLR0917 (one cycle's whole state)
        self,
        conn: Connection,
        cycle_id: int,
        cycle_date_ns: int,
        programme: Programme,
        previous: Any,
        reason: Callable[[int, int], str],
    ) -> list[NoticeDraft]:
        paid = np.array(
            conn.scalars(
                select(cycle_results.c.person).where(
                    cycle_results.c.cycle_id == previous.id, cycle_results.c.eligible.is_(True)
                )
            ).all(),
            dtype=np.str_,
        )
        refused = conn.execute(
            select(cycle_results.c.person, cycle_results.c.failed, cycle_results.c.unreported)
            .where(cycle_results.c.cycle_id == cycle_id, cycle_results.c.eligible.is_(False))
            .order_by(cycle_results.c.seq)
        ).all()
        if not len(paid) or not refused:
            return []
        lost = np.isin(np.array([r.person for r in refused], dtype=np.str_), paid)
        expires = cycle_date_ns + programme.valid_for_s * 1_000_000_000  # the span this cycle's payment covers
        drafts = []
        for row, gone in zip(refused, lost.tolist(), strict=True):
            if not gone:
                continue
            why = reason(int(row.failed), int(row.unreported))
            text = (
                f"You are not eligible for {programme.name} in its cycle of {_day(cycle_date_ns)}, as you were in "
                f"that of {_day(previous.cycle_date_ns)}: {why}. Nothing is paid to you by this cycle."
            )
            drafts.append(
                NoticeDraft(
                    row.person, NoticeKind.denial, programme.basis.id, LOST_CODE, text[:1000],
                    f"programme:{programme.id}:cycle:{cycle_id}", expires, appeal=APPEAL_NOTICE,
                )
            )  # fmt: skip
        return drafts


def followups_in(conn: Connection, cycle_id: int) -> Any:
    """The cycle's row of ``cycle_followups``, made on first use, read inside the caller's transaction."""
    row = conn.execute(select(cycle_followups).where(cycle_followups.c.cycle_id == cycle_id)).first()
    if row is None:
        fresh = {"cycle_id": cycle_id, "expiry_through_seq": -1, "expiry_notices": 0, "return_through_seq": -1}
        inserted(conn, insert(cycle_followups).values(**fresh, returned="{}"))  # False: another run made it
        row = conn.execute(select(cycle_followups).where(cycle_followups.c.cycle_id == cycle_id)).one()
    return row


def _day(at_ns: int) -> str:
    return datetime.datetime.fromtimestamp(at_ns / 1_000_000_000, tz=datetime.UTC).strftime("%Y-%m-%d")
