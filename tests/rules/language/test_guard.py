"""The guard: protected data can open a door, never close one, whichever way a rule tries to read it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tessera.errors import InvalidInputError, NotFoundError, ProtectedCategoryError
from tessera.rules.basis import LegalBases, legal_basis
from tessera.rules.benefits import Benefits, benefit
from tessera.rules.categories import (
    Category,
    EventField,
    EventType,
    EventTypes,
    FieldType,
    RecordType,
    event_type,
    record_type,
)
from tessera.rules.definitions import load_definitions
from tessera.rules.language.compiler import CompiledRules
from tessera.rules.language.guard import guarded_condition
from tessera.rules.language.rulesets import Rule, RuleSet, load_rules

NOTES = record_type("notes", {"x": ("int", "health"), "tally": ("int", "financial")})
BORROWER = record_type(
    "borrower",
    {"age_band": ("int", "identity"), "disability": ("bool", "disability"), "notes": (NOTES, "financial")},
)
TYPES = EventTypes(
    [
        event_type(
            "loan.repaid",
            "financial",
            {
                "amount": ("int", "financial"),
                "lender": ("str", "reference"),
                "diagnosis": ("str", "health"),
                "borrower": (BORROWER, "financial"),
            },
        ),
        event_type("clinic.visited", "health", {"cost": ("int", "financial")}),
    ]
)
BASES = LegalBases(
    [
        legal_basis(
            "credit-act/1", "Credit Act", "s. 1", "statute", ["credit"], covers=["loan.repaid", "clinic.visited"]
        ),
        legal_basis("court/1", "Court order", "art. 1", "court_order", ["payments"]),
    ]
)
BENEFITS = Benefits([benefit("care_grant", "Care grant", ["credit-act/1"])])
SCORE_DOWN = '{ kind = "score", scheme = "credit", points = -10, expires_after = "30d" }'
SCORE_UP = '{ kind = "score", scheme = "credit", points = 10, expires_after = "30d" }'
ELIGIBLE = '{ kind = "eligibility", benefit = "care_grant", expires_after = "30d" }'
RESTRICT = '{ kind = "restriction", domains = ["credit"], expires_after = "30d" }'
DENY = '{ kind = "denial", expires_after = "30d" }'


def rule(condition: str, *effects: str, inputs: str = '["loan.repaid"]') -> str:
    return f"""
[[rule]]
id = "sneaky"
title = "A rule trying its luck"
basis = "credit-act/1"
inputs = {inputs}
condition = {json.dumps(condition)}
reason_code = "sneaky"
reason_text = "Because."
effects = [{", ".join(effects or (SCORE_DOWN,))}]
"""


def refused(text: str) -> ProtectedCategoryError:
    with pytest.raises(ProtectedCategoryError) as caught:
        load_rules([text], TYPES, BASES, BENEFITS)
    return caught.value


class TestProtectedFieldsAreRefused:
    """An adverse rule reading health or disability data, by any route, is refused naming rule, field, category."""

    @pytest.mark.parametrize(
        "condition",
        [
            'event.diagnosis == "flu"',
            "has(event.diagnosis)",  # presence is information too
            'cel.bind(d, event.diagnosis, d == "flu")',  # an alias
            '[event.diagnosis].exists(d, d == "flu")',  # a comprehension variable bound to it
            '["flu"].exists(d, d == event.diagnosis)',
            'event["diagnosis"] == "flu"',  # map-style access with a literal name
            '.event.diagnosis == "flu"',  # the leading-dot (root) name
            'event.amount > 0 || event.diagnosis == ""',  # tucked into an ordinary condition
            'true ? event.amount > 1 : event.diagnosis == ""',  # a branch that never runs still reads it
            'size(event.diagnosis) > 3 && event.lender.startsWith("a")',
        ],
    )
    def test_health_field(self, condition: str) -> None:
        """An adverse rule reading a health field by any route (alias, macro, map key, dead branch) is refused."""
        error = refused(rule(condition))
        assert error.field == "<text 0>:rule[0].loan.repaid.diagnosis"
        assert error.category == "health" and "'sneaky'" in str(error)

    @pytest.mark.parametrize(
        ("condition", "field", "category"),
        [
            ("event.borrower.disability", "loan.repaid.borrower.disability", "disability"),
            ("event.borrower.notes.x > 1", "loan.repaid.borrower.notes.x", "health"),  # two records deep
            ('event["borrower"]["disability"]', "loan.repaid.borrower.disability", "disability"),
        ],
    )
    def test_nested_field(self, condition: str, field: str, category: str) -> None:
        """The guard looks through records, at any depth."""
        error = refused(rule(condition))
        assert error.field == f"<text 0>:rule[0].{field}" and error.category == category

    @pytest.mark.parametrize(
        "effects",
        [
            (SCORE_DOWN,),
            (ELIGIBLE, SCORE_DOWN),  # a favourable rule that also emits a negative contribution
            (RESTRICT,),  # a restriction using health data
            (DENY,),
            (SCORE_UP, DENY),
        ],
    )
    def test_any_adverse_effect_refuses(self, effects: tuple[str, ...]) -> None:
        """Any adverse effect on health data is refused, even beside a favourable one."""
        assert refused(rule('event.diagnosis == "flu"', *effects)).category == "health"

    def test_an_event_of_a_health_purpose_is_health_data_even_unread(self) -> None:
        """Firing on a clinic visit at all uses health data, whatever the condition reads."""
        error = refused(rule("true", inputs='["clinic.visited"]'))
        assert error.field == "<text 0>:rule[0].clinic.visited.purpose" and error.category == "health"

    def test_one_health_input_among_several(self) -> None:
        """A rule taking a health-purpose event among its inputs is refused on that type, whatever it reads."""
        error = refused(rule("event.amount > 0", inputs='["loan.repaid", "clinic.visited"]'))
        assert error.field.endswith("clinic.visited.purpose")


class TestOnlyBenefitsMayReadHealth:
    """Health and disability may open a door (eligibility for a benefit), never move a score (DESIGN.md 1)."""

    def test_an_eligibility_rule_loads(self) -> None:
        """A purely favourable grant may read health and disability fields, and is not adverse."""
        rules = load_rules(
            [rule('event.borrower.disability && event.diagnosis != ""', ELIGIBLE)], TYPES, BASES, BENEFITS
        )
        assert rules.get("sneaky").fields == {"loan.repaid.borrower.disability", "loan.repaid.diagnosis"}
        assert not rules.get("sneaky").adverse

    @pytest.mark.parametrize("effects", [(SCORE_UP,), (ELIGIBLE, SCORE_UP)])
    def test_a_score_raised_on_health_is_refused_too(self, effects: tuple[str, ...]) -> None:
        """A bonus for the healthy is a penalty on everyone else: favourable to one, adverse to the rest."""
        error = refused(rule("!event.borrower.disability", *effects))
        assert error.field == "<text 0>:rule[0].loan.repaid.borrower.disability" and error.category == "disability"
        assert "never a score" in str(error)


class TestUncheckableNamesAreRefused:
    """A name the guard cannot read literally cannot be checked, so it is refused, protected or not."""

    @pytest.mark.parametrize(
        "condition",
        [
            'event["reli" + "gion"] == 1',
            "event[event.lender] == 1",
            'event.borrower["age" + "_band"] > 1',
            "event == null",
            '{"e": event}["e"].amount > 1',
            "[1, 2][event.amount] == 1",
            "[1].exists(event, event > 0)",  # a macro variable shadowing the event
        ],
    )
    def test_computed_names(self, condition: str) -> None:
        """Field names computed at run time (concatenation, indexing, shadowing) are refused as uncheckable."""
        with pytest.raises(InvalidInputError) as caught:
            load_rules([rule(condition)], TYPES, BASES, BENEFITS)
        assert not isinstance(caught.value, ProtectedCategoryError)
        assert caught.value.field == "<text 0>:rule[0].condition"

    @pytest.mark.parametrize(
        ("condition", "error"),
        [
            ("event.religion == 1", NotFoundError),  # not registered, so not readable
            ("event.Diagnosis == 1", NotFoundError),  # names are exact
            ("event.amount.cents > 1", NotFoundError),
            ("event.borrower == 1", InvalidInputError),  # a record is read field by field
            ('event.subject == "p-1"', InvalidInputError),  # rules decide on what happened, not on whom
            ("event.time > 0", InvalidInputError),
        ],
    )
    def test_unknown_or_implicit_fields(self, condition: str, error: type[Exception]) -> None:
        """Unregistered, misspelt, whole-record, subject and time fields are refused on the condition."""
        with pytest.raises(error) as caught:
            load_rules([rule(condition)], TYPES, BASES, BENEFITS)
        assert getattr(caught.value, "field", "") == "<text 0>:rule[0].condition"


class TestForbiddenCategoriesCannotGetIn:
    """Forbidden categories are refused when types are registered, nested records included, so no rule sees them."""

    def test_a_forbidden_nested_record_field_refuses_the_record_and_the_type(self) -> None:
        """A trade-union field refuses its record, and a type built around such a record is refused too."""
        with pytest.raises(ProtectedCategoryError) as caught:
            record_type("member", {"union": ("str", "trade_union")})
        assert caught.value.field == "member.union"
        sneaky = RecordType("member", (EventField("union", FieldType.text, Category.trade_union),))
        with pytest.raises(ProtectedCategoryError) as caught:
            event_type("loan.repaid", "financial", {"holder": (sneaky, "financial")})
        assert caught.value.field == "loan.repaid.holder.union" and caught.value.category == "trade_union"

    def test_a_hand_built_type_with_a_forbidden_record_deep_down_is_refused(self) -> None:
        """A hand-built type hiding religion two records deep is refused at registration, by full path."""
        deep = RecordType("deep", (EventField("church", FieldType.text, Category.religion),))
        mid = RecordType("mid", (EventField("deep", FieldType.record, Category.financial, deep),))
        sneaky = EventType(
            "loan.repaid", Category.financial, (EventField("m", FieldType.record, Category.financial, mid),)
        )
        with pytest.raises(ProtectedCategoryError) as caught:
            EventTypes().register(sneaky)
        assert caught.value.field == "loan.repaid.m.deep.church"

    def test_in_a_definitions_file(self) -> None:
        """A political-opinion field in a definitions file is refused naming the record and field."""
        text = """
[[record_type]]
name = "voter"
fields.party = { type = "str", category = "political_opinion" }
"""
        with pytest.raises(ProtectedCategoryError) as caught:
            load_definitions([text])
        assert caught.value.field == "<text 0>:record_type[0].voter.party"

    @pytest.mark.parametrize("spelling", ["Religion", "political opinion", "healthcare", "HEALTH"])
    def test_a_category_spelled_otherwise_is_refused_not_mapped(self, spelling: str) -> None:
        """A category spelt otherwise is an unknown category, never mapped to a permitted one."""
        text = f"""
[[event_type]]
name = "loan.repaid"
purpose = "financial"
fields.note = {{ type = "str", category = "{spelling}" }}
"""
        with pytest.raises(InvalidInputError) as caught:
            load_definitions([text])
        assert "unknown data category" in str(caught.value)
        assert caught.value.field == "<text 0>:event_type[0].loan.repaid.note"


def test_a_hand_made_rule_cannot_skip_the_guard() -> None:
    """CompiledRules runs the guard again: a Rule built by hand around a health read is refused."""
    good = load_rules([rule("event.amount > 1")], TYPES, BASES, BENEFITS).get("sneaky")
    forged = Rule(
        good.id,
        good.title,
        good.basis,
        good.inputs,
        'event.diagnosis == "flu"',
        good.effects,
        good.reason_code,
        good.reason_text,
        good.fields,
        good.source,
    )
    with pytest.raises(ProtectedCategoryError):
        CompiledRules(RuleSet([forged]), TYPES)
    lying = dataclasses.replace(good, fields=frozenset())
    with pytest.raises(InvalidInputError, match="do not match"):
        CompiledRules(RuleSet([lying]), TYPES)
    assert CompiledRules(RuleSet([good]), TYPES).evaluate("loan.repaid", {"amount": np.array([0, 5])}, 2)[0][
        1
    ].tolist() == [1]


class TestFactsReadByTheirOwnNames:
    """``root=None``: each top-level field is a name of its own (``borrower.age_band``), as programmes read facts."""

    def test_a_field_is_read_without_event_in_front(self) -> None:
        """The paths, the checked variables and the protected reads all go by the field's own name."""
        guarded = guarded_condition(
            "w", "p", "borrower.age_band >= 60 || borrower.disability", [TYPES.get("loan.repaid")], True, root=None
        )
        assert set(guarded.paths) == {"borrower.age_band", "borrower.disability"}
        assert guarded.checked.program.eval(data={"borrower.age_band": 0, "borrower.disability": True}).value()

    @pytest.mark.parametrize(
        ("condition", "error", "words"),
        [
            ("!borrower.disability", ProtectedCategoryError, "absent"),  # polarity, as for event.<field>
            ("event.amount > 0", InvalidInputError, "undeclared reference"),  # there is no event here
            ("borrower.salary > 0", NotFoundError, "no fact 'borrower.salary'"),
            ("borrower == borrower", InvalidInputError, "group of facts"),
            ("[1].exists(borrower, borrower > 0)", InvalidInputError, "may not be called borrower"),
        ],
    )
    def test_what_the_guard_refuses_for_event_it_refuses_for_facts(
        self, condition: str, error: type[Exception], words: str
    ) -> None:
        """Protected facts only widen; unknown names, whole groups and shadowing macro variables are refused."""
        with pytest.raises(error, match=words):
            guarded_condition("w", "p", condition, [TYPES.get("loan.repaid")], True, root=None)
