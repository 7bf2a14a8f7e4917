"""The tamper-evident access log: an RFC 6962-style Merkle tree, signed heads, proofs.

Built so far: the tree with roots, inclusion and consistency proofs; the durable log of
access entries with Ed25519-signed tree heads; ``verify_log`` for auditors. Still to
come (issue 3): the per-person index behind ``/v1/me/access-log``, the HTTP routes and
``tessera bench audit``.
"""

from tessera.audit.log import AccessEntry, AccessLog, SignedTreeHead, VerifyReport, verify_log
from tessera.audit.merkle import EMPTY_ROOT, HASH_SIZE, MerkleTree, leaf_hash, node_hash

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AccessEntry",
    "AccessLog",
    "MerkleTree",
    "SignedTreeHead",
    "VerifyReport",
    "leaf_hash",
    "node_hash",
    "verify_log",
]
