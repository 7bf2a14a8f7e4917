"""Disbursement's ids and records: the same (programme, cycle, beneficiary, line) always makes the same transfer.

A re-run after a crash sends the same packed records again; the ledger answers ``exists`` for
what was already applied and pays the rest, so nobody is paid twice and nobody skipped.
Ids are derived a column at a time (splitmix64 over the Tessera number's bytes, salted with a
BLAKE2b of what else names the id): no Python work per beneficiary.

- an **entitlement account**, one per beneficiary, programme and line (not per cycle: each cycle
  credits the same balance), held by the beneficiary, never overdrawn, earmarked for a cash
  programme's merchant categories; its ``user_data_64`` is a check value derived from its
  holder's principal id (never the person's number: the ledger knows wallets, not names), so
  an account found open is known to be this beneficiary's without asking the store;
- a **transfer**, one per beneficiary, cycle and line, from the line's programme account. Its id
  is unique by construction and sorts by cycle (ids grow with time, as TigerBeetle advises for its
  index): a namespace bit, the cycle's id, then the beneficiary's place in the frozen preview and
  the line: ``2**62 | cycle << 38 | seq * lines + line``, the cycle below ``2**23`` so bit 61 stays
  clear. Other transfers' ids (time-sorted payments, nanoseconds since the epoch) stay below
  ``2**62`` until the year 2116;
- a **return** of what was not spent when a cycle's validity ends (``returns.py``), one per
  beneficiary, cycle and line, from the entitlement account back to the line's programme
  account: the same layout with bit 61 set, ``2**62 | 2**61 | cycle << 38 | seq * lines + line``,
  so a cycle's returns sort after every disbursement and never meet one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from tessera.errors import ConflictError, InvalidInputError
from tessera.ledger import ACCOUNT_DTYPE, TRANSFER_DTYPE, Account, AccountFlags, CreateAccountStatus, Ledger
from tessera.limits import ID_LIMIT
from tessera.money import RETURNS_CATEGORY, AccountKind
from tessera.programs.programmes import Kind, Programme

# Transfer codes of Tessera's chart (rules/builtin/transfer_codes.csv) that programmes' transfers carry.
TRANSFER_CODE = 6  # "Benefit disbursement by a programme"; user_data_64 is the cycle's id
REDEMPTION_CODE = (
    15  # "Redemption of a quota or voucher": an entitlement spent at an outlet; user_data_64: the cycle drawn on
)
CO_PAYMENT_CODE = 2  # "Payment for goods or services": a subsidised price's co-payment, from the person's wallet
RETURN_CODE = 20  # "Return of an unspent entitlement to its programme" at the end of validity; user_data_64: the cycle
BACK_PAY_CODE = 21  # "Back-pay of a benefit after a grievance"; user_data_64: the cycle it makes good
TRANSFER_ID_NAMESPACE = 1 << 62
RETURN_ID_NAMESPACE = TRANSFER_ID_NAMESPACE | 1 << 61  # a cycle's returns: bit 61 above its disbursements
CYCLE_ID_BITS = 23  # cycles numbered below 2**23: 8 million payment runs, bit 61 left to returns
UNIT_BITS = 38  # seq * lines + line below 2**38: 17 billion units of 16 lines in one cycle
Keys = npt.NDArray[np.str_] | npt.NDArray[np.bytes_]  # Tessera numbers, principal ids: text, or ASCII bytes
_KEY_BYTES = 24  # a Tessera number (12), a principal id (18), padded to three u64 words
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


def derived_ids(keys: Keys, *parts: object) -> npt.NDArray[np.uint64]:
    """One id per key (a Tessera number, a principal id), named also by ``parts``: below ID_LIMIT, never 0, stable."""
    words = np.asarray(keys, dtype=f"S{_KEY_BYTES}").view("<u8").reshape(-1, _KEY_BYTES // 8)
    salt = _salt(*parts)
    with np.errstate(over="ignore"):
        h = _splitmix(words[:, 0] ^ salt)
        for k in range(1, _KEY_BYTES // 8):
            h = _splitmix(h ^ words[:, k])
    h &= np.uint64(ID_LIMIT - 1)
    h[h == 0] = 1
    return h


def entitlement_account_ids(programme_id: str, ledger_id: int, numbers: Keys) -> npt.NDArray[np.uint64]:
    """The entitlement account of each beneficiary on one line of a programme."""
    return derived_ids(numbers, "entitlement", programme_id, ledger_id)


def transfer_ids(cycle_id: int, seqs: npt.NDArray[np.int64], line: int, lines: int) -> npt.NDArray[np.uint64]:
    """The transfer paying line ``line`` (of ``lines``) of one cycle to the units at ``seqs`` of its preview."""
    return _ids(TRANSFER_ID_NAMESPACE, cycle_id, seqs, line, lines)


def return_transfer_ids(cycle_id: int, seqs: npt.NDArray[np.int64], line: int, lines: int) -> npt.NDArray[np.uint64]:
    """The transfer returning what is left of line ``line`` of one cycle from the units at ``seqs`` of its preview."""
    return _ids(RETURN_ID_NAMESPACE, cycle_id, seqs, line, lines)


def _ids(namespace: int, cycle_id: int, seqs: npt.NDArray[np.int64], line: int, lines: int) -> npt.NDArray[np.uint64]:
    if not 0 < cycle_id < 1 << CYCLE_ID_BITS:
        raise InvalidInputError("cycle", f"transfer ids number cycles below {1 << CYCLE_ID_BITS}, not {cycle_id}")
    slots = np.asarray(seqs, np.uint64) * np.uint64(lines) + np.uint64(line)
    if len(slots) and int(slots.max()) >= 1 << UNIT_BITS:
        raise InvalidInputError("units", f"a cycle pays at most {(1 << UNIT_BITS) // lines} units")
    return np.uint64(namespace | cycle_id << UNIT_BITS) | slots


def holder_checks(programme_id: str, ledger_id: int, holders: Keys) -> npt.NDArray[np.uint64]:
    """The check value an entitlement account carries for its holder (a principal id) in ``user_data_64``."""
    return derived_ids(holders, "holder", programme_id, ledger_id)


def entitlement_accounts(programme: Programme, ledger_id: int, numbers: Keys, holders: Keys) -> npt.NDArray[np.void]:
    """Packed entitlement accounts for ``numbers`` (held by ``holders``) on one line; cash earmarked for its shops."""
    out = np.zeros(len(numbers), ACCOUNT_DTYPE)
    out["id"] = entitlement_account_ids(programme.id, ledger_id, numbers)
    out["user_data_64"] = holder_checks(programme.id, ledger_id, holders)
    out["ledger"] = ledger_id
    out["code"] = AccountKind.entitlement
    out["flags"] = AccountFlags.debits_must_not_exceed_credits
    if programme.kind is Kind.cash:  # its shops, and its programme's returns account (what expires goes back)
        categories = [*sorted(programme.merchant_categories), RETURNS_CATEGORY]
        out["allowed_categories"][:, : len(categories)] = categories
    return out


def returns_account_id(programme_id: str, ledger_id: int) -> int:
    """Where what expires unspent of a cash line returns: the programme's returns account on its ledger."""
    return int(derived_ids(np.array(["0"]), "returns", programme_id, ledger_id)[0])


def returns_account(programme_id: str, ledger_id: int) -> Account:
    """The returns account of a cash line: a programme account of ``RETURNS_CATEGORY``, which its entitlements pay.

    A cash entitlement is earmarked for its shops, so it could not pay the programme's own
    account; it may pay this one (``entitlement_accounts`` lists the category). A quota line's
    entitlements are not earmarked, and return to the line's funding account.
    """
    return Account(
        returns_account_id(programme_id, ledger_id), ledger_id, AccountKind.programme, category=RETURNS_CATEGORY
    )


def disbursement_transfers(
    programme: Programme,
    cycle_id: int,
    line: int,
    debit_account_id: int,
    *,
    numbers: Keys,
    seqs: npt.NDArray[np.int64],
    amounts: npt.NDArray[np.int64],
) -> npt.NDArray[np.void]:
    """Packed transfers from line ``line``'s programme account to each beneficiary's entitlement account on it."""
    ledger_id = programme.lines[line].ledger_id
    ids = transfer_ids(cycle_id, seqs, line, len(programme.lines))
    entitlements = entitlement_account_ids(programme.id, ledger_id, numbers)
    return _packed(
        ids, debit_account_id, entitlements, amounts, ledger_id=ledger_id, code=TRANSFER_CODE, cycle_id=cycle_id
    )


def return_account(programme: Programme, ledger_id: int, funding: Mapping[int, int], ledger: Ledger) -> int:
    """Where a line's expired remainders go: a cash line's returns account (opened on first use), else its funding."""
    if programme.kind is not Kind.cash:
        return funding[ledger_id]
    account = returns_account(programme.id, ledger_id)
    status = ledger.create_accounts([account]).statuses[0]
    if status not in (CreateAccountStatus.ok, CreateAccountStatus.exists):
        raise ConflictError(
            "funding", f"the returns account {account.id} cannot be opened: {CreateAccountStatus(status).name}"
        )
    return account.id


def return_transfers(
    programme: Programme,
    cycle_id: int,
    line: int,
    credit_account_id: int,
    *,
    numbers: Keys,
    seqs: npt.NDArray[np.int64],
    amounts: npt.NDArray[np.int64],
) -> npt.NDArray[np.void]:
    """Packed transfers from each beneficiary's entitlement account on line ``line`` back to its programme account."""
    ledger_id = programme.lines[line].ledger_id
    ids = return_transfer_ids(cycle_id, seqs, line, len(programme.lines))
    entitlements = entitlement_account_ids(programme.id, ledger_id, numbers)
    return _packed(
        ids, entitlements, credit_account_id, amounts, ledger_id=ledger_id, code=RETURN_CODE, cycle_id=cycle_id
    )


def _packed(
    ids: npt.NDArray[np.uint64],
    debit: int | npt.NDArray[np.uint64],
    credit: int | npt.NDArray[np.uint64],
    amounts: npt.NDArray[np.int64],
    *,
    ledger_id: int,
    code: int,
    cycle_id: int,
) -> npt.NDArray[np.void]:
    """One packed transfer a unit, ``user_data_64`` naming the cycle."""
    out = np.zeros(len(ids), TRANSFER_DTYPE)
    out["id"], out["debit_account_id"], out["credit_account_id"], out["amount"] = ids, debit, credit, amounts
    out["ledger"], out["code"], out["user_data_64"] = ledger_id, code, cycle_id
    return out
