"""The tamper-evident access log: an RFC 6962-style Merkle tree and its proofs.

Built so far: the in-memory tree with roots, inclusion and consistency proofs. The
durable log of access entries, signed tree heads and ``tessera audit verify`` follow
(issue 3).
"""

from tessera.audit.merkle import EMPTY_ROOT, HASH_SIZE, MerkleTree, leaf_hash, node_hash

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "MerkleTree", "leaf_hash", "node_hash"]
