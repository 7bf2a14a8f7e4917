"""Restrictions with due process: proposed, decided by a person, noticed, appealable, time-limited.

A restriction closes named domains (``payments``, ``travel``, ...) to one subject under one
registered legal basis, and only domains that basis names, at creation and at every
amendment. Its life::

    proposed ──decide(activate)──> active ──lift / appeal──> lifted
        │                             └──end reached──────> expired
        └──decide(reject)──> rejected

A proposal (from a rule, or an officer) takes effect only when an officer of an agency its
basis names (``LegalBasis.exercised_by``), other than its proposer, activates it with a
written reason. Under a self-executing basis (a court order, a sanctions listing) an
officer of such an agency exercises it at once, a court order with the order's reference
(``CourtOrder``); anyone else's proposal under it waits for that agency like any other.
Only that agency's officers amend or lift it. Every activation writes a notice to
the subject, in the same transaction. A ``payments`` restriction freezes every ledger
account the person's principal holds (the journaled freeze, referenced by the restriction
id) but their entitlements to food, fuel and health, which only a ``benefits`` restriction
freezes (``freezes.py``); the last one to end unfreezes them. The enforcement index follows
every change.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from tessera.errors import BatchSizeError, ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.limits import ID_LIMIT, PAGE_SIZE_MAX
from tessera.rules.basis import (
    BasisKind,
    CourtOrder,
    Domain,
    LegalBases,
    LegalBasis,
    checked_domains,
    domains_of,
    domains_text,
    require_agencies,
)
from tessera.rules.due_process.enforcement import Decision, EnforcementIndex
from tessera.rules.due_process.freezes import AccountLedger, Freezes
from tessera.rules.due_process.notices import (
    Notices,
    checked_code,
    checked_limit,
    checked_text,
)
from tessera.rules.due_process.restriction_notices import activation_notice, changed_notice, ended_notice
from tessera.rules.due_process.restriction_records import (
    AppealState,
    Keep,
    Proposal,
    Restriction,
    RestrictionEvent,
    RestrictionStatus,
)
from tessera.rules.exercise import (
    agencies_of,
    bases_on_record,
    checked_order,
    order_terms,
    record_basis,
    require_agency,
)
from tessera.rules.subjects import checked_subject, require_registered
from tessera.store import (
    ACTOR_MAX,
    AUTHORITY_MAX,
    POLICY_REFERENCE_MAX,
    REASON_TEXT_MAX,
    Store,
    restriction_events,
    restrictions,
    screening_hits,
)

PROPOSALS_BATCH_MAX = 1000
RESTRICTIONS_LIST_MAX = PAGE_SIZE_MAX
SWEEP_BATCH_MAX = 1000  # expired per transaction; the sweep loops until none is left
LEDGER_DOMAINS = frozenset({Domain.payments, Domain.benefits})  # the domains the ledger's freezes enforce
RULE_PREFIX = "rule:"
HIT_REF_PREFIX = "screening:"  # event_ref of a restriction a screening hit's confirmation proposed
EXPIRED = "its end was reached"
_ID_PREFIX = "r_"
_ID_BYTES = 8  # random bytes of a restriction id, written as hex after its prefix
_ID_CHARS = len(_ID_PREFIX) + 2 * _ID_BYTES

log = logging.getLogger(__name__)
Clock = Callable[[], int]


class Restrictions:
    """Restrictions in the store, the enforcement index kept in step, and the ledger freezes."""

    def __init__(
        self,
        store: Store,
        bases: LegalBases,
        notices: Notices,
        *,
        ledger: AccountLedger | None = None,
        index: EnforcementIndex | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        self._store = store
        self.bases = bases
        self.notices = notices
        self._clock = clock
        self.index = index if index is not None else EnforcementIndex(clock)
        # Changes are serialised, so the index and the ledger see them in commit order.
        self.lock = threading.RLock()
        self.freezes = Freezes(store, self.index, self.lock, ledger)
        self._load()

    def _load(self) -> None:
        """Register the bases on record, and index every active restriction."""
        with self._store.transaction() as conn:
            for basis in bases_on_record(conn):
                self.bases.register(basis)
            active = [
                _restriction_of(r) for r in conn.execute(select(restrictions).where(restrictions.c.status == "active"))
            ]
        self.index.put_many((r.subject, r.domains, r.denial()) for r in active)

    # -- legal bases --------------------------------------------------------------------------

    def register_bases(self, bases: Iterable[LegalBasis]) -> list[LegalBasis]:
        """Register legal bases and keep their terms on record; the same terms again are a no-op.

        A basis that closes domains must name the agencies that exercise it (``require_agencies``).
        """
        wanted = list(bases)
        with self.lock:
            # On record first: a basis the store refuses (an unregistered agency) never reaches the registry.
            checked = [self.bases.resolved(require_agencies(b)) for b in wanted]
            with self._store.transaction(write=True) as conn:
                for b in checked:
                    record_basis(conn, b, self._clock())
            return [self.bases.register(b) for b in checked]

    # -- proposing ------------------------------------------------------------------------------

    def propose(
        self,
        subject: str,
        domains: Iterable[Domain | str],
        basis_id: str,
        *,
        authority: str,
        reason_code: str,
        reason_text: str,
        end_ns: int | None,
        proposer: str | None = None,
        rule_id: str | None = None,
        event_ref: str | None = None,
        court_order: CourtOrder | None = None,
    ) -> Restriction:
        """Propose one restriction; a rule passes ``rule_id`` and ``event_ref`` (proposer: ``rule:<rule_id>``).

        Under a self-executing basis (court order, sanctions listing), proposed by an officer
        of an agency it names, it is active at once, with its notice written and, for
        ``payments``, the accounts frozen; a court order needs ``court_order`` for that.
        """
        if proposer is None:
            if rule_id is None:
                raise InvalidInputError("proposer", "is required: an officer's principal id, or a rule_id")
            proposer = RULE_PREFIX + str(rule_id)
        proposal = Proposal(
            subject,
            tuple(domains),
            basis_id,
            authority,
            reason_code,
            reason_text,
            end_ns,
            proposer,
            rule_id,
            event_ref,
            court_order,
        )
        return self.propose_many([proposal])[0]

    def propose_many(self, proposals: Sequence[Proposal]) -> list[Restriction]:
        """Propose a batch, all or nothing: every proposal is checked before any is written."""
        if isinstance(proposals, str | bytes) or not isinstance(proposals, Sequence):
            raise InvalidInputError("proposals", "must be a list of Proposal")
        if not proposals or len(proposals) > PROPOSALS_BATCH_MAX:
            raise BatchSizeError("proposals", f"must hold 1-{PROPOSALS_BATCH_MAX}, got {len(proposals)}")
        with self.lock:
            with self._store.transaction(write=True) as conn:
                made = self.propose_in(conn, proposals)
            self.took_effect(made)
        return made

    def propose_in(self, conn: Connection, proposals: Sequence[Proposal]) -> list[Restriction]:
        """Write proposals inside the caller's transaction (the rule engine's, with its cursor).

        The caller must pass the result to ``took_effect`` once its transaction commits:
        until then nothing is enforced, in the index or in the ledger.
        """
        now = self._clock()
        wheres = [f"proposals[{i}]" if len(proposals) > 1 else "" for i in range(len(proposals))]
        made = [self._checked(p, where, now) for p, where in zip(proposals, wheres, strict=True)]
        agencies = agencies_of(conn, {r.proposed_by for r in made if not r.proposed_by.startswith(RULE_PREFIX)})
        made = [
            self._exercised(r, agencies.get(r.proposed_by, ""), where) for r, where in zip(made, wheres, strict=True)
        ]
        fields = [f"{where}.subject" if where else "subject" for where in wheres]
        require_registered(conn, [(field, r.subject) for field, r in zip(fields, made, strict=True)])
        for r in made:
            record_basis(conn, self.bases.get(r.basis_id), now)
        conn.execute(insert(restrictions), [_values(r) for r in made])
        for r in made:
            _event(conn, r.id, "proposed", actor=r.proposed_by, reason=r.reason_text, detail=_terms(r), now=now)
            if r.status is RestrictionStatus.active:
                _event(conn, r.id, "activated", actor=r.proposed_by, reason=r.decision_reason or "", detail={}, now=now)
        drafts = [activation_notice(r) for r in made if r.status is RestrictionStatus.active]
        if drafts:
            self.notices.create_in(conn, drafts)
        return made

    def took_effect(self, made: Sequence[Restriction]) -> None:
        """After the commit of ``propose_in``: enforce those already active (self-executing bases)."""
        with self.lock:
            for r in made:
                if r.status is RestrictionStatus.active:
                    self._took_effect(r)

    def _checked(self, p: object, where: str, now: int) -> Restriction:
        at = (where + ".") if where else ""
        if not isinstance(p, Proposal):
            raise InvalidInputError(where or "proposal", "must be a Proposal")
        subject = checked_subject(p.subject, at + "subject")
        if not isinstance(p.basis_id, str) or not p.basis_id:
            raise InvalidInputError(at + "basis_id", "is required: a restriction cites a registered legal basis")
        if p.basis_id not in self.bases:
            raise InvalidInputError(at + "basis_id", f"no legal basis {p.basis_id!r:.80} is registered")
        basis = self.bases.get(p.basis_id)
        domains = checked_domains(basis, p.domains, at + "domains")
        authority = checked_text(p.authority, at + "authority", AUTHORITY_MAX)
        reason_code = checked_code(p.reason_code, at + "reason_code")
        reason_text = checked_text(p.reason_text, at + "reason_text", REASON_TEXT_MAX)
        end_ns = _checked_end(p.end_ns, basis, now, at + "end_ns")
        proposer = checked_text(p.proposer, at + "proposer", ACTOR_MAX)
        rule_id = None if p.rule_id is None else checked_text(p.rule_id, at + "rule_id", ACTOR_MAX - len(RULE_PREFIX))
        event_ref = None if p.event_ref is None else checked_text(p.event_ref, at + "event_ref", POLICY_REFERENCE_MAX)
        order = checked_order(p.court_order, basis, now, at + "court_order")
        return Restriction(
            id=_ID_PREFIX + secrets.token_hex(_ID_BYTES),
            subject=subject,
            domains=domains,
            basis_id=basis.id,
            authority=authority,
            reason_code=reason_code,
            reason_text=reason_text,
            rule_id=rule_id,
            event_ref=event_ref,
            proposed_by=proposer,
            proposed_at_ns=now,
            start_ns=None,
            end_ns=end_ns,
            status=RestrictionStatus.proposed,
            appeal_state=AppealState.none,
            court_order=order,
        )

    def _exercised(self, r: Restriction, agency: str, where: str) -> Restriction:
        """``r`` active at once if its basis self-executes and the proposer's agency exercises it; else as proposed.

        An officer of another agency, or a rule, only proposes: the basis's agency decides.
        A court's officer exercising a court order must give the order's reference.
        """
        basis = self.bases.get(r.basis_id)
        if not basis.self_executing or not basis.exercisable_by(agency):
            return r
        if basis.kind is BasisKind.court_order and r.court_order is None:
            at = (where + ".") if where else ""
            raise InvalidInputError(
                at + "court_order",
                f"is required: {agency} exercises {basis.cite()} with the order's court, case number and date",
            )
        what = f"self-executing: {basis.kind.value.replace('_', ' ')} ({basis.cite()}), exercised by {agency}"
        return replace(
            r,
            status=RestrictionStatus.active,
            start_ns=r.proposed_at_ns,
            decided_by=r.proposed_by,
            decision_reason=what,
            decided_at_ns=r.proposed_at_ns,
        )

    # -- deciding -------------------------------------------------------------------------------

    def decide(
        self,
        restriction_id: str,
        decision: str,
        *,
        officer: str,
        reason: str,
        court_order: CourtOrder | None = None,
    ) -> Restriction:
        """Activate or reject a proposal, with a written reason, by an officer of the basis's agency, not its proposer.

        The officer acts for an agency the basis names (``exercised_by``). Activating a court
        order needs the order's reference: the proposal's, or ``court_order`` here (a different
        one than the proposal's is a conflict). Rejecting what a screening hit's confirmation
        proposed dismisses that hit in the same transaction.
        """
        if decision not in ("activate", "reject"):
            raise InvalidInputError("decision", f"must be activate or reject, got {decision!r:.20}")
        officer = checked_text(officer, "officer", ACTOR_MAX)
        reason = checked_text(reason, "reason", REASON_TEXT_MAX)
        with self.lock:
            with self._store.transaction(write=True) as conn:
                current = _locked(conn, restriction_id)
                now = self._clock()
                basis = self.bases.get(current.basis_id)
                order = checked_order(court_order, basis, now, "court_order")
                if current.status is not RestrictionStatus.proposed:
                    raise ConflictError("status", f"{current.id} is {current.status}, not proposed: decided already")
                require_agency(conn, officer, basis, "decide")
                if officer == current.proposed_by:
                    raise ForbiddenError("a restriction is decided by an officer other than the one who proposed it")
                if decision == "reject":
                    decided = replace(
                        current,
                        status=RestrictionStatus.rejected,
                        decided_by=officer,
                        decision_reason=reason,
                        decided_at_ns=now,
                    )
                    _save(conn, decided)
                    _event(conn, current.id, "rejected", actor=officer, reason=reason, detail={}, now=now)
                    _dismiss_hit_of(conn, decided)
                    return decided
                if current.end_ns is not None and current.end_ns <= now:
                    raise ConflictError("end_ns", f"{current.id}'s end has passed: propose it again with a new end")
                if order is not None and current.court_order is not None and order != current.court_order:
                    raise ConflictError(
                        "court_order", f"differs from the proposal's ({current.court_order.cite()}): reject it instead"
                    )
                order = order or current.court_order
                if basis.kind is BasisKind.court_order and order is None:
                    raise InvalidInputError(
                        "court_order", f"is required: a court order ({basis.cite()}) takes effect with its reference"
                    )
                decided = replace(
                    current,
                    court_order=order,
                    status=RestrictionStatus.active,
                    start_ns=now,
                    decided_by=officer,
                    decision_reason=reason,
                    decided_at_ns=now,
                )
                _save(conn, decided)
                detail = {} if order is None else {"court_order": order_terms(order)}
                _event(conn, current.id, "activated", actor=officer, reason=reason, detail=detail, now=now)
                self.notices.create_in(conn, [activation_notice(decided)])
            self._took_effect(decided)
        return decided

    def amend(
        self,
        restriction_id: str,
        *,
        officer: str,
        reason: str,
        domains: Iterable[Domain | str] | None = None,
        end_ns: int | Keep | None = Keep.keep,
    ) -> Restriction:
        """Change a proposal's domains or end; an active one may only be narrowed or shortened.

        Only an officer of an agency its basis names amends it. A domain its basis does not
        name is refused here as at creation. Widening or lengthening an active restriction is
        a new adverse decision: propose a new one.
        """
        officer = checked_text(officer, "officer", ACTOR_MAX)
        reason = checked_text(reason, "reason", REASON_TEXT_MAX)
        if domains is None and end_ns is Keep.keep:
            raise InvalidInputError("amendment", "names nothing to change: domains or end_ns")
        with self.lock:
            with self._store.transaction(write=True) as conn:
                current = _locked(conn, restriction_id)
                now = self._clock()
                basis = self.bases.get(current.basis_id)
                require_agency(conn, officer, basis, "amend")
                new_domains = current.domains if domains is None else checked_domains(basis, domains, "domains")
                new_end = current.end_ns if end_ns is Keep.keep else _checked_end(end_ns, basis, now, "end_ns")
                if current.status is RestrictionStatus.active:
                    if not new_domains <= current.domains:
                        added = ", ".join(sorted(new_domains - current.domains))
                        raise ConflictError(
                            "domains", f"an active restriction is never widened ({added}): propose anew"
                        )
                    if current.end_ns is not None and (new_end is None or new_end > current.end_ns):
                        raise ConflictError("end_ns", "an active restriction is never lengthened: propose anew")
                elif current.status is not RestrictionStatus.proposed:
                    raise ConflictError("status", f"{current.id} is {current.status}: nothing left to amend")
                amended = replace(current, domains=new_domains, end_ns=new_end)
                if amended == current:
                    raise ConflictError("amendment", "changes nothing")
                _save(conn, amended)
                detail = {"domains": domains_text(new_domains), "end_ns": new_end}
                _event(conn, current.id, "amended", actor=officer, reason=reason, detail=detail, now=now)
                if current.status is RestrictionStatus.active:
                    self.notices.create_in(conn, [changed_notice(amended, reason)])
            if current.status is RestrictionStatus.active:
                self.index.put(amended.subject, amended.domains, amended.denial())
                if (current.domains - amended.domains) & LEDGER_DOMAINS:
                    self.freezes.release(amended)
        return amended

    def lift(self, restriction_id: str, *, officer: str, reason: str) -> Restriction:
        """End an active restriction now, with a written reason; unfreezes if nothing else holds the freeze.

        Only an officer of an agency its basis names lifts it (an appeal is the person's way, ``Appeals``).
        """
        officer = checked_text(officer, "officer", ACTOR_MAX)
        reason = checked_text(reason, "reason", REASON_TEXT_MAX)
        with self.lock:
            with self._store.transaction(write=True) as conn:
                current = _locked(conn, restriction_id)
                require_agency(conn, officer, self.bases.get(current.basis_id), "lift")
                ended = self._end_in(conn, current, RestrictionStatus.lifted, actor=officer, reason=reason)
            self._ended(ended)
        return ended

    def _end_in(
        self,
        conn: Connection,
        current: Restriction,
        status: RestrictionStatus,
        *,
        actor: str,
        reason: str,
        appeal: bool = False,
    ) -> Restriction:
        """Lift or expire inside the caller's transaction (``Appeals`` lifts through this too)."""
        if current.status is not RestrictionStatus.active:
            raise ConflictError("status", f"{current.id} is {current.status}, not active: nothing to lift")
        now = self._clock()
        ended = replace(current, status=status, ended_by=actor, end_reason=reason, ended_at_ns=now)
        if appeal:
            ended = replace(ended, appeal_state=AppealState.lifted)
        _save(conn, ended)
        _event(conn, current.id, status.value, actor=actor, reason=reason, detail={}, now=now)
        self.notices.create_in(conn, [ended_notice(ended)])
        return ended

    def _ended(self, ended: Restriction) -> None:
        """After commit: drop it from the index, and unfreeze if it was the last payments restriction."""
        self.index.discard(ended.id)
        if ended.domains & LEDGER_DOMAINS:
            self.freezes.release(ended)

    def sweep(self) -> list[Restriction]:
        """Persist the expiry of every active restriction past its end, and unfreeze; returns those expired."""
        expired: list[Restriction] = []
        while True:
            with self.lock:
                now = self._clock()
                with self._store.transaction(write=True) as conn:
                    rows = conn.execute(
                        select(restrictions)
                        .where(restrictions.c.status == "active", restrictions.c.end_ns <= now)
                        .order_by(restrictions.c.end_ns)
                        .limit(SWEEP_BATCH_MAX)
                        .with_for_update()
                    )
                    batch = [
                        self._end_in(
                            conn, _restriction_of(row), RestrictionStatus.expired, actor="expiry", reason=EXPIRED
                        )
                        for row in rows.all()
                    ]
                for ended in batch:
                    self._ended(ended)
            expired += batch
            if len(batch) < SWEEP_BATCH_MAX:
                return expired

    def due(self) -> bool:
        """Whether some indexed restriction has reached its end (the sweep has work)."""
        end_ns = self.index.next_end_ns()
        return end_ns is not None and end_ns <= self._clock()

    # -- the ledger -----------------------------------------------------------------------------

    def _took_effect(self, r: Restriction) -> None:
        """After commit: enforce it, in the index and, for payments, in the ledger."""
        self.index.put(r.subject, r.domains, r.denial())
        if r.domains & LEDGER_DOMAINS:
            self.freezes.freeze(r)

    def reconcile_freezes(self) -> int:
        """Freeze again what payments or benefits restrictions in force close; returns the subjects.

        Catches a freeze lost to a crash between commit and ledger, and wallets opened since;
        unfreezes an entitlement to basic needs a payments restriction froze before they were
        exempt, and learns again which accounts are exempt (``Freezes.refused_credits``).
        """
        now = self._clock()
        with self._store.transaction() as conn:
            rows = conn.execute(select(restrictions).where(restrictions.c.status == "active"))
            in_force = [r for r in map(_restriction_of, rows) if r.domains & LEDGER_DOMAINS and r.in_force_at(now)]
        with self.lock:
            for r in in_force:
                self.freezes.freeze(r)
        return len({r.subject for r in in_force})

    # -- reading --------------------------------------------------------------------------------

    def check(self, subject: str, domain: Domain | str) -> Decision:
        """The enforcement index's answer (see ``tessera.rules.due_process.enforcement``)."""
        return self.index.check(subject, domain)

    def get(self, restriction_id: str) -> Restriction:
        """The restriction, or NotFoundError."""
        with self._store.transaction() as conn:
            row = conn.execute(select(restrictions).where(restrictions.c.id == _checked_id(restriction_id))).first()
        if row is None:
            raise NotFoundError("restriction_id", f"no restriction {restriction_id}")
        return _restriction_of(row)

    def of_subject(self, subject: str, limit: int = 100) -> list[Restriction]:
        """A subject's restrictions, every status, newest proposal first."""
        subject = checked_subject(subject)
        query = (
            select(restrictions)
            .where(restrictions.c.subject == subject)
            .order_by(restrictions.c.proposed_at_ns.desc(), restrictions.c.id)
            .limit(checked_limit(limit, RESTRICTIONS_LIST_MAX))
        )
        with self._store.transaction() as conn:
            return [_restriction_of(row) for row in conn.execute(query)]

    def proposed(self, limit: int = 100, after_ns: int | None = None) -> list[Restriction]:
        """Proposals awaiting a decision, oldest first."""
        query = (
            select(restrictions)
            .where(restrictions.c.status == "proposed")
            .order_by(restrictions.c.proposed_at_ns, restrictions.c.id)
            .limit(checked_limit(limit, RESTRICTIONS_LIST_MAX))
        )
        if after_ns is not None:
            query = query.where(restrictions.c.proposed_at_ns > after_ns)
        with self._store.transaction() as conn:
            return [_restriction_of(row) for row in conn.execute(query)]

    def history(self, restriction_id: str) -> list[RestrictionEvent]:
        """Every step of the restriction's life, oldest first."""
        self.get(restriction_id)
        query = (
            select(restriction_events)
            .where(restriction_events.c.restriction_id == restriction_id)
            .order_by(restriction_events.c.id)
        )
        with self._store.transaction() as conn:
            return [
                RestrictionEvent(r.action, r.actor, r.reason, json.loads(r.detail), r.at_ns)
                for r in conn.execute(query)
            ]


# -- rows ---------------------------------------------------------------------------------------


def _checked_end(end_ns: object, basis: LegalBasis, now: int, field: str) -> int | None:
    if end_ns is None:
        if not basis.allows_open_end:
            raise InvalidInputError(field, f"is required: only a court order may be open-ended, not {basis.cite()}")
        return None
    if isinstance(end_ns, bool) or not isinstance(end_ns, int) or not 0 < end_ns < ID_LIMIT:
        raise InvalidInputError(field, "must be nanoseconds since 1970")
    if end_ns <= now:
        raise InvalidInputError(field, "must be in the future")
    return end_ns


def _checked_id(value: object) -> str:
    if not isinstance(value, str) or len(value) != _ID_CHARS or not value.startswith(_ID_PREFIX):
        raise NotFoundError("restriction_id", f"no restriction {value!r:.40}")
    return value


def _locked(conn: Connection, restriction_id: str) -> Restriction:
    row = conn.execute(
        select(restrictions).where(restrictions.c.id == _checked_id(restriction_id)).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError("restriction_id", f"no restriction {restriction_id}")
    return _restriction_of(row)


def _event(
    conn: Connection, restriction_id: str, action: str, *, actor: str, reason: str, detail: dict[str, Any], now: int
) -> None:
    conn.execute(
        insert(restriction_events).values(
            restriction_id=restriction_id,
            action=action,
            actor=actor,
            reason=reason,
            detail=json.dumps(detail, sort_keys=True),
            at_ns=now,
        )
    )


def _terms(r: Restriction) -> dict[str, Any]:
    return {
        "subject": r.subject,
        "domains": domains_text(r.domains),
        "basis_id": r.basis_id,
        "end_ns": r.end_ns,
        "rule_id": r.rule_id,
        "event_ref": r.event_ref,
        "court_order": None if r.court_order is None else order_terms(r.court_order),
    }


def _values(r: Restriction) -> dict[str, Any]:
    return {
        "id": r.id,
        "subject": r.subject,
        "domains": domains_text(r.domains),
        "basis_id": r.basis_id,
        "authority": r.authority,
        "reason_code": r.reason_code,
        "reason_text": r.reason_text,
        "rule_id": r.rule_id,
        "event_ref": r.event_ref,
        "proposed_by": r.proposed_by,
        "proposed_at_ns": r.proposed_at_ns,
        "start_ns": r.start_ns,
        "end_ns": r.end_ns,
        "status": r.status.value,
        "appeal_state": r.appeal_state.value,
        "decided_by": r.decided_by,
        "decision_reason": r.decision_reason,
        "decided_at_ns": r.decided_at_ns,
        "ended_by": r.ended_by,
        "end_reason": r.end_reason,
        "ended_at_ns": r.ended_at_ns,
        "order_court": None if r.court_order is None else r.court_order.court,
        "order_case_number": None if r.court_order is None else r.court_order.case_number,
        "order_issued_on": None if r.court_order is None else r.court_order.issued_on.isoformat(),
    }


def _dismiss_hit_of(conn: Connection, rejected: Restriction) -> None:
    """The screening hit whose confirmation proposed ``rejected`` (its ``event_ref``) is dismissed with it.

    Only an officer of the listing's agency rejects it (``decide``), which is also who may
    dismiss a hit (``SanctionsWatch.decide``): the hit says what that agency decided, not
    what the officer who confirmed it proposed, and is raised again only from a newer list.
    """
    if rejected.event_ref is None or not rejected.event_ref.startswith(HIT_REF_PREFIX):
        return
    hit_id = rejected.event_ref.removeprefix(HIT_REF_PREFIX)
    reason = f"restriction {rejected.id} rejected: {rejected.decision_reason}"[:REASON_TEXT_MAX]
    conn.execute(
        update(screening_hits)
        .where(
            screening_hits.c.id == hit_id,
            screening_hits.c.restriction_id == rejected.id,
            screening_hits.c.status == "confirmed",
        )
        .values(status="dismissed", decided_by=rejected.decided_by, reason=reason, decided_at_ns=rejected.decided_at_ns)
    )


def _save(conn: Connection, r: Restriction) -> None:
    values = _values(r)
    del values["id"]
    conn.execute(update(restrictions).where(restrictions.c.id == r.id).values(values))


def _restriction_of(row: Row[Any]) -> Restriction:
    return Restriction(
        id=row.id,
        subject=row.subject,
        domains=domains_of(row.domains),
        basis_id=row.basis_id,
        authority=row.authority,
        reason_code=row.reason_code,
        reason_text=row.reason_text,
        rule_id=row.rule_id,
        event_ref=row.event_ref,
        proposed_by=row.proposed_by,
        proposed_at_ns=row.proposed_at_ns,
        start_ns=row.start_ns,
        end_ns=row.end_ns,
        status=RestrictionStatus(row.status),
        appeal_state=AppealState(row.appeal_state),
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        decided_at_ns=row.decided_at_ns,
        ended_by=row.ended_by,
        end_reason=row.end_reason,
        ended_at_ns=row.ended_at_ns,
        court_order=None
        if row.order_court is None
        else CourtOrder(row.order_court, row.order_case_number, dt.date.fromisoformat(row.order_issued_on)),
    )
