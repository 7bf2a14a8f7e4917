"""Tessera numbers and virtual IDs: Verhoeff check digits catch the mistakes people make."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.identity.numbers import (
    check_digit,
    check_digits,
    checked_number,
    checked_virtual_id,
    is_valid,
    new_number,
    new_virtual_id,
)

digits = st.text(alphabet="0123456789", min_size=11, max_size=15)


def test_known_verhoeff_values() -> None:
    """The worked examples of the algorithm: 236 -> 3, 12345 -> 1, 142857 -> 0."""
    assert check_digit("236") == "3"
    assert check_digit("12345") == "1"
    assert check_digit("142857") == "0"
    assert is_valid("2363") and not is_valid("2364")


@given(st.lists(digits.map(lambda d: d[:11]), min_size=1, max_size=50))
def test_check_digits_of_many_agrees_with_check_digit(bodies: list[str]) -> None:
    """The column-wise check digits (what the seeded generators use) are check_digit's, row by row."""
    table = np.array([[int(c) for c in body] for body in bodies], np.int64)
    assert [str(k) for k in check_digits(table).tolist()] == [check_digit(body) for body in bodies]


@given(digits)
def test_every_single_digit_error_is_caught(body: str) -> None:
    """Changing any one digit of a valid number makes it invalid."""
    number = body + check_digit(body)
    for i, ch in enumerate(number):
        for other in "0123456789":
            if other != ch:
                assert not is_valid(number[:i] + other + number[i + 1 :])


@given(digits)
def test_every_adjacent_swap_is_caught(body: str) -> None:
    """Swapping two different neighbouring digits makes a valid number invalid."""
    number = body + check_digit(body)
    for i in range(len(number) - 1):
        if number[i] != number[i + 1]:
            assert not is_valid(number[:i] + number[i + 1] + number[i] + number[i + 2 :])


def test_new_numbers_are_valid_random_and_the_right_length() -> None:
    """Fresh numbers carry their check digit, never start with 0, and do not repeat."""
    numbers = {new_number() for _ in range(2000)}
    assert len(numbers) == 2000
    assert all(len(n) == 12 and n[0] != "0" and is_valid(n) for n in numbers)
    assert all(len(v) == 16 and is_valid(v) for v in (new_virtual_id() for _ in range(200)))


def test_numbers_are_not_sequential() -> None:
    """Consecutive draws are far apart: nothing about order or time can be read off a number."""
    a, b = int(new_number()[:-1]), int(new_number()[:-1])
    assert abs(a - b) > 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12345678901", "12 digits"),
        ("1234567890123", "12 digits"),
        ("12345678901a", "12 digits"),
        ("\uff10" * 12, "12 digits"),  # fullwidth zeros: isdigit() alone would pass them
        (123456789012, "12 digits"),
        ("012345678901", "never starts with 0"),
    ],
)
def test_malformed_numbers_are_refused(value: object, message: str) -> None:
    """Wrong length, letters, other scripts' digits, non-strings and a leading 0 are named."""
    with pytest.raises(InvalidInputError, match=message) as caught:
        checked_number(value, "person")
    assert caught.value.field == "person"


def test_a_wrong_check_digit_is_refused() -> None:
    """A mistyped number is refused for its check digit, not looked up."""
    number = new_number()
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert checked_number(number) == number
    with pytest.raises(InvalidInputError, match="check digit"):
        checked_number(wrong)
    vid = new_virtual_id()
    assert checked_virtual_id(vid) == vid
    with pytest.raises(InvalidInputError, match="check digit"):
        checked_virtual_id(vid[:-1] + str((int(vid[-1]) + 1) % 10))
