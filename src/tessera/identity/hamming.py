"""Full scans of 512-bit codes: the codes nearest each query by Hamming distance.

The face index (``dedup.SignCodeIndex``) keeps its sign codes in one of two scanners
with the same small interface (``CodeScan``):

- ``KernelScan``: the compiled kernel ``tessera.identity._hamming`` (AVX2) over one
  contiguous array, its threads taking chunks of rows as they come free. Exact: ties are
  broken by the lower row, so the answer does not depend on how the scan was split. At
  1,000,000 codes one core scans about as fast as it can read the 64 MB (4 ns a code on
  the standard VM, faiss 6.4).
- ``FaissScan``: faiss ``IndexBinaryFlat``, one shard per thread, scanned by a shared
  pool. Used where the kernel was not built (setup.py leaves it out when the compiler
  cannot build it) or the CPU has no AVX2. Which of several codes at the same distance
  makes the cut depends on the shard and scan order.

Either scans one query in ``threads`` threads once there are ``pool_codes_min`` codes,
in the calling thread alone below that (handing over costs more).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Protocol

import faiss
import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidInputError

try:
    from tessera.identity import _hamming
except ImportError:  # not built (setup.py's probe failed): FaissScan
    _hamming = None  # type: ignore[assignment]

CODE_BYTES = 64
THREADS_MAX = 64
POOL_CODES_MIN = 1 << 15  # below this many codes the calling thread scans: handing over costs more
_KERNEL_ITEMS_MAX = 1 << 20  # (query, candidate) pairs per kernel call: bounds its heaps to 16 MiB a thread

Scanner = Literal["auto", "kernel", "faiss"]


def kernel_available() -> bool:
    """Whether the compiled kernel is built and this CPU runs its AVX2 path (the one measured to win)."""
    return _hamming is not None and _hamming.instructions == "avx2"


class CodeScan(Protocol):
    """Codes appended in row order (row i is the i-th code added) and scanned in full."""

    name: str  # "kernel" or "faiss"
    pool_codes_min: int  # below this many codes the calling thread scans alone

    def add(self, codes: npt.NDArray[np.uint8]) -> None: ...

    def nearest(self, queries: npt.NDArray[np.uint8], wanted: int) -> npt.NDArray[np.int64]:
        """The rows of the ``wanted`` codes nearest each query code, nearest first; -1: none."""
        ...

    def __len__(self) -> int: ...

    @property
    def nbytes(self) -> int: ...


def code_scan(scanner: Scanner = "auto", threads: int = 2) -> CodeScan:
    """An empty scanner: ``"auto"`` is the kernel where it is available, else faiss."""
    if scanner not in ("auto", "kernel", "faiss"):
        raise InvalidInputError("scan", f"must be auto, kernel or faiss, got {scanner!r:.20}")
    if scanner == "faiss" or (scanner == "auto" and not kernel_available()):
        return FaissScan(threads)
    if _hamming is None:
        raise InvalidInputError("scan", "the compiled kernel tessera.identity._hamming is not built")
    return KernelScan(threads)


class KernelScan:
    """The compiled kernel over one array of codes, growing by doubling; the kernel starts its own threads."""

    name = "kernel"

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.pool_codes_min = POOL_CODES_MIN
        self._codes = np.zeros((1024, CODE_BYTES), np.uint8)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return self._codes.nbytes

    def add(self, codes: npt.NDArray[np.uint8]) -> None:
        need = self._size + len(codes)
        if need > len(self._codes):
            # numpy asks for transparent huge pages on large arrays: fewer TLB misses in the scan.
            grown = np.empty((max(need, 2 * len(self._codes)), CODE_BYTES), np.uint8)
            grown[: self._size] = self._codes[: self._size]
            self._codes = grown
        self._codes[self._size : need] = codes
        self._size = need

    def nearest(self, queries: npt.NDArray[np.uint8], wanted: int) -> npt.NDArray[np.int64]:
        assert _hamming is not None
        threads = self.threads if self._size >= self.pool_codes_min else 1
        queries = np.ascontiguousarray(queries)
        distances = np.empty((len(queries), wanted), np.int32)
        rows = np.empty((len(queries), wanted), np.int64)
        step = max(1, _KERNEL_ITEMS_MAX // wanted)
        for start in range(0, len(queries), step):
            stop = start + step
            _hamming.nearest(
                self._codes,
                queries[start:stop],
                wanted,
                0,
                self._size,
                distances[start:stop],
                rows[start:stop],
                threads=threads,
            )
        return rows


class Growable:
    """An int64 column that grows by doubling: ``data`` holds the capacity, ``view`` the filled part."""

    def __init__(self) -> None:
        self.data = np.zeros(1024, np.int64)
        self.size = 0

    def extend(self, values: npt.NDArray[np.int64]) -> None:
        need = self.size + len(values)
        if need > len(self.data):
            grown = np.zeros(max(need, 2 * len(self.data)), np.int64)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : need] = values
        self.size = need

    @property
    def view(self) -> npt.NDArray[np.int64]:
        return self.data[: self.size]


class FaissScan:
    """faiss ``IndexBinaryFlat`` shards, one per thread, each remembering the row of each of its codes."""

    name = "faiss"

    def __init__(self, threads: int) -> None:
        self.pool_codes_min = POOL_CODES_MIN
        self._flats = [faiss.IndexBinaryFlat(CODE_BYTES * 8) for _ in range(threads)]
        self._rows = [Growable() for _ in range(threads)]
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return self._size * CODE_BYTES + sum(r.data.nbytes for r in self._rows)

    def add(self, codes: npt.NDArray[np.uint8]) -> None:
        # Fill the emptiest shards first, so that every scan thread has as much to do.
        sizes = np.array([r.size for r in self._rows])
        share = np.full(len(sizes), len(codes) // len(sizes), np.int64)
        share[np.argsort(sizes, kind="stable")[: len(codes) % len(sizes)]] += 1
        at = 0
        for s, count in enumerate(share.tolist()):
            if count:
                self._flats[s].add(codes[at : at + count])
                self._rows[s].extend(np.arange(self._size + at, self._size + at + count, dtype=np.int64))
                at += count
        self._size += len(codes)

    def nearest(self, queries: npt.NDArray[np.uint8], wanted: int) -> npt.NDArray[np.int64]:
        shards = [s for s, flat in enumerate(self._flats) if flat.ntotal]
        if self._size < self.pool_codes_min:
            found = [self._flats[s].search(queries, wanted) for s in shards]  # dispatch would cost more than it saves
        else:
            pool = scan_pool()
            found = [f.result() for f in [pool.submit(self._flats[s].search, queries, wanted) for s in shards]]
        rows = [
            np.where(labels >= 0, self._rows[s].view[np.maximum(labels, 0)], -1)
            for s, (_, labels) in zip(shards, found, strict=True)
        ]
        if len(rows) == 1:
            return rows[0]
        distances = np.concatenate([d for d, _ in found], axis=1)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :wanted]
        return np.take_along_axis(np.concatenate(rows, axis=1), nearest, axis=1)


_scan_pools: list[ThreadPoolExecutor] = []
_scan_pools_lock = threading.Lock()


def scan_pool() -> ThreadPoolExecutor:
    """The threads that scan parts of the codes, shared by every index; each runs faiss single-threaded.

    OpenMP's thread count is per thread: set to 1 in each scan thread, so that a batch
    scanned by two shards runs two threads, not two OpenMP teams fighting for two cores.
    """
    with _scan_pools_lock:
        if not _scan_pools:
            _scan_pools.append(
                ThreadPoolExecutor(
                    max_workers=THREADS_MAX,
                    thread_name_prefix="tessera-scan",
                    initializer=faiss.omp_set_num_threads,
                    initargs=(1,),
                )
            )
        return _scan_pools[0]
