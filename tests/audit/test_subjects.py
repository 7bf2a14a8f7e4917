"""A person lists who looked at their data: newest first, paged, exact despite key collisions."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.audit import AccessEntry, AccessLog
from tessera.audit import entries as entries_module
from tessera.errors import InvalidInputError
from tests.audit.entries import make_entries, make_entry, write_log


def _expected(
    entries: list[AccessEntry], subject: str, limit: int, before: int | None
) -> list[tuple[int, AccessEntry]]:
    found = [(i, e) for i, e in enumerate(entries) if e.subject == subject and (before is None or i < before)]
    return found[::-1][:limit]


class TestListing:
    def test_one_subject__newest_first_and_nobody_else(self, tmp_path: Path) -> None:
        """Only the subject's own entries come back, with their log indexes, newest first."""
        entries = write_log(tmp_path, [10, 7])
        with AccessLog.open(tmp_path) as log:
            assert log.entries_for_subject("person-2") == _expected(entries, "person-2", 100, None)
            assert [i for i, _ in log.entries_for_subject("person-2")] == [12, 7, 2]
            assert log.entries_for_subject("person-99") == []

    def test_paging_with_before__every_entry_once(self, tmp_path: Path) -> None:
        """Passing the last index of a page as ``before`` walks all of a subject's entries exactly once."""
        entries = write_log(tmp_path, [40, 23])
        with AccessLog.open(tmp_path) as log:
            seen: list[int] = []
            before = None
            while page := log.entries_for_subject("person-3", limit=4, before=before):
                seen += [i for i, _ in page]
                before = page[-1][0]
        assert seen == [i for i, e in reversed(list(enumerate(entries))) if e.subject == "person-3"]

    def test_listing_survives_reopen(self, tmp_path: Path) -> None:
        """The index is on disk: a reopened log lists the same entries."""
        entries = write_log(tmp_path, [9])
        with AccessLog.open(tmp_path) as log:
            assert log.entries_for_subject("person-4", limit=1) == [(4, entries[4])]

    def test_colliding_subject_keys__other_subjects_skipped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If every subject had the same key, each would still see only their own entries."""

        def one_key(subjects: list[str]) -> bytes:
            return b"\x2a" * 8 * len(subjects)

        monkeypatch.setattr(entries_module, "subject_key_bytes", one_key)
        entries = write_log(tmp_path, [15])
        with AccessLog.open(tmp_path) as log:
            assert log.entries_for_subject("person-1", limit=2) == _expected(entries, "person-1", 2, None)

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"subject": ""}, "subject"),
            ({"subject": 7}, "subject"),
            ({"subject": "x" * 201}, "subject"),
            ({"subject": "p", "limit": 0}, "limit"),
            ({"subject": "p", "limit": 1001}, "limit"),
            ({"subject": "p", "limit": True}, "limit"),
            ({"subject": "p", "before": -1}, "before"),
            ({"subject": "p", "before": "10"}, "before"),
        ],
    )
    def test_bad_arguments__error_names_field(self, tmp_path: Path, kwargs: dict[str, object], field: str) -> None:
        """Out-of-range limits, bad subjects and bad page marks are refused with the field named."""
        with AccessLog.open(tmp_path) as log, pytest.raises(InvalidInputError, match=f"^{field}:"):
            log.entries_for_subject(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 12), st.booleans()), min_size=1, max_size=8),
    st.integers(1, 6),
    st.integers(1, 5),
    st.one_of(st.none(), st.integers(0, 100)),
)
def test_any_history__listing_matches_a_scan(
    batches: list[tuple[int, bool]], subjects: int, limit: int, before: int | None
) -> None:
    """Whatever mix of sorted index and unsorted tail the log has, listings equal a brute-force scan."""
    with tempfile.TemporaryDirectory() as tmp:
        entries: list[AccessEntry] = []
        with AccessLog.open(tmp) as log:
            for size, checkpoint in batches:
                batch = make_entries(len(entries), size, subjects)
                log.append(batch)
                entries += batch
                if checkpoint:
                    log.checkpoint()  # sorts the subject index up to here; later entries are the tail
            for s in range(subjects):
                subject = f"person-{s}"
                assert log.entries_for_subject(subject, limit, before) == _expected(entries, subject, limit, before)


class TestSingleEntries:
    def test_entry_and_leaf_hash__match_what_was_appended(self, tmp_path: Path) -> None:
        """entry(i) reads back entry i; leaf_hash_at(i) is its RFC 6962 leaf hash."""
        entries = write_log(tmp_path, [3, 4])
        with AccessLog.open(tmp_path) as log:
            for i, entry in enumerate(entries):
                assert log.entry(i) == entry
                assert log.leaf_hash_at(i) == hashlib.sha256(b"\x00" + entry.encode()).digest()

    @pytest.mark.parametrize("index", [-1, 7, True, "0"])
    def test_index_out_of_range__error(self, tmp_path: Path, index: object) -> None:
        """Indexes outside the log are refused with the field named."""
        write_log(tmp_path, [7])
        with AccessLog.open(tmp_path) as log:
            with pytest.raises(InvalidInputError, match=r"^index:"):
                log.entry(index)  # type: ignore[arg-type]
            with pytest.raises(InvalidInputError, match=r"^index:"):
                log.leaf_hash_at(index)  # type: ignore[arg-type]

    def test_entry_with_long_texts__read_back_whole(self, tmp_path: Path) -> None:
        """Entries longer than one read-ahead come back whole."""
        long = AccessEntry(1, "p" * 200, "r" * 200, "a" * 200, "\u00e9" * 200, "s" * 200, ("f" * 200,) * 32, "o")
        with AccessLog.open(tmp_path) as log:
            log.append([make_entry(0), long])
            assert log.entry(1) == long
            assert log.entries_for_subject("s" * 200) == [(1, long)]
