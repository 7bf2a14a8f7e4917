"""Policy: what may decide things about people, on which data, and how the person hears of it.

This module is the package's face: code outside ``tessera.rules`` imports from here, never
from the modules behind it (``tests/rules/test_face.py`` checks). The map::

    rules/                   the shared base, read by every sub-package
      categories.py          data categories, event and record types that refuse forbidden data
      codes.py               code tables: what coded values mean
      basis.py               legal bases and the domains they close
      exercise.py            who exercises a basis; the bases on record
      subjects.py            who a decision is about: a person or an organisation
      benefits.py            the register of benefits a grant may open
      definitions.py         declarations in TOML, and the built-in ones (builtin/)
      lexicon.py             the backstop lexicon of protected names
      declaration_checks.py  a declarations document checked before it becomes law
      declarations.py        declarations as law: versions proposed and approved by DPOs
      _closed.c              the enforcement point's answer table (C)
    language/                the rule language: rules in TOML, conditions in CEL
      rulesets.py            rules, effects and rule files (``load_rules``, ``check_rules``)
      cel_ast.py             conditions as checked CEL trees
      guard.py, values.py, polarity.py   which data a condition may read, and how
      compiler.py            rules compiled to numpy over batches
      reference.py           one event at a time: the meaning the compiler must agree with
    scoring/                 rules applied to events
      engine.py              the engine on the ledger's feed
      intake.py              events agencies submit
      scores.py              scores as live contributions
    due_process/             adverse decisions and the person's answer to them
      restrictions.py        proposed, decided, amended, lifted, expired
      restriction_records.py the proposal, the restriction and its history, as records
      restriction_notices.py what its subject is told at each step
      freezes.py             the ledger freezes of payments, and of benefits (basic needs stay open)
      sweeper.py             the thread that persists expiries
      notices.py             what a person is told
      appeals.py             a restriction contested, answered in writing
      notice_appeals.py      a score or denial contested through its notice
      enforcement.py         ``check``: may this subject act in this domain now
    sanctions/               sanctions lists and screening
      lists.py               parsers for OFAC, UN, EU and FollowTheMoney lists
      imported.py            imported lists in the store
      screening.py           name matching against listings
      watch.py, counterparties.py   people, principals and new counterparties screened

Imports point one way: ``scoring`` uses ``language`` and ``due_process``, ``sanctions`` uses
``due_process``, those two use only the base, and the base uses no sub-package (checked too).
See ``docs/rules.md``.
"""

from tessera.rules.basis import (
    CASE_NUMBER_MAX,
    COURT_MAX,
    BasisKind,
    CourtOrder,
    Domain,
    LegalBases,
    LegalBasis,
    checked_domains,
    legal_basis,
)
from tessera.rules.benefits import (
    Benefit,
    Benefits,
    benefit,
)
from tessera.rules.categories import (
    FAVOURABLE_ONLY,
    FORBIDDEN,
    Category,
    EventField,
    EventType,
    EventTypes,
    FieldType,
    LeafField,
    RecordType,
    event_type,
    record_type,
)
from tessera.rules.codes import (
    Code,
    CodeTable,
    CodeTables,
    benefit_table,
    builtin_code_tables,
    code_table,
    ledger_codes_in,
    ledger_table,
)
from tessera.rules.declaration_checks import (
    Declared,
)
from tessera.rules.declarations import (
    VERSIONS_LIST_MAX,
    DeclarationProposal,
    Declarations,
    DeclarationStatus,
    DeclarationVersion,
    builtin_declarations,
    declared_from_export,
)
from tessera.rules.definitions import (
    BUILTIN_DEFINITIONS,
    EXAMPLE_RULES,
    builtin_benefits,
    builtin_definitions,
    builtin_path,
    load_benefits,
    load_definitions,
    read_toml,
)
from tessera.rules.due_process.appeals import (
    Appeal,
    Appeals,
)
from tessera.rules.due_process.enforcement import (
    Decision,
    Denial,
    EnforcementIndex,
    check,
    install_index,
    uninstall_index,
)
from tessera.rules.due_process.freezes import Freezer
from tessera.rules.due_process.notice_appeals import (
    NoticeAppeal,
    NoticeAppeals,
)
from tessera.rules.due_process.notices import (
    APPEAL_NOTICE,
    NOTICES_BATCH_MAX,
    Notice,
    NoticeDraft,
    NoticeKind,
    Notices,
)
from tessera.rules.due_process.restriction_records import (
    Keep,
    Proposal,
    Restriction,
    RestrictionEvent,
    RestrictionStatus,
)
from tessera.rules.due_process.restrictions import Restrictions
from tessera.rules.due_process.sweeper import Sweeper
from tessera.rules.exercise import bases_on_record
from tessera.rules.language.compiler import (
    ColumnExpression,
    CompiledRules,
    UnsupportedError,
)
from tessera.rules.language.guard import (
    GuardedCondition,
    guarded_condition,
)
from tessera.rules.language.reference import (
    ReferenceRule,
)
from tessera.rules.language.rulesets import (
    Effect,
    EffectKind,
    Refusal,
    Rule,
    RuleSet,
    check_rules,
    load_rules,
)
from tessera.rules.lexicon import check_benefit_name
from tessera.rules.sanctions.counterparties import (
    NewCounterparties,
)
from tessera.rules.sanctions.imported import (
    LIST_ENTITIES_MAX,
    ImportedList,
    SanctionsLists,
    parse_list,
)
from tessera.rules.sanctions.lists import (
    FTM_LINE_MAX,
    OFAC_EMPTY,
    OFAC_EOF_MARKER,
    OFAC_KINDS,
    XML_CHUNK_BYTES,
    ListedEntity,
    OfacRemarks,
    parse_eu,
    parse_ftm,
    parse_ofac,
    parse_ofac_remarks,
    parse_un,
)
from tessera.rules.sanctions.rescreen import (
    SCREEN_PEOPLE_BATCH,
    SCREENING_PRINCIPAL,
    ListScreening,
    ListScreenings,
    OwedScreeningsPoller,
    ScreeningProgress,
)
from tessera.rules.sanctions.screening import (
    FUZZY_TOKEN_LENGTH_MIN,
    SCORE_FLOOR,
    SCREEN_BATCH_MAX,
    SCREEN_THRESHOLD,
    Match,
    Screener,
    ScreeningQuery,
    checked_query,
    clear_caches,
    name_tokens,
)
from tessera.rules.sanctions.watch import (
    Hit,
    SanctionsWatch,
    Screenee,
    ScreeningWorker,
    screen_registrations,
)
from tessera.rules.scoring.engine import (
    LEDGER_EVENT,
    LEDGER_SOURCE,
    HolderSubjects,
    LedgerColumns,
    PayeeCategories,
    PolicyEffects,
    RuleEngine,
)
from tessera.rules.scoring.intake import (
    EVENTS_BATCH_MAX,
    EventIntake,
)
from tessera.rules.scoring.scores import (
    Factor,
    Score,
    Scores,
)
from tessera.rules.subjects import (
    SUBJECT_MAX,
    checked_subject,
    is_person,
)

__all__ = [
    "APPEAL_NOTICE",
    "BUILTIN_DEFINITIONS",
    "CASE_NUMBER_MAX",
    "COURT_MAX",
    "EVENTS_BATCH_MAX",
    "EXAMPLE_RULES",
    "FAVOURABLE_ONLY",
    "FORBIDDEN",
    "FTM_LINE_MAX",
    "FUZZY_TOKEN_LENGTH_MIN",
    "LEDGER_EVENT",
    "LEDGER_SOURCE",
    "LIST_ENTITIES_MAX",
    "NOTICES_BATCH_MAX",
    "OFAC_EMPTY",
    "OFAC_EOF_MARKER",
    "OFAC_KINDS",
    "SCORE_FLOOR",
    "SCREENING_PRINCIPAL",
    "SCREEN_BATCH_MAX",
    "SCREEN_PEOPLE_BATCH",
    "SCREEN_THRESHOLD",
    "SUBJECT_MAX",
    "VERSIONS_LIST_MAX",
    "XML_CHUNK_BYTES",
    "Appeal",
    "Appeals",
    "BasisKind",
    "Benefit",
    "Benefits",
    "Category",
    "Code",
    "CodeTable",
    "CodeTables",
    "ColumnExpression",
    "CompiledRules",
    "CourtOrder",
    "Decision",
    "DeclarationProposal",
    "DeclarationStatus",
    "DeclarationVersion",
    "Declarations",
    "Declared",
    "Denial",
    "Domain",
    "Effect",
    "EffectKind",
    "EnforcementIndex",
    "EventField",
    "EventIntake",
    "EventType",
    "EventTypes",
    "Factor",
    "FieldType",
    "Freezer",
    "GuardedCondition",
    "Hit",
    "HolderSubjects",
    "ImportedList",
    "Keep",
    "LeafField",
    "LedgerColumns",
    "LegalBases",
    "LegalBasis",
    "ListScreening",
    "ListScreenings",
    "ListedEntity",
    "Match",
    "NewCounterparties",
    "Notice",
    "NoticeAppeal",
    "NoticeAppeals",
    "NoticeDraft",
    "NoticeKind",
    "Notices",
    "OfacRemarks",
    "OwedScreeningsPoller",
    "PayeeCategories",
    "PolicyEffects",
    "Proposal",
    "RecordType",
    "ReferenceRule",
    "Refusal",
    "Restriction",
    "RestrictionEvent",
    "RestrictionStatus",
    "Restrictions",
    "Rule",
    "RuleEngine",
    "RuleSet",
    "SanctionsLists",
    "SanctionsWatch",
    "Score",
    "Scores",
    "Screenee",
    "Screener",
    "ScreeningProgress",
    "ScreeningQuery",
    "ScreeningWorker",
    "Sweeper",
    "UnsupportedError",
    "bases_on_record",
    "benefit",
    "benefit_table",
    "builtin_benefits",
    "builtin_code_tables",
    "builtin_declarations",
    "builtin_definitions",
    "builtin_path",
    "check",
    "check_benefit_name",
    "check_rules",
    "checked_domains",
    "checked_query",
    "checked_subject",
    "clear_caches",
    "code_table",
    "declared_from_export",
    "event_type",
    "guarded_condition",
    "install_index",
    "is_person",
    "ledger_codes_in",
    "ledger_table",
    "legal_basis",
    "load_benefits",
    "load_definitions",
    "load_rules",
    "name_tokens",
    "parse_eu",
    "parse_ftm",
    "parse_list",
    "parse_ofac",
    "parse_ofac_remarks",
    "parse_un",
    "read_toml",
    "record_type",
    "screen_registrations",
    "uninstall_index",
]
