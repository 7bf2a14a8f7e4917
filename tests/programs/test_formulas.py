"""The property: for any condition the loader accepts, protected facts only ever widen; amounts never read them.

Stated as ``tessera.rules``' polarity module states it, for facts: order each protected fact's
values with its absent value (``false``, ``0``, ``""``; a number below 0 reads as 0) below every
other value, and a condition's outcomes ``false < error < true``. Every condition a programme
file may carry is monotone non-decreasing in every protected fact: masking any set of protected
facts (setting them absent) never raises the outcome. In particular, masking never makes a
person eligible who was not, and being disabled or ill never makes an eligible person ineligible.
Checked with the real CEL evaluator on random conditions and random fact vectors.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tessera.programs import amount_program, fact_schema, formula_probes, guarded_amount, guarded_eligibility
from tessera.rules import FieldType, GuardedCondition
from tests.programs.worlds import TYPES, benefits, cash, checked

SCHEMA = fact_schema(TYPES, benefits())
PROTECTED: dict[str, object] = {
    "reported.care_assessed.grade": 0,
    "reported.care_assessed.chronic": False,
    "reported.care_assessed.diagnosis": "",
    "grants.care_allowance": False,
}
SUBSETS = [s for n in range(1, len(PROTECTED) + 1) for s in itertools.combinations(PROTECTED, n)]

_OPS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
_INTS = st.integers(-2, 5)
_TEXTS = st.sampled_from(["", "flu", "f"])
_GRADE = "reported.care_assessed.grade"
_ATOMS = st.one_of(
    st.builds(lambda op, k: f"{_GRADE} {op} {k}", _OPS, _INTS),
    st.builds(lambda op, k: f"{k} {op} {_GRADE}", _OPS, _INTS),
    st.builds(lambda ks: f"{_GRADE} in {ks}", st.lists(_INTS, max_size=3)),
    st.builds(lambda m, op, k: f"{_GRADE} * {m} {op} {k}", _INTS, _OPS, _INTS),
    st.builds(lambda op, k: f"6 / {_GRADE} {op} {k}", _OPS, _INTS),  # an error where absent
    st.just("reported.care_assessed.chronic"),
    st.builds(lambda op, b: f"reported.care_assessed.chronic {op} {b}", st.sampled_from(["==", "!="]), st.booleans()),
    st.builds(
        lambda op, s: f"reported.care_assessed.diagnosis {op} {json.dumps(s)}", st.sampled_from(["==", "!="]), _TEXTS
    ),
    st.builds(lambda s: f"reported.care_assessed.diagnosis.startsWith({json.dumps(s)})", _TEXTS),
    st.just("grants.care_allowance"),
    st.builds(lambda op, b: f"grants.care_allowance {op} {b}", st.sampled_from(["==", "!="]), st.booleans()),
    st.builds(lambda op, k: f"{_GRADE} + person.age {op} {k}", _OPS, _INTS),  # two facts in arithmetic
    st.builds(lambda op: f"{_GRADE} {op} household.size", _OPS),
    st.builds(lambda op, k: f"person.age {op} {k * 20}", _OPS, _INTS),
    st.builds(lambda op, k: f"household.size {op} {k}", _OPS, _INTS),
    st.builds(lambda op, k: f"reported.income_reported.monthly {op} {k * 100000}", _OPS, _INTS),
    st.builds(lambda op, k: f"100 / household.members_under_5 {op} {k}", _OPS, _INTS),  # an error on an ordinary fact
    st.just("grants.aid"),
    st.sampled_from(["true", "false", 'person.sex == "F"']),
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
FACTS = st.fixed_dictionaries(
    {
        "reported.care_assessed.grade": st.integers(-2, 6),
        "reported.care_assessed.chronic": st.booleans(),
        "reported.care_assessed.diagnosis": _TEXTS | st.just("x"),
        "grants.care_allowance": st.booleans(),
        "grants.aid": st.booleans(),
        "person.age": st.sampled_from([-1, 0, 4, 17, 18, 40, 60, 80, 100]),
        "person.sex": st.sampled_from(["F", "M", "X", ""]),
        "household.size": st.integers(0, 8),
        "household.members_under_5": st.integers(0, 3),
        "reported.income_reported.monthly": st.sampled_from([-1, 0, 100_000, 300_000, 900_000]),
    }
)
# Found by hypothesis: a top-up of ``person.age`` at age -1 took 1 from a person because they were chronically ill.
_NEGATIVE_TOP_UP = {
    "reported.care_assessed.grade": 0, "reported.care_assessed.chronic": True, "reported.care_assessed.diagnosis": "x",
    "grants.care_allowance": False, "grants.aid": False, "person.age": -1, "person.sex": "F", "household.size": 1,
    "household.members_under_5": 0, "reported.income_reported.monthly": 0,
}  # fmt: skip
_AMOUNT_ATOMS = st.one_of(
    st.integers(-3, 3000).map(str),
    st.sampled_from(["household.size", "household.members_under_5", "person.age", _GRADE]),
    st.sampled_from(["(grants.care_allowance ? 500 : 0)", "(grants.aid ? 500 : 0)", "size(person.sex)"]),
)
AMOUNTS = st.recursive(
    _AMOUNT_ATOMS,
    lambda inner: st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["+", "-", "*"]), inner),
    max_leaves=4,
)


def _rank(outcome: object) -> int:
    """false < error < true: a condition's outcomes as polarity.py orders them."""
    return {False: 0, True: 2}.get(outcome, 1) if isinstance(outcome, bool) else 1


def _outcome(guarded: GuardedCondition, facts: dict[str, object]) -> object:
    return guarded.checked.program.eval(data={p: facts[p] for p in guarded.paths}).value()


def _masked(facts: dict[str, object], names: tuple[str, ...]) -> dict[str, object]:
    return {**facts, **{n: PROTECTED[n] for n in names}}


def _admitted(condition: str) -> GuardedCondition | None:
    """The condition as the loader judged it, or None when a programme carrying it is refused."""
    programmes, _ = checked(cash(eligibility=condition))
    if not len(programmes):
        return None
    return guarded_eligibility("w", "p", "eligibility", condition, schema=SCHEMA, codes=TYPES.codes)


class TestEligibilityOnlyWidens:
    """Masking protected facts never raises an admitted condition's outcome: monotone in each protected fact."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(CONDITIONS, st.lists(FACTS, min_size=1, max_size=12))
    def test_an_admitted_condition_is_monotone_in_every_protected_fact(
        self, condition: str, vectors: list[dict[str, object]]
    ) -> None:
        """For every admitted condition, fact vector and set of masked facts: masked outcome <= outcome as it was."""
        guarded = _admitted(condition)
        if guarded is None:
            return
        for facts in vectors:
            held = _rank(_outcome(guarded, facts))
            for names in SUBSETS:
                assert _rank(_outcome(guarded, _masked(facts, names))) <= held, (condition, facts, names)

    def test_the_issues_denial_in_disguise_is_refused_and_its_widening_twin_admitted(self) -> None:
        """``income < X && !disability`` is refused; ``income < X || disability`` loads and is monotone."""
        assert _admitted("reported.income_reported.monthly < 300000 && !grants.care_allowance") is None
        guarded = _admitted("reported.income_reported.monthly < 300000 || grants.care_allowance")
        assert guarded is not None
        rich = {"reported.income_reported.monthly": 900_000, "grants.care_allowance": True}
        assert _outcome(guarded, rich) is True and _outcome(guarded, _masked(rich, ("grants.care_allowance",))) is False


class TestAmountsNeverReadProtectedFacts:
    """An admitted amount is the same with or without protected facts; a line with top-ups only gains from them."""

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(AMOUNTS, CONDITIONS, AMOUNTS, st.lists(FACTS, min_size=1, max_size=8))
    @example("0", "reported.care_assessed.chronic", "person.age", [_NEGATIVE_TOP_UP])
    def test_masking_never_raises_what_a_line_pays(
        self, amount: str, condition: str, top_up: str, vectors: list[dict[str, object]]
    ) -> None:
        """The line's total (its amount, plus each top-up whose condition holds) never grows when facts are masked."""
        text = cash(cash__amount=amount) + (
            f"[[programme.cash.top_up]]\ncondition = {json.dumps(condition)}\namount = {json.dumps(top_up)}\n"
        )
        programmes, _ = checked(text)
        if not len(programmes):
            return
        base = _program(amount)
        extra = _program(top_up)
        gate = guarded_eligibility("w", "p", "condition", condition, schema=SCHEMA, codes=TYPES.codes)
        assert not (set(base[1]) | set(extra[1])) & PROTECTED.keys()

        def total(facts: dict[str, object]) -> int:
            paid = base[0].eval(data={p: facts[p] for p in base[1]}).value()
            if _outcome(gate, facts) is True:  # a top-up adds what it works out to, never less than nothing
                paid += max(extra[0].eval(data={p: facts[p] for p in extra[1]}).value(), 0)
            return int(paid)

        for facts in vectors:
            for names in SUBSETS:
                assert total(_masked(facts, names)) <= total(facts), (amount, condition, top_up, facts, names)


def _program(formula: str) -> tuple[object, dict[str, FieldType]]:
    guarded = guarded_amount("w", "p", "amount", formula, schema=SCHEMA, codes=TYPES.codes)
    return amount_program(guarded, formula, "amount"), dict(guarded.paths)


def test_the_probes_try_each_count_alone_and_all_at_once() -> None:
    """formula_probes: all absent first, then each whole-number fact over the probe values, then all together."""
    probes = formula_probes({"household.size": FieldType.integer, "grants.aid": FieldType.boolean})
    assert probes[0] == {"household.size": 0, "grants.aid": False}
    assert {"household.size": 10, "grants.aid": False} in probes and {"household.size": 5, "grants.aid": True} in probes
