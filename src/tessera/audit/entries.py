"""An access entry on its way in and out: checks, canonical JSON, frames, subject keys.

The canonical JSON of an entry is what its leaf hash covers; a frame ``[u32 size | u32
crc32 | JSON]`` is how it lies in ``entries.log``. Everything per entry on the append
path is here, written for whole batches: a loop per entry costs more than the hashing.

Where the extension ``tessera.audit._prepare`` is built (it needs OpenSSL and zlib), it
does the checks, JSON, frames and hashes of a plainly valid batch in one C call, byte for
byte as the Python code here does them; for anything else it answers None and the Python
path below decides, so faults are always named here.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from json.encoder import encode_basestring_ascii
from operator import attrgetter
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidInputError
from tessera.limits import ID_LIMIT

try:
    from tessera.audit import _prepare
except ImportError:  # built without OpenSSL or zlib: the Python path below, same bytes
    _prepare = None  # type: ignore[assignment]

FRAME = struct.Struct("<II")
TEXT_MAX = 200
FIELDS_MAX = 32
BATCH_MAX = 65_536
# Every text escaped at worst (12 bytes a character) stays under this; a larger size in a
# frame header can only be damage.
PAYLOAD_BYTES_MAX = 128 * 1024
SCAN_CHUNK = 1 << 22
READ_AHEAD = 1024


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
        """Canonical JSON: the bytes that are hashed, so the same entry always hashes the same.

        Byte for byte ``json.dumps(asdict(entry), sort_keys=True, separators=(",", ":"))``.
        """
        return canonical_json([self])[0]

    @classmethod
    def decode(cls, data: bytes) -> AccessEntry:
        raw = json.loads(data)
        return cls(**{**raw, "fields": tuple(raw["fields"])})


if _prepare is not None:
    _prepare.configure(AccessEntry, TEXT_MAX, FIELDS_MAX)


def subject_key_bytes(subjects: Sequence[str]) -> bytes:
    """The index keys of subjects, 8 bytes each: the start of BLAKE2b-512 of their UTF-8."""
    blake2b = hashlib.blake2b
    return b"".join([blake2b(s.encode("utf-8", "surrogatepass")).digest()[:8] for s in subjects])


def subject_keys(subjects: Sequence[str]) -> npt.NDArray[np.uint64]:
    """The index keys of subjects as little-endian u64."""
    return np.frombuffer(subject_key_bytes(subjects), "<u8")


def checked_entry(entry: object, i: int) -> AccessEntry:
    name = f"entries[{i}]"
    if not isinstance(entry, AccessEntry):
        raise InvalidInputError(name, f"must be an AccessEntry, got {type(entry).__name__}")
    time_ns = entry.time_ns
    if isinstance(time_ns, bool) or not isinstance(time_ns, int) or not 0 <= time_ns < ID_LIMIT:
        raise InvalidInputError(f"{name}.time_ns", "must be an integer from 0 to 2**63 - 1")
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


def canonical_json(entries: Sequence[AccessEntry]) -> list[bytes]:
    """The canonical JSON of each entry, written out by hand: ``json.dumps`` costs ten times as much.

    Strings go through the json module's own escaper, so the bytes are the same; field
    lists repeat from entry to entry and are escaped once per batch.
    """
    q = encode_basestring_ascii
    names = {fields: ",".join(map(q, fields)) for fields in {e.fields for e in entries}}
    return [
        f'{{"agency":{q(e.agency)},"fields":[{names[e.fields]}],"outcome":{q(e.outcome)},'
        f'"principal":{q(e.principal)},"purpose":{q(e.purpose)},"role":{q(e.role)},'
        f'"subject":{q(e.subject)},"time_ns":{int(e.time_ns)}}}'.encode()
        for e in entries
    ]


# Who looked, as whom, for what and with what outcome repeats from entry to entry; checking
# each distinct value once costs a set per column instead of three passes over it.
_REPEATING_TEXTS = tuple(map(attrgetter, ("principal", "role", "agency", "purpose", "outcome")))


def plainly_valid(entries: Sequence[object]) -> bool:
    """The rules of ``checked_entry``, column by column at C speed; False lets it name the fault.

    An unhashable or non-text value raises TypeError somewhere in here, which also means
    False: the slow check then finds it and names it.
    """
    try:
        if set(map(type, entries)) != {AccessEntry}:
            return False
        times = [e.time_ns for e in entries]  # type: ignore[attr-defined]
        if set(map(type, times)) != {int} or min(times) < 0 or max(times) >= ID_LIMIT:
            return False
        lists = set(map(attrgetter("fields"), entries))
        if set(map(type, lists)) != {tuple} or max(map(len, lists)) > FIELDS_MAX:
            return False
        names = set(chain.from_iterable(lists))
        if names and (min(map(len, names)) < 1 or max(map(len, names)) > TEXT_MAX or set(map(type, names)) != {str}):
            return False
        columns: list[Collection[str]] = [set(map(get, entries)) for get in _REPEATING_TEXTS]
        columns.append([e.subject for e in entries])  # type: ignore[attr-defined]
        for column in columns:
            # str.isspace raises TypeError on anything but text, so this checks the types too.
            if min(map(len, column)) < 1 or max(map(len, column)) > TEXT_MAX or any(map(str.isspace, column)):
                return False
    except TypeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Batches ready to write: everything per entry was done before taking the log's lock."""

    frames: bytes
    leaves: bytes
    sizes: list[int]  # of each frame
    keys: bytes  # 8 bytes an entry
    errors: list[InvalidInputError | None]  # one per batch given; a refused batch is left out


def prepare_batches(batches: Sequence[Sequence[AccessEntry]]) -> PreparedBatch:
    """Check, encode, frame and hash several callers' batches in one pass.

    One pass over all of them costs far less than one per batch: the column checks and
    array calls cost the same for 16 entries as for 1000. A batch that fails its checks
    gets its own error, naming its own entry and field; the others go ahead.
    """
    errors: list[InvalidInputError | None] = [None] * len(batches)
    entries = batches[0] if len(batches) == 1 else [e for batch in batches for e in batch]
    if _prepare is not None:
        # The compiled path does all of the below for plainly valid batches, or answers None.
        prepared = _prepare.prepare(entries)
        if prepared is not None:
            return PreparedBatch(prepared[0], prepared[1], prepared[3], prepared[2], errors)
    if not plainly_valid(entries):
        for k, batch in enumerate(batches):
            try:
                for i, e in enumerate(batch):
                    checked_entry(e, i)
            except InvalidInputError as error:
                errors[k] = error
        entries = [e for batch, error in zip(batches, errors, strict=True) if error is None for e in batch]
    payloads = canonical_json(entries)
    sha256, pack = hashlib.sha256, FRAME.pack
    leaves = b"".join([sha256(b"\x00" + p).digest() for p in payloads])
    lengths = list(map(len, payloads))
    frames: list[bytes] = [b""] * (2 * len(payloads))
    frames[0::2] = map(pack, lengths, map(zlib.crc32, payloads))
    frames[1::2] = payloads
    keys = subject_key_bytes([e.subject for e in entries])
    return PreparedBatch(b"".join(frames), leaves, [FRAME.size + n for n in lengths], keys, errors)


def read_frame(fd: int, offset: int) -> bytes | None:
    """The payload of the frame at ``offset``, or None if it is not a whole, checksummed frame."""
    if not 0 <= offset < ID_LIMIT:  # a damaged index record can hold any offset
        return None
    head = os.pread(fd, READ_AHEAD, offset)
    if len(head) < FRAME.size:
        return None
    size, crc = FRAME.unpack_from(head)
    if size > PAYLOAD_BYTES_MAX:
        return None
    payload = head[FRAME.size : FRAME.size + size]
    if len(payload) < size:
        payload += os.pread(fd, size - len(payload), offset + len(head))
    return payload if len(payload) == size and zlib.crc32(payload) == crc else None


def scan_frames(f: BinaryIO, start: int) -> Iterator[tuple[int, bytes]]:
    """(offset, payload) of each frame from byte ``start``, up to the first torn or failing one."""
    f.seek(start)
    buf, pos, base = b"", 0, start
    while True:
        if len(buf) - pos >= FRAME.size:
            size, crc = FRAME.unpack_from(buf, pos)
            if size > PAYLOAD_BYTES_MAX:
                return
            if len(buf) - pos >= FRAME.size + size:
                payload = buf[pos + FRAME.size : pos + FRAME.size + size]
                if zlib.crc32(payload) != crc:
                    return
                yield base + pos, payload
                pos += FRAME.size + size
                continue
        more = f.read(SCAN_CHUNK)
        if not more:
            return
        buf, base, pos = buf[pos:] + more, base + pos, 0


def subject_of(payload: bytes) -> str:
    subject = json.loads(payload)["subject"]
    if not isinstance(subject, str):
        raise TypeError("subject is not text")
    return subject
