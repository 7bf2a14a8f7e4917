"""Programmes: eligibility turned into money and quotas (issue 19; DESIGN.md, ``programs/``).

This module is the package's face: code outside ``tessera.programs`` imports from here. The map::

    programs/
      programmes.py       a programme as a record: unit, kind, ledgers, schedule, budget; every bound
      facts.py            the facts a programme's CEL may read (person, household, grants, reported)
      formulas.py         eligibility and amounts judged by the rules' guard and polarity check
      benefits.py         programmes in the register of benefits, so rules' grants can name them
      programme_files.py  [[programme]] tables in TOML: load_programmes, check_programmes
      builtin/            example_programmes.toml, and example_ledgers.json it checks against
      registered.py       programmes registered in the store (text, version, who, funding accounts)
      households.py       household composition as a cycle reads it (a Protocol; each alone by default)
      gathering.py        every unit's facts from the store into numpy columns
      preview.py          eligibility, reasons and amounts over all units at once; totals and budget
      disbursement.py     derived ids and packed records: entitlement accounts and transfers
      cycles.py           draft -> previewed -> approved (four eyes) -> disbursed -> closed

Shops and redemption come next. See ``docs/programs.md``.
"""

from tessera.programs.benefits import programme_benefit, with_programmes
from tessera.programs.cycles import Cycle, Cycles, CycleStatus, Disbursement, Step, UnitResult
from tessera.programs.disbursement import (
    TRANSFER_CODE,
    TRANSFER_ID_NAMESPACE,
    derived_ids,
    disbursement_transfers,
    entitlement_account_ids,
    entitlement_accounts,
    holder_checks,
    transfer_ids,
)
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
from tessera.programs.households import Composition, HouseholdSource, PersonsAlone
from tessera.programs.preview import CompiledProgramme, LineTotal, Preview, preview
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
from tessera.programs.registered import RegisteredProgramme, RegisteredProgrammes, funding_accounts

__all__ = [
    "AMOUNT_MAX",
    "COMMODITY_MAX",
    "DESCRIPTION_MAX",
    "EXAMPLE_LEDGERS",
    "EXAMPLE_PROGRAMMES",
    "FORMULA_MAX",
    "GRANTS",
    "HOUSEHOLD",
    "HOUSEHOLD_FACTS",
    "MERCHANT_CATEGORIES_MAX",
    "PERSON",
    "PERSON_FACTS",
    "PRODUCTS_MAX",
    "PRODUCT_CODE_MAX",
    "PROGRAMMES_MAX",
    "PROGRAMME_ID_MAX",
    "PROGRAMME_NAME_MAX",
    "QUOTAS_MAX",
    "REPORTED",
    "TOP_UPS_MAX",
    "TRANSFER_CODE",
    "TRANSFER_ID_NAMESPACE",
    "VALID_FOR_MAX_S",
    "CompiledProgramme",
    "Composition",
    "Cycle",
    "CycleStatus",
    "Cycles",
    "Disbursement",
    "FactSchema",
    "HouseholdSource",
    "Kind",
    "Line",
    "LineTotal",
    "OverBudget",
    "PersonsAlone",
    "Population",
    "Preview",
    "Product",
    "Programme",
    "ProgrammeRefusal",
    "Programmes",
    "RegisteredProgramme",
    "RegisteredProgrammes",
    "Schedule",
    "Step",
    "TopUp",
    "Unit",
    "UnitResult",
    "amount_program",
    "builtin_programmes_path",
    "check_programmes",
    "derived_ids",
    "disbursement_transfers",
    "entitlement_account_ids",
    "entitlement_accounts",
    "fact_schema",
    "formula_probes",
    "funding_accounts",
    "gather_population",
    "guarded_amount",
    "guarded_eligibility",
    "holder_checks",
    "load_programmes",
    "preview",
    "programme_benefit",
    "transfer_ids",
    "with_programmes",
]
