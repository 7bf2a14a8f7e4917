"""The access log's signed tree head and Merkle proofs."""

from __future__ import annotations

from pydantic import BaseModel


class TreeHeadPublic(BaseModel):
    """A signed tree head: Ed25519 over ``u64le size || u64le timestamp || root``."""

    size: int
    timestamp: int
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
