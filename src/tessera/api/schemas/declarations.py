"""What data means, made law by data-protection officers: proposed versions, decisions, the one in force."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field

from tessera.api.schemas.common import FromRecord, Rfc3339, Rfc3339OrNone, StrictModel, beside, vars_of
from tessera.rules import DeclarationProposal, DeclarationVersion

BODY_DOCUMENT_MAX = 1 << 20  # characters of a declarations document over HTTP; the CLI takes up to 4 MiB


class DeclarationsCreate(StrictModel):
    """A proposed version: the whole declarations document, why, and any exceptions to the lexicon."""

    document: str = Field(
        min_length=1,
        max_length=BODY_DOCUMENT_MAX,
        description="the whole declarations document (TOML: [[record_type]], [[event_type]], [[legal_basis]], ...), "
        "as it will be law; GET /v1/declarations/{version} gives the one in force to start from",
    )
    note: str = Field(min_length=1, max_length=500, description="why, for the DPOs who approve it")
    exceptions: (
        dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[str, Field(max_length=500)]] | None
    ) = Field(
        default=None,
        max_length=64,
        description="name -> reason: lexicon refusals to waive (two DPOs approve); absent: those in force, "
        "where still needed",
    )


class DeclarationDecisionCreate(StrictModel):
    reason: str = Field(default="", max_length=500)


class DeclarationRefusalCreate(StrictModel):
    reason: str = Field(min_length=1, max_length=500)


class DeclarationDecisionPublic(FromRecord):
    principal_id: str
    decision: str
    reason: str
    at_ns: int
    at: Rfc3339 = beside("at_ns")


class DeclarationVersionPublic(BaseModel):
    version: int
    base_version: int | None
    status: str
    sha256: str
    note: str
    approvals_needed: int
    proposed_by: str | None = Field(description="a DPO's principal id; null: the built-in definitions")
    proposed_at_ns: int
    proposed_at: Rfc3339 = beside("proposed_at_ns")
    decided_at_ns: int | None
    decided_at: Rfc3339OrNone = beside("decided_at_ns")
    exceptions: dict[str, str]
    decisions: list[DeclarationDecisionPublic]
    document: str | None = Field(default=None, description="the whole document (in a single version's answer)")

    @classmethod
    def of(cls, v: DeclarationVersion, *, document: bool = False) -> Self:
        return cls.model_validate({**vars_of(v), "document": v.document if document else None})


class DeclarationChangesPublic(BaseModel):
    added: list[str]
    changed: list[str]
    removed: list[str]
    restricting_bases: list[str]
    new_exceptions: list[str]
    benefit_bases: list[str] = Field(
        default=[], description="those that name benefits: they can freeze food, fuel and health entitlements"
    )
    why_two: list[str] = Field(description="why a second DPO must approve; empty when one is enough")


class DeclarationProposalPublic(BaseModel):
    version: DeclarationVersionPublic
    changes: DeclarationChangesPublic

    @classmethod
    def of(cls, p: DeclarationProposal) -> Self:
        changes = DeclarationChangesPublic.model_validate({**vars_of(p.changes), "why_two": p.changes.why_two()})
        return cls(version=DeclarationVersionPublic.of(p.version), changes=changes)


class DeclarationVersionsPublic(BaseModel):
    in_force: int | None = Field(description="the approved version with the highest number")
    loaded: int | None = Field(description="the version this service runs: an approved one loads at the next start")
    versions: list[DeclarationVersionPublic]
