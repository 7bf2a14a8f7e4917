"""The engine against a hostile caller: chosen ids, batches changed or misaligned under it, forged snapshots."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tessera.errors import SnapshotCorruptError
from tessera.ledger import (
    TRANSFER_DTYPE,
    Account,
    CreateTransferStatus,
    Ledger,
    Transfer,
    TransferFlags,
    _engine,
)
from tessera.ledger.ledger import _owned
from tessera.ledger.state import State
from tessera.limits import BATCH_SIZE_MAX
from tests.ledger import race_worker
from tests.ledger.forge import forge, forge_header
from tests.ledger.records import account_records, payment_records

MASK64 = 2**64 - 1
# The index's former hash: the murmur3 finaliser over an id's high bits, no key.
_M1, _M2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53


def _old_home(ids: npt.NDArray[np.uint64], capacity: int) -> npt.NDArray[np.uint64]:
    """Where the former, unkeyed hash put each id in an index of ``capacity`` slots."""
    x = ids >> np.uint64(6)
    x ^= x >> np.uint64(33)
    x *= np.uint64(_M1)
    x ^= x >> np.uint64(33)
    x *= np.uint64(_M2)
    x ^= x >> np.uint64(33)
    return ((x << np.uint64(6)) | (ids & np.uint64(63))) & np.uint64(capacity - 1)


def _flood_ids(count: int) -> npt.NDArray[np.uint64]:
    """Ids below 2**63 that the former hash sent to slot 0 for every table size up to 2**46.

    Found as an attacker would: the finaliser is invertible, so invert it on outputs whose
    low 40 bits are zero and keep the inputs small enough to be ids.
    """
    unshift = np.uint64(33)  # x ^ (x >> 33) is its own inverse on 64 bits
    inverse1, inverse2 = np.uint64(pow(_M1, -1, 2**64)), np.uint64(pow(_M2, -1, 2**64))
    found: list[npt.NDArray[np.uint64]] = []
    start = 1
    while sum(len(f) for f in found) < count:
        x = np.arange(start, start + 2**18, dtype=np.uint64) << np.uint64(40)
        start += 2**18
        x ^= x >> unshift
        x *= inverse2
        x ^= x >> unshift
        x *= inverse1
        x ^= x >> unshift
        found.append(x[(x != 0) & (x < np.uint64(2**57))] << np.uint64(6))
    return np.concatenate(found)[:count]


class TestHashFlood:
    """Ids chosen to collide under the index's former unkeyed hash spread out under the keyed one."""

    FLOOD = 2 * BATCH_SIZE_MAX

    def test_flood_ids__collide_under_the_former_hash(self) -> None:
        """The attack is real: every flood id had one home slot, whatever the table size."""
        ids = _flood_ids(self.FLOOD)
        assert len(np.unique(ids)) == self.FLOOD and ids.max() < 2**63
        for capacity in (2**10, 2**16, 2**24, 2**40):
            assert (_old_home(ids, capacity) == 0).all()

    def test_transfer_flood__index_work_stays_linear(self) -> None:
        """Two batches of colliding transfer ids cost the index about one probe each, not one per earlier id."""
        state = State()
        assert (state.apply_accounts(account_records([2, 3]), 1) == 0).all()
        ids = _flood_ids(self.FLOOD)
        for k, half in enumerate(np.split(ids, 2)):
            statuses = state.apply_transfers(payment_records(half), 10 + k * len(half))
            assert (statuses == CreateTransferStatus.ok).all()
        probes = _engine.index_probes(state.transfer_index)
        # The former hash needed FLOOD**2 / 2 (134 million); a random one about 1.5 each.
        assert probes <= 3 * self.FLOOD, probes

    def test_account_flood__index_work_stays_linear(self) -> None:
        """Accounts opened with colliding ids cost the account index no more than honest ones."""
        state = State()
        ids = _flood_ids(BATCH_SIZE_MAX)
        assert (state.apply_accounts(account_records(ids), 1) == 0).all()
        assert _engine.index_probes(state.account_index) <= 3 * len(ids)

    def test_sequential_ids__one_block_of_slots_in_order(self) -> None:
        """64 ids issued in sequence still fill one block of 64 slots, in order from a hashed start (locality)."""
        state = State()
        assert (state.apply_accounts(account_records([2, 3]), 1) == 0).all()
        state.apply_transfers(payment_records(np.arange(128, 192, dtype=np.uint64)), 10)
        used = np.flatnonzero(state.transfer_index[:, 0])
        assert len(used) == 64 and len(set(used // 64)) == 1
        keys = state.transfer_index[used, 0]
        start = int(np.flatnonzero(keys == 128)[0])
        assert np.roll(keys, -start).tolist() == list(range(128, 192))

    def test_hash_key__fresh_in_each_process(self) -> None:
        """Two processes put the same ids in different slots: the key is drawn per process, not built in."""
        script = (
            "import numpy as np; from tessera.ledger.state import State;"
            "from tests.ledger.records import account_records;"
            "s = State(); s.apply_accounts(account_records(np.arange(1, 65, dtype=np.uint64) * 64), 1);"
            "print(np.flatnonzero(s.account_index[:, 0]).tolist())"
        )
        root = Path(__file__).resolve().parents[2]
        layouts = {
            subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, check=True).stdout
            for _ in range(2)
        }
        assert len(layouts) == 2

    def test_flood_through_the_ledger__all_found(self, ledger: Ledger) -> None:
        """Colliding ids through the public API are stored and found like any others."""
        ledger.create_accounts([Account(2, 1, 1), Account(3, 1, 1)])
        ids = _flood_ids(BATCH_SIZE_MAX)
        assert ledger.create_transfers(payment_records(ids)).all_ok
        wanted = [int(i) for i in ids[::97]]
        assert [t.id for t in ledger.lookup_transfers(wanted)] == wanted


class TestBatchOwnership:
    """The engine reads a caller's batch once, into memory of its own, before it lets go of the GIL."""

    def test_batch_rewritten_during_apply__never_stores_an_unchecked_account(self) -> None:
        """A thread flipping the debit account to a missing one while batches apply: no crash, no bad record."""
        done = subprocess.run(
            [sys.executable, race_worker.__file__, "40"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"worker failed ({done.returncode}): {done.stderr[-2000:]}"
        assert done.stdout.split() == ["ok", "40"]

    def test_batch_rewritten_during_the_call__journal_holds_what_was_applied(self, tmp_path: Path) -> None:
        """What a restart replays from the journal is what the ledger applied, whatever the caller's array became."""
        path = tmp_path / "ledger"
        stop = threading.Event()
        batch = payment_records(np.arange(1, BATCH_SIZE_MAX + 1, dtype=np.uint64))

        def flip() -> None:
            debit = 4
            while not stop.is_set():
                batch["debit_account_id"] = debit
                debit = 2 if debit == 4 else 4

        with Ledger.open(path, sync=False) as ledger:
            ledger.create_accounts([Account(a, 1, 1) for a in (2, 3, 4)])
            flipper = threading.Thread(target=flip, daemon=True)
            flipper.start()
            try:
                for k in range(12):
                    batch["id"] = np.arange(1, BATCH_SIZE_MAX + 1) + k * BATCH_SIZE_MAX
                    ledger.create_transfers(batch)
            finally:
                stop.set()
                flipper.join()
            before = ledger.lookup_accounts([2, 3, 4])
        with Ledger.open(path, sync=False) as reopened:
            assert reopened.lookup_accounts([2, 3, 4]) == before

    def test_ledger_copies__only_what_someone_else_can_change(self) -> None:
        """A view of immutable bytes (a request body) is used as is; any writable memory is copied."""
        records = payment_records([10, 11])
        body = np.frombuffer(records.tobytes(), dtype=TRANSFER_DTYPE)
        assert _owned(body) is body
        for writable in (records, records[:1], np.frombuffer(bytearray(records.tobytes()), dtype=TRANSFER_DTYPE)):
            owned = _owned(writable)
            assert owned.tobytes() == writable.tobytes()
            assert not np.shares_memory(owned, writable)
        read_only_view = records.view()
        read_only_view.flags.writeable = False  # its base is still writable by whoever holds it
        assert not np.shares_memory(_owned(read_only_view), records)


class TestAlignment:
    """Batches at any address are applied as if aligned; the engine's own arrays must be aligned."""

    @staticmethod
    def _unaligned(records: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        raw = bytearray(records.nbytes + 1)
        view = np.frombuffer(raw, dtype=records.dtype, offset=1)
        view[:] = records
        assert view.ctypes.data % 8 == 1
        return view

    def test_unaligned_batches__same_results_as_aligned(self) -> None:
        """Accounts and transfers one byte off their alignment give the statuses and state of aligned ones."""
        states = []
        for shift in (False, True):
            state = State()
            accounts = account_records([2, 3, 3])
            transfers = payment_records(np.array([10, 11, 11, 0], dtype=np.uint64))
            if shift:
                accounts, transfers = self._unaligned(accounts), self._unaligned(transfers)
            statuses = (state.apply_accounts(accounts, 1).tolist(), state.apply_transfers(transfers, 10).tolist())
            states.append((statuses, state.accounts[:2].tobytes(), state.transfers[:2].tobytes()))
        assert states[0] == states[1]

    def test_unaligned_batch_through_the_ledger__applied(self, ledger: Ledger) -> None:
        """A packed batch handed over at an odd address (a slice of a network buffer) is applied."""
        ledger.create_accounts(self._unaligned(account_records([2, 3])))
        assert ledger.create_transfers(self._unaligned(payment_records([10, 11]))).all_ok
        assert ledger.lookup_accounts([3])[0].credits_posted == 2

    def test_unaligned_state_array__refused(self) -> None:
        """The engine's own arrays are read as structs: one at an odd address is refused, not read."""
        state = State()
        counts = np.frombuffer(bytearray(8 * 4 + 1), dtype=np.int64, offset=1)
        with pytest.raises(ValueError, match="counts: buffer address"):
            _engine.create_accounts(
                state.accounts,
                state.account_last,
                state.account_index,
                counts,
                account_records([2]),
                np.empty(1, np.uint32),
                1,
            )


# ---- forged snapshots -------------------------------------------------------------------


def _set(field: str, index: int, value: int) -> Callable[[npt.NDArray[Any]], None]:
    def change(array: npt.NDArray[Any]) -> None:
        if field:
            array[field][index] = value
        else:
            array[index] = value

    return change


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A ledger snapshotted with payments, an expiring hold, a post and a void (so every array has data)."""
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.create_accounts([Account(a, 1, 1) for a in (2, 3, 4)])
        assert ledger.create_transfers(
            [
                Transfer(10, 2, 3, 5, 1, 1),
                Transfer(11, 3, 4, 2, 1, 1),
                Transfer(12, 2, 4, 3, 1, 1, flags=TransferFlags.pending, timeout=3600),
                Transfer(13, 2, 4, 3, 1, 1, flags=TransferFlags.pending),
                Transfer(14, 0, 0, 0, 0, 0, pending_id=13, flags=TransferFlags.post_pending_transfer),
            ]
        ).all_ok
        return ledger.snapshot()


class TestForgedSnapshot:
    """A snapshot whose checksums pass but whose indexes point nowhere is refused, naming file and field."""

    @pytest.mark.parametrize(
        ("array", "field", "index", "value"),
        [
            ("account_last", "", 0, 5),
            ("account_last", "", 1, -2),
            ("account_last", "", 2, 2**40),
            ("meta", "prev_debit", 1, 1),  # itself: a chain that never ends
            ("meta", "prev_credit", 2, 4),  # a later transfer
            ("meta", "prev_debit", 3, -7),
            ("meta", "state", 2, 9),
            ("heap", "", 1, 2**63),
            ("heap", "", 1, 2**64 - 1),
            ("transfers", "debit_account_id", 0, 99),
            ("transfers", "credit_account_id", 4, 99),
            ("transfers", "pending_id", 4, 99),
            ("transfers", "id", 1, 10),  # a repeated id
            ("transfers", "id", 1, 0),
            ("accounts", "id", 2, 3),
            ("accounts", "id", 0, 2**63),
        ],
    )
    def test_index_out_of_range__refused(self, snapshot: Path, array: str, field: str, index: int, value: int) -> None:
        """Each stored index or id is checked on load; the error names the file and the field."""
        forge(snapshot, array, _set(field, index, value))
        named = f"{array}.{field}[{index}]" if field else f"{array}[{index}]"
        with pytest.raises(SnapshotCorruptError, match=f"{re.escape(snapshot.name)}.*{re.escape(named)}"):
            Ledger.open(snapshot.parent)

    def test_heap_entry_past_the_end__loads_and_is_skipped(self, snapshot: Path) -> None:
        """A heap entry past the last transfer is what a rolled-back hold leaves behind: loaded, then skipped."""
        forge(snapshot, "heap", _set("", 1, 5))
        with Ledger.open(snapshot.parent) as ledger:
            assert ledger.create_transfers([Transfer(20, 2, 3, 1, 1, 1)]).all_ok
            assert ledger.lookup_accounts([2])[0].debits_pending == 3

    def test_untouched_forgery_path__loads(self, snapshot: Path) -> None:
        """The forger's round trip itself leaves a snapshot that loads: the refusals above are the checks'."""
        forge(snapshot, "heap", lambda array: None)
        with Ledger.open(snapshot.parent) as ledger:
            assert ledger.counts == {"accounts": 3, "transfers": 5}

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            (lambda h: h["arrays"].pop(), "missing"),
            (lambda h: h["arrays"][0].update(offset=-8), "non-negative"),
            (lambda h: h["arrays"][0].update(size=2**62), "past the end"),
            (lambda h: h["arrays"][1].update(size=12), "whole records|past the end"),
            (lambda h: h["arrays"].append(h["arrays"][0]), "repeated"),
            (lambda h: h.update(seq="7"), "'seq'"),
            (lambda h: h.update(arrays={}), "not a snapshot header"),
        ],
    )
    def test_forged_header__refused(
        self, snapshot: Path, change: Callable[[dict[str, Any]], None], reason: str
    ) -> None:
        """A header that passes its checksum but lays the arrays out wrong is refused, not followed."""
        snapshot.write_bytes(forge_header(snapshot.read_bytes(), change))
        with pytest.raises(SnapshotCorruptError, match=reason):
            Ledger.open(snapshot.parent)
