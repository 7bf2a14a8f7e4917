"""The compiled Hamming scan (``tessera.identity._hamming``) finds exactly the k nearest codes.

Its answer must equal a numpy reference (popcount of XOR, a stable sort: ties by the
lower row) for any codes, on its AVX2 path and its portable one, however the rows are
split between threads; faiss, the fallback, must find codes at the same distances.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.identity import hamming
from tessera.identity.dedup import SignCodeIndex
from tessera.identity.hamming import CODE_BYTES, FaissScan, KernelScan, code_scan
from tessera.testing import synthetic_faces

_hamming = pytest.importorskip(
    "tessera.identity._hamming",
    reason="tessera.identity._hamming is not built (setup.py's probe failed); the face index scans with faiss",
)

Codes = npt.NDArray[np.uint8]
Found = tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]


def _reference(codes: Codes, queries: Codes, k: int, start: int, stop: int) -> Found:
    """Distances and rows by numpy: every distance, a stable sort, padded with 513 and -1."""
    distances = np.bitwise_count(codes[start:stop][None, :, :] ^ queries[:, None, :]).sum(axis=2, dtype=np.int32)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    padding = ((0, 0), (0, k - order.shape[1]))
    found = np.take_along_axis(distances, order, axis=1)
    return np.pad(found, padding, constant_values=513), np.pad(order + start, padding, constant_values=-1)


def _kernel(codes: Codes, queries: Codes, k: int, start: int, stop: int, *, portable: bool, threads: int = 1) -> Found:
    distances = np.empty((len(queries), k), np.int32)
    rows = np.empty((len(queries), k), np.int64)
    _hamming.nearest(codes, queries, k, start, stop, distances, rows, threads=threads, portable=portable)
    return distances, rows


@st.composite
def _scans(draw: st.DrawFn) -> tuple[Codes, Codes, int, int, int]:
    """Codes drawn from a few bases with a few bits flipped (many exact ties), the queries among them or apart."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 300))
    bases = rng.integers(0, 256, (draw(st.integers(1, 8)), CODE_BYTES), dtype=np.uint8)
    codes = bases[rng.integers(0, len(bases), n)]
    flips = draw(st.sampled_from([0, 1, 8, 64]))
    for _ in range(flips):
        codes[np.arange(n), rng.integers(0, CODE_BYTES, n)] ^= np.uint8(1) << rng.integers(0, 8, n).astype(np.uint8)
    queries = np.concatenate(
        [
            bases[rng.integers(0, len(bases), draw(st.integers(0, 9)))],  # distance 0 to some codes
            ~bases[rng.integers(0, len(bases), draw(st.integers(0, 9)))],  # distance 512 to some
            rng.integers(0, 256, (draw(st.integers(0, 9)), CODE_BYTES), dtype=np.uint8),
        ]
    )
    if not len(queries):
        queries = ~bases[:1]
    k = draw(st.integers(1, 80))
    start = draw(st.integers(0, n))
    stop = draw(st.integers(start, n))
    return np.ascontiguousarray(codes), np.ascontiguousarray(rng.permutation(queries)), k, start, stop


class TestNearest:
    @settings(max_examples=300, deadline=None)
    @given(_scans(), st.booleans())
    def test_equals_reference(self, scan: tuple[Codes, Codes, int, int, int], portable: bool) -> None:
        """Both paths give the reference's distances and rows, ties by lower row, for any range and k."""
        codes, queries, k, start, stop = scan
        distances, rows = _kernel(codes, queries, k, start, stop, portable=portable)
        want_distances, want_rows = _reference(codes, queries, k, start, stop)
        assert np.array_equal(distances, want_distances) and np.array_equal(rows, want_rows)

    @pytest.mark.parametrize("portable", [False, True])
    def test_edges__no_codes_k_above_n_distances_0_and_512(self, portable: bool) -> None:
        """No codes pads everything; more wanted than held pads the rest; 0 and 512 are reached exactly."""
        queries = np.zeros((5, CODE_BYTES), np.uint8)
        distances, rows = _kernel(np.zeros((0, CODE_BYTES), np.uint8), queries, 3, 0, 0, portable=portable)
        assert (distances == 513).all() and (rows == -1).all()
        codes = np.array([[255] * CODE_BYTES, [0] * CODE_BYTES, [255] * CODE_BYTES], np.uint8)
        distances, rows = _kernel(codes, queries, 5, 0, 3, portable=portable)
        assert distances[0].tolist() == [0, 512, 512, 513, 513] and rows[0].tolist() == [1, 0, 2, -1, -1]

    @pytest.mark.parametrize("portable", [False, True])
    def test_threads_taking_chunks__same_answer(self, portable: bool) -> None:
        """1 to 4 threads, each taking chunks of rows as it comes free, merge to exactly the reference."""
        rng = np.random.default_rng(7)
        chunk = _hamming.CHUNK_CODES
        sparse = np.uint8(0x11)  # few bits set: ties everywhere, across chunks
        codes = rng.integers(0, 256, (3 * chunk + 101, CODE_BYTES), dtype=np.uint8) & sparse
        queries = rng.integers(0, 256, (11, CODE_BYTES), dtype=np.uint8) & sparse
        for start, stop in ((0, len(codes)), (chunk - 3, 2 * chunk + 5)):
            want = _reference(codes, queries, 40, start, stop)
            for threads in (1, 2, 3, 4):
                found = _kernel(codes, queries, 40, start, stop, portable=portable, threads=threads)
                assert np.array_equal(found[0], want[0]) and np.array_equal(found[1], want[1])

    def test_kernel_scan__grows_and_scans_in_threads(self) -> None:
        """KernelScan keeps earlier rows as it grows and answers as the reference does, with 1 or 2 threads."""
        rng = np.random.default_rng(9)
        codes = rng.integers(0, 256, (20_000, CODE_BYTES), dtype=np.uint8) & np.uint8(0x23)
        queries = rng.integers(0, 256, (3, CODE_BYTES), dtype=np.uint8) & np.uint8(0x23)
        _, want = _reference(codes, queries, 64, 0, len(codes))
        for threads in (1, 2):
            scan = KernelScan(threads)
            scan.pool_codes_min = 0
            for start in range(0, len(codes), 3000):
                scan.add(codes[start : start + 3000])
            assert len(scan) == len(codes) and scan.nbytes >= len(codes) * CODE_BYTES
            assert np.array_equal(scan.nearest(queries, 64), want)

    def test_faiss_finds_the_same_distances(self) -> None:
        """faiss, the fallback, returns codes at the same distances (which of equals may differ)."""
        rng = np.random.default_rng(8)
        codes = rng.integers(0, 256, (3000, CODE_BYTES), dtype=np.uint8)
        queries = np.concatenate([codes[:3], rng.integers(0, 256, (5, CODE_BYTES), dtype=np.uint8)])
        want, _ = _reference(codes, queries, 64, 0, len(codes))
        for scan in (KernelScan(2), FaissScan(2)):
            scan.pool_codes_min = 0
            scan.add(codes)
            rows = scan.nearest(queries, 64)
            found = np.bitwise_count(codes[rows] ^ queries[:, None, :]).sum(axis=2)
            assert np.array_equal(found, want)

    def test_bad_arguments__value_error(self) -> None:
        """Misuse is a fault: partial codes, k, rows or threads out of range, outputs of the wrong size."""
        codes = np.zeros((4, CODE_BYTES), np.uint8)
        query = np.zeros((1, CODE_BYTES), np.uint8)
        distances, rows = np.empty((1, 2), np.int32), np.empty((1, 2), np.int64)
        with pytest.raises(ValueError, match="whole"):
            _hamming.nearest(codes.ravel()[:-1], query, 2, 0, 3, distances, rows)
        with pytest.raises(ValueError, match="k must"):
            _hamming.nearest(codes, query, 0, 0, 3, distances[:, :0], rows[:, :0])
        with pytest.raises(ValueError, match="not within"):
            _hamming.nearest(codes, query, 2, 3, 5, distances, rows)
        with pytest.raises(ValueError, match="threads must"):
            _hamming.nearest(codes, query, 2, 0, 4, distances, rows, threads=_hamming.THREADS_MAX + 1)
        with pytest.raises(ValueError, match="must hold"):
            _hamming.nearest(codes, query, 2, 0, 4, distances[:, :1], rows)
        with pytest.raises(TypeError):
            _hamming.nearest(codes, query, 2, 0, 4, distances.tobytes(), rows)  # read-only output


class TestChoice:
    def test_auto__kernel_where_built(self) -> None:
        """The gallery's index scans with the kernel where it runs AVX2, else with faiss."""
        scan = SignCodeIndex().codes
        assert isinstance(scan, KernelScan if _hamming.instructions == "avx2" else FaissScan)
        assert isinstance(SignCodeIndex(scan="faiss").codes, FaissScan)

    def test_not_built__faiss_or_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the extension "auto" falls back to faiss and asking for the kernel is refused by field."""
        monkeypatch.setattr(hamming, "_hamming", None)
        assert isinstance(code_scan("auto"), FaissScan)
        with pytest.raises(InvalidInputError) as excinfo:
            code_scan("kernel")
        assert excinfo.value.field == "scan"

    def test_kernel_and_faiss_indexes__same_top_candidates(self) -> None:
        """Both scanners feed the exact re-score the same nearest faces: the same best keys and scores."""
        faces = synthetic_faces(3, range(3000))
        probes = synthetic_faces(3, range(0, 3000, 150), capture=1)
        keys = np.arange(3000, dtype=np.int64) + 7
        answers = []
        for scan in ("kernel", "faiss"):
            index = SignCodeIndex(scan=scan)
            index.add(keys, faces)
            answers.append(index.search(probes, 4))
        assert np.array_equal(answers[0][0][:, 0], keys[::150])
        assert np.array_equal(answers[0][0][:, 0], answers[1][0][:, 0])
        assert np.allclose(answers[0][1][:, 0], answers[1][1][:, 0])
