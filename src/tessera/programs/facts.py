"""The facts a programme's eligibility and amounts may read: registered facts only, declared as one schema.

A programme's CEL reads four groups of facts, each by its own name (no ``event.`` in front):

- ``person.*``: registry demographics of the person (for a household programme, of its head);
- ``household.*``: the composition of the person's household, counted from its members' birth
  dates on the cycle's date (a person in no household is a household of one);
- ``grants.<benefit>``: true while an eligibility grant of the rules (``tessera.rules``) for that
  registered benefit is live for the person (for a household programme, for any member);
- ``reported.<event_type>.<field>``: the field of the latest event of that registered type an
  agency reported about the person (for a household programme, about its head), with the event
  type's dots written as underscores (``reported.benefit_claimed.claimant.disability_grade``).

A fact that has no value for someone (no event reported, no grant) reads as its *absent*
value: ``false``, ``0`` or ``""``, as ``tessera.rules``' polarity check assumes.

The schema is one synthetic event type whose top-level fields are the four groups, so the
rules' own guard (``tessera.rules.guarded_condition`` with ``root=None``) judges programme
conditions exactly as it judges rules: every category on the way to each fact, forbidden ones
refused, health and disability (a grant of a benefit that reveals them included) read only so
as to widen. Households are built elsewhere (``tessera.identity``); only their fact names live here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tessera.rules import (
    FAVOURABLE_ONLY,
    Benefits,
    Category,
    EventField,
    EventType,
    EventTypes,
    FieldType,
    LeafField,
    RecordType,
    Rule,
)

PERSON = "person"
HOUSEHOLD = "household"
GRANTS = "grants"
REPORTED = "reported"
FACTS_NAME = "programme.facts"  # the synthetic event type's name, in the guard's messages
# Records nest at most this deep in the rules (tessera.rules categories.RECORD_DEPTH_MAX): an event type whose
# own records, under reported.<type>, would nest deeper is left out of the schema (FactSchema.left_out).
_RECORD_DEPTH_MAX = 4

PERSON_FACTS: Mapping[str, tuple[FieldType, Category]] = {
    "age": (FieldType.integer, Category.identity),  # whole years on the cycle's date
    "sex": (FieldType.text, Category.identity),  # "F", "M" or "X", as the registry holds it
}
"""Registry demographics a programme may read, as ``person.<name>``."""

HOUSEHOLD_FACTS: Mapping[str, tuple[FieldType, Category]] = {
    "size": (FieldType.integer, Category.identity),  # members, the head included; 1 for a person alone
    "members_under_5": (FieldType.integer, Category.identity),
    "members_under_18": (FieldType.integer, Category.identity),
    "members_60_and_over": (FieldType.integer, Category.identity),
    "head_age": (FieldType.integer, Category.identity),
}
"""Household composition a programme may read, as ``household.<name>``: counts by age on the cycle's date."""


@dataclass(frozen=True, slots=True)
class FactSchema:
    """Every fact a programme may read, as one synthetic event type for the rules' guard."""

    facts: EventType
    left_out: Mapping[str, str]  # event type name -> why its facts cannot be read

    def leaves(self) -> dict[str, LeafField]:
        """Every fact by name (``household.size``), with its type and the categories on the way."""
        return self.facts.leaf_fields()

    def names(self) -> list[str]:
        """Every fact's name, sorted."""
        return sorted(self.leaves())


def fact_schema(types: EventTypes, benefits: Benefits, rules: Iterable[Rule] = ()) -> FactSchema:
    """The facts readable under ``types`` (agencies' event types) and ``benefits`` (what grants open).

    A grant fact carries the categories its benefit reveals and, when ``rules`` are given, the
    categories of every rule granting it: a grant made on health data is health data (issue 16).
    """
    derived: dict[str, set[Category]] = {}
    for rule in rules:
        for effect in rule.effects:
            if effect.benefit is not None:
                derived.setdefault(effect.benefit, set()).update(rule.categories)
    grant_fields = []
    for benefit_id in benefits.ids():
        revealed = set(benefits.get(benefit_id).categories) | derived.get(benefit_id, set())
        protected = [c for c in Category if c in revealed and c in FAVOURABLE_ONLY]
        category = protected[0] if protected else Category.benefit
        grant_fields.append(EventField(benefit_id, FieldType.boolean, category))
    reported, left_out = _reported(types)
    groups = [
        EventField(PERSON, FieldType.record, Category.identity, _record(PERSON, PERSON_FACTS)),
        EventField(HOUSEHOLD, FieldType.record, Category.identity, _record(HOUSEHOLD, HOUSEHOLD_FACTS)),
    ]
    if grant_fields:
        groups.append(EventField(GRANTS, FieldType.record, Category.benefit, RecordType(GRANTS, tuple(grant_fields))))
    if reported:
        groups.append(EventField(REPORTED, FieldType.record, Category.reference, RecordType(REPORTED, reported)))
    return FactSchema(EventType(FACTS_NAME, Category.benefit, tuple(groups)), left_out)


def _record(name: str, facts: Mapping[str, tuple[FieldType, Category]]) -> RecordType:
    return RecordType(name, tuple(EventField(n, t, c) for n, (t, c) in facts.items()))


def _reported(types: EventTypes) -> tuple[tuple[EventField, ...], dict[str, str]]:
    """One record per event type agencies report (``reported_by``), its fields under its purpose."""
    fields: list[EventField] = []
    seen: dict[str, str] = {}
    left_out: dict[str, str] = {}
    for name in types.names():
        t = types.get(name)
        if not t.reported_by:  # the ledger's feed and other inside events are no facts about a person
            continue
        key = name.replace(".", "_")
        if key in seen:
            left_out[name] = f"its facts would share the name reported.{key} with {seen[key]}"
            continue
        if _depth(t.fields) + 2 > _RECORD_DEPTH_MAX:
            left_out[name] = f"its records nest too deep to be read under reported.{key}"
            continue
        seen[key] = name
        fields.append(EventField(key, FieldType.record, t.purpose, RecordType(key, t.fields, t.description)))
    return tuple(fields), left_out


def _depth(fields: tuple[EventField, ...]) -> int:
    """How deep records nest in ``fields``: 0 for plain fields only."""
    return max((1 + _depth(f.record.fields) for f in fields if f.record is not None), default=0)
