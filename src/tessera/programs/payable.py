"""The eligible units of a cycle's frozen preview, read back for disbursement as columns, not as a row each.

SQLite concatenates them in SQL (``group_concat``), a million rows to a block: the person and
holder (fixed widths, one block), the seqs and the amounts (comma-separated); numpy parses
each block whole. Anything not as written (a width, a count, the order) falls back to reading
rows on the driver's cursor, as PostgreSQL always does.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from tessera.store import NUMBER_LENGTH, PRINCIPAL_ID_LENGTH

Columns = tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_], npt.NDArray[np.int64], npt.NDArray[np.int64]]
_WIDTH = NUMBER_LENGTH + PRINCIPAL_ID_LENGTH  # a person's number, then their principal id
_BLOCK_ROWS = 1_000_000  # SQLite caps a value at 10**9 bytes: a block of a million rows stays far below
_BLOCK = (
    f"SELECT count(*), max(seq), sum(length(person) != {NUMBER_LENGTH} OR length(holder) != {PRINCIPAL_ID_LENGTH}), "
    "CAST(group_concat(person || holder, '') AS BLOB), group_concat(seq, ','), group_concat(amounts, ',') FROM ("
    "SELECT seq, person, holder, amounts FROM cycle_results WHERE cycle_id = ? AND eligible AND seq > ? "
    "ORDER BY seq LIMIT ?)"
)


def payable_columns(conn: Connection, cycle_id: int, lines: int) -> Columns:
    """Numbers and holders (ASCII), seqs and amounts (a column a line) of the eligible units of ``cycle_id``, by seq."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # tuples, not SQLAlchemy rows
    found = _concatenated(cursor, cycle_id, lines) if conn.dialect.name == "sqlite" else None
    return found if found is not None else _by_row(cursor, conn.dialect.name, cycle_id, lines)


def _concatenated(cursor: Any, cycle_id: int, lines: int) -> Columns | None:
    blocks: list[Columns] = []
    after = -1
    while True:
        cursor.execute(_BLOCK, (cycle_id, after, _BLOCK_ROWS))
        count, last, other_widths, people, seqs, amounts = cursor.fetchone()
        if not count:
            break
        if other_widths:
            return None
        block = _parsed(count, people, seqs, amounts, lines)
        if block is None:
            return None
        blocks.append(block)
        after = last
    if not blocks:
        return _empty(lines)
    numbers, holders, seq, amount = (np.concatenate(column) for column in zip(*blocks, strict=True))
    if len(seq) > 1 and not (np.diff(seq) > 0).all():  # group_concat kept the subquery's order, as SQLite does
        return None
    return numbers, holders, seq, amount


def _parsed(count: int, people: bytes, seqs: str, amounts: str, lines: int) -> Columns | None:
    if len(people) != count * _WIDTH:
        return None
    raw = np.frombuffer(people, np.uint8).reshape(count, _WIDTH)
    numbers = np.ascontiguousarray(raw[:, :NUMBER_LENGTH]).view(f"S{NUMBER_LENGTH}").ravel()
    holders = np.ascontiguousarray(raw[:, NUMBER_LENGTH:]).view(f"S{PRINCIPAL_ID_LENGTH}").ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, and stops, at text it cannot read
        try:
            seq = np.fromstring(seqs, dtype=np.int64, sep=",")
            amount = np.fromstring(amounts, dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            return None
    if len(seq) != count or len(amount) != count * lines:
        return None
    return numbers, holders, seq, amount.reshape(count, lines)


def _by_row(cursor: Any, dialect: str, cycle_id: int, lines: int) -> Columns:
    mark = "%s" if dialect == "postgresql" else "?"
    cursor.execute(
        f"SELECT person, holder, seq, amounts FROM cycle_results WHERE cycle_id = {mark} AND eligible ORDER BY seq",
        (cycle_id,),
    )
    rows = cursor.fetchall()
    if not rows:
        return _empty(lines)
    person, holder, seq, text = zip(*rows, strict=True)
    amounts = np.array(",".join(text).split(","), dtype=np.int64).reshape(len(rows), lines)
    return np.array(person).astype(np.bytes_), np.array(holder).astype(np.bytes_), np.array(seq, np.int64), amounts


def _empty(lines: int) -> Columns:
    empty = np.zeros(0, np.bytes_)
    return empty, empty, np.zeros(0, np.int64), np.zeros((0, lines), np.int64)
