"""The synthetic people of tessera.testing: reproducible, realistic enough, and honest about who is who."""

from __future__ import annotations

import datetime
import unicodedata

import numpy as np
import pytest

from tessera.identity.numbers import is_valid
from tessera.identity.templates import FACE_DIMS, FINGER_DIMS, FINGERS_MAX
from tessera.testing import (
    FINGER_ORDER,
    SyntheticEnrolment,
    synthetic_enrolments,
    synthetic_faces,
    synthetic_fingers,
    synthetic_numbers,
)

DEMOGRAPHIC_KEYS = {"name", "other_names", "birth_date", "sex", "address"}


def _scores(seed: int, people: int, clustered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Genuine scores (two captures of one person) and every stranger pair's score."""
    first = synthetic_faces(seed, range(people), clustered=clustered)
    second = synthetic_faces(seed, range(people), capture=1, clustered=clustered)
    genuine = np.einsum("ij,ij->i", first, second)
    strangers = first @ second.T
    return genuine, strangers[~np.eye(people, dtype=bool)]


class TestArrays:
    def test_same_seed_same_vectors__other_seed_other_vectors(self) -> None:
        """Faces and fingers depend on the seed only."""
        a = synthetic_faces(5, range(300), clustered=True)
        assert np.array_equal(a, synthetic_faces(5, range(300), clustered=True))
        assert not np.allclose(a, synthetic_faces(6, range(300), clustered=True))
        assert np.array_equal(synthetic_fingers(5, [3, 700]), synthetic_fingers(5, [3, 700]))

    def test_a_persons_capture_does_not_depend_on_what_else_is_asked(self) -> None:
        """Person 700 capture 2 is the same alone, in a range or among others."""
        alone = synthetic_faces(9, [700], capture=2)
        assert np.array_equal(alone[0], synthetic_faces(9, range(600, 800), capture=2)[100])
        assert np.array_equal(alone[0], synthetic_faces(9, [5, 700, 9000], capture=2)[1])

    def test_shapes_and_unit_rows(self) -> None:
        """float32 rows of unit length, FACE_DIMS for faces and FINGERS_MAX x FINGER_DIMS for fingers."""
        faces = synthetic_faces(1, range(10))
        prints = synthetic_fingers(1, range(10))
        assert faces.dtype == np.float32 and faces.shape == (10, FACE_DIMS)
        assert prints.dtype == np.float32 and prints.shape == (10, FINGERS_MAX, FINGER_DIMS)
        assert np.allclose(np.linalg.norm(faces, axis=1), 1, atol=1e-5)
        assert np.allclose(np.linalg.norm(prints, axis=2), 1, atol=1e-5)

    def test_easy_faces__genuine_near_075_strangers_near_0(self) -> None:
        """Easy mode: two captures of one person score 0.65..0.85, strangers far below."""
        genuine, strangers = _scores(2, 1500, clustered=False)
        assert genuine.min() > 0.65 and genuine.max() < 0.85 and abs(float(np.median(genuine)) - 0.75) < 0.02
        assert abs(float(strangers.mean())) < 0.005 and strangers.max() < 0.3

    def test_clustered_faces__genuine_and_stranger_scores_overlap(self) -> None:
        """Clustered mode is harder: some strangers outscore some genuine pairs."""
        genuine, strangers = _scores(2, 3000, clustered=True)
        assert strangers.max() > genuine.min()
        assert genuine.min() > 0.4 and np.median(genuine) > 0.6

    def test_fingers__separate_people_in_both_modes(self) -> None:
        """Finger templates of one person score far above any stranger's, clustered or not."""
        for clustered in (False, True):
            a = synthetic_fingers(4, range(400), clustered=clustered)
            b = synthetic_fingers(4, range(400), capture=1, clustered=clustered)
            genuine = np.einsum("ijk,ijk->ij", a, b)
            strangers = np.einsum("ijk,ijk->ij", a[:200], b[200:])
            assert genuine.min() > 0.5 and strangers.max() < 0.45

    def test_bad_arguments__value_error(self) -> None:
        """Negative people or captures are a programming error."""
        with pytest.raises(ValueError, match="capture"):
            synthetic_faces(1, [-1])
        with pytest.raises(ValueError, match="capture"):
            synthetic_faces(1, [1], capture=-1)


class TestNumbers:
    def test_distinct_valid_and_reproducible(self) -> None:
        """Every number is 12 digits, passes its check digit, and none repeats."""
        numbers = synthetic_numbers(3, 20_000)
        assert numbers == synthetic_numbers(3, 20_000)
        assert numbers != synthetic_numbers(4, 20_000)
        assert len(set(numbers)) == len(numbers)
        assert all(len(n) == 12 and n[0] != "0" and is_valid(n) for n in numbers)


@pytest.fixture(scope="module")
def submissions() -> list[SyntheticEnrolment]:
    return list(synthetic_enrolments(11, 1500, duplicate_share=0.08, fingers=3))


class TestEnrolments:
    def test_same_seed_same_submissions(self, submissions: list[SyntheticEnrolment]) -> None:
        """Everything, templates included, is reproduced from the seed."""
        again = list(synthetic_enrolments(11, 300, duplicate_share=0.08, fingers=3))
        assert again == submissions[:300]

    def test_demographics_have_exactly_the_documented_keys(self, submissions: list[SyntheticEnrolment]) -> None:
        """name, other_names, birth_date, sex, address: typed as documented; the household label beside them."""
        for s in submissions:
            d = s.demographics
            assert set(d) == DEMOGRAPHIC_KEYS
            assert isinstance(d["name"], str) and d["name"]
            assert isinstance(d["other_names"], list) and all(isinstance(n, str) for n in d["other_names"])
            born = datetime.date.fromisoformat(str(d["birth_date"]))
            assert datetime.date(1940, 1, 1) <= born <= datetime.date(2025, 12, 31)
            assert d["sex"] in {"F", "M", "X"}
            assert isinstance(d["address"], str) and isinstance(s.household, str)

    def test_names_come_in_several_scripts(self, submissions: list[SyntheticEnrolment]) -> None:
        """Latin, Cyrillic, Arabic, Devanagari, Ethiopic and Han names all appear."""
        scripts = {
            unicodedata.name(ch).split()[0] for s in submissions for ch in str(s.demographics["name"]) if ch.isalpha()
        }
        assert {"LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI", "ETHIOPIC", "CJK"} <= scripts

    def test_request_ids_are_unique(self, submissions: list[SyntheticEnrolment]) -> None:
        """One request id per submission."""
        assert len({s.request_id for s in submissions}) == len(submissions)

    def test_repeats_are_the_same_person_under_another_name(self, submissions: list[SyntheticEnrolment]) -> None:
        """A repeat points at an earlier submission of the same person, scores like them, and is named otherwise."""
        repeats = [(j, s) for j, s in enumerate(submissions) if s.duplicate_of is not None]
        assert 60 <= len(repeats) <= 190  # 8 % of 1500 = 120
        for j, s in repeats:
            assert s.duplicate_of is not None and s.duplicate_of < j
            first = submissions[s.duplicate_of]
            assert first.duplicate_of is None and first.person == s.person
            assert float(np.dot(first.templates.face, s.templates.face)) > 0.6
            assert s.demographics["name"] != first.demographics["name"] or s.demographics != first.demographics
            assert s.templates != first.templates  # a new capture, not a copy

    def test_new_people_are_numbered_in_order(self, submissions: list[SyntheticEnrolment]) -> None:
        """Persons are 0, 1, 2 ... in order of their first submission."""
        firsts = [s.person for s in submissions if s.duplicate_of is None]
        assert firsts == list(range(len(firsts)))

    def test_fingers_at_the_usual_positions(self, submissions: list[SyntheticEnrolment]) -> None:
        """fingers=3 gives the right index, left index and right thumb."""
        assert all(s.templates.positions == tuple(sorted(FINGER_ORDER[:3])) for s in submissions)

    def test_bad_arguments__value_error(self) -> None:
        """A share of 1 or more, or more than ten fingers, is a programming error."""
        with pytest.raises(ValueError, match="duplicate_share"):
            list(synthetic_enrolments(1, 10, duplicate_share=1.0))
        with pytest.raises(ValueError, match="fingers"):
            list(synthetic_enrolments(1, 10, fingers=11))
