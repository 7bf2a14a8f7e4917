"""The durable access log: appends survive, tampering is found and named."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from tessera.audit import AccessEntry, AccessLog, verify_log
from tessera.errors import CorruptionError, InvalidInputError
from tests.audit.entries import fill_log, make_entry
from tests.audit.rfc9162 import naive_mth, verify_consistency, verify_inclusion


class TestAppendAndReopen:
    def test_reopen__same_root_and_proofs_verify(self, tmp_path: Path) -> None:
        """After reopening, the root is the RFC root of the entries and proofs check independently."""
        entries = fill_log(tmp_path, 10)
        payloads = [e.encode() for e in entries]
        with AccessLog.open(tmp_path) as log:
            assert log.size == 10
            head = log.tree_head()
            assert head.root == naive_mth(payloads)
            assert head.verify(log.public_key)
            leaf = hashlib.sha256(b"\x00" + payloads[3]).digest()
            assert verify_inclusion(3, 10, leaf, log.inclusion_proof(3), head.root)
            assert verify_consistency(5, 10, naive_mth(payloads[:5]), head.root, log.consistency_proof(5))

    def test_torn_last_append__cut_on_open(self, tmp_path: Path) -> None:
        """Bytes of an append that never finished are dropped; earlier entries stay."""
        fill_log(tmp_path, 4)
        with open(tmp_path / "entries.log", "ab") as f:
            f.write(b"\x40\x00\x00\x00garbage")
        with AccessLog.open(tmp_path) as log:
            assert log.size == 4
        assert verify_log(tmp_path).entries == 4

    def test_missing_leaves__rebuilt_from_entries(self, tmp_path: Path) -> None:
        """The leaf cache is only a cache: a short one is rebuilt from the entries."""
        fill_log(tmp_path, 6)
        (tmp_path / "leaves.bin").write_bytes(b"")
        with AccessLog.open(tmp_path) as log:
            assert log.size == 6
        assert verify_log(tmp_path).entries == 6

    def test_key_is_private_to_the_owner(self, tmp_path: Path) -> None:
        """The signing key is created readable by its owner only."""
        AccessLog.open(tmp_path).close()
        assert (tmp_path / "log.key").stat().st_mode & 0o077 == 0


class TestVerify:
    def test_untouched_log__verifies(self, tmp_path: Path) -> None:
        """A log as written verifies, with every tree head counted."""
        entries = fill_log(tmp_path, 8)
        report = verify_log(tmp_path)
        assert (report.entries, report.tree_heads) == (8, 2)
        assert report.root == naive_mth([e.encode() for e in entries])

    def test_flipped_byte_in_entry__named(self, tmp_path: Path) -> None:
        """A changed byte fails the entry's checksum; the error names the entry."""
        fill_log(tmp_path, 6)
        data = bytearray((tmp_path / "entries.log").read_bytes())
        data[len(data) // 2] ^= 1
        (tmp_path / "entries.log").write_bytes(bytes(data))
        with pytest.raises(CorruptionError, match=r"entry \d fails its checksum"):
            verify_log(tmp_path)

    def test_rewritten_entry_with_fixed_checksum__named(self, tmp_path: Path) -> None:
        """Rewriting an entry and its checksum still breaks the leaf and the signed heads."""
        fill_log(tmp_path, 6)
        path = tmp_path / "entries.log"
        data = path.read_bytes()
        old = make_entry(2).encode()
        new = old.replace(b"benefit eligibility review", b"benefit eligibility REVIEW")
        assert data.count(old) == 1
        frame = len(old).to_bytes(4, "little") + zlib.crc32(old).to_bytes(4, "little")
        new_frame = len(new).to_bytes(4, "little") + zlib.crc32(new).to_bytes(4, "little")
        path.write_bytes(data.replace(frame + old, new_frame + new))
        with pytest.raises(CorruptionError, match="leaf 2 does not match entry 2"):
            verify_log(tmp_path)
        for cache in [tmp_path / "leaves.bin", *tmp_path.glob("nodes-*.bin")]:
            cache.write_bytes(b"")  # the forger drops the tree caches too
        with pytest.raises(CorruptionError, match=r"tree head 0 .* does not match the entries"):
            verify_log(tmp_path)

    def test_forged_tree_head__bad_signature(self, tmp_path: Path) -> None:
        """A tree head changed after signing is refused."""
        fill_log(tmp_path, 4)
        heads = bytearray((tmp_path / "heads.log").read_bytes())
        heads[20] ^= 1  # inside the first head's root
        (tmp_path / "heads.log").write_bytes(bytes(heads))
        with pytest.raises(CorruptionError, match="tree head 0 has a bad signature"):
            verify_log(tmp_path)

    def test_damaged_interior_node__named(self, tmp_path: Path) -> None:
        """A changed hash in an upper tree level is named by level and position."""
        fill_log(tmp_path, 16)
        data = bytearray((tmp_path / "nodes-02.bin").read_bytes())
        data[32 + 5] ^= 1
        (tmp_path / "nodes-02.bin").write_bytes(bytes(data))
        with pytest.raises(CorruptionError, match="node 1 of level 2 does not match"):
            verify_log(tmp_path)

    def test_entries_cut_at_frame_boundary__acknowledged_entries_missing(self, tmp_path: Path) -> None:
        """Whole entries removed from the end are caught by the checkpoint, though every frame is sound."""
        fill_log(tmp_path, 6)
        data = (tmp_path / "entries.log").read_bytes()
        last = len(make_entry(5).encode()) + 8
        (tmp_path / "entries.log").write_bytes(data[:-last])
        with pytest.raises(CorruptionError, match="holds 5 entries but the checkpoint says 6"):
            verify_log(tmp_path)

    def test_no_log__error(self, tmp_path: Path) -> None:
        """Verifying a directory without a log is a clear input error."""
        with pytest.raises(InvalidInputError, match="no access log"):
            verify_log(tmp_path)


class TestBadInput:
    @pytest.mark.parametrize(
        ("entry", "field"),
        [
            (AccessEntry(-1, "p", "officer", "a", "why", "s", (), "read"), r"entries\[1\]\.time_ns"),
            (AccessEntry(1, "p", "officer", "a", " ", "s", (), "read"), r"entries\[1\]\.purpose"),
            (AccessEntry(1, "p", "officer", "a", "why", "", (), "read"), r"entries\[1\]\.subject"),
            (AccessEntry(1, "p", "officer", "a", "why", "s", ["name"], "read"), r"entries\[1\]\.fields"),  # type: ignore[arg-type]
            (AccessEntry(1, "p", "officer", "a", "why", "s", ("",), "read"), r"entries\[1\]\.fields\[0\]"),
        ],
    )
    def test_bad_entry__error_names_field_nothing_written(self, tmp_path: Path, entry: AccessEntry, field: str) -> None:
        """An entry without a purpose (or with any bad field) is refused whole."""
        with AccessLog.open(tmp_path) as log:
            with pytest.raises(InvalidInputError, match=field):
                log.append([make_entry(0), entry])
            assert log.size == 0
        assert (tmp_path / "entries.log").read_bytes() == b""

    def test_empty_batch__error(self, tmp_path: Path) -> None:
        """An empty append is a caller bug."""
        with AccessLog.open(tmp_path) as log, pytest.raises(InvalidInputError, match="entries"):
            log.append([])
