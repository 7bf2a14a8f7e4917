"""A cycle's preview: eligibility and every line's amount over all units at once, the totals, the budget.

Each condition and formula is the one the loader admitted (``formulas.py``, the rules' guard),
lowered by the rules' compiler to numpy column operations (``tessera.rules.ColumnExpression``):
no Python work per unit. What the compiler does not lower runs through CEL itself, one unit
at a time, and ``CompiledProgramme.fallback`` says which and why. A live grant of the
programme itself (a rule granting ``food_cash``) makes a unit eligible whatever the condition
says: a grant only widens.

Why a unit is not eligible, in words: the eligibility's top-level clauses (the operands of its
outermost ``&&`` or ``||``) are evaluated apart, and bit *i* of ``failed`` says clause *i* did
not hold; ``reason`` turns the bits into a sentence naming those clauses. The bits are kept for
the eligible too, so ``qualified`` can say which clauses held (under ``||``, some may not), or
that a grant made the unit eligible though the condition did not hold.

A fact an agency never reported about a unit is *unknown*, not its absent value: an income
never assessed must not pass ``income < 3000000``. So a unit is eligible only when the
condition holds on what is known: under ``&&``, no clause may read an unreported fact; under
``||``, some clause that reads none must hold. A unit the unknown facts leave undecided is
*not assessed*, and bit *j* of ``unreported`` names ``CompiledProgramme.unreported_facts[j]``
as missing, so the reason says what an agency has to report. A line's amount that reads an
unreported fact cannot be paid either; a top-up that does adds nothing. Health and disability
facts are exempt: the guard lets them only widen, so for them the absent value is already the
least favourable reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.programs.facts import GRANTS, REPORTED, FactSchema, fact_schema
from tessera.programs.formulas import guarded_amount, guarded_eligibility
from tessera.programs.gathering import Population
from tessera.programs.programmes import AMOUNT_MAX, OverBudget, Programme
from tessera.rules import (
    FAVOURABLE_ONLY,
    Benefits,
    CodeTables,
    ColumnExpression,
    EventTypes,
    FieldType,
    GuardedCondition,
    UnsupportedError,
    benefit_table,
)

CLAUSES_MAX = 63  # bits of ``failed``; clauses past it share the last bit
FACTS_MAX = 63  # bits of ``unreported``; facts past it share the last bit
_INFIX = {
    "_&&_": "&&", "_||_": "||", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=", "_==_": "==",
    "_!=_": "!=", "_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%", "@in": "in",
}  # fmt: skip


class _Evaluable:
    """One expression over columns: compiled when it can be, through CEL per unit when it cannot."""

    def __init__(self, guarded: GuardedCondition, node: Any, text: str | None) -> None:
        self.paths = dict(guarded.paths)
        self.needs = 0  # bits of the unreported facts it reads (``CompiledProgramme.unreported_facts``)
        self.why_not_compiled: str | None = None
        self._compiled: ColumnExpression | None = None
        self._program: Any = None
        try:
            self._compiled = ColumnExpression(guarded.checked, guarded.paths, node)
        except UnsupportedError as why:
            self.why_not_compiled = str(why)
            self._program = guarded.checked.env.compile(text) if text is not None else guarded.checked.program

    def evaluate(self, columns: Mapping[str, npt.NDArray[Any]], size: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """Values and error flags, one per unit."""
        if self._compiled is not None:
            return self._compiled.evaluate(columns, size)
        values: list[Any] = []
        errors = np.zeros(size, np.bool_)
        for i in range(size):
            data = {p: columns[p][i].item() for p in self.paths}
            try:
                values.append(self._program.eval(data=data).value())
            except Exception:
                values.append(0)
                errors[i] = True
        return np.array(values), errors


@dataclass(frozen=True, slots=True)
class _Line:
    amount: _Evaluable
    top_ups: tuple[tuple[_Evaluable, _Evaluable], ...]


class CompiledProgramme:
    """A programme's eligibility, clauses and amounts, ready to evaluate over a population's columns."""

    def __init__(self, programme: Programme, types: EventTypes, benefits: Benefits) -> None:
        self.programme = programme
        declared = [(b.id, b.title, b.categories) for b in map(benefits.get, benefits.ids())]
        codes: CodeTables = types.codes.replaced(benefit_table(declared))
        schema: FactSchema = fact_schema(types, benefits)
        where, pid = programme.source or programme.id, programme.id
        guarded = guarded_eligibility(where, pid, "eligibility", programme.eligibility, schema=schema, codes=codes)
        self.eligibility = _Evaluable(guarded, None, None)
        joiner, clauses = _clauses(guarded.checked.expr)
        self.joiner = joiner  # "&&", "||", or "" for a condition of one clause
        self.split = len(clauses) <= CLAUSES_MAX  # every clause is evaluated apart (else only the whole)
        self.clauses = tuple(_unparsed(c) for c in clauses[:CLAUSES_MAX])
        self._clauses = tuple(_Evaluable(guarded, c, None) for c in clauses[:CLAUSES_MAX])
        lines = []
        for i, line in enumerate(programme.lines):
            key = "cash" if line.commodity is None else f"quota[{i}]"
            amount = guarded_amount(where, pid, f"{key}.amount", line.amount, schema=schema, codes=codes)
            top_ups = []
            for j, top in enumerate(line.top_ups):
                c = guarded_eligibility(
                    where, pid, f"{key}.top_up[{j}].condition", top.condition, schema=schema, codes=codes
                )
                a = guarded_amount(where, pid, f"{key}.top_up[{j}].amount", top.amount, schema=schema, codes=codes)
                top_ups.append((_Evaluable(c, None, None), _Evaluable(a, _formula(a), top.amount)))
            lines.append(_Line(_Evaluable(amount, _formula(amount), line.amount), tuple(top_ups)))
        self.lines = tuple(lines)
        self.granted = f"{GRANTS}.{pid}" if pid in benefits.ids() else None
        every = [self.eligibility, *self._clauses]
        for compiled in self.lines:
            every += [compiled.amount, *(e for pair in compiled.top_ups for e in pair)]
        self.facts: dict[str, FieldType] = {}
        for e in every:
            self.facts.update(e.paths)
        if self.granted is not None:
            self.facts[self.granted] = FieldType.boolean
        self.fallback = {str(i): e.why_not_compiled for i, e in enumerate(every) if e.why_not_compiled}
        leaves = schema.leaves()
        self.unreported_facts = tuple(
            name
            for name in sorted(self.facts)
            if name.startswith(f"{REPORTED}.") and not FAVOURABLE_ONLY.intersection(leaves[name].categories)
        )  # the facts that may be unknown for a unit and decide against it if read as absent
        bit = {name: 1 << min(j, FACTS_MAX - 1) for j, name in enumerate(self.unreported_facts)}
        for e in every:
            e.needs = sum({bit[p] for p in e.paths if p in bit})

    def unreported_names(self, unreported: int) -> list[str]:
        """The facts named by the bits ``unreported`` (all past ``FACTS_MAX`` when its last bit is set)."""
        return [f for j, f in enumerate(self.unreported_facts) if unreported >> min(j, FACTS_MAX - 1) & 1]

    def reason(self, failed: int, unreported: int = 0) -> str:
        """The words for a unit whose clauses ``failed`` (bits) did not hold, or ``unreported`` facts left undecided."""
        if unreported:
            missing = ", ".join(self.unreported_names(unreported))
            text = f"not assessed: nothing has been reported for {missing}; an agency must report it first"
            known = [
                c for i, c in enumerate(self.clauses) if failed >> i & 1 and not self._clauses[i].needs & unreported
            ]
            return f"{text}; not met: {'; '.join(known)}" if known and self.joiner != "||" else text
        named = [c for i, c in enumerate(self.clauses) if failed >> i & 1]
        if not named:
            return "the eligibility condition did not hold (it could not be evaluated for this unit)"
        if self.joiner == "||":
            return "none of these holds: " + "; ".join(named)
        return "not met: " + "; ".join(named)

    def qualified(self, failed: int) -> str:
        """The words for an eligible unit: the clauses that held, or the grant that made it eligible."""
        held = [c for i, c in enumerate(self.clauses) if not failed >> i & 1]
        enough = bool(held) if self.joiner == "||" else len(held) == len(self.clauses)
        if not enough:
            return f"granted: a decision under the rules grants {self.programme.id!r} (the condition did not hold)"
        return "met: " + "; ".join(held)


@dataclass(frozen=True, slots=True)
class LineTotal:
    """One line of a preview: what the eligible units ask, the budget, and what approval would pay."""

    ledger: str
    ledger_id: int
    asked: int
    budget: int
    paid: int  # after pro-rating; equal to asked when within budget

    @property
    def over_budget(self) -> bool:
        """Whether the units ask more than the budget."""
        return self.asked > self.budget


@dataclass(frozen=True, slots=True)
class Preview:
    """Per unit: eligible or not and why (``failed``), and each line's amount; the totals per line."""

    population: Population
    eligible: npt.NDArray[np.bool_]
    failed: npt.NDArray[np.int64]  # bits of the clauses that did not hold, for the eligible too
    unreported: npt.NDArray[np.int64]  # bits of the unreported facts that left a unit not assessed; 0 for the rest
    amounts: npt.NDArray[np.int64]  # units x lines, as the formulas give them (0 for the ineligible)
    totals: tuple[LineTotal, ...]
    over_budget: OverBudget | None  # what approval does: refuse, or pro-rate; None within budget

    def paid(self) -> npt.NDArray[np.int64]:
        """The amounts approval pays: pro-rated, per line, by the budget over what is asked, rounded down."""
        out = self.amounts.copy()
        for k, total in enumerate(self.totals):
            if total.over_budget:
                out[:, k] = _scaled(self.amounts[:, k], total.budget, total.asked)
        return out


def preview(compiled: CompiledProgramme, population: Population) -> Preview:
    """Evaluate ``compiled`` over every unit of ``population`` at once."""
    size = len(population)
    columns = population.columns
    missing = np.zeros(size, np.int64)  # bits of ``compiled.unreported_facts`` no agency reported, per unit
    for j, name in enumerate(compiled.unreported_facts):
        gone = population.missing.get(name)
        if gone is not None:
            missing |= np.asarray(gone, np.int64) << min(j, FACTS_MAX - 1)

    def unknown(e: _Evaluable) -> npt.NDArray[np.bool_]:
        return np.asarray(missing & e.needs != 0, np.bool_)

    holds, erred = compiled.eligibility.evaluate(columns, size)
    eligible = np.asarray(holds, np.bool_) & ~erred
    failed = np.zeros(size, np.int64)
    known_hold, known_fail = np.zeros(size, np.bool_), np.zeros(size, np.bool_)
    for i, clause in enumerate(compiled._clauses):
        value, error = clause.evaluate(columns, size)
        held = np.asarray(value, np.bool_) & ~error
        failed |= (~held).astype(np.int64) << i
        known = ~unknown(clause)
        known_hold |= held & known
        known_fail |= ~held & known
    open_ = unknown(compiled.eligibility)  # some fact it reads is unknown for the unit
    if compiled.split and compiled.joiner == "||":
        unassessed = open_ & ~known_hold
        eligible &= known_hold
    else:
        unassessed = open_ & ~known_fail if compiled.split else open_
        eligible &= ~open_
    unreported = np.where(unassessed, missing & compiled.eligibility.needs, 0)
    if compiled.granted is not None:
        eligible |= np.asarray(columns[compiled.granted], np.bool_)
    for line in compiled.lines:  # an amount that reads an unknown fact cannot be paid
        cannot = eligible & unknown(line.amount)
        unreported = np.where(cannot, unreported | (missing & line.amount.needs), unreported)
        eligible &= ~cannot
    unreported = np.where(eligible, 0, unreported)
    amounts = np.zeros((size, len(compiled.lines)), np.int64)
    for k, line in enumerate(compiled.lines):
        value, error = line.amount.evaluate(columns, size)
        total = np.where(error, 0, value).astype(np.int64)
        for condition, amount in line.top_ups:
            when, e1 = condition.evaluate(columns, size)
            extra, e2 = amount.evaluate(columns, size)
            add = np.asarray(when, np.bool_) & ~e1 & ~e2 & ~unknown(condition) & ~unknown(amount)
            # A top-up only adds: one that works out negative adds nothing (else a protected fact could lower pay).
            total = total + np.where(add, np.maximum(np.asarray(extra, np.int64), 0), 0)
        amounts[:, k] = np.where(eligible, np.clip(total, 0, AMOUNT_MAX), 0)  # a negative result pays nothing
    totals = []
    programme = compiled.programme
    for k, defined in enumerate(programme.lines):
        asked = int(amounts[:, k].sum(dtype=object)) if size else 0
        budget = defined.budget
        paid = asked if asked <= budget else int(_scaled(amounts[:, k], budget, asked).sum(dtype=object))
        totals.append(LineTotal(defined.ledger, defined.ledger_id, asked, budget, paid))
    over = programme.over_budget if any(t.over_budget for t in totals) else None
    return Preview(population, eligible, failed, np.asarray(unreported, np.int64), amounts, tuple(totals), over)


def _scaled(amounts: npt.NDArray[np.int64], budget: int, asked: int) -> npt.NDArray[np.int64]:
    """Each amount times budget / asked, rounded down, exactly (Python ints where int64 could wrap)."""
    if not len(amounts) or asked <= 0:
        return amounts.copy()
    if int(amounts.max()) * budget < 2**63:
        return np.asarray(amounts * np.int64(budget) // np.int64(asked), np.int64)
    return np.array([a * budget // asked for a in amounts.tolist()], np.int64)


def _formula(guarded: GuardedCondition) -> Any:
    """The formula inside the guard's ``(formula) >= 0``: what the compiler lowers for an amount."""
    return guarded.checked.expr.args[0]  # type: ignore[union-attr]


def _clauses(expr: Any) -> tuple[str, list[Any]]:
    """The outermost ``&&`` or ``||`` and its operands, nested ones of the same operator flattened."""
    function = getattr(expr, "function", None)
    if function not in ("_&&_", "_||_"):
        return "", [expr]
    out: list[Any] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if getattr(node, "function", None) == function:
            stack.extend(reversed(node.args))
        else:
            out.append(node)
    return _INFIX[function], out


def _unparsed(node: Any) -> str:
    """CEL text for a checked tree, as people read it: names, literals and operators; the rest elided."""
    kind = type(node).__name__
    if kind == "Ident":
        return str(node.name)
    if kind == "Const":
        return str(node.value).lower() if node.kind == "bool" else repr(node.value)
    if kind == "ListExpr":
        return "[" + ", ".join(_unparsed(e) for e in node.elements) + "]"
    if kind == "Call":
        args: Sequence[Any] = node.args
        if node.function in _INFIX and len(args) == 2:  # noqa: PLR2004 (binary operators)
            return f"{_inner(args[0])} {_INFIX[node.function]} {_inner(args[1])}"
        if node.function == "!_":
            return f"!{_inner(args[0])}"
        if node.function == "-_":
            return f"-{_inner(args[0])}"
        if node.function == "_?_:_":
            return f"{_inner(args[0])} ? {_inner(args[1])} : {_inner(args[2])}"
        target = f"{_unparsed(node.target)}." if node.target is not None else ""
        return f"{target}{node.function}({', '.join(_unparsed(a) for a in args)})"
    return "…"


def _inner(node: Any) -> str:
    text = _unparsed(node)
    return f"({text})" if getattr(node, "function", None) in _INFIX or " ? " in text else text
