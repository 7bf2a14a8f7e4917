"""The rule language: rules declared in TOML, conditions in CEL, effects with a legal basis and an expiry.

A rule file is a list of ``[[rule]]`` tables (see ``docs/rules.md`` and
``builtin/example_rules.toml``). Loading checks every rule against the registered event
types and legal bases, and runs the guard (``guard.py``): a rule that could read a
forbidden category, or read health or disability data for anything but a favourable
effect, is refused when it is loaded, never when it runs.

``load_rules`` is all or nothing and raises the first refusal; ``check_rules`` collects
every refusal across files, for ``tessera rules check``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tessera.errors import InvalidInputError, NotFoundError, ProtectedCategoryError, TesseraError
from tessera.rules.basis import Domain, LegalBases, LegalBasis, checked_domains, require_coverage
from tessera.rules.benefits import Benefits
from tessera.rules.categories import Category, EventType, EventTypes
from tessera.rules.codes import benefit_table
from tessera.rules.definitions import Source, builtin_benefits, read_toml, relocated, table_list
from tessera.rules.language.guard import guarded_condition

POINTS_MAX = 1000  # one contribution moves a score by at most this much
EFFECTS_MAX = 8
INPUTS_MAX = 16
RULES_MAX = 10_000  # across all files of one load
EXPIRY_MAX_S = 10 * 365 * 86_400  # nothing a rule does lasts more than ten years
RULE_ID_MAX = 64
TITLE_MAX = 200
REASON_TEXT_MAX = 500
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
_WORD = re.compile(r"[a-z][a-z0-9_]*")  # scheme names, benefit names, reason codes
_DURATION = re.compile(r"([1-9][0-9]{0,9})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DECLARATION_TABLES = frozenset({"event_type", "record_type", "legal_basis", "benefit"})
_RULE_KEYS = {"id", "title", "basis", "inputs", "condition", "effects", "reason_code"}
_RULE_OPTIONAL = {"reason_text"}
_EFFECT_KEYS = {
    "score": ({"scheme", "points", "expires_after"}, {"half_life"}),
    "eligibility": ({"benefit", "expires_after"}, set()),
    "restriction": ({"domains", "expires_after"}, set()),
    "denial": ({"expires_after"}, set()),
}


class EffectKind(StrEnum):
    """What a rule does when its condition holds."""

    score = "score"  # a contribution to a named score; adverse when negative
    eligibility = "eligibility"  # opens a benefit: always favourable
    restriction = "restriction"  # proposes closing domains, under the basis
    denial = "denial"  # refuses the thing the event asked for


@dataclass(frozen=True, slots=True)
class Effect:
    """One effect of a rule, checked when built: every effect expires, points are bounded, domains named."""

    kind: EffectKind
    expires_after_s: int  # every effect expires
    scheme: str | None = None  # score: which score ("credit")
    points: int = 0  # score: nonzero, |points| <= POINTS_MAX
    half_life_s: int | None = None  # score: halves every half_life_s until it expires
    benefit: str | None = None  # eligibility
    domains: frozenset[Domain] = frozenset()  # restriction

    def __post_init__(self) -> None:
        if not isinstance(self.kind, EffectKind):
            raise InvalidInputError("kind", f"must be one of {', '.join(k.value for k in EffectKind)}")
        _check_seconds("expires_after", self.expires_after_s)
        score, eligibility, restriction = (
            self.kind is k for k in (EffectKind.score, EffectKind.eligibility, EffectKind.restriction)
        )
        if score != (self.scheme is not None) or (self.scheme is not None and not _word(self.scheme)):
            raise InvalidInputError("scheme", "a score effect, and only it, names its scheme in lowercase (credit)")
        if (
            type(self.points) is not int
            or (score and not 0 < abs(self.points) <= POINTS_MAX)
            or (not score and self.points)
        ):
            raise InvalidInputError("points", f"a score effect moves the score by 1-{POINTS_MAX} points, up or down")
        if self.half_life_s is not None:
            if not score:
                raise InvalidInputError("half_life", "only a score contribution decays")
            _check_seconds("half_life", self.half_life_s)
            if self.half_life_s > self.expires_after_s:
                raise InvalidInputError("half_life", "must not be longer than the contribution lives (expires_after)")
        if eligibility != (self.benefit is not None) or (self.benefit is not None and not _word(self.benefit)):
            raise InvalidInputError("benefit", "an eligibility effect, and only it, names its benefit in lowercase")
        if not isinstance(self.domains, frozenset) or restriction != bool(self.domains):
            raise InvalidInputError("domains", "a restriction effect, and only it, names the domains it closes")
        if not all(isinstance(d, Domain) for d in self.domains):
            raise InvalidInputError("domains", f"each domain is one of {', '.join(d.value for d in Domain)}")

    @property
    def favourable(self) -> bool:
        """Whether it can only open a door: an eligibility grant, or a score contribution that raises the score."""
        return self.kind is EffectKind.eligibility or (self.kind is EffectKind.score and self.points > 0)

    @property
    def grants_a_benefit(self) -> bool:
        """Whether it is an eligibility grant: the one effect health or disability data may drive.

        Not a raised score: a bonus for the healthy is a penalty on everyone else (DESIGN.md 1).
        """
        return self.kind is EffectKind.eligibility


@dataclass(frozen=True, slots=True)
class Rule:
    """A loaded rule: what it reads, when it fires, what it does, under which law, and why."""

    id: str
    title: str
    basis: LegalBasis
    inputs: tuple[str, ...]  # event type names
    condition: str  # CEL over event.<field>
    effects: tuple[Effect, ...]
    reason_code: str
    reason_text: str
    fields: frozenset[str]  # every event field the condition reads, as "type.field" or "type.field.sub"
    source: str  # where it was declared: "credit.toml:rule[2]"
    # What its effects are derived from: its inputs' purposes, the categories of every field it reads and of
    # the benefits it grants. A grant of it is data of these categories wherever it is read next (issue 16).
    categories: frozenset[Category] = frozenset()

    @property
    def adverse(self) -> bool:
        """Whether any effect can close a door: a negative contribution, a restriction or a denial."""
        return not all(e.favourable for e in self.effects)


class RuleSet:
    """An immutable set of loaded rules with unique ids, indexed by the event types they read."""

    __slots__ = ("_by_id", "_by_input", "_rules")

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules = tuple(rules)
        self._by_id: dict[str, Rule] = {}
        by_input: dict[str, list[Rule]] = {}
        for r in self._rules:
            if not isinstance(r, Rule):
                raise InvalidInputError("rules", "must be Rule values (see load_rules())")
            if r.id in self._by_id:
                raise InvalidInputError(f"{r.source}.id", f"rule id {r.id!r} is taken by {self._by_id[r.id].source}")
            self._by_id[r.id] = r
            for name in r.inputs:
                by_input.setdefault(name, []).append(r)
        self._by_input = {name: tuple(found) for name, found in by_input.items()}

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in the order loaded."""
        return self._rules

    def for_input(self, event_type: str) -> tuple[Rule, ...]:
        """The rules that read ``event_type``, in the order loaded."""
        return self._by_input.get(event_type, ())

    def get(self, rule_id: str) -> Rule:
        """The rule called ``rule_id``, or NotFoundError."""
        found = self._by_id.get(rule_id)
        if found is None:
            raise NotFoundError("rule", f"no rule {rule_id!r:.80} is loaded")
        return found

    def input_types(self) -> list[str]:
        """Every event type some rule reads, sorted."""
        return sorted(self._by_input)

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one rule (or one whole file) did not load."""

    where: str  # "credit.toml:rule[2]", or the file when it could not be read at all
    rule: str | None  # the rule's id, when it got that far
    error: TesseraError

    def line(self) -> str:
        """One line for people: where, rule, field, category (for the guard's refusals) and why."""
        field = getattr(self.error, "field", "") or self.where
        message = str(self.error).removeprefix(f"{field}: ")
        parts = [f"{self.where}:", f"rule={self.rule or '-'}", f"field={field.removeprefix(self.where + '.')}"]
        if isinstance(self.error, ProtectedCategoryError):
            parts.append(f"category={self.error.category}")
        return " ".join([*parts, f"[{self.error.code}]", message])


def load_rules(
    sources: Iterable[Source], types: EventTypes, bases: LegalBases, benefits: Benefits | None = None
) -> RuleSet:
    """Every rule of ``sources`` (files as Path, TOML text as str), or the first refusal raised: all or nothing.

    Eligibility effects name benefits of ``benefits`` (None: the built-in register).
    """
    rules, refusals = check_rules(sources, types, bases, benefits)
    if refusals:
        raise refusals[0].error
    return rules


def check_rules(
    sources: Iterable[Source], types: EventTypes, bases: LegalBases, benefits: Benefits | None = None
) -> tuple[RuleSet, list[Refusal]]:
    """The rules that load, and a refusal for each that does not (or for each file that cannot be read)."""
    register = builtin_benefits() if benefits is None else benefits
    # A claim's programme means what the register says it funds (codes.py, ``benefit``).
    declared = [(b.id, b.title, b.categories) for b in map(register.get, register.ids())]
    types.use_codes(types.codes.replaced(benefit_table(declared)))
    loaded: list[Rule] = []
    refusals: list[Refusal] = []
    seen: dict[str, str] = {}
    for index, source in enumerate(sources):
        try:
            name, document = read_toml(source, index)
            for key in document:
                if key in _DECLARATION_TABLES:  # issue 16: what data means is not the rule author's to say
                    raise InvalidInputError(
                        f"{name}:{key}",
                        "a rule file holds only [[rule]] tables: event types, record types, legal bases and "
                        "benefits are declared by data-protection officers (tessera declarations)",
                    )
                if key != "rule":
                    raise InvalidInputError(f"{name}:{key}", "unknown table; a rule file holds [[rule]] tables")
            tables = table_list(document, "rule", name)
        except TesseraError as error:
            refusals.append(Refusal(getattr(error, "field", str(source)), None, error))
            continue
        for i, table in enumerate(tables):
            where = f"{name}:rule[{i}]"
            rule_id = table.get("id") if isinstance(table.get("id"), str) else None
            try:
                if len(loaded) + len(refusals) >= RULES_MAX:
                    raise InvalidInputError(where, f"at most {RULES_MAX} rules in one load")
                rule = _rule(table, where, types, bases, register)
                if rule.id in seen:
                    raise InvalidInputError(f"{where}.id", f"rule id {rule.id!r} is taken by {seen[rule.id]}")
            except TesseraError as error:
                refusals.append(Refusal(where, rule_id, error))
                continue
            seen[rule.id] = where
            loaded.append(rule)
    return RuleSet(loaded), refusals


def _rule(table: Mapping[str, Any], where: str, types: EventTypes, bases: LegalBases, benefits: Benefits) -> Rule:
    for key in sorted(_RULE_KEYS - table.keys()):
        raise InvalidInputError(f"{where}.{key}", "is required")
    for key in sorted(table.keys() - _RULE_KEYS - _RULE_OPTIONAL):
        raise InvalidInputError(
            f"{where}.{key}", f"unknown key; expected {', '.join(sorted(_RULE_KEYS | _RULE_OPTIONAL))}"
        )
    rule_id = table["id"]
    if not isinstance(rule_id, str) or len(rule_id) > RULE_ID_MAX or not _RULE_ID.fullmatch(rule_id):
        raise InvalidInputError(f"{where}.id", f"lowercase letters, digits and . _ -, at most {RULE_ID_MAX}")
    title = _text(table["title"], f"{where}.title", TITLE_MAX)
    if not isinstance(table["basis"], str) or table["basis"] not in bases:
        raise NotFoundError(f"{where}.basis", f"no legal basis {table['basis']!r:.80} is registered")
    basis = bases.get(table["basis"])
    inputs = table["inputs"]
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= INPUTS_MAX or len(set(map(str, inputs))) != len(inputs):
        raise InvalidInputError(f"{where}.inputs", f"must list 1-{INPUTS_MAX} distinct event type names")
    for k, name in enumerate(inputs):
        if not isinstance(name, str) or name not in types:
            raise NotFoundError(f"{where}.inputs[{k}]", f"no event type {name!r:.80} is registered")
    effects = table["effects"]
    if not isinstance(effects, list) or not 1 <= len(effects) <= EFFECTS_MAX:
        raise InvalidInputError(f"{where}.effects", f"must list 1-{EFFECTS_MAX} effects ([[rule.effects]])")
    checked = tuple(_effect(e, f"{where}.effects[{k}]", basis) for k, e in enumerate(effects))
    granted = _granted_categories(checked, where, rule_id, basis, benefits)
    reason_code = table["reason_code"]
    if not isinstance(reason_code, str) or len(reason_code) > RULE_ID_MAX or not _WORD.fullmatch(reason_code):
        raise InvalidInputError(f"{where}.reason_code", f"one lowercase word with _, at most {RULE_ID_MAX} characters")
    favourable = all(e.favourable for e in checked)
    reason_text = table.get("reason_text", "")
    if not favourable and (not isinstance(reason_text, str) or not reason_text.strip()):
        raise InvalidInputError(f"{where}.reason_text", "an adverse effect must tell the person why, in plain words")
    reason_text = _text(reason_text, f"{where}.reason_text", REASON_TEXT_MAX, empty=favourable)
    benefits_only = all(e.grants_a_benefit for e in checked)
    input_types = [types.get(n) for n in inputs]
    guarded = guarded_condition(
        where, rule_id, table["condition"], input_types, benefits_only, favourable=favourable, codes=types.codes
    )
    require_coverage(basis, rule_id, input_types, where)
    return Rule(
        rule_id,
        title,
        basis,
        tuple(inputs),
        table["condition"],
        checked,
        reason_code,
        reason_text,
        guarded.fields,
        where,
        read_categories(input_types, guarded.paths) | guarded.value_categories | granted,
    )


def read_categories(inputs: Iterable[EventType], paths: Iterable[str]) -> frozenset[Category]:
    """Every category a rule reading ``paths`` of ``inputs`` takes in: each type's purpose, each field's way."""
    found: set[Category] = set()
    wanted = list(paths)
    for t in inputs:
        found.add(t.purpose)
        leaves = t.leaf_fields()
        found.update(c for p in wanted if p in leaves for c in leaves[p].categories)
    return frozenset(found)


def _granted_categories(
    effects: Iterable[Effect], where: str, rule_id: str, basis: LegalBasis, benefits: Benefits
) -> frozenset[Category]:
    """What the rule's grants reveal by their benefit alone; a benefit not registered, or not under ``basis``, refused.

    A "grant" of something that is no registered benefit (``extra_scrutiny``) is a penalty
    dressed as a favour (issue 16).
    """
    found: set[Category] = set()
    for k, effect in enumerate(effects):
        if effect.benefit is None:
            continue
        field = f"{where}.effects[{k}].benefit"
        if effect.benefit not in benefits:
            raise NotFoundError(
                field,
                f"rule {rule_id!r} grants {effect.benefit!r}, which is no registered benefit: a grant opens a "
                "benefit of the register, never anything else",
            )
        granted = benefits.get(effect.benefit)
        if basis.id not in granted.bases:
            raise InvalidInputError(
                field,
                f"rule {rule_id!r} grants {effect.benefit} under {basis.id}, but the benefit is granted only under "
                f"{', '.join(sorted(granted.bases))}",
            )
        found.update(granted.categories)
    return frozenset(found)


def _effect(table: object, where: str, basis: LegalBasis) -> Effect:
    if not isinstance(table, dict):
        raise InvalidInputError(where, "must be a table with kind = score, eligibility, restriction or denial")
    kind = table.get("kind")
    if kind not in _EFFECT_KEYS:
        raise InvalidInputError(f"{where}.kind", f"must be one of {', '.join(_EFFECT_KEYS)}, got {kind!r:.40}")
    required, optional = _EFFECT_KEYS[kind]
    for key in sorted(required - table.keys()):
        raise InvalidInputError(f"{where}.{key}", f"is required for a {kind} effect")
    for key in sorted(table.keys() - required - optional - {"kind"}):
        raise InvalidInputError(
            f"{where}.{key}", f"not a key of a {kind} effect; expected {', '.join(sorted(required | optional))}"
        )
    expires = _duration(table["expires_after"], f"{where}.expires_after")
    half_life = _duration(table["half_life"], f"{where}.half_life") if "half_life" in table else None
    domains = checked_domains(basis, table["domains"], f"{where}.domains") if "domains" in table else frozenset()
    points = table.get("points", 0)
    if kind == "score" and (type(points) is not int or not 0 < abs(points) <= POINTS_MAX):
        raise InvalidInputError(
            f"{where}.points", f"a whole number of points, nonzero, between -{POINTS_MAX} and {POINTS_MAX}"
        )
    try:
        return Effect(EffectKind(kind), expires, table.get("scheme"), points, half_life, table.get("benefit"), domains)
    except InvalidInputError as error:
        raise relocated(error, where) from None


def _duration(value: object, field: str) -> int:
    """Seconds from "90d" (units s, m, h, d, w): every effect expires, within EXPIRY_MAX_S."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInputError(field, f'a duration like "90d" (units s, m, h, d, w), got {value!r:.40}')
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    _check_seconds(field, seconds)
    return seconds


def _check_seconds(field: str, seconds: object) -> None:
    if type(seconds) is not int or not 1 <= seconds <= EXPIRY_MAX_S:
        raise InvalidInputError(field, f"between 1 second and {EXPIRY_MAX_S // 86_400} days")


def _text(value: object, field: str, limit: int, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise InvalidInputError(field, f"must be text of {0 if empty else 1}-{limit} characters")
    return value.strip()


def _word(value: object) -> bool:
    return isinstance(value, str) and len(value) <= RULE_ID_MAX and _WORD.fullmatch(value) is not None
