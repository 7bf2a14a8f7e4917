"""Entries: the hand-written canonical JSON is json.dumps' exactly; the fast checks let nothing bad in."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.audit import AccessEntry, AccessLog
from tessera.audit.entries import checked_entry, plainly_valid
from tessera.errors import InvalidInputError
from tests.audit.entries import make_entry

CHARACTERS = st.characters(exclude_categories=[])  # lone surrogates included
TEXT = st.text(CHARACTERS, min_size=1, max_size=200).filter(lambda s: not s.isspace())
ENTRIES = st.builds(
    AccessEntry,
    time_ns=st.integers(0, 2**63 - 1),
    principal=TEXT,
    role=TEXT,
    agency=TEXT,
    purpose=TEXT,
    subject=TEXT,
    fields=st.lists(st.text(CHARACTERS, min_size=1, max_size=200), max_size=32).map(tuple),
    outcome=TEXT,
)
# Values of every kind a caller might pass by mistake, valid ones included.
ANYTHING: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**64),
    st.text(max_size=210),
    st.just("   "),
    st.binary(max_size=3),
    st.lists(st.text(max_size=3), max_size=2),
    st.lists(st.one_of(st.text(max_size=201), st.integers(), st.binary(max_size=2)), max_size=34).map(tuple),
)


@settings(max_examples=300)
@given(ENTRIES)
def test_canonical_json__same_bytes_as_json_dumps(entry: AccessEntry) -> None:
    """Any valid entry, any Unicode (lone surrogates too), encodes exactly as json.dumps(sort_keys) would."""
    reference = json.dumps(asdict(entry), sort_keys=True, separators=(",", ":")).encode()
    assert entry.encode() == reference
    assert AccessEntry.decode(entry.encode()) == entry


@settings(max_examples=500)
@given(st.lists(st.tuples(st.sampled_from(list(AccessEntry.__slots__)), ANYTHING), max_size=3))
def test_fast_check__never_passes_what_the_full_check_refuses(changes: list[tuple[str, Any]]) -> None:
    """Whatever is put into an entry, the column-wise check says valid only if the field-by-field one does."""
    entry = replace(make_entry(1), **dict(changes))
    try:
        checked_entry(entry, 0)
        valid = True
    except InvalidInputError:
        valid = False
    if plainly_valid([make_entry(0), entry]):
        assert valid


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 9), st.sampled_from(["principal", "purpose", "subject", "time_ns", "fields"]))
def test_bad_entry_anywhere_in_batch__named_by_position(position: int, field: str) -> None:
    """The error names the first bad entry's position and field, and nothing is written."""
    bad = {"principal": "", "purpose": " \t", "subject": "x" * 201, "time_ns": -1, "fields": ("",)}[field]
    batch = [make_entry(i) for i in range(10)]
    batch[position] = replace(batch[position], **{field: bad})
    with tempfile.TemporaryDirectory() as tmp, AccessLog.open(tmp) as log:
        with pytest.raises(InvalidInputError, match=rf"^entries\[{position}\]\.{field}"):
            log.append(batch)
        assert log.size == 0


def test_not_an_entry_in_batch__named() -> None:
    """A dict where an AccessEntry belongs is refused, naming its position."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        AccessLog.open(tmp) as log,
        pytest.raises(InvalidInputError, match=r"^entries\[1\]: must be an AccessEntry"),
    ):
        log.append([make_entry(0), asdict(make_entry(1))])  # type: ignore[list-item]


def test_time_beyond_64_bits__refused() -> None:
    """Times are kept to what a signed 64-bit nanosecond clock can hold."""
    with pytest.raises(InvalidInputError, match=r"time_ns"):
        checked_entry(replace(make_entry(0), time_ns=2**63), 0)


def test_str_subclass_texts__accepted_and_encoded_plainly() -> None:
    """Text that is a str subclass takes the slow path but is stored as plain JSON text."""

    class Name(str):
        pass

    entry = replace(make_entry(0), principal=Name("officer-9"))
    with tempfile.TemporaryDirectory() as tmp, AccessLog.open(tmp) as log:
        log.append([entry])
        assert log.entry(0) == replace(entry, principal="officer-9")
