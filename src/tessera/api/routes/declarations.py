"""Declarations over HTTP: data-protection officers propose, approve and refuse versions; anyone reads them.

What data means (event types, record types, legal bases) is public law, made by DPOs
(``tessera.rules.declarations``), never by the officers who write rules nor the admins who
run the service. Nothing here reads a person's data, so no purpose is asked and nothing is
written to the access log; every proposal and decision is kept with its version instead.
A version approved here is law at once (exports, ``tessera rules check``); the running
service loads it at its next start, which ``loaded`` against ``in_force`` shows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    DeclarationDecisionCreate,
    DeclarationProposalPublic,
    DeclarationRefusalCreate,
    DeclarationsCreate,
    DeclarationVersionPublic,
    DeclarationVersionsPublic,
)
from tessera.auth import Action
from tessera.rules import VERSIONS_LIST_MAX, DeclarationStatus
from tessera.service import Services

router = APIRouter(tags=["declarations"])
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _listing(services: Services, versions: list[DeclarationVersionPublic]) -> DeclarationVersionsPublic:
    found = services.declarations.in_force()
    loaded = services.declared.version
    return DeclarationVersionsPublic(
        in_force=None if found is None else found.version, loaded=loaded, versions=versions
    )


@router.get("/v1/declarations", openapi_extra=declare(Action.declarations_read))
def list_declarations(
    caller: CallerDep,
    services: ServicesDep,
    status: Annotated[str | None, Query(pattern="^(pending|approved|refused)$")] = None,
    limit: Annotated[int, Query(ge=1, le=VERSIONS_LIST_MAX)] = 100,
) -> DeclarationVersionsPublic:
    """Versions newest first (without their documents), the one in force, and the one this service runs."""
    found = services.declarations.versions(None if status is None else DeclarationStatus(status), limit)
    return _listing(services, [DeclarationVersionPublic.of(v) for v in found])


@router.get("/v1/declarations/{version}", openapi_extra=declare(Action.declarations_read))
def get_declarations(version: Version, caller: CallerDep, services: ServicesDep) -> DeclarationVersionPublic:
    """One version with its whole document, hash, exceptions and every DPO's decision."""
    return DeclarationVersionPublic.of(services.declarations.require(version), document=True)


@router.post(
    "/v1/declarations", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.declarations_propose)
)
def propose_declarations(
    body: DeclarationsCreate, caller: CallerDep, services: ServicesDep
) -> DeclarationProposalPublic:
    """Propose the whole document as the next version; checked now (lexicon, shapes, loader), law once approved."""
    proposal = services.declarations.propose(
        caller.principal, body.document, body.note, body.exceptions, name="body.document"
    )
    return DeclarationProposalPublic.of(proposal)


@router.post("/v1/declarations/{version}/approve", openapi_extra=declare(Action.declarations_decide))
def approve_declarations(
    version: Version, body: DeclarationDecisionCreate, caller: CallerDep, services: ServicesDep
) -> DeclarationVersionPublic:
    """Approve a pending version; with the approvals it needs (two DPOs for a basis that restricts) it is in force."""
    return DeclarationVersionPublic.of(services.declarations.approve(version, caller.principal, body.reason))


@router.post("/v1/declarations/{version}/refuse", openapi_extra=declare(Action.declarations_decide))
def refuse_declarations(
    version: Version, body: DeclarationRefusalCreate, caller: CallerDep, services: ServicesDep
) -> DeclarationVersionPublic:
    """Refuse a pending version, with a reason (its proposer may: a withdrawal)."""
    return DeclarationVersionPublic.of(services.declarations.refuse(version, caller.principal, body.reason))
