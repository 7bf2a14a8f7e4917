"""Data categories, and the event types whose fields declare them.

DESIGN.md's first principle lives here: protected data can open a door, never close one.
Every field of every event type names the category of data it carries. A category in
``FORBIDDEN`` (political opinion, protest or assembly, voting, religion, ethnicity,
trade-union membership, sexual life, speech content, browsing or location history) can
be neither a field nor the purpose of an event type: such a type is refused when it is
registered, so no rule can ever read it. Categories in ``FAVOURABLE_ONLY`` (health,
disability) may be registered; the rule loader admits them only in rules whose every
effect is favourable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tessera.errors import ConflictError, InvalidInputError, NotFoundError, ProtectedCategoryError


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


class FieldType(StrEnum):
    """What a field's values are; rules are compiled against these."""

    integer = "int"  # 64-bit signed; money in minor units
    number = "float"
    text = "str"
    boolean = "bool"
    date = "date"  # ISO 8601 day
    timestamp = "timestamp"  # nanoseconds since the epoch, UTC


EVENT_TYPE_NAME_MAX = 64
FIELD_NAME_MAX = 64
FIELDS_MAX = 64
EVENT_TYPES_MAX = 10_000
DESCRIPTION_MAX = 300
_EVENT_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")  # domain.what_happened
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class EventField:
    """One field of an event type: its name, value type and the category of data it carries."""

    name: str
    type: FieldType
    category: Category


@dataclass(frozen=True, slots=True)
class EventType:
    """A kind of lawful event rules may read (``loan.repaid``), with the purpose it serves."""

    name: str
    purpose: Category
    fields: tuple[EventField, ...]
    description: str = ""

    def field(self, name: str) -> EventField:
        """The field called ``name``, or NotFoundError naming the event type."""
        for f in self.fields:
            if f.name == name:
                return f
        raise NotFoundError(f"{self.name}.{name}", f"event type {self.name} has no field {name!r}")

    @property
    def categories(self) -> frozenset[Category]:
        """Every category the type carries: its purpose and each field's."""
        return frozenset({self.purpose, *(f.category for f in self.fields)})


def event_type(
    name: str,
    purpose: Category | str,
    fields: Mapping[str, tuple[FieldType | str, Category | str]],
    description: str = "",
) -> EventType:
    """A checked event type from plain values; a forbidden category anywhere is refused by name.

    ``fields`` maps each field name to ``(type, category)``.
    """
    if not isinstance(name, str) or len(name) > EVENT_TYPE_NAME_MAX or not _EVENT_TYPE_NAME.fullmatch(name):
        raise InvalidInputError("name", f"must be lowercase dotted words like loan.repaid, got {name!r:.80}")
    purpose = _checked_category(purpose, f"{name}.purpose")
    if purpose in FORBIDDEN:
        raise ProtectedCategoryError(name, "purpose", purpose.value)
    if not isinstance(fields, Mapping) or not 1 <= len(fields) <= FIELDS_MAX:
        raise InvalidInputError(f"{name}.fields", f"must map 1-{FIELDS_MAX} field names to (type, category)")
    checked: list[EventField] = []
    for field_name, spec in fields.items():
        where = f"{name}.{field_name}"
        if not isinstance(field_name, str) or len(field_name) > FIELD_NAME_MAX or not _FIELD_NAME.fullmatch(field_name):
            raise InvalidInputError(where, "a field name is lowercase letters, digits and _")
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise InvalidInputError(where, "must be a pair (type, category)")
        category = _checked_category(spec[1], where)
        if category in FORBIDDEN:
            raise ProtectedCategoryError(name, field_name, category.value)
        checked.append(EventField(field_name, _checked_type(spec[0], where), category))
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise InvalidInputError(f"{name}.description", f"at most {DESCRIPTION_MAX} characters")
    return EventType(name, purpose, tuple(checked), description)


class EventTypes:
    """The registry of event types rules may read. Registering is the only way in, so the guard always runs."""

    def __init__(self, types: Iterable[EventType] = ()) -> None:
        self._types: dict[str, EventType] = {}
        for t in types:
            self.register(t)

    def register(self, t: EventType) -> EventType:
        """Add an event type; re-registering the identical type is a no-op, a different one a conflict."""
        if not isinstance(t, EventType):
            raise InvalidInputError("event_type", "must be an EventType (see event_type())")
        # Re-checked here: an EventType built by hand, not by event_type(), must not slip past the guard.
        checked = event_type(t.name, t.purpose, {f.name: (f.type, f.category) for f in t.fields}, t.description)
        if len(checked.fields) != len(t.fields):
            raise InvalidInputError(f"{t.name}.fields", "a field name appears twice")
        known = self._types.get(t.name)
        if known is not None:
            if known != checked:
                raise ConflictError("name", f"event type {t.name} is registered with other fields")
            return known
        if len(self._types) >= EVENT_TYPES_MAX:
            raise ConflictError("name", f"at most {EVENT_TYPES_MAX} event types")
        self._types[t.name] = checked
        return checked

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


def _checked_category(value: object, field: str) -> Category:
    if isinstance(value, str) and value in Category.__members__.values():
        return Category(value)
    known = ", ".join(c.value for c in Category)
    raise InvalidInputError(field, f"unknown data category {value!r:.40}; known: {known}")


def _checked_type(value: object, field: str) -> FieldType:
    if isinstance(value, str) and value in FieldType.__members__.values():
        return FieldType(value)
    known = ", ".join(t.value for t in FieldType)
    raise InvalidInputError(field, f"unknown field type {value!r:.40}; known: {known}")
