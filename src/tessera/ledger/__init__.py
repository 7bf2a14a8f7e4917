"""The money ledger: accounts, double-entry transfers, two-phase holds, durable journal."""

from tessera.ledger.feed import CommittedBatch, Subscription
from tessera.ledger.journal import EntryKind
from tessera.ledger.ledger import AccountOrder, Ledger, Recovery, SettleGuard
from tessera.ledger.records import (
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    Account,
    AccountFlags,
    Transfer,
    TransferFlags,
    check_packed,
    encode_transfers,
    flag_names,
    flags_from_names,
)
from tessera.ledger.state import PendingState
from tessera.ledger.status import (
    CreateAccountStatus,
    CreateTransferStatus,
    OrderStatus,
    Result,
    Results,
)
from tessera.ledger.totals import Totals

__all__ = [
    "ACCOUNT_DTYPE",
    "TRANSFER_DTYPE",
    "Account",
    "AccountFlags",
    "AccountOrder",
    "CommittedBatch",
    "CreateAccountStatus",
    "CreateTransferStatus",
    "EntryKind",
    "Ledger",
    "OrderStatus",
    "PendingState",
    "Recovery",
    "Result",
    "Results",
    "SettleGuard",
    "Subscription",
    "Totals",
    "Transfer",
    "TransferFlags",
    "check_packed",
    "encode_transfers",
    "flag_names",
    "flags_from_names",
]
