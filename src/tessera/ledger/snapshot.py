"""Snapshots: the state's arrays written atomically, so recovery replays only a short journal.

File layout: ``TSSNAP01`` | header length u32 | header crc32 u32 | JSON header | arrays.
The header lists each array's offset, length and checksum; a snapshot is written to a
temporary name, fsynced, renamed into place and the directory fsynced, so a crash leaves
either the old snapshot or the new one, never half of one.

The checksums catch damage, not forgery: a file that passes them is still checked field
by field (``state.check_arrays``) before the engine follows any index stored in it.
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
from tessera.ledger.state import StateArrayError, check_arrays

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


def _header_int(header: dict[str, Any], key: str, path: Path, offset: int) -> int:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SnapshotCorruptError(str(path), offset, f"header field {key!r} is not a non-negative integer")
    return value


def read_snapshot(path: Path, dtypes: dict[str, np.dtype[Any]]) -> Snapshot:
    """Load and verify a snapshot; any mismatch raises SnapshotCorruptError naming the offset.

    Past the checksums, the header's layout and the arrays' contents are checked too
    (``state.check_arrays``), so a crafted file is refused here, never followed.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(PREFIX.size)
        if len(prefix) < PREFIX.size:
            raise SnapshotCorruptError(str(path), 0, "file shorter than its prefix")
        magic, header_size, header_crc = PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise SnapshotCorruptError(str(path), 0, "not a Tessera snapshot")
        header_bytes = f.read(min(header_size, size))
        if len(header_bytes) != header_size or zlib.crc32(header_bytes) != header_crc:
            raise SnapshotCorruptError(str(path), PREFIX.size, "header checksum mismatch")
        try:
            header = json.loads(header_bytes)
        except (UnicodeDecodeError, ValueError, RecursionError):
            header = None
        if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
            raise SnapshotCorruptError(str(path), PREFIX.size, "header is not a snapshot header")
        seq = _header_int(header, "seq", path, PREFIX.size)
        last_timestamp = _header_int(header, "last_timestamp", path, PREFIX.size)
        extra = header.get("extra", {})
        if not isinstance(extra, dict):
            raise SnapshotCorruptError(str(path), PREFIX.size, "header field 'extra' is not an object")
        base = PREFIX.size + header_size
        arrays: dict[str, npt.NDArray[Any]] = {}
        offsets: dict[str, int] = {}
        for item in header["arrays"]:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or name not in dtypes or name in arrays:
                raise SnapshotCorruptError(str(path), base, f"unknown or repeated array {name!r}")
            offset = _header_int(item, "offset", path, PREFIX.size)
            nbytes = _header_int(item, "size", path, PREFIX.size)
            checksum = _header_int(item, "checksum", path, PREFIX.size)
            if base + offset + nbytes > size:
                raise SnapshotCorruptError(str(path), base + offset, f"array {name!r} runs past the end of the file")
            if nbytes % dtypes[name].itemsize:
                raise SnapshotCorruptError(str(path), base + offset, f"array {name!r} is not whole records")
            f.seek(base + offset)
            raw = f.read(nbytes)
            if len(raw) != nbytes or _engine.checksum(raw) != checksum:
                raise SnapshotCorruptError(str(path), base + offset, f"array {name!r} checksum mismatch")
            arrays[name] = np.frombuffer(bytearray(raw), dtype=dtypes[name])
            offsets[name] = base + offset
    try:
        check_arrays(arrays)
    except StateArrayError as error:
        name = error.field.split(".")[0]  # "meta.prev_debit" is a field of the array "meta"
        where = offsets.get(name, base) + (error.index or 0) * (dtypes[name].itemsize if name in dtypes else 0)
        raise SnapshotCorruptError(str(path), where, str(error)) from None
    return Snapshot(seq, last_timestamp, arrays, extra)
