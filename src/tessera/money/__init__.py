"""Who may create money: the registers of agencies and ledgers, kinds of account, two-admin acts, supply.

``tessera.ledger`` moves amounts between account ids and knows nothing of who anyone is;
this package says which agency issues each ledger, which kinds of account each role may
open (only an issuer's officers hold accounts that can go negative), and reports per
ledger what was issued and where it sits, reconciled.
"""

from tessera.money.agencies import AGENCY_ID_MAX, Agencies, Agency, checked_agency_id
from tessera.money.approvals import AdminRequest, AdminRequests, Approved, RequestKind, admin_of_token
from tessera.money.kinds import OPENING, AccountKind, KindRule, check_opening, kind_of
from tessera.money.ledgers import Ledgers, LedgerUnit, ledger_unit
from tessera.money.supply import Holding, Supply, supply_report

__all__ = [
    "AGENCY_ID_MAX",
    "OPENING",
    "AccountKind",
    "AdminRequest",
    "AdminRequests",
    "Agencies",
    "Agency",
    "Approved",
    "Holding",
    "KindRule",
    "LedgerUnit",
    "Ledgers",
    "RequestKind",
    "Supply",
    "admin_of_token",
    "check_opening",
    "checked_agency_id",
    "kind_of",
    "ledger_unit",
    "supply_report",
]
