"""The CEL front end as properties: generated expressions print and parse back to the same tree, well-typed
conditions mean what a Python evaluation says, and any text either parses or is refused with a code."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tessera.errors import TesseraError
from tessera.rules import (
    EventTypes,
    FieldType,
    LegalBases,
    ReferenceRule,
    check_rules,
    event_type,
    legal_basis,
    load_rules,
)
from tessera.rules.language.cel_ast import (
    CONDITION_MAX,
    Call,
    Const,
    Expr,
    Ident,
    ListExpr,
    Select,
    StructExpr,
    check,
    children,
    parse,
)

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
FIELD = "rule.condition"
# CEL's parser refuses an expression nested more than 32 levels (each parenthesis, operator or selection is one);
# generated trees stay well inside that, so that a refusal can only be a wrong print or a wrong parse.
DEPTH_MAX = 9
# CEL's reserved words, and the macros, which a name in call position would expand.
RESERVED = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import"}
    | {"let", "loop", "package", "namespace", "return", "var", "void", "while"}
    | {"has", "all", "exists", "exists_one", "map", "filter"}
)
BINARY = {
    "+": "_+_",
    "-": "_-_",
    "*": "_*_",
    "/": "_/_",
    "%": "_%_",
    "<": "_<_",
    "<=": "_<=_",
    ">": "_>_",
    ">=": "_>=_",
    "==": "_==_",
    "!=": "_!=_",
    "&&": "_&&_",
    "||": "_||_",
    "in": "@in",
}
OPERATORS = {v: k for k, v in BINARY.items()}
UNARY = {"!_": "!", "-_": "-"}
TYPES = EventTypes(
    [
        event_type(
            "test.event",
            "financial",
            {
                "a": ("int", "financial"),
                "b": ("int", "financial"),
                "s": ("str", "reference"),
                "ok": ("bool", "financial"),
            },
        )
    ]
)
BASES = LegalBases([legal_basis("test-act/1", "Test Act", "s. 1", "statute", ["credit"], covers=["test.event"])])
VARIABLES = {"event.a": FieldType.integer, "event.b": FieldType.integer, "event.s": FieldType.text}
# Characters that break lexers: surrogates, NUL, line and paragraph separators, bidi overrides, a combining mark,
# a byte-order mark, a non-character, an emoji, and CEL's own quotes, escapes and brackets.
ODD = "\ud800\udfff\x00\x1b\x7f\x85\u2028\u2029\u202e\u0301\ufeff\uffff\U0001f600\"'\\`([{}]).?:!-"


def rule_file(condition: str) -> str:
    """One favourable rule on ``test.event`` with ``condition`` (json.dumps writes a TOML basic string)."""
    return f"""
[[rule]]
id = "r"
title = "rule"
basis = "test-act/1"
inputs = ["test.event"]
condition = {json.dumps(condition, ensure_ascii=False)}
reason_code = "r"
effects = [{{ kind = "score", scheme = "test", points = 1, expires_after = "1d" }}]
"""


# -- printing a tree as CEL ---------------------------------------------------------------------------------------


def cel_string(value: str, escaped: bool) -> str:
    """``value`` as a CEL string literal: quotes, backslashes and controls escaped, the rest raw or (escaped) \\u."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F or (escaped and code > 0x7E):
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def cel_literal(node: Const) -> str:
    """A literal as CEL spells it; a negative number is one token (``-5``), not negation."""
    if node.kind == "int":
        return str(node.value)
    if node.kind == "uint":
        return f"{node.value}u"
    if node.kind == "double":
        return repr(node.value)  # the shortest text that reads back as the same double
    if node.kind == "string":
        assert isinstance(node.value, str)
        return cel_string(node.value, escaped=len(node.value) % 2 == 1)
    if node.kind == "bytes":
        assert isinstance(node.value, bytes)
        return 'b"' + "".join(f"\\x{b:02x}" for b in node.value) + '"'
    return "null" if node.value is None else "true" if node.value is True else "false"


def closed(node: Expr) -> bool:
    """Whether ``node`` prints as one primary (a name, a selection, a call, a list or map) needing no parentheses."""
    if isinstance(node, Call):
        return node.function not in OPERATORS and node.function not in UNARY and node.function != "_?_:_"
    return isinstance(node, Ident | Select | ListExpr | StructExpr)


def atom(node: Expr) -> str:
    return cel(node) if closed(node) else f"({cel(node)})"


def cel(node: Expr) -> str:
    """CEL text for a tree built of the node kinds the parser makes (no macros): the printer the project lacks."""
    if isinstance(node, Const):
        return cel_literal(node)
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Select):
        text = f"{atom(node.operand)}.{node.field}"
        return f"has({text})" if node.test_only else text
    if isinstance(node, ListExpr):
        return "[" + ", ".join(cel(e) for e in node.elements) + "]"
    if isinstance(node, StructExpr):
        pairs = zip(node.children[::2], node.children[1::2], strict=True)
        return "{" + ", ".join(f"{atom(k)}: {atom(v)}" for k, v in pairs) + "}"
    assert isinstance(node, Call)
    args = node.args
    if node.function in OPERATORS:
        return f"{atom(args[0])} {OPERATORS[node.function]} {atom(args[1])}"
    if node.function in UNARY:
        return UNARY[node.function] + atom(args[0])
    if node.function == "_?_:_":
        return f"{atom(args[0])} ? {atom(args[1])} : {atom(args[2])}"
    if node.function == "_[_]":
        return f"{atom(args[0])}[{cel(args[1])}]"
    listed = ", ".join(cel(a) for a in args)
    return f"{atom(node.target)}.{node.function}({listed})" if node.target is not None else f"{node.function}({listed})"


def shape(node: Expr) -> Expr:
    """``node`` with every id 0: what a tree says, not how the parser numbered it."""
    if isinstance(node, Select):
        return dataclasses.replace(node, id=0, operand=shape(node.operand))
    if isinstance(node, Call):
        target = None if node.target is None else shape(node.target)
        return dataclasses.replace(node, id=0, target=target, args=tuple(map(shape, node.args)))
    if isinstance(node, ListExpr):
        return dataclasses.replace(node, id=0, elements=tuple(map(shape, node.elements)))
    if isinstance(node, StructExpr):
        return dataclasses.replace(node, id=0, children=tuple(map(shape, node.children)))
    return dataclasses.replace(node, id=0)


def ids(node: Expr) -> list[int]:
    found = [node.id]
    for child in children(node):
        found += ids(child)
    return found


def depth(node: Expr) -> int:
    return 1 + max((depth(c) for c in children(node)), default=0)


# -- generated trees ----------------------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True).filter(lambda n: n not in RESERVED)
literals = st.one_of(
    st.integers(INT_MIN, INT_MAX).map(lambda v: Const(0, "int", v)),
    st.integers(0, 2**64 - 1).map(lambda v: Const(0, "uint", v)),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: Const(0, "double", v)),
    st.text(max_size=8).map(lambda v: Const(0, "string", v)),
    st.binary(max_size=6).map(lambda v: Const(0, "bytes", v)),
    st.booleans().map(lambda v: Const(0, "bool", v)),
    st.just(Const(0, "null", None)),
)
event_fields = st.lists(names, min_size=1, max_size=2).map(
    lambda path: _select(Ident(0, "event"), path)  # event.<field> and event.<record>.<field>, as rules read them
)


def _select(node: Expr, path: list[str]) -> Expr:
    for name in path:
        node = Select(0, node, name, False)
    return node


def _extend(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(lambda f, a, b: Call(0, f, None, (a, b)), st.sampled_from(sorted(OPERATORS)), inner, inner),
        st.builds(lambda f, a: Call(0, f, None, (a,)), st.sampled_from(sorted(UNARY)), inner),
        st.builds(lambda c, a, b: Call(0, "_?_:_", None, (c, a, b)), inner, inner, inner),
        st.builds(lambda a, i: Call(0, "_[_]", None, (a, i)), inner, inner),
        st.builds(lambda a, n: Select(0, a, n, False), inner, names),
        st.builds(lambda f, args: Call(0, f, None, tuple(args)), names, st.lists(inner, max_size=2)),
        st.builds(lambda t, f, args: Call(0, f, t, tuple(args)), inner, names, st.lists(inner, max_size=2)),
        st.lists(inner, max_size=3).map(lambda e: ListExpr(0, tuple(e))),
        st.lists(st.tuples(inner, inner), max_size=2).map(lambda kv: StructExpr(0, tuple(x for p in kv for x in p))),
        event_fields.map(lambda s: Select(0, s.operand, s.field, True) if isinstance(s, Select) else s),
    )


trees = st.recursive(st.one_of(literals, names.map(lambda n: Ident(0, n)), event_fields), _extend, max_leaves=10)


class TestRoundTrip:
    """What the printer writes, the parser reads back as the same tree."""

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(tree=trees)
    def test_a_printed_tree_parses_back_to_itself(self, tree: Expr) -> None:
        """Literals of every kind, names, event fields, operators, calls, indexing, lists, maps read back as built."""
        assume(depth(tree) <= DEPTH_MAX)
        parsed = parse(cel(tree), FIELD)
        assert shape(parsed) == tree
        numbered = ids(parsed)
        assert len(set(numbered)) == len(numbered) and min(numbered) > 0  # types are keyed by node id

    @settings(max_examples=60, deadline=None)
    @given(value=st.text(st.characters(codec="utf-8"), max_size=30))
    def test_any_string_literal_reads_back_raw_or_escaped(self, value: str) -> None:
        """Any Unicode text, raw or written with \\u and \\U escapes, is the same string once parsed."""
        for escaped in (False, True):
            assert parse(cel_string(value, escaped), FIELD) == Const(1, "string", value)


# -- well-typed conditions against a Python evaluation ------------------------------------------------------------

ERR = object()  # CEL's error value: overflow


def _int(value: int) -> object:
    return value if INT_MIN <= value <= INT_MAX else ERR


def _arith(op: str, a: object, b: object) -> object:
    if a is ERR or b is ERR:
        return ERR
    assert isinstance(a, int) and isinstance(b, int)
    return _int(a + b if op == "+" else a - b if op == "-" else a * b)


def _logic(op: str, a: object, b: object) -> object:
    """CEL's commutative && and ||: a deciding side absorbs an error on the other."""
    decides = op == "||"
    if a is decides or b is decides:
        return decides
    return ERR if ERR in (a, b) else not decides


def _compare(op: str, a: object, b: object) -> object:
    if a is ERR or b is ERR:
        return ERR
    assert isinstance(a, int) and isinstance(b, int)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


Typed = tuple[str, object, frozenset[str]]  # CEL text, the value a Python evaluation gives it, the fields it reads
EVENTS = st.fixed_dictionaries(
    {
        "a": st.one_of(st.integers(-100, 100), st.sampled_from([INT_MIN, INT_MAX, INT_MIN + 1])),
        "b": st.one_of(st.integers(-100, 100), st.sampled_from([INT_MIN, INT_MAX])),
        "s": st.text(alphabet="abé", max_size=3),
        "ok": st.booleans(),
    }
)


@st.composite
def int_conditions(draw: st.DrawFn, event: dict[str, object], budget: int = 3) -> Typed:
    """An int expression over event.a and event.b: literals, + - * and negation, with its value for ``event``."""
    if budget == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            name = draw(st.sampled_from("ab"))
            return f"event.{name}", event[name], frozenset({name})
        value = draw(st.integers(-100, 100))
        return str(value), value, frozenset()
    if draw(st.integers(0, 4)) == 0:
        text, negated, fields = draw(int_conditions(event, budget - 1))
        return f"-({text})", negated if not isinstance(negated, int) else _int(-negated), fields
    op = draw(st.sampled_from("+-*"))
    left, right = draw(int_conditions(event, budget - 1)), draw(int_conditions(event, budget - 1))
    return f"({left[0]} {op} {right[0]})", _arith(op, left[1], right[1]), left[2] | right[2]


@st.composite
def bool_conditions(draw: st.DrawFn, event: dict[str, object], budget: int = 3) -> Typed:
    """A bool condition: comparisons, ``in`` lists, string tests, && || !, with its value for ``event``."""
    choice = draw(st.integers(0, 9 if budget else 4))
    if choice <= 1:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        left, right = draw(int_conditions(event)), draw(int_conditions(event))
        return f"({left[0]} {op} {right[0]})", _compare(op, left[1], right[1]), left[2] | right[2]
    if choice == 2:
        item = draw(int_conditions(event, 1))
        listed = draw(st.lists(st.integers(-5, 5), max_size=4))
        value = ERR if item[1] is ERR else item[1] in listed
        return f"({item[0]} in {listed})", value, item[2]
    if choice == 3:
        prefix = draw(st.text(alphabet="abé", max_size=2))
        s = event["s"]
        assert isinstance(s, str)
        return f"event.s.startsWith({json.dumps(prefix)})", s.startswith(prefix), frozenset({"s"})
    if choice == 4:
        return ("event.ok", event["ok"], frozenset({"ok"})) if draw(st.booleans()) else ("true", True, frozenset())
    if choice <= 6:
        inner = draw(bool_conditions(event, budget - 1))
        return f"!({inner[0]})", ERR if inner[1] is ERR else not inner[1], inner[2]
    op = draw(st.sampled_from(["&&", "||"]))
    left, right = draw(bool_conditions(event, budget - 1)), draw(bool_conditions(event, budget - 1))
    return f"({left[0]} {op} {right[0]})", _logic(op, left[1], right[1]), left[2] | right[2]


@settings(max_examples=30, deadline=None)
@given(data=st.data(), event=EVENTS)
def test_a_typed_condition_loads_reading_its_fields_and_holds_as_python_says(
    data: st.DataObject, event: dict[str, object]
) -> None:
    """A generated condition loads as a rule reading exactly its fields, and CEL's verdict is Python's (errors None)."""
    text, value, fields = data.draw(bool_conditions(event))
    (rule,) = load_rules([rule_file(text)], TYPES, BASES)
    assert rule.fields == {f"test.event.{f}" for f in fields}
    verdict = ReferenceRule(rule, TYPES).evaluate({f: event[f] for f in fields})
    assert verdict == (None if value is ERR else value), text


# -- fuzzing: a traceback is never an answer ----------------------------------------------------------------------


def parses_or_is_refused(text: str) -> None:
    """``text`` parses and type-checks, or is refused with a TesseraError that has a code: nothing else escapes."""
    for attempt in (lambda: parse(text, FIELD), lambda: check(text, VARIABLES, FIELD)):
        try:
            attempt()
        except TesseraError as error:
            assert error.code != "tessera" and str(error).startswith(f"{FIELD}: "), error


# st.text() drops surrogates from any alphabet (one in 300 strings had one): joined characters keep them.
odd_chars = st.one_of(st.characters(), st.sampled_from(ODD))
odd_text = st.lists(odd_chars, max_size=60).map("".join)
expressions = trees.map(cel)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A printed expression with characters deleted, duplicated, swapped or inserted (odd ones among them)."""
    text = draw(expressions)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["delete", "duplicate", "insert", "swap", "truncate"]))
        if how == "delete":
            text = text[:at] + text[at + 1 :]
        elif how == "duplicate":
            text = text[:at] + text[at : at + draw(st.integers(1, 8))] * draw(st.integers(2, 40)) + text[at:]
        elif how == "insert":
            text = text[:at] + draw(st.lists(odd_chars, min_size=1, max_size=4).map("".join)) + text[at:]
        elif how == "swap" and at + 1 < len(text):
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        else:
            text = text[:at]
    return text


class TestFuzzing:
    """Whatever the text, the parser and the checker answer with a tree or a coded refusal."""

    @settings(max_examples=80, deadline=None)
    @given(text=odd_text)
    def test_arbitrary_text__parses_or_is_refused_with_a_code(self, text: str) -> None:
        """Random Unicode, surrogates and control characters included, never raises anything but a TesseraError."""
        parses_or_is_refused(text)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=mutated())
    def test_mutated_expressions__parse_or_are_refused_with_a_code(self, text: str) -> None:
        """Valid expressions with characters deleted, repeated, swapped, inserted or cut off parse or are refused."""
        parses_or_is_refused(text)

    @settings(max_examples=20, deadline=None)
    @given(text=st.one_of(odd_text, mutated()))
    def test_any_condition_in_a_rule_file__loads_or_is_a_refusal_with_a_code(self, text: str) -> None:
        """Through the rule loader too, any condition text gives a rule or a Refusal carrying a TesseraError."""
        rules, refusals = check_rules([rule_file(text)], TYPES, BASES)
        assert len(rules) + len(refusals) == 1
        assert all(isinstance(r.error, TesseraError) and r.error.code != "tessera" for r in refusals)

    @pytest.mark.parametrize(
        "text",
        [
            "(" * 31 + "1" + ")" * 31,
            "(" * 33 + "1" + ")" * 33,
            "(" * 2048 + ")" * 2048,
            "[" * 2048 + "]" * 2048,
            "{1:" * 1000 + "1" + "}" * 1000,
            "f(" * 1300 + ")" * 1300,
            "!" * (CONDITION_MAX - 4) + "true",
            "-" * (CONDITION_MAX - 1) + "1",
            "event" + ".a" * 2045,
            "event.a" + "[0]" * 1363,
            "+".join(["1"] * 2048),
            "true ? " * 580 + "1" + " : 1" * 580,
            "1" * CONDITION_MAX,
            "9" * 400 + ".0 > 1.0",
            "x" * CONDITION_MAX,
            '"' + "a" * (CONDITION_MAX - 2) + '"',
            "\\" * CONDITION_MAX,
            "x" * (CONDITION_MAX + 1),
            "'\\ud800' == event.s",
            "'\\U0011ffff' == event.s",
            "b'\\u00e9' == b''",
            "event.a == 18446744073709551616u",
            "event.a == -9223372036854775809",
            "[1, ?optional.none()]",
            "   ",
            "",
        ],
    )
    def test_deep_long_or_odd_input__parses_or_is_refused_with_a_code(self, text: str) -> None:
        """Nesting far past CEL's limit, input at and past CONDITION_MAX, bad literals: a coded answer each time."""
        parses_or_is_refused(text)


@pytest.mark.parametrize("text", ["event.a > 1 || '\ud800' == event.s", "\udfff", "event.s == 'é\udc00'"])
def test_a_lone_surrogate__is_refused_with_a_code_not_a_type_error(text: str) -> None:
    """A condition holding a lone surrogate (tomllib passes one through) is refused; CEL's binding raised TypeError."""
    with pytest.raises(TesseraError, match="lone surrogate") as caught:
        parse(text, FIELD)
    assert caught.value.code == "invalid_input"
    (refusal,) = check_rules([rule_file(text)], TYPES, BASES)[1]
    assert "lone surrogate" in str(refusal.error)


class TestLiteralsReadAtRunTime:
    @pytest.mark.parametrize(
        ("condition", "named"),
        [
            ("event.s.matches('(')", "matches('(')"),
            ("matches(event.s, '[')", "matches('[')"),
            ("event.s.matches('a(?=b)')", "matches('a(?=b)')"),  # RE2 has no look-ahead
            ("timestamp('yesterday') < timestamp('2026-01-01T00:00:00Z')", "timestamp('yesterday')"),
            ("duration('1 hour') > duration('30m')", "duration('1 hour')"),
        ],
    )
    def test_a_literal_cel_would_refuse_on_every_event_is_refused_at_load(self, condition: str, named: str) -> None:
        """A bad regular expression, timestamp or duration literal is refused when the rule loads, naming it."""
        with pytest.raises(TesseraError) as refused:
            check(condition, {"event.s": FieldType.text}, FIELD)
        assert refused.value.field == FIELD and named in str(refused.value)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pattern=st.text(alphabet="ab()[]{}*+?|^$.\\-,0123", max_size=12), subjects=st.lists(st.text(max_size=8)))
    def test_an_accepted_pattern_never_fails_at_run_time(self, pattern: str, subjects: list[str]) -> None:
        """Whatever regular expression a condition is let in with, CEL evaluates it on any event without an error."""
        try:
            checked = check(f"event.s.matches({json.dumps(pattern)})", {"event.s": FieldType.text}, FIELD)
        except TesseraError:
            return
        for subject in subjects:
            assert str(checked.program.eval(data={"event.s": subject}).type()) == "BOOL"
