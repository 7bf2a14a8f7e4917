"""The access log's signed tree head and Merkle proofs."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tessera.api.schemas.common import Rfc3339, beside


class TreeHeadPublic(BaseModel):
    """A signed tree head: Ed25519 over ``u64le size || u64le timestamp || root``."""

    size: int
    timestamp: int = Field(description="when it was signed, in nanoseconds since 1970")
    signed_at: Rfc3339 = beside("timestamp")
    root: str
    signature: str
    public_key: str


class InclusionProofPublic(BaseModel):
    index: int
    size: int
    leaf_hash: str
    root: str
    path: list[str]


class ConsistencyProofPublic(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    path: list[str]
