"""Disbursement's ids and records: the same (programme, cycle, beneficiary, line) always makes the same transfer.

A re-run after a crash sends the same packed records again; the ledger answers ``exists`` for
what was already applied and pays the rest, so nobody is paid twice and nobody skipped.
Ids are derived a column at a time (splitmix64 over the Tessera number's bytes, salted with a
BLAKE2b of what else names the id): no Python work per beneficiary.

- an **entitlement account**, one per beneficiary, programme and line (not per cycle: each cycle
  credits the same balance), held by the beneficiary, never overdrawn, earmarked for a cash
  programme's merchant categories;
- a **transfer**, one per beneficiary, cycle and line, from the line's programme account.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from tessera.ledger import ACCOUNT_DTYPE, TRANSFER_DTYPE, AccountFlags
from tessera.limits import ID_LIMIT
from tessera.money import AccountKind
from tessera.programs.programmes import Kind, Programme

TRANSFER_CODE = 19  # a programme's disbursement (issue 19), as the transfer's code
_NUMBER_BYTES = 16  # a Tessera number (12 digits) padded to two u64 words
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _salt(*parts: object) -> np.uint64:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def derived_ids(numbers: npt.NDArray[np.str_], *parts: object) -> npt.NDArray[np.uint64]:
    """One id per Tessera number, named also by ``parts``: below ID_LIMIT, never 0, the same on every run."""
    words = np.asarray(numbers, dtype=f"S{_NUMBER_BYTES}").view("<u8").reshape(-1, 2)
    salt = _salt(*parts)
    with np.errstate(over="ignore"):
        h = _splitmix(words[:, 0] ^ salt)
        h = _splitmix(h ^ words[:, 1])
    h &= np.uint64(ID_LIMIT - 1)
    h[h == 0] = 1
    return h


def entitlement_account_ids(programme_id: str, ledger_id: int, numbers: npt.NDArray[np.str_]) -> npt.NDArray[np.uint64]:
    """The entitlement account of each beneficiary on one line of a programme."""
    return derived_ids(numbers, "entitlement", programme_id, ledger_id)


def transfer_ids(
    programme_id: str, cycle_id: int, ledger_id: int, numbers: npt.NDArray[np.str_]
) -> npt.NDArray[np.uint64]:
    """The transfer paying each beneficiary one line of one cycle."""
    return derived_ids(numbers, "disbursement", programme_id, cycle_id, ledger_id)


def entitlement_accounts(programme: Programme, ledger_id: int, numbers: npt.NDArray[np.str_]) -> npt.NDArray[np.void]:
    """Packed entitlement accounts for ``numbers`` on one line: a cash programme's are earmarked for its shops."""
    out = np.zeros(len(numbers), ACCOUNT_DTYPE)
    out["id"] = entitlement_account_ids(programme.id, ledger_id, numbers)
    out["ledger"] = ledger_id
    out["code"] = AccountKind.entitlement
    out["flags"] = AccountFlags.debits_must_not_exceed_credits
    if programme.kind is Kind.cash:
        categories = sorted(programme.merchant_categories)
        out["allowed_categories"][:, : len(categories)] = categories
    return out


def disbursement_transfers(
    programme: Programme,
    cycle_id: int,
    ledger_id: int,
    debit_account_id: int,
    *,
    numbers: npt.NDArray[np.str_],
    amounts: npt.NDArray[np.int64],
) -> npt.NDArray[np.void]:
    """Packed transfers from the programme account to each beneficiary's entitlement account on one line."""
    out = np.zeros(len(numbers), TRANSFER_DTYPE)
    out["id"] = transfer_ids(programme.id, cycle_id, ledger_id, numbers)
    out["debit_account_id"] = debit_account_id
    out["credit_account_id"] = entitlement_account_ids(programme.id, ledger_id, numbers)
    out["amount"] = amounts
    out["ledger"] = ledger_id
    out["code"] = TRANSFER_CODE
    out["user_data_64"] = cycle_id
    return out
