"""Sanctions screening hits and an officer's decision on one."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tessera.api.schemas.common import StrictModel
from tessera.api.schemas.policy import ReasonText, RestrictionPublic
from tessera.rules import Hit


class HitPublic(BaseModel):
    """A sanctions screening match for an officer: who, which listing, how close and why, and what was decided."""

    id: str
    subject: str
    source: str
    list_id: str
    list_version: int
    listed_name: str
    score: float
    features: dict[str, float]
    context: str
    reference: str
    status: str
    decided_by: str | None
    reason: str | None
    restriction_id: str | None
    created_at_ns: int
    decided_at_ns: int | None

    @classmethod
    def of(cls, h: Hit) -> HitPublic:
        return cls(
            id=h.id,
            subject=h.subject,
            source=h.source,
            list_id=h.list_id,
            list_version=h.list_version,
            listed_name=h.listed_name,
            score=h.score,
            features=dict(h.features),
            context=h.context.value,
            reference=h.reference,
            status=h.status.value,
            decided_by=h.decided_by,
            reason=h.reason,
            restriction_id=h.restriction_id,
            created_at_ns=h.created_at_ns,
            decided_at_ns=h.decided_at_ns,
        )


class HitsPublic(BaseModel):
    hits: list[HitPublic]
    threshold: float


class HitDecisionCreate(StrictModel):
    decision: Literal["confirm", "dismiss"]
    reason: ReasonText


class HitDecisionPublic(BaseModel):
    """The decided hit and, when confirmed, the restriction now in force."""

    hit: HitPublic
    restriction: RestrictionPublic | None
