"""Amounts as decimal strings: read digit by digit into minor units, shown back the same way; no floats."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.money import AMOUNT_MAX, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "decimals", "minor"),
    [("12.50", 2, 1250), ("12.5", 2, 1250), ("12", 2, 1200), ("0.01", 2, 1), ("7", 0, 7), ("007.10", 2, 710)],
)
def test_parse_amount__decimal_strings_in_minor_units(text: str, decimals: int, minor: int) -> None:
    """A decimal string in the currency's units is that many minor units, trailing zeros or not."""
    assert parse_amount(text, decimals) == minor


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1.234", "at most 2 decimal places"),
        ("1e3", "digits with an optional decimal point"),
        ("-1", "digits with an optional decimal point"),
        ("+1", "digits with an optional decimal point"),
        ("0", "more than zero"),
        ("0.00", "more than zero"),
        ("NaN", "digits with an optional decimal point"),
        ("Infinity", "digits with an optional decimal point"),
        ("1.", "digits with an optional decimal point"),
        (".5", "digits with an optional decimal point"),
        (" 1", "digits with an optional decimal point"),
        ("1,00", "digits with an optional decimal point"),
        ("١٢", "digits with an optional decimal point"),  # Arabic-Indic digits are not 0-9
        ("92233720368547758.08", "at most"),
        ("1" * 41, "at most 40 characters"),
    ],
)
def test_parse_amount__refusals_name_the_field(text: str, words: str) -> None:
    """Signs, exponents, NaN, zero, too many decimals and too much are refused with the field named."""
    with pytest.raises(InvalidInputError, match=words) as caught:
        parse_amount(text, 2, "amount")
    assert caught.value.field == "amount"


def test_parse_amount__a_number_is_not_a_string() -> None:
    """A JSON number (a float or an int) is refused: amounts travel as strings."""
    for value in (12.5, 1250, None):
        with pytest.raises(InvalidInputError, match="decimal string"):
            parse_amount(value, 2)


def test_parse_amount__whole_currency_has_no_decimal_places() -> None:
    """A currency with no minor unit refuses any decimal places."""
    with pytest.raises(InvalidInputError, match="no decimal places"):
        parse_amount("1.0", 0)


def test_parse_amount__the_largest_amount_is_the_ledgers() -> None:
    """2**63 - 1 minor units is the most; one more is refused."""
    assert parse_amount(format_amount(AMOUNT_MAX, 2), 2) == AMOUNT_MAX
    with pytest.raises(InvalidInputError):
        parse_amount(str(AMOUNT_MAX + 1), 0)


@given(st.integers(min_value=1, max_value=AMOUNT_MAX), st.integers(min_value=0, max_value=18))
def test_format_then_parse_is_the_same_amount(minor: int, decimals: int) -> None:
    """Showing an amount and reading it back gives the same minor units, at every number of decimals."""
    assert parse_amount(format_amount(minor, decimals), decimals) == minor


def test_format_amount__pads_and_signs() -> None:
    """Minor units are shown with the currency's decimals, a negative balance with its sign."""
    assert (format_amount(5, 2), format_amount(-5, 2), format_amount(1250, 2), format_amount(3, 0)) == (
        "0.05",
        "-0.05",
        "12.50",
        "3",
    )


@given(st.text(max_size=50))
def test_parse_amount__any_text_is_an_amount_or_invalid_input(text: str) -> None:
    """Whatever a client sends, the answer is minor units or InvalidInputError, never another fault."""
    try:
        assert 0 < parse_amount(text, 2) <= AMOUNT_MAX
    except InvalidInputError as error:
        assert error.field == "amount"
