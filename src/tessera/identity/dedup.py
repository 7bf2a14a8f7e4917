"""1:N de-duplication: the biometric gallery and the face index that searches it.

Every enrolment is searched against everyone enrolled before (1:N). The face carries
the search; finger templates, where probe and candidate share finger positions, are
fused into the score of the candidates the face search found (see ``fused_score``).
A fused score at or above ``DUPLICATE_THRESHOLD`` makes the enrolment a probable
duplicate, for a person to adjudicate.

The face index (``SignCodeIndex``, behind the small ``FaceIndex`` protocol) is a full
scan, not an approximate graph (HNSW and IVF lost 3 to 88 % of true duplicates on the
same data): each face becomes a 512-bit code of the signs of its values, whose Hamming
distances estimate angles (a bit differs with probability angle/π). A query scans every
code (64 bytes a person) in ``shards`` threads, keeps the ``rescore`` nearest and
re-scores those exactly against a float16 copy of the faces (1 KiB a person).

On disk, in one directory::

    gallery.log   frames, appended; each frame is one ``add`` call:
                  frame header  [magic b"TGF1" | u32 records | u64 frame bytes | u32 crc32 of the 16 before | u32 0]
                  then per record [u32 record bytes | u32 crc32 of the rest | u64 number | Templates.to_bytes()]
    LOCK          flock'ed by the process that has the gallery open; holds its pid

``add`` returns once its frame is written and fdatasync'ed. ``open`` reads every frame,
checks every record's checksum and rebuilds the index in memory; finger templates stay
on disk and are read (pread) only for the candidates being scored. Recovery rule: a
frame that is incomplete or fails a check *and reaches the end of the file* is a torn
tail, an ``add`` that never returned: it is cut off whole, so a batch is never half
loaded. A bad frame with data after it, or a bad frame header more than one frame's
worth of bytes before the end, is corruption (``CorruptionError``), never dropped.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Protocol, Self

import numpy as np
import numpy.typing as npt

from tessera.directories import lock_directory, opened_directory
from tessera.errors import (
    BatchSizeError,
    ConflictError,
    CorruptionError,
    GalleryLockedError,
    InvalidInputError,
    NotFoundError,
    StoreClosedError,
    StoreError,
)
from tessera.identity.fusion import fused as fuse
from tessera.identity.fusion import fused_score, pairwise_fused_scores
from tessera.identity.hamming import THREADS_MAX, Growable, Scanner, code_scan
from tessera.identity.numbers import NUMBER_DIGITS, checked_number
from tessera.identity.templates import (
    FACE_DIMS,
    FACE_OFFSET,
    FINGER_DIMS,
    FINGERS_MAX,
    NORM_TOLERANCE,
    Templates,
    encoded_size,
    finger_offset,
)

# The fused score at or above which an enrolment is a probable duplicate, chosen from the
# generator's scores at 1,000,000 enrolled (tessera bench dedup; docs/dedup.md):
#   data                         genuine repeat, lowest   new person's best candidate, highest
#   easy faces                   0.681                    0.249
#   clustered faces + 2 fingers  0.590                    0.315 (0.344 at 200,000)
#   clustered faces alone        0.462                    0.547   (they overlap: no threshold fits)
# 0.50 lies in both gaps, nearer the genuine side: the best stranger's score grows with
# the gallery (it is the top of ever more draws) while a repeat's does not. On look-alike
# faces without fingers it misses 1.2 % of repeats and sends 3.8 % of new people to an
# officer; fingers are the cure, not a lower threshold.
DUPLICATE_THRESHOLD = 0.50

RESCORE_CANDIDATES = 64  # nearest codes re-scored: at 1M, 16 keep 99.7 % of clustered repeats, 64 keep 99.98 %
FUSE_CANDIDATES = 16  # face candidates whose fingers are read (pread) and fused, when the probe has fingers
RESCORE_MAX = 4096  # a bound on one query's exact re-scoring: 64 times the default
SHARDS_DEFAULT = 2  # scan threads per query: the standard machine has two cores
SHARDS_MAX = THREADS_MAX
BATCH_MAX = 10_000  # templates per add or search call
K_MAX = 100  # candidates per probe

_BLOCK_ROWS = 1 << 16  # float16 faces are kept in blocks this long: growth never copies the whole store
_FRAME = struct.Struct("<4sIQII")
_FRAME_MAGIC = b"TGF1"
_RECORD = struct.Struct("<IIQ")
_RECORD_FACE = _RECORD.size + FACE_OFFSET  # byte offset of the face within a record
_RECORD_POSITIONS = _RECORD_FACE + FACE_DIMS * 4  # and of the finger positions
_LOAD_CHUNK = 1 << 15  # rows handed to the index at once while loading
_RECORD_BYTES_MAX = _RECORD.size + encoded_size(FINGERS_MAX)
_FRAME_BYTES_MAX = _FRAME.size + BATCH_MAX * _RECORD_BYTES_MAX


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible match: the Tessera number of an enrolled person and the fused score (higher: more alike)."""

    number: str
    score: float


class FaceIndex(Protocol):
    """What the gallery needs from a face index; ``SignCodeIndex`` is the one Tessera ships.

    Keys are int64 (a Tessera number as an integer), faces (n, FACE_DIMS) float32 of unit
    length. ``search`` returns, per query, the ``k`` best keys and their exact cosine,
    descending, padded with key -1 and score -inf where fewer than ``k`` are held.
    """

    def add(self, keys: npt.NDArray[np.int64], faces: npt.NDArray[np.float32]) -> None: ...

    def search(
        self, faces: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...

    def __len__(self) -> int: ...

    @property
    def nbytes(self) -> int: ...  # memory held for the index, in bytes


def sign_codes(faces: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The 512-bit sign code of each face: bit i is set where value i is positive."""
    return np.packbits(faces > 0, axis=1)


class SignCodeIndex:
    """Full scan of 512-bit sign codes, exact re-score from float16.

    The codes live in a ``hamming.CodeScan``: the compiled kernel where it is available
    (``scan="auto"``), else faiss ``IndexBinaryFlat``; ``scan="kernel"`` or ``"faiss"``
    asks for one. A query's scan is split over ``shards`` threads of a shared pool, so
    that one query uses every core; the ``rescore`` nearest codes per query are
    re-scored. Not thread-safe: the gallery holds a lock around it.
    """

    def __init__(
        self, *, rescore: int = RESCORE_CANDIDATES, shards: int = SHARDS_DEFAULT, scan: Scanner = "auto"
    ) -> None:
        if not 1 <= rescore <= RESCORE_MAX or not 1 <= shards <= SHARDS_MAX:
            raise InvalidInputError("rescore", f"rescore must be 1..{RESCORE_MAX} and shards 1..{SHARDS_MAX}")
        self.rescore = rescore
        self.codes = code_scan(scan, shards)
        self._keys = Growable()
        self._faces: list[npt.NDArray[np.float16]] = []

    def __len__(self) -> int:
        return self._keys.size

    @property
    def nbytes(self) -> int:
        """Codes, float16 faces, keys and row maps held in memory."""
        return self.codes.nbytes + sum(b.nbytes for b in self._faces) + self._keys.data.nbytes

    def add(self, keys: npt.NDArray[np.int64], faces: npt.NDArray[np.float32]) -> None:
        """Append ``faces`` under ``keys``; the caller has checked them (unit rows, unique keys)."""
        n = len(keys)
        if faces.shape != (n, FACE_DIMS):
            raise InvalidInputError("faces", f"must be ({n}, {FACE_DIMS}), got {faces.shape}")
        self._store_faces(self._keys.size, faces)
        self._keys.extend(np.asarray(keys, np.int64))
        self.codes.add(sign_codes(faces))

    def _store_faces(self, first: int, faces: npt.NDArray[np.float32]) -> None:
        at = 0
        while at < len(faces):
            block, offset = divmod(first + at, _BLOCK_ROWS)
            take = min(len(faces) - at, _BLOCK_ROWS - offset)
            if block == len(self._faces):
                self._faces.append(np.empty((0, FACE_DIMS), np.float16))
            if offset + take > len(self._faces[block]):
                # A block starts small and doubles up to _BLOCK_ROWS: a small gallery stays small.
                grown = np.empty(
                    (min(_BLOCK_ROWS, max(offset + take, 2 * len(self._faces[block]))), FACE_DIMS), np.float16
                )
                grown[:offset] = self._faces[block][:offset]
                self._faces[block] = grown
            self._faces[block][offset : offset + take] = faces[at : at + take]
            at += take

    def _gather(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(rows), FACE_DIMS), np.float32)
        blocks = rows // _BLOCK_ROWS
        for block in np.unique(blocks[rows >= 0]).tolist():
            chosen = blocks == block
            out[chosen] = self._faces[block][rows[chosen] & (_BLOCK_ROWS - 1)]
        return out

    def search(self, faces: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The ``k`` best keys per face and their exact cosine, descending (key -1, score -inf: none)."""
        q = len(faces)
        keys = np.full((q, k), -1, np.int64)
        scores = np.full((q, k), -np.inf, np.float32)
        if q == 0 or self._keys.size == 0:
            return keys, scores
        wanted = max(k, self.rescore)
        rows = self.codes.nearest(sign_codes(faces), wanted)
        step = max(1, 65_536 // wanted)  # bounds the float32 copy of the gathered faces to 128 MiB
        for start in range(0, q, step):
            part = rows[start : start + step]
            gathered = self._gather(part.ravel()).reshape(*part.shape, FACE_DIMS)
            exact = np.einsum("qkd,qd->qk", gathered, faces[start : start + step])
            exact[part < 0] = -np.inf
            order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
            best = np.take_along_axis(part, order, axis=1)
            found = best >= 0
            keys[start : start + step, : order.shape[1]] = np.where(found, self._keys.view[np.maximum(best, 0)], -1)
            scores[start : start + step, : order.shape[1]] = np.take_along_axis(exact, order, axis=1)
        return keys, scores


@dataclass(frozen=True, slots=True)
class GalleryRecovery:
    """What ``Gallery.open`` found."""

    records: int
    frames: int
    bytes_truncated: int  # a torn tail: an add that never returned, cut off whole
    seconds: float


class Gallery:
    """Enrolled people's templates, persistent in one directory, searchable 1:N.

    Safe to share between threads: one lock serialises calls (searches wait for an add's
    fdatasync). Build it with ``Gallery.open``.
    """

    def __init__(self, path: Path, index: FaceIndex, progress: Callable[[str], None] | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._index = index
        self._rows: dict[int, int] = {}  # key (the number as an int) -> row
        self._offsets = Growable()  # byte offset of each row's record in gallery.log
        self._masks = Growable()  # finger positions each row carries, bit p - 1 for position p
        self._closed = False
        self._failed: str | None = None
        self._lock_fd = lock_directory(path, GalleryLockedError)
        self._fd = -1
        try:
            self._fd = os.open(path / "gallery.log", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            directory = os.open(path, os.O_RDONLY)  # make the new file's name durable too
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self.recovery = self._recover(progress)
        except BaseException:
            for fd in (self._fd, self._lock_fd):
                if fd >= 0:
                    os.close(fd)
            raise

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        index: FaceIndex | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Gallery:
        """Create the directory or load the gallery in it, dropping a torn tail (see the module docstring).

        ``index`` replaces the default ``SignCodeIndex()``; it must be empty.
        ``progress`` receives a line now and then while a large gallery loads.
        """
        directory = opened_directory(path)
        chosen = SignCodeIndex() if index is None else index
        if len(chosen):
            raise InvalidInputError("index", "must be empty: the gallery fills it from disk")
        return cls(directory, chosen, progress)

    def _recover(self, progress: Callable[[str], None] | None) -> GalleryRecovery:
        started = last_report = time.perf_counter()
        log = str(self.path / "gallery.log")
        size = os.fstat(self._fd).st_size
        pos = frames = 0
        pending: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
        while pos < size:
            end = self._frame_end(pos, size, log)
            frame = None if end is None else _parsed_frame(_pread(self._fd, end - pos, pos), pos, end == size, log)
            if end is None or frame is None:
                break
            first = len(self._rows)
            self._rows.update(zip(frame.keys.tolist(), range(first, first + len(frame.keys)), strict=True))
            if len(self._rows) != first + len(frame.keys):
                raise CorruptionError(log, pos, "a number is enrolled twice")
            self._offsets.extend(frame.starts + pos)
            self._masks.extend(frame.masks)
            # Small frames (single enrolments) are gathered: index adds are cheaper in bulk.
            pending.append((frame.keys, frame.faces))
            if sum(len(k) for k, _ in pending) >= _LOAD_CHUNK:
                self._add_loaded(pending)
            pos = end
            frames += 1
            now = time.perf_counter()
            if progress is not None and now - last_report > 1:
                last_report = now
                progress(f"gallery: {len(self._rows):,} records loaded ({pos / size:.0%} of the file)")
        self._add_loaded(pending)
        truncated = size - pos
        if truncated:
            os.ftruncate(self._fd, pos)
            os.fsync(self._fd)
        return GalleryRecovery(len(self._rows), frames, truncated, time.perf_counter() - started)

    def _add_loaded(self, pending: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]) -> None:
        if len(pending) == 1:
            self._index.add(*pending[0])  # a large frame: straight from its bytes, no copy
        elif pending:
            self._index.add(np.concatenate([k for k, _ in pending]), np.concatenate([f for _, f in pending]))
        pending.clear()

    def _frame_end(self, pos: int, size: int, path: str) -> int | None:
        """Where the frame at ``pos`` ends, or None if it is a torn tail; CorruptionError if damaged."""
        header = _pread(self._fd, _FRAME.size, pos)
        if len(header) < _FRAME.size:
            return None
        magic, records, length, crc, _ = _FRAME.unpack(header)
        sound = magic == _FRAME_MAGIC and crc == zlib.crc32(header[:16])
        sound = sound and 1 <= records <= BATCH_MAX and _FRAME.size < length <= _FRAME_BYTES_MAX
        if not sound:
            # Only the last add can be torn, and one add writes at most _FRAME_BYTES_MAX.
            if size - pos <= _FRAME_BYTES_MAX:
                return None
            raise CorruptionError(path, pos, "bad frame header")
        if pos + length > size:
            return None
        return int(pos + length)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str) or len(number) != NUMBER_DIGITS or not number.isascii() or not number.isdigit():
            return False
        return int(number) in self._rows

    @property
    def index_nbytes(self) -> int:
        """Memory held by the face index."""
        return self._index.nbytes

    def add(self, numbers: Sequence[str], templates: Sequence[Templates]) -> None:
        """Enrol ``templates[i]`` under ``numbers[i]``, all or none; durable when it returns.

        Everything is checked before anything is written: a malformed number or template
        raises InvalidInputError, a number already in the gallery (or twice in the batch)
        ConflictError naming ``numbers[i]``.
        """
        keys = _checked_batch(numbers, templates)
        faces = _checked_faces(templates)
        with self._lock:
            self._check_open()
            for i, key in enumerate(keys.tolist()):
                if key in self._rows:
                    raise ConflictError(f"numbers[{i}]", f"{numbers[i]} is already in the gallery")
            frame, offsets = _encoded_frame(keys, templates)
            start = os.fstat(self._fd).st_size
            try:
                _write_all(self._fd, frame)
                os.fdatasync(self._fd)
            except OSError as error:
                self._undo_write(start, error)
            try:
                first = len(self._rows)
                self._index.add(keys, faces)
                self._offsets.extend(offsets + start)
                self._masks.extend(np.array([t.finger_mask for t in templates], np.int64))
                self._rows.update(zip(keys.tolist(), range(first, first + len(keys)), strict=True))
            except BaseException:
                self._failed = "memory fell behind the disk (an add failed after its write): reopen the gallery"
                raise

    def _undo_write(self, start: int, error: OSError) -> NoReturn:
        try:
            os.ftruncate(self._fd, start)
            os.fsync(self._fd)
        except OSError:
            # Disk may now hold a whole frame the caller was told failed; only reopening tells.
            self._failed = f"a write failed ({error}) and could not be undone: reopen the gallery"
            raise StoreError(self._failed) from error
        raise StoreError(f"gallery.log: write failed, nothing added: {error}") from error

    def search(
        self, templates: Sequence[Templates], k: int = 16, exclude: Sequence[str | None] | None = None
    ) -> list[list[Candidate]]:
        """The ``k`` enrolled people most like each probe, best first, by fused score.

        ``exclude[i]``, when given, is a number never returned for ``templates[i]``
        (re-checking someone already enrolled). A candidate is a probable duplicate when
        its score is at least ``DUPLICATE_THRESHOLD``.
        """
        faces = _checked_faces(templates, field="templates", batch=True)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= K_MAX:
            raise InvalidInputError("k", f"must be 1..{K_MAX}, got {k!r:.20}")
        skip = _checked_exclude(exclude, len(templates))
        with self._lock:
            self._check_open()
            wanted = min(k + 1, K_MAX + 1) if any(s >= 0 for s in skip) else k
            fetch = max(wanted, FUSE_CANDIDATES) if any(t.fingers for t in templates) else wanted
            keys, scores = self._index.search(faces, fetch)
            return [self._fused_candidates(probe, keys[i], scores[i], skip[i], k) for i, probe in enumerate(templates)]

    def _fused_candidates(
        self,
        probe: Templates,
        keys: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float32],
        skip: int,
        k: int,
    ) -> list[Candidate]:
        found: list[tuple[float, int]] = []
        mask = probe.finger_mask
        mine = dict(probe.fingers)
        for key, score in zip(keys.tolist(), scores.tolist(), strict=True):
            if key < 0 or key == skip:
                continue
            fused = min(1.0, max(-1.0, score))
            row = self._rows[key]
            if mask & int(self._masks.view[row]):
                positions, theirs = self._stored_fingers(row)
                cosines = [float(np.dot(mine[p], theirs[j])) for j, p in enumerate(positions) if p in mine]
                fused = fuse(score, cosines)
            found.append((fused, key))
        found.sort(key=lambda pair: (-pair[0], pair[1]))
        return [Candidate(str(key), round(score, 6)) for score, key in found[:k]]

    def _record(self, row: int) -> bytes:
        """The record of ``row`` read back from disk, its checksum checked again."""
        offset = int(self._offsets.view[row])
        data = _pread(self._fd, _RECORD.size + encoded_size(int(self._masks.view[row]).bit_count()), offset)
        size, crc = struct.unpack_from("<II", data)
        if size != len(data) or zlib.crc32(memoryview(data)[8:]) != crc:
            raise CorruptionError(str(self.path / "gallery.log"), offset, "record checksum mismatch on read")
        return data

    def _stored_fingers(self, row: int) -> tuple[list[int], npt.NDArray[np.float32]]:
        """The finger positions and templates stored for ``row``: no Templates built, this is the hot path."""
        data = self._record(row)
        fingers = int(self._masks.view[row]).bit_count()
        at = _RECORD.size + finger_offset(fingers)
        matrix = np.frombuffer(data, "<f4", fingers * FINGER_DIMS, at).reshape(fingers, FINGER_DIMS)
        return list(data[_RECORD_POSITIONS : _RECORD_POSITIONS + fingers]), matrix

    def verify(self, number: str, templates: Templates) -> float:
        """The fused score of ``templates`` against the person enrolled under ``number`` (1:1)."""
        key = int(checked_number(number))
        if not isinstance(templates, Templates):
            raise InvalidInputError("templates", f"must be Templates, got {type(templates).__name__}")
        _checked_faces([templates])
        with self._lock:
            self._check_open()
            row = self._rows.get(key)
            if row is None:
                raise NotFoundError("number", f"{number} is not in the gallery")
            return fused_score(self._stored(row), templates)

    def scores(self, templates: Templates, others: Sequence[Templates]) -> list[float]:
        """The fused score of ``templates`` against each of ``others`` (people not in the gallery yet).

        For comparing the applicants of one batch with each other, which a gallery search
        cannot do before they are added.
        """
        _checked_faces([templates], field="templates")
        if isinstance(others, Templates) or not isinstance(others, Sequence):
            raise InvalidInputError("others", "must be a list of Templates")
        if others:
            _checked_faces(others, field="others")
        return [float(s) for s in pairwise_fused_scores([templates, *others])[0, 1:]]

    def _stored(self, row: int) -> Templates:
        return Templates.from_bytes(self._record(row)[_RECORD.size :])

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the gallery is closed")
        if self._failed is not None:
            raise StoreError(self._failed)

    def close(self) -> None:
        """Release the files and the directory lock; later calls raise StoreClosedError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._fd)
            os.close(self._lock_fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Frame:
    """The records of one checked frame as columns: offsets within the frame, keys, finger masks, faces."""

    starts: npt.NDArray[np.int64]
    keys: npt.NDArray[np.int64]
    masks: npt.NDArray[np.int64]
    faces: npt.NDArray[np.float32]  # a view of the frame's bytes


def _parsed_frame(data: bytes, pos: int, at_end: bool, path: str) -> _Frame | None:
    """Check every record of the frame at ``pos``; None if it is a torn tail, CorruptionError if damaged."""
    records = _FRAME.unpack_from(data)[1]
    uniform = _uniform_frame(data, records)
    if uniform is not None:
        return uniform
    # Records of different sizes, or something wrong: walk them one by one to say what and where.
    starts: list[int] = []
    keys: list[int] = []
    masks: list[int] = []
    at = _FRAME.size
    for _ in range(records):
        problem = _record_problem(data, at)
        if problem is not None:
            if at_end:
                return None
            raise CorruptionError(path, pos + at, problem)
        size, _, key = _RECORD.unpack_from(data, at)
        fingers = data[at + _RECORD.size + 5]
        positions = data[at + _RECORD_POSITIONS : at + _RECORD_POSITIONS + fingers]
        masks.append(sum(1 << (p - 1) for p in positions))
        starts.append(at)
        keys.append(key)
        at += size
    if at != len(data):
        if at_end:
            return None
        raise CorruptionError(path, pos + at, "records do not fill their frame")
    faces = np.stack([np.frombuffer(data, "<f4", FACE_DIMS, start + _RECORD_FACE) for start in starts])
    return _Frame(np.array(starts, np.int64), np.array(keys, np.int64), np.array(masks, np.int64), faces)


def _record_problem(data: bytes, at: int) -> str | None:
    if at + _RECORD.size + FACE_OFFSET > len(data):
        return "record runs past its frame"
    size, crc, _ = _RECORD.unpack_from(data, at)
    fingers = data[at + _RECORD.size + 5]
    if fingers > FINGERS_MAX or size != _RECORD.size + encoded_size(fingers) or at + size > len(data):
        return "bad record size"
    if zlib.crc32(memoryview(data)[at + 8 : at + size]) != crc:
        return "record checksum mismatch"
    positions = list(data[at + _RECORD_POSITIONS : at + _RECORD_POSITIONS + fingers])
    if positions != sorted(set(positions)) or not all(1 <= p <= FINGERS_MAX for p in positions):
        return "bad finger positions"
    return None


def _uniform_frame(data: bytes, records: int) -> _Frame | None:
    """The usual frame, every record the same size, checked a column at a time; None if it is not one."""
    if len(data) < _FRAME.size + _RECORD.size + FACE_OFFSET:
        return None
    size = _RECORD.unpack_from(data, _FRAME.size)[0]
    fingers = data[_FRAME.size + _RECORD.size + 5]
    if (
        fingers > FINGERS_MAX
        or size != _RECORD.size + encoded_size(fingers)
        or len(data) != _FRAME.size + records * size
    ):
        return None

    def column(offset: int, dtype: str, width: int = 1) -> npt.NDArray[np.generic]:
        return np.ndarray((records, width), dtype, data, _FRAME.size + offset, (size, np.dtype(dtype).itemsize))

    if (column(0, "<u4") != size).any() or (column(_RECORD.size + 5, "u1") != fingers).any():
        return None
    view = memoryview(data)
    starts = np.arange(_FRAME.size, len(data), size, dtype=np.int64)
    crcs = [zlib.crc32(view[at + 8 : at + size]) for at in starts.tolist()]
    if crcs != column(4, "<u4")[:, 0].tolist():
        return None
    positions = column(_RECORD_POSITIONS, "u1", fingers).astype(np.int64)
    if fingers and ((positions < 1).any() or (positions > FINGERS_MAX).any() or (np.diff(positions) <= 0).any()):
        return None
    masks = (np.left_shift(1, positions - 1) if fingers else np.zeros((records, 0), np.int64)).sum(axis=1)
    faces = column(_RECORD_FACE, "<f4", FACE_DIMS)
    return _Frame(
        starts, column(8, "<u8")[:, 0].astype(np.int64), masks.astype(np.int64), faces.astype(np.float32, copy=False)
    )


def _checked_batch(numbers: Sequence[str], templates: Sequence[Templates]) -> npt.NDArray[np.int64]:
    if isinstance(numbers, str) or not isinstance(numbers, Sequence):
        raise InvalidInputError("numbers", "must be a list of Tessera numbers")
    if not 1 <= len(numbers) <= BATCH_MAX:
        raise BatchSizeError("numbers", f"must hold 1..{BATCH_MAX} numbers, got {len(numbers)}")
    if not isinstance(templates, Sequence) or len(templates) != len(numbers):
        got = len(templates) if isinstance(templates, Sequence) else type(templates).__name__
        raise InvalidInputError("templates", f"must hold one Templates per number ({len(numbers)}), got {got}")
    seen: dict[str, int] = {}
    for i, number in enumerate(numbers):
        checked_number(number, f"numbers[{i}]")
        if number in seen:
            raise ConflictError(f"numbers[{i}]", f"{number} appears twice in the batch (also numbers[{seen[number]}])")
        seen[number] = i
    return np.array([int(n) for n in numbers], np.int64)


def _checked_faces(
    templates: Sequence[Templates], field: str = "templates", *, batch: bool = False
) -> npt.NDArray[np.float32]:
    """The faces stacked, after checking each is a Templates of finite unit vectors."""
    if batch:
        if isinstance(templates, Templates) or not isinstance(templates, Sequence):
            raise InvalidInputError(field, "must be a list of Templates")
        if not 1 <= len(templates) <= BATCH_MAX:
            raise BatchSizeError(field, f"must hold 1..{BATCH_MAX} templates, got {len(templates)}")
    for i, t in enumerate(templates):
        if not isinstance(t, Templates):
            raise InvalidInputError(f"{field}[{i}]", f"must be Templates, got {type(t).__name__}")
    faces = np.stack([t.face for t in templates])
    bad = ~_unit_rows(faces)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInputError(f"{field}[{i}].face", "is not a finite unit vector: build it with checked_templates")
    for i, t in enumerate(templates):
        if t.fingers and not _unit_rows(np.stack([v for _, v in t.fingers])).all():
            raise InvalidInputError(f"{field}[{i}].fingers", "hold a template that is not a finite unit vector")
    return faces


def _unit_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    norms: npt.NDArray[np.float64] = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    unit: npt.NDArray[np.bool_] = np.isfinite(x).all(axis=1) & (np.abs(norms - 1.0) <= NORM_TOLERANCE)
    return unit


def _checked_exclude(exclude: Sequence[str | None] | None, n: int) -> list[int]:
    if exclude is None:
        return [-1] * n
    if isinstance(exclude, str) or not isinstance(exclude, Sequence) or len(exclude) != n:
        raise InvalidInputError("exclude", f"must be a list with one number or None per probe ({n})")
    return [-1 if e is None else int(checked_number(e, f"exclude[{i}]")) for i, e in enumerate(exclude)]


def _encoded_frame(keys: npt.NDArray[np.int64], templates: Sequence[Templates]) -> tuple[bytes, npt.NDArray[np.int64]]:
    """One add's frame and the offset of each record within it."""
    parts = []
    offsets = np.empty(len(keys), np.int64)
    at = _FRAME.size
    for i, (key, t) in enumerate(zip(keys.tolist(), templates, strict=True)):
        body = struct.pack("<Q", key) + t.to_bytes()
        parts.append(struct.pack("<II", 8 + len(body), zlib.crc32(body)) + body)
        offsets[i] = at
        at += 8 + len(body)
    head = struct.pack("<4sIQ", _FRAME_MAGIC, len(keys), at)
    return head + struct.pack("<II", zlib.crc32(head), 0) + b"".join(parts), offsets


def _pread(fd: int, size: int, offset: int) -> bytes:
    # A regular file returns all that was asked up to the end of the file (a frame is far below Linux's 2 GiB cap).
    return os.pread(fd, size, offset)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
