"""A restriction's records: the proposal, the restriction and where it stands, and each step of its history.

``restrictions.py`` keeps them in the store and moves them through their life.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from tessera.rules.basis import CourtOrder, Domain
from tessera.rules.due_process.enforcement import Denial


class RestrictionStatus(StrEnum):
    proposed = "proposed"
    active = "active"
    lifted = "lifted"
    expired = "expired"
    rejected = "rejected"


class Keep(Enum):
    """``amend``'s default for ``end_ns``: leave it as it is (None would mean open-ended)."""

    keep = "keep"


class AppealState(StrEnum):
    none = "none"
    pending = "pending"
    upheld = "upheld"
    lifted = "lifted"


@dataclass(frozen=True, slots=True)
class Proposal:
    """A restriction to propose. ``proposer`` is an officer's principal id, or ``rule:<id>`` for a rule."""

    subject: str  # a Tessera number, or org:<id>
    domains: frozenset[Domain] | Sequence[Domain | str]
    basis_id: str
    authority: str  # who issues it: "Tax Office", "High Court of ..."
    reason_code: str
    reason_text: str
    end_ns: int | None  # None only under a court order
    proposer: str
    rule_id: str | None = None
    event_ref: str | None = None
    court_order: CourtOrder | None = None  # the order's reference; a court's officer exercises one only with it


@dataclass(frozen=True, slots=True)
class Restriction:
    """A restriction and where it stands."""

    id: str
    subject: str
    domains: frozenset[Domain]
    basis_id: str
    authority: str
    reason_code: str
    reason_text: str
    rule_id: str | None
    event_ref: str | None
    proposed_by: str
    proposed_at_ns: int
    start_ns: int | None
    end_ns: int | None
    status: RestrictionStatus
    appeal_state: AppealState
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at_ns: int | None = None
    ended_by: str | None = None
    end_reason: str | None = None
    ended_at_ns: int | None = None
    court_order: CourtOrder | None = None

    def in_force_at(self, at_ns: int) -> bool:
        """Active, started, and not past its end at ``at_ns``."""
        if self.status is not RestrictionStatus.active or self.start_ns is None or at_ns < self.start_ns:
            return False
        return self.end_ns is None or at_ns < self.end_ns

    def denial(self) -> Denial:
        assert self.start_ns is not None, "only an active restriction is enforced"
        return Denial(self.id, self.reason_code, self.reason_text, self.basis_id, self.start_ns, self.end_ns)


@dataclass(frozen=True, slots=True)
class RestrictionEvent:
    """One step in a restriction's history."""

    action: str  # proposed, activated, rejected, amended, lifted, expired, appealed, appeal_upheld
    actor: str
    reason: str
    detail: dict[str, Any]
    at_ns: int
