"""What a restriction's subject is told: its activation, a narrowing or shortening, and its end."""

from __future__ import annotations

from dataclasses import replace

from tessera.rules.basis import Domain
from tessera.rules.due_process.notices import NoticeDraft, NoticeKind
from tessera.rules.due_process.restriction_records import Restriction
from tessera.store import REASON_TEXT_MAX

# What a restriction does to the person's programme entitlements (rules/due_process/freezes.py), in words.
BENEFITS_KEPT = (
    "Your food, fuel and health entitlements stay available: you can still spend them at the shops of "
    "their programmes, and only the programmes can pay into them while this restriction lasts."
)
BENEFITS_CLOSED = (
    "Your programme entitlements, food, fuel and health included, are frozen too: the legal basis of "
    "this restriction names benefits."
)


def benefits_text(domains: frozenset[Domain]) -> str:
    """What the restriction means for the person's entitlements: kept, frozen, or nothing to say."""
    if Domain.benefits in domains:
        return BENEFITS_CLOSED
    return BENEFITS_KEPT if Domain.payments in domains else ""


def _fitted(reason: str, tail: str) -> str:
    """``reason + tail`` within ``REASON_TEXT_MAX``, shortening the reason: the restriction keeps it whole."""
    room = REASON_TEXT_MAX - len(tail)
    if len(reason) > room:
        reason = reason[: max(room - 1, 0)] + "…"
    return (reason + tail)[:REASON_TEXT_MAX]


def activation_notice(r: Restriction) -> NoticeDraft:
    closed = ", ".join(sorted(d.value for d in r.domains))
    issuer = r.authority + (f", {r.court_order.cite()}" if r.court_order else "")
    terms = f" (closes: {closed}; issued by {issuer}; decided: {r.decision_reason})"
    benefits = benefits_text(r.domains)
    return NoticeDraft(
        subject=r.subject,
        kind=NoticeKind.restriction,
        basis_id=r.basis_id,
        reason_code=r.reason_code,
        reason_text=_fitted(r.reason_text, terms + (" " + benefits if benefits else "")),
        reference=r.id,
        expires_at_ns=r.end_ns,
        rule_id=r.rule_id,
        domains=r.domains,
        appeal=f"Appeal: POST /v1/me/appeals with restriction_id {r.id}, or at any Tessera office. "
        "An officer other than the one who decided it answers, in writing.",
    )


def changed_notice(r: Restriction, reason: str) -> NoticeDraft:
    benefits = benefits_text(r.domains)
    text = _fitted(f"narrowed or shortened: {reason}", " " + benefits if benefits else "")
    return replace(activation_notice(r), kind=NoticeKind.restriction_changed, reason_text=text)


def ended_notice(r: Restriction) -> NoticeDraft:
    return replace(
        activation_notice(r),
        kind=NoticeKind.restriction_ended,
        reason_text=f"{r.status.value}: {r.end_reason}",
        appeal="Nothing to appeal: this restriction no longer applies.",
    )
