"""The registry read a cycle starts from: one block of fixed-width lines, the same as reading it row by row."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import update

from tessera.programs.active_persons import (
    ActivePersons,
    _active_persons_by_row,
    _parsed_persons,
    holder_text,
    number_text,
)
from tessera.programs.active_persons import scan_active_persons as _active_persons
from tessera.store import Store, persons, principals
from tessera.testing import seed_persons


def test_active_persons__block_and_rows_agree(store: Store) -> None:
    """Numbers in order, principals, subjects (one not its principal's id), birth days and sexes; inactive left out."""
    numbers = seed_persons(store, 7, 40)
    with store.transaction(write=True) as conn:
        conn.execute(update(persons).where(persons.c.number == numbers[3]).values(status="deceased"))
        holder = conn.execute(persons.select().where(persons.c.number == numbers[5])).one().principal_id
        conn.execute(update(principals).where(principals.c.id == holder).values(subject="an older subject"))
    fast, slow = _active_persons(store), _active_persons_by_row(store)
    assert len(fast[0]) == len(numbers) - 1
    assert number_text(fast[0]).tolist() == sorted(set(numbers) - {numbers[3]})
    for got, want in zip(fast, slow, strict=True):
        assert got.dtype.kind == want.dtype.kind
        assert got.tolist() == want.tolist()
    subjects = ActivePersons.of(fast).subjects().tolist()
    assert fast[4].tolist() == [int(numbers[5])] and subjects.count("an older subject") == 1
    with store.transaction() as conn:
        rows = sorted(conn.execute(persons.select().where(persons.c.status == "active")).all(), key=lambda r: r.number)
    assert holder_text(fast[1]).tolist() == [r.principal_id for r in rows]
    assert [s for s in subjects if s != "an older subject"] == [r.principal_id for r in rows if r.number != numbers[5]]
    assert fast[3].tolist() == [r.sex.encode() for r in rows]


def test_active_persons__none_registered(store: Store) -> None:
    """An empty registry reads as no one."""
    assert [len(c) for c in _active_persons(store)] == [0] * 6


@pytest.mark.parametrize(
    "line",
    [
        b"123456789012p_0123456789abcdef1990-01-05",  # one short
        b"123456789012p_0123456789abcdef1990-01-05FX",  # one long
        b"12345678901xp_0123456789abcdef1990-01-05F",  # not a digit
        b"123456789012p_0123456789abcdef1990/01/05F",  # not a date
        b"123456789012p_0123456789abcdef1990-13-05F",  # no such month
        b"123456789012p_0123456789abcdeF1990-01-05F",  # not a lower-case hex digit
        b"123456789012q_0123456789abcdef1990-01-05F",  # not a principal id
    ],
)
def test_parsed_persons__a_line_not_as_written_is_left_to_the_rows(line: bytes) -> None:
    """Any line of another width or form makes the block unreadable, so that the row-by-row read decides."""
    good = b"123456789013p_0123456789abcdee1990-01-05F\n"
    assert _parsed_persons(good) is not None
    assert _parsed_persons(good + line + b"\n") is None


def test_parsed_persons__dates_before_and_after_1970() -> None:
    """Birth days count from 1970-01-01 both ways, as numpy's calendar does."""
    block = b"".join(
        f"{n:012d}p_0123456789abcdef{d}M\n".encode() for n, d in enumerate(["1969-12-31", "1970-01-01", "2000-02-29"])
    )
    parsed = _parsed_persons(block)
    assert parsed is not None
    days = np.array(["1969-12-31", "1970-01-01", "2000-02-29"], "datetime64[D]").astype(np.int64)
    assert parsed[2].tolist() == days.tolist()
