"""The access log: every look at a person's data, append-only and provable.

On disk, in one directory::

    entries.log   records [u32 size | u32 crc32 | entry JSON], one per access
    leaves.bin    the RFC 6962 leaf hash of each entry, 32 bytes each, same order
    heads.log     signed tree heads [u64 size | u64 timestamp | root 32 | Ed25519 sig 64]
    log.key       the Ed25519 signing key (raw 32 bytes, mode 0600)

``entries.log`` is the truth; ``leaves.bin`` only spares a re-hash of every entry at
start-up and is rebuilt from the entries when it is short. ``verify_log`` re-hashes
everything and checks every stored tree head, naming the first bad entry.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tessera.audit.merkle import HASH_SIZE, MerkleTree, leaf_hash
from tessera.errors import CorruptionError, InvalidInputError

FRAME = struct.Struct("<II")
HEAD = struct.Struct("<QQ32s64s")
TEXT_MAX = 200
FIELDS_MAX = 32
BATCH_MAX = 65_536


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One read or write of a person's data by someone other than that person."""

    time_ns: int
    principal: str
    role: str
    agency: str
    purpose: str
    subject: str
    fields: tuple[str, ...]
    outcome: str

    def encode(self) -> bytes:
        """Canonical JSON: the bytes that are hashed, so the same entry always hashes the same."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> AccessEntry:
        raw = json.loads(data)
        return cls(**{**raw, "fields": tuple(raw["fields"])})


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """The log's root at ``size`` entries, signed, so an auditor can hold the log to it."""

    size: int
    timestamp: int
    root: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        return struct.pack("<QQ", self.size, self.timestamp) + self.root

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, self.signed_bytes())
        except InvalidSignature:
            return False
        return True


def _checked_entry(entry: object, i: int) -> AccessEntry:
    name = f"entries[{i}]"
    if not isinstance(entry, AccessEntry):
        raise InvalidInputError(name, f"must be an AccessEntry, got {type(entry).__name__}")
    if isinstance(entry.time_ns, bool) or not isinstance(entry.time_ns, int) or entry.time_ns < 0:
        raise InvalidInputError(f"{name}.time_ns", "must be a non-negative integer")
    for field in ("principal", "role", "agency", "purpose", "subject", "outcome"):
        value = getattr(entry, field)
        if not isinstance(value, str) or not value.strip() or len(value) > TEXT_MAX:
            raise InvalidInputError(f"{name}.{field}", f"must be non-empty text of at most {TEXT_MAX} characters")
    if not isinstance(entry.fields, tuple) or len(entry.fields) > FIELDS_MAX:
        raise InvalidInputError(f"{name}.fields", f"must be a tuple of at most {FIELDS_MAX} names")
    for j, value in enumerate(entry.fields):
        if not isinstance(value, str) or not value or len(value) > TEXT_MAX:
            raise InvalidInputError(f"{name}.fields[{j}]", "must be a non-empty field name")
    return entry


def _read_frames(path: Path) -> tuple[list[bytes], list[int], int]:
    """Entry payloads and their byte offsets, and where whole frames end (a torn tail follows)."""
    data = path.read_bytes() if path.exists() else b""
    payloads: list[bytes] = []
    offsets: list[int] = []
    offset = 0
    while offset + FRAME.size <= len(data):
        size, crc = FRAME.unpack_from(data, offset)
        end = offset + FRAME.size + size
        if end > len(data) or zlib.crc32(data[offset + FRAME.size : end]) != crc:
            break
        payloads.append(data[offset + FRAME.size : end])
        offsets.append(offset)
        offset = end
    return payloads, offsets, offset


def _load_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return Ed25519PrivateKey.from_private_bytes(path.read_bytes())
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes_raw())
        f.flush()
        os.fsync(f.fileno())
    return key


class AccessLog:
    """Append-only, hash-chained (Merkle) log of access entries in one directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key = _load_key(path / "log.key")
        entries_path, leaves_path = path / "entries.log", path / "leaves.bin"
        payloads, _, end = _read_frames(entries_path)
        if entries_path.exists() and end < entries_path.stat().st_size:
            os.truncate(entries_path, end)  # a torn last append: never acknowledged
        stored = leaves_path.read_bytes() if leaves_path.exists() else b""
        have = min(len(stored) // HASH_SIZE, len(payloads))
        leaves = [stored[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(have)]
        leaves += [leaf_hash(p) for p in payloads[have:]]
        if len(stored) != len(leaves) * HASH_SIZE:  # a short or long cache is rewritten whole
            with open(leaves_path, "wb") as f:
                f.write(b"".join(leaves))
                f.flush()
                os.fsync(f.fileno())
        self._tree = MerkleTree()
        self._tree.append_leaf_hashes(leaves)
        self._entries = open(entries_path, "ab")  # noqa: SIM115 - held open for the log's lifetime
        self._leaves = open(leaves_path, "ab")  # noqa: SIM115 - same
        self._heads = open(path / "heads.log", "ab")  # noqa: SIM115 - same

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> AccessLog:
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory)

    def close(self) -> None:
        for f in (self._entries, self._leaves, self._heads):
            f.close()

    def __enter__(self) -> AccessLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self._tree.size

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def append(self, entries: Sequence[AccessEntry]) -> int:
        """Durably append a batch of entries; returns the new log size."""
        if isinstance(entries, str | bytes) or not isinstance(entries, Sequence) or not entries:
            raise InvalidInputError("entries", "must be a non-empty list of AccessEntry")
        if len(entries) > BATCH_MAX:
            raise InvalidInputError("entries", f"at most {BATCH_MAX} per batch, got {len(entries)}")
        payloads = [_checked_entry(e, i).encode() for i, e in enumerate(entries)]
        hashes = [leaf_hash(p) for p in payloads]
        self._entries.write(b"".join(FRAME.pack(len(p), zlib.crc32(p)) + p for p in payloads))
        self._leaves.write(b"".join(hashes))
        for f in (self._entries, self._leaves):
            f.flush()
            os.fdatasync(f.fileno())
        return self._tree.append_leaf_hashes(hashes)

    def tree_head(self) -> SignedTreeHead:
        """Sign the current root and keep the head, so later heads can be proven consistent."""
        size, timestamp = self.size, time.time_ns()
        unsigned = SignedTreeHead(size, timestamp, self._tree.root(), b"")
        head = SignedTreeHead(size, timestamp, unsigned.root, self._key.sign(unsigned.signed_bytes()))
        self._heads.write(HEAD.pack(head.size, head.timestamp, head.root, head.signature))
        self._heads.flush()
        os.fdatasync(self._heads.fileno())
        return head

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return self._tree.consistency_proof(old_size, new_size)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify_log`` checked."""

    entries: int
    tree_heads: int
    root: bytes


def verify_log(path: str | os.PathLike[str]) -> VerifyReport:
    """Re-hash every entry and check every stored tree head; raise CorruptionError at the first fault."""
    directory = Path(path)
    entries_path = directory / "entries.log"
    if not entries_path.exists():
        raise InvalidInputError("path", f"{directory} holds no access log")
    payloads, offsets, end = _read_frames(entries_path)
    if end != entries_path.stat().st_size:
        raise CorruptionError(str(entries_path), end, f"entry {len(payloads)} fails its checksum")
    for i, payload in enumerate(payloads):
        try:
            AccessEntry.decode(payload)
        except (ValueError, TypeError) as error:
            reason = f"entry {i} is not a valid access entry: {error}"
            raise CorruptionError(str(entries_path), offsets[i], reason) from None
    tree = MerkleTree()
    tree.append_leaf_hashes([leaf_hash(p) for p in payloads])
    stored = (directory / "leaves.bin").read_bytes()
    for i in range(min(len(payloads), len(stored) // HASH_SIZE)):
        if stored[i * HASH_SIZE : (i + 1) * HASH_SIZE] != tree.leaf_hash_at(i):
            raise CorruptionError(str(directory / "leaves.bin"), i * HASH_SIZE, f"leaf {i} does not match entry {i}")
    public_key = Ed25519PrivateKey.from_private_bytes((directory / "log.key").read_bytes()).public_key()
    heads = (directory / "heads.log").read_bytes() if (directory / "heads.log").exists() else b""
    count = len(heads) // HEAD.size
    for h in range(count):
        head = SignedTreeHead(*HEAD.unpack_from(heads, h * HEAD.size))
        offset = h * HEAD.size
        if not head.verify(public_key):
            raise CorruptionError(str(directory / "heads.log"), offset, f"tree head {h} has a bad signature")
        if head.size > tree.size or tree.root(head.size) != head.root:
            raise CorruptionError(
                str(directory / "heads.log"), offset, f"tree head {h} (size {head.size}) does not match the entries"
            )
    return VerifyReport(len(payloads), count, tree.root())
