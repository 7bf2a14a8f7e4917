"""A redemption's chain of transfers: how it is planned, kept in the store, packed for the ledger, and refused.

``redemption.py`` decides what a redemption draws; this module holds the records it is made of
(``Row``: one transfer with what reconciliation groups it by) and the plumbing every step
shares: the transfer's fields, ids for a hold's settlement that a retry finds again, the rows
written before the ledger sees them, and what a ledger refusal means at the till.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from tessera.errors import RedemptionRefusedError
from tessera.ledger import TRANSFER_DTYPE, CreateTransferStatus, TransferFlags
from tessera.money import transfer_id_now
from tessera.programs.disbursement import derived_ids
from tessera.programs.programmes import Line
from tessera.store import redemption_transfers

_INSERT_TRANSFERS = redemption_transfers.insert()  # built once: every drawn chain writes its rows


@dataclass(frozen=True, slots=True)
class Drawn:
    """What one line of a redemption drew: how much of which unit, and what is left after it."""

    ledger_id: int
    commodity: str | None
    unit: str
    decimals: int
    amount: int
    left: int
    until_ns: int | None


@dataclass(slots=True)
class Row:
    """One transfer of a plan, with what reconciliation groups it by."""

    kind: str
    transfer: dict[str, int]
    cycle_id: int
    pending_id: int | None = None


@dataclass(slots=True)
class Plan:
    lines: list[Drawn] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    co_payment: int | None = None


def refused(field_name: str, reason: str, words: str, **params: object) -> RedemptionRefusedError:
    """A refusal a shopkeeper can read to the customer."""
    return RedemptionRefusedError(field_name, reason, words, {k: str(v) for k, v in params.items()})


def items_json(items: list[dict[str, Any]], plan: Plan) -> str:
    """What a redemption's row keeps of its receipt: the items, each line's amount, and what each line drew."""
    amounts = {str(d.ledger_id): d.amount for d in plan.lines}
    drawn = [
        {"ledger_id": d.ledger_id, "commodity": d.commodity, "unit": d.unit, "decimals": d.decimals,
         "amount": d.amount, "left": d.left, "until_ns": d.until_ns}
        for d in plan.lines
    ]  # fmt: skip
    return json.dumps({"items": items, "amounts": amounts, "drawn": drawn})


def co_payment_of(line: Line, amount: int, decimals: int) -> int:
    """The co-payment for ``amount`` minor units of a line's quota, in the currency's minor units, rounded down."""
    return 0 if not line.co_payment else amount * line.co_payment // 10**decimals


def till_on(tills: dict[int, int], ledger_id: int, ledger_name: str, what: str) -> int:
    till = tills.get(ledger_id)
    if till is None:
        raise refused(
            "outlet", "no_till", f"this shop has no account on the {ledger_name} ledger to take {what}; register one"
        )
    return till


def transfer_record(
    debit: int, credit: int, amount: int, ledger_id: int, code: int, *, cycle_id: int = 0
) -> dict[str, int]:
    return {
        "id": transfer_id_now(), "debit_account_id": debit, "credit_account_id": credit, "amount": amount,
        "pending_id": 0, "ledger": ledger_id, "code": code, "flags": 0, "user_data_64": cycle_id, "timeout": 0,
    }  # fmt: skip


def settlement_id(pending_id: int, what: str) -> int:
    """A post's or void's id, from its hold's: the same settlement always has the same id."""
    return int(derived_ids(np.array([str(pending_id)]), "redemption", what)[0])


def without_id(t: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in t.items() if k != "transfer_id"}


def insert_transfers(
    conn: Connection, row: dict[str, Any], rows: Sequence[Row], *, skip_existing: bool = False
) -> list[dict[str, Any]]:
    """Write a plan's rows for the redemption ``row``; what was written, as ``redemption_transfers`` rows."""
    if not rows:
        return []
    values = [
        {
            "transfer_id": r.transfer["id"], "redemption_id": row["id"], "kind": r.kind, "programme": row["programme"],
            "cycle_id": r.cycle_id, "ledger_id": r.transfer["ledger"], "outlet_id": row["outlet_id"],
            "amount": r.transfer["amount"], "pending_id": r.pending_id, "flags": r.transfer.get("flags", 0),
            "debit_account_id": r.transfer["debit_account_id"], "credit_account_id": r.transfer["credit_account_id"],
            "code": r.transfer["code"], "timeout": r.transfer.get("timeout", 0),
        }
        for r in rows
    ]  # fmt: skip
    if skip_existing:
        have = set(
            conn.scalars(
                select(redemption_transfers.c.transfer_id).where(
                    redemption_transfers.c.transfer_id.in_([v["transfer_id"] for v in values])
                )
            )
        )
        values = [v for v in values if v["transfer_id"] not in have]
    if values:
        conn.execute(_INSERT_TRANSFERS, values)
    return values


def packed(transfers: Sequence[dict[str, Any]]) -> npt.NDArray[np.void]:
    """The chain, packed, every transfer but the last linked to the next."""
    out = np.zeros(len(transfers), TRANSFER_DTYPE)
    for k, t in enumerate(transfers):
        out[k]["id"] = t["transfer_id"]
        for name in ("debit_account_id", "credit_account_id", "amount", "pending_id", "code", "timeout"):
            out[k][name] = t.get(name) or 0
        out[k]["ledger"] = t.get("ledger_id", t.get("ledger", 0))
        out[k]["user_data_64"] = t.get("cycle_id", t.get("user_data_64", 0))
        flags = int(t.get("flags") or 0)
        out[k]["flags"] = flags | (TransferFlags.linked if k < len(transfers) - 1 else 0)
    return out


def ledger_refusal(status: CreateTransferStatus, kind: str) -> RedemptionRefusedError:
    """What the ledger's refusal of a chain means at the till."""
    if status is CreateTransferStatus.account_frozen:
        return refused(
            "person", "frozen", "this entitlement is frozen under a restriction; the customer was sent a notice"
        )
    if kind == "co_payment" and status is CreateTransferStatus.exceeds_credits:
        return refused(
            "co_payment", "co_payment_short", "the customer's wallet cannot cover the co-payment; take it in cash"
        )
    if status is CreateTransferStatus.exceeds_credits:
        return refused("items", "quota_used_up", "the entitlement was spent meanwhile; ask again to see what is left")
    if status is CreateTransferStatus.category_not_allowed:
        return refused("outlet", "not_authorised", "this shop's category may not take this entitlement")
    return refused("items", "ledger_refused", f"the ledger refused it ({status.name}); nothing was drawn")
