"""The access log for auditors and citizens: signed tree heads and Merkle proofs (hashes only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import ConsistencyProofPublic, InclusionProofPublic, TreeHeadPublic
from tessera.audit import SignedTreeHead
from tessera.auth import Action
from tessera.errors import InvalidInputError
from tessera.limits import ID_LIMIT
from tessera.service import Services

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Size = Annotated[int, Query(ge=0, lt=ID_LIMIT)]


def _current_head(services: Services) -> SignedTreeHead:
    """Sign a new head only when the log has grown, so polling does not fill heads.log."""
    with services.signed_head_lock:
        last = services.last_head
        if last is None or last.size != services.access_log.size:
            last = services.last_head = services.access_log.tree_head()
        return last


@router.get("/tree-head", openapi_extra=declare(Action.audit_tree_head_read))
def tree_head(caller: CallerDep, services: ServicesDep) -> TreeHeadPublic:
    """The log's current size and root, signed with the log's Ed25519 key."""
    head = _current_head(services)
    return TreeHeadPublic(
        size=head.size,
        timestamp=head.timestamp,
        root=head.root.hex(),
        signature=head.signature.hex(),
        public_key=services.access_log.public_key.public_bytes_raw().hex(),
    )


def _checked_size(services: Services, size: int | None, field: str) -> int:
    current = services.access_log.size
    if size is None:
        return current
    if size > current:
        raise InvalidInputError(field, f"the log holds {current} entries, not {size}")
    return size


@router.get("/proof/inclusion", openapi_extra=declare(Action.audit_proofs_read))
def inclusion_proof(
    caller: CallerDep, services: ServicesDep, index: Size, size: Size | None = None
) -> InclusionProofPublic:
    """The audit path (RFC 9162 §2.1.3) proving entry ``index`` is in the tree of ``size`` entries."""
    tree_size = _checked_size(services, size, "size")
    if index >= tree_size:
        raise InvalidInputError("index", f"must be below the tree size {tree_size}")
    log = services.access_log
    return InclusionProofPublic(
        index=index,
        size=tree_size,
        leaf_hash=log.leaf_hash_at(index).hex(),
        root=log.root(tree_size).hex(),
        path=[h.hex() for h in log.inclusion_proof(index, tree_size)],
    )


@router.get("/proof/consistency", openapi_extra=declare(Action.audit_proofs_read))
def consistency_proof(
    caller: CallerDep, services: ServicesDep, first: Size, second: Size | None = None
) -> ConsistencyProofPublic:
    """The proof (RFC 9162 §2.1.4) that the tree of ``second`` entries extends the tree of ``first``."""
    second_size = _checked_size(services, second, "second")
    if not 0 < first <= second_size:
        raise InvalidInputError("first", f"must be from 1 to {second_size}")
    log = services.access_log
    return ConsistencyProofPublic(
        first=first,
        second=second_size,
        first_root=log.root(first).hex(),
        second_root=log.root(second_size).hex(),
        path=[h.hex() for h in log.consistency_proof(first, second_size)],
    )
