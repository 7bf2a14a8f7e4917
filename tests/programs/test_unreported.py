"""A fact no agency reported is unknown, not zero: nobody is paid on an income that was never assessed."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from tessera.programs import Population, guarded_eligibility, preview
from tessera.store import rule_events
from tests.programs.compiled_examples import COMPILED, SCHEMA, TYPES, UNITS, column
from tests.programs.cycle_world import CYCLE_DATE_NS, World, open_world, register

INCOME = "reported.income_assessed.monthly_income"
SUBSTITUTES = (0, 1, 2_999_999, 3_000_000, 10**9)  # values an unreported income might turn out to have

MEANS_TESTED = """
[[programme]]
id = "means_cash"
name = "Means-tested cash"
basis = "social-protection-act/food"
unit = "person"
kind = "cash"
currency = "currency"
eligibility = "reported.income_assessed.monthly_income < 3000000 || grants.disability_allowance"
schedule = "monthly"
valid_for = "60d"
over_budget = "refuse"
merchant_categories = [5411]

[programme.cash]
amount = "5000"
budget = 1_000_000_000
"""


def test_example_programmes__income_is_a_fact_that_may_be_unreported() -> None:
    """The means-tested examples read an income that may be unknown; grants and the registry's facts never are."""
    by_id = {c.programme.id: c for c in COMPILED}
    assert by_id["food_cash"].unreported_facts == (INCOME,)
    assert by_id["rice_ration"].unreported_facts == (INCOME,)
    for compiled in COMPILED:
        assert all(f.startswith("reported.") for f in compiled.unreported_facts)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_preview__pays_only_what_holds_whatever_the_unreported_facts_turn_out_to_be(data: st.DataObject) -> None:
    """Eligible with a fact missing only if CEL says so for every value it could have; all known: CEL's answer."""
    for compiled in COMPILED:
        columns = {name: column(t, data.draw) for name, t in compiled.facts.items()}
        flags = st.lists(st.booleans(), min_size=UNITS, max_size=UNITS)
        missing = {f: np.array(data.draw(flags)) for f in compiled.unreported_facts}
        for name, gone in missing.items():
            columns[name] = np.where(gone, 0, columns[name])  # what gathering reads for no report: the absent value
        numbers = np.array([f"{i:012d}" for i in range(UNITS)])
        found = preview(compiled, Population(numbers, np.array(["p"] * UNITS), columns, np.array([]), missing))
        for i in range(UNITS):
            facts = {name: columns[name][i].item() for name in compiled.facts}
            gone = [f for f in compiled.unreported_facts if missing[f][i]]
            answers = {_cel(compiled.programme.eligibility, {**facts, **dict.fromkeys(gone, v)}) for v in SUBSTITUTES}
            if not gone:
                assert bool(found.eligible[i]) == answers.pop(), (compiled.programme.id, facts)
                assert found.unreported[i] == 0
            elif found.eligible[i]:
                assert answers == {True}, (compiled.programme.id, facts, gone)
            elif True in answers:  # undecided without the report: said so, naming what is missing
                names = compiled.unreported_names(int(found.unreported[i]))
                assert names and set(names) <= set(gone), (compiled.programme.id, facts, gone)
                assert compiled.reason(int(found.failed[i]), int(found.unreported[i])).startswith("not assessed: ")
            if not found.eligible[i]:
                assert not found.amounts[i].any()


def test_reason__names_what_is_missing_and_the_clauses_known_to_fail() -> None:
    """Words an officer and the person can act on: which report is missing; under ``&&``, what failed anyway."""
    compiled = next(c for c in COMPILED if c.programme.id == "food_cash")
    said = compiled.reason(0b11, 1)
    assert said == f"not assessed: nothing has been reported for {INCOME}; an agency must report it first"
    assert compiled.reason(0b11, 0) == f"none of these holds: {INCOME} < 3000000; grants.disability_allowance"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with 60 seeded persons, each alone."""
    made = open_world(tmp_path)
    yield made
    made.services.close()


def test_cycle__a_person_with_no_income_reported_is_not_assessed_not_paid(world: World) -> None:
    """Reported low: paid; reported high: not met; never reported: not assessed, and the results say which fact."""
    register(world, MEANS_TESTED)
    low, high = world.numbers[:2]
    _report_income(world, {low: 1_000_000, high: 9_000_000})
    cycles = world.services.cycles
    cycle = cycles.create("means_cash", CYCLE_DATE_NS, by=world.maker)
    cycle, _ = cycles.preview(cycle.id, by=world.maker)
    assert cycle.eligible == 1
    results = {r.person: r for r in cycles.results(cycle.id, limit=100)}
    assert results[low].eligible and results[low].amounts == (5000,)
    assert results[high].reason == f"none of these holds: {INCOME} < 3000000; grants.disability_allowance"
    unreported = [r for n, r in results.items() if n not in (low, high)]
    assert len(unreported) == len(world.numbers) - 2
    assert all(not r.eligible and r.amounts == (0,) for r in unreported)
    assert {r.reason for r in unreported} == {
        f"not assessed: nothing has been reported for {INCOME}; an agency must report it first"
    }


def _report_income(world: World, incomes: dict[str, int]) -> None:
    """Income assessments as an agency's intake keeps them (gathering reads the table)."""
    now = time.time_ns()
    rows = [
        {
            "source": world.maker.id, "event_id": f"income-{number}", "type": "income.assessed", "subject": number,
            "at_ns": now, "fields": json.dumps({"monthly_income": income}), "received_at_ns": now, "submission": "s",
        }
        for number, income in incomes.items()
    ]  # fmt: skip
    with world.services.store.transaction(write=True) as conn:
        conn.execute(insert(rule_events), rows)


def _cel(text: str, facts: dict[str, Any]) -> bool:
    """``text`` evaluated by CEL itself over one unit's facts."""
    paths, program = _program(text)
    return bool(program.eval(data={name: value for name, value in facts.items() if name in paths}).value())


@functools.cache
def _program(text: str) -> tuple[frozenset[str], Any]:
    guarded = guarded_eligibility("test", "test", "x", text, schema=SCHEMA, codes=TYPES.codes)
    return frozenset(guarded.paths), guarded.checked.env.compile(text)
