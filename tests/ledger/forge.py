"""Forged snapshots: change what a snapshot holds and make every checksum match again, as a forger would."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.ledger import _engine
from tessera.ledger.state import State

PREFIX = struct.Struct("<8sII")


def _parts(data: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    magic, header_size, _ = PREFIX.unpack_from(data)
    header = json.loads(data[PREFIX.size : PREFIX.size + header_size])
    return magic, header, data[PREFIX.size + header_size :]


def _joined(magic: bytes, header: dict[str, Any], body: bytes) -> bytes:
    header_bytes = json.dumps(header).encode()
    return PREFIX.pack(magic, len(header_bytes), zlib.crc32(header_bytes)) + header_bytes + body


def forge_arrays(data: bytes, change: Callable[[dict[str, npt.NDArray[Any]]], None]) -> bytes:
    """A snapshot's bytes with its arrays changed by ``change`` (in place) and its checksums redone."""
    magic, header, body = _parts(data)
    arrays = {
        item["name"]: np.frombuffer(
            bytearray(body[item["offset"] : item["offset"] + item["size"]]), dtype=State.ARRAY_DTYPES[item["name"]]
        )
        for item in header["arrays"]
    }
    change(arrays)
    offset, layout, raws = 0, [], []
    for item in header["arrays"]:
        raw = arrays[item["name"]].tobytes()
        layout.append({**item, "offset": offset, "size": len(raw), "checksum": _engine.checksum(raw)})
        raws.append(raw)
        offset += len(raw)
    return _joined(magic, {**header, "arrays": layout}, b"".join(raws))


def forge_header(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """A snapshot's bytes with its JSON header changed by ``change`` (in place) and its checksum redone."""
    magic, header, body = _parts(data)
    change(header)
    return _joined(magic, header, body)


def forge(path: Path, name: str, change: Callable[[npt.NDArray[Any]], None]) -> None:
    """Change one array of the snapshot at ``path`` in place."""
    path.write_bytes(forge_arrays(path.read_bytes(), lambda arrays: change(arrays[name])))
