"""Access entries carried as a ledger note: journaled with the write they are about, delivered at least once.

A write to a person's wallet and the access entries it owes become durable together: the
entries travel to the ledger's journal as a note (``tessera.ledger.notes``) in the same
group commit as the batch. The service appends them to the access log straight after; if
it crashed first, ``deliver_entries`` appends them when the ledger hands the note back at
the next start. Each entry carries the batch's own timestamp, so a note delivered twice
is recognised and its entries are not logged twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from tessera.audit.entries import AccessEntry, canonical_json
from tessera.audit.log import AccessLog

SEEN_WINDOW = 1000  # newest entries of a subject looked through for an entry already delivered


def encode_note(entries: Sequence[AccessEntry]) -> bytes:
    """The entries as a note: canonical JSON, one per line (JSON text never holds a raw newline)."""
    return b"\n".join(canonical_json(entries))


def decode_note(payload: bytes) -> list[AccessEntry]:
    return [AccessEntry.decode(line) for line in payload.split(b"\n") if line]


def deliver_entries(log: AccessLog, entries: Sequence[AccessEntry]) -> int:
    """Append those of ``entries`` the log does not hold yet; return how many were appended.

    For a note handed back after a crash: some or all of its entries may have been
    appended before the process died. An entry counts as held when the same entry
    (same time, principal, purpose, fields and outcome) is among its subject's newest.
    """
    missing = []
    held: dict[str, set[bytes]] = {}
    for entry in entries:
        if entry.subject not in held:
            found = log.entries_for_subject(entry.subject, limit=SEEN_WINDOW)
            held[entry.subject] = {e.encode() for _, e in found}
        if entry.encode() not in held[entry.subject]:
            missing.append(entry)
    if missing:
        log.append(missing)
    return len(missing)
