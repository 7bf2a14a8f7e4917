"""A reference model of the ledger: docs/ledger.md in plain Python, slow and obviously right.

Written from the docs, not from ``_engine.c``: one function per event kind, each making
the checks in the documented order and returning at the first refusal, so a check can
never mutate state. Accounts and transfers are plain dicts. A linked chain copies the
whole state before it starts and puts the copy back if the chain fails.

Inputs are ``Account``/``Transfer`` objects; fields are read as plain ints, so a test can
also describe packed records that the dataclass edge would refuse (``id=2**63``, unknown
flag bits). Reserved bytes are the one thing an object cannot carry; they are not modelled.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from tessera.ledger import (
    Account,
    AccountFlags,
    CreateAccountStatus,
    CreateTransferStatus,
    OrderStatus,
    PendingState,
    Transfer,
    TransferFlags,
)
from tessera.limits import ID_LIMIT

LIMIT = ID_LIMIT  # ids, amounts, balances and deadlines stay below this
NS_PER_S = 1_000_000_000
CATEGORIES_MAX = 8
CATEGORY_LIMIT = 2**16

A = CreateAccountStatus
T = CreateTransferStatus

ACCOUNT_FLAGS_KNOWN = int(
    AccountFlags.linked
    | AccountFlags.debits_must_not_exceed_credits
    | AccountFlags.credits_must_not_exceed_debits
    | AccountFlags.frozen
)
TRANSFER_FLAGS_KNOWN = int(
    TransferFlags.linked
    | TransferFlags.pending
    | TransferFlags.post_pending_transfer
    | TransferFlags.void_pending_transfer
)
LINKED = 1  # the same bit in both flag sets
PENDING = int(TransferFlags.pending)
POST = int(TransferFlags.post_pending_transfer)
VOID = int(TransferFlags.void_pending_transfer)
WALLET = int(AccountFlags.debits_must_not_exceed_credits)
MIRROR = int(AccountFlags.credits_must_not_exceed_debits)
FROZEN = int(AccountFlags.frozen)

BALANCE_FIELDS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
ACCOUNT_FIELDS = (
    "ledger",
    "code",
    "flags",
    "category",
    "holding_limit",
    "allowed_categories",
    "user_data_64",
    "user_data_32",
)
TRANSFER_FIELDS = (
    "debit_account_id",
    "credit_account_id",
    "amount",
    "pending_id",
    "timeout",
    "ledger",
    "code",
    "flags",
    "user_data_64",
    "user_data_32",
)
# On a post or void these may be 0 on input: "take it from the pending transfer".
RESOLVED_FIELDS = ("debit_account_id", "credit_account_id", "ledger", "code", "amount")

S = TypeVar("S", CreateAccountStatus, CreateTransferStatus)
Event = TypeVar("Event", Account, Transfer)


class Model:
    """The ledger's observable state and rules, one plain dict per account and transfer."""

    def __init__(self) -> None:
        self.accounts: dict[int, dict[str, Any]] = {}
        self.transfers: dict[int, dict[str, Any]] = {}
        # Ids of holds with a deadline that may still be pending: spares _expire a scan of
        # every transfer (the crash test replays thousands of batches).
        self.holds: set[int] = set()

    # -- batches and linked chains ------------------------------------------------------

    def create_accounts(self, batch: Sequence[Account], timestamp: int) -> list[CreateAccountStatus]:
        """Apply accounts in order; account ``i`` gets ``timestamp + i``."""
        return self._apply_batch(batch, timestamp, self._create_account, A, expire=False)

    def create_transfers(self, batch: Sequence[Transfer], timestamp: int) -> list[CreateTransferStatus]:
        """Apply transfers in order; transfer ``i`` gets ``timestamp + i``, expiring deadlines first."""
        return self._apply_batch(batch, timestamp, self._create_transfer, T, expire=True)

    def _apply_batch(
        self,
        batch: Sequence[Event],
        timestamp: int,
        create: Callable[[Event, int], S],
        status: type[S],
        expire: bool,
    ) -> list[S]:
        results: list[S] = []
        for chain in _chains(batch):
            saved = self._copy() if len(chain) > 1 else None
            statuses: list[S] = []
            expired: list[int] = []
            failed = False
            for i in chain:
                if expire:
                    expired += self._expire(timestamp + i)
                if int(batch[i].flags) & LINKED and i == len(batch) - 1:
                    result = status.linked_event_chain_open
                elif failed:
                    result = status.linked_event_failed
                else:
                    result = create(batch[i], timestamp + i)
                failed = failed or result not in (status.ok, status.exists)
                statuses.append(result)
            if failed and saved is not None:
                self.accounts, self.transfers, self.holds = saved
                # Expiry is the clock's doing, not the chain's: it survives the rollback.
                # A hold the chain had settled is pending again and may be past due by now.
                if expire:
                    self._expire(timestamp + chain[-1])
                for transfer_id in expired:
                    self._expire_one(self.transfers[transfer_id])
                statuses = [status.linked_event_failed if s in (status.ok, status.exists) else s for s in statuses]
            results.extend(statuses)
        return results

    def _copy(self) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]], set[int]]:
        return copy.deepcopy(self.accounts), copy.deepcopy(self.transfers), set(self.holds)

    # -- accounts -----------------------------------------------------------------------

    def _create_account(self, a: Account, timestamp: int) -> CreateAccountStatus:
        flags = int(a.flags)
        if a.timestamp != 0:
            return A.timestamp_must_be_zero
        if flags & ~ACCOUNT_FLAGS_KNOWN:
            return A.reserved_flag
        if a.id == 0:
            return A.id_must_not_be_zero
        if a.id >= LIMIT:
            return A.id_too_large
        if flags & WALLET and flags & MIRROR:
            return A.flags_are_mutually_exclusive
        if flags & FROZEN:
            return A.frozen_requires_order
        if any(getattr(a, name) for name in BALANCE_FIELDS):
            return A.balances_must_be_zero
        if a.holding_limit >= LIMIT:
            return A.holding_limit_too_large
        if a.ledger == 0:
            return A.ledger_must_not_be_zero
        if a.code == 0:
            return A.code_must_not_be_zero
        categories = frozenset(a.allowed_categories)
        if len(categories) > CATEGORIES_MAX or any(not 0 < c < CATEGORY_LIMIT for c in categories):
            return A.allowed_categories_invalid
        given = {name: getattr(a, name) for name in ACCOUNT_FIELDS} | {"flags": flags, "allowed_categories": categories}
        stored = self.accounts.get(a.id)
        if stored is not None:
            # `frozen` is state that an order sets, never a submitted field: retrying the
            # original account after a freeze still matches.
            same = all(given[name] == stored[name] for name in ACCOUNT_FIELDS if name != "flags")
            return A.exists if same and flags == stored["flags"] & ~FROZEN else A.exists_with_different_fields
        self.accounts[a.id] = {"id": a.id, **given, **dict.fromkeys(BALANCE_FIELDS, 0), "timestamp": timestamp}
        return A.ok

    def freeze_accounts(self, ids: Iterable[int]) -> list[OrderStatus]:
        """Freeze each account in turn; a repeated id sees the earlier freeze."""
        return [self._order(account_id, freeze=True) for account_id in ids]

    def unfreeze_accounts(self, ids: Iterable[int]) -> list[OrderStatus]:
        """Unfreeze each account in turn."""
        return [self._order(account_id, freeze=False) for account_id in ids]

    def _order(self, account_id: int, freeze: bool) -> OrderStatus:
        account = self.accounts.get(account_id)
        if account is None:
            return OrderStatus.account_not_found
        frozen = bool(account["flags"] & FROZEN)
        if freeze and frozen:
            return OrderStatus.already_frozen
        if not freeze and not frozen:
            return OrderStatus.not_frozen
        account["flags"] = account["flags"] | FROZEN if freeze else account["flags"] & ~FROZEN
        return OrderStatus.ok

    # -- transfers ----------------------------------------------------------------------

    def _expire(self, timestamp: int) -> list[int]:
        """Expire every hold due at ``timestamp``; returns their ids."""
        due = []
        for transfer_id in sorted(self.holds):
            p = self.transfers[transfer_id]
            if p["state"] != PendingState.pending:
                self.holds.discard(transfer_id)  # settled or expired; a rollback restores the set
            elif p["deadline"] <= timestamp:
                due.append(p)
        for p in due:
            self._expire_one(p)
        return [p["id"] for p in due]

    def _expire_one(self, p: dict[str, Any]) -> None:
        if p["state"] == PendingState.pending:
            self._release(p)
            p["state"] = PendingState.expired

    def _release(self, p: dict[str, Any]) -> None:
        self.accounts[p["debit_account_id"]]["debits_pending"] -= p["amount"]
        self.accounts[p["credit_account_id"]]["credits_pending"] -= p["amount"]

    def _create_transfer(self, t: Transfer, timestamp: int) -> CreateTransferStatus:
        flags = int(t.flags)
        if t.timestamp != 0:
            return T.timestamp_must_be_zero
        if flags & ~TRANSFER_FLAGS_KNOWN:
            return T.reserved_flag
        if t.id == 0:
            return T.id_must_not_be_zero
        if t.id >= LIMIT:
            return T.id_too_large
        if bin(flags & (PENDING | POST | VOID)).count("1") > 1:
            return T.flags_are_mutually_exclusive
        if flags & (POST | VOID):
            return self._post_or_void(t, flags, timestamp)
        return self._plain_or_pending(t, flags, timestamp)

    def _exists(self, t: Transfer, stored: dict[str, Any], resolved: bool) -> CreateTransferStatus:
        for name in TRANSFER_FIELDS:
            given = int(getattr(t, name))
            if resolved and name in RESOLVED_FIELDS and given == 0:
                continue
            if given != stored[name]:
                return T.exists_with_different_fields
        return T.exists

    def _plain_or_pending(self, t: Transfer, flags: int, timestamp: int) -> CreateTransferStatus:
        pending = bool(flags & PENDING)
        if t.pending_id != 0:
            return T.pending_id_must_be_zero
        if t.timeout != 0 and not pending:
            return T.timeout_reserved_for_pending_transfer
        if not 0 < t.debit_account_id < LIMIT:
            return T.debit_account_id_invalid
        if not 0 < t.credit_account_id < LIMIT:
            return T.credit_account_id_invalid
        if t.debit_account_id == t.credit_account_id:
            return T.accounts_must_be_different
        if t.amount == 0:
            return T.amount_must_not_be_zero
        if t.amount >= LIMIT:
            return T.amount_too_large
        if t.ledger == 0:
            return T.ledger_must_not_be_zero
        if t.code == 0:
            return T.code_must_not_be_zero
        dr = self.accounts.get(t.debit_account_id)
        cr = self.accounts.get(t.credit_account_id)
        if dr is None or cr is None:
            return T.account_not_found
        if not dr["ledger"] == cr["ledger"] == t.ledger:
            return T.ledger_mismatch
        stored = self.transfers.get(t.id)
        if stored is not None:
            return self._exists(t, stored, resolved=False)
        if (dr["flags"] | cr["flags"]) & FROZEN:
            return T.account_frozen
        if dr["allowed_categories"] and cr["category"] not in dr["allowed_categories"]:
            return T.category_not_allowed
        amount = t.amount
        if dr["debits_pending"] + dr["debits_posted"] + amount >= LIMIT:
            return T.overflows_balance
        if cr["credits_pending"] + cr["credits_posted"] + amount >= LIMIT:
            return T.overflows_balance
        if pending and t.timeout and timestamp + t.timeout * NS_PER_S >= LIMIT:
            return T.overflows_timeout
        if dr["flags"] & WALLET and dr["debits_pending"] + dr["debits_posted"] + amount > dr["credits_posted"]:
            return T.exceeds_credits
        if cr["flags"] & MIRROR and cr["credits_pending"] + cr["credits_posted"] + amount > cr["debits_posted"]:
            return T.exceeds_debits
        limit = cr["holding_limit"]
        if limit and cr["credits_posted"] + cr["credits_pending"] + amount > limit + cr["debits_posted"]:
            return T.holding_limit_exceeded
        if pending:
            dr["debits_pending"] += amount
            cr["credits_pending"] += amount
        else:
            dr["debits_posted"] += amount
            cr["credits_posted"] += amount
        deadline = timestamp + t.timeout * NS_PER_S if pending and t.timeout else 0
        state = PendingState.pending if pending else PendingState.none
        self._store(t, timestamp, state=state, deadline=deadline)
        return T.ok

    def _post_or_void(self, t: Transfer, flags: int, timestamp: int) -> CreateTransferStatus:
        post = bool(flags & POST)
        if not 0 < t.pending_id < LIMIT:
            return T.pending_id_invalid
        if t.pending_id == t.id:
            return T.pending_id_must_be_different
        if t.timeout != 0:
            return T.timeout_reserved_for_pending_transfer
        if t.debit_account_id >= LIMIT:
            return T.debit_account_id_invalid
        if t.credit_account_id >= LIMIT:
            return T.credit_account_id_invalid
        if t.amount >= LIMIT:
            return T.amount_too_large
        p = self.transfers.get(t.pending_id)
        if p is None:
            return T.pending_not_found
        if not p["flags"] & PENDING:
            return T.pending_transfer_not_pending
        for name in ("debit_account_id", "credit_account_id", "ledger", "code"):
            given = int(getattr(t, name))
            if given != 0 and given != p[name]:
                return T.pending_transfer_has_different_fields
        if t.amount > p["amount"]:
            return T.exceeds_pending_amount
        if not post and 0 < t.amount < p["amount"]:
            return T.pending_transfer_has_different_fields
        stored = self.transfers.get(t.id)
        if stored is not None:
            return self._exists(t, stored, resolved=True)
        if p["state"] == PendingState.posted:
            return T.pending_already_posted
        if p["state"] == PendingState.voided:
            return T.pending_already_voided
        if p["state"] == PendingState.expired:
            return T.pending_expired
        dr = self.accounts[p["debit_account_id"]]
        cr = self.accounts[p["credit_account_id"]]
        if post and (dr["flags"] | cr["flags"]) & FROZEN:
            return T.account_frozen
        amount = (t.amount or p["amount"]) if post else p["amount"]
        self._release(p)
        if post:
            dr["debits_posted"] += amount
            cr["credits_posted"] += amount
        p["state"] = PendingState.posted if post else PendingState.voided
        resolved = {name: p[name] for name in ("debit_account_id", "credit_account_id", "ledger", "code")}
        self._store(t, timestamp, state=PendingState.none, deadline=0, amount=amount, **resolved)
        return T.ok

    def _store(self, t: Transfer, timestamp: int, state: PendingState, deadline: int, **resolved: int) -> None:
        record = {name: int(getattr(t, name)) for name in TRANSFER_FIELDS}
        record.update(resolved)
        self.transfers[t.id] = {"id": t.id, **record, "timestamp": timestamp, "state": state, "deadline": deadline}
        if deadline:
            self.holds.add(t.id)

    # -- reads --------------------------------------------------------------------------

    def lookup_accounts(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The accounts that exist among ``ids``: fields, flags, balances and timestamp."""
        return {i: dict(self.accounts[i]) for i in ids if i in self.accounts}

    def lookup_transfers(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The stored transfers among ``ids``, with post/void fields resolved."""
        return {
            i: {k: v for k, v in self.transfers[i].items() if k not in ("state", "deadline")}
            for i in ids
            if i in self.transfers
        }

    def pending_states(self, ids: Iterable[int]) -> dict[int, PendingState]:
        """``{id: PendingState}`` for the stored transfers among ``ids`` (``none`` if not pending)."""
        return {i: self.transfers[i]["state"] for i in ids if i in self.transfers}


def _chains(batch: Sequence[Account] | Sequence[Transfer]) -> list[list[int]]:
    """Indexes grouped into chains: each runs to the first event without ``linked``."""
    chains: list[list[int]] = []
    current: list[int] = []
    for i, event in enumerate(batch):
        current.append(i)
        if not int(event.flags) & LINKED:
            chains.append(current)
            current = []
    if current:
        chains.append(current)
    return chains
