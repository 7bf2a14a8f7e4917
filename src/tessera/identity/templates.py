"""Biometric templates as the capture device delivers them: one face and up to ten fingers.

Tessera accepts and stores templates only, never images. A template is the capture
device's embedding of a capture:

- **face**: ``FACE_DIMS`` (512) float32 values, compared by cosine;
- **finger**: ``FINGER_DIMS`` (256) float32 values, the device's fixed-length embedding
  of the print's minutiae, compared by cosine; at most ``FINGERS_MAX`` (10), each
  tagged with its finger position as in ISO/IEC 19794 (1 right thumb, 2 right index,
  3 right middle, 4 right ring, 5 right little, 6 left thumb ... 10 left little).

``checked_templates`` is the way in: it accepts what a device or a JSON body carries
(numpy arrays, lists of numbers, base64 of little-endian float32), names the exact spot
of anything wrong, and returns unit-length vectors. ``Templates.to_bytes`` is the
stored form, little-endian::

    offset  size         field
    0       4            magic b"TSTP"
    4       1            version (1)
    5       1            m: finger templates (0..10)
    6       2            face dims (512)
    8       2            finger dims (256)
    10      2            reserved, zero
    12      2048         face, float32
    2060    m            finger positions, one byte each, ascending
    ...     0..3         zero padding to a multiple of 4
    ...     1024 * m     finger templates in position order, float32
    end-4   4            crc32 of everything before it
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.errors import CorruptionError, InvalidInputError

FACE_DIMS = 512
FINGER_DIMS = 256
FINGERS_MAX = 10
FINGER_POSITIONS: dict[int, str] = {
    1: "right thumb",
    2: "right index",
    3: "right middle",
    4: "right ring",
    5: "right little",
    6: "left thumb",
    7: "left index",
    8: "left middle",
    9: "left ring",
    10: "left little",
}

MAGIC = b"TSTP"
VERSION = 1
HEADER = struct.Struct("<4sBBHHH")
FACE_OFFSET = HEADER.size  # the face sits at a fixed offset, so the gallery can read it without parsing
BASE64_CHARS_MAX = 16_384  # far above the 2,732 characters of a face: a bound, not a format rule
_FINGER_KEYS = ("position", "template")  # a finger is given as a mapping of these or as a pair in this order
NORM_TOLERANCE = 1e-3  # float32 rounding of a normalised vector stays far inside this

Vector = npt.NDArray[np.float32]


def encoded_size(fingers: int) -> int:
    """Bytes of ``to_bytes`` for templates with ``fingers`` finger templates."""
    return FACE_OFFSET + FACE_DIMS * 4 + _padded(fingers) + FINGER_DIMS * 4 * fingers + 4


def finger_offset(fingers: int) -> int:
    """Byte offset of the first finger template in ``to_bytes`` of templates with ``fingers`` fingers."""
    return FACE_OFFSET + FACE_DIMS * 4 + _padded(fingers)


def _padded(n: int) -> int:
    return (n + 3) & ~3


@dataclass(frozen=True, slots=True, eq=False)
class Templates:
    """One person's face template and finger templates (position, vector), unit length.

    Build it with ``checked_templates``; the constructor checks shapes and order only,
    not values. The arrays are read-only. Two Templates are equal when their bytes are.
    """

    face: Vector  # (FACE_DIMS,) float32, L2-normalised
    fingers: tuple[tuple[int, Vector], ...] = ()  # (position 1..10, (FINGER_DIMS,) float32), ascending positions

    def __post_init__(self) -> None:
        _check_shape(self.face, FACE_DIMS, "templates.face")
        if len(self.fingers) > FINGERS_MAX:
            raise InvalidInputError("templates.fingers", f"at most {FINGERS_MAX} finger templates")
        previous = 0
        for i, pair in enumerate(self.fingers):
            position, vector = pair
            if type(position) is not int or not previous < position <= FINGERS_MAX:
                raise InvalidInputError(
                    f"templates.fingers[{i}].position", "positions must be 1..10, ascending, without repeats"
                )
            previous = position
            _check_shape(vector, FINGER_DIMS, f"templates.fingers[{i}].template")

    @property
    def positions(self) -> tuple[int, ...]:
        """The finger positions present, ascending."""
        return tuple(p for p, _ in self.fingers)

    @property
    def finger_mask(self) -> int:
        """The finger positions present as bits: bit ``p - 1`` for position ``p``."""
        mask = 0
        for p, _ in self.fingers:
            mask |= 1 << (p - 1)
        return mask

    def to_bytes(self) -> bytes:
        """The stored form (see the module docstring)."""
        m = len(self.fingers)
        parts = [
            HEADER.pack(MAGIC, VERSION, m, FACE_DIMS, FINGER_DIMS, 0),
            self.face.astype("<f4", copy=False).tobytes(),
            bytes(self.positions).ljust(_padded(m), b"\0"),
            *(v.astype("<f4", copy=False).tobytes() for _, v in self.fingers),
        ]
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Templates:
        """Templates from ``to_bytes``; CorruptionError names the byte offset of any damage."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInputError("templates", f"must be bytes, got {type(data).__name__}")
        raw = bytes(data)
        if len(raw) < encoded_size(0):
            raise CorruptionError("templates", len(raw), f"too short for templates ({len(raw)} bytes)")
        magic, version, m, face_dims, finger_dims, _ = HEADER.unpack_from(raw)
        if magic != MAGIC:
            raise CorruptionError("templates", 0, f"bad magic {magic!r}")
        if version != VERSION:
            raise CorruptionError("templates", 4, f"unknown version {version}")
        if (face_dims, finger_dims) != (FACE_DIMS, FINGER_DIMS) or m > FINGERS_MAX:
            raise CorruptionError("templates", 5, f"bad sizes: {m} fingers, dims {face_dims}/{finger_dims}")
        if len(raw) != encoded_size(m):
            raise CorruptionError("templates", len(raw), f"{len(raw)} bytes, expected {encoded_size(m)}")
        (stored,) = struct.unpack_from("<I", raw, len(raw) - 4)
        if zlib.crc32(memoryview(raw)[:-4]) != stored:
            raise CorruptionError("templates", len(raw) - 4, "checksum mismatch")
        return _decoded(raw, m)

    def digest(self) -> str:
        """SHA-256 of ``to_bytes`` in hex: names these templates (in an audit entry) without holding them."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Templates):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())


def _decoded(raw: bytes, m: int) -> Templates:
    """Templates from checksummed bytes; values are checked too, since a buggy writer passes a crc."""
    at = FACE_OFFSET + FACE_DIMS * 4
    positions = list(raw[at : at + m])
    if positions != sorted(set(positions)) or not all(1 <= p <= FINGERS_MAX for p in positions):
        raise CorruptionError("templates", at, f"bad finger positions {positions}")
    face = np.frombuffer(raw, "<f4", FACE_DIMS, FACE_OFFSET).astype(np.float32)
    at += _padded(m)
    fingers = []
    for k, p in enumerate(positions):
        fingers.append((p, np.frombuffer(raw, "<f4", FINGER_DIMS, at + k * FINGER_DIMS * 4).astype(np.float32)))
    for name, vector in (("face", face), *((f"finger {p}", v) for p, v in fingers)):
        if not np.isfinite(vector).all() or abs(float(np.dot(vector, vector)) - 1.0) > NORM_TOLERANCE:
            raise CorruptionError("templates", FACE_OFFSET, f"the {name} template is not a finite unit vector")
        vector.flags.writeable = False
    return Templates(face, tuple(fingers))


def _check_shape(vector: object, dims: int, field: str) -> None:
    if not isinstance(vector, np.ndarray) or vector.dtype != np.float32 or vector.shape != (dims,):
        got = f"{vector.dtype} {vector.shape}" if isinstance(vector, np.ndarray) else type(vector).__name__
        raise InvalidInputError(field, f"must be a ({dims},) float32 array, got {got}")


def checked_templates(face: object, fingers: object = (), field: str = "templates") -> Templates:
    """Templates from what a device or a request carries; InvalidInputError names the exact spot.

    ``face`` is a numpy array, a list of numbers or a base64 string of ``FACE_DIMS``
    little-endian float32 values. ``fingers`` is a sequence of ``(position, vector)``
    pairs or of ``{"position": int, "template": vector}`` mappings, vectors in the same
    forms. Every vector is normalised to unit length; fingers come back sorted by position.
    """
    face_vector = checked_vector(face, FACE_DIMS, f"{field}.face")
    if isinstance(fingers, str | bytes | Mapping) or not isinstance(fingers, Sequence):
        raise InvalidInputError(f"{field}.fingers", f"must be a list of finger templates, got {type(fingers).__name__}")
    if len(fingers) > FINGERS_MAX:
        raise InvalidInputError(f"{field}.fingers", f"at most {FINGERS_MAX} finger templates, got {len(fingers)}")
    seen: dict[int, int] = {}
    pairs: list[tuple[int, Vector]] = []
    for i, item in enumerate(fingers):
        spot = f"{field}.fingers[{i}]"
        position, vector = _finger_item(item, spot)
        if type(position) is not int or not 1 <= position <= FINGERS_MAX:
            raise InvalidInputError(
                f"{spot}.position", f"must be a finger position 1..10 (ISO/IEC 19794), got {position!r:.40}"
            )
        if position in seen:
            raise InvalidInputError(
                f"{spot}.position", f"finger {position} appears twice (also {field}.fingers[{seen[position]}])"
            )
        seen[position] = i
        pairs.append((position, checked_vector(vector, FINGER_DIMS, f"{spot}.template")))
    pairs.sort(key=lambda pair: pair[0])
    return Templates(face_vector, tuple(pairs))


def _finger_item(item: object, spot: str) -> tuple[object, object]:
    if isinstance(item, Mapping):
        extra = set(item) - set(_FINGER_KEYS)
        if extra:
            raise InvalidInputError(spot, f"unknown key {sorted(map(str, extra))[0]!r}")
        for key in _FINGER_KEYS:
            if key not in item:
                raise InvalidInputError(f"{spot}.{key}", "is missing")
        return item["position"], item["template"]
    if isinstance(item, tuple | list) and len(item) == len(_FINGER_KEYS):
        return item[0], item[1]
    raise InvalidInputError(spot, "must be a (position, template) pair or {'position': ..., 'template': ...}")


def checked_vector(value: object, dims: int, field: str) -> Vector:
    """A fresh read-only unit-length float32 copy of ``value`` (array, list of numbers or base64)."""
    if isinstance(value, str):
        array = _from_base64(value, dims, field)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise InvalidInputError(field, f"must hold numbers, got dtype {value.dtype}")
        if value.ndim != 1:
            raise InvalidInputError(field, f"must be a flat vector of {dims} values, got shape {value.shape}")
        array = value.astype(np.float64)
    elif isinstance(value, list | tuple):
        for i, x in enumerate(value):
            if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
                raise InvalidInputError(f"{field}[{i}]", f"must be a number, got {type(x).__name__}")
        array = np.array(value, dtype=np.float64)
    else:
        raise InvalidInputError(
            field, f"must be an array, a list of numbers or a base64 string, got {type(value).__name__}"
        )
    if array.shape != (dims,):
        raise InvalidInputError(field, f"must be {dims} float32 values, got {array.size}")
    _check_values(array, field)
    vector = array.astype(np.float32)
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    vector /= np.float32(norm)
    vector.flags.writeable = False
    return vector


def _from_base64(text: str, dims: int, field: str) -> npt.NDArray[np.float64]:
    if len(text) > BASE64_CHARS_MAX:
        raise InvalidInputError(field, f"must be base64 of {dims} float32 values, got {len(text)} characters")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(field, "is not valid base64") from None
    if len(raw) != dims * 4:
        raise InvalidInputError(field, f"must be {dims} float32 values ({dims * 4} bytes), got {len(raw)} bytes")
    return np.frombuffer(raw, "<f4").astype(np.float64)


def _check_values(array: npt.NDArray[Any], field: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInputError(f"{field}[{i}]", "is NaN" if np.isnan(array[i]) else "is infinite")
    too_big = np.abs(array) > np.finfo(np.float32).max
    if too_big.any():
        raise InvalidInputError(f"{field}[{int(np.argmax(too_big))}]", "is too large for float32")
    if not array.any():
        raise InvalidInputError(field, "is all zeros")
    norm = float(np.linalg.norm(array.astype(np.float32).astype(np.float64)))
    if not np.isfinite(norm) or norm == 0.0:
        raise InvalidInputError(field, "cannot be scaled to unit length (too small or too large)")
