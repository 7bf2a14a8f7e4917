"""The compiler agrees with CEL itself, row by row, errors included; what it cannot compile runs per event."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.rules.basis import LegalBases, legal_basis
from tessera.rules.categories import EventTypes, event_type, record_type
from tessera.rules.definitions import builtin_definitions, builtin_path
from tessera.rules.language.compiler import CompiledRules
from tessera.rules.language.reference import ReferenceRule
from tessera.rules.language.rulesets import RuleSet, load_rules

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
INNER = record_type("inner", {"x": ("int", "financial"), "y": ("float", "financial")})
TYPES = EventTypes(
    [
        event_type(
            "test.event",
            "financial",
            {
                "a": ("int", "financial"),
                "b": ("int", "financial"),
                "f": ("float", "financial"),
                "g": ("float", "financial"),
                "s": ("str", "reference"),
                "t": ("str", "reference"),
                "ok": ("bool", "financial"),
                "flag": ("bool", "financial"),
                "rec": (INNER, "financial"),
            },
        )
    ]
)
BASES = LegalBases([legal_basis("test-act/1", "Test Act", "s. 1", "statute", ["credit"], covers=["test.event"])])
COLUMNS = {
    "a": np.int64,
    "b": np.int64,
    "rec.x": np.int64,
    "f": np.float64,
    "g": np.float64,
    "rec.y": np.float64,
    "s": np.str_,
    "t": np.str_,
    "ok": np.bool_,
    "flag": np.bool_,
}


def rule_text(conditions: list[str]) -> str:
    """A rule file with one favourable rule per condition (json.dumps writes a valid TOML basic string)."""
    return "\n".join(
        f"""
[[rule]]
id = "r{i}"
title = "rule {i}"
basis = "test-act/1"
inputs = ["test.event"]
condition = {json.dumps(c)}
reason_code = "r{i}"
effects = [{{ kind = "score", scheme = "test", points = 1, expires_after = "1d" }}]
"""
        for i, c in enumerate(conditions)
    )


def compile_conditions(*conditions: str) -> tuple[RuleSet, CompiledRules]:
    rules = load_rules([rule_text(list(conditions))], TYPES, BASES)
    return rules, CompiledRules(rules, TYPES)


def batch(rows: list[dict[str, object]]) -> dict[str, npt.NDArray[np.generic]]:
    return {name: np.array([r[name] for r in rows], dtype=dtype) for name, dtype in COLUMNS.items()}


def reference_rows(rules: RuleSet, rows: list[dict[str, object]]) -> list[list[bool | None]]:
    out = []
    for rule in rules:
        reference = ReferenceRule(rule, TYPES)
        out.append([reference.evaluate(r) for r in rows])
    return out


# -- random conditions from a small typed grammar --------------------------------------------------------------------
# A seeded generator rather than nested hypothesis strategies: those favour their first, simplest branch, and
# division, overflow and truncation then hardly ever meet the rows that expose them.

INT_LITERALS = [
    "0",
    "1",
    "-1",
    "2",
    "-2",
    "3",
    "-3",
    "7",
    "9223372036854775807",
    "-9223372036854775808",
    "4611686018427387904",
]
DOUBLE_LITERALS = ["0.0", "-0.0", "1.5", "-2.5", "1e+300", "3.0", "9.3e+18", "-9.3e+18", "0.1"]
STRING_LITERALS = ['""', '"a"', '"ab"', '"é"', '"b"', '"aé"']
FIELDS = {
    "int": ["event.a", "event.b", "event.rec.x"],
    "double": ["event.f", "event.g", "event.rec.y"],
    "string": ["event.s", "event.t"],
    "bool": ["event.ok", "event.flag"],
}
LITERALS = {"int": INT_LITERALS, "double": DOUBLE_LITERALS, "string": STRING_LITERALS, "bool": ["true", "false"]}
SPECIAL_INTS = [0, 1, -1, 2, 3, -7, INT_MIN, INT_MAX, 2**62, -(2**62), 3037000500, INT_MIN + 1]
SPECIAL_FLOATS = [0.0, -0.0, 1.5, -2.5, math.nan, math.inf, -math.inf, 9.3e18, -9.3e18, 2.0**63, -(2.0**63), 0.5]


def random_condition(rng: random.Random, kind: str = "bool", depth: int = 3) -> str:
    """A random well-typed CEL expression of ``kind`` at most ``depth`` operators deep."""
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(FIELDS[kind] if rng.random() < 0.6 else LITERALS[kind])

    def sub(k: str) -> str:
        return random_condition(rng, k, depth - 1)

    def cond(k: str) -> str:
        return f"({sub('bool')} ? {sub(k)} : {sub(k)})"

    choice = rng.randrange(10)
    if kind == "int":
        if choice < 6:
            return f"({sub('int')} {rng.choice(['+', '-', '*', '/', '%'])} {sub('int')})"
        return rng.choice([f"-({sub('int')})", f"int({sub('double')})", f"size({sub('string')})", cond("int")])
    if kind == "double":
        if choice < 6:
            return f"({sub('double')} {rng.choice(['+', '-', '*', '/'])} {sub('double')})"
        return rng.choice([f"-({sub('double')})", f"double({sub('int')})", cond("double")])
    if kind == "string":
        return f"({sub('string')} + {sub('string')})" if choice < 5 else cond("string")
    if choice < 5:
        k = rng.choice(["int", "int", "int", "double", "string", "bool"])
        return f"({sub(k)} {rng.choice(['<', '<=', '>', '>=', '==', '!='])} {sub(k)})"
    if choice < 7:
        return f"({sub('bool')} {rng.choice(['&&', '||'])} {sub('bool')})"
    if choice == 7:
        k = rng.choice(["int", "double", "string"])
        elements = [rng.choice(LITERALS[k] + FIELDS[k]) for _ in range(rng.randrange(4))]
        return f"({sub(k)} in [{', '.join(elements)}])"
    if choice == 8:
        return f"{sub('string')}.{rng.choice(['startsWith', 'endsWith', 'contains'])}({sub('string')})"
    return rng.choice([f"!({sub('bool')})", cond("bool")])


def random_rows(rng: random.Random, count: int) -> list[dict[str, object]]:
    def integer() -> int:
        r = rng.random()
        return (
            rng.randint(-9, 9) if r < 0.6 else rng.choice(SPECIAL_INTS) if r < 0.85 else rng.randint(INT_MIN, INT_MAX)
        )

    def double() -> float:
        r = rng.random()
        return (
            float(rng.randint(-9, 9)) / 2
            if r < 0.5
            else rng.choice(SPECIAL_FLOATS)
            if r < 0.8
            else rng.uniform(-1e19, 1e19)
        )

    def text() -> str:
        return "".join(rng.choice("abé") for _ in range(rng.randrange(4)))

    return [
        {
            "a": integer(),
            "b": integer(),
            "rec.x": integer(),
            "f": double(),
            "g": double(),
            "rec.y": double(),
            "s": text(),
            "t": text(),
            "ok": rng.random() < 0.5,
            "flag": rng.random() < 0.5,
        }
        for _ in range(count)
    ]


class TestDifferential:
    """Random conditions over random events: compiled and reference agree on every row."""

    @settings(max_examples=200, deadline=None)
    @given(seed=st.integers(0, 2**64 - 1))
    def test_compiled_equals_reference_row_by_row(self, seed: int) -> None:
        """Holding rows match, and the rows where CEL errs are exactly the compiled error rows."""
        rng = random.Random(seed)
        self.check([random_condition(rng) for _ in range(rng.randint(1, 4))], random_rows(rng, rng.randint(1, 16)))

    @staticmethod
    def check(conditions: list[str], rows: list[dict[str, object]]) -> None:
        rules, compiled = compile_conditions(*conditions)
        assert compiled.fallback == {}, compiled.fallback
        expected = reference_rows(rules, rows)
        outcomes = compiled.outcomes("test.event", batch(rows), len(rows))
        assert [r.id for r, _, _ in outcomes] == [r.id for r in rules]
        for (rule, holds, errors), want in zip(outcomes, expected, strict=True):
            assert holds.tolist() == [w is True for w in want], (rule.condition, rows)
            assert errors.tolist() == [w is None for w in want], (rule.condition, rows)


@pytest.mark.parametrize(
    ("condition", "rows_holding", "rows_erring"),
    [
        ("event.a / event.b > 0", [0], [1]),  # 6/2 holds; 6/0 errs
        ("event.a / event.b > 0 || !event.ok", [0, 1], []),  # true absorbs the error
        ("event.a / event.b > 0 && !event.ok", [], [1]),  # the error stands where nothing decides
        ("event.a % event.b == 0", [0], [1]),
        ("-7 / 2 == -3 && -7 % 2 == -1", [0, 1], []),  # truncation toward zero
        ("event.a * 4611686018427387904 != 0", [], [0, 1]),  # overflow
        ("int(event.f) > 0", [0], [1]),  # NaN does not fit an int
        ("event.rec.x * -1 < 0", [0], [1]),  # -(2**63) * -1 overflows
        ("-1 * event.rec.x < 0", [0], [1]),
        ("event.rec.x / -1 < 0", [0], [1]),
        ("event.rec.x % -1 == 0", [0], [1]),
        ("-event.rec.x < 0", [0], [1]),
        ("event.rec.x - 1 < 0", [], [1]),
    ],
)
def test_cel_error_semantics(condition: str, rows_holding: list[int], rows_erring: list[int]) -> None:
    """Division by zero, overflow and bad conversions are errors; && and || absorb them as CEL does."""
    rows = [
        {"a": 6, "b": 2, "rec.x": 5, "f": 2.5, "g": 0.0, "rec.y": 0.0, "s": "", "t": "", "ok": True, "flag": False},
        {
            "a": 6,
            "b": 0,
            "rec.x": INT_MIN,
            "f": math.nan,
            "g": 0.0,
            "rec.y": 0.0,
            "s": "",
            "t": "",
            "ok": False,
            "flag": False,
        },
    ]
    rules, compiled = compile_conditions(condition)
    ((_, holds, errors),) = compiled.outcomes("test.event", batch(rows), 2)
    assert np.flatnonzero(holds).tolist() == rows_holding
    assert np.flatnonzero(errors).tolist() == rows_erring
    expected = reference_rows(rules, rows)[0]
    assert [i for i, w in enumerate(expected) if w is True] == rows_holding


def test_unsupported_constructs_fall_back_per_event_for_that_rule_only() -> None:
    """A macro or a regex runs through CEL per event; the other rules stay compiled; the answers are right."""
    _, compiled = compile_conditions("[1, 2, 3].exists(x, x == event.a)", 'event.s.matches("^a+$")', "event.a > 1")
    assert set(compiled.fallback) == {"r0", "r1"}
    assert "r2" not in compiled.fallback
    rows = [
        {"a": a, "b": 0, "rec.x": 0, "f": 0.0, "g": 0.0, "rec.y": 0.0, "s": s, "t": "", "ok": True, "flag": True}
        for a, s in [(1, "aa"), (5, "ab"), (3, "a")]
    ]
    found = {rule.id: rows.tolist() for rule, rows in compiled.evaluate("test.event", batch(rows), 3)}
    assert found == {"r0": [0, 2], "r1": [0, 2], "r2": [1, 2]}


def test_shared_sub_expressions_are_computed_once_per_batch() -> None:
    """Two rules sharing `event.a + event.b > 3` compile to one step for it, not two."""
    _, one = compile_conditions("event.a + event.b > 3")
    _, two = compile_conditions("event.a + event.b > 3 && event.ok", "event.a + event.b > 3 || event.flag")
    steps_one = len(one._programs["test.event"].steps)
    steps_two = len(two._programs["test.event"].steps)
    assert steps_two == steps_one + 2  # only the && and the || are new


def test_literal_only_sub_expressions_are_folded() -> None:
    """`2 * 3 + 1` is computed once at compile time, not per batch."""
    _, compiled = compile_conditions("event.a > 2 * 3 + 1")
    assert len(compiled._programs["test.event"].steps) == 1


class TestColumns:
    """Columns are checked and converted once per batch, never per row."""

    def test_narrow_ints_and_floats_widen_and_longer_columns_are_cut(self) -> None:
        """Narrow int and float columns are widened, and only the batch's rows are read from longer ones."""
        _, compiled = compile_conditions("event.a > 1 && event.f < 2.0")
        columns = {"a": np.array([0, 2, 5, 9], np.int32), "f": np.array([0, 1, 3, 0], np.float32)}
        ((_, rows),) = compiled.evaluate("test.event", columns, 3)
        assert rows.tolist() == [1] and rows.dtype == np.int64

    def test_object_string_columns_are_converted(self) -> None:
        """An object array of strings is converted and string functions run on it."""
        _, compiled = compile_conditions('event.s.startsWith("a")')
        ((_, rows),) = compiled.evaluate("test.event", {"s": np.array(["ab", "b", "a"], dtype=object)}, 3)
        assert rows.tolist() == [0, 2]

    @pytest.mark.parametrize(
        ("columns", "size"),
        [
            ({}, 2),
            ({"a": np.array([1.0, 2.0])}, 2),
            ({"a": np.array([1, 2], np.uint64)}, 2),
            ({"a": np.array([1])}, 2),
            ({"a": np.array([[1, 2]])}, 2),
        ],
    )
    def test_a_missing_or_mistyped_column_is_refused(
        self, columns: dict[str, npt.NDArray[np.generic]], size: int
    ) -> None:
        """A missing, float, unsigned, short or two-dimensional column is refused naming it."""
        _, compiled = compile_conditions("event.a > 1")
        with pytest.raises(InvalidInputError) as caught:
            compiled.evaluate("test.event", columns, size)
        assert caught.value.field == "columns.a"

    def test_an_event_type_no_rule_reads_gives_nothing(self) -> None:
        """An event type no rule reads yields no outcomes, without any columns."""
        _, compiled = compile_conditions("event.a > 1")
        assert compiled.evaluate("loan.repaid", {}, 10) == []

    def test_an_empty_batch(self) -> None:
        """An empty batch yields an empty row list per rule, even for a rule that would err."""
        _, compiled = compile_conditions("event.a > 1", "1 / 0 == 1")
        assert [rows.tolist() for _, rows in compiled.evaluate("test.event", {"a": np.array([], np.int64)}, 0)] == [
            [],
            [],
        ]


def test_the_example_rules_compile_without_fallback() -> None:
    """The shipped example file loads against the built-in definitions and compiles entirely."""
    types, bases = builtin_definitions()
    rules = load_rules([builtin_path("example_rules.toml")], types, bases)
    compiled = CompiledRules(rules, types)
    assert compiled.fallback == {}
    columns = {
        "amount": np.array([150_000, 500], np.int64),
        "status": np.array([35, 0], np.int64),
        "refused": np.array([True, False]),
    }
    ((rule, rows),) = compiled.evaluate("ledger.transfer", columns, 2)
    assert rule.id == "credit.refused-for-funds" and rows.tolist() == [0]


def test_negative_zero_is_not_shared_with_zero() -> None:
    """-0.0 == 0.0, but 1.5 / -0.0 is -inf: two literals that differ only in sign keep separate slots."""
    _, compiled = compile_conditions("1.5 / -0.0 < 0.0", "1.5 / 0.0 > 0.0")
    assert [rows.tolist() for _, rows in compiled.evaluate("test.event", {}, 2)] == [[0, 1], [0, 1]]
