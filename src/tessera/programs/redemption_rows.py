"""A redemption's rows in the store: written before the ledger sees the chain, read, decided, and swept at start.

``redemption.py`` decides what a redemption does; this module keeps its row (``redemptions``)
and its transfers (``redemption_transfers``), the statements built once (building one costs
about what running it does), and the rows a crash left ``posting``, which the start-up sweep
settles from what the ledger holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update

from tessera.errors import ConflictError, NotFoundError
from tessera.programs.redemption_chain import Row, insert_transfers, refused
from tessera.store import Store, redemption_attestations, redemption_transfers, redemptions

POSTING, AWAITING_APPROVAL = "posting", "awaiting_approval"
SWEEP_BATCH = 500  # rows a crash left posting, read at a time at start
_REDEMPTION_ID = re.compile(r"r_[0-9a-f]{16}")
_BY_KEY = select(redemptions).where(
    redemptions.c.merchant == bindparam("merchant"), redemptions.c.idempotency_key == bindparam("key")
)
_BY_ID = select(redemptions).where(redemptions.c.id == bindparam("id"))
_INSERT = redemptions.insert()
_DECIDE = update(redemptions).where(redemptions.c.id == bindparam("redemption_id"))  # SET: the columns passed
# The approval's move to posting, only from awaiting_approval (a decline or a second approval got there first).
_APPROVED = _DECIDE.where(redemptions.c.status == AWAITING_APPROVAL)
_TRANSFERS = (
    select(redemption_transfers)
    .where(redemption_transfers.c.redemption_id == bindparam("id"))
    .order_by(redemption_transfers.c.transfer_id)
)
# Through the partial index of posting rows (migration 0030): a sweep never scans the whole table.
_POSTING = (
    select(redemptions)
    .where(redemptions.c.status == POSTING, redemptions.c.id > bindparam("after"))
    .order_by(redemptions.c.id)
    .limit(SWEEP_BATCH)
)


class RedemptionRows:
    """Redemptions' rows and transfers in ``store``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def insert(self, row: dict[str, Any], rows: Sequence[Row], attestation: str | None) -> list[dict[str, Any]]:
        """A new redemption's row and its chain's rows (none yet when the person is still to approve)."""
        with self._store.transaction(write=True) as conn:
            if attestation is not None:
                used = conn.execute(
                    update(redemption_attestations)
                    .where(redemption_attestations.c.id == attestation, redemption_attestations.c.used_by.is_(None))
                    .values(used_by=row["id"])
                ).rowcount
                if used != 1:
                    raise refused("attestation", "attestation_invalid", "the officer's attestation was used already")
            conn.execute(_INSERT, row)  # the values as parameters: the statement compiles once
            return insert_transfers(conn, row, rows)

    def approved(self, row: dict[str, Any], moved_to: dict[str, Any], rows: Sequence[Row]) -> list[dict[str, Any]]:
        """An awaiting row moved to posting with its chain's rows, in one transaction; ConflictError if decided."""
        with self._store.transaction(write=True) as conn:
            moved = conn.execute(_APPROVED, {"redemption_id": row["id"], **moved_to}).rowcount
            if moved != 1:
                raise ConflictError("redemption_id", f"redemption {row['id']} was decided meanwhile")
            return insert_transfers(conn, row, rows)

    def decide(
        self,
        redemption_id: str,
        status: str,
        now: int,
        outcome: dict[str, str] | None,
        *,
        durable: bool = True,
        **more: object,
    ) -> None:
        values: dict[str, Any] = {"status": status, "decided_at_ns": now}
        if outcome is not None:
            values["outcome"] = json.dumps(outcome)
        values.update({k: v for k, v in more.items() if v is not None})
        with self._store.transaction(write=True, durable=durable) as conn:
            conn.execute(_DECIDE, {"redemption_id": redemption_id, **values})

    def by_key(self, till_id: str, key: str) -> dict[str, Any] | None:
        with self._store.transaction() as conn:
            found = conn.execute(_BY_KEY, {"merchant": till_id, "key": key}).first()
        return None if found is None else dict(found._mapping)

    def get(self, redemption_id: object) -> dict[str, Any]:
        if not isinstance(redemption_id, str) or not _REDEMPTION_ID.fullmatch(redemption_id):
            raise NotFoundError("redemption_id", f"no redemption {redemption_id!r:.40}")
        with self._store.transaction() as conn:
            found = conn.execute(_BY_ID, {"id": redemption_id}).first()
        if found is None:
            raise NotFoundError("redemption_id", f"no redemption {redemption_id}")
        return dict(found._mapping)

    def transfers(self, redemption_id: str) -> list[dict[str, Any]]:
        with self._store.transaction() as conn:
            rows = conn.execute(_TRANSFERS, {"id": redemption_id}).all()
        return [dict(r._mapping) for r in rows]

    def posting(self, after: str) -> list[dict[str, Any]]:
        """Up to SWEEP_BATCH rows left posting, by id after ``after`` ("" for the first)."""
        with self._store.transaction() as conn:
            return [dict(r._mapping) for r in conn.execute(_POSTING, {"after": after})]
