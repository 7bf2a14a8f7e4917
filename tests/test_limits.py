"""The shared bounds in tessera.limits: each is the value its comment gives, and the C engine agrees."""

from __future__ import annotations

import numpy as np

from tessera import limits
from tessera.ledger import ACCOUNT_DTYPE, TRANSFER_DTYPE, CreateAccountStatus, Ledger


def test_batch_size_max__one_message_of_records() -> None:
    """A full batch of 128-byte records and its 256-byte header fill a 1 MiB message, as in TigerBeetle."""
    assert limits.BATCH_SIZE_MAX == 8190
    assert TRANSFER_DTYPE.itemsize == ACCOUNT_DTYPE.itemsize == limits.RECORD_BYTES
    used = limits.BATCH_SIZE_MAX * limits.RECORD_BYTES + limits.MESSAGE_HEADER_BYTES
    assert used <= limits.MESSAGE_BYTES_MAX < used + limits.RECORD_BYTES


def test_id_limit__the_c_engine_refuses_from_the_same_id(ledger: Ledger) -> None:
    """The engine's INT63_MAX is ID_LIMIT - 1: a packed account id one below is taken, the limit itself refused."""
    batch = np.zeros(2, dtype=ACCOUNT_DTYPE)
    batch["id"] = [limits.ID_LIMIT - 1, limits.ID_LIMIT]
    batch["ledger"] = 1
    batch["code"] = 1
    statuses = [r.status for r in ledger.create_accounts(batch)]
    assert statuses == [CreateAccountStatus.ok, CreateAccountStatus.id_too_large]


def test_u32_and_u16_limits__the_record_fields_widths() -> None:
    """The record's ledger and code fields hold exactly the values below U32_LIMIT and U16_LIMIT."""
    assert np.iinfo(TRANSFER_DTYPE["ledger"]).max == limits.U32_LIMIT - 1
    assert np.iinfo(TRANSFER_DTYPE["code"]).max == limits.U16_LIMIT - 1
