"""Access entries and logs for the audit tests: deterministic, a few subjects, RFC roots."""

from __future__ import annotations

from pathlib import Path

from tessera.audit import AccessEntry, AccessLog
from tests.audit.rfc9162 import naive_mth

FIELD_SETS = (("name", "address"), ("name",), ("health.allergies", "name", "date_of_birth"))


def make_entry(i: int, subject: str = "person-7") -> AccessEntry:
    return AccessEntry(
        time_ns=1_800_000_000_000_000_000 + i,
        principal=f"officer-{i % 3}",
        role="officer",
        agency="tax-office",
        purpose="benefit eligibility review",
        subject=subject,
        fields=FIELD_SETS[i % len(FIELD_SETS)],
        outcome="read",
    )


def make_entries(first: int, count: int, subjects: int = 5) -> list[AccessEntry]:
    """Entries ``first`` to ``first + count - 1``, spread over ``subjects`` people."""
    return [make_entry(i, f"person-{i % subjects}") for i in range(first, first + count)]


def write_log(path: Path, sizes: list[int]) -> list[AccessEntry]:
    """A closed log holding one batch per size; returns the entries in log order."""
    entries: list[AccessEntry] = []
    with AccessLog.open(path) as log:
        for size in sizes:
            batch = make_entries(len(entries), size)
            log.append(batch)
            entries += batch
    return entries


def fill_log(path: Path, n: int) -> list[AccessEntry]:
    """A closed log of ``n`` entries appended in two halves, a tree head after each; returns the entries."""
    entries = [make_entry(i) for i in range(n)]
    with AccessLog.open(path) as log:
        log.append(entries[: n // 2])
        log.tree_head()
        log.append(entries[n // 2 :])
        log.tree_head()
    return entries


def expected_root(entries: list[AccessEntry]) -> bytes:
    return naive_mth([e.encode() for e in entries])


def read_back(log: AccessLog) -> list[AccessEntry]:
    return [log.entry(i) for i in range(log.size)]
