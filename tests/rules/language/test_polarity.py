"""Polarity: a grant opens a door only because of a protected fact, never because of its absence (issue 16)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError, NotFoundError, ProtectedCategoryError, TesseraError
from tessera.rules.basis import LegalBases, legal_basis
from tessera.rules.benefits import Benefits, benefit
from tessera.rules.categories import EventTypes, event_type, record_type
from tessera.rules.definitions import builtin_definitions
from tessera.rules.language.cel_ast import check
from tessera.rules.language.polarity import ABSENT, Polarity, polarities
from tessera.rules.language.reference import ReferenceRule
from tessera.rules.language.rulesets import load_rules

CLAIMANT = record_type(
    "claimant", {"grade": ("int", "disability"), "chronic": ("bool", "health"), "age": ("int", "identity")}
)
TYPES = EventTypes(
    [
        event_type(
            "aid.claimed",
            "benefit",
            {
                "claimant": (CLAIMANT, "benefit"),
                "amount": ("int", "benefit"),
                "urgent": ("bool", "benefit"),
                "diagnosis": ("str", "health"),
            },
        )
    ]
)
BASES = LegalBases([legal_basis("aid-act/1", "Aid Act", "s. 1", "statute", covers=["aid.claimed"])])
BENEFITS = Benefits([benefit("aid", "Aid", ["aid-act/1"])])
PROTECTED = {"claimant.grade": 0, "claimant.chronic": False, "diagnosis": ""}

BUILTIN_TYPES, BUILTIN_BASES = builtin_definitions()


def grant(condition: str, rule_id: str = "aid.grant") -> str:
    return f"""
[[rule]]
id = "{rule_id}"
title = "Aid"
basis = "aid-act/1"
inputs = ["aid.claimed"]
condition = {json.dumps(condition)}
reason_code = "aid"
effects = [{{ kind = "eligibility", benefit = "aid", expires_after = "30d" }}]
"""


def admitted(condition: str) -> ReferenceRule | None:
    """The condition as a loaded grant evaluated per event, or None when the loader refuses it."""
    try:
        (rule,) = load_rules([grant(condition)], TYPES, BASES, BENEFITS)
    except TesseraError:
        return None
    return ReferenceRule(rule, TYPES)


# -- random conditions over protected and ordinary fields -------------------------------------------------------

_OPS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
_INTS = st.integers(-2, 5)
_TEXTS = st.sampled_from(["", "flu", "f"])
_ATOMS = st.one_of(
    st.builds(lambda op, k: f"event.claimant.grade {op} {k}", _OPS, _INTS),
    st.builds(lambda op, k: f"{k} {op} event.claimant.grade", _OPS, _INTS),
    st.builds(lambda ks: f"event.claimant.grade in {ks}", st.lists(_INTS, max_size=3)),
    st.builds(lambda m, op, k: f"event.claimant.grade * {m} {op} {k}", _INTS, _OPS, _INTS),
    st.builds(lambda op, k: f"6 / event.claimant.grade {op} {k}", _OPS, _INTS),  # an error where absent
    st.builds(lambda r: f"event.claimant.grade % 2 == {r}", st.integers(0, 1)),
    st.just("event.claimant.chronic"),
    st.builds(lambda op, b: f"event.claimant.chronic {op} {b}", st.sampled_from(["==", "!="]), st.booleans()),
    st.builds(lambda op, s: f"event.diagnosis {op} {json.dumps(s)}", st.sampled_from(["==", "!="]), _TEXTS),
    st.builds(lambda s: f"event.diagnosis.startsWith({json.dumps(s)})", _TEXTS),
    st.builds(lambda op, k: f"size(event.diagnosis) {op} {k}", _OPS, _INTS),
    st.builds(lambda op, k: f"event.claimant.grade + event.claimant.age {op} {k}", _OPS, _INTS),  # two fields
    st.builds(lambda op: f"event.claimant.grade {op} event.claimant.age", _OPS),
    st.builds(lambda op, k: f"event.claimant.age {op} {k * 20}", _OPS, _INTS),
    st.builds(lambda op, k: f"event.amount {op} {k}", _OPS, _INTS),
    st.just("event.urgent"),
    st.builds(lambda op, k: f"100 / event.amount {op} {k}", _OPS, _INTS),  # an error on an ordinary field
    st.sampled_from(["true", "false"]),
)


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a: f"!({a})", inner),
        st.builds(lambda a, b: f"({a} && {b})", inner, inner),
        st.builds(lambda a, b: f"({a} || {b})", inner, inner),
        st.builds(lambda c, a, b: f"({c} ? {a} : {b})", inner, inner, inner),
        st.builds(lambda a, b, op: f"(({a}) {op} ({b}))", inner, inner, st.sampled_from(["==", "!="])),
    )


CONDITIONS = st.recursive(_ATOMS, _compound, max_leaves=6)
EVENTS = st.fixed_dictionaries(
    {
        "claimant.grade": st.integers(-2, 6),
        "claimant.chronic": st.booleans(),
        "claimant.age": st.sampled_from([-1, 0, 20, 40, 60, 80, 100]),
        "diagnosis": _TEXTS | st.just("x"),
        "amount": st.integers(-2, 5),
        "urgent": st.booleans(),
    }
)


def _masked(event: dict[str, object], fields: tuple[str, ...]) -> dict[str, object]:
    return {**event, **{f: PROTECTED[f] for f in fields}}


class TestTheProperty:
    """Masking protected facts never makes an admitted grant hold where it did not: monotone in each fact."""

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(CONDITIONS, st.lists(EVENTS, min_size=1, max_size=12))
    @example(  # once admitted: grade < 0 is true at -1 and false at 0, so its negation fired at 0 and not at -1
        "!((event.claimant.age < 0 ? event.claimant.grade < 0 : event.claimant.grade < 0))",
        [
            {
                "claimant.grade": -1,
                "claimant.chronic": False,
                "claimant.age": -1,
                "diagnosis": "",
                "amount": 0,
                "urgent": True,
            }
        ],
    )
    def test_an_admitted_condition_never_fires_on_absence(
        self, condition: str, events: list[dict[str, object]]
    ) -> None:
        """For every admitted condition, event and set of masked facts: held when masked implies held as it was."""
        reference = admitted(condition)
        if reference is None:
            return
        subsets = [s for n in range(1, len(PROTECTED) + 1) for s in itertools.combinations(PROTECTED, n)]
        for event in events:
            held = reference.evaluate(event)
            for fields in subsets:
                if reference.evaluate(_masked(event, fields)) is True:
                    assert held is True, (condition, event, fields)

    @pytest.mark.parametrize(
        "condition",
        [
            "event.claimant.grade >= 2",
            "event.claimant.grade == 3",
            "event.claimant.grade in [2, 3]",
            "event.claimant.grade > 0",
            "event.claimant.grade >= 1 && event.claimant.grade < 3",  # a band of grades: each present
            "event.claimant.chronic",
            "event.claimant.chronic == true",
            "!(!event.claimant.chronic)",
            "event.claimant.age >= 60 || event.claimant.chronic",  # the fact widens a grant to the elderly
            "event.urgent && (event.claimant.chronic || event.claimant.grade >= 2)",
            'event.diagnosis == "flu"',
            'event.diagnosis != ""',
            "event.urgent ? event.claimant.chronic : event.claimant.grade >= 3",
            "event.claimant.chronic ? true : false",
            "!(event.claimant.grade < 1 && event.urgent)",  # grade >= 1 || !urgent: < 1 holds wherever absent
        ],
    )
    def test_conditions_that_widen__admitted(self, condition: str) -> None:
        """The protected fact opens the door: these load, and the property test is not vacuous."""
        assert admitted(condition) is not None

    def test_each_field_has_its_polarity(self) -> None:
        """The analysis reports each protected field by itself: one widening, one narrowing, one unknown."""
        condition = (
            "event.claimant.grade >= 2 && (!event.claimant.chronic || event.urgent) && "
            'size(event.diagnosis) > event.amount || event.diagnosis == "x"'
        )
        variables = {f"event.{p}": leaf.type for p, leaf in TYPES.get("aid.claimed").leaf_fields().items()}
        protected = {f"event.{p}": variables[f"event.{p}"] for p in PROTECTED}
        assert polarities(check(condition, variables, "c"), protected) == {
            "event.claimant.grade": Polarity.widening,
            "event.claimant.chronic": Polarity.narrowing,
            "event.diagnosis": Polarity.unknown,
        }
        assert {ABSENT[t] for t in protected.values()} == set(PROTECTED.values())

    @pytest.mark.parametrize(
        ("condition", "polarity"),
        [
            ("event.claimant.grade < 1 && event.urgent", Polarity.narrowing),  # true at 0, -1 and the lowest
            ("!(event.claimant.grade < 1 && event.urgent)", Polarity.widening),
            ("event.claimant.grade < 0 && event.urgent", Polarity.mixed),  # true at -1, false at 0
            ("!(event.claimant.grade < 0 && event.urgent)", Polarity.unknown),  # true at 0, false at -1
            ("event.claimant.grade == 0 || event.urgent", Polarity.mixed),  # true at 0, false at -1
            ("!(event.urgent ? event.claimant.grade < 0 : event.claimant.grade < 0)", Polarity.unknown),
            ("!(6 / (event.claimant.grade + 1) > 100 && event.urgent)", Polarity.unknown),  # an error at -1
        ],
    )
    def test_only_a_fact_true_at_every_absent_value_turns_widening_under_not(
        self, condition: str, polarity: Polarity
    ) -> None:
        """! swaps widening and narrowing only: a sub-expression true at -1 and false at 0 stays refused under !."""
        variables = {f"event.{p}": leaf.type for p, leaf in TYPES.get("aid.claimed").leaf_fields().items()}
        grade = {"event.claimant.grade": variables["event.claimant.grade"]}
        assert polarities(check(condition, variables, "c"), grade) == {"event.claimant.grade": polarity}


# -- attacks: an operator who wants to punish a minority and has read docs/rules.md -------------------------------


def builtin_rule(condition: str, effect: str, basis: str, inputs: str = "benefit.claimed") -> str:
    return f"""
[[rule]]
id = "attack"
title = "Looks favourable"
basis = "{basis}"
inputs = ["{inputs}"]
condition = {json.dumps(condition)}
reason_code = "attack"
reason_text = "Because."
effects = [{effect}]
"""


ALLOWANCE = '{ kind = "eligibility", benefit = "disability_allowance", expires_after = "365d" }'
SOCIAL = "social-security-act/disability-allowance"


def refused(text: str) -> TesseraError:
    with pytest.raises(TesseraError) as caught:
        load_rules([text], BUILTIN_TYPES, BUILTIN_BASES)
    return caught.value


class TestAttacks:
    """Each refused when the rule is defined, the error naming the rule and the field."""

    def test_a_grant_of_extra_scrutiny_on_a_disability__refused(self) -> None:
        """A penalty dressed as a grant: "extra_scrutiny" is no registered benefit."""
        scrutiny = '{ kind = "eligibility", benefit = "extra_scrutiny", expires_after = "365d" }'
        error = refused(builtin_rule("event.claimant.disability_grade >= 1", scrutiny, SOCIAL))
        assert isinstance(error, NotFoundError)
        assert error.field == "<text 0>:rule[0].effects[0].benefit"
        assert "'attack'" in str(error) and "extra_scrutiny" in str(error)

    @pytest.mark.parametrize(
        ("condition", "field", "category"),
        [
            # A benefit for the elderly, unless chronically ill: the grant to the elderly narrowed by health.
            ("event.claimant.age_band >= 60 && !event.claimant.chronic_condition", "chronic_condition", "health"),
            ("event.claimant.disability_grade < 1", "disability_grade", "disability"),  # an upper bound: absence
            ("event.claimant.disability_grade == 0", "disability_grade", "disability"),  # a zero grade
            ("event.claimant.disability_grade <= 1", "disability_grade", "disability"),
            ("event.claimant.disability_grade != 3", "disability_grade", "disability"),
            ("event.claimant.disability_grade != 0", "disability_grade", "disability"),  # true for -1: no grade
            ("event.claimant.disability_grade == -1", "disability_grade", "disability"),  # "assessed as none"
            ("!event.claimant.chronic_condition", "chronic_condition", "health"),
            ("event.claimant.chronic_condition == false", "chronic_condition", "health"),
            # De Morgan: neither ill nor disabled.
            (
                "!(event.claimant.chronic_condition || event.claimant.disability_grade >= 1)",
                "chronic_condition",
                "health",
            ),
            # !(x && y): the double negation of the protected fact is odd.
            ("!(event.claimant.chronic_condition && event.claimant.age_band >= 60)", "chronic_condition", "health"),
            # Ternaries: x ? false : true is !x; a protected test in a ternary is refused outright.
            ("event.claimant.chronic_condition ? false : true", "chronic_condition", "health"),
            ("(event.claimant.chronic_condition ? 0 : 1) == 1", "chronic_condition", "health"),
            ("event.claimant.chronic_condition ? event.amount > 0 : event.amount > 10", "chronic_condition", "health"),
            # Under !, a comparison true at -1 and false at 0: the negation fires at 0, the absent grade.
            (
                "!(event.claimant.disability_grade < 0 && event.claimant.age_band >= 60)",
                "disability_grade",
                "disability",
            ),
            ("!(event.claimant.disability_grade == 0 || event.amount > 0)", "disability_grade", "disability"),
            (
                "!(event.claimant.age_band < 0 ? event.claimant.disability_grade < 0 : "
                "event.claimant.disability_grade < 0)",
                "disability_grade",
                "disability",
            ),
            # Arithmetic: the grade turned upside down.
            ("event.claimant.disability_grade * -1 > -1", "disability_grade", "disability"),
            ("4 - event.claimant.disability_grade >= 4", "disability_grade", "disability"),
            # Compared with another field, or through a macro: the guard cannot tell, so it refuses.
            ("event.claimant.disability_grade < event.claimant.age_band", "disability_grade", "disability"),
            ("[event.claimant.disability_grade].all(g, g == 0)", "disability_grade", "disability"),
            ("[0].exists(z, z == event.claimant.disability_grade)", "disability_grade", "disability"),
        ],
    )
    def test_a_grant_that_fires_on_absence_or_is_narrowed_by_health__refused(
        self, condition: str, field: str, category: str
    ) -> None:
        """The protected fact may only open the door: never its absence, never a narrowing of a wider grant."""
        error = refused(builtin_rule(condition, ALLOWANCE, SOCIAL))
        assert isinstance(error, ProtectedCategoryError)
        assert error.field == f"<text 0>:rule[0].benefit.claimed.claimant.{field}"
        assert error.category == category and "'attack'" in str(error)

    def test_a_double_negation_is_positive__admitted(self) -> None:
        """!(!x) reads the fact as it is: it widens, and the rule loads."""
        (rule,) = load_rules(
            [builtin_rule("!(!event.claimant.chronic_condition)", ALLOWANCE, SOCIAL)], BUILTIN_TYPES, BUILTIN_BASES
        )
        assert rule.fields == {"benefit.claimed.claimant.chronic_condition"}

    def test_a_rule_restricting_under_a_court_order__refused(self) -> None:
        """Only an officer of the courts, entering the order, restricts under a court order; never a rule."""
        restriction = '{ kind = "restriction", domains = ["payments"], expires_after = "90d" }'
        text = builtin_rule("event.days_unpaid > 0", restriction, "civil-procedure-code/enforcement")
        error = refused(text.replace('"benefit.claimed"', '"court.judgment_unpaid"'))
        assert isinstance(error, InvalidInputError) and error.field == "<text 0>:rule[0].basis"
        assert "'attack'" in str(error) and "civil-procedure-code/enforcement" in str(error)

    def test_a_score_over_late_taxes_under_the_credit_act__refused(self) -> None:
        """The consumer-credit basis covers loans and payments, not a tax return filed late."""
        score = '{ kind = "score", scheme = "credit", points = -50, expires_after = "365d" }'
        error = refused(builtin_rule("event.days_late > 0", score, "consumer-credit-act/12", "tax.filed_late"))
        assert isinstance(error, InvalidInputError) and error.field == "<text 0>:rule[0].inputs[0]"
        assert "'attack'" in str(error) and "consumer-credit-act/12" in str(error) and "tax.filed_late" in str(error)

    def test_a_grant_under_a_basis_the_benefit_does_not_name__refused(self) -> None:
        """The disability allowance is granted under the Social Security Act, not the Consumer Credit Act."""
        text = builtin_rule("event.days_late > 30", ALLOWANCE, "consumer-credit-act/12", "loan.repaid")
        error = refused(text)
        assert error.field == "<text 0>:rule[0].effects[0].benefit"  # type: ignore[attr-defined]
        assert "social-security-act/disability-allowance" in str(error)


class TestGrantsCarryTheirCategories:
    """A grant that came from disability data is disability data wherever it is read next."""

    def test_a_rule_carries_what_it_read_and_what_its_benefit_reveals(self) -> None:
        """A rule carries the categories it read and those its benefit reveals: disability for the allowance."""
        (rule,) = load_rules(
            [builtin_rule("event.claimant.disability_grade >= 2", ALLOWANCE, SOCIAL)], BUILTIN_TYPES, BUILTIN_BASES
        )
        assert {c.value for c in rule.categories} == {"benefit", "disability"}

    def test_a_grant_on_health_data_is_health_data(self) -> None:
        """A grant read from health data carries health; one from a plain amount carries only benefit."""
        (rule,) = load_rules([grant("event.claimant.chronic")], TYPES, BASES, BENEFITS)
        assert {c.value for c in rule.categories} == {"benefit", "health"}
        (plain,) = load_rules([grant("event.amount > 0")], TYPES, BASES, BENEFITS)
        assert {c.value for c in plain.categories} == {"benefit"}
