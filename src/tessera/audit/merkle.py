"""An append-only Merkle tree in the manner of RFC 6962 / RFC 9162 (Certificate Transparency).

Leaves are hashed as ``SHA-256(0x00 || entry)`` and nodes as ``SHA-256(0x01 || left ||
right)``, so a leaf can never pass for a node. The tree over ``n`` leaves splits at the
largest power of two below ``n``, which makes every left subtree perfect and lets us keep
one array of hashes per level: ``level k`` holds the hash of every complete, aligned run
of ``2**k`` leaves. Any root, inclusion proof or consistency proof is then a few
recursive steps down the right edge (O(log² n) lookups), never a re-hash of the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tessera.errors import InvalidInputError

try:
    from tessera.audit._prepare import hash_pairs as _compiled_hash_pairs
except ImportError:  # built without OpenSSL: the Python loop below, same hashes
    _compiled_hash_pairs = None  # type: ignore[assignment]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
ENTRY_BYTES_MAX = 64 * 1024
BATCH_ENTRIES_MAX = 65_536


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes | bytearray, right: bytes | bytearray) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _python_hash_pairs(level: bytes | bytearray | memoryview) -> bytes:
    """SHA-256(0x01 || left || right) of each adjacent pair of hashes in ``level`` (64 bytes a pair)."""
    sha256 = hashlib.sha256
    return b"".join([sha256(b"\x01" + level[i : i + 2 * HASH_SIZE]).digest() for i in range(0, len(level), 64)])


hash_pairs = _python_hash_pairs if _compiled_hash_pairs is None else _compiled_hash_pairs


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Leaf hashes and every complete subtree hash, level by level, in memory."""

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append(self, entries: Sequence[bytes]) -> int:
        """Add entries as leaves; returns the new tree size."""
        if isinstance(entries, bytes | str) or not isinstance(entries, Sequence):
            raise InvalidInputError("entries", "must be a list of bytes")
        if len(entries) > BATCH_ENTRIES_MAX:
            raise InvalidInputError("entries", f"at most {BATCH_ENTRIES_MAX} per batch, got {len(entries)}")
        for i, entry in enumerate(entries):
            if not isinstance(entry, bytes):
                raise InvalidInputError(f"entries[{i}]", f"must be bytes, got {type(entry).__name__}")
            if len(entry) > ENTRY_BYTES_MAX:
                raise InvalidInputError(f"entries[{i}]", f"at most {ENTRY_BYTES_MAX} bytes, got {len(entry)}")
        return self.append_leaf_hashes([leaf_hash(e) for e in entries])

    def append_leaf_hashes(self, hashes: Sequence[bytes]) -> int:
        """Add precomputed leaf hashes (as when reloading a stored log); returns the new size."""
        for i, h in enumerate(hashes):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise InvalidInputError(f"hashes[{i}]", f"must be {HASH_SIZE} bytes")
        return self.extend_leaf_hashes(b"".join(hashes))

    def extend_leaf_hashes(self, block: bytes | bytearray) -> int:
        """Add leaf hashes given as one block of concatenated 32-byte hashes; returns the new size.

        The append path of the access log: no per-hash object or check, one hash call per
        new interior node.
        """
        if not isinstance(block, bytes | bytearray) or len(block) % HASH_SIZE:
            raise InvalidInputError("block", f"must be bytes, a multiple of {HASH_SIZE} long")
        self._levels[0] += block
        self._build()
        return self.size

    @classmethod
    def from_levels(cls, levels: Sequence[bytearray]) -> MerkleTree:
        """A tree over stored levels (level 0 = leaf hashes), trusted as they are.

        A level longer than the one below can support is cut; a shorter one is completed
        by hashing, so a stored copy whose upper levels lag behind its leaves is repaired.
        """
        if not levels or any(not isinstance(lv, bytearray) or len(lv) % HASH_SIZE for lv in levels):
            raise InvalidInputError("levels", f"must be bytearrays, each a multiple of {HASH_SIZE} long")
        tree = cls()
        tree._levels = list(levels)
        for k in range(1, len(tree._levels)):
            del tree._levels[k][len(tree._levels[k - 1]) // 2 // HASH_SIZE * HASH_SIZE :]
        while len(tree._levels) > 1 and not tree._levels[-1]:
            tree._levels.pop()
        tree._build(every_level=True)
        return tree

    def _build(self, every_level: bool = False) -> None:
        """Hash every complete pair of each level that has no parent yet, bottom up.

        After an append, a level that gains no node means none above gains one either;
        ``every_level`` goes on regardless, for levels loaded shorter than they should be.
        """
        level = 0
        while len(self._levels[level]) >= 2 * HASH_SIZE:
            below = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append(bytearray())
            above = self._levels[level + 1]
            # Parent p covers below's bytes [64p, 64p + 64): left and right are adjacent, so
            # the new parents hash one run of below, pair by pair.
            start, end = 2 * len(above), len(below) // (2 * HASH_SIZE) * (2 * HASH_SIZE)
            if start == end and not every_level:
                break
            with memoryview(below) as run:
                above += hash_pairs(run[start:end])
            level += 1

    @property
    def height(self) -> int:
        """Number of stored levels (level 0 holds the leaves)."""
        return len(self._levels)

    def level_size(self, level: int) -> int:
        """Number of hashes stored at ``level``."""
        return len(self._levels[level]) // HASH_SIZE

    def level_hashes(self, level: int, start: int) -> bytes:
        """The hashes of ``level`` from hash ``start`` on, concatenated (for persisting them)."""
        return bytes(self._levels[level][start * HASH_SIZE :])

    def leaf_hash_at(self, index: int) -> bytes:
        self._check_index(index, self.size, "index")
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        size = self._checked_size(size, "size")
        return EMPTY_ROOT if size == 0 else self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:size]): the audit path from leaf ``index`` to the root."""
        size = self._checked_size(size, "size")
        self._check_index(index, size, "index")
        return self._path(index, 0, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[0:new_size]): the tree at ``old_size`` is a prefix of it."""
        new_size = self._checked_size(new_size, "new_size")
        if isinstance(old_size, bool) or not isinstance(old_size, int) or not 0 <= old_size <= new_size:
            raise InvalidInputError("old_size", f"must be an integer from 0 to {new_size}")
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, complete=True)

    # -- the RFC's recursions, over stored subtree hashes --------------------------------

    def _range_hash(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n & (n - 1) == 0:  # a perfect subtree; the RFC's splits keep it aligned
            k = n.bit_length() - 1
            start = (lo >> k) * HASH_SIZE
            return bytes(self._levels[k][start : start + HASH_SIZE])
        k = _split(n)
        return node_hash(self._range_hash(lo, lo + k), self._range_hash(lo + k, hi))

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < lo + k:
            return [*self._path(m, lo, lo + k), self._range_hash(lo + k, hi)]
        return [*self._path(m, lo + k, hi), self._range_hash(lo, lo + k)]

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self._range_hash(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete), self._range_hash(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self._range_hash(lo, lo + k)]

    # -- checks ---------------------------------------------------------------------------

    def _checked_size(self, size: int | None, name: str) -> int:
        if size is None:
            return self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= self.size:
            raise InvalidInputError(name, f"must be an integer from 0 to {self.size}")
        return size

    @staticmethod
    def _check_index(index: int, size: int, name: str) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise InvalidInputError(name, f"must be an integer from 0 to {size - 1}")
