"""Tessera's exceptions: one root, stable codes, documented here and nowhere else.

Business refusals (a transfer over the balance, a frozen account) are *values*: result
statuses, listed in ``docs/ledger.md``. Exceptions are for bad calls, bugs and broken
infrastructure::

    TesseraError                      tessera             (the root; codes below)
    ├── InvalidInputError             invalid_input       (also a ValueError)
    │   └── BatchSizeError            batch_size          (empty or over the limit)
    └── LedgerError                   ledger
        ├── LedgerClosedError         ledger_closed
        ├── LedgerFailedError         ledger_failed       (an fsync failed: reopen to recover)
        ├── LedgerLockedError         ledger_locked       (another process holds the directory)
        └── CorruptionError           corruption          (names the file and byte offset)
            └── SnapshotCorruptError  snapshot_corrupt

Foreign exceptions (OSError from the journal) are translated at the edge into the most
specific of these.
"""

from __future__ import annotations


class TesseraError(Exception):
    """Root of every error Tessera raises on purpose."""

    code = "tessera"


class InvalidInputError(TesseraError, ValueError):
    """A call's argument is malformed; the message names the field."""

    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class BatchSizeError(InvalidInputError):
    """A batch is empty or larger than the limit."""

    code = "batch_size"


class LedgerError(TesseraError):
    """The ledger cannot serve the call."""

    code = "ledger"


class LedgerClosedError(LedgerError):
    """The ledger handle was closed."""

    code = "ledger_closed"


class LedgerFailedError(LedgerError):
    """A journal write failed; memory may be ahead of disk, so the handle refuses all calls."""

    code = "ledger_failed"


class LedgerLockedError(LedgerError):
    """Another process has the ledger directory open."""

    code = "ledger_locked"


class CorruptionError(LedgerError):
    """Stored data failed its checksum somewhere other than a torn tail."""

    code = "corruption"

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path} at byte {offset}: {reason}")
        self.path = path
        self.offset = offset


class SnapshotCorruptError(CorruptionError):
    """A snapshot file failed its checksum."""

    code = "snapshot_corrupt"


ERROR_CODES: dict[str, type[TesseraError]] = {
    cls.code: cls
    for cls in (
        TesseraError,
        InvalidInputError,
        BatchSizeError,
        LedgerError,
        LedgerClosedError,
        LedgerFailedError,
        LedgerLockedError,
        CorruptionError,
        SnapshotCorruptError,
    )
}
