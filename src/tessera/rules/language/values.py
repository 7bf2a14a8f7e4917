"""Values: what a condition's comparisons on coded and free-text fields can match (DESIGN.md 1).

A field's category says what the field is; its values can say more. ``event.merchant_category
== 8661`` reads no field labelled religion, yet it is a rule about religion. So the guard
reads values too, after the field-by-field checks of ``guard.py``:

**Coded fields** (their declaration names a code table, ``codes.py``). Every boolean
sub-expression whose only field is one coded field (``event.mcc == 8661``, ``in [...]``, a
range ``>= 8600 && <= 8700``, ``event.mcc - 8000 == 661``, ``event.mcc / 10 == 866``,
``string(event.mcc).startsWith("86")``) is a function of that field alone, so CEL itself
evaluates it on every value of the table and on the *withheld* value (what the feed shows a
rule in place of a code it may not read, or one the table does not list). Which of those
values it can match depends on where it sits: under ``&&`` and ``||`` the values where it
is true, under ``!`` those where it is false, as the condition of ``? :`` or an operand of
anything else both. A value where it errs counts on both sides. The rule reads the
categories of every value it can match:

- a forbidden category refuses the rule, whatever its effects;
- health or disability refuses it unless every effect grants a benefit (eligibility);
- matching the withheld value reads what it stands for: refused whenever codes the rule may
  not read stand behind it, and for any rule that is not purely favourable; and a grant that
  matches it but not a health or disability code fires on that fact's absence (``event.ledger
  != 7`` for a disability quota's ledger 7), which section 3 of issue 16 refuses;
- a comparison that matches no registered value is refused unless the rule is purely favourable.

``!=`` and ``not in`` therefore read almost every category in the table.

A coded field read any other way (compared with another field, through arithmetic or a
function whose result meets another field, in a macro) cannot be resolved to registered
values: it is taken to match every value, so it is refused whenever the table holds a value
the rule may not read (``mcc`` does), and otherwise for any rule not purely favourable.

**Free text**: a ``str`` field, or an ``int`` field of category ``reference``, with no code
table (a lender's name, a docket number, a note). Its values can carry any category (a
church's or a clinic's name), so a rule that is not purely favourable may not read it at
all: not by ``==``, ``contains``, ``startsWith``, ``matches`` or ``size``. Equality with
registered values needs a code table.

Purely favourable: every effect grants a benefit or raises a score. What such a rule reads
that the guard cannot resolve, the feed still filters: a rule never sees a value it may not
read (``CodeTable.masked``, applied by ``compiler.py`` to every coded column).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tessera.errors import InvalidInputError, ProtectedCategoryError, TesseraError
from tessera.rules.categories import FAVOURABLE_ONLY, FORBIDDEN, Category, EventType, FieldType
from tessera.rules.codes import SEVERITY, Code, CodeTable, CodeTables, CodeValue
from tessera.rules.language.cel_ast import (
    BINARY_ARGS,
    CONDITIONAL_ARGS,
    Call,
    Checked,
    Comprehension,
    Const,
    Expr,
    Ident,
    ListExpr,
    check,
    children,
)

FREE_TEXT = "free_text"  # the category an error names for free text: it may carry any
EXAMPLES_MAX = 3  # codes an error lists
_EVALUATED_MAX = 4096  # sub-expressions whose outcomes are cached (the guard runs again when rules compile)


@dataclass(frozen=True, slots=True)
class ValueReads:
    """What a condition admitted by the guard reads through values."""

    coded: Mapping[str, str]  # path -> code table, for every coded field it reads
    categories: frozenset[Category]  # the categories of every registered value its comparisons can match


@dataclass(frozen=True, slots=True)
class _Field:
    label: str  # "ledger.transfer.merchant_category"
    shown: str  # "event.merchant_category"
    type: FieldType
    table: CodeTable | None  # None: free text


def read_values(
    where: str,
    rule_id: str,
    checked: Checked,
    *,
    inputs: Sequence[EventType],
    paths: Mapping[str, FieldType],
    codes: CodeTables,
    favourable: bool,
    benefits_only: bool,
    root: str | None = "event",
) -> ValueReads:
    """Check what ``checked`` can match through its coded and free-text fields; raise naming the rule and field.

    ``favourable``: every effect of the rule is favourable (a grant, a raised score);
    ``benefits_only``: every effect grants a benefit, so health and disability values are readable;
    ``root``: the name fields are read through (None: each path is its own variable, ``guard.py``).
    """
    field = f"{where}.condition"
    prefix = "" if root is None else f"{root}."
    sensitive = _sensitive(field, inputs, paths, codes, prefix)
    if not sensitive:
        return ValueReads({}, frozenset())
    walk = _Walk(checked, sensitive, frozenset(prefix + p for p in paths))
    walk.visit(checked.expr, 1)
    problems: list[tuple[int, TesseraError]] = []
    categories: set[Category] = set()
    for node, name, polarity in walk.sites:
        f = sensitive[name]
        assert f.table is not None, "only coded fields make sites"
        matched = _matched(node, name, f, polarity, field)
        problems.extend(_judged(where, rule_id, f, matched, favourable=favourable, benefits_only=benefits_only))
        categories.update(c for v in matched if (code := f.table.meaning(v)) for c in code.categories)
    for name in walk.unresolved:
        f = sensitive[name]
        assert f.table is not None, "only coded fields are unresolved"
        readable = f.table.readable(benefits_only)
        categories.update(c for code in f.table if code.value in readable for c in code.categories)
        problem = _unresolved(where, rule_id, field, f, favourable=favourable, benefits_only=benefits_only)
        if problem is not None:
            problems.append(problem)
    for name in walk.free:
        if not favourable:
            problems.append((4, _free_text(where, rule_id, sensitive[name])))
    if problems:
        raise min(problems, key=lambda p: p[0])[1]  # the most severe; the first of those
    coded = {name.removeprefix(prefix): f.table.name for name, f in sensitive.items() if f.table is not None}
    return ValueReads(dict(sorted(coded.items())), frozenset(categories))


def is_free_text(field_type: FieldType, categories: Sequence[Category], codes: str | None) -> bool:
    """Whether a field is free text: no code table, and text, or a reference number (an id, a docket)."""
    return codes is None and (
        field_type is FieldType.text or (field_type is FieldType.integer and Category.reference in categories)
    )


def _sensitive(
    field: str, inputs: Sequence[EventType], paths: Mapping[str, FieldType], codes: CodeTables, prefix: str
) -> dict[str, _Field]:
    """The coded and free-text fields among ``paths``, by variable name (``event.merchant_category``)."""
    found: dict[str, _Field] = {}
    for path in paths:
        seen: set[str | None] = set()
        for t in inputs:
            leaf = t.leaf_fields()[path]
            seen.add(leaf.codes)
            name = prefix + path
            if name in found:
                continue
            if leaf.codes is not None:
                found[name] = _Field(f"{t.name}.{path}", name, leaf.type, codes.get(leaf.codes))
            elif is_free_text(leaf.type, leaf.categories, leaf.codes):
                found[name] = _Field(f"{t.name}.{path}", name, leaf.type, None)
        if len(seen) > 1:
            names = ", ".join(t.name for t in inputs)
            raise InvalidInputError(field, f"event.{path} takes its values from different code tables in {names}")
    return found


class _Walk:
    """Find the sites (boolean functions of one coded field), the unresolved coded reads and the free-text reads."""

    def __init__(self, checked: Checked, sensitive: Mapping[str, _Field], variables: frozenset[str]) -> None:
        self._types = checked.types
        self._sensitive = sensitive
        self._variables = variables  # the names a read of the input goes by (event.amount)
        self._reads: dict[int, frozenset[str]] = {}
        self._opaque: dict[int, bool] = {}
        self._scan(checked.expr)
        self.sites: list[tuple[Expr, str, int]] = []  # node, variable, polarity (1 true side, -1 false, 0 both)
        self.unresolved: dict[str, None] = {}  # insertion-ordered sets
        self.free: dict[str, None] = {}

    def _scan(self, node: Expr) -> None:
        """Per node: the event variables under it, and whether CEL text can be written back for it."""
        reads: set[str] = set()
        opaque = not isinstance(node, Const | Ident | Call | ListExpr)
        if isinstance(node, Ident):
            if node.name in self._variables:
                reads.add(node.name)
            else:
                opaque = True  # a macro's variable
        if isinstance(node, Comprehension) or (
            isinstance(node, Const) and isinstance(node.value, float) and not math.isfinite(node.value)
        ):
            opaque = True
        for child in children(node):
            self._scan(child)
            reads |= self._reads[child.id]
            opaque = opaque or self._opaque[child.id]
        self._reads[node.id] = frozenset(reads)
        self._opaque[node.id] = opaque

    def visit(self, node: Expr, polarity: int) -> None:
        reads = self._reads[node.id]
        touched = [n for n in sorted(reads) if n in self._sensitive]
        if not touched:
            return
        if isinstance(node, Ident):
            if self._sensitive[node.name].table is None:
                self.free.setdefault(node.name)
            else:
                self.unresolved.setdefault(node.name)
            return
        single = len(reads) == 1 and self._sensitive[touched[0]].table is not None and not self._opaque[node.id]
        if single and self._types.get(node.id) == "bool":
            self.sites.append((node, touched[0], polarity))
            return
        if isinstance(node, Call) and node.target is None:
            if node.function in ("_&&_", "_||_"):
                for arg in node.args:
                    self.visit(arg, polarity)
                return
            if node.function == "!_" and len(node.args) == 1:
                self.visit(node.args[0], -polarity)
                return
            if node.function == "_?_:_" and len(node.args) == CONDITIONAL_ARGS and self._types.get(node.id) == "bool":
                self.visit(node.args[0], 0)  # an error in the test errs the whole: no side is safe to assume
                self.visit(node.args[1], polarity)
                self.visit(node.args[2], polarity)
                return
        if single:  # a value of the coded field (arithmetic, a conversion) that meets something else
            self.unresolved.setdefault(touched[0])
        for child in children(node):
            self.visit(child, 0)


_evaluated: dict[tuple[str, str, str], tuple[tuple[CodeValue, bool | None], ...]] = {}


def _matched(node: Expr, name: str, f: _Field, polarity: int, field: str) -> frozenset[CodeValue]:
    """The values of ``f``'s table, and the withheld value, that the site can match on its side(s)."""
    assert f.table is not None
    table = f.table
    text = _cel(node)
    key = (table.fingerprint, name, text)
    outcomes = _evaluated.get(key)
    if outcomes is None:
        program = check(text, {name: f.type}, field).program
        values = [*(c.value for c in table), table.withheld]
        found: list[tuple[CodeValue, bool | None]] = []
        for v in values:
            result = program.eval(data={name: v}).value()
            found.append((v, result if isinstance(result, bool) else None))
        if len(_evaluated) >= _EVALUATED_MAX:
            _evaluated.clear()
        outcomes = _evaluated[key] = tuple(found)
    wanted = {1: (True, None), -1: (False, None), 0: (True, False, None)}[polarity]
    return frozenset(v for v, result in outcomes if result in wanted)


def _judged(
    where: str, rule_id: str, f: _Field, matched: frozenset[CodeValue], *, favourable: bool, benefits_only: bool
) -> list[tuple[int, TesseraError]]:
    field = f"{where}.condition"
    assert f.table is not None
    table, shown = f.table, f.shown
    codes = [code for code in table if code.value in matched]
    out: list[tuple[int, TesseraError]] = []
    present = {c for code in codes for c in code.categories}
    refused = [c for c in SEVERITY if c in present and (c in FORBIDDEN or not benefits_only)]
    if refused:
        category = refused[0]
        if category in FORBIDDEN:
            which = "which no rule may read"
        else:
            which = (
                "which only a rule whose every effect grants a benefit (eligibility) may read, never a score, a "
                "restriction or a denial"
            )
        if len(refused) == 1:
            matches = _examples(c for c in codes if category in c.categories)
        else:
            matches = "codes of " + "; ".join(
                f"{c.value}: {_examples((x for x in codes if c in x.categories), 2)}" for c in refused
            )
        reason = f"{which} (rule {rule_id!r}): {shown}, as compared here, can match {matches}"
        out.append((0 if category in FORBIDDEN else 1, ProtectedCategoryError(where, f.label, category.value, reason)))
    if table.withheld in matched:
        behind = table.most_severe(benefits_only)
        withheld = (
            f"the withheld value {table.withheld!r}, which a rule sees in place of every code it may not read "
            "and every code with no registered meaning"
        )
        advice = "compare it with the codes the rule is about (==, in [...], or a range bounded on both sides)"
        absent = [c for c in table if c.value not in matched and c.categories & FAVOURABLE_ONLY]
        if behind is not None:
            reason = (
                f"which it may not read (rule {rule_id!r}): {shown}, as compared here, can match {withheld} "
                f"({_withheld_categories(table, benefits_only)}); {advice}"
            )
            out.append((2, ProtectedCategoryError(where, f.label, behind.value, reason)))
        elif benefits_only and absent:
            # A grant firing on every code but the protected ones opens a door on the fact's absence (issue 16, 3).
            category = next(c for c in SEVERITY if c in absent[0].categories and c in FAVOURABLE_ONLY)
            reason = (
                f"a grant may open a door only because of a protected fact, never because of its absence (rule "
                f"{rule_id!r}): {shown}, as compared here, fires on anything but {_examples(absent)}"
            )
            out.append((1, ProtectedCategoryError(where, f.label, category.value, reason)))
        elif not favourable:
            out.append((5, InvalidInputError(field, f"rule {rule_id!r}: {shown} can match {withheld}; {advice}")))
    elif not codes and not favourable:
        message = f"rule {rule_id!r}: {shown}, as compared here, matches no value of code table {table.name!r}"
        out.append((5, InvalidInputError(field, message + ": a value with no registered meaning cannot be read")))
    return out


def _unresolved(
    where: str, rule_id: str, field: str, f: _Field, *, favourable: bool, benefits_only: bool
) -> tuple[int, TesseraError] | None:
    """A coded field read so that the guard cannot tell which values it matches: as if it matched every value.

    Refused for any rule when the table holds values the rule may not read (a forbidden category
    refuses whatever the effect), else for any rule that is not purely favourable.
    """
    assert f.table is not None
    shown = f.shown
    how = (
        f"{shown} is read in a way the guard cannot resolve to registered codes (compared with another field, "
        "through arithmetic or a function whose result meets another value, or in a macro), so it is taken to "
        "match every code"
    )
    advice = "compare the field alone with literal codes (==, in [...], a range bounded on both sides)"
    behind = f.table.most_severe(benefits_only)
    if behind is None:
        if favourable:
            return None
        return 5, InvalidInputError(field, f"rule {rule_id!r}: {how}; only a purely favourable rule may; {advice}")
    reason = (
        f"which it may not read (rule {rule_id!r}): {how} ({_withheld_categories(f.table, benefits_only)}); {advice}"
    )
    return 3, ProtectedCategoryError(where, f.label, behind.value, reason)


def _free_text(where: str, rule_id: str, f: _Field) -> TesseraError:
    reason = (
        f"(rule {rule_id!r}): it is free text, which can carry any category of data (a church's, a party's or a "
        "clinic's name), so a rule that can lower a score, restrict or deny may not read it at all, not with ==, "
        "contains(), startsWith(), endsWith(), matches() or size(); compare it only in a purely favourable rule, "
        "or give the field a code table of registered values"
    )
    return ProtectedCategoryError(where, f.label, FREE_TEXT, reason)


def _withheld_categories(table: CodeTable, benefits_only: bool) -> str:
    """The categories a rule may not read among a table's codes, each with an example."""
    parts = []
    for category in SEVERITY:
        if category in FAVOURABLE_ONLY and benefits_only:
            continue
        example = next((c for c in table if category in c.categories), None)
        if example is not None:
            parts.append(f"{category.value}: {example.value} {example.label}")
    return "codes of " + "; ".join(parts) + " among them"


def _examples(codes: Iterable[Code], limit: int = EXAMPLES_MAX) -> str:
    found = list(codes)
    shown = ", ".join(f"{c.value} ({c.label})" for c in found[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else "")


# -- CEL text back from a checked tree, for CEL to evaluate a sub-expression on its own ------------------------------

_INFIX = {
    "_&&_": "&&", "_||_": "||", "_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=",
    "_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%", "@in": "in",
}  # fmt: skip
_PREFIX = {"!_": "!", "-_": "-"}


def _cel(node: Expr) -> str:
    """``node`` as CEL text, fully parenthesised; only nodes the walk did not find opaque reach here."""
    if isinstance(node, Const):
        return _literal(node)
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, ListExpr):
        return "[" + ", ".join(_cel(e) for e in node.elements) + "]"
    assert isinstance(node, Call), "opaque nodes are never written back"
    args = [_cel(a) for a in node.args]
    if node.target is None and node.function in _INFIX and len(args) == BINARY_ARGS:
        return f"({args[0]} {_INFIX[node.function]} {args[1]})"
    if node.target is None and node.function in _PREFIX and len(args) == 1:
        return f"({_PREFIX[node.function]}{args[0]})"
    if node.target is None and node.function == "_?_:_" and len(args) == CONDITIONAL_ARGS:
        return f"({args[0]} ? {args[1]} : {args[2]})"
    call = f"{node.function}({', '.join(args)})"
    return call if node.target is None else f"{_cel(node.target)}.{call}"


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
        return '"' + "".join(ch if ch.isascii() and ch.isalnum() else f"\\U{ord(ch):08x}" for ch in value) + '"'
    if node.kind == "bytes" and isinstance(value, bytes):
        return 'b"' + "".join(f"\\x{b:02x}" for b in value) + '"'
    raise AssertionError(f"no CEL text for a {node.kind} literal")  # the walk finds such nodes opaque
