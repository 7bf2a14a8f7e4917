"""Fusion: the batch matrix gives exactly the pair scores, with and without shared fingers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.identity.fusion import fused_score, pairwise_fused_scores
from tessera.identity.templates import FACE_DIMS, FINGER_DIMS, Templates, checked_templates


def _templates(seed: int, positions: list[int]) -> Templates:
    rng = np.random.default_rng(seed)
    fingers = [(p, rng.standard_normal(FINGER_DIMS)) for p in sorted(set(positions))]
    return checked_templates(rng.standard_normal(FACE_DIMS), fingers)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(1, 10), max_size=4), min_size=1, max_size=8), st.integers(0, 2**31))
def test_the_matrix_is_every_pair_s_fused_score(finger_sets: list[list[int]], seed: int) -> None:
    """Each cell of the pairwise matrix is the fused score of that pair, whatever fingers each person gave."""
    people = [_templates(seed + i, positions) for i, positions in enumerate(finger_sets)]
    matrix = pairwise_fused_scores(people)
    for i, a in enumerate(people):
        for j, b in enumerate(people):
            assert matrix[i, j] == pytest.approx(fused_score(a, b), abs=1e-6)


def test_no_templates_is_an_empty_matrix() -> None:
    """No people gives an empty 0x0 matrix rather than an error."""
    assert pairwise_fused_scores([]).shape == (0, 0)
