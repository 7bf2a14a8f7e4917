"""The active persons kept in the data directory: read back after a restart and patched, or set aside and scanned."""

from __future__ import annotations

import json
import logging
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update

from tessera.identity import Households, MembershipColumns, read_membership_columns
from tessera.programs import ActivePersons, ActivePersonsSnapshot, KeptHouseholds, number_text, scan_active_persons
from tessera.programs.kept_files import KeptFile, read_kept, write_kept
from tessera.store import Store, person_changes, persons
from tessera.testing import seed_persons

OFFICER = "p_00000000000000aa"
REASON = "family registered at the desk, birth certificates seen"


def _same(got: ActivePersons, store: Store) -> None:
    want = ActivePersons.of(scan_active_persons(store))
    for name in ActivePersons.__slots__:
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name


def _restarted(store: Store, path: Path) -> ActivePersonsSnapshot:
    """A snapshot as a restarted process makes it: nothing in memory, the file beside the store."""
    return ActivePersonsSnapshot(store, path=path, patch_min=0, rebuild_fraction=0.5)


_days = iter(range(1, 29))


def _correct(store: Store, count: int) -> None:
    """``count`` persons' birth dates corrected (to a day none had before): as many changes logged."""
    with store.transaction(write=True) as conn:
        numbers = conn.execute(select(persons.c.number).order_by(persons.c.number).limit(count)).scalars().all()
        conn.execute(
            update(persons).where(persons.c.number.in_(numbers)).values(birth_date=f"2001-02-{next(_days):02d}")
        )


@pytest.fixture
def path(store: Store, tmp_path: Path) -> Path:
    """Forty persons registered, one gone, the snapshot scanned and written."""
    numbers = seed_persons(store, 7, 40)
    with store.transaction(write=True) as conn:
        conn.execute(update(persons).where(persons.c.number == numbers[3]).values(status="deceased"))
    file = tmp_path / "active_persons.columns"
    first = _restarted(store, file)
    first.active_persons()
    assert first.last.how == "scanned" and file.exists()
    return file


def test_a_restart_reads_the_file_and_patches_what_changed_since(store: Store, path: Path) -> None:
    """Nothing changed: the file as it is. Some registered and corrected since: the file, patched from the log."""
    again = _restarted(store, path)
    _same(again.active_persons(), store)
    assert again.last.how == "loaded" and again.last.changed == 0
    seed_persons(store, 8, 3)
    _correct(store, 2)
    later = _restarted(store, path)
    _same(later.active_persons(), store)
    assert later.last.how == "loaded" and later.last.changed == 5
    _same(later.active_persons(), store)
    assert later.last.how == "kept"


def test_patches_write_the_file_once_the_log_has_moved_far_enough_and_on_save(store: Store, path: Path) -> None:
    """A few changes are only patched in memory; a tenth of the persons rewrite the file, as ``save`` does."""
    before = path.read_bytes()
    kept = ActivePersonsSnapshot(store, path=path, patch_min=0, save_fraction=0.1)
    kept.active_persons()
    _correct(store, 2)
    kept.active_persons()
    assert kept.last.how == "patched" and path.read_bytes() == before  # 2 of 39: not yet
    _correct(store, 4)
    kept.active_persons()
    assert path.read_bytes() != before  # 6 changes past the file: written
    _correct(store, 1)
    kept.active_persons()
    written = path.read_bytes()
    kept.save()
    assert path.read_bytes() != written
    again = _restarted(store, path)
    _same(again.active_persons(), store)
    assert again.last.how == "loaded" and again.last.changed == 0
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file renamed over the old one, none left behind


def _scans_afresh(store: Store, path: Path, caplog: pytest.LogCaptureFixture, said: str) -> None:
    caplog.set_level(logging.WARNING)
    again = _restarted(store, path)
    _same(again.active_persons(), store)
    assert again.last.how == "scanned"
    assert any(said in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_a_file_of_another_store_is_set_aside(
    store: Store, path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another registry's file, its log numbered as this one's is: its entries differ, so it is scanned afresh."""
    other_file = tmp_path / "other.columns"
    with Store.open(f"sqlite:///{tmp_path / 'other.db'}") as other:
        seed_persons(other, 9, 41)  # as many changes logged as this store's 40 and one
        ActivePersonsSnapshot(other, path=other_file).active_persons()
    path.write_bytes(other_file.read_bytes())
    _scans_afresh(store, path, caplog, "not written beside this store's change log")


def test_a_file_the_log_was_pruned_past_is_set_aside(
    store: Store, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log's entries after the file pruned: what changed between cannot be known."""
    _correct(store, 2)
    with store.transaction(write=True) as conn:
        newest = conn.execute(select(func.max(person_changes.c.seq))).scalar_one()
        conn.execute(delete(person_changes).where(person_changes.c.seq < newest))
    _scans_afresh(store, path, caplog, "pruned past it")


def test_a_file_ahead_of_the_log_is_set_aside(store: Store, path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A log whose newest entries are gone (a store restored from an older backup): the file is ahead of it."""
    with store.transaction(write=True) as conn:
        newest = conn.execute(select(func.max(person_changes.c.seq))).scalar_one()
        conn.execute(delete(person_changes).where(person_changes.c.seq == newest))
    _scans_afresh(store, path, caplog, "past the log's newest")


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "a column's byte changed",
        "a padding byte changed",
        "a header's byte changed",
        "more after it",
        "not ours",
        "empty",
    ],
)
def test_a_damaged_file_is_set_aside(store: Store, path: Path, caplog: pytest.LogCaptureFixture, damage: str) -> None:
    """Cut short, a byte flipped (its CRC-32 no longer holds), bytes added, another file, empty: scanned afresh."""
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "a column's byte changed":
        data[_start(data) + _columns(data)[3]["offset"]] ^= 0x01  # the sexes' first byte
    elif damage == "a padding byte changed":
        sexes = _columns(data)[3]  # 39 persons' of a byte each: padded to 64
        data[_start(data) + sexes["offset"] + sexes["bytes"]] ^= 0x01
    elif damage == "a header's byte changed":
        data[40] ^= 0x01
    elif damage == "more after it":
        data += b"\0"
    elif damage == "not ours":
        data = bytearray(b"not numpy" * 100)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    _scans_afresh(store, path, caplog, "cannot be read")


def _start(data: bytearray) -> int:
    """Where a file's columns start: past its magic line, the header's length and CRC-32, and the header."""
    magic = data.index(b"\n") + 1
    return magic + 12 + int.from_bytes(data[magic : magic + 8], "little")


def _columns(data: bytearray) -> list[dict[str, Any]]:
    magic = data.index(b"\n") + 1
    columns: list[dict[str, Any]] = json.loads(data[magic + 12 : _start(data)])["columns"]
    return columns


_column = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1)).map(lambda v: np.array(v, np.int64)),
    st.lists(st.integers(0, 2**16 - 1)).map(lambda v: np.array(v, np.uint16)),
    st.lists(st.binary(max_size=3)).map(lambda v: np.array(v, np.bytes_) if v else np.zeros(0, "S1")),
    st.lists(st.text(max_size=5)).map(lambda v: np.array(v, np.str_) if v else np.zeros(0, "U1")),
    st.lists(st.booleans()).map(lambda v: np.array(v, np.bool_)),
)


@settings(max_examples=30, deadline=None)
@given(columns=st.lists(_column, min_size=1, max_size=5), unpadded=st.booleans())
def test_columns_read_back_as_written_mapped_where_aligned(columns: list[Any], unpadded: bool) -> None:
    """Any columns, of any types and lengths, read back as written; those of a file of format 1 (nothing padded,
    so not aligned) copied, those of format 2 mapped read-only in place."""
    named = {f"c{i}": column for i, column in enumerate(columns)}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "kept.columns"
        kept = KeptFile(7, named, np.array([[7, 1]], np.int64))
        (_write_format_1 if unpadded else write_kept)(path, "things", kept)
        found = read_kept(path, "things", tuple(named))
        assert found is not None and found.seq == 7 and found.fingerprint.tolist() == [[7, 1]]
        for name, column in named.items():
            got = found.columns[name]
            assert got.dtype == column.dtype and got.tolist() == column.tolist(), name
            assert not got.flags.writeable or unpadded or not len(got)
        del found, got  # the mapping closed before the directory goes


def _write_format_1(path: Path, kind: str, kept: KeptFile) -> None:
    """A file as written before format 2: the columns one after another, nothing padded."""
    listed, offset = [], 0
    for name, column in kept.columns.items():
        raw = column.view(np.uint8).data if column.nbytes else b""
        listed.append({"name": name, "dtype": column.dtype.str, "length": len(column), "offset": offset})
        listed[-1] |= {"bytes": column.nbytes, "crc32": zlib.crc32(raw)}
        offset += column.nbytes
    header = {"format": 1, "kind": kind, "seq": kept.seq, "fingerprint": kept.fingerprint.tolist(), "columns": listed}
    head = json.dumps(header).encode()
    body = b"".join(column.tobytes() for column in kept.columns.values())
    path.write_bytes(b"TESSERA KEPT\n" + struct.pack("<QI", len(head), zlib.crc32(head)) + head + body)


def test_a_file_whose_columns_disagree_is_set_aside(store: Store, path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Whole and of this store, but its numbers out of order (no snapshot writes that): scanned afresh."""
    found = read_kept(path, "active persons", ActivePersons.__slots__)
    assert found is not None
    columns = {**found.columns, "numbers": found.columns["numbers"][::-1]}
    write_kept(path, "active persons", KeptFile(found.seq, columns, found.fingerprint))
    _scans_afresh(store, path, caplog, "holds columns not as kept active persons are written")


def test_the_numbers_read_back_are_the_registry_s(store: Store, path: Path) -> None:
    """The compact columns give back the registry's own numbers as text."""
    again = _restarted(store, path)
    with store.transaction() as conn:
        active = conn.execute(select(persons.c.number).where(persons.c.status == "active")).scalars().all()
    assert number_text(again.active_persons().numbers).tolist() == sorted(active)


def test_households_read_back_after_a_restart_patched_or_set_aside(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The households' file read back and patched with a head changed since; damaged, read afresh."""
    homes = Households(store)
    numbers = sorted(seed_persons(store, 11, 6))
    made = homes.create_household(numbers[:3], head=numbers[0], actor=OFFICER, reason=REASON)
    homes.create_household(numbers[3:5], head=numbers[4], actor=OFFICER, reason=REASON)
    file = tmp_path / "households.columns"
    KeptHouseholds(store, path=file).memberships()
    assert file.exists()
    again = KeptHouseholds(store, path=file)
    _same_members(again.memberships(), read_membership_columns(store))
    assert again.last.how == "loaded" and again.last.changed == 0
    homes.change_head(made.id, numbers[2], actor=OFFICER, reason=REASON)
    later = KeptHouseholds(store, path=file)
    _same_members(later.memberships(), read_membership_columns(store))
    assert later.last.how == "loaded" and later.last.changed == 2
    homes.create_household(numbers[5:], head=numbers[5], actor=OFFICER, reason=REASON)  # an id the file lacks
    newer = KeptHouseholds(store, path=file)
    _same_members(newer.memberships(), read_membership_columns(store))
    assert newer.last.how == "loaded" and newer.memberships().ids.dtype.kind == "S"  # as the file keeps them
    later.save()
    file.write_bytes(file.read_bytes()[:-40])
    caplog.set_level(logging.WARNING)
    damaged = KeptHouseholds(store, path=file)
    _same_members(damaged.memberships(), read_membership_columns(store))
    assert damaged.last.how == "scanned" and any("cannot be read" in r.getMessage() for r in caplog.records)


def _same_members(kept: MembershipColumns, fresh: MembershipColumns) -> None:
    assert kept.numbers.tolist() == fresh.numbers.tolist()
    assert kept.heads.tolist() == fresh.heads.tolist()
    assert kept.ids[kept.households].astype(str).tolist() == fresh.ids[fresh.households].tolist()
