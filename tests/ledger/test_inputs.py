"""Bad input: a specific status or an InvalidInputError naming the field; never a partial write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import BatchSizeError, InvalidInputError
from tessera.ledger import (
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    Account,
    CreateAccountStatus,
    CreateTransferStatus,
    Ledger,
    Transfer,
)
from tessera.ledger.records import decode_account
from tessera.limits import BATCH_SIZE_MAX
from tests.accounts import ALICE, BOB, ISSUER

S = CreateTransferStatus


# A valid payment from Alice to Bob; each test changes one field.
VALID: dict[str, Any] = {
    "id": 500,
    "debit_account_id": ALICE,
    "credit_account_id": BOB,
    "amount": 5,
    "ledger": 1,
    "code": 1,
}


def _transfer(**fields: Any) -> Transfer:
    return Transfer(**{**VALID, **fields})


def _packed(**fields: int) -> np.ndarray:
    record = np.zeros(1, dtype=TRANSFER_DTYPE)
    for name, value in {**VALID, **fields}.items():
        record[name] = value
    return record


class TestTransferObjects:
    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("amount", -1, "must not be negative"),
            ("amount", 2**63, "must be below 2\\*\\*63"),
            ("id", -5, "must not be negative"),
            ("id", 2**64, "must be below 2\\*\\*63"),
            ("debit_account_id", 2**63, "must be below"),
            ("ledger", 2**32, "must be below 2\\*\\*32"),
            ("code", 70000, "must be below 2\\*\\*16"),
            ("amount", "5", "must be an integer, got str"),
            ("amount", 5.0, "must be an integer, got float"),
            ("id", True, "must be an integer, got bool"),
            ("flags", 64, "unknown flag bits 0x40"),
            ("timeout", None, "must be an integer, got NoneType"),
        ],
    )
    def test_bad_field__error_names_field(self, funded: Ledger, field: str, value: Any, message: str) -> None:
        """Values that cannot be a valid record are refused before anything is applied."""
        with pytest.raises(InvalidInputError, match=f"transfers\\[1\\]\\.{field}: {message}") as caught:
            funded.create_transfers([_transfer(id=499), _transfer(**{field: value})])
        assert isinstance(caught.value, ValueError)
        assert funded.lookup_transfers([499]) == []  # nothing of the batch was applied

    @pytest.mark.parametrize(
        ("fields", "status"),
        [
            ({"amount": 0}, S.amount_must_not_be_zero),
            ({"id": 0}, S.id_must_not_be_zero),
            ({"debit_account_id": 0}, S.debit_account_id_invalid),
            ({"credit_account_id": 0}, S.credit_account_id_invalid),
            ({"credit_account_id": ALICE}, S.accounts_must_be_different),
            ({"ledger": 0}, S.ledger_must_not_be_zero),
            ({"ledger": 2}, S.ledger_mismatch),
            ({"code": 0}, S.code_must_not_be_zero),
            ({"debit_account_id": 999}, S.account_not_found),
            ({"timestamp": 5}, S.timestamp_must_be_zero),
            ({"timeout": 5}, S.timeout_reserved_for_pending_transfer),
            ({"pending_id": 7}, S.pending_id_must_be_zero),
            ({"flags": 2 | 4}, S.flags_are_mutually_exclusive),
        ],
    )
    def test_zero_or_inconsistent_field__status(self, funded: Ledger, fields: dict[str, int], status: S) -> None:
        """Representable but invalid values come back as a specific status."""
        assert funded.create_transfers([_transfer(**fields)])[0].status == status

    def test_empty_batch__batch_size_error(self, funded: Ledger) -> None:
        """An empty batch is a caller bug, refused with BatchSizeError."""
        with pytest.raises(BatchSizeError, match="must not be empty"):
            funded.create_transfers([])

    def test_batch_over_limit__batch_size_error(self, funded: Ledger) -> None:
        """More than BATCH_SIZE_MAX events in one batch is refused whole."""
        batch = [_transfer(id=1000 + i) for i in range(BATCH_SIZE_MAX + 1)]
        with pytest.raises(BatchSizeError, match=f"at most {BATCH_SIZE_MAX}"):
            funded.create_transfers(batch)
        assert funded.counts["transfers"] == 2

    def test_wrong_item_type__error(self, funded: Ledger) -> None:
        """A batch must hold Transfer objects; a dict is named in the error."""
        with pytest.raises(InvalidInputError, match=r"batch\[0\]: must be a Transfer, got dict"):
            funded.create_transfers([{"id": 1}])  # type: ignore[list-item]

    def test_not_a_list__error(self, funded: Ledger) -> None:
        """A bare Transfer (not in a list) is refused with a clear message."""
        with pytest.raises(InvalidInputError, match="must be a list of Transfer"):
            funded.create_transfers(_transfer())  # type: ignore[arg-type]


class TestPackedRecords:
    @pytest.mark.parametrize(
        ("fields", "status"),
        [
            ({"id": 2**63}, S.id_too_large),
            ({"amount": 2**63}, S.amount_too_large),
            ({"amount": 2**64 - 1}, S.amount_too_large),
            ({"debit_account_id": 2**63 + 1}, S.debit_account_id_invalid),
            ({"flags": 64}, S.reserved_flag),
            ({"timestamp": 1}, S.timestamp_must_be_zero),
        ],
    )
    def test_out_of_range_record__status(self, funded: Ledger, fields: dict[str, int], status: S) -> None:
        """Packed records skip Python checks; the engine answers with a status."""
        assert funded.create_transfers(_packed(**fields))[0].status == status

    def test_reserved_bytes__status(self, funded: Ledger) -> None:
        """Non-zero reserved bytes are refused: they may mean something in a later version."""
        record = _packed()
        record.view(np.uint8)[100] = 1
        assert funded.create_transfers(record)[0].status == S.reserved_field

    def test_raw_bytes_accepted(self, funded: Ledger) -> None:
        """The same records as raw bytes (the HTTP body) are accepted without copying."""
        assert funded.create_transfers(_packed().tobytes()).all_ok

    def test_ragged_bytes__error(self, funded: Ledger) -> None:
        """Bytes that are not whole records are refused, naming the length."""
        with pytest.raises(InvalidInputError, match="not a multiple of 128"):
            funded.create_transfers(b"\x00" * 130)

    def test_wrong_dtype__error(self, funded: Ledger) -> None:
        """An account array passed as transfers is refused, not misread."""
        with pytest.raises(InvalidInputError, match=r"TRANSFER|transfers"):
            funded.create_transfers(np.zeros(1, dtype=ACCOUNT_DTYPE))

    def test_empty_and_oversized_packed__batch_size_error(self, funded: Ledger) -> None:
        """Packed batches obey the same limits as object batches."""
        with pytest.raises(BatchSizeError):
            funded.create_transfers(np.zeros(0, dtype=TRANSFER_DTYPE))
        with pytest.raises(BatchSizeError):
            funded.create_transfers(np.zeros(BATCH_SIZE_MAX + 1, dtype=TRANSFER_DTYPE))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.binary(min_size=128, max_size=128 * 12).map(lambda b: b[: len(b) - len(b) % 128]))
    def test_random_bytes__statuses_and_zero_sum(self, funded: Ledger, data: bytes) -> None:
        """Arbitrary records never crash the engine, and money is never created or lost."""
        results = funded.create_transfers(data)
        assert len(results) == len(data) // 128
        assert all(isinstance(r.status, CreateTransferStatus) for r in results)
        accounts = funded.lookup_accounts([1, 2, 3, 4])
        assert sum(a.credits_posted - a.debits_posted for a in accounts) == 0
        assert sum(a.credits_pending - a.debits_pending for a in accounts) == 0


class TestAccountsAndLookups:
    def test_account_bad_field__error_names_field(self, ledger: Ledger) -> None:
        """Account fields are checked the same way as transfer fields."""
        with pytest.raises(InvalidInputError, match=r"accounts\[0\]\.holding_limit: must not be negative"):
            ledger.create_accounts([Account(1, 1, 1, holding_limit=-1)])
        with pytest.raises(InvalidInputError, match=r"allowed_categories: at most 8"):
            ledger.create_accounts([Account(1, 1, 1, allowed_categories=frozenset(range(1, 10)))])
        with pytest.raises(InvalidInputError, match=r"allowed_categories: category 0"):
            ledger.create_accounts([Account(1, 1, 1, allowed_categories=frozenset({0}))])

    @pytest.mark.parametrize(
        ("account", "status"),
        [
            (Account(0, 1, 1), CreateAccountStatus.id_must_not_be_zero),
            (Account(1, 0, 1), CreateAccountStatus.ledger_must_not_be_zero),
            (Account(1, 1, 0), CreateAccountStatus.code_must_not_be_zero),
            (Account(1, 1, 1, flags=8), CreateAccountStatus.frozen_requires_order),  # type: ignore[arg-type]
            (Account(1, 1, 1, flags=6), CreateAccountStatus.flags_are_mutually_exclusive),  # type: ignore[arg-type]
            (Account(1, 1, 1, credits_posted=5), CreateAccountStatus.balances_must_be_zero),
        ],
    )
    def test_account_invalid__status(self, ledger: Ledger, account: Account, status: CreateAccountStatus) -> None:
        """Accounts that cannot exist get a specific status."""
        assert ledger.create_accounts([account])[0].status == status

    def test_packed_account_categories_unsorted__status(self, ledger: Ledger) -> None:
        """Packed categories must be in canonical order so equality checks are exact."""
        record = np.zeros(1, dtype=ACCOUNT_DTYPE)
        record["id"], record["ledger"], record["code"] = 1, 1, 1
        record["allowed_categories"][0, :2] = [20, 10]
        assert ledger.create_accounts(record)[0].status == CreateAccountStatus.allowed_categories_invalid

    @pytest.mark.parametrize("ids", [[0], [-1], [2**63], ["1"], "12", [1.5]])
    def test_lookup_bad_ids__error(self, funded: Ledger, ids: Any) -> None:
        """Lookups validate ids the same way."""
        with pytest.raises(InvalidInputError, match="ids"):
            funded.lookup_accounts(ids)

    @pytest.mark.parametrize("limit", [0, -1, BATCH_SIZE_MAX + 1, "10", True])
    def test_account_transfers_bad_limit__error(self, funded: Ledger, limit: Any) -> None:
        """The page size is bounded like a batch."""
        with pytest.raises(InvalidInputError, match="limit"):
            funded.get_account_transfers(ALICE, limit=limit)

    @pytest.mark.parametrize("reference", ["", "   ", None, "x" * 113])
    def test_freeze_without_reference__error(self, funded: Ledger, reference: Any) -> None:
        """No silent decisions: a freeze must cite the order that allows it."""
        with pytest.raises(InvalidInputError, match="reference"):
            funded.freeze_accounts([ALICE], reference)
        assert funded.lookup_account_orders(ALICE) == []

    @pytest.mark.parametrize(
        ("frozen_by", "field"),
        [
            ([(20, "court/1")], "frozen_by"),
            ({21: "court/1"}, "frozen_by"),  # not an account of the batch
            ({True: "court/1"}, "frozen_by"),
            ({20: ""}, r"frozen_by\[20\]"),
            ({20: "x" * 113}, r"frozen_by\[20\]"),
        ],
    )
    def test_opening_frozen_with_a_bad_order__error_and_nothing_opened(
        self, funded: Ledger, frozen_by: Any, field: str
    ) -> None:
        """A freeze to open under is checked before the accounts are: neither is half-applied."""
        with pytest.raises(InvalidInputError, match=field):
            funded.create_accounts([Account(20, 1, 2)], frozen_by=frozen_by)
        assert funded.lookup_accounts([20]) == []

    def test_lookups_skip_missing(self, funded: Ledger) -> None:
        """Lookups return the records that exist, in the order asked."""
        assert [a.id for a in funded.lookup_accounts([BOB, 77, ISSUER])] == [BOB, ISSUER]
        assert [t.id for t in funded.lookup_transfers([2, 99, 1])] == [2, 1]

    @pytest.mark.parametrize(
        ("ids", "field"),
        [
            (np.array([1, 0], np.uint64), r"ids\[1\]"),
            (np.array([-1], np.int64), r"ids\[0\]"),
            (np.array([2**63], np.uint64), r"ids\[0\]"),
            (np.array([1.0]), "ids"),
            (np.array([[1]], np.uint64), "ids"),
        ],
    )
    def test_lookup_bad_id_arrays__error_names_the_first(self, funded: Ledger, ids: Any, field: str) -> None:
        """An array of ids is checked a column at a time, and the error names the first bad one."""
        with pytest.raises(InvalidInputError, match=field):
            funded.lookup_account_records(ids)
        with pytest.raises(InvalidInputError, match=field):
            funded.lookup_accounts(ids)

    def test_account_records_are_the_accounts_as_records(self, funded: Ledger) -> None:
        """lookup_account_records gives the same accounts as lookup_accounts, packed, in the order asked."""
        ids = np.array([BOB, 77, ISSUER], np.uint64)
        records = funded.lookup_account_records(ids)
        assert records.dtype == ACCOUNT_DTYPE
        assert [decode_account(r) for r in records] == funded.lookup_accounts([BOB, 77, ISSUER])
        records["code"] = 99  # a copy: the ledger's own records do not change
        assert [a.code for a in funded.lookup_accounts([BOB, ISSUER])] != [99, 99]

    def test_transfer_records_are_the_transfers_as_records(self, funded: Ledger) -> None:
        """lookup_transfer_records gives the transfers that exist, packed, in the order asked; a copy."""
        records = funded.lookup_transfer_records(np.array([2, 77, 1], np.uint64))
        assert records.dtype == TRANSFER_DTYPE
        assert records["id"].tolist() == [2, 1] and records["amount"].tolist() == [1000, 1000]
        assert records["credit_account_id"].tolist() == [BOB, ALICE]
        records["amount"] = 5
        assert [t.amount for t in funded.lookup_transfers([1, 2])] == [1000, 1000]


class TestOpen:
    def test_path_is_a_file__error(self, tmp_path: Path) -> None:
        """Opening a ledger on a regular file names the path instead of raising OSError."""
        (tmp_path / "file").write_text("not a ledger")
        with pytest.raises(InvalidInputError, match=r"path: .* exists and is not a directory"):
            Ledger.open(tmp_path / "file")

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"sync": "yes"}, "sync"),
            ({"clock": 5}, "clock"),
            ({"segment_bytes_max": 0}, "segment_bytes_max"),
            ({"snapshot_journal_bytes": -1}, "snapshot_journal_bytes"),
        ],
    )
    def test_bad_option__error(self, tmp_path: Path, options: dict[str, Any], field: str) -> None:
        """Options are checked before anything is created on disk."""
        with pytest.raises(InvalidInputError, match=field):
            Ledger.open(tmp_path / "ledger", **options)
        assert not (tmp_path / "ledger").exists()
