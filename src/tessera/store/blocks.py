"""A table's rows as one block of fixed-width text lines, for numpy to parse a column at a time.

A Python object a row costs microseconds; ten million rows, a minute. Asking the database for
one fixed-width line a row (an SQL expression such as ``number || principal_id``), all in one
value, lets a caller check and slice the block with numpy: SQLite concatenates a million rows
at a time with ``group_concat`` (it caps a value at 10**9 bytes), PostgreSQL sends them by
``COPY ... TO STDOUT``. Callers read rows instead when ``fixed_lines`` finds a line of another width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SQLITE_BLOCK_ROWS = 1_000_000  # rows a concatenated value: SQLite caps one at 10**9 bytes
NEWLINE = ord("\n")


def line_block(conn: Connection, line: str, table: str, where: str = "") -> bytes:
    """``line`` (SQL, one fixed-width text a row) of every row of ``table`` matching ``where``, newline-terminated."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        with cursor.copy(f"COPY (SELECT {line} FROM {table}{f' WHERE {where}' if where else ''}) TO STDOUT") as copy:
            return b"".join(bytes(chunk) for chunk in copy)
    blocks: list[bytes] = []
    after = 0
    while True:
        cursor.execute(
            "SELECT count(*), max(r), CAST(group_concat(line, char(10)) AS BLOB) FROM ("
            f"SELECT rowid AS r, {line} AS line FROM {table} WHERE {f'{where} AND ' if where else ''}rowid > ? "
            "ORDER BY rowid LIMIT ?)",
            (after, SQLITE_BLOCK_ROWS),
        )
        count, last, block = cursor.fetchone()
        if not count:
            return b"".join(blocks)
        blocks += [block, b"\n"]
        after = last


def fixed_lines(block: bytes, width: int) -> npt.NDArray[np.uint8] | None:
    """The block as rows of ``width`` bytes (each newline dropped), or None unless every line is exactly so."""
    import numpy as np  # noqa: PLC0415 (numpy only for those who parse: small commands start fast)

    raw = np.frombuffer(block, dtype=np.uint8)
    if len(raw) % (width + 1) or np.count_nonzero(raw == NEWLINE) != len(raw) // (width + 1):
        return None
    lines = raw.reshape(-1, width + 1)
    if not (lines[:, width] == NEWLINE).all():
        return None
    return lines[:, :width]
