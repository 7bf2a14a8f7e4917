"""Pro-rating an over-budget line: numpy where the products fit in int64, exact Python integers where they may not."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tessera.programs.cycles import _pro_rated

INT64_MAX = 2**63 - 1


@given(
    st.lists(st.integers(0, INT64_MAX // 4), min_size=1, max_size=50),
    st.integers(1, INT64_MAX),
    st.integers(0, INT64_MAX // 4),
)
def test_pro_rated__amount_times_budget_over_asked_rounded_down(amounts: list[int], budget: int, extra: int) -> None:
    """Whatever the sizes, each amount is ``a * budget // asked`` exactly, as Python's integers say."""
    asked = sum(amounts) + extra + 1
    budget = min(budget, asked - 1)
    got = _pro_rated(np.array(amounts, np.int64), budget, asked)
    assert got.dtype == np.int64
    assert got.tolist() == [a * budget // asked for a in amounts]


def test_pro_rated__small_and_huge_products_alike() -> None:
    """A product past 2**63 takes the exact path; a small one numpy's, with the same rounding."""
    big = np.array([2**62, 3, 0], np.int64)
    assert _pro_rated(big, 2**62 - 1, 2**62 + 4).tolist() == [a * (2**62 - 1) // (2**62 + 4) for a in big.tolist()]
    assert _pro_rated(np.array([7, 10], np.int64), 5, 17).tolist() == [2, 2]
    assert _pro_rated(np.zeros(0, np.int64), 5, 17).tolist() == []
