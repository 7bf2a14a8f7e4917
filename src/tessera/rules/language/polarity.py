"""Polarity: a grant may open a door only because of a protected fact, never because of its absence (issue 16).

Health and disability data may drive only eligibility grants (``guard.py``). That is not
enough: ``!event.claimant.chronic_condition`` grants a benefit to the healthy, which is a
penalty on the sick, and ``event.age_band >= 60 && !event.claimant.chronic_condition``
takes a benefit of the elderly away from those who are ill. So a condition of a grant must
also read each protected fact the right way round.

**The property.** Each protected field has an *absent* value: ``false``, ``0``, ``0.0``,
``""`` (and ``0`` for dates and timestamps). Order each such field's values flatly: absent
below every other value, the others side by side; order a condition's outcomes
``false < error < true`` (a rule fires only on ``true``). A condition is admitted only if it
is **monotone non-decreasing in every protected field**: making a protected fact present
(from its absent value to any other) never turns a condition that holds into one that does
not. Equivalently: masking any protected facts of any event (setting them absent) never
makes the condition hold where it did not hold. The rule never fires on the absence of the
fact, and the fact never narrows a grant the rule would make without it.

**How it is checked**, on the checked tree, per protected field, as *widening* (monotone),
*narrowing* (antitone), *mixed* or *unknown*:

- a boolean sub-expression whose only variable is one protected field is a function of that
  field alone, so its polarity follows from its values where the fact is absent, which CEL
  itself computes. A numeric fact is a magnitude: a value below its absent 0 means no more
  than 0 does (an agency must not code "assessed as none" as -1), so -1 and the lowest value
  are absent too. False at every absent value (it can only become true when the fact is
  present) is widening (``event.claimant.disability_grade >= 2``, ``== 3``, ``in [2, 3]``,
  ``> 0``, ``event.claimant.chronic_condition``, ``!(!x)``); true at every one is narrowing
  (``< 2``, ``<= 1``, ``!= 2``, ``!x``); true at some and not at others is mixed (``< 0``,
  ``== -1``, ``!= 0``: true at -1, false at 0; ``== 0``: the other way round); an error at
  any is unknown. Narrowing and mixed both fire where the fact is absent, but only narrowing
  is antitone (true at absence, the top outcome): its negation is false at every absent
  value, so ``!`` may turn it into widening. The negation of a mixed one is still true at
  some absent value (``!(x < 0 && y)`` holds at 0 and not at -1), so it stays refused;
- ``&&`` and ``||`` keep their operands' polarities (both are monotone in each operand under
  ``false < error < true``, as CEL's absorbing ``&&`` and ``||`` are); a field with
  different polarities in the two operands is unknown;
- ``!`` swaps widening and narrowing; any other polarity under ``!`` is unknown;
- ``c ? a : b`` keeps the polarities of ``a`` and ``b``; a protected field in ``c`` is
  unknown (an error in ``c`` makes the whole expression an error, so no rewriting into
  ``&&`` and ``||`` is sound);
- anything else that reads a protected field (a comparison with another field, arithmetic
  over two fields, a macro) is unknown.

Only widening is admitted. The analysis is sound, not complete: some monotone conditions
are refused (``(event.claimant.chronic_condition ? 1 : 0) + event.age_band >= 61``, a
protected fact in arithmetic with another field); they can be written plainly. A property test checks the
soundness on random conditions and events (``tests/rules/language/test_polarity.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tessera.errors import InvalidInputError, ProtectedCategoryError
from tessera.limits import ID_LIMIT
from tessera.rules.categories import FAVOURABLE_ONLY, Category, EventType, FieldType
from tessera.rules.language.cel_ast import (
    BINARY_ARGS,
    CONDITIONAL_ARGS,
    Call,
    Checked,
    Const,
    Expr,
    Ident,
    ListExpr,
    check,
    children,
)

ABSENT: Mapping[FieldType, object] = {
    FieldType.integer: 0,
    FieldType.number: 0.0,
    FieldType.text: "",
    FieldType.boolean: False,
    FieldType.date: 0,
    FieldType.timestamp: 0,
}
"""What a protected fact reads as where it is absent: no grade, no condition, no diagnosis."""

_INT64_MIN = -ID_LIMIT  # CEL int is int64
BELOW_ABSENT: Mapping[FieldType, tuple[object, ...]] = {
    FieldType.integer: (-1, _INT64_MIN),
    FieldType.number: (-1.0, -math.inf),
    FieldType.date: (-1, _INT64_MIN),
    FieldType.timestamp: (-1, _INT64_MIN),
}
"""Values below a numeric fact's absent value, which must read as absent too: a grade of -1 is no grade."""

_INFIX = {
    "_&&_": "&&", "_||_": "||", "_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=",
    "_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%", "@in": "in",
}  # fmt: skip
_PREFIX = {"!_": "!", "-_": "-"}


class Polarity(StrEnum):
    """How a condition reads one protected field."""

    widening = "widening"  # more of the fact never turns the condition off: admitted
    narrowing = "narrowing"  # true wherever the fact is absent (0, -1, the lowest): refused, and widening under !
    mixed = "mixed"  # true at one absent value, false at another: refused, and unknown under !
    unknown = "unknown"  # the guard cannot tell: refused


_SWAPPED = {Polarity.widening: Polarity.narrowing, Polarity.narrowing: Polarity.widening}


@dataclass(frozen=True, slots=True)
class ProtectedField:
    """A protected field a condition reads: its type, its category, and its name for errors."""

    type: FieldType
    category: Category
    label: str  # "benefit.claimed.claimant.disability_grade"


def protected_reads(paths: Iterable[str], inputs: Sequence[EventType], root: str | None) -> dict[str, ProtectedField]:
    """The protected fields among ``paths`` (``claimant.chronic_condition``), by variable name (``root.path``).

    ``root`` None: each path is its own variable name (a programme's facts).
    """
    found: dict[str, ProtectedField] = {}
    for path in paths:
        for t in inputs:
            leaf = t.leaf_fields().get(path)
            category = next((c for c in leaf.categories if c in FAVOURABLE_ONLY), None) if leaf else None
            if leaf is not None and category is not None:
                found[path if root is None else f"{root}.{path}"] = ProtectedField(
                    leaf.type, category, f"{t.name}.{path}"
                )
                break
    return found


def require_widening(where: str, rule_id: str, checked: Checked, protected: Mapping[str, ProtectedField]) -> None:
    """Refuse the condition unless it reads every protected field (by variable name) only so as to widen a grant.

    The error is ``ProtectedCategoryError`` naming the rule (``where``, and ``rule_id`` in the
    message), the field and its category.
    """
    found = polarities(checked, {name: f.type for name, f in protected.items()})
    for name in sorted(found, key=lambda n: protected[n].label):
        polarity = found[name]
        if polarity is Polarity.widening:
            continue
        field = protected[name]
        if polarity in (Polarity.narrowing, Polarity.mixed):
            reason = (
                f"and rule {rule_id!r} fires where it is absent, or lets it narrow a grant made without it: a grant "
                "may open only because of the protected fact, never its absence (read it as a lower bound, "
                "e.g. >= 2 or == true; never !, == 0, < or !=)"
            )
        else:
            reason = (
                f"and the guard cannot tell that rule {rule_id!r} reads it only to widen a grant: compare the field "
                "alone with literals (>= 2, == true, in [2, 3]), joined by &&, || and an even number of !"
            )
        raise ProtectedCategoryError(where, field.label, field.category.value, reason)


def polarities(checked: Checked, protected: Mapping[str, FieldType]) -> dict[str, Polarity]:
    """The polarity of every protected variable (``event.claimant.chronic_condition``) the condition reads."""
    reads: dict[int, frozenset[str]] = {}
    _reads(checked.expr, reads)
    return _Analysis(checked, protected, reads).polarity(checked.expr)


def _reads(node: Expr, out: dict[int, frozenset[str]]) -> frozenset[str]:
    """Every identifier under ``node``, per node id (bottom up, once)."""
    found: set[str] = {node.name} if isinstance(node, Ident) else set()
    for child in children(node):
        found |= _reads(child, out)
    out[node.id] = frozenset(found)
    return out[node.id]


class _Analysis:
    def __init__(self, checked: Checked, protected: Mapping[str, FieldType], reads: dict[int, frozenset[str]]) -> None:
        self._types = checked.types
        self._protected = protected
        self._reads = reads

    def polarity(self, node: Expr) -> dict[str, Polarity]:
        names = self._reads[node.id]
        touched = names & self._protected.keys()
        if not touched:
            return {}
        if len(names) == 1 and self._types.get(node.id) == "bool":
            (name,) = touched
            field_type = self._protected[name]
            values = _values_at(node, name, field_type, (ABSENT[field_type], *BELOW_ABSENT.get(field_type, ())))
            if None in values:
                return {name: Polarity.unknown}  # an error where the fact is absent
            if True not in values:
                return {name: Polarity.widening}
            if False not in values:
                return {name: Polarity.narrowing}  # antitone: ! makes it widening
            return {name: Polarity.mixed}  # true at one absent value, false at another (< 0, == 0, != 0)
        if isinstance(node, Call) and node.target is None:
            if node.function in ("_&&_", "_||_") and len(node.args) == BINARY_ARGS:
                return _merged(self.polarity(node.args[0]), self.polarity(node.args[1]))
            if node.function == "!_" and len(node.args) == 1:
                return {n: _SWAPPED.get(p, Polarity.unknown) for n, p in self.polarity(node.args[0]).items()}
            if node.function == "_?_:_" and len(node.args) == CONDITIONAL_ARGS:
                test, yes, no = node.args
                unknown = dict.fromkeys(self._reads[test.id] & self._protected.keys(), Polarity.unknown)
                return _merged(_merged(unknown, self.polarity(yes)), self.polarity(no))
        return dict.fromkeys(touched, Polarity.unknown)


def _merged(a: Mapping[str, Polarity], b: Mapping[str, Polarity]) -> dict[str, Polarity]:
    out = dict(a)
    for name, p in b.items():
        out[name] = p if out.get(name, p) is p else Polarity.unknown
    return out


def _values_at(node: Expr, name: str, field_type: FieldType, values: tuple[object, ...]) -> list[bool | None]:
    """What ``node``, a function of the variable ``name`` alone, is at each of ``values``; None for an error.

    CEL itself evaluates it, from the node written back as text: the meaning is the evaluator's.
    """
    try:
        checked = check(_cel(node), {name: field_type}, "condition")
    except (_UnsupportedError, InvalidInputError):
        return [None] * len(values)
    results = [checked.program.eval(data={name: v}).value() for v in values]
    return [r if isinstance(r, bool) else None for r in results]


class _UnsupportedError(Exception):
    """A node this module does not write back as CEL text (a macro, a map)."""


def _cel(node: Expr) -> str:
    """``node`` as CEL text, fully parenthesised, for CEL to evaluate on its own."""
    if isinstance(node, Const):
        return _literal(node)
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, ListExpr):
        return "[" + ", ".join(_cel(e) for e in node.elements) + "]"
    if isinstance(node, Call):
        args = [_cel(a) for a in node.args]
        if node.target is None and node.function in _INFIX and len(args) == BINARY_ARGS:
            return f"({args[0]} {_INFIX[node.function]} {args[1]})"
        if node.target is None and node.function in _PREFIX and len(args) == 1:
            return f"({_PREFIX[node.function]}{args[0]})"
        if node.target is None and node.function == "_?_:_" and len(args) == CONDITIONAL_ARGS:
            return f"({args[0]} ? {args[1]} : {args[2]})"
        if node.function.isidentifier():
            call = f"{node.function}({', '.join(args)})"
            return call if node.target is None else f"{_cel(node.target)}.{call}"
    raise _UnsupportedError(type(node).__name__)


def _literal(node: Const) -> str:
    value = node.value
    if node.kind == "bool":
        return "true" if value else "false"
    if node.kind == "null":
        return "null"
    if node.kind == "int" and isinstance(value, int):
        return f"({value + 1} - 1)" if value < 0 else str(value)  # -2**63 has no literal of its own
    if node.kind == "uint" and isinstance(value, int):
        return f"{value}u"
    if node.kind == "double" and isinstance(value, float) and math.isfinite(value):
        return f"({value!r})"
    if node.kind == "string" and isinstance(value, str):
        return '"' + "".join(ch if ch.isalnum() and ch.isascii() else f"\\U{ord(ch):08x}" for ch in value) + '"'
    if node.kind == "bytes" and isinstance(value, bytes):
        return 'b"' + "".join(f"\\x{b:02x}" for b in value) + '"'
    raise _UnsupportedError(node.kind)
