"""Entries delivered at least once: appended unless the log already holds them.

A write to a person's wallet and the access entries it owes become durable together: what
it owes travels in the ledger's journal as a note (``tessera.ledger.notes``) in the batch's
own entry. The service appends the entries straight after; if it crashed first, the ledger
hands the note back at the next start and ``deliver_entries`` appends what is missing. Each
entry carries its batch's own timestamp, so an entry delivered twice is recognised.
"""

from __future__ import annotations

from collections.abc import Sequence

from tessera.audit.entries import AccessEntry
from tessera.audit.log import AccessLog

SEEN_WINDOW = 1000  # newest entries of a subject looked through for an entry already delivered


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
