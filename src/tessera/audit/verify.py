"""``verify_log``: what an auditor runs to check that a log was not rewritten."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tessera.audit.entries import BATCH_MAX, FRAME, AccessEntry, scan_frames, subject_keys
from tessera.audit.layout import HEAD, INDEX_DTYPE, SignedTreeHead, level_path, read_checkpoint, read_prefix
from tessera.audit.merkle import HASH_SIZE, MerkleTree, leaf_hash
from tessera.errors import CorruptionError, InvalidInputError


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify_log`` checked."""

    entries: int
    tree_heads: int
    root: bytes


def _first_mismatch(stored: bytes | bytearray, computed: bytes | bytearray) -> int | None:
    """Index of the first 32-byte hash where ``stored`` differs from ``computed``'s prefix."""
    n = min(len(stored), len(computed)) // HASH_SIZE
    a = np.frombuffer(stored, np.uint8, n * HASH_SIZE).reshape(n, HASH_SIZE)
    b = np.frombuffer(computed, np.uint8, n * HASH_SIZE).reshape(n, HASH_SIZE)
    bad = np.flatnonzero((a != b).any(axis=1))
    return int(bad[0]) if len(bad) else None


def verify_log(path: str | os.PathLike[str]) -> VerifyReport:
    """Re-hash every entry; check every cache record and stored tree head against them.

    Raises CorruptionError at the first fault, naming the file, offset and record. Cache
    records past the last entry are not faults (a crash leaves them; open cuts them).
    """
    directory = Path(path)
    entries_path, index_path = directory / "entries.log", directory / "index.bin"
    if not entries_path.exists():
        raise InvalidInputError("path", f"{directory} holds no access log")
    checkpoint_count, checkpoint_end = read_checkpoint(directory)
    index_bytes = read_prefix(index_path, 2**62, INDEX_DTYPE.itemsize)
    stored_index = np.frombuffer(index_bytes, INDEX_DTYPE, len(index_bytes) // INDEX_DTYPE.itemsize)
    leaves = bytearray()
    count = end = 0
    offsets: list[int] = []
    subjects: list[str] = []

    def check_index() -> None:
        """The index records of the entries in ``offsets`` and ``subjects``, in one pass."""
        first = count - len(offsets)
        stored = stored_index[first:count]
        bad = np.flatnonzero(
            (stored["offset"] != np.array(offsets[: len(stored)], np.uint64))
            | (stored["key"] != subject_keys(subjects[: len(stored)]))
        )
        if len(bad):
            i = first + int(bad[0])
            reason = f"index record {i} does not match entry {i}"
            raise CorruptionError(str(index_path), i * INDEX_DTYPE.itemsize, reason)
        offsets.clear()
        subjects.clear()

    with open(entries_path, "rb") as f:
        for offset, payload in scan_frames(f, 0):
            try:
                entry = AccessEntry.decode(payload)
            except (ValueError, TypeError) as error:
                reason = f"entry {count} is not a valid access entry: {error}"
                raise CorruptionError(str(entries_path), offset, reason) from None
            leaves += leaf_hash(payload)
            offsets.append(offset)
            subjects.append(entry.subject)
            count, end = count + 1, offset + FRAME.size + len(payload)
            if count == checkpoint_count and end != checkpoint_end:
                reason = f"entry {count - 1} does not end where the checkpoint says (byte {checkpoint_end})"
                raise CorruptionError(str(entries_path), end, reason)
            if len(offsets) == BATCH_MAX:
                check_index()
    if end != entries_path.stat().st_size:
        raise CorruptionError(str(entries_path), end, f"entry {count} fails its checksum")
    if count < checkpoint_count:
        reason = f"holds {count} entries but the checkpoint says {checkpoint_count} were acknowledged"
        raise CorruptionError(str(entries_path), end, reason)
    check_index()

    tree = MerkleTree()
    tree.extend_leaf_hashes(leaves)
    for level in range(tree.height):
        path = level_path(directory, level)
        computed = tree.level_hashes(level, 0)
        i = _first_mismatch(read_prefix(path, len(computed), HASH_SIZE), computed)
        if i is not None:
            what = f"leaf {i} does not match entry {i}" if level == 0 else f"node {i} of level {level} does not match"
            raise CorruptionError(str(path), i * HASH_SIZE, what)

    public_key = Ed25519PrivateKey.from_private_bytes((directory / "log.key").read_bytes()).public_key()
    heads = (directory / "heads.log").read_bytes() if (directory / "heads.log").exists() else b""
    heads_count = len(heads) // HEAD.size
    for h in range(heads_count):
        head = SignedTreeHead(*HEAD.unpack_from(heads, h * HEAD.size))
        offset = h * HEAD.size
        if not head.verify(public_key):
            raise CorruptionError(str(directory / "heads.log"), offset, f"tree head {h} has a bad signature")
        if head.size > tree.size or tree.root(head.size) != head.root:
            raise CorruptionError(
                str(directory / "heads.log"), offset, f"tree head {h} (size {head.size}) does not match the entries"
            )
    return VerifyReport(count, heads_count, tree.root())
