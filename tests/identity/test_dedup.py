"""1:N de-duplication: the gallery finds repeats, refuses bad input whole, and survives crashes."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tessera.cli.main import app
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
from tessera.identity.dedup import (
    DUPLICATE_THRESHOLD,
    Candidate,
    FaceIndex,
    Gallery,
    SignCodeIndex,
)
from tessera.identity.fusion import fused_score
from tessera.identity.hamming import Scanner
from tessera.identity.templates import FACE_DIMS, Templates, checked_templates
from tessera.testing import SyntheticEnrolment, synthetic_enrolments, synthetic_faces, synthetic_numbers

SEED = 20261123
NUMBERS = synthetic_numbers(SEED, 5000)


def _templates(people: range | list[int], capture: int = 0) -> list[Templates]:
    return [Templates(face) for face in synthetic_faces(SEED, people, capture=capture)]


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[Gallery]:
    """300 easy synthetic people, enrolled in three adds under NUMBERS[0..299]."""
    with Gallery.open(tmp_path / "gallery") as opened:
        for start in (0, 100, 200):
            opened.add(NUMBERS[start : start + 100], _templates(range(start, start + 100)))
        yield opened


def _log(gallery: Gallery) -> Path:
    return gallery.path / "gallery.log"


class TestSearch:
    def test_a_new_capture_of_an_enrolled_person__is_found_first(self, gallery: Gallery) -> None:
        """Each repeat's own number comes first, at or above the threshold; nobody else is."""
        found = gallery.search(_templates(range(0, 300, 7), capture=1), k=5)
        for person, candidates in zip(range(0, 300, 7), found, strict=True):
            assert candidates[0].number == NUMBERS[person]
            assert candidates[0].score >= DUPLICATE_THRESHOLD
            assert all(c.score < DUPLICATE_THRESHOLD for c in candidates[1:])

    def test_a_new_person__matches_nobody(self, gallery: Gallery) -> None:
        """People never enrolled have no candidate at or above the threshold."""
        for candidates in gallery.search(_templates(range(1000, 1050))):
            assert candidates and candidates[0].score < DUPLICATE_THRESHOLD

    def test_candidates_descending__k_of_them__scores_are_cosines(self, gallery: Gallery) -> None:
        """k candidates, best first, each score the exact cosine to within float16 rounding."""
        probe = _templates([42], capture=3)[0]
        candidates = gallery.search([probe], k=12)[0]
        assert len(candidates) == 12 and all(isinstance(c, Candidate) for c in candidates)
        assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
        enrolled = dict(zip(NUMBERS[:300], _templates(range(300)), strict=True))
        for c in candidates:
            assert abs(c.score - float(np.dot(probe.face, enrolled[c.number].face))) < 2e-3

    def test_a_small_gallery__returns_fewer_than_k(self, tmp_path: Path) -> None:
        """With three people enrolled, k=10 returns three; an empty gallery returns none."""
        with Gallery.open(tmp_path / "g") as small:
            assert small.search(_templates([1])) == [[]]
            small.add(NUMBERS[:3], _templates(range(3)))
            assert len(small.search(_templates([1]), k=10)[0]) == 3

    def test_exclude__leaves_out_the_probes_own_number(self, gallery: Gallery) -> None:
        """Re-checking person 5 with exclude=[their number] does not return them."""
        probe = _templates([5])
        with_self = gallery.search(probe, k=3)[0]
        without = gallery.search(probe, k=3, exclude=[NUMBERS[5]])[0]
        assert with_self[0].number == NUMBERS[5] and with_self[0].score > 0.99
        assert NUMBERS[5] not in [c.number for c in without] and len(without) == 3

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"k": 0}, "k"),
            ({"k": 101}, "k"),
            ({"k": True}, "k"),
            ({"exclude": ["123"]}, "exclude[0]"),
            ({"exclude": [None, None]}, "exclude"),
        ],
    )
    def test_bad_arguments__name_the_field(self, gallery: Gallery, kwargs: dict[str, object], field: str) -> None:
        """k out of range, a malformed exclusion or one per probe missing: InvalidInputError."""
        with pytest.raises(InvalidInputError) as excinfo:
            gallery.search(_templates([1]), **kwargs)  # type: ignore[arg-type]
        assert excinfo.value.field == field

    def test_bad_probes__refused(self, gallery: Gallery) -> None:
        """No probes, or something else than Templates, is refused by field."""
        with pytest.raises(BatchSizeError):
            gallery.search([])
        with pytest.raises(InvalidInputError) as excinfo:
            gallery.search([_templates([1])[0], "face"])  # type: ignore[list-item]
        assert excinfo.value.field == "templates[1]"


class TestFusion:
    def test_fused_score__mean_of_face_and_shared_fingers(self) -> None:
        """Face 1.0 and fingers 1.0, 0.0 at shared positions fuse to their mean; unshared fingers do not count."""
        face = np.ones(FACE_DIMS)
        one, other = np.eye(256)[0], np.eye(256)[1]
        a = checked_templates(face, [(1, one), (2, one), (3, one)])
        b = checked_templates(face, [(1, one), (2, other), (7, one)])
        assert fused_score(a, b) == pytest.approx((1 + 1 + 0) / 3)
        assert fused_score(a, checked_templates(face)) == pytest.approx(1.0)

    def test_search_score_equals_verify_score(self, tmp_path: Path) -> None:
        """The gallery's fused score for a candidate is the 1:1 verify score, to float16 rounding."""
        people = list(synthetic_enrolments(SEED, 60, duplicate_share=0.2, fingers=2, clustered=True))
        firsts = [i for i, p in enumerate(people) if p.duplicate_of is None]
        with Gallery.open(tmp_path / "g") as gallery:
            gallery.add([NUMBERS[i] for i in firsts], [people[i].templates for i in firsts])
            for p in people:
                for c in gallery.search([p.templates], k=4)[0]:
                    assert abs(c.score - gallery.verify(c.number, p.templates)) < 2e-3

    def test_fingers_rescue_look_alikes(self, tmp_path: Path) -> None:
        """Clustered faces overlap; with two fingers fused every repeat is found and no new person matches."""
        people = list(synthetic_enrolments(SEED, 3000, duplicate_share=0.05, fingers=2, clustered=True))
        recall, false_matches = _recall_and_false_matches(tmp_path / "g", people, enrolled=2500)
        assert recall == 1.0 and false_matches == 0


def _recall_and_false_matches(path: Path, people: list[SyntheticEnrolment], enrolled: int) -> tuple[float, int]:
    """Enrol the first submissions among people[:enrolled]; search their repeats and the people after."""
    firsts = [j for j, p in enumerate(people[:enrolled]) if p.duplicate_of is None]
    repeats = [p for p in people if p.duplicate_of is not None and p.duplicate_of < enrolled]
    new = [p for p in people[enrolled:] if p.duplicate_of is None]
    with Gallery.open(path) as gallery:
        gallery.add([NUMBERS[j] for j in firsts], [people[j].templates for j in firsts])
        found = gallery.search([p.templates for p in repeats + new])
    hits = false_matches = 0
    for p, candidates in zip(repeats + new, found, strict=True):
        above = {c.number for c in candidates if c.score >= DUPLICATE_THRESHOLD}
        want = None if p.duplicate_of is None else NUMBERS[p.duplicate_of]
        hits += want in above
        false_matches += bool(above - {want})
    assert len(repeats) > 100 and len(new) > 400
    return hits / len(repeats), false_matches


class TestAdd:
    def test_a_number_already_enrolled__conflict_and_nothing_changes(self, gallery: Gallery) -> None:
        """The whole batch is refused, naming numbers[i]; the file does not grow."""
        size = _log(gallery).stat().st_size
        with pytest.raises(ConflictError) as excinfo:
            gallery.add([NUMBERS[400], NUMBERS[17]], _templates([400, 401]))
        assert excinfo.value.field == "numbers[1]"
        assert len(gallery) == 300 and NUMBERS[400] not in gallery
        assert _log(gallery).stat().st_size == size

    def test_a_number_twice_in_one_batch__conflict(self, gallery: Gallery) -> None:
        """Two people under one number in one add: refused, naming the second."""
        with pytest.raises(ConflictError, match=r"also numbers\[0\]") as excinfo:
            gallery.add([NUMBERS[400], NUMBERS[400]], _templates([400, 401]))
        assert excinfo.value.field == "numbers[1]"

    @pytest.mark.parametrize(
        ("numbers", "templates", "error", "field"),
        [
            ([NUMBERS[400], "12345"], 2, InvalidInputError, "numbers[1]"),
            ([NUMBERS[400][:-1] + str((int(NUMBERS[400][-1]) + 1) % 10)], 1, InvalidInputError, "numbers[0]"),
            ([NUMBERS[400]], 2, InvalidInputError, "templates"),
            ([], 0, BatchSizeError, "numbers"),
            (NUMBERS[400], 1, InvalidInputError, "numbers"),
        ],
    )
    def test_malformed_batch__refused_by_field(
        self, gallery: Gallery, numbers: list[str], templates: int, error: type[Exception], field: str
    ) -> None:
        """Malformed numbers, a count mismatch or an empty batch: nothing written."""
        size = _log(gallery).stat().st_size
        with pytest.raises(error) as excinfo:
            gallery.add(numbers, _templates(range(400, 400 + templates)))
        assert excinfo.value.field == field  # type: ignore[attr-defined]
        assert len(gallery) == 300 and _log(gallery).stat().st_size == size

    @pytest.mark.parametrize(
        "face",
        [np.full(FACE_DIMS, np.nan, np.float32), np.ones(FACE_DIMS, np.float32), np.zeros(FACE_DIMS, np.float32)],
    )
    def test_templates_not_built_by_checked_templates__refused(self, gallery: Gallery, face: np.ndarray) -> None:
        """A face that is NaN, not unit length or zero names templates[i].face."""
        with pytest.raises(InvalidInputError, match="unit vector") as excinfo:
            gallery.add(NUMBERS[400:402], [*_templates([400]), Templates(face)])
        assert excinfo.value.field == "templates[1].face"
        assert len(gallery) == 300

    def test_something_else_than_templates__refused(self, gallery: Gallery) -> None:
        """A raw vector where Templates belong names templates[0]."""
        with pytest.raises(InvalidInputError) as excinfo:
            gallery.add(NUMBERS[400:401], [np.ones(FACE_DIMS)])  # type: ignore[list-item]
        assert excinfo.value.field == "templates[0]"


class TestVerifyAndScores:
    def test_verify__genuine_high_stranger_low_absent_not_found(self, gallery: Gallery) -> None:
        """1:1 against an enrolled number; an unknown number is NotFoundError, a malformed one InvalidInputError."""
        probe = _templates([9], capture=1)[0]
        assert gallery.verify(NUMBERS[9], probe) >= DUPLICATE_THRESHOLD
        assert gallery.verify(NUMBERS[10], probe) < DUPLICATE_THRESHOLD
        with pytest.raises(NotFoundError):
            gallery.verify(NUMBERS[4000], probe)
        with pytest.raises(InvalidInputError):
            gallery.verify("1234", probe)

    def test_scores__compares_applicants_not_yet_enrolled(self, gallery: Gallery) -> None:
        """scores() rates one applicant against others of the same batch."""
        a, b, c = _templates([2000, 2001, 2000], capture=1)
        scores = gallery.scores(a, [b, c])
        assert scores[0] < DUPLICATE_THRESHOLD and scores[1] == pytest.approx(1.0)


class TestPersistence:
    def test_reopen__same_people_same_answers(self, tmp_path: Path) -> None:
        """Everything added before close is there after open, found the same way."""
        path = tmp_path / "g"
        probes = _templates(range(0, 50, 5), capture=1)
        with Gallery.open(path) as gallery:
            gallery.add(NUMBERS[:50], _templates(range(50)))
            gallery.add(NUMBERS[50:51], _templates([50]))
            before = gallery.search(probes)
        lines: list[str] = []
        with Gallery.open(path, progress=lines.append) as gallery:
            assert len(gallery) == 51 and NUMBERS[50] in gallery
            assert gallery.recovery.records == 51 and gallery.recovery.frames == 2
            assert gallery.recovery.bytes_truncated == 0
            assert gallery.search(probes) == before

    @pytest.mark.parametrize("cut", [1, 24, 100, 2000, 5000])
    def test_torn_tail__the_last_add_is_dropped_whole(self, tmp_path: Path, cut: int) -> None:
        """A crash in the middle of an add's write loses that add, never half of it."""
        path = tmp_path / "g"
        with Gallery.open(path) as gallery:
            gallery.add(NUMBERS[:10], _templates(range(10)))
            size = _log(gallery).stat().st_size
            gallery.add(NUMBERS[10:13], _templates(range(10, 13)))
        full = (path / "gallery.log").stat().st_size
        os.truncate(path / "gallery.log", full - cut)
        with Gallery.open(path) as gallery:
            assert len(gallery) == 10 and NUMBERS[10] not in gallery
            assert gallery.recovery.bytes_truncated == full - cut - size
            assert (path / "gallery.log").stat().st_size == size
            gallery.add(NUMBERS[10:13], _templates(range(10, 13)))  # the lost add can be made again
        with Gallery.open(path) as gallery:
            assert len(gallery) == 13

    def test_zeros_after_the_last_add__dropped(self, tmp_path: Path) -> None:
        """A file extended with zeros (blocks allocated, data never written) loses only the zeros."""
        path = tmp_path / "g"
        with Gallery.open(path) as gallery:
            gallery.add(NUMBERS[:5], _templates(range(5)))
        with open(path / "gallery.log", "ab") as log:
            log.write(b"\0" * 4096)
        with Gallery.open(path) as gallery:
            assert len(gallery) == 5 and gallery.recovery.bytes_truncated == 4096

    def test_damaged_record_in_the_last_add__dropped_as_torn(self, tmp_path: Path) -> None:
        """A bad checksum in the frame that ends the file is an unfinished write: that add is dropped."""
        path = tmp_path / "g"
        with Gallery.open(path) as gallery:
            gallery.add(NUMBERS[:5], _templates(range(5)))
            gallery.add(NUMBERS[5:8], _templates(range(5, 8)))
        _flip(path / "gallery.log", -100)
        with Gallery.open(path) as gallery:
            assert len(gallery) == 5

    def test_damaged_record_before_the_last_add__corruption(self, tmp_path: Path) -> None:
        """A bad checksum with acknowledged adds after it is never dropped: CorruptionError names file and offset."""
        path = tmp_path / "g"
        with Gallery.open(path) as gallery:
            gallery.add(NUMBERS[:5], _templates(range(5)))
            gallery.add(NUMBERS[5:8], _templates(range(5, 8)))
        _flip(path / "gallery.log", 3000)
        # Byte 3000 lies in the second record (24-byte frame header, 2080-byte records), which starts at 2104.
        for _ in range(2):  # the failed open let go of the directory: the second fails the same way
            with pytest.raises(CorruptionError, match=r"gallery\.log at byte 2104: record checksum"):
                Gallery.open(path)

    def test_failed_fsync__store_error_and_nothing_added(
        self, gallery: Gallery, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A write that fails is undone: StoreError, the file back to its size, the handle still usable."""
        size = _log(gallery).stat().st_size

        def broken(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", broken)
        with pytest.raises(StoreError, match="nothing added"):
            gallery.add(NUMBERS[400:402], _templates([400, 401]))
        monkeypatch.undo()
        assert len(gallery) == 300 and _log(gallery).stat().st_size == size
        gallery.add(NUMBERS[400:402], _templates([400, 401]))
        assert len(gallery) == 302

    def test_failed_write_not_undone__handle_refuses_until_reopened(
        self, gallery: Gallery, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the failed write cannot be truncated away either, every later call is refused."""

        def broken(fd: int, *args: object) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", broken)
        monkeypatch.setattr(os, "ftruncate", broken)
        with pytest.raises(StoreError, match="reopen"):
            gallery.add(NUMBERS[400:402], _templates([400, 401]))
        monkeypatch.undo()
        with pytest.raises(StoreError, match="reopen"):
            gallery.search(_templates([1]))

    def test_second_open__gallery_locked(self, tmp_path: Path) -> None:
        """Only one handle (one process) may hold the directory."""
        with Gallery.open(tmp_path / "g"), pytest.raises(GalleryLockedError, match="already open"):
            Gallery.open(tmp_path / "g")
        with Gallery.open(tmp_path / "g") as reopened:
            assert len(reopened) == 0

    def test_closed__calls_refused(self, tmp_path: Path) -> None:
        """After close, calls raise StoreClosedError; closing twice is harmless."""
        gallery = Gallery.open(tmp_path / "g")
        gallery.close()
        gallery.close()
        with pytest.raises(StoreClosedError):
            gallery.search(_templates([1]))
        with pytest.raises(StoreClosedError):
            gallery.add(NUMBERS[:1], _templates([1]))

    def test_path_that_is_a_file__invalid_input(self, tmp_path: Path) -> None:
        """A path naming a regular file is refused by field."""
        (tmp_path / "file").write_text("x")
        with pytest.raises(InvalidInputError) as excinfo:
            Gallery.open(tmp_path / "file")
        assert excinfo.value.field == "path"


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


class TestIndex:
    @pytest.mark.parametrize("scan", ["auto", "faiss"])
    def test_shards_do_not_change_answers(self, scan: Scanner) -> None:
        """One, two or three scan threads find the true match first; every score is the exact cosine.

        (Below the top, which of several codes at the same Hamming distance makes faiss's
        cut depends on the scan order, so lower candidates may differ.)
        """
        faces = synthetic_faces(SEED, range(2000))
        keys = np.arange(2000, dtype=np.int64) + 10**11
        probes = synthetic_faces(SEED, range(0, 2000, 97), capture=1)
        answers = []
        for shards in (1, 2, 3):
            index = SignCodeIndex(shards=shards, scan=scan)
            index.codes.pool_codes_min = 0  # scan in the pool's threads even this small index
            for start in range(0, 2000, 300):  # uneven adds: the shards must stay balanced and mapped right
                index.add(keys[start : start + 300], faces[start : start + 300])
            assert len(index) == 2000 and index.nbytes > 2000 * FACE_DIMS * 2
            answers.append(index.search(probes, 5))
        for found_keys, scores in answers:
            assert np.array_equal(found_keys[:, 0], keys[0:2000:97])
            exact = np.einsum("qkd,qd->qk", faces[found_keys - 10**11], probes)
            assert np.allclose(scores, exact, atol=2e-3)

    def test_fewer_than_k__padded_with_minus_one(self) -> None:
        """Keys -1 and scores -inf fill the places nobody holds."""
        index = SignCodeIndex()
        index.add(np.array([7, 8], np.int64), synthetic_faces(SEED, [1, 2]))
        keys, scores = index.search(synthetic_faces(SEED, [1]), 4)
        assert keys[0, 0] == 7 and list(keys[0, 2:]) == [-1, -1] and np.isneginf(scores[0, 2:]).all()

    def test_another_index__plugs_in(self, tmp_path: Path) -> None:
        """Any FaceIndex can replace the sign-code index: an exact brute-force one gives the same ranking."""
        index = _ExactIndex()
        with Gallery.open(tmp_path / "g", index=index) as gallery:
            gallery.add(NUMBERS[:200], _templates(range(200)))
            found = gallery.search(_templates([3, 150], capture=1), k=3)
        assert len(index) == 200 and [c[0].number for c in found] == [NUMBERS[3], NUMBERS[150]]


class _ExactIndex:
    """Float32 brute force: the simplest FaceIndex, to show the interface is all the gallery needs."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.int64)
        self.faces = np.zeros((0, FACE_DIMS), np.float32)

    def add(self, keys: npt.NDArray[np.int64], faces: npt.NDArray[np.float32]) -> None:
        self.keys = np.concatenate([self.keys, keys])
        self.faces = np.concatenate([self.faces, faces])

    def search(self, faces: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        scores = faces @ self.faces.T
        order = np.argsort(-scores, axis=1)[:, :k]
        return self.keys[order], np.take_along_axis(scores, order, axis=1)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        return int(self.faces.nbytes)


_: type[FaceIndex] = _ExactIndex  # the test double satisfies the protocol (checked by mypy)


class TestConcurrency:
    def test_adds_and_searches_from_threads(self, tmp_path: Path) -> None:
        """Four threads adding and searching at once lose nothing and see whole adds only."""
        errors: list[BaseException] = []
        with Gallery.open(tmp_path / "g") as gallery:

            def work(t: int) -> None:
                try:
                    for b in range(5):
                        start = t * 100 + b * 20
                        gallery.add(NUMBERS[start : start + 20], _templates(range(start, start + 20)))
                        gallery.search(_templates([start], capture=1))
                except BaseException as error:  # pragma: no cover - reported below
                    errors.append(error)

            threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors and len(gallery) == 400


@pytest.fixture(scope="module")
def easy_gallery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gallery]:
    with Gallery.open(tmp_path_factory.mktemp("easy")) as opened:
        opened.add(NUMBERS[:1000], _templates(range(1000)))
        yield opened


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(person=st.integers(0, 999), capture=st.integers(1, 1000))
def test_any_capture_of_an_enrolled_person__is_found(easy_gallery: Gallery, person: int, capture: int) -> None:
    """Whatever later capture of whichever enrolled person: their number comes first, above the threshold."""
    candidates = easy_gallery.search(_templates([person], capture=capture), k=2)[0]
    assert candidates[0].number == NUMBERS[person] and candidates[0].score >= DUPLICATE_THRESHOLD
    assert candidates[1].score < DUPLICATE_THRESHOLD


class TestBench:
    def test_bench_dedup__prints_one_json_object(self, tmp_path: Path) -> None:
        """A tiny `tessera bench dedup` run prints the figures and conditions, and cleans up after itself."""
        args = ["bench", "dedup", "--count", "3000", "--probes", "40", "--clustered", "--fingers", "2"]
        result = CliRunner().invoke(app, [*args, "--batch", "1000", "--json", "--dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        figures = json.loads(next(x for x in result.stdout.splitlines() if x.startswith("{")))
        assert figures["count"] == 3000 and figures["repeats"] == 20 and figures["durable"] is True
        assert figures["duplicate_recall"] == 1.0 and figures["false_match_rate"] == 0.0
        assert figures["search_ms_p50"] > 0 and figures["index_bytes"] > 0 and figures["threshold"] == 0.5
        assert list(tmp_path.iterdir()) == []

    def test_bench_dedup__bad_flag_is_a_usage_error(self) -> None:
        """Out-of-range options are refused with a usage message."""
        result = CliRunner().invoke(app, ["bench", "dedup", "--fingers", "11"])
        assert result.exit_code == 2
