"""The compiled per-entry path (``tessera.audit._prepare``) writes exactly what the Python path writes.

``prepare`` either answers None (the Python path then decides) or the same frames, leaf
hashes, subject keys and sizes, byte for byte; for every plainly valid batch it must
answer, or the fast path would silently never be taken. ``hash_pairs`` is hashlib's
node hash pair by pair.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.audit import AccessEntry, AccessLog, MerkleTree, entries, merkle
from tessera.audit.entries import FIELDS_MAX, TEXT_MAX, PreparedBatch, plainly_valid, prepare_batches
from tests.audit.entries import make_entries, make_entry

_prepare = pytest.importorskip(
    "tessera.audit._prepare",
    reason="tessera.audit._prepare is not built (no OpenSSL/zlib headers when setup.py ran); the Python path is used",
)

# Every code point: ASCII, controls, Latin-1, BMP, astral, lone surrogates.
CHARACTERS = st.characters(exclude_categories=[])
AWKWARD = st.sampled_from(['"', "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "\x80", "\u2028", "\ud800"])
TEXT_CHARACTERS = st.one_of(CHARACTERS, AWKWARD, st.sampled_from(" \t\u3000\x85\xa0\x1c"))
TEXT = st.one_of(
    st.text(TEXT_CHARACTERS, min_size=1, max_size=TEXT_MAX),
    st.text(st.characters(max_codepoint=127), min_size=1, max_size=12),
    st.just("x" * TEXT_MAX),
    st.just("\U0001f600" * TEXT_MAX),
)
NAMES = st.lists(st.text(TEXT_CHARACTERS, min_size=1, max_size=TEXT_MAX), max_size=FIELDS_MAX).map(tuple)
VALID = st.builds(
    AccessEntry,
    time_ns=st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([0, 2**63 - 1, 2**32, 10**18])),
    principal=TEXT,
    role=TEXT,
    agency=TEXT,
    purpose=TEXT,
    subject=TEXT,
    fields=NAMES,
    outcome=TEXT,
).filter(lambda e: plainly_valid([e]))
# Values a caller might put in by mistake, valid ones among them.
WRONG: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([-1, 2**63, 2**64, -(2**63), 1.5, 10**30]),
    st.integers(-5, 2**64),
    st.sampled_from(
        ["", " ", "   ", "\t\n", "\u3000", "\x1c\x1d", "x" * (TEXT_MAX + 1), "\U0001f600" * (TEXT_MAX + 1)]
    ),
    st.text(TEXT_CHARACTERS, max_size=TEXT_MAX + 2),
    st.binary(max_size=3),
    st.lists(st.text(max_size=3), max_size=2),
    st.lists(st.one_of(st.text(max_size=TEXT_MAX + 1), st.integers(), st.binary(max_size=2)), max_size=34).map(tuple),
    st.just(("x",) * (FIELDS_MAX + 1)),
    st.just(("",)),
)
SLOTS = list(AccessEntry.__slots__)
ENTRY = st.one_of(
    VALID,
    st.builds(
        lambda e, changes: replace(e, **dict(changes)), VALID, st.lists(st.tuples(st.sampled_from(SLOTS), WRONG))
    ),
)


@contextmanager
def python_path() -> Iterator[None]:
    """The pure-Python path, as where the extension is not built."""
    with (
        mock.patch.object(entries, "_prepare", None),
        mock.patch.object(merkle, "hash_pairs", merkle._python_hash_pairs),
    ):
        yield


def python_prepared(batch: Sequence[object]) -> PreparedBatch:
    with python_path():
        return prepare_batches([batch])  # type: ignore[list-item]


def assert_same(compiled: tuple[bytes, bytes, bytes, list[int]], reference: PreparedBatch) -> None:
    frames, leaves, keys, sizes = compiled
    assert frames == reference.frames
    assert leaves == reference.leaves
    assert keys == reference.keys
    assert sizes == reference.sizes


@settings(max_examples=400)
@given(st.lists(VALID, min_size=1, max_size=6))
def test_prepare__plainly_valid_batches_take_the_fast_path_with_the_same_bytes(batch: list[AccessEntry]) -> None:
    """Every plainly valid batch takes the compiled path and writes byte for byte what Python writes."""
    compiled = _prepare.prepare(batch)
    assert compiled is not None, "a plainly valid batch fell back to the Python path"
    assert_same(compiled, python_prepared(batch))


@settings(max_examples=600)
@given(st.lists(ENTRY, min_size=1, max_size=4))
def test_prepare__answers_none_or_the_python_bytes(batch: list[AccessEntry]) -> None:
    """Whatever is in the entries, the compiled path answers exactly when the fast check passes."""
    compiled = _prepare.prepare(batch)
    if not plainly_valid(batch):
        assert compiled is None
        return
    assert compiled is not None
    assert_same(compiled, python_prepared(batch))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_ns", True),
        ("time_ns", False),
        ("time_ns", -1),
        ("time_ns", 2**63),
        ("time_ns", 1.0),
        ("principal", ""),
        ("role", " \t"),
        ("agency", "\u3000\u2029"),
        ("purpose", "x" * (TEXT_MAX + 1)),
        ("subject", None),
        ("outcome", b"read"),
        ("fields", ["name"]),
        ("fields", ("",)),
        ("fields", ("name", 3)),
        ("fields", ("y" * (TEXT_MAX + 1),)),
        ("fields", ("n",) * (FIELDS_MAX + 1)),
    ],
)
def test_prepare__refuses_what_the_checks_refuse(field: str, value: object) -> None:
    """A batch with any bad value falls back to Python, which refuses it: the fast path never accepts more."""
    batch = [make_entry(0), replace(make_entry(1), **{field: value})]
    assert _prepare.prepare(batch) is None
    assert python_prepared(batch).errors[0] is not None


def test_prepare__edges_that_pass() -> None:
    """Limits exactly reached, blank field names, whitespace around text: valid, and the same bytes."""
    edge = replace(
        make_entry(0),
        time_ns=2**63 - 1,
        principal="p" * TEXT_MAX,
        role=" officer ",
        subject="\ud800 lone \udfff and \U0001f600",
        fields=(" ",) * FIELDS_MAX,
    )
    batch = [edge, replace(edge, time_ns=0, fields=())]
    compiled = _prepare.prepare(batch)
    assert compiled is not None
    assert_same(compiled, python_prepared(batch))


class Text(str):
    pass


def test_prepare__leaves_the_unusual_to_python() -> None:
    """A str subclass, an int subclass or a subclass of AccessEntry: the compiled path declines."""
    assert _prepare.prepare([replace(make_entry(0), role=Text("officer"))]) is None
    assert _prepare.prepare([make_entry(0), "not an entry"]) is None
    assert _prepare.prepare([object.__new__(AccessEntry)]) is None  # slots never set
    assert _prepare.prepare([]) == (b"", b"", b"", [])
    assert _prepare.prepare((make_entry(0),)) is not None  # any sequence
    with pytest.raises(TypeError):
        _prepare.prepare(3)


def test_prepare__configure_takes_only_slotted_classes() -> None:
    """configure() refuses a class without slots, whose fields the C code could not read."""

    class NoSlots:
        pass

    with pytest.raises(TypeError):
        _prepare.configure(NoSlots, TEXT_MAX, FIELDS_MAX)


def test_prepare_batches__same_result_either_path_with_a_refused_batch() -> None:
    """With a refused batch among good ones, both paths give the same frames, leaves, keys and errors."""
    batches = [make_entries(0, 5), [*make_entries(5, 2), replace(make_entry(7), role="")], make_entries(8, 3)]
    fast = prepare_batches(batches)
    with python_path():
        slow = prepare_batches(batches)
    assert (fast.frames, fast.leaves, fast.keys, fast.sizes) == (slow.frames, slow.leaves, slow.keys, slow.sizes)
    assert [type(e) for e in fast.errors] == [type(e) for e in slow.errors]
    assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors]


@settings(max_examples=100)
@given(st.binary(min_size=0, max_size=64 * 40).map(lambda b: b[: len(b) // 64 * 64]))
def test_hash_pairs__hashlib_pair_by_pair(level: bytes) -> None:
    """hash_pairs equals hashlib pair by pair on bytes, bytearrays and memoryviews, as the Python path does."""
    expected = b"".join(hashlib.sha256(b"\x01" + level[i : i + 64]).digest() for i in range(0, len(level), 64))
    assert _prepare.hash_pairs(level) == expected
    assert _prepare.hash_pairs(bytearray(level)) == expected
    assert _prepare.hash_pairs(memoryview(level)) == expected
    assert merkle._python_hash_pairs(level) == expected


def test_hash_pairs__long_runs_and_bad_lengths() -> None:
    """hash_pairs stays right on long runs and refuses lengths not a multiple of 64, and text."""
    level = hashlib.sha256(b"seed").digest() * 2 * 1000  # long enough to release the GIL
    expected = b"".join(hashlib.sha256(b"\x01" + level[i : i + 64]).digest() for i in range(0, len(level), 64))
    assert _prepare.hash_pairs(level) == expected
    for bad in (b"x", b"x" * 32, b"x" * 65):
        with pytest.raises(ValueError):
            _prepare.hash_pairs(bad)
    with pytest.raises(TypeError):
        _prepare.hash_pairs("text")


def test_merkle_tree__same_levels_either_path() -> None:
    """A tree grown in pieces on the fast path has every level the Python path and a rebuild have."""
    leaves = [hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(1000)]
    fast = MerkleTree()
    for k in range(0, 1000, 37):
        fast.extend_leaf_hashes(b"".join(leaves[k : k + 37]))
    with python_path():
        slow = MerkleTree()
        slow.extend_leaf_hashes(b"".join(leaves))
        rebuilt = MerkleTree.from_levels([bytearray(b"".join(leaves))])
    assert fast.height == slow.height == rebuilt.height
    for level in range(fast.height):
        assert fast.level_hashes(level, 0) == slow.level_hashes(level, 0) == rebuilt.level_hashes(level, 0)


def test_access_log__same_files_either_path(tmp_path: Any) -> None:
    """A log written through the compiled path and one written through Python hold the same bytes."""
    batches = [make_entries(0, 100), make_entries(100, 1), make_entries(101, 250)]
    batches[1] = [replace(batches[1][0], subject="pérson \U0001f600", purpose='say "hi"\n')]
    with AccessLog.open(tmp_path / "fast") as log:
        for batch in batches:
            log.append(batch)
        fast_root = log.root()
    with python_path(), AccessLog.open(tmp_path / "slow") as log:
        for batch in batches:
            log.append(batch)
        slow_root = log.root()
    assert fast_root == slow_root
    for name in ("entries.log", "leaves.bin", "index.bin", "nodes-01.bin", "nodes-08.bin"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "slow" / name).read_bytes(), name
