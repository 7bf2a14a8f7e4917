"""The registry's households as a cycle reads them: members matched to the persons asked, the rest alone."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tessera.identity import Households, Registry
from tessera.programs import RegisteredHouseholds
from tessera.programs.households import _found
from tessera.store import Store
from tests.identity.registered import OFFICER, REASON, person


def test_members_share_their_household_and_its_head_the_rest_are_alone(store: Store) -> None:
    """Persons asked in or out of a household, a member not asked, one who left: households as the registry says."""
    registry, homes = Registry(store), Households(store)
    numbers = [person(registry) for _ in range(8)]
    homes.create_household(numbers[0:3], head=numbers[1], actor=OFFICER, reason=REASON)
    two = homes.create_household(numbers[3:6], head=numbers[3], actor=OFFICER, reason=REASON)
    homes.remove_member(two.id, numbers[5], actor=OFFICER, reason=REASON)
    asked = np.array(sorted([*numbers[1:], "000000000000"]))  # numbers[0], a member, not asked; one number unknown
    composition = RegisteredHouseholds(homes.membership_columns).composition(asked)
    household = dict(zip(asked.tolist(), composition.household.tolist(), strict=True))
    head = dict(zip(asked.tolist(), composition.head.tolist(), strict=True))
    assert household[numbers[1]] == household[numbers[2]] != household[numbers[3]] == household[numbers[4]]
    alone = [numbers[5], numbers[6], numbers[7], "000000000000"]
    assert len({household[n] for n in alone} | {household[numbers[1]], household[numbers[3]]}) == 6
    assert [n for n in asked.tolist() if head[n]] == sorted([numbers[1], numbers[3], *alone])
    assert len(composition.others_household) == len(composition.others_birth_day) == 0


def test_no_one_asked_is_no_one_counted(store: Store) -> None:
    composition = RegisteredHouseholds(Households(store).membership_columns).composition(np.zeros(0, "U12"))
    assert len(composition.household) == len(composition.head) == 0


@given(
    members=st.sets(st.integers(0, 400), max_size=120),
    numbers=st.sets(st.integers(0, 400), max_size=120),
)
def test_found__guessed_a_stride_at_a_time__as_a_binary_search(members: set[int], numbers: set[int]) -> None:
    """Each number's place among the members, found or not: as ``np.searchsorted`` says, however they overlap."""
    hay, needles = np.array(sorted(members), np.int64), np.array(sorted(numbers), np.int64)
    if not len(hay):
        return
    at, found = _found(hay, needles)
    assert found.tolist() == [n in members for n in sorted(numbers)]
    want = np.searchsorted(hay, needles)
    assert at[found].tolist() == want[found].tolist()
