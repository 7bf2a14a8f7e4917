"""The log directory's files other than the entries: names, record formats, lock, key.

See ``tessera.audit.log`` for the layout as a whole and the recovery rule.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HEAD = struct.Struct("<QQ32s64s")
CHECKPOINT = struct.Struct("<QQ")
INDEX_DTYPE = np.dtype([("offset", "<u8"), ("key", "<u8")])


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


def write_all(fd: int, data: bytes) -> None:
    """os.write until all of ``data`` is written (a regular file may take it in parts)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def level_path(directory: Path, level: int) -> Path:
    """The cache file of one tree level: ``leaves.bin`` for level 0, ``nodes-KK.bin`` above."""
    return directory / ("leaves.bin" if level == 0 else f"nodes-{level:02d}.bin")


def read_checkpoint(directory: Path) -> tuple[int, int]:
    """(entries, bytes) the caches durably cover; (0, 0) when there is no sound checkpoint."""
    try:
        data = (directory / "checkpoint.bin").read_bytes()
    except FileNotFoundError:
        return 0, 0
    if len(data) != CHECKPOINT.size + 4 or zlib.crc32(data[: CHECKPOINT.size]) != int.from_bytes(data[-4:], "little"):
        return 0, 0
    count, end = CHECKPOINT.unpack_from(data)
    return count, end


def write_checkpoint(directory: Path, count: int, end: int) -> None:
    """Record that the caches cover ``count`` entries (``end`` bytes): a new file, fsynced, renamed."""
    record = CHECKPOINT.pack(count, end)
    tmp = directory / "checkpoint.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, record + zlib.crc32(record).to_bytes(4, "little"))
        os.fdatasync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / "checkpoint.bin")
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_prefix(path: Path, nbytes: int, record: int) -> bytearray:
    """Up to ``nbytes`` from the start of ``path``, in whole records (fewer if it is short or missing)."""
    try:
        with open(path, "rb") as f:
            buf = bytearray(min(nbytes, os.fstat(f.fileno()).st_size) // record * record)
            view = memoryview(buf)
            while view:
                view = view[f.readinto(view) :]
            return buf
    except FileNotFoundError:
        return bytearray()


def load_key(path: Path) -> Ed25519PrivateKey:
    """The key that signs tree heads, created on first open and readable by its owner only."""
    if path.exists():
        return Ed25519PrivateKey.from_private_bytes(path.read_bytes())
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes_raw())
        f.flush()
        os.fsync(f.fileno())
    return key
