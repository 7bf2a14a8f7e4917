"""Data categories, and the event types whose fields declare them.

DESIGN.md's first principle lives here: protected data can open a door, never close one.
Every field of every event type names the category of data it carries. A category in
``FORBIDDEN`` (political opinion, protest or assembly, voting, religion, ethnicity,
trade-union membership, sexual life, speech content, browsing or location history) can
be neither a field nor the purpose of an event type: such a type is refused when it is
registered, so no rule can ever read it. Categories in ``FAVOURABLE_ONLY`` (health,
disability) may be registered; the rule loader admits them only in rules whose every
effect grants a benefit (eligibility), never in a score, even one that raises it.

A field may hold a *record* (``claimant``: age band, disability status), a named group of
fields with categories of their own. The guard looks through records: a forbidden category
nested at any depth refuses the event type, and rules read nested fields by their path
(``event.claimant.age_band``), each with every category along the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from tessera.auth import AGENCY_MAX
from tessera.errors import ConflictError, InvalidInputError, NotFoundError, ProtectedCategoryError

if TYPE_CHECKING:
    from tessera.rules.codes import CodeTables


class Category(StrEnum):
    """The kinds of personal data an event field can carry."""

    # Ordinary categories: rules may use them for any lawful effect.
    financial = "financial"  # payments, balances, loans, debts
    tax = "tax"
    judicial = "judicial"  # court judgments, orders
    licensing = "licensing"
    procurement = "procurement"
    identity = "identity"  # registry facts: status, age band
    benefit = "benefit"  # entitlement programme facts
    reference = "reference"  # ids, codes and amounts with no personal meaning of their own
    # Favourable only: may open a door (eligibility), never close one.
    health = "health"
    disability = "disability"
    # Forbidden: never an input, whatever the effect.
    political_opinion = "political_opinion"
    protest_assembly = "protest_assembly"
    voting = "voting"
    religion = "religion"
    ethnicity = "ethnicity"
    trade_union = "trade_union"
    sexual_life = "sexual_life"
    speech_content = "speech_content"
    browsing_history = "browsing_history"
    location_history = "location_history"
    # A rule's output (a grant, a score, a notice, a restriction): never an input, by any path (issue 16).
    derived = "derived"


FORBIDDEN = frozenset(
    {
        Category.political_opinion,
        Category.protest_assembly,
        Category.voting,
        Category.religion,
        Category.ethnicity,
        Category.trade_union,
        Category.sexual_life,
        Category.speech_content,
        Category.browsing_history,
        Category.location_history,
    }
)
FAVOURABLE_ONLY = frozenset({Category.health, Category.disability})
DERIVED = Category.derived
# Words that name what a rule decides: a type, record or field called so would carry a rule's output
# back in as an input, whatever category it claims (issue 16). The lexicon (category derived) covers other languages.
RULE_OUTPUT_WORDS = frozenset(
    {
        "score", "scores", "scored", "scoring", "rating", "ratings", "eligibility", "grant", "grants",
        "notice", "notices", "restriction", "restrictions", "denial", "denials",
        "blacklist", "blacklisted", "watchlist", "watchlisted",
    }
)  # fmt: skip
_RULE_OUTPUT_REASON = "no rule may read another rule's grants, scores, notices or restrictions, by any path"


class FieldType(StrEnum):
    """What a field's values are; rules are compiled against these."""

    integer = "int"  # 64-bit signed; money in minor units
    number = "float"
    text = "str"
    boolean = "bool"
    date = "date"  # ISO 8601 day
    timestamp = "timestamp"  # nanoseconds since the epoch, UTC
    record = "record"  # a RecordType's fields, read by path (event.claimant.age_band)


EVENT_TYPE_NAME_MAX = 64
FIELD_NAME_MAX = 64
CODE_TABLE_NAME_MAX = 32  # codes.py names its tables within this
FIELDS_MAX = 64
EVENT_TYPES_MAX = 10_000
RECORD_TYPES_MAX = 10_000
RECORD_DEPTH_MAX = 4  # records within records, at most this deep
LEAF_FIELDS_MAX = 256  # every readable path of one event type, nested ones included
DESCRIPTION_MAX = 300
# Every event carries these two columns besides its declared fields; no field may take their names.
IMPLICIT_FIELDS = frozenset({"subject", "time"})
_EVENT_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")  # domain.what_happened
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*")
_RECORD_NAME = re.compile(r"[a-z][a-z0-9_]*")  # one word: never mistaken for an event type
_SPEC_WITH_CODES: Final = 3  # (type, category, code table); a spec without one is (type, category)


FieldSpec = (
    tuple["FieldType | str | RecordType", "Category | str"]
    | tuple["FieldType | str | RecordType", "Category | str", str]
)
"""A field as event_type() and record_type() take it: (type, category), or with the code table its values come from."""


@dataclass(frozen=True, slots=True)
class EventField:
    """One field of an event type: its name, value type and the category of data it carries.

    A field of type ``record`` holds ``record``; its category applies to every field read through it.
    """

    name: str
    type: FieldType
    category: Category
    record: RecordType | None = None
    codes: str | None = None  # the code table its values come from (rules/codes.py); None: free text or a quantity


@dataclass(frozen=True, slots=True)
class RecordType:
    """A named group of fields an event field can hold (``claimant``), each with its own category."""

    name: str
    fields: tuple[EventField, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class LeafField:
    """A readable path of an event type (``claimant.age_band``): its value type and every category on the way."""

    path: str
    type: FieldType
    categories: tuple[Category, ...]  # outermost first
    codes: str | None = None  # the code table its values come from, if any


@dataclass(frozen=True, slots=True)
class EventType:
    """A kind of lawful event rules may read (``loan.repaid``), with the purpose it serves."""

    name: str
    purpose: Category
    fields: tuple[EventField, ...]
    description: str = ""
    reported_by: tuple[str, ...] = ()  # agencies that may submit it (POST /v1/events); none: only from inside

    def field(self, name: str) -> EventField:
        """The field called ``name``, or NotFoundError naming the event type."""
        for f in self.fields:
            if f.name == name:
                return f
        raise NotFoundError(f"{self.name}.{name}", f"event type {self.name} has no field {name!r}")

    @property
    def categories(self) -> frozenset[Category]:
        """Every category the type carries: its purpose and each field's, nested records' included."""
        return frozenset({self.purpose, *(c for leaf in self.leaf_fields().values() for c in leaf.categories)})

    def leaf_fields(self) -> dict[str, LeafField]:
        """Every path a rule can read, by path: top-level fields and the fields of records, at any depth."""
        found: dict[str, LeafField] = {}
        _collect_leaves(self.fields, "", (), found, 0)
        return found


def _collect_leaves(
    fields: tuple[EventField, ...], prefix: str, outer: tuple[Category, ...], found: dict[str, LeafField], depth: int
) -> None:
    if depth > RECORD_DEPTH_MAX:  # unreachable for checked types; a hand-made cycle must not recurse forever
        raise InvalidInputError(prefix.rstrip("."), f"records nest at most {RECORD_DEPTH_MAX} deep")
    for f in fields:
        categories = (*outer, f.category)
        if f.record is None:
            found[prefix + f.name] = LeafField(prefix + f.name, f.type, categories, f.codes)
        else:
            _collect_leaves(f.record.fields, f"{prefix}{f.name}.", categories, found, depth + 1)


def record_type(
    name: str,
    fields: Mapping[str, FieldSpec],
    description: str = "",
) -> RecordType:
    """A checked record type; a forbidden category in it, or in any record it holds, is refused by name.

    ``fields`` maps each field name to ``(type, category)``; the type may itself be a RecordType.
    """
    if (
        not isinstance(name, str)
        or len(name) > EVENT_TYPE_NAME_MAX
        or not _RECORD_NAME.fullmatch(name)
        or name in FieldType.__members__.values()
    ):
        raise InvalidInputError(
            "name", f"a record type's name is one lowercase word, not a field type, got {name!r:.80}"
        )
    _refuse_rule_output(name, None, "name")
    checked = _checked_fields(name, fields, 0)
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise InvalidInputError(f"{name}.description", f"at most {DESCRIPTION_MAX} characters")
    return RecordType(name, checked, description)


def _checked_fields(where: str, fields: Mapping[str, FieldSpec], depth: int) -> tuple[EventField, ...]:
    """The fields of an event or record type, checked; ``where`` prefixes every error's field."""
    if not isinstance(fields, Mapping) or not 1 <= len(fields) <= FIELDS_MAX:
        raise InvalidInputError(f"{where}.fields", f"must map 1-{FIELDS_MAX} field names to (type, category)")
    checked: list[EventField] = []
    for field_name, spec in fields.items():
        at = f"{where}.{field_name}"
        if not isinstance(field_name, str) or len(field_name) > FIELD_NAME_MAX or not _FIELD_NAME.fullmatch(field_name):
            raise InvalidInputError(at, "a field name is lowercase letters, digits and _")
        if not isinstance(spec, tuple) or len(spec) not in (2, 3):
            raise InvalidInputError(at, "must be a pair (type, category), or (type, category, code table)")
        codes = _checked_codes(spec[2] if len(spec) == _SPEC_WITH_CODES else None, spec[0], at)
        category = _checked_category(spec[1], at)
        if category in FORBIDDEN:
            raise ProtectedCategoryError(where, field_name, category.value)
        _refuse_rule_output(field_name, category, at)
        if isinstance(spec[0], RecordType):
            record = _checked_record(spec[0], at, depth + 1)
            checked.append(EventField(field_name, FieldType.record, category, record))
        else:
            field_type = _checked_type(spec[0], at)
            if field_type is FieldType.record:
                raise InvalidInputError(at, "a record field's type is the RecordType itself (see record_type())")
            checked.append(EventField(field_name, field_type, category, None, codes))
    return tuple(checked)


def _spec(f: EventField) -> FieldSpec:
    """A field as _checked_fields takes it, to check a hand-made one again."""
    kind = f.record if f.record is not None else f.type
    return (kind, f.category) if f.codes is None else (kind, f.category, f.codes)


def _checked_codes(codes: object, kind: object, at: str) -> str | None:
    """The name of the code table a field's values come from (rules/codes.py): int and str fields only."""
    if codes is None:
        return None
    if not isinstance(codes, str) or not _RECORD_NAME.fullmatch(codes) or len(codes) > CODE_TABLE_NAME_MAX:
        raise InvalidInputError(f"{at}.codes", f"names a code table in one lowercase word, got {codes!r:.40}")
    if kind not in (FieldType.integer, FieldType.text, FieldType.integer.value, FieldType.text.value):
        raise InvalidInputError(f"{at}.codes", "only an int or str field takes its values from a code table")
    return codes


def _checked_record(record: RecordType, where: str, depth: int) -> RecordType:
    """A record held by a field, checked again: a hand-built RecordType must not slip past the guard."""
    if depth > RECORD_DEPTH_MAX:
        raise InvalidInputError(where, f"records nest at most {RECORD_DEPTH_MAX} deep")
    if not isinstance(record.name, str) or not _RECORD_NAME.fullmatch(record.name):
        raise InvalidInputError(where, f"not a record type name: {record.name!r:.80}")
    fields = {f.name: _spec(f) for f in record.fields}
    if len(fields) != len(record.fields):
        raise InvalidInputError(f"{where}.fields", "a field name appears twice")
    return RecordType(record.name, _checked_fields(where, fields, depth), record.description)


def event_type(
    name: str,
    purpose: Category | str,
    fields: Mapping[str, FieldSpec],
    description: str = "",
    reported_by: Sequence[str] = (),
) -> EventType:
    """A checked event type from plain values; a forbidden category anywhere, records included, is refused by name.

    ``fields`` maps each field name to ``(type, category)``; the type may be a RecordType (see record_type()).
    """
    if not isinstance(name, str) or len(name) > EVENT_TYPE_NAME_MAX or not _EVENT_TYPE_NAME.fullmatch(name):
        raise InvalidInputError("name", f"must be lowercase dotted words like loan.repaid, got {name!r:.80}")
    purpose = _checked_category(purpose, f"{name}.purpose")
    if purpose in FORBIDDEN:
        raise ProtectedCategoryError(name, "purpose", purpose.value)
    _refuse_rule_output(name, None, "name")
    _refuse_rule_output("", purpose, f"{name}.purpose")
    checked = _checked_fields(name, fields, 0)
    for f in checked:
        if f.name in IMPLICIT_FIELDS:
            raise InvalidInputError(
                f"{name}.{f.name}", "subject and time are every event's own columns; pick another name"
            )
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise InvalidInputError(f"{name}.description", f"at most {DESCRIPTION_MAX} characters")
    if (
        isinstance(reported_by, str)
        or not isinstance(reported_by, Sequence)
        or not all(isinstance(a, str) and 0 < len(a) <= AGENCY_MAX and a.strip() == a for a in reported_by)
    ):
        raise InvalidInputError(f"{name}.reported_by", f"a list of agency names, each 1-{AGENCY_MAX} characters")
    result = EventType(name, purpose, checked, description, tuple(sorted(set(reported_by))))
    if len(result.leaf_fields()) > LEAF_FIELDS_MAX:
        raise InvalidInputError(f"{name}.fields", f"at most {LEAF_FIELDS_MAX} readable fields, nested ones included")
    return result


class EventTypes:
    """The registry of event types rules may read. Registering is the only way in, so the guard always runs."""

    def __init__(
        self, types: Iterable[EventType] = (), records: Iterable[RecordType] = (), codes: CodeTables | None = None
    ) -> None:
        self._types: dict[str, EventType] = {}
        self._records: dict[str, RecordType] = {}
        if codes is None:
            from tessera.rules.codes import builtin_code_tables  # noqa: PLC0415 (codes.py imports this module)

            codes = builtin_code_tables()
        self._codes = codes
        for r in records:
            self.register_record(r)
        for t in types:
            self.register(t)

    def register(self, t: EventType) -> EventType:
        """Add an event type; re-registering the identical type is a no-op, a different one a conflict."""
        if not isinstance(t, EventType):
            raise InvalidInputError("event_type", "must be an EventType (see event_type())")
        # Re-checked here: an EventType built by hand, not by event_type(), must not slip past the guard.
        fields = {f.name: _spec(f) for f in t.fields}
        checked = event_type(t.name, t.purpose, fields, t.description, t.reported_by)
        if len(checked.fields) != len(t.fields):
            raise InvalidInputError(f"{t.name}.fields", "a field name appears twice")
        known = self._types.get(t.name)
        if known is not None:
            if known != checked:
                raise ConflictError("name", f"event type {t.name} is registered with other fields")
            return known
        if len(self._types) >= EVENT_TYPES_MAX:
            raise ConflictError("name", f"at most {EVENT_TYPES_MAX} event types")
        _require_code_tables(checked, self._codes)
        self._types[t.name] = checked
        return checked

    @property
    def codes(self) -> CodeTables:
        """The code tables in force: what the values of coded fields mean (rules/codes.py)."""
        return self._codes

    def use_codes(self, codes: CodeTables) -> None:
        """Put ``codes`` in force (the register of ledgers, from the store); every coded field needs its table."""
        for t in self._types.values():
            _require_code_tables(t, codes)
        self._codes = codes

    def get(self, name: str) -> EventType:
        """The registered type called ``name``, or NotFoundError (an unknown input of a rule)."""
        found = self._types.get(name)
        if found is None:
            raise NotFoundError("event_type", f"no event type {name!r} is registered")
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __len__(self) -> int:
        return len(self._types)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._types)

    def register_record(self, r: RecordType) -> RecordType:
        """Add a record type that later event types may name; the identical one again is a no-op."""
        if not isinstance(r, RecordType):
            raise InvalidInputError("record_type", "must be a RecordType (see record_type())")
        fields = {f.name: _spec(f) for f in r.fields}
        if len(fields) != len(r.fields):
            raise InvalidInputError(f"{r.name}.fields", "a field name appears twice")
        checked = record_type(r.name, fields, r.description)
        known = self._records.get(r.name)
        if known is not None:
            if known != checked:
                raise ConflictError("name", f"record type {r.name} is registered with other fields")
            return known
        if len(self._records) >= RECORD_TYPES_MAX:
            raise ConflictError("name", f"at most {RECORD_TYPES_MAX} record types")
        self._records[r.name] = checked
        return checked

    def record(self, name: str) -> RecordType:
        """The registered record type called ``name``, or NotFoundError."""
        found = self._records.get(name)
        if found is None:
            raise NotFoundError("record_type", f"no record type {name!r} is registered")
        return found

    def record_names(self) -> list[str]:
        """The registered record type names, sorted."""
        return sorted(self._records)


def _require_code_tables(t: EventType, codes: CodeTables) -> None:
    for leaf in t.leaf_fields().values():
        if leaf.codes is None:
            continue
        if leaf.codes not in codes:
            raise NotFoundError(f"{t.name}.{leaf.path}.codes", f"no code table {leaf.codes!r} is registered")
        if codes.get(leaf.codes).type is not leaf.type:
            raise InvalidInputError(f"{t.name}.{leaf.path}.codes", f"code table {leaf.codes!r} holds other values")


def _checked_category(value: object, field: str) -> Category:
    if isinstance(value, str) and value in Category.__members__.values():
        return Category(value)
    known = ", ".join(c.value for c in Category)
    raise InvalidInputError(field, f"unknown data category {value!r:.40}; known: {known}")


def _refuse_rule_output(name: str, category: Category | None, field: str) -> None:
    """Refuse a declaration that carries a rule's output: category ``derived``, or a name made of its words."""
    if category is DERIVED:
        raise InvalidInputError(field, f"carries a rule's output (category derived): {_RULE_OUTPUT_REASON}")
    for word in re.split(r"[._]", name):
        if word in RULE_OUTPUT_WORDS:
            raise InvalidInputError(field, f"{word!r} names a rule's output: {_RULE_OUTPUT_REASON}")


def _checked_type(value: object, field: str) -> FieldType:
    if isinstance(value, str) and value in FieldType.__members__.values():
        return FieldType(value)
    known = ", ".join(t.value for t in FieldType)
    raise InvalidInputError(field, f"unknown field type {value!r:.40}; known: {known}")
