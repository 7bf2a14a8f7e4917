"""Who may create money: the registers of agencies and ledgers, kinds of account, two-admin acts, supply.

``tessera.ledger`` moves amounts between account ids and knows nothing of who anyone is;
this package says which agency issues each ledger, which kinds of account each role may
open (only an issuer's officers hold accounts that can go negative), and reports per
ledger what was issued and where it sits, reconciled.
"""

from tessera.money.agencies import AGENCY_ID_MAX, Agencies, Agency, checked_agency_id
from tessera.money.aliases import Alias, Aliases, checked_alias
from tessera.money.amounts import AMOUNT_MAX, format_amount, parse_amount
from tessera.money.approvals import AdminRequest, AdminRequests, Approved, RequestKind, admin_of_token
from tessera.money.incoming import Arrivals, incoming_transfers
from tessera.money.kinds import (
    BASIC_NEEDS_CATEGORIES,
    OPENING,
    RETURNS_CATEGORY,
    AccountKind,
    KindRule,
    basic_needs_entitlement,
    check_opening,
    kind_of,
)
from tessera.money.ledgers import Ledgers, LedgerUnit, ledger_unit
from tessera.money.payment_requests import (
    PaymentRequest,
    PaymentRequests,
    RequestStatus,
    checked_request_id,
    expiry_ns,
)
from tessera.money.payments import (
    PAYING_KINDS,
    PAYMENT_CODE,
    Payment,
    PaymentKeys,
    PaymentOrder,
    Payments,
    checked_key,
    transfer_id_now,
)
from tessera.money.supply import Holding, Supply, supply_report

__all__ = [
    "AGENCY_ID_MAX",
    "AMOUNT_MAX",
    "BASIC_NEEDS_CATEGORIES",
    "OPENING",
    "PAYING_KINDS",
    "PAYMENT_CODE",
    "RETURNS_CATEGORY",
    "AccountKind",
    "AdminRequest",
    "AdminRequests",
    "Agencies",
    "Agency",
    "Alias",
    "Aliases",
    "Approved",
    "Arrivals",
    "Holding",
    "KindRule",
    "LedgerUnit",
    "Ledgers",
    "Payment",
    "PaymentKeys",
    "PaymentOrder",
    "PaymentRequest",
    "PaymentRequests",
    "Payments",
    "RequestKind",
    "RequestStatus",
    "Supply",
    "admin_of_token",
    "basic_needs_entitlement",
    "check_opening",
    "checked_agency_id",
    "checked_alias",
    "checked_key",
    "checked_request_id",
    "expiry_ns",
    "format_amount",
    "incoming_transfers",
    "kind_of",
    "ledger_unit",
    "parse_amount",
    "supply_report",
    "transfer_id_now",
]
