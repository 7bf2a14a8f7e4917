"""The memberships as numpy columns, read in one block: the same as the rows ``Households.memberships`` returns."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.identity import Households, MembershipColumns, Registry
from tessera.store import Store, household_members, households
from tests.identity.registered import OFFICER, REASON, person


@pytest.fixture
def homes(store: Store) -> Households:
    return Households(store)


@pytest.fixture
def world(store: Store, homes: Households) -> list[str]:
    """Three persons alone, a household of three, and one of three whose head left (another heads it now)."""
    registry = Registry(store)
    numbers = [person(registry) for _ in range(9)]
    homes.create_household(numbers[3:6], head=numbers[4], actor=OFFICER, reason=REASON)
    left = homes.create_household(numbers[6:9], head=numbers[6], actor=OFFICER, reason=REASON)
    homes.remove_member(left.id, numbers[6], new_head=numbers[8], actor=OFFICER, reason=REASON)
    return numbers


def assert_same(columns: MembershipColumns, rows: MembershipColumns) -> None:
    assert columns.numbers.tolist() == rows.numbers.tolist()
    assert columns.households.tolist() == rows.households.tolist()
    assert columns.heads.tolist() == rows.heads.tolist()
    assert columns.count == rows.count


def test_the_block_read_agrees_with_the_rows(homes: Households, world: list[str]) -> None:
    """Members by number, one household number per household, its head flagged; who left and who is alone absent."""
    columns = homes.membership_columns()
    assert_same(columns, MembershipColumns.of_rows(homes.memberships()))
    by_number = dict(
        zip(
            [f"{n:012d}" for n in columns.numbers.tolist()],
            zip(columns.households.tolist(), columns.heads.tolist(), strict=True),
            strict=True,
        )
    )
    assert sorted(by_number) == sorted(world[3:6] + world[7:9])
    assert by_number[world[3]][0] == by_number[world[5]][0] == by_number[world[4]][0] != by_number[world[8]][0]
    assert {n for n, (_, head) in by_number.items() if head} == {world[4], world[8]}
    assert columns.count == 2 and sorted(set(columns.households.tolist())) == [0, 1]


def test_no_household_reads_as_empty_columns(homes: Households) -> None:
    columns = homes.membership_columns()
    assert (len(columns.numbers), len(columns.households), len(columns.heads), columns.count) == (0, 0, 0, 0)
    assert columns.numbers.dtype == np.dtype(np.int64)


@pytest.mark.parametrize("odd_id", ["h_0123", "h_ZZZZZZZZZZZZZZZZ"])
def test_a_line_not_as_written_is_read_row_by_row(
    store: Store, homes: Households, world: list[str], odd_id: str
) -> None:
    """A household id of another width or not in hex (none is written so) sends the read to the rows, which agree."""
    with store.transaction(write=True) as conn:
        conn.execute(households.insert().values(id=odd_id, created_at_ns=1, created_by=OFFICER, closed_at_ns=None))
        conn.execute(
            household_members.insert().values(number=world[0], household_id=odd_id, is_head=True, joined_at_ns=1)
        )
    columns = homes.membership_columns()
    assert_same(columns, MembershipColumns.of_rows(homes.memberships()))
    assert int(world[0]) in columns.numbers.tolist() and columns.count == 3
