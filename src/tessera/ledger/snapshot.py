"""Snapshots: the state's arrays written atomically, so recovery replays only a short journal.

File layout: ``TSSNAP01`` | header length u32 | header crc32 u32 | JSON header | arrays.
The header lists each array's offset, length and checksum; a snapshot is written to a
temporary name, fsynced, renamed into place and the directory fsynced, so a crash leaves
either the old snapshot or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.errors import SnapshotCorruptError
from tessera.ledger import _engine
from tessera.ledger.journal import fsync_directory

MAGIC = b"TSSNAP01"
PREFIX = struct.Struct("<8sII")
SUFFIX = ".snapshot"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a snapshot holds: the state's arrays as of journal entry ``seq``."""

    seq: int
    last_timestamp: int
    arrays: dict[str, npt.NDArray[Any]]
    extra: dict[str, Any]


def snapshot_name(seq: int) -> str:
    return f"{seq:020d}{SUFFIX}"


def list_snapshots(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))


def write_snapshot(directory: Path, snapshot: Snapshot) -> Path:
    final = directory / snapshot_name(snapshot.seq)
    temporary = final.with_suffix(".tmp")
    layout = []
    offset = 0
    for name, array in snapshot.arrays.items():
        data = np.ascontiguousarray(array)
        layout.append({"name": name, "offset": offset, "size": data.nbytes, "checksum": _engine.checksum(data)})
        offset += data.nbytes
    header = json.dumps(
        {
            "seq": snapshot.seq,
            "last_timestamp": snapshot.last_timestamp,
            "arrays": layout,
            "extra": snapshot.extra,
        }
    ).encode()
    with open(temporary, "wb") as f:
        f.write(PREFIX.pack(MAGIC, len(header), zlib.crc32(header)))
        f.write(header)
        for array in snapshot.arrays.values():
            f.write(np.ascontiguousarray(array).data.cast("B"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, final)
    fsync_directory(directory)
    return final


def read_snapshot(path: Path, dtypes: dict[str, np.dtype[Any]]) -> Snapshot:
    """Load and verify a snapshot; any mismatch raises SnapshotCorruptError naming the offset."""
    with open(path, "rb") as f:
        prefix = f.read(PREFIX.size)
        if len(prefix) < PREFIX.size:
            raise SnapshotCorruptError(str(path), 0, "file shorter than its prefix")
        magic, header_size, header_crc = PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise SnapshotCorruptError(str(path), 0, "not a Tessera snapshot")
        header_bytes = f.read(header_size)
        if len(header_bytes) != header_size or zlib.crc32(header_bytes) != header_crc:
            raise SnapshotCorruptError(str(path), PREFIX.size, "header checksum mismatch")
        header = json.loads(header_bytes)
        base = PREFIX.size + header_size
        arrays: dict[str, npt.NDArray[Any]] = {}
        for item in header["arrays"]:
            name = item["name"]
            if name not in dtypes:
                raise SnapshotCorruptError(str(path), base, f"unknown array {name!r}")
            f.seek(base + item["offset"])
            raw = f.read(item["size"])
            if len(raw) != item["size"] or _engine.checksum(raw) != item["checksum"]:
                raise SnapshotCorruptError(str(path), base + item["offset"], f"array {name!r} checksum mismatch")
            arrays[name] = np.frombuffer(bytearray(raw), dtype=dtypes[name])
    return Snapshot(header["seq"], header["last_timestamp"], arrays, header.get("extra", {}))
