"""Policy: what may decide things about people, on which data, and how the person hears of it.

Data categories and event types that refuse forbidden data (``categories.py``,
``definitions.py``); code tables, what coded values mean (``codes.py``, read by the guard in
``values.py``); legal bases (``basis.py``); the rule language with its guard, compiler
and reference evaluator (``language.py``, ``guard.py``, ``compiler.py``, ``reference.py``);
the rule engine on the ledger's feed and scores (``engine.py``, ``scores.py``); restrictions,
notices, appeals and the enforcement point (``restrictions.py``, ``notices.py``,
``appeals.py``, ``enforcement.py``: ``check``); sanctions lists and screening (``lists.py``,
``sanctions.py``, ``screening.py``, ``watch.py``). See ``docs/rules.md``.
"""

from tessera.rules.appeals import Appeal, Appeals
from tessera.rules.basis import BasisKind, Domain, LegalBases, LegalBasis, checked_domains, legal_basis
from tessera.rules.benefits import Benefit, Benefits, benefit
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
from tessera.rules.codes import Code, CodeTable, CodeTables, builtin_code_tables, code_table
from tessera.rules.compiler import CompiledRules
from tessera.rules.definitions import (
    builtin_benefits,
    builtin_definitions,
    builtin_path,
    load_benefits,
    load_definitions,
)
from tessera.rules.enforcement import Decision, Denial, EnforcementIndex, check
from tessera.rules.language import Effect, EffectKind, Refusal, Rule, RuleSet, check_rules, load_rules
from tessera.rules.lists import (
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
from tessera.rules.notices import Notice, NoticeDraft, NoticeKind, Notices
from tessera.rules.reference import ReferenceRule
from tessera.rules.restrictions import Freezer, Proposal, Restriction, Restrictions, RestrictionStatus
from tessera.rules.sanctions import LIST_ENTITIES_MAX, ImportedList, SanctionsLists, parse_list
from tessera.rules.screening import SCORE_FLOOR, SCREEN_THRESHOLD, Match, Screener, ScreeningQuery, name_tokens

__all__ = [
    "FAVOURABLE_ONLY",
    "FORBIDDEN",
    "FTM_LINE_MAX",
    "LIST_ENTITIES_MAX",
    "OFAC_EMPTY",
    "OFAC_EOF_MARKER",
    "OFAC_KINDS",
    "SCORE_FLOOR",
    "SCREEN_THRESHOLD",
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
    "CompiledRules",
    "Decision",
    "Denial",
    "Domain",
    "Effect",
    "EffectKind",
    "EnforcementIndex",
    "EventField",
    "EventType",
    "EventTypes",
    "FieldType",
    "Freezer",
    "ImportedList",
    "LeafField",
    "LegalBases",
    "LegalBasis",
    "ListedEntity",
    "Match",
    "Notice",
    "NoticeDraft",
    "NoticeKind",
    "Notices",
    "OfacRemarks",
    "Proposal",
    "RecordType",
    "ReferenceRule",
    "Refusal",
    "Restriction",
    "RestrictionStatus",
    "Restrictions",
    "Rule",
    "RuleSet",
    "SanctionsLists",
    "Screener",
    "ScreeningQuery",
    "benefit",
    "builtin_benefits",
    "builtin_code_tables",
    "builtin_definitions",
    "builtin_path",
    "check",
    "check_rules",
    "checked_domains",
    "code_table",
    "event_type",
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
    "record_type",
]
