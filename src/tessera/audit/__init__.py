"""The tamper-evident access log: an RFC 6962-style Merkle tree, signed heads, proofs.

``AccessLog`` keeps every look at a person's data durably, in one directory, with a
per-person index behind ``entries_for_subject``; ``verify_log`` is for auditors. The
on-disk format and the recovery rule are in ``tessera.audit.log`` and ``docs/audit.md``.
"""

from tessera.audit.entries import AccessEntry
from tessera.audit.layout import SignedTreeHead
from tessera.audit.log import AccessLog, RecoveryReport
from tessera.audit.merkle import EMPTY_ROOT, HASH_SIZE, MerkleTree, leaf_hash, node_hash
from tessera.audit.notes import deliver_entries
from tessera.audit.verify import VerifyReport, verify_log

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AccessEntry",
    "AccessLog",
    "MerkleTree",
    "RecoveryReport",
    "SignedTreeHead",
    "VerifyReport",
    "deliver_entries",
    "leaf_hash",
    "node_hash",
    "verify_log",
]
