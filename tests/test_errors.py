"""Every error class has a stable code, a docstring, and a line in the errors.py tree."""

from __future__ import annotations

from tessera import errors
from tessera.errors import ERROR_CODES, TesseraError


def test_every_error_class_is_in_the_codes_table() -> None:
    """No exception class escapes the documented table."""
    classes = {v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, TesseraError)}
    assert classes == set(ERROR_CODES.values())


def test_codes_are_unique_and_documented() -> None:
    """The module docstring draws every class with its code."""
    doc = errors.__doc__ or ""
    assert len({cls.code for cls in ERROR_CODES.values()}) == len(ERROR_CODES)
    for code, cls in ERROR_CODES.items():
        assert cls.__doc__, cls
        assert cls.__name__ in doc and code in doc, cls


def test_invalid_input_is_a_value_error_naming_the_field() -> None:
    """Callers may catch ValueError; the message starts with the field."""
    error = errors.InvalidInputError("transfers[2].amount", "must not be negative")
    assert isinstance(error, ValueError)
    assert error.field == "transfers[2].amount"
    assert str(error).startswith("transfers[2].amount: ")
