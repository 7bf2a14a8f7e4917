"""Sanctions screening hits and an officer's decision on one."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tessera.api.schemas.common import FromRecord, Rfc3339, Rfc3339OrNone, StrictModel, beside
from tessera.api.schemas.policy import ReasonText, RestrictionPublic


class HitPublic(FromRecord):
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
    created_at: Rfc3339 = beside("created_at_ns")
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")


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
