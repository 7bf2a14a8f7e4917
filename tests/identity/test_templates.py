"""Biometric templates: what a capture device may send, what is refused and where, and the stored bytes."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import CorruptionError, InvalidInputError
from tessera.identity.templates import (
    FACE_DIMS,
    FINGER_DIMS,
    FINGERS_MAX,
    Templates,
    checked_templates,
    encoded_size,
)

RNG = np.random.default_rng(7)
FACE = RNG.standard_normal(FACE_DIMS).astype(np.float32)
PRINTS = RNG.standard_normal((FINGERS_MAX, FINGER_DIMS)).astype(np.float32)


def _field(excinfo: pytest.ExceptionInfo[InvalidInputError]) -> str:
    return excinfo.value.field


class TestAcceptedForms:
    def test_array__comes_back_unit_length_and_read_only(self) -> None:
        """A float32 array is copied, normalised and frozen."""
        t = checked_templates(FACE * 3)
        assert t.face.dtype == np.float32 and t.face.shape == (FACE_DIMS,)
        assert abs(float(np.linalg.norm(t.face)) - 1) < 1e-6
        assert not t.face.flags.writeable
        assert np.allclose(t.face, FACE / np.linalg.norm(FACE), atol=1e-6)

    def test_list_of_numbers_and_integer_arrays(self) -> None:
        """A JSON list (ints and floats) and an integer array are templates too."""
        as_list = checked_templates([float(x) for x in FACE])
        assert as_list == checked_templates(FACE)
        ints = checked_templates(np.arange(1, FACE_DIMS + 1))
        assert abs(float(np.linalg.norm(ints.face)) - 1) < 1e-6

    def test_base64_of_little_endian_float32(self) -> None:
        """2048 bytes of little-endian float32 in base64 decode to the same template."""
        text = base64.b64encode(FACE.astype("<f4").tobytes()).decode()
        assert checked_templates(text) == checked_templates(FACE)

    def test_fingers_as_pairs_or_mappings__sorted_by_position(self) -> None:
        """Both finger forms are accepted and come back in position order, normalised."""
        t = checked_templates(FACE, [{"position": 7, "template": PRINTS[6].tolist()}, (2, PRINTS[1])])
        assert t.positions == (2, 7)
        assert t.finger_mask == 0b1000010
        for _, vector in t.fingers:
            assert abs(float(np.linalg.norm(vector)) - 1) < 1e-6


class TestRefusedFace:
    @pytest.mark.parametrize(
        ("face", "field", "words"),
        [
            (FACE[:511], "templates.face", "must be 512 float32 values, got 511"),
            (np.zeros(FACE_DIMS), "templates.face", "is all zeros"),
            (FACE.reshape(2, 256), "templates.face", "flat vector"),
            (FACE.astype(np.complex64), "templates.face", "numbers"),
            ("not base64!", "templates.face", "not valid base64"),
            (base64.b64encode(b"\0" * 2044).decode(), "templates.face", "got 2044 bytes"),
            ({"face": 1}, "templates.face", "must be an array"),
            ([*FACE[:3].tolist(), "x", *FACE[4:].tolist()], "templates.face[3]", "must be a number"),
            ([*FACE[:3].tolist(), True, *FACE[4:].tolist()], "templates.face[3]", "must be a number"),
        ],
    )
    def test_malformed_face__names_the_spot(self, face: object, field: str, words: str) -> None:
        """Each kind of bad face names the field (and element) and says what is wrong."""
        with pytest.raises(InvalidInputError, match=words) as excinfo:
            checked_templates(face)
        assert _field(excinfo) == field

    @pytest.mark.parametrize(("value", "words"), [(np.nan, "is NaN"), (np.inf, "is infinite"), (-np.inf, "infinite")])
    def test_non_finite_value__names_its_index(self, value: float, words: str) -> None:
        """A NaN or infinity is reported at its index, in a list or an array."""
        face = FACE.astype(np.float64)
        face[17] = value
        for form in (face, face.tolist()):
            with pytest.raises(InvalidInputError, match=words) as excinfo:
                checked_templates(form)
            assert _field(excinfo) == "templates.face[17]"

    def test_value_beyond_float32__is_refused(self) -> None:
        """A float64 too large for float32 would become infinite: refused at its index."""
        face = FACE.astype(np.float64)
        face[3] = 1e300
        with pytest.raises(InvalidInputError, match="too large") as excinfo:
            checked_templates(face)
        assert _field(excinfo) == "templates.face[3]"

    def test_field_prefix_is_the_callers(self) -> None:
        """The caller chooses the prefix, e.g. the index in a batch of submissions."""
        with pytest.raises(InvalidInputError) as excinfo:
            checked_templates(FACE[:10], field="submissions[4].templates")
        assert _field(excinfo) == "submissions[4].templates.face"


class TestRefusedFingers:
    @pytest.mark.parametrize(
        ("fingers", "field", "words"),
        [
            ([(1, PRINTS[0])] * 11, "templates.fingers", "at most 10"),
            ("1,2", "templates.fingers", "must be a list"),
            ([(1, PRINTS[0]), (11, PRINTS[1])], "templates.fingers[1].position", "1..10"),
            ([(0, PRINTS[0])], "templates.fingers[0].position", "1..10"),
            ([(True, PRINTS[0])], "templates.fingers[0].position", "1..10"),
            ([("2", PRINTS[0])], "templates.fingers[0].position", "1..10"),
            ([(3, PRINTS[0]), (5, PRINTS[1]), (3, PRINTS[2])], "templates.fingers[2].position", "appears twice"),
            ([(2, PRINTS[0][:255])], "templates.fingers[0].template", "must be 256 float32 values, got 255"),
            ([(2, np.zeros(FINGER_DIMS))], "templates.fingers[0].template", "all zeros"),
            ([{"position": 2}], "templates.fingers[0].template", "missing"),
            ([{"position": 2, "template": PRINTS[0], "image": b""}], "templates.fingers[0]", "unknown key 'image'"),
            ([(2, PRINTS[0], 3)], "templates.fingers[0]", "pair"),
        ],
    )
    def test_malformed_fingers__name_the_spot(self, fingers: object, field: str, words: str) -> None:
        """Each kind of bad finger list names the finger and the part of it that is wrong."""
        with pytest.raises(InvalidInputError, match=words) as excinfo:
            checked_templates(FACE, fingers)
        assert _field(excinfo) == field

    def test_nan_in_a_finger__names_finger_and_index(self) -> None:
        """The path goes down to the element of the finger template."""
        bad = PRINTS[0].copy()
        bad[40] = np.nan
        with pytest.raises(InvalidInputError, match="is NaN") as excinfo:
            checked_templates(FACE, [(1, PRINTS[1]), (4, bad)])
        assert _field(excinfo) == "templates.fingers[1].template[40]"


class TestConstructor:
    def test_wrong_shape_or_dtype__refused(self) -> None:
        """Built directly, Templates still checks shapes and dtypes (not values)."""
        with pytest.raises(InvalidInputError, match="float32") as excinfo:
            Templates(FACE.astype(np.float64))
        assert _field(excinfo) == "templates.face"
        with pytest.raises(InvalidInputError):
            Templates(FACE, ((2, PRINTS[0]), (2, PRINTS[1])))

    def test_unsorted_positions__refused(self) -> None:
        """The fingers tuple is sorted by position, without repeats."""
        with pytest.raises(InvalidInputError, match="ascending") as excinfo:
            Templates(FACE, ((5, PRINTS[0]), (2, PRINTS[1])))
        assert _field(excinfo) == "templates.fingers[1].position"


class TestBytes:
    @pytest.mark.parametrize("fingers", [0, 1, 3, 10])
    def test_round_trip(self, fingers: int) -> None:
        """to_bytes then from_bytes gives equal templates, of the documented size."""
        t = checked_templates(FACE, [(p, PRINTS[p - 1]) for p in range(1, fingers + 1)])
        data = t.to_bytes()
        assert len(data) == encoded_size(fingers)
        back = Templates.from_bytes(data)
        assert back == t and back.positions == t.positions
        assert np.array_equal(back.face, t.face)

    def test_digest_names_the_templates(self) -> None:
        """The digest is stable and differs when anything differs."""
        a = checked_templates(FACE)
        assert a.digest() == checked_templates(FACE).digest()
        assert a.digest() != checked_templates(FACE, [(1, PRINTS[0])]).digest()
        assert len({a, checked_templates(FACE)}) == 1

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def test_any_damaged_byte__is_corruption(self, data: st.DataObject) -> None:
        """Changing any one byte makes from_bytes raise CorruptionError, never return other templates."""
        raw = bytearray(checked_templates(FACE, [(2, PRINTS[1]), (9, PRINTS[8])]).to_bytes())
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
        with pytest.raises(CorruptionError):
            Templates.from_bytes(bytes(raw))

    def test_truncated_or_foreign_bytes(self) -> None:
        """Short input and a foreign magic are corruption; a non-bytes argument is a bad call."""
        raw = checked_templates(FACE).to_bytes()
        with pytest.raises(CorruptionError, match="too short"):
            Templates.from_bytes(raw[:100])
        with pytest.raises(CorruptionError, match="expected"):
            Templates.from_bytes(raw + b"\0\0\0\0")
        with pytest.raises(CorruptionError, match="magic"):
            Templates.from_bytes(b"XXXX" + raw[4:])
        with pytest.raises(InvalidInputError):
            Templates.from_bytes("text")  # type: ignore[arg-type]

    @settings(max_examples=40, deadline=None)
    @given(st.sets(st.integers(1, FINGERS_MAX)), st.integers(0, 2**32 - 1))
    def test_round_trip_any_fingers(self, positions: set[int], seed: int) -> None:
        """Any set of finger positions with any vectors survives the round trip bit for bit."""
        rng = np.random.default_rng(seed)
        t = checked_templates(
            rng.standard_normal(FACE_DIMS), [(p, rng.standard_normal(FINGER_DIMS)) for p in sorted(positions)]
        )
        assert Templates.from_bytes(t.to_bytes()).to_bytes() == t.to_bytes()
