"""Reports as CSV (stdlib ``csv``): one header line, the row type's columns in their declared order.

A row is a frozen dataclass. Its fields are the columns, in order, except those whose
metadata says ``csv=False``; a field marked ``amount=True`` is written as a decimal string
with the row's ``decimals`` (``format_amount``: 1250 at 2 decimals is ``12.50``), a field
marked ``time=True`` (nanoseconds) as RFC 3339 in UTC under its name less ``_ns``, and ``None`` as an empty cell. The
same row type always gives the same columns, so a spreadsheet or a script keeps working.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from typing import Any

from tessera.errors import InvalidInputError
from tessera.money import format_amount
from tessera.times import ns_to_rfc3339

AMOUNT: dict[str, Any] = {"amount": True}  # a field's metadata: minor units, written with the row's decimals
TIME: dict[str, Any] = {"time": True}  # nanoseconds since 1970, written as RFC 3339
HIDDEN: dict[str, Any] = {"csv": False}  # kept on the record, not a column


def _column(field: dataclasses.Field[Any]) -> str:
    """A field's column: a time's without ``_ns``, since it is written in RFC 3339."""
    return field.name.removesuffix("_ns") if field.metadata.get("time") else field.name


def columns(row_type: type[Any]) -> list[str]:
    """The CSV columns of a row type, in order."""
    return [_column(f) for f in dataclasses.fields(row_type) if f.metadata.get("csv", True)]


def _cell(row: Any, field: dataclasses.Field[Any]) -> str:
    value = getattr(row, field.name)
    if value is None:
        return ""
    if field.metadata.get("amount"):
        return format_amount(int(value), int(row.decimals))
    if field.metadata.get("time"):
        return ns_to_rfc3339(int(value)) if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(rows: Sequence[Any], row_type: type[Any] | None = None) -> str:
    """``rows`` (dataclasses of one type) as CSV text; an empty list needs ``row_type`` for its header."""
    kinds = {type(r) for r in rows}
    if len(kinds) > 1:
        raise InvalidInputError("rows", "a CSV report holds rows of one kind")
    kind = kinds.pop() if kinds else row_type
    if kind is None or not dataclasses.is_dataclass(kind):
        raise InvalidInputError("rows", "rows are records (dataclasses); an empty report names its row type")
    fields = [f for f in dataclasses.fields(kind) if f.metadata.get("csv", True)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_column(f) for f in fields])
    for row in rows:
        writer.writerow([_cell(row, f) for f in fields])
    return out.getvalue()
