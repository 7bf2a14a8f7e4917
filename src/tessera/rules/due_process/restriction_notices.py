"""What a restriction's subject is told: its activation, a narrowing or shortening, and its end."""

from __future__ import annotations

from dataclasses import replace

from tessera.rules.due_process.notices import NoticeDraft, NoticeKind
from tessera.rules.due_process.restriction_records import Restriction


def activation_notice(r: Restriction) -> NoticeDraft:
    closed = ", ".join(sorted(d.value for d in r.domains))
    issuer = r.authority + (f", {r.court_order.cite()}" if r.court_order else "")
    return NoticeDraft(
        subject=r.subject,
        kind=NoticeKind.restriction,
        basis_id=r.basis_id,
        reason_code=r.reason_code,
        reason_text=f"{r.reason_text} (closes: {closed}; issued by {issuer}; decided: {r.decision_reason})",
        reference=r.id,
        expires_at_ns=r.end_ns,
        rule_id=r.rule_id,
        domains=r.domains,
        appeal=f"Appeal: POST /v1/me/appeals with restriction_id {r.id}, or at any Tessera office. "
        "An officer other than the one who decided it answers, in writing.",
    )


def changed_notice(r: Restriction, reason: str) -> NoticeDraft:
    return replace(
        activation_notice(r), kind=NoticeKind.restriction_changed, reason_text=f"narrowed or shortened: {reason}"
    )


def ended_notice(r: Restriction) -> NoticeDraft:
    return replace(
        activation_notice(r),
        kind=NoticeKind.restriction_ended,
        reason_text=f"{r.status.value}: {r.end_reason}",
        appeal="Nothing to appeal: this restriction no longer applies.",
    )
