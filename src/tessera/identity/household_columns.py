"""Every household membership as numpy columns, read as one block: what a cycle's preview counts households from.

``Households.memberships`` hands out a Python tuple a member (about 6 µs each: a minute of
CPU at ten million). ``read_membership_columns`` asks the database for one fixed-width text
line a member instead (number, household id, head: 31 characters), SQLite's ``group_concat``
a million rows at a time or PostgreSQL's ``COPY ... TO STDOUT``, and parses the block a
column at a time with numpy, as ``tessera.programs``' scan of the active persons does. A line
of another width (none is written so) sends the whole read row by row instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.store import Store, fixed_lines, line_block

_LINE = 31  # number (12), household id ("h_" and 16 hex digits: 18), head ("1" or "0")
_HEAD = "CASE WHEN is_head THEN '1' ELSE '0' END"
_MEMBER_LINE = f"number || household_id || {_HEAD}"
_ZERO = ord("0")
_HEX = np.full(256, 255, np.uint8)  # byte -> its value as a lower-case hex digit; 255 for any other byte
_HEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class MembershipColumns:
    """Every person in a household now, by number: their household (numbered 0, 1, …) and whether they head it."""

    numbers: npt.NDArray[np.int64]  # Tessera numbers (12 digits) as integers, ascending
    households: npt.NDArray[np.int64]  # 0 to count - 1, by household id: equal for the members of one
    heads: npt.NDArray[np.bool_]
    count: int  # households numbered: every one with a member (and, in a copy kept and patched, some emptied)
    ids: npt.NDArray[Any]  # household i's id, ascending: text, or ASCII bytes as a kept file holds them

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[str, str, bool]]) -> MembershipColumns:
        """The columns of ``(number, household id, heads it)`` rows, in any order."""
        listed = sorted(rows)
        if not listed:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.bool_), 0, np.zeros(0, "U18"))
        ids, households = np.unique(np.array([h for _, h, _ in listed]), return_inverse=True)
        heads = np.fromiter((bool(head) for _, _, head in listed), dtype=np.bool_, count=len(listed))
        numbers = np.array([n for n, _, _ in listed]).astype(np.int64)  # 12 digits each: in order either way
        return cls(numbers, households.astype(np.int64).reshape(-1), heads, len(ids), ids)


def read_membership_columns(store: Store) -> MembershipColumns:
    """Every membership now, read as one block of fixed-width lines and parsed with numpy (rows when one is not)."""
    with store.transaction() as conn:
        parsed = _parsed(line_block(conn, _MEMBER_LINE, "household_members"))
        if parsed is not None:
            return parsed
        rows = conn.exec_driver_sql("SELECT number, household_id, is_head FROM household_members")
        return MembershipColumns.of_rows((str(n), str(h), bool(head)) for n, h, head in rows)


def _parsed(block: bytes) -> MembershipColumns | None:
    """The columns from the lines, by number; None unless every line is as written."""
    lines = fixed_lines(block, _LINE)
    if lines is None:
        return None
    digits = lines[:, :12] - _ZERO  # below "0" wraps round
    hex_digits = _HEX[lines[:, 14:30]]
    head = lines[:, 30]
    if not (
        (digits <= 9).all()  # noqa: PLR2004
        and (lines[:, 12] == ord("h")).all()
        and (lines[:, 13] == ord("_")).all()
        and (hex_digits < 16).all()  # noqa: PLR2004
        and ((head == _ZERO) | (head == _ZERO + 1)).all()
    ):
        return None
    number = np.zeros(len(lines), np.int64)
    for k in range(12):  # a Tessera number's 12 digits, as one integer to sort by
        number = number * 10 + digits[:, k]
    # The id's 16 hex digits as 8 bytes, read as one big-endian integer to group by.
    packed = np.ascontiguousarray((hex_digits[:, 0::2] << 4) | hex_digits[:, 1::2])
    household_id = packed.view(">u8").reshape(-1).astype(np.uint64)
    order = np.argsort(number, kind="stable")
    ids, first, households = np.unique(household_id[order], return_index=True, return_inverse=True)
    numbers = number[order]
    id_text = np.take(lines[:, 12:30], order[first], axis=0).astype(np.uint32).view("U18").reshape(-1)
    heads = head[order] == _ZERO + 1
    return MembershipColumns(numbers, households.astype(np.int64).reshape(-1), heads, len(ids), id_text)
