"""Who holds which ledger account, a column at a time: for callers that record thousands at once (a cycle's payees).

The same checks and answers as ``Store.set_account_holders`` (the field named ``holders[i]``
by the caller's own position), made over numpy columns and sent on the driver's cursor
in a handful of statements a batch, with no Python object per row but the parameters.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT, check_batch_size
from tessera.store.metadata import PRINCIPAL_ID_LENGTH

_PASS_CACHE_KIB = 512 * 1024  # SQLite's page cache while a cycle's holders are recorded: a part's dirty pages
PASS_PART_ROWS = 128 * BATCH_SIZE_MAX  # holders a transaction while a whole cycle's are recorded (about a million)
# One statement a table, the account ids as one JSON array and the principal ids (18 ASCII characters
# each) as one blob SQLite cuts itself: no Python object per row to bind, and the GIL released for the
# whole insert. Ids are whole numbers below 2**63, which JSON keeps exact here.
_INSERT_BY_PRINCIPAL = (
    "INSERT INTO holder_accounts (principal_id, account_id) "
    f"SELECT CAST(substr(?2, j.key * {PRINCIPAL_ID_LENGTH} + 1, {PRINCIPAL_ID_LENGTH}) AS TEXT), j.value "
    "FROM json_each(?1) AS j WHERE true ON CONFLICT (principal_id, account_id) DO NOTHING"  # WHERE: before ON
)
_INSERT_BY_ACCOUNT = (
    "INSERT INTO account_holders (account_id, principal_id) "
    f"SELECT j.value, CAST(substr(?2, j.key * {PRINCIPAL_ID_LENGTH} + 1, {PRINCIPAL_ID_LENGTH}) AS TEXT) "
    "FROM json_each(?1) AS j WHERE true ON CONFLICT (account_id) DO NOTHING"
)
_DIGIT = np.zeros(256, np.uint8)  # a hex digit's value by its ASCII code
_DIGIT[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)


def checked_holder_columns(
    account_ids: object, principal_ids: object, most: int = BATCH_SIZE_MAX
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_], npt.NDArray[np.intp]]:
    """Each account once (int64, sorted), its holder, and where the caller first named it; refused as the pairs are."""
    ids, holders = np.asarray(account_ids), np.asarray(principal_ids)
    if ids.ndim != 1 or holders.shape != ids.shape:
        raise InvalidInputError("holders", "must be two columns of one length: account ids and principal ids")
    check_batch_size(len(ids), "holders", most)
    if ids.dtype.kind not in "iu":
        raise InvalidInputError("holders", f"account ids must be integers, not {ids.dtype}")
    out_of_range = (ids < 1) | (ids > ID_LIMIT - 1)
    if out_of_range.any():
        k = int(np.flatnonzero(out_of_range)[0])
        raise InvalidInputError(f"holders[{k}].account_id", f"must be an integer from 1 to 2**63 - 1, got {ids[k]}")
    if holders.dtype.kind != "U":
        raise InvalidInputError("holders", f"principal ids must be text, not {holders.dtype}")
    bad = _not_principal_ids(holders)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"holders[{k}].principal_id", f"must be 'p_' and 16 hex digits, got {holders[k]!r:.40}")
    holders = holders.astype(f"U{PRINCIPAL_ID_LENGTH}")
    ids = ids.astype(np.int64)
    order = np.argsort(ids, kind="stable")  # the first naming of an account comes first among its equals
    ids, holders = ids[order], holders[order]
    again = np.flatnonzero(ids[1:] == ids[:-1]) + 1
    first = np.ones(len(ids), np.bool_)
    first[again] = False
    first_at = np.maximum.accumulate(np.where(first, np.arange(len(ids)), 0))  # each row's first of its account
    clash = again[holders[again] != holders[first_at[again]]]
    if len(clash):
        k = min(clash, key=lambda c: order[c])
        other = f"holders[{order[first_at[k]]}]"
        raise InvalidInputError(f"holders[{order[k]}].principal_id", f"account {ids[k]} has another holder at {other}")
    return ids[first], holders[first], order[first]


def _not_principal_ids(holders: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Per value, whether it is not ``p_`` and 16 lower-case hex digits."""
    if holders.dtype.itemsize // 4 < PRINCIPAL_ID_LENGTH:
        return np.ones(len(holders), np.bool_)
    wrong_length = np.strings.str_len(holders) != PRINCIPAL_ID_LENGTH
    chars = (
        np.ascontiguousarray(holders.astype(f"U{PRINCIPAL_ID_LENGTH}")).view(np.uint32).reshape(-1, PRINCIPAL_ID_LENGTH)
    )
    prefix = (chars[:, 0] != ord("p")) | (chars[:, 1] != ord("_"))
    digits = chars[:, 2:]
    hex_digit = ((digits >= ord("0")) & (digits <= ord("9"))) | ((digits >= ord("a")) & (digits <= ord("f")))
    bad: npt.NDArray[np.bool_] = wrong_length | prefix | ~hex_digit.all(axis=1)
    return bad


def record_holder_columns(
    conn: Connection, ids: npt.NDArray[np.int64], holders: npt.NDArray[np.str_], first_at: npt.NDArray[np.intp]
) -> None:
    """Insert the holders of accounts that have none yet, then read every one back: a clash is a ConflictError.

    The foreign key checks each new holder is a principal as it inserts (an index probe a row);
    only when it refuses one are the principals read, to name the first unknown. A pair whose
    account another holds goes into ``holder_accounts`` alone, and the clash refused here
    rolls it back with the caller's transaction.
    """
    try:
        with conn.begin_nested():  # a refused insert is undone alone, and the principals read to name it
            inserted = _inserted(conn, ids, holders)
    except IntegrityError:
        _check_principals(conn, holders, first_at)
        raise  # not an unknown principal after all: the caller's store error
    if inserted == len(ids):  # every account was free, and is now held as asked: nothing to read back
        return
    stored: dict[int, str] = {}
    for start in range(0, len(ids), BATCH_SIZE_MAX):
        part = ids[start : start + BATCH_SIZE_MAX].tolist()
        stored.update(_in(conn, "SELECT account_id, principal_id FROM account_holders WHERE account_id", part))
    found = np.array([stored.get(a, "") for a in ids.tolist()], dtype=holders.dtype)
    wrong = found != holders
    if wrong.any():
        k = int(np.flatnonzero(wrong)[np.argmin(first_at[wrong])])
        raise ConflictError(
            f"holders[{first_at[k]}].account_id", f"account {ids[k]} is held by {stored.get(int(ids[k]))}"
        )


def record_holder_columns_part(
    conn: Connection, ids: npt.NDArray[np.int64], holders: npt.NDArray[np.str_], first_at: npt.NDArray[np.intp]
) -> None:
    """``record_holder_columns`` for a part of a cycle's (about a million), in the caller's transaction; a big cache.

    Each table is filled in its own key order (``_inserted``): both B-trees are walked once
    from end to end, and a cache that holds a part's dirty pages writes each of them once.
    """
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        (cache,) = conn.exec_driver_sql("PRAGMA cache_size").one()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_PASS_CACHE_KIB}")
    try:
        record_holder_columns(conn, ids, holders, first_at)
    finally:
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")  # the connection goes back to the pool as it came


def by_principal(holders: npt.NDArray[np.str_]) -> npt.NDArray[np.intp]:
    """The order that sorts checked principal ids (``p_`` and 16 hex digits): as 64-bit numbers, fast."""
    return np.argsort(_principal_numbers(_ascii(holders)), kind="stable")


def _ascii(holders: npt.NDArray[np.str_]) -> npt.NDArray[np.bytes_]:
    """Checked principal ids as bytes, 18 a row."""
    return holders.astype(f"S{PRINCIPAL_ID_LENGTH}")


def _principal_numbers(ascii_ids: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """Each checked principal id's 16 hex digits as one number: in the ids' text order (a table look-up a digit)."""
    digits = _DIGIT[np.ascontiguousarray(ascii_ids).view(np.uint8).reshape(-1, PRINCIPAL_ID_LENGTH)[:, 2:]]
    packed = np.ascontiguousarray((digits[:, 0::2] << 4) | digits[:, 1::2])  # two digits a byte, the first high
    return packed.view(">u8").ravel().astype(np.uint64)


def _inserted(conn: Connection, ids: npt.NDArray[np.int64], holders: npt.NDArray[np.str_]) -> int:
    """Insert (account, holder) for each account not held yet, by principal and by account: how many were.

    Each table takes the pairs sorted by its own key: inserted at random, a B-tree of millions
    costs about 4 µs a row in SQLite (a cache miss at each step down), in order a fraction.
    """
    ascii_ids = _ascii(holders)
    by_holder, by_id = np.argsort(_principal_numbers(ascii_ids), kind="stable"), np.argsort(ids, kind="stable")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "INSERT INTO holder_accounts (principal_id, account_id) SELECT * FROM unnest(%s::text[], %s::bigint[]) "
            "ON CONFLICT (principal_id, account_id) DO NOTHING",
            (holders[by_holder].tolist(), ids[by_holder].tolist()),
        )
        return conn.exec_driver_sql(
            "INSERT INTO account_holders (account_id, principal_id) SELECT * FROM unnest(%s::bigint[], %s::text[]) "
            "ON CONFLICT (account_id) DO NOTHING",
            (ids[by_id].tolist(), holders[by_id].tolist()),
        ).rowcount
    conn.exec_driver_sql(_INSERT_BY_PRINCIPAL, _packed(ids[by_holder], ascii_ids[by_holder]))
    return conn.exec_driver_sql(_INSERT_BY_ACCOUNT, _packed(ids[by_id], ascii_ids[by_id])).rowcount


def _packed(ids: npt.NDArray[np.int64], ascii_ids: npt.NDArray[np.bytes_]) -> tuple[str, bytes]:
    """The ids as a JSON array, and the principal ids end to end as one blob."""
    return json.dumps(ids.tolist(), separators=(",", ":")), ascii_ids.tobytes()


def _check_principals(conn: Connection, holders: npt.NDArray[np.str_], first_at: npt.NDArray[np.intp]) -> None:
    """NotFoundError naming the caller's first holder that is no principal."""
    distinct = np.unique(holders).tolist()
    found = []
    for start in range(0, len(distinct), BATCH_SIZE_MAX):
        part = distinct[start : start + BATCH_SIZE_MAX]
        found += [r[0] for r in _in(conn, "SELECT id FROM principals WHERE id", part)]
    known = np.array(sorted(found), dtype=holders.dtype)
    missing = ~np.isin(holders, known)
    if missing.any():
        k = int(np.flatnonzero(missing)[np.argmin(first_at[missing])])
        raise NotFoundError(f"holders[{first_at[k]}].principal_id", f"no principal {holders[k]}")


def _in(conn: Connection, query: str, values: list[Any]) -> list[Any]:
    """``query`` (ending in the column compared) with `` IN`` the values: one array on PostgreSQL, marks on SQLite."""
    if conn.dialect.name == "postgresql":
        return list(conn.exec_driver_sql(f"{query} = ANY(%s)", (values,)).all())
    marks = ", ".join("?" * len(values))
    return list(conn.exec_driver_sql(f"{query} IN ({marks})", tuple(values)).all())
