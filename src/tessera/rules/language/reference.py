"""Reference evaluation: one event at a time with Google's CEL (``cel-expr-python``).

This is the meaning of a condition. The compiler (``compiler.py``) must agree with it row
for row, errors included (the differential test checks that); rules the compiler does not
cover run through it, per event.

A condition that errs for an event (division by zero, integer overflow, a double out of
int range) does not hold for that event: a rule never fires on an error.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidInputError
from tessera.rules.basis import require_coverage
from tessera.rules.categories import EventTypes, FieldType
from tessera.rules.language.guard import EVENT, GuardedCondition, guarded_condition
from tessera.rules.language.rulesets import Rule, read_categories


def guarded_rule(rule: Rule, types: EventTypes) -> GuardedCondition:
    """The guard run again on a loaded rule, so that a hand-made Rule cannot skip it."""
    if not isinstance(rule, Rule):
        raise InvalidInputError("rule", "must be a Rule (see load_rules())")
    benefits_only = all(e.grants_a_benefit for e in rule.effects)
    inputs = [types.get(n) for n in rule.inputs]
    guarded = guarded_condition(
        rule.source, rule.id, rule.condition, inputs, benefits_only, favourable=not rule.adverse, codes=types.codes
    )
    if guarded.fields != rule.fields:
        raise InvalidInputError(f"{rule.source}.fields", "do not match the fields the condition reads")
    require_coverage(rule.basis, rule.id, inputs, rule.source)
    if not read_categories(inputs, guarded.paths) | guarded.value_categories <= rule.categories:  # issue 16
        raise InvalidInputError(f"{rule.source}.categories", "must hold every category the rule reads")
    return guarded


class ReferenceRule:
    """One rule's condition, evaluated per event by CEL itself."""

    def __init__(self, rule: Rule, types: EventTypes) -> None:
        self.rule = rule
        guarded = guarded_rule(rule, types)
        self.paths: Mapping[str, FieldType] = guarded.paths
        self._program = guarded.checked.program
        # A coded field is read as this rule may see it: what it may not read, or its table does not list, withheld.
        benefits_only = all(e.grants_a_benefit for e in rule.effects)
        self._coded = {p: (types.codes.get(t), benefits_only) for p, t in guarded.coded.items()}
        self._readable = {p: (table.readable(b), table.withheld) for p, (table, b) in self._coded.items()}

    def _seen(self, path: str, value: object) -> object:
        found = self._readable.get(path)
        if found is None:
            return value
        readable, withheld = found
        return value if value in readable and not isinstance(value, bool) else withheld

    def evaluate(self, event: Mapping[str, object]) -> bool | None:
        """Whether the condition holds for ``event`` (field path -> value), or None when evaluating it errs."""
        data = {f"{EVENT}.{p}": self._seen(p, event[p]) for p in self.paths}
        result = self._program.eval(data=data).value()
        return result if isinstance(result, bool) else None

    def evaluate_columns(
        self, columns: Mapping[str, npt.NDArray[np.generic]], size: int
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Per row of a batch: whether the condition holds, and whether it erred (then it does not hold)."""
        holds = np.zeros(size, dtype=np.bool_)
        errors = np.zeros(size, dtype=np.bool_)
        names = [f"{EVENT}.{p}" for p in self.paths]
        values = [self._column(columns, p, size).tolist() for p in self.paths]  # Python values, once per column
        program = self._program
        for row in range(size):
            result = program.eval(data={n: v[row] for n, v in zip(names, values, strict=True)}).value()
            if result is True:
                holds[row] = True
            elif result is not False:
                errors[row] = True
        return holds, errors

    def _column(self, columns: Mapping[str, npt.NDArray[np.generic]], path: str, size: int) -> npt.NDArray[np.generic]:
        found = self._coded.get(path)
        column = columns[path][:size]
        return column if found is None else found[0].masked(column, found[1])
