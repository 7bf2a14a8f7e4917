"""Grievances: a person reports a problem with an entitlement or a redemption; an officer resolves it, once.

A grievance names a programme (and optionally one of its cycles) or a redemption, a kind
(``not_received``, ``shop_refused``, ``wrong_amount``) and the person's words. An officer of
an agency the programme's basis names resolves it, upheld or rejected, with a reason; the row
changes once, from ``open`` only, and is never rewritten. A resolution upheld may pay
back-pay from each line's programme account to the person's entitlement account (the
household head's, for a household programme), code ``BACK_PAY_CODE``.

Back-pay is paid at most once. Its transfer ids derive from the grievance's id and are written
with the resolution, before the ledger sees them, as ``money/payments.py`` does with an
Idempotency-Key: after a crash (or a refusal, say an unfunded programme account) the officer
resolves again with the same decision, the same transfers are sent, and the ledger answers
``exists`` for what it had applied. Another decision on a resolved grievance is a conflict.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, update

from tessera.auth import Principal
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.ledger import CreateAccountStatus, CreateTransferStatus, Ledger, Transfer
from tessera.limits import PAGE_SIZE_MAX
from tessera.programs.cycles import Cycles
from tessera.programs.disbursement import BACK_PAY_CODE, derived_ids, entitlement_accounts
from tessera.programs.outlets import check_programme_officer
from tessera.programs.programmes import Line, Programme, Unit
from tessera.programs.registered import RegisteredProgramme, RegisteredProgrammes
from tessera.store import (
    GRIEVANCE_REASON_MAX,
    GRIEVANCE_TEXT_MAX,
    Store,
    cycle_results,
    entitlement_adjustments,
    grievances,
    persons,
)
from tessera.text import checked_text, shows_letter_or_digit

logger = logging.getLogger(__name__)
OPEN_GRIEVANCES_MAX = 20  # open at once, per person: more waits until one is resolved
GRIEVANCES_LIST_MAX = PAGE_SIZE_MAX
BACK_PAY_FIELD = "programme.back_pay"  # what a back-pay's access-log entry says was written for the person
_ID = re.compile(r"g_[0-9a-f]{16}")
_REDEMPTION_ID = re.compile(r"r_[0-9a-f]{16}")
_RANDOM_BITS = 22  # below the milliseconds since 1970: ids sort by filing time until 2109
_ACCEPTED_ACCOUNTS = (CreateAccountStatus.ok, CreateAccountStatus.exists)
_ACCEPTED_TRANSFERS = (CreateTransferStatus.ok, CreateTransferStatus.exists)

# Back-pay's transfers to the person numbered (the one credited), through the service's path (its access note).
Post = Callable[[str, Sequence[Transfer]], Sequence[CreateTransferStatus]]
HeadOf = Callable[[str], str | None]  # the head of a person's household now, or None when in none


class GrievanceKind(StrEnum):
    """What went wrong, as the person says."""

    not_received = "not_received"
    shop_refused = "shop_refused"
    wrong_amount = "wrong_amount"


class GrievanceStatus(StrEnum):
    """Where a grievance stands: open until resolved, once."""

    open = "open"
    resolved_upheld = "resolved_upheld"
    resolved_rejected = "resolved_rejected"


@dataclass(frozen=True, slots=True)
class BackPay:
    """One line's back-pay: its ledger, the amount in minor units, and the transfer paying it."""

    ledger: str
    ledger_id: int
    amount: int
    transfer_id: int


@dataclass(frozen=True, slots=True)
class Grievance:
    """A grievance as filed, and its resolution once there is one."""

    id: str
    subject: str  # the person's Tessera number
    holder: str  # the principal who filed it
    programme: str
    cycle_id: int | None
    redemption_id: str | None
    kind: GrievanceKind
    text: str
    filed_at_ns: int
    status: GrievanceStatus
    resolved_by: str | None
    resolved_at_ns: int | None
    reason: str | None
    back_pay: tuple[BackPay, ...]
    back_paid_at_ns: int | None = None  # when the ledger took every line; None while owed (or none is owed)


@dataclass(frozen=True, slots=True)
class GrievanceStats:
    """A programme's grievances counted, and how long resolving them took (seconds; None before any)."""

    programme: str
    open: int
    upheld: int
    rejected: int
    resolution_s_median: float | None
    resolution_s_p90: float | None


class Grievances:
    """Grievances in the store; back-pay through ``ledger`` (accounts) and the service's ``post`` (transfers)."""

    def __init__(
        self,
        store: Store,
        programmes: RegisteredProgrammes,
        cycles: Cycles,
        ledger: Ledger,
        *,
        head_of: HeadOf | None = None,
    ) -> None:
        self._store = store
        self._programmes = programmes
        self._cycles = cycles
        self._ledger = ledger
        self._head_of = head_of
        self._last_id = 0
        self._lock = threading.Lock()

    def file(  # noqa: PLR0917 (the person's report, field by field)
        self,
        number: str,
        holder: str,
        programme_id: str,
        kind: str,
        text: str,
        cycle_id: int | None = None,
        redemption_id: str | None = None,
    ) -> Grievance:
        """Record ``number``'s grievance (filed by their principal ``holder``); each bad input names its field."""
        if not isinstance(number, str) or not self._speaks_for(holder, number):
            raise NotFoundError("number", f"{number!r:.20} is no registered person spoken for by {holder!r:.20}")
        self._programmes.get(programme_id)  # NotFoundError naming programme
        try:
            grievance_kind = GrievanceKind(kind)
        except ValueError:
            raise InvalidInputError("kind", f"must be one of {', '.join(k.value for k in GrievanceKind)}") from None
        words = checked_text(text, "text", GRIEVANCE_TEXT_MAX, newlines=True)
        if not shows_letter_or_digit(words):
            raise InvalidInputError("text", "must say what went wrong")
        if cycle_id is not None:
            if isinstance(cycle_id, bool) or not isinstance(cycle_id, int):
                raise InvalidInputError("cycle_id", "must be a cycle's id")
            try:
                programme_of_cycle = self._cycles.get(cycle_id).programme
            except NotFoundError:
                programme_of_cycle = None
            if programme_of_cycle != programme_id:
                raise NotFoundError("cycle_id", f"no cycle {cycle_id} of programme {programme_id!r}")
        if redemption_id is not None and (
            not isinstance(redemption_id, str) or not _REDEMPTION_ID.fullmatch(redemption_id)
        ):
            raise InvalidInputError("redemption_id", "must be 'r_' and 16 hex digits")
        now = time.time_ns()
        row = {
            "id": self._next_id(now),
            "subject": number,
            "holder": holder,
            "programme": programme_id,
            "cycle_id": cycle_id,
            "redemption_id": redemption_id,
            "kind": grievance_kind.value,
            "text": words,
            "filed_at_ns": now,
            "status": GrievanceStatus.open.value,
        }
        with self._store.transaction(write=True) as conn:
            open_now = conn.scalar(
                select(func.count()).where(grievances.c.subject == number, grievances.c.status == "open")
            )
            if int(open_now or 0) >= OPEN_GRIEVANCES_MAX:
                raise ConflictError(
                    "number", f"{number} has {OPEN_GRIEVANCES_MAX} grievances open: wait until one is resolved"
                )
            conn.execute(insert(grievances).values(**row))
        logger.info("grievance %s filed on %s (%s)", row["id"], programme_id, grievance_kind.value)
        return self.get(str(row["id"]))

    def resolve(
        self,
        grievance_id: str,
        by: Principal,
        *,
        upheld: bool,
        reason: str,
        back_pay: Mapping[str, int] | None = None,
        post: Post,
    ) -> Grievance:
        """Resolve an open grievance, once; upheld, with any back-pay paid through ``post``.

        Resolving again with the same decision (after a crash, or once the programme account
        is funded) sends the same transfers again and pays nothing twice.
        """
        grievance = self.get(grievance_id)
        registered = self._registered(grievance)
        check_programme_officer(by, registered.programme)
        if by.id == grievance.holder:
            raise ForbiddenError("resolved_by: a person may not resolve their own grievance")
        if not isinstance(upheld, bool):
            raise InvalidInputError("upheld", "must be true or false")
        words = checked_text(reason, "reason", GRIEVANCE_REASON_MAX, newlines=True)
        if not shows_letter_or_digit(words):
            raise InvalidInputError("reason", "must say why, in words")
        lines = self._back_pay(grievance, registered.programme, back_pay, upheld=upheld)
        if grievance.status is not GrievanceStatus.open:
            if not _same_decision(grievance, by.id, upheld, words, lines):
                raise ConflictError(
                    "status", f"grievance {grievance.id} is {grievance.status.value}: it was resolved already"
                )
            return self._paid(grievance, registered, post)  # the same decision again: finish paying it
        number, holder = self._payee(grievance, registered.programme)
        self._check_accounts(registered.programme, lines, number, holder)
        status = GrievanceStatus.resolved_upheld if upheld else GrievanceStatus.resolved_rejected
        values: dict[str, Any] = {
            "status": status.value,
            "resolved_by": by.id,
            "resolved_at_ns": time.time_ns(),
            "reason": words,
            "back_pay": _back_pay_json(lines) if lines else None,
        }
        with self._store.transaction(write=True) as conn:  # the transfer ids are on record before the ledger sees them
            moved = conn.execute(
                update(grievances)
                .where(grievances.c.id == grievance.id, grievances.c.status == "open")
                .values(**values)
            ).rowcount
            if moved == 1 and lines:  # what reconciliation counts as issued, in the same step
                conn.execute(
                    insert(entitlement_adjustments),
                    [
                        {"transfer_id": line.transfer_id, "kind": "back_pay", "programme": grievance.programme,
                         "cycle_id": grievance.cycle_id or 0, "ledger_id": line.ledger_id, "person": number,
                         "amount": line.amount, "reference": grievance.id, "made_by": by.id,
                         "made_at_ns": values["resolved_at_ns"]}
                        for line in lines
                    ],
                )  # fmt: skip
        if moved != 1:
            raise ConflictError("status", f"grievance {grievance.id} was resolved by someone else just now")
        logger.info("grievance %s %s by %s", grievance.id, status.value, by.id)
        return self._paid(self.get(grievance.id), registered, post)

    # -- reads -------------------------------------------------------------------------------------------------------

    def get(self, grievance_id: str) -> Grievance:
        """The grievance ``grievance_id``, or NotFoundError naming ``grievance``."""
        if not isinstance(grievance_id, str) or not _ID.fullmatch(grievance_id):
            raise NotFoundError("grievance", f"no grievance {grievance_id!r:.40}")
        with self._store.transaction() as conn:
            row = conn.execute(select(grievances).where(grievances.c.id == grievance_id)).first()
        if row is None:
            raise NotFoundError("grievance", f"no grievance {grievance_id!r}")
        return _grievance_of(row)

    def of_person(self, number: str, *, limit: int = GRIEVANCES_LIST_MAX) -> list[Grievance]:
        """A person's grievances, newest first (at most ``limit``)."""
        query = select(grievances).where(grievances.c.subject == number).order_by(grievances.c.id.desc())
        with self._store.transaction() as conn:
            return [_grievance_of(r) for r in conn.execute(query.limit(_checked_limit(limit)))]

    def queue(
        self,
        status: str | None = None,
        programme: str | None = None,
        after: str | None = None,
        limit: int = 100,
        *,
        among: Collection[str] | None = None,
    ) -> list[Grievance]:
        """Grievances oldest first (ids sort by filing time), after the id ``after``; of ``among``'s programmes only."""
        query = select(grievances).order_by(grievances.c.id).limit(_checked_limit(limit))
        if status is not None:
            try:
                query = query.where(grievances.c.status == GrievanceStatus(status).value)
            except ValueError:
                raise InvalidInputError(
                    "status", f"must be one of {', '.join(s.value for s in GrievanceStatus)}"
                ) from None
        if programme is not None:
            query = query.where(grievances.c.programme == programme)
        if after is not None:
            if not isinstance(after, str) or not _ID.fullmatch(after):
                raise InvalidInputError("after", "must be a grievance's id: 'g_' and 16 hex digits")
            query = query.where(grievances.c.id > after)
        if among is not None:
            query = query.where(grievances.c.programme.in_(sorted(among)))
        with self._store.transaction() as conn:
            return [_grievance_of(r) for r in conn.execute(query)]

    def stats(self, programme_id: str) -> GrievanceStats:
        """How many of a programme's grievances are open, upheld, rejected; median and p90 time to resolution."""
        self._programmes.get(programme_id)
        query = select(grievances.c.status, grievances.c.filed_at_ns, grievances.c.resolved_at_ns).where(
            grievances.c.programme == programme_id
        )
        with self._store.transaction() as conn:
            rows = conn.execute(query).all()
        counts = {s: 0 for s in GrievanceStatus}
        waits = []
        for status, filed, resolved in rows:
            counts[GrievanceStatus(status)] += 1
            if resolved is not None:
                waits.append((int(resolved) - int(filed)) / 1e9)
        median = p90 = None
        if waits:
            median, p90 = (float(x) for x in np.percentile(np.array(waits), [50, 90]))
        return GrievanceStats(
            programme_id,
            counts[GrievanceStatus.open],
            counts[GrievanceStatus.resolved_upheld],
            counts[GrievanceStatus.resolved_rejected],
            median,
            p90,
        )

    # -- back-pay ----------------------------------------------------------------------------------------------------

    def _registered(self, grievance: Grievance) -> RegisteredProgramme:
        """The programme as the grievance's cycle ran it, or its latest version."""
        if grievance.cycle_id is None:
            return self._programmes.get(grievance.programme)
        return self._programmes.get(grievance.programme, self._cycles.get(grievance.cycle_id).version)

    def _back_pay(
        self, grievance: Grievance, programme: Programme, asked: Mapping[str, int] | None, *, upheld: bool
    ) -> tuple[BackPay, ...]:
        """The back-pay asked, per line in the programme's order: each line named once, within its budget."""
        if not asked:
            return ()
        if not upheld:
            raise InvalidInputError("back_pay", "is paid only on a grievance upheld")
        if not isinstance(asked, Mapping):
            raise InvalidInputError("back_pay", "must map a ledger or commodity to an amount")
        found: dict[int, tuple[Line, int]] = {}
        for key, amount in asked.items():
            field = f"back_pay.{key!s:.64}"
            index = next((i for i, ln in enumerate(programme.lines) if key in (ln.ledger, ln.commodity)), None)
            if index is None:
                raise InvalidInputError(
                    field, f"programme {programme.id!r} has no line on a ledger or commodity {key!r:.64}"
                )
            line = programme.lines[index]
            if index in found:
                raise InvalidInputError(field, f"names the line on {line.ledger!r} a second time")
            if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= line.budget:
                raise InvalidInputError(field, f"must be 1 to the line's budget of {line.budget} minor units")
            found[index] = (line, amount)
        return tuple(
            BackPay(line.ledger, line.ledger_id, amount, _transfer_id(grievance.id, line.ledger_id))
            for _, (line, amount) in sorted(found.items())
        )

    def _payee(self, grievance: Grievance, programme: Programme) -> tuple[str, str]:
        """Whose entitlement back-pay credits, and their principal: the unit the cycle paid, or the person (or head)."""
        candidates = [grievance.subject]
        if programme.unit is Unit.household and self._head_of is not None:
            head = self._head_of(grievance.subject)
            candidates = [head] if head is not None else candidates
        with self._store.transaction() as conn:
            if grievance.cycle_id is not None:
                row = conn.execute(
                    select(cycle_results.c.person, cycle_results.c.holder)
                    .where(cycle_results.c.cycle_id == grievance.cycle_id, cycle_results.c.person.in_(candidates))
                    .limit(1)
                ).first()
                if row is not None:
                    return str(row.person), str(row.holder)
            principal = conn.scalar(select(persons.c.principal_id).where(persons.c.number == candidates[0]))
        if principal is None:
            raise NotFoundError("subject", f"{candidates[0]} is no registered person")
        return candidates[0], str(principal)

    def _check_accounts(self, programme: Programme, lines: Sequence[BackPay], number: str, holder: str) -> None:
        """Refuse before anything is written when an entitlement account is open for another holder."""
        for bp in lines:
            account = entitlement_accounts(programme, bp.ledger_id, np.array([number]), np.array([holder]))
            found = self._ledger.lookup_account_records(account["id"])
            if len(found) and int(found["user_data_64"][0]) != int(account["user_data_64"][0]):
                raise ConflictError(
                    "back_pay", f"entitlement account {int(account['id'][0])} is open for another holder"
                )

    def _paid(self, grievance: Grievance, registered: RegisteredProgramme, post: Post) -> Grievance:
        """Open the entitlement accounts as disbursement does, then send the recorded transfers (again)."""
        if not grievance.back_pay:
            return grievance
        programme = registered.programme
        number, holder = self._payee(grievance, programme)
        accounts = np.concatenate(
            [
                entitlement_accounts(programme, bp.ledger_id, np.array([number]), np.array([holder]))
                for bp in grievance.back_pay
            ]
        )
        fresh = ~np.isin(accounts["id"], self._ledger.lookup_account_records(accounts["id"])["id"])
        new = [(int(a), holder) for a in accounts["id"][fresh]]
        if new:
            self._store.set_account_holders(new)  # refuses an id held by someone else
        statuses = self._ledger.create_accounts(accounts).statuses
        bad = ~np.isin(statuses, _ACCEPTED_ACCOUNTS)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            reason = CreateAccountStatus(int(statuses[k])).name
            raise ConflictError("back_pay", f"entitlement account {int(accounts['id'][k])} refused: {reason}")
        transfers = [
            Transfer(
                bp.transfer_id,
                registered.funding[bp.ledger_id],
                int(account_id),
                bp.amount,
                bp.ledger_id,
                BACK_PAY_CODE,
                user_data_64=grievance.cycle_id or 0,
            )
            for bp, account_id in zip(grievance.back_pay, accounts["id"], strict=True)
        ]
        for bp, status in zip(grievance.back_pay, post(number, transfers), strict=True):
            if status not in _ACCEPTED_TRANSFERS:
                raise ConflictError(
                    "funding",
                    f"back-pay of {bp.amount} on {bp.ledger!r} refused ({CreateTransferStatus(status).name}) from "
                    f"programme account {registered.funding[bp.ledger_id]}: fund it and resolve again, the same way",
                )
        if grievance.back_paid_at_ns is not None:
            return grievance
        paid_at = time.time_ns()
        with self._store.transaction(write=True) as conn:  # owed no more: the start-up sweep passes it by
            conn.execute(
                update(grievances)
                .where(grievances.c.id == grievance.id, grievances.c.back_paid_at_ns.is_(None))
                .values(back_paid_at_ns=paid_at)
            )
        logger.info("grievance %s: back-pay sent on %s lines", grievance.id, len(transfers))
        return self.get(grievance.id)

    def owed_back_pay(self, *, limit: int = GRIEVANCES_LIST_MAX) -> list[Grievance]:
        """Upheld grievances whose back-pay the ledger has not taken whole (a crash, no funds), oldest first."""
        query = (
            select(grievances)
            .where(
                grievances.c.status == GrievanceStatus.resolved_upheld.value,
                grievances.c.back_pay.is_not(None),
                grievances.c.back_paid_at_ns.is_(None),
            )
            .order_by(grievances.c.id)
            .limit(_checked_limit(limit))
        )
        with self._store.transaction() as conn:
            return [_grievance_of(r) for r in conn.execute(query)]

    def finish_back_pay(self, grievance: Grievance, post: Post) -> Grievance:
        """Send an upheld grievance's recorded back-pay again, as its resolution decided: never twice."""
        if grievance.status is not GrievanceStatus.resolved_upheld:
            raise ConflictError("status", f"grievance {grievance.id} is {grievance.status.value}: nothing is owed")
        return self._paid(grievance, self._registered(grievance), post)

    def _next_id(self, now_ns: int) -> str:
        """Milliseconds, then random bits: ids sort by filing time, and strictly within this process."""
        with self._lock:
            self._last_id = max(
                (now_ns // 1_000_000) << _RANDOM_BITS | secrets.randbits(_RANDOM_BITS), self._last_id + 1
            )
            return f"g_{self._last_id:016x}"

    def _speaks_for(self, holder: object, number: str) -> bool:
        with self._store.transaction() as conn:
            principal = conn.scalar(select(persons.c.principal_id).where(persons.c.number == number))
        return principal is not None and principal == holder


def _transfer_id(grievance_id: str, ledger_id: int) -> int:
    """The back-pay transfer of one grievance on one ledger: the same on every try."""
    return int(derived_ids(np.array([grievance_id]), "back_pay", ledger_id)[0])


def _same_decision(grievance: Grievance, by: str, upheld: bool, reason: str, lines: tuple[BackPay, ...]) -> bool:
    decided = GrievanceStatus.resolved_upheld if upheld else GrievanceStatus.resolved_rejected
    return (grievance.status, grievance.resolved_by, grievance.reason, grievance.back_pay) == (
        decided,
        by,
        reason,
        lines,
    )


def _checked_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= GRIEVANCES_LIST_MAX:
        raise InvalidInputError("limit", f"must be 1-{GRIEVANCES_LIST_MAX}")
    return limit


def _back_pay_json(lines: Sequence[BackPay]) -> str:
    return json.dumps(
        [
            {"ledger": b.ledger, "ledger_id": b.ledger_id, "amount": b.amount, "transfer_id": b.transfer_id}
            for b in lines
        ],
        separators=(",", ":"),
    )


def _grievance_of(row: Any) -> Grievance:
    paid = () if row.back_pay is None else tuple(
        BackPay(b["ledger"], b["ledger_id"], b["amount"], b["transfer_id"]) for b in json.loads(row.back_pay)
    )  # fmt: skip
    return Grievance(
        row.id, row.subject, row.holder, row.programme, row.cycle_id, row.redemption_id, GrievanceKind(row.kind),
        row.text, row.filed_at_ns, GrievanceStatus(row.status), row.resolved_by, row.resolved_at_ns, row.reason, paid,
        row.back_paid_at_ns,
    )  # fmt: skip
