"""Tessera numbers and virtual IDs: random digits closed by a Verhoeff check digit.

Verhoeff's check catches every single-digit error and every swap of two adjacent digits,
the two mistakes people make when they copy a number by hand. Numbers are drawn from
``secrets`` so that nothing about a person (when or where they enrolled) can be read off
their number; the registry's primary key makes sure a number is never issued twice.
"""

from __future__ import annotations

import secrets

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidInputError

NUMBER_DIGITS = 12
VIRTUAL_ID_DIGITS = 16
_DIGITS_MIN = 2  # a checked number is at least one digit of its own and the check digit

# The dihedral group D5's multiplication table and its inverses, as in Verhoeff (1969).
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
# Row i is Verhoeff's permutation (1 5 7 6 2 8 3 0 9 4) applied i times; computed, not typed.
_STEP = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)
_P: tuple[tuple[int, ...], ...] = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9),)
for _ in range(7):
    _P = (*_P, tuple(_STEP[d] for d in _P[-1]))
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def check_digit(digits: str) -> str:
    """The Verhoeff check digit to append to ``digits``."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def check_digits(digits: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The check digit of each row of ``digits`` (one digit a column): ``check_digit`` for many, a column at a time."""
    c = np.zeros(digits.shape[0], np.int64)
    d, p = np.array(_D, np.int64), np.array(_P, np.int64)
    width = digits.shape[1]
    for i in range(width):  # from the rightmost digit, as check_digit does
        c = d[c, p[(i + 1) % 8][digits[:, width - 1 - i]]]
    return np.array(_INV, np.int64)[c]


def is_valid(number: str) -> bool:
    """Whether ``number`` (digits only) ends in its correct Verhoeff check digit."""
    if not number.isascii() or not number.isdigit() or len(number) < _DIGITS_MIN:
        return False
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def _random_number(digits: int) -> str:
    # The first digit is never 0, so the number survives a trip through a spreadsheet.
    body = str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(digits - 2))
    return body + check_digit(body)


def new_number() -> str:
    """A fresh random Tessera number: 12 digits, the last a check digit. Unicity is the registry's job."""
    return _random_number(NUMBER_DIGITS)


def new_virtual_id() -> str:
    """A fresh random virtual ID: 16 digits, the last a check digit."""
    return _random_number(VIRTUAL_ID_DIGITS)


def checked_number(value: object, field: str = "number") -> str:
    """``value`` if it is a well-formed Tessera number, else InvalidInputError naming ``field``."""
    return _checked(value, field, NUMBER_DIGITS, "Tessera number")


def checked_virtual_id(value: object, field: str = "virtual_id") -> str:
    """``value`` if it is a well-formed virtual ID, else InvalidInputError naming ``field``."""
    return _checked(value, field, VIRTUAL_ID_DIGITS, "virtual ID")


def _checked(value: object, field: str, digits: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != digits or not value.isascii() or not value.isdigit():
        raise InvalidInputError(field, f"a {what} is {digits} digits, got {value!r:.40}")
    if value[0] == "0":
        raise InvalidInputError(field, f"a {what} never starts with 0")
    if not is_valid(value):
        raise InvalidInputError(field, f"the check digit of {value} is wrong: mistyped?")
    return value
