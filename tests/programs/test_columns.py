"""The rules' compiler over programme facts agrees with CEL itself, unit by unit, on the example programmes."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.money import ledger_unit
from tessera.programs import (
    EXAMPLE_LEDGERS,
    EXAMPLE_PROGRAMMES,
    CompiledProgramme,
    Population,
    builtin_programmes_path,
    fact_schema,
    guarded_amount,
    guarded_eligibility,
    load_programmes,
    preview,
)
from tessera.rules import FieldType, builtin_benefits, builtin_definitions

TYPES, BASES = builtin_definitions()
ROWS = json.loads(builtin_programmes_path(EXAMPLE_LEDGERS).read_text(encoding="utf-8"))["ledgers"]
LEDGERS = [ledger_unit(r["id"], r["name"], r["unit"], r["decimals"], r["issuer"], category=r["category"]) for r in ROWS]
PROGRAMMES = load_programmes([builtin_programmes_path(EXAMPLE_PROGRAMMES)], TYPES, BASES, ledgers=LEDGERS)
COMPILED = [CompiledProgramme(p, TYPES, builtin_benefits()) for p in PROGRAMMES]
SCHEMA = fact_schema(TYPES, builtin_benefits())
UNITS = 12


def _column(field_type: FieldType, draw: Any) -> Any:
    if field_type is FieldType.boolean:
        return np.array(draw(st.lists(st.booleans(), min_size=UNITS, max_size=UNITS)))
    return np.array(draw(st.lists(st.integers(0, 10_000_000), min_size=UNITS, max_size=UNITS)), np.int64)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_compiled_preview_agrees_with_cel_per_unit(data: st.DataObject) -> None:
    """Eligibility and every line's amount, compiled over columns, equal CEL's answer for each unit's facts."""
    for compiled in COMPILED:
        assert not compiled.fallback, compiled.fallback
        columns = {name: _column(t, data.draw) for name, t in compiled.facts.items()}
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
