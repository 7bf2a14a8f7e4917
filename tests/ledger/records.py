"""Raw account and transfer records for the engine tests, built straight into the engine's dtypes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tessera.ledger import ACCOUNT_DTYPE, TRANSFER_DTYPE


def account_records(ids: npt.NDArray[np.uint64] | list[int]) -> npt.NDArray[np.void]:
    """Accounts with these ids on ledger 1, code 1, as raw engine records."""
    records = np.zeros(len(ids), dtype=ACCOUNT_DTYPE)
    records["id"] = ids
    records["ledger"] = 1
    records["code"] = 1
    return records


def payment_records(ids: npt.NDArray[np.uint64] | list[int], debit: int = 2, credit: int = 3) -> npt.NDArray[np.void]:
    """Transfers of amount 1 with these ids from ``debit`` to ``credit`` on ledger 1, as raw engine records."""
    records = np.zeros(len(ids), dtype=TRANSFER_DTYPE)
    records["id"] = ids
    records["debit_account_id"] = debit
    records["credit_account_id"] = credit
    records["amount"] = 1
    records["ledger"] = 1
    records["code"] = 1
    return records
