"""Amounts as people write them, "12.50", and as the ledger counts them, 1250 minor units: no floats between.

A payment's amount arrives as a decimal string in the currency's units and is read
digit by digit into an integer of the ledger's smallest unit; an answer shows both. A
float never holds money here: ``0.1 + 0.2`` is not ``0.3``, and ``1e3`` or ``NaN`` are
refused as amounts, not interpreted.
"""

from __future__ import annotations

import re

from tessera.errors import InvalidInputError
from tessera.limits import AMOUNT_TEXT_MAX, ID_LIMIT

AMOUNT_MAX = ID_LIMIT - 1  # the ledger's amounts, balances and ids share one bound
_AMOUNT = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


def parse_amount(text: object, decimals: int, field: str = "amount") -> int:
    """``text`` ("12.50") as a positive whole number of minor units (1250 at 2 decimals), or InvalidInputError.

    Only digits with at most one dot: no sign, exponent, blanks, separators, ``NaN`` or
    ``Infinity``; no more decimal places than the currency has ("1.234" in cents is
    refused, not rounded); above zero and at most ``AMOUNT_MAX`` minor units.
    """
    if not isinstance(text, str):
        raise InvalidInputError(field, f'must be a decimal string such as "12.50", not {type(text).__name__}')
    if len(text) > AMOUNT_TEXT_MAX:
        raise InvalidInputError(field, f"must be at most {AMOUNT_TEXT_MAX} characters")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise InvalidInputError(
            field, f'must be digits with an optional decimal point, such as "12.50"; got {text!r:.50}'
        )
    fraction = match["fraction"] or ""
    if len(fraction) > decimals:
        places = "no decimal places" if decimals == 0 else f"at most {decimals} decimal places"
        raise InvalidInputError(field, f"this currency has {places}; got {text!r}")
    minor = int(match["whole"] + fraction.ljust(decimals, "0"))
    if minor == 0:
        raise InvalidInputError(field, "must be more than zero")
    if minor > AMOUNT_MAX:
        raise InvalidInputError(field, f"must be at most {format_amount(AMOUNT_MAX, decimals)}")
    return minor


def format_amount(minor: int, decimals: int) -> str:
    """Minor units as the currency's decimal string: 1250 at 2 decimals is "12.50", -5 is "-0.05"."""
    sign, digits = ("-", str(-minor)) if minor < 0 else ("", str(minor))
    if decimals == 0:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"
