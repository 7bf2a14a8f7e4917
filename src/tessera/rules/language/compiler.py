"""Rules compiled to vectorised numpy over micro-batches of events held as columns.

Each condition's checked CEL tree (``cel_ast.py``) is lowered to a small tree of column
operations. The trees of every rule reading one event type are merged into one program:
a sub-expression that several rules share (``event.days_late > 30``) is one step, computed
once per batch. Python work is per batch and per step, never per event.

Columns (``Mapping[str, ndarray]``, one entry per field path, nested ones as
``"claimant.age_band"``):

============  ======================================================================
field type    column
============  ======================================================================
int           int64 (narrower signed ints, and unsigned up to 32 bits, are widened)
date          int64, days since 1970-01-01
timestamp     int64, nanoseconds since the epoch, UTC
float         float64 (float32 is widened)
bool          bool
str           numpy unicode (``U``) or ``StringDType``; object arrays are converted
============  ======================================================================

Every value carries an error mask beside it. Errors follow CEL: division or modulo by
zero, int64 overflow and a double outside int64 in ``int()`` are errors; ``&&`` and ``||``
absorb an error when the other side decides (``false && error`` is false), everything
else passes it on. A condition that errs for a row does not hold for it.

Constructs not lowered here run per event through CEL itself (``reference.py``), for that
rule only; ``CompiledRules.fallback`` says which and why.

A coded column (``codes.py``) reaches each rule as it may read it: every value the rule may
not read, or that its table does not list, withheld (``CodeTable.masked``), once per batch
for all the rules that see it alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidInputError
from tessera.rules.categories import EventTypes, FieldType
from tessera.rules.codes import CodeTable
from tessera.rules.language.cel_ast import BINARY_ARGS, Call, Checked, Const, Expr, Ident, ListExpr
from tessera.rules.language.guard import EVENT
from tessera.rules.language.reference import ReferenceRule, guarded_rule
from tessera.rules.language.rulesets import Rule, RuleSet

Array = npt.NDArray[Any]  # a column, or a 0-d constant
Mask = npt.NDArray[np.bool_] | None  # None: no row can err
Value = tuple[Array, Mask]
_INT_MIN = np.int64(np.iinfo(np.int64).min)
_TWO_63 = 9.223372036854775808e18  # 2**63: int(x) needs -2**63 < x < 2**63, as CEL has it
_STRING_KINDS = frozenset("UT")
_UNSIGNED_BYTES_MAX = 4  # uint32 and narrower fit int64 exactly; a uint64 column may not


class UnsupportedError(Exception):
    """A construct the compiler does not lower; its rule runs per event instead."""


@dataclass(frozen=True, slots=True)
class _Node:
    """A lowered expression: structural equality makes it the key that shares a sub-expression across rules."""

    op: str
    args: tuple[_Node, ...] = ()
    value: object = None  # a field's path, or a constant's (type, value)


@dataclass(frozen=True, slots=True)
class _Program:
    """The merged steps of every compiled rule reading one event type."""

    fields: dict[str, FieldType]  # path -> type, every column the steps read
    constants: dict[int, Value]  # slot -> value
    field_slots: dict[int, str]  # slot -> path
    steps: list[tuple[int, Callable[..., Value], tuple[int, ...]]]  # slot, operation, argument slots
    slot_count: int
    results: list[tuple[Rule, int]]  # rule, the slot of its condition
    fallback: list[ReferenceRule]
    masked: dict[str, tuple[str, CodeTable, bool]]  # "path#view" -> the path, its table, benefits only


class CompiledRules:
    """Every rule of a RuleSet, compiled per input event type; evaluate() runs them over a batch."""

    def __init__(self, rules: RuleSet, types: EventTypes) -> None:
        self.rules = rules
        self.fallback: dict[str, str] = {}  # rule id -> why it runs per event
        self._programs: dict[str, _Program] = {}
        lowered: dict[str, tuple[_Node, Mapping[str, FieldType]] | ReferenceRule] = {}
        masked: dict[str, tuple[str, CodeTable, bool]] = {}
        for rule in rules:
            guarded = guarded_rule(rule, types)
            benefits_only = all(e.grants_a_benefit for e in rule.effects)
            views = {}  # a coded path is read from its column as this rule may see it
            for path, table in guarded.coded.items():
                key = views[path] = f"{path}#{'benefits' if benefits_only else 'any'}"
                masked[key] = (path, types.codes.get(table), benefits_only)
            try:
                lowered[rule.id] = (
                    _Lowering(guarded.checked, guarded.paths, views).lower(guarded.checked.expr),
                    guarded.paths,
                )
            except UnsupportedError as why:
                self.fallback[rule.id] = str(why)
                lowered[rule.id] = ReferenceRule(rule, types)
        for name in rules.input_types():
            emitter = _Emitter()
            results: list[tuple[Rule, int]] = []
            fallback: list[ReferenceRule] = []
            for rule in rules.for_input(name):
                found = lowered[rule.id]
                if isinstance(found, ReferenceRule):
                    fallback.append(found)
                    emitter.fields.update(found.paths)
                else:
                    emitter.fields.update(found[1])
                    results.append((rule, emitter.emit(found[0])))
            read_masked = {k: masked[k] for k in set(emitter.field_slots.values()) if k in masked}
            self._programs[name] = _Program(
                emitter.fields,
                emitter.constants,
                emitter.field_slots,
                emitter.steps,
                emitter.slot,
                results,
                fallback,
                read_masked,
            )

    def evaluate(
        self, event_type: str, columns: Mapping[str, Array], size: int
    ) -> list[tuple[Rule, npt.NDArray[np.int64]]]:
        """For each rule reading event_type: the int64 row indices where its condition holds."""
        found = self._run(event_type, columns, size)
        return [(rule, np.flatnonzero(holds).astype(np.int64, copy=False)) for rule, holds, _ in found]

    def outcomes(
        self, event_type: str, columns: Mapping[str, Array], size: int
    ) -> list[tuple[Rule, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
        """For each rule reading event_type, per row: whether its condition holds, and whether it erred."""
        found = self._run(event_type, columns, size)
        return [(rule, holds, np.zeros(size, np.bool_) if errors is None else errors) for rule, holds, errors in found]

    def _run(self, event_type: str, columns: Mapping[str, Array], size: int) -> list[tuple[Rule, Array, Mask]]:
        program = self._programs.get(event_type)
        if program is None:
            return []
        if type(size) is not int or size < 0:
            raise InvalidInputError("size", "must be a row count, 0 or more")
        batch = {path: _column(columns, path, t, size) for path, t in program.fields.items()}
        for key, (path, table, benefits_only) in program.masked.items():
            batch[key] = table.masked(batch[path], benefits_only)
        values: list[Value | None] = [None] * program.slot_count
        for slot, value in program.constants.items():
            values[slot] = value
        for slot, path in program.field_slots.items():
            values[slot] = (batch[path], None)
        out: list[tuple[Rule, Array, Mask]] = []
        shape = (size,)
        with np.errstate(all="ignore"):  # wrapped ints and NaN casts are masked as CEL errors, not warnings
            for slot, operation, args in program.steps:
                values[slot] = operation(*[values[a] for a in args])
            for rule, slot in program.results:
                result = values[slot]
                assert result is not None, "every step runs before the rules read it"
                holds, errors = result
                if holds.shape != shape:  # a condition folded to a constant
                    holds = np.broadcast_to(holds, shape)
                if errors is not None:
                    errors = np.broadcast_to(errors, shape) if errors.shape != shape else errors
                    holds = holds & ~errors
                out.append((rule, holds, errors))
        for reference in program.fallback:
            out.append((reference.rule, *reference.evaluate_columns(batch, size)))
        return out


class ColumnExpression:
    """One checked CEL expression (a condition or a whole number) lowered to column operations.

    For callers whose facts are read by their own names (``root=None``: programmes' facts,
    ``tessera.programs``); rules go through ``CompiledRules``. Construction raises
    ``UnsupportedError`` for what is not lowered, and the caller evaluates through CEL itself.
    """

    def __init__(
        self, checked: Checked, paths: Mapping[str, FieldType], node: Expr | None = None, root: str | None = None
    ) -> None:
        emitter = _Emitter()
        self._slot = emitter.emit(_Lowering(checked, paths, {}, root).lower(checked.expr if node is None else node))
        self._program = emitter
        self.fields = {p: paths[p] for p in emitter.field_slots.values()}

    def evaluate(self, columns: Mapping[str, Array], size: int) -> tuple[Array, npt.NDArray[np.bool_]]:
        """Per row: the expression's value, and whether it erred (CEL's errors: overflow, division by zero)."""
        program = self._program
        values: list[Value | None] = [None] * program.slot
        for slot, value in program.constants.items():
            values[slot] = value
        for slot, path in program.field_slots.items():
            values[slot] = (_column(columns, path, self.fields[path], size), None)
        with np.errstate(all="ignore"):
            for slot, operation, args in program.steps:
                values[slot] = operation(*[values[a] for a in args])
        result = values[self._slot]
        assert result is not None, "every step runs before the result is read"
        found, errors = result
        found = np.broadcast_to(found, (size,)) if found.shape != (size,) else found
        if errors is None:
            return found, np.zeros(size, np.bool_)
        return found, (np.broadcast_to(errors, (size,)) if errors.shape != (size,) else errors)


def _column(columns: Mapping[str, Array], path: str, field_type: FieldType, size: int) -> Array:
    """The column of ``path`` as the compiled steps expect it, cut to ``size`` rows."""
    try:
        found = np.asarray(columns[path])
    except KeyError:
        raise InvalidInputError(f"columns.{path}", "missing: a rule reads this field") from None
    if found.ndim != 1 or len(found) < size:
        raise InvalidInputError(f"columns.{path}", f"must be a 1-d array of at least {size} rows")
    found = found[:size]
    kind = found.dtype.kind
    if field_type is FieldType.number and kind == "f":
        return found.astype(np.float64, copy=False)
    if field_type is FieldType.boolean and kind == "b":
        return found
    if field_type is FieldType.text and kind in _STRING_KINDS:
        return found
    if field_type is FieldType.text and kind == "O":
        return found.astype(np.str_)
    if field_type in (FieldType.integer, FieldType.date, FieldType.timestamp) and (
        kind == "i" or (kind == "u" and found.dtype.itemsize <= _UNSIGNED_BYTES_MAX)
    ):
        return found.astype(np.int64, copy=False)
    raise InvalidInputError(f"columns.{path}", f"a {field_type.value} field cannot be read from {found.dtype} values")


# -- lowering: the checked CEL tree to _Node, or UnsupportedError---------------------------------------------------

_COMPARISONS = {"_<_": "lt", "_<=_": "le", "_>_": "gt", "_>=_": "ge", "_==_": "eq", "_!=_": "ne"}
_ARITHMETIC = {"_+_": "add", "_-_": "sub", "_*_": "mul", "_/_": "div", "_%_": "mod"}
_COMPARABLE = frozenset({"int", "double", "string", "bool"})
_STRING_TESTS = {"startsWith": "starts", "endsWith": "ends", "contains": "contains"}


class _Lowering:
    def __init__(
        self, checked: Checked, paths: Mapping[str, FieldType], views: Mapping[str, str], root: str | None = EVENT
    ) -> None:
        self._types = checked.types
        self._paths = paths
        self._views = views  # path -> the column it is read from, where that is a coded column's view
        self._prefix = "" if root is None else f"{root}."  # facts read by their own names have no root

    def type_of(self, node: Expr) -> str:
        return self._types.get(node.id, "unknown")

    def lower(self, node: Expr) -> _Node:
        if isinstance(node, Const):
            if node.kind not in _COMPARABLE:
                raise UnsupportedError(f"{node.kind} literals")
            # repr in the key: -0.0 == 0.0 in Python, but 1 / -0.0 is not 1 / 0.0, so they must not share a slot
            return _Node("const", (), (node.kind, node.value, repr(node.value)))
        if isinstance(node, Ident):
            path = node.name.removeprefix(self._prefix)
            if node.name.startswith(self._prefix) and path in self._paths:
                return _Node("field", (), self._views.get(path, path))
            raise UnsupportedError(f"the variable {node.name!r} (macros such as exists() and all())")
        if isinstance(node, Call):
            return self._call(node)
        raise UnsupportedError(f"{type(node).__name__} expressions (map literals, macros)")

    def _call(self, node: Call) -> _Node:
        fn, args = node.function, node.args
        types = [self.type_of(a) for a in args]
        if fn in ("_&&_", "_||_") and types == ["bool", "bool"]:
            return _Node("and" if fn == "_&&_" else "or", tuple(self.lower(a) for a in args))
        if fn == "!_" and types == ["bool"]:
            return _Node("not", (self.lower(args[0]),))
        if fn == "_?_:_" and types[0] == "bool" and types[1] == types[2] and types[1] in _COMPARABLE:
            return _Node("cond", tuple(self.lower(a) for a in args))
        if fn in _COMPARISONS and len(types) == BINARY_ARGS and types[0] == types[1] and types[0] in _COMPARABLE:
            return _Node(_COMPARISONS[fn], tuple(self.lower(a) for a in args))
        if fn in _ARITHMETIC and len(types) == BINARY_ARGS and types[0] == types[1]:
            op = f"{_ARITHMETIC[fn]}_{types[0]}"
            if op in _OPERATIONS:
                return _Node(op, tuple(self.lower(a) for a in args))
        if fn == "-_" and types in (["int"], ["double"]):
            return _Node(f"neg_{types[0]}", (self.lower(args[0]),))
        if fn == "@in" and isinstance(args[1], ListExpr) and types[0] in _COMPARABLE:
            elements = args[1].elements
            if any(self.type_of(e) != types[0] for e in elements):
                raise UnsupportedError("`in` a list whose elements are not all of the tested value's type")
            return _Node("in", (self.lower(args[0]), *(self.lower(e) for e in elements)))
        if fn in _STRING_TESTS and node.target is not None and self.type_of(node.target) == "string" == types[0]:
            return _Node(_STRING_TESTS[fn], (self.lower(node.target), self.lower(args[0])))
        if fn == "size":
            subject = [node.target] if node.target is not None else list(args)
            arity = 0 if node.target is not None else 1
            if len(subject) == 1 and len(args) == arity and self.type_of(subject[0]) == "string":
                return _Node("size", (self.lower(subject[0]),))
        if fn in ("int", "double") and node.target is None and types in (["int"], ["double"]):
            if fn == types[0]:
                return self.lower(args[0])  # int(int), double(double): the value itself
            return _Node("int_of_double" if fn == "int" else "double_of_int", (self.lower(args[0]),))
        shown = ", ".join(types)
        raise UnsupportedError(f"{fn}({shown})")


# -- emitting: _Node trees to one program of shared steps -----------------------------------------------------------


class _Emitter:
    def __init__(self) -> None:
        self.slots: dict[_Node, int] = {}
        self.slot = 0
        self.fields: dict[str, FieldType] = {}
        self.field_slots: dict[int, str] = {}
        self.constants: dict[int, Value] = {}
        self.steps: list[tuple[int, Callable[..., Value], tuple[int, ...]]] = []

    def emit(self, node: _Node) -> int:
        found = self.slots.get(node)
        if found is not None:
            return found
        args = tuple(self.emit(a) for a in node.args)
        slot = self.slots[node] = self.slot
        self.slot += 1
        if node.op == "field":
            assert isinstance(node.value, str)
            self.field_slots[slot] = node.value
        elif node.op == "const":
            self.constants[slot] = _constant(node.value)
        elif all(a in self.constants for a in args):  # only literals below: fold it once, now
            with np.errstate(all="ignore"):
                self.constants[slot] = _OPERATIONS[node.op](*[self.constants[a] for a in args])
        else:
            self.steps.append((slot, _OPERATIONS[node.op], args))
        return slot


def _constant(spec: object) -> Value:
    assert isinstance(spec, tuple)
    kind, value, _ = spec
    dtype = {"int": np.int64, "double": np.float64, "bool": np.bool_, "string": np.str_}[kind]
    return np.asarray(value, dtype=dtype), None


# -- operations: each takes and returns (values, error mask) --------------------------------------------------------


def _either(*masks: Mask) -> Mask:
    found: Mask = None
    for m in masks:
        if m is not None:
            found = m if found is None else found | m
    return found


def _and(a: Value, b: Value) -> Value:
    (x, ex), (y, ey) = a, b
    if ex is None and ey is None:
        return x & y, None
    false = (~x & ~ex if ex is not None else ~x) | (~y & ~ey if ey is not None else ~y)
    return ~false, _either(ex, ey) & ~false  # type: ignore[operator]


def _or(a: Value, b: Value) -> Value:
    (x, ex), (y, ey) = a, b
    if ex is None and ey is None:
        return x | y, None
    true = (x & ~ex if ex is not None else x) | (y & ~ey if ey is not None else y)
    return true, _either(ex, ey) & ~true  # type: ignore[operator]


def _not(a: Value) -> Value:
    return ~a[0], a[1]


def _cond(c: Value, a: Value, b: Value) -> Value:
    (test, et), (x, ex), (y, ey) = c, a, b
    branch: Mask = None
    if ex is not None or ey is not None:
        branch = np.where(test, False if ex is None else ex, False if ey is None else ey)
    return np.where(test, x, y), _either(et, branch)


def _compare(operation: Callable[[Array, Array], Array]) -> Callable[[Value, Value], Value]:
    def compared(a: Value, b: Value) -> Value:
        return operation(a[0], b[0]), _either(a[1], b[1])

    return compared


def _double(operation: Callable[[Array, Array], Array]) -> Callable[[Value, Value], Value]:
    return _compare(operation)  # IEEE arithmetic never errs in CEL: x / 0.0 is an infinity


def _add_int(a: Value, b: Value) -> Value:
    x, y = a[0], b[0]
    r = x + y
    return r, _either(a[1], b[1], ((x ^ r) & (y ^ r)) < 0)


def _sub_int(a: Value, b: Value) -> Value:
    x, y = a[0], b[0]
    r = x - y
    return r, _either(a[1], b[1], ((x ^ y) & (x ^ r)) < 0)


def _mul_int(a: Value, b: Value) -> Value:
    x, y = a[0], b[0]
    r = x * y
    divisor = np.where(x == 0, 1, x)
    # Exact iff dividing back gives y with no remainder; MIN * -1 wraps onto itself, so it is named.
    wrapped = (r // divisor != y) | (r % divisor != 0)
    wrapped = (wrapped & (x != 0)) | ((x == -1) & (y == _INT_MIN)) | ((y == -1) & (x == _INT_MIN))
    return r, _either(a[1], b[1], wrapped)


def _divisor(a: Value, b: Value) -> tuple[Array, Array, Mask]:
    x, y = a[0], b[0]
    bad = (y == 0) | ((x == _INT_MIN) & (y == -1))
    return x, np.where(bad, 1, y), _either(a[1], b[1], bad)


def _div_int(a: Value, b: Value) -> Value:
    x, y, errors = _divisor(a, b)
    remainder = np.fmod(x, y)
    return (x - remainder) // y, errors  # exact division: floor and truncation agree


def _mod_int(a: Value, b: Value) -> Value:
    x, y, errors = _divisor(a, b)
    return np.fmod(x, y), errors  # the sign of the dividend, as CEL has it


def _neg_int(a: Value) -> Value:
    return -a[0], _either(a[1], a[0] == _INT_MIN)


def _neg_double(a: Value) -> Value:
    return -a[0], a[1]


def _in(value: Value, *elements: Value) -> Value:
    x = value[0]
    errors = _either(value[1], *(e[1] for e in elements))
    if not elements:
        return np.zeros_like(x, dtype=np.bool_), errors
    if all(e[0].ndim == 0 for e in elements) and x.dtype.kind in "iUT":
        return np.isin(x, np.array([e[0] for e in elements])), errors
    found = x == elements[0][0]
    for e in elements[1:]:
        found = found | (x == e[0])
    return found, errors


def _int_of_double(a: Value) -> Value:
    x = a[0]
    fits = (x > -_TWO_63) & (x < _TWO_63)  # NaN fits nowhere
    return np.where(fits, x, 0.0).astype(np.int64), _either(a[1], ~fits)


def _double_of_int(a: Value) -> Value:
    return a[0].astype(np.float64), a[1]


def _string(operation: Callable[[Array, Array], Array]) -> Callable[[Value, Value], Value]:
    def tested(a: Value, b: Value) -> Value:
        return operation(a[0], b[0]), _either(a[1], b[1])

    return tested


def _size(a: Value) -> Value:
    return np.strings.str_len(a[0]).astype(np.int64), a[1]


_OPERATIONS: dict[str, Callable[..., Value]] = {
    "and": _and,
    "or": _or,
    "not": _not,
    "cond": _cond,
    "lt": _compare(np.less),
    "le": _compare(np.less_equal),
    "gt": _compare(np.greater),
    "ge": _compare(np.greater_equal),
    "eq": _compare(np.equal),
    "ne": _compare(np.not_equal),
    "add_int": _add_int,
    "sub_int": _sub_int,
    "mul_int": _mul_int,
    "div_int": _div_int,
    "mod_int": _mod_int,
    "add_double": _double(np.add),
    "sub_double": _double(np.subtract),
    "mul_double": _double(np.multiply),
    "div_double": _double(np.divide),
    "add_string": _string(np.strings.add),
    "neg_int": _neg_int,
    "neg_double": _neg_double,
    "in": _in,
    "starts": _string(np.strings.startswith),
    "ends": _string(np.strings.endswith),
    "contains": _string(lambda s, sub: np.strings.find(s, sub) >= 0),
    "size": _size,
    "int_of_double": _int_of_double,
    "double_of_int": _double_of_int,
}
