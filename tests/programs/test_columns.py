"""The rules' compiler over programme facts agrees with CEL itself, unit by unit, on the example programmes."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.programs import Population, guarded_amount, guarded_eligibility, preview
from tests.programs.compiled_examples import COMPILED, SCHEMA, TYPES, UNITS, column


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_compiled_preview_agrees_with_cel_per_unit(data: st.DataObject) -> None:
    """Eligibility and every line's amount, compiled over columns, equal CEL's answer for each unit's facts."""
    for compiled in COMPILED:
        assert not compiled.fallback, compiled.fallback
        columns = {name: column(t, data.draw) for name, t in compiled.facts.items()}
        numbers = np.array([f"{i:012d}" for i in range(UNITS)])
        population = Population(numbers, np.array(["p"] * UNITS), columns, np.array([]))
        found = preview(compiled, population)
        programme = compiled.programme
        for i in range(UNITS):
            facts = {name: columns[name][i].item() for name in compiled.facts}
            expected = _cel(programme.eligibility, facts, condition=True)
            assert bool(found.eligible[i]) == expected, (programme.id, facts)
            for k, line in enumerate(programme.lines):
                amount = _cel(line.amount, facts) if expected else 0
                for top in line.top_ups:
                    if expected and _cel(top.condition, facts, condition=True):
                        amount += _cel(top.amount, facts)
                assert int(found.amounts[i, k]) == max(amount, 0), (programme.id, line.ledger, facts)


def _cel(text: str, facts: dict[str, Any], *, condition: bool = False) -> Any:
    """``text`` evaluated by CEL itself over one unit's facts, in the environment the guard admits it in."""
    paths, program = _program(text, condition)
    return program.eval(data={name: value for name, value in facts.items() if name in paths}).value()


@functools.cache
def _program(text: str, condition: bool) -> tuple[frozenset[str], Any]:
    guard = guarded_eligibility if condition else guarded_amount
    guarded = guard("test", "test", "x", text, schema=SCHEMA, codes=TYPES.codes)
    return frozenset(guarded.paths), guarded.checked.env.compile(text)
