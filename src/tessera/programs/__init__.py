"""Programmes: eligibility turned into money and quotas (issue 19; DESIGN.md, ``programs/``).

This module is the package's face: code outside ``tessera.programs`` imports from here. The map::

    programs/
      programmes.py       a programme as a record: unit, kind, ledgers, schedule, budget; every bound
      facts.py            the facts a programme's CEL may read (person, household, grants, reported)
      formulas.py         eligibility and amounts judged by the rules' guard and polarity check
      benefits.py         programmes in the register of benefits, so rules' grants can name them
      programme_files.py  [[programme]] tables in TOML: load_programmes, check_programmes
      known.py            the programmes outlets and product lists check against (KnownProgrammes)
      outlets.py          outlets (shops, stations): category, location code, tills, authorisations
      products.py         approved product lists, imported whole from CSV, each import a version
      builtin/            example_programmes.toml, and example_ledgers.json it checks against
      registered.py       programmes registered in the store (text, version, who, funding accounts)
      households.py       household composition as a cycle reads it (a Protocol; each alone by default)
      active_persons.py   the active persons as columns, kept between cycles, patched from the change log
      kept_files.py       those columns (and the households') in the data directory, checked against the log
      gathering.py        every unit's facts from the store into numpy columns
      preview.py          eligibility, reasons and amounts over all units at once; totals and budget
      disbursement.py     derived ids and packed records: entitlement accounts and transfers
      cycles.py           draft -> previewed -> approved (four eyes) -> disbursed -> closed
      entitlements.py     what is left of an entitlement, cycle by cycle, and until when
      attestations.py     an officer's word for a person at one outlet, for people a PIN or an app fails
      redemption.py       redemption at a shop's till: who is known how, drawn first-to-expire, holds
      redemption_chain.py a redemption's transfers: planned, kept, packed for the ledger, refused in words
      mine.py             a person's own entitlements: why, what is left, where; their redemptions
      grievances.py       a person's grievance, resolved once by an officer; back-pay paid at most once
      reconciliation.py   per programme, cycle and line: issued, redeemed, returned, held, outstanding; statements
      report_csv.py       reports as CSV: stable columns, amounts as decimal strings

See ``docs/programs.md``.
"""

from tessera.programs.active_persons import (
    ActivePersons,
    ActivePersonsSnapshot,
    PersonColumns,
    PersonSource,
    Refresh,
    ScannedPersons,
    holder_text,
    number_text,
    scan_active_persons,
)
from tessera.programs.attestations import (
    ATTESTATION_VALID_MAX_S,
    ATTESTATION_VALID_MIN_S,
    Attestation,
    Attestations,
)
from tessera.programs.benefits import programme_benefit, with_programmes
from tessera.programs.cycles import Cycle, Cycles, CycleStatus, Disbursement, DisbursementTimes, Step, UnitResult
from tessera.programs.disbursement import (
    BACK_PAY_CODE,
    CO_PAYMENT_CODE,
    REDEMPTION_CODE,
    RETURN_CODE,
    TRANSFER_CODE,
    TRANSFER_ID_NAMESPACE,
    derived_ids,
    disbursement_transfers,
    entitlement_account_ids,
    entitlement_accounts,
    holder_checks,
    transfer_ids,
)
from tessera.programs.entitlements import Entitlements, Standing
from tessera.programs.facts import (
    GRANTS,
    HOUSEHOLD,
    HOUSEHOLD_FACTS,
    PERSON,
    PERSON_FACTS,
    REPORTED,
    FactSchema,
    fact_schema,
)
from tessera.programs.formulas import amount_program, formula_probes, guarded_amount, guarded_eligibility
from tessera.programs.gathering import Population, gather_population
from tessera.programs.grievances import (
    BACK_PAY_FIELD,
    GRIEVANCES_LIST_MAX,
    OPEN_GRIEVANCES_MAX,
    BackPay,
    Grievance,
    GrievanceKind,
    Grievances,
    GrievanceStats,
    GrievanceStatus,
)
from tessera.programs.households import (
    Composition,
    HouseholdSource,
    KeptHouseholds,
    PersonsAlone,
    RegisteredHouseholds,
)
from tessera.programs.known import KnownProgrammes, example_programme, example_programmes, known_programme
from tessera.programs.lost_eligibility import EligibilityLoss
from tessera.programs.mine import REDEMPTIONS_PAGE, MyEntitlements, MyEntitlementsReader, MyProgramme, MyRedemption
from tessera.programs.outlets import (
    AUTHORISATION_REASON_MAX,
    LOCATION_CODE,
    OUTLET_ACCOUNTS_MAX,
    OUTLET_NAME_MAX,
    OUTLETS_LIST_MAX,
    AccountLookup,
    Authorisation,
    Outlet,
    Outlets,
    check_programme_officer,
    checked_category,
    checked_location,
    checked_outlet_id,
)
from tessera.programs.preview import CompiledProgramme, LineTotal, Preview, preview
from tessera.programs.products import (
    COLUMNS,
    PRODUCT_DESCRIPTION_MAX,
    PRODUCT_LIST_BYTES_MAX,
    PRODUCT_LIST_MAX,
    PRODUCT_UNIT_MAX,
    PRODUCTS_PAGE_MAX,
    ApprovedProduct,
    ProductList,
    ProductLists,
    parse_product_list,
)
from tessera.programs.programme_files import (
    EXAMPLE_LEDGERS,
    EXAMPLE_PROGRAMMES,
    ProgrammeRefusal,
    Programmes,
    builtin_programmes_path,
    check_programmes,
    load_programmes,
)
from tessera.programs.programmes import (
    AMOUNT_MAX,
    COMMODITY_MAX,
    DESCRIPTION_MAX,
    FORMULA_MAX,
    MERCHANT_CATEGORIES_MAX,
    PRODUCT_CODE_MAX,
    PRODUCTS_MAX,
    PROGRAMME_ID_MAX,
    PROGRAMME_NAME_MAX,
    PROGRAMMES_MAX,
    QUOTAS_MAX,
    TOP_UPS_MAX,
    VALID_FOR_MAX_S,
    Kind,
    Line,
    OverBudget,
    Product,
    Programme,
    Schedule,
    TopUp,
    Unit,
)
from tessera.programs.reconciliation import (
    MASKED_DIGITS,
    STATEMENT_REDEMPTIONS_MAX,
    AccountMovement,
    CoPaymentTotal,
    CycleLine,
    Drawn,
    LineCheck,
    ProgrammeReconciliation,
    Reconciliation,
    Statement,
    StatementEntry,
    StatementRow,
    StatementTotal,
    day_span,
    masked,
)
from tessera.programs.redemption import (
    HOLD_TIMEOUT_MAX_S,
    HOLD_TIMEOUT_MIN_S,
    HOLD_TIMEOUT_S,
    ITEM_QUANTITY_MAX,
    ITEMS_MAX,
    Auth,
    Item,
    Order,
    Post,
    Redemption,
    Redemptions,
)
from tessera.programs.redemption import Status as RedemptionStatus
from tessera.programs.registered import RegisteredProgramme, RegisteredProgrammes, funding_accounts
from tessera.programs.report_csv import to_csv
from tessera.programs.returns import Returns

__all__ = [
    "AMOUNT_MAX",
    "ATTESTATION_VALID_MAX_S",
    "ATTESTATION_VALID_MIN_S",
    "AUTHORISATION_REASON_MAX",
    "BACK_PAY_CODE",
    "BACK_PAY_FIELD",
    "COLUMNS",
    "COMMODITY_MAX",
    "CO_PAYMENT_CODE",
    "DESCRIPTION_MAX",
    "EXAMPLE_LEDGERS",
    "EXAMPLE_PROGRAMMES",
    "FORMULA_MAX",
    "GRANTS",
    "GRIEVANCES_LIST_MAX",
    "HOLD_TIMEOUT_MAX_S",
    "HOLD_TIMEOUT_MIN_S",
    "HOLD_TIMEOUT_S",
    "HOUSEHOLD",
    "HOUSEHOLD_FACTS",
    "ITEMS_MAX",
    "ITEM_QUANTITY_MAX",
    "LOCATION_CODE",
    "MASKED_DIGITS",
    "MERCHANT_CATEGORIES_MAX",
    "OPEN_GRIEVANCES_MAX",
    "OUTLETS_LIST_MAX",
    "OUTLET_ACCOUNTS_MAX",
    "OUTLET_NAME_MAX",
    "PERSON",
    "PERSON_FACTS",
    "PRODUCTS_MAX",
    "PRODUCTS_PAGE_MAX",
    "PRODUCT_CODE_MAX",
    "PRODUCT_DESCRIPTION_MAX",
    "PRODUCT_LIST_BYTES_MAX",
    "PRODUCT_LIST_MAX",
    "PRODUCT_UNIT_MAX",
    "PROGRAMMES_MAX",
    "PROGRAMME_ID_MAX",
    "PROGRAMME_NAME_MAX",
    "QUOTAS_MAX",
    "REDEMPTIONS_PAGE",
    "REDEMPTION_CODE",
    "REPORTED",
    "RETURN_CODE",
    "STATEMENT_REDEMPTIONS_MAX",
    "TOP_UPS_MAX",
    "TRANSFER_CODE",
    "TRANSFER_ID_NAMESPACE",
    "VALID_FOR_MAX_S",
    "AccountLookup",
    "AccountMovement",
    "ActivePersons",
    "ActivePersonsSnapshot",
    "ApprovedProduct",
    "Attestation",
    "Attestations",
    "Auth",
    "Authorisation",
    "BackPay",
    "CoPaymentTotal",
    "CompiledProgramme",
    "Composition",
    "Cycle",
    "CycleLine",
    "CycleStatus",
    "Cycles",
    "Disbursement",
    "DisbursementTimes",
    "Drawn",
    "EligibilityLoss",
    "Entitlements",
    "FactSchema",
    "Grievance",
    "GrievanceKind",
    "GrievanceStats",
    "GrievanceStatus",
    "Grievances",
    "HouseholdSource",
    "Item",
    "KeptHouseholds",
    "Kind",
    "KnownProgrammes",
    "Line",
    "LineCheck",
    "LineTotal",
    "MyEntitlements",
    "MyEntitlementsReader",
    "MyProgramme",
    "MyRedemption",
    "Order",
    "Outlet",
    "Outlets",
    "OverBudget",
    "PersonColumns",
    "PersonSource",
    "PersonsAlone",
    "Population",
    "Post",
    "Preview",
    "Product",
    "ProductList",
    "ProductLists",
    "Programme",
    "ProgrammeReconciliation",
    "ProgrammeRefusal",
    "Programmes",
    "Reconciliation",
    "Redemption",
    "RedemptionStatus",
    "Redemptions",
    "Refresh",
    "RegisteredHouseholds",
    "RegisteredProgramme",
    "RegisteredProgrammes",
    "Returns",
    "ScannedPersons",
    "Schedule",
    "Standing",
    "Statement",
    "StatementEntry",
    "StatementRow",
    "StatementTotal",
    "Step",
    "TopUp",
    "Unit",
    "UnitResult",
    "amount_program",
    "builtin_programmes_path",
    "check_programme_officer",
    "check_programmes",
    "checked_category",
    "checked_location",
    "checked_outlet_id",
    "day_span",
    "derived_ids",
    "disbursement_transfers",
    "entitlement_account_ids",
    "entitlement_accounts",
    "example_programme",
    "example_programmes",
    "fact_schema",
    "formula_probes",
    "funding_accounts",
    "gather_population",
    "guarded_amount",
    "guarded_eligibility",
    "holder_checks",
    "holder_text",
    "known_programme",
    "load_programmes",
    "masked",
    "number_text",
    "parse_product_list",
    "preview",
    "programme_benefit",
    "scan_active_persons",
    "to_csv",
    "transfer_ids",
    "with_programmes",
]
