"""CEL conditions as trees: parsed and type-checked by Google's CEL (``cel-expr-python``), read back here.

The guard, the compiler and the reference evaluator must agree on what a condition *is*,
so all three take it from the one parser that also evaluates it. ``cel-expr-python``
serialises its parsed and checked expressions as ``cel.expr`` protocol buffers; this module
decodes the few messages it needs (no protobuf runtime is required) into frozen nodes.

Every field a condition may read is declared to the checker as a variable named
``event.<path>`` (``event.claimant.age_band``), so the checker resolves field reads into
single identifiers and refuses anything it was not told about.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass

import cel_expr_python.cel as cel  # noqa: PLR0402 (mypy finds the stub only by its module path)

from tessera.errors import InvalidInputError
from tessera.rules.categories import FieldType

CONDITION_MAX = 4096  # characters of CEL in one condition
_NESTING_MAX = 400  # protobuf messages within messages; CEL's own parser stops far sooner

CEL_TYPES: Mapping[FieldType, cel.Type] = {
    FieldType.integer: cel.Type.INT,
    FieldType.number: cel.Type.DOUBLE,
    FieldType.text: cel.Type.STRING,
    FieldType.boolean: cel.Type.BOOL,
    FieldType.date: cel.Type.INT,  # days since 1970-01-01
    FieldType.timestamp: cel.Type.INT,  # nanoseconds since the epoch, UTC
}
"""How each field type reads in CEL: dates and timestamps are plain integers."""


@dataclass(frozen=True, slots=True)
class Const:
    """A literal; ``kind`` is int, uint, double, string, bytes, bool or null."""

    id: int
    kind: str
    value: object


@dataclass(frozen=True, slots=True)
class Ident:
    """A name: ``event`` in a parsed tree, ``event.amount`` once checked, or a comprehension's variable."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Select:
    """``operand.field``; ``test_only`` marks the ``has()`` macro."""

    id: int
    operand: Expr
    field: str
    test_only: bool


@dataclass(frozen=True, slots=True)
class Call:
    """A function or operator (``_+_``, ``_&&_``, ``startsWith``), with its receiver for member calls."""

    id: int
    function: str
    target: Expr | None
    args: tuple[Expr, ...]


BINARY_ARGS = 2  # a Call of an infix operator (``_&&_``, ``_<_``, ``_[_]``): its two operands
CONDITIONAL_ARGS = 3  # a Call of ``_?_:_``: its test and its two branches


@dataclass(frozen=True, slots=True)
class ListExpr:
    """``[a, b, c]``."""

    id: int
    elements: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class StructExpr:
    """A map or message literal; only its sub-expressions matter here."""

    id: int
    children: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Comprehension:
    """A macro's loop (``exists``, ``all``, ``map``, ``filter``)."""

    id: int
    iter_var: str
    children: tuple[Expr, ...]  # range, init, condition, step, result


@dataclass(frozen=True, slots=True)
class Unknown:
    """An expression kind this decoder does not read; never compiled."""

    id: int


Expr = Const | Ident | Select | Call | ListExpr | StructExpr | Comprehension | Unknown


@dataclass(frozen=True, slots=True)
class Checked:
    """A type-checked condition: its tree, each node's type by id, and the runnable expression."""

    expr: Expr
    types: Mapping[int, str]  # node id -> "int", "double", "string", "bool", "list(int)", "dyn", ...
    program: cel.Expression
    env: cel.Env


def children(node: Expr) -> tuple[Expr, ...]:
    """A node's direct sub-expressions."""
    if isinstance(node, Select):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args if node.target is None else (node.target, *node.args)
    if isinstance(node, ListExpr):
        return node.elements
    if isinstance(node, StructExpr | Comprehension):
        return node.children
    return ()


def parse(text: str, field: str) -> Expr:
    """The parsed tree of ``text`` (macros expanded, nothing resolved); a syntax error names ``field``."""
    env = cel.NewEnv()
    try:
        parsed = env.compile(_checked_text(text, field), disable_check=True)
    except RuntimeError as error:
        raise InvalidInputError(field, _cel_message(error)) from None
    return _decode_any(parsed.serialize(), "cel.expr.ParsedExpr", field)[0]


def check(text: str, variables: Mapping[str, FieldType], field: str) -> Checked:
    """``text`` type-checked with exactly ``variables`` (``{"event.amount": int}``) in scope; it must be a bool."""
    env = cel.NewEnv(variables={name: CEL_TYPES[t] for name, t in variables.items()})
    try:
        program = env.compile(_checked_text(text, field))
    except RuntimeError as error:
        raise InvalidInputError(field, _cel_message(error)) from None
    expr, types = _decode_any(program.serialize(), "cel.expr.CheckedExpr", field)
    if types.get(expr.id) != "bool":
        raise InvalidInputError(field, f"a condition is true or false, but this one is of type {types.get(expr.id)}")
    _check_constant_arguments(expr, field)
    return Checked(expr, types, program, env)


# Functions whose constant argument CEL reads only when it runs: a bad one would fail every event, silently.
_READ_AT_RUN_TIME = {"matches": "''.matches({})", "timestamp": "timestamp({})", "duration": "duration({})"}


def _check_constant_arguments(root: Expr, field: str) -> None:
    """Refuse a regular expression, timestamp or duration literal that CEL would refuse on every event."""
    pending = [root]
    while pending:
        node = pending.pop()
        pending.extend(children(node))
        if not isinstance(node, Call) or node.function not in _READ_AT_RUN_TIME or not node.args:
            continue
        argument = node.args[-1]  # the pattern, in s.matches(p) and matches(s, p) alike
        if not isinstance(argument, Const) or not isinstance(argument.value, str):
            continue
        probe = _READ_AT_RUN_TIME[node.function].format(json.dumps(argument.value, ensure_ascii=False))
        result = cel.NewEnv().compile(probe).eval(data={})
        if str(result.type()) == "ERROR":
            message = str(result.value()).removeprefix("INVALID_ARGUMENT: ")
            raise InvalidInputError(field, f"{node.function}({argument.value!r:.60}) fails on every event: {message}")


def _checked_text(text: object, field: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > CONDITION_MAX:
        raise InvalidInputError(field, f"must be a CEL expression of 1-{CONDITION_MAX} characters")
    if not text.isascii():  # CEL takes UTF-8: a lone surrogate has none, and its binding raised a TypeError
        try:
            text.encode()
        except UnicodeEncodeError as error:
            raise InvalidInputError(field, f"has a lone surrogate at character {error.start + 1}") from None
    return text


def _cel_message(error: RuntimeError) -> str:
    """CEL's message on one line: its first complaint with the position, without the status prefix."""
    lines = [ln for ln in str(error).splitlines() if ln.strip()]
    first = lines[0] if lines else "invalid CEL"
    for prefix in ("INVALID_ARGUMENT: ", "CANCELLED: "):
        first = first.removeprefix(prefix)
    return first.removeprefix("ERROR: ").replace("<input>:", "at ")


# -- the protobuf wire format, only as far as cel.expr needs it ---------------------------------------------------


def _fields(data: bytes, field: str) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: varints and fixed64 as ints, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos, field)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos, field)
            out.append((number, value))
        elif wire == 1:
            out.append((number, int.from_bytes(data[pos : pos + 8], "little")))
            pos += 8
        elif wire == 2:
            size, pos = _varint(data, pos, field)
            out.append((number, data[pos : pos + size]))
            pos += size
        elif wire == 5:
            out.append((number, int.from_bytes(data[pos : pos + 4], "little")))
            pos += 4
        else:
            raise InvalidInputError(field, f"CEL returned an unreadable tree (wire type {wire})")
    if pos != end:
        raise InvalidInputError(field, "CEL returned a truncated tree")
    return out


def _varint(data: bytes, pos: int, field: str) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise InvalidInputError(field, "CEL returned a truncated tree")


def _bytes(value: int | bytes) -> bytes:
    assert isinstance(value, bytes), "a length-delimited field"
    return value


def _int64(value: int | bytes) -> int:
    assert isinstance(value, int), "a varint field"
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_any(data: bytes, expected: str, field: str) -> tuple[Expr, dict[int, str]]:
    fields = dict(_fields(data, field))
    type_url = _bytes(fields.get(1, b"")).decode()
    if not type_url.endswith("/" + expected):
        raise InvalidInputError(field, f"CEL returned {type_url}, not {expected}")
    body = _fields(_bytes(fields.get(2, b"")), field)
    types: dict[int, str] = {}
    expr_number = 2 if expected.endswith("ParsedExpr") else 4
    expr: Expr | None = None
    for number, value in body:
        if number == expr_number:
            expr = _expr(_bytes(value), field, 0)
        elif number == 3 and expected.endswith("CheckedExpr"):
            entry = dict(_fields(_bytes(value), field))
            types[_int64(entry.get(1, 0))] = _type(_bytes(entry.get(2, b"")), field, 0)
    if expr is None:
        raise InvalidInputError(field, "CEL returned an empty tree")
    return expr, types


def _expr(data: bytes, field: str, depth: int) -> Expr:
    if depth > _NESTING_MAX:
        raise InvalidInputError(field, "the condition is nested too deeply")
    node_id = 0
    kind: tuple[int, bytes] | None = None
    for number, value in _fields(data, field):
        if number == 2:
            node_id = _int64(value)
        elif 3 <= number <= 9:
            kind = (number, _bytes(value))
    if kind is None:
        return Unknown(node_id)
    number, body = kind
    parts = _fields(body, field)
    if number == 3:
        return _const(node_id, parts, field)
    if number == 4:
        return Ident(node_id, _text(parts, 1))
    if number == 5:
        operand = next((_expr(_bytes(v), field, depth + 1) for n, v in parts if n == 1), Unknown(0))
        return Select(node_id, operand, _text(parts, 2), any(n == 3 and v == 1 for n, v in parts))
    if number == 6:
        target = next((_expr(_bytes(v), field, depth + 1) for n, v in parts if n == 1), None)
        args = tuple(_expr(_bytes(v), field, depth + 1) for n, v in parts if n == 3)
        return Call(node_id, _text(parts, 2), target, args)
    if number == 7:
        return ListExpr(node_id, tuple(_expr(_bytes(v), field, depth + 1) for n, v in parts if n == 1))
    if number == 8:
        found: list[Expr] = []
        for n, v in parts:
            if n == 2:  # an entry: its map key (3) and value (4) are expressions
                found += [_expr(_bytes(ev), field, depth + 2) for en, ev in _fields(_bytes(v), field) if en in (3, 4)]
        return StructExpr(node_id, tuple(found))
    # A comprehension: iter_var 1, range 2, accu_var 3, init 4, condition 5, step 6, result 7.
    subs = tuple(_expr(_bytes(v), field, depth + 1) for n, v in parts if n in (2, 4, 5, 6, 7))
    return Comprehension(node_id, _text(parts, 1), subs)


def _text(parts: list[tuple[int, int | bytes]], number: int) -> str:
    return next((_bytes(v).decode() for n, v in parts if n == number), "")


def _const(node_id: int, parts: list[tuple[int, int | bytes]], field: str) -> Const:
    if not parts:
        return Const(node_id, "null", None)
    number, value = parts[0]
    if number == 1:
        return Const(node_id, "null", None)
    if number == 2:
        return Const(node_id, "bool", value == 1)
    if number == 3:
        return Const(node_id, "int", _int64(value))
    if number == 4:
        return Const(node_id, "uint", value)
    if number == 5:
        assert isinstance(value, int)
        return Const(node_id, "double", struct.unpack("<d", value.to_bytes(8, "little"))[0])
    if number == 6:
        return Const(node_id, "string", _bytes(value).decode())
    if number == 7:
        return Const(node_id, "bytes", _bytes(value))
    raise InvalidInputError(field, f"unsupported literal (constant kind {number})")


_PRIMITIVES = {1: "bool", 2: "int", 3: "uint", 4: "double", 5: "string", 6: "bytes"}


def _type(data: bytes, field: str, depth: int) -> str:
    """A cel.expr.Type as text: primitives by name, lists as ``list(int)``, everything else by its kind."""
    if depth > _NESTING_MAX:
        raise InvalidInputError(field, "a type is nested too deeply")
    for number, value in _fields(data, field):
        if number == 1:
            return "dyn"
        if number == 2:
            return "null"
        if number == 3:
            assert isinstance(value, int)
            return _PRIMITIVES.get(value, "unknown")
        if number == 6:
            elem = next((_type(_bytes(v), field, depth + 1) for n, v in _fields(_bytes(value), field) if n == 1), "dyn")
            return f"list({elem})"
        if number == 7:
            return "map"
        if number == 12:
            return "error"
        return "other"
    return "unknown"
