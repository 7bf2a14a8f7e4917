"""Double entry is checked in the code that owns it: a state that does not balance is never loaded or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.errors import CorruptionError
from tessera.ledger import Account, AccountFlags, Ledger, Transfer
from tessera.ledger.snapshot import Snapshot, read_snapshot, write_snapshot
from tessera.ledger.state import State

WALLET = AccountFlags.debits_must_not_exceed_credits


def _funded(path: Path) -> Path:
    with Ledger.open(path) as ledger:
        ledger.create_accounts([Account(1, 1, 1), Account(2, 1, 2, flags=WALLET), Account(3, 2, 1)])
        ledger.create_transfers([Transfer(10, 1, 2, 500, 1, 1), Transfer(11, 2, 1, 20, 1, 1, flags=2)])
        return ledger.snapshot()


@pytest.mark.parametrize("column", ["credits_posted", "debits_pending"])
def test_a_snapshot_that_does_not_balance_is_refused_naming_the_ledger(tmp_path: Path, column: str) -> None:
    """Money made from nothing in a snapshot (checksums redone, every index valid) is refused at open."""
    path = _funded(tmp_path / "l")
    snap = read_snapshot(path, State.ARRAY_DTYPES)
    snap.arrays["accounts"][1][column] += 7  # account 2, on ledger 1
    path.unlink()
    write_snapshot(tmp_path / "l", Snapshot(snap.seq, snap.last_timestamp, snap.arrays, snap.extra))
    with pytest.raises(CorruptionError, match="ledger 1 does not balance"):
        Ledger.open(tmp_path / "l")


def test_a_balanced_ledger_opens_and_snapshots(tmp_path: Path) -> None:
    """The check passes on every honest state: after recovery and before each snapshot."""
    _funded(tmp_path / "l")
    with Ledger.open(tmp_path / "l") as ledger:
        assert ledger.lookup_accounts([2])[0].balance == 500
        ledger.snapshot()
