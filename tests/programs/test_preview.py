"""Preview over households and through CEL where the compiler cannot go: heads paid, facts counted, same answers."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import select

from tessera.programs import CompiledProgramme, Composition
from tessera.store import persons
from tests.programs.cycle_world import CYCLE_DATE_NS, World, open_world, programme_text, register

HOUSEHOLD = """
[[programme]]
id = "family_cash"
name = "Family cash"
basis = "social-protection-act/food"
unit = "household"
kind = "cash"
currency = "currency"
eligibility = "household.size >= 3 && household.members_under_18 >= 1"
schedule = "monthly"
valid_for = "60d"
over_budget = "refuse"
merchant_categories = [5411]

[programme.cash]
amount = "1000 * household.size + household.head_age"
budget = 1_000_000_000
"""


class Threes:
    """Households of three consecutive persons, the middle one the head; a 60th person alone."""

    def composition(self, numbers: npt.NDArray[np.str_]) -> Composition:
        index = np.arange(len(numbers), dtype=np.int64)
        empty = np.zeros(0, np.int64)
        return Composition(index // 3 * 7 + 11, index % 3 == 1, empty, empty)  # any ids name a household


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with 60 seeded persons in households of three."""
    made = open_world(tmp_path)
    made.services.household_source = Threes()
    yield made
    made.services.close()


def test_household_programme__pays_each_head_counting_the_members(world: World) -> None:
    """A household programme's units are the heads; size, children and the head's age are counted per household."""
    register(world, HOUSEHOLD)
    cycles = world.services.cycles
    cycle = cycles.create("family_cash", CYCLE_DATE_NS, by=world.maker)
    cycle, found = cycles.preview(cycle.id, by=world.maker)
    numbers = np.array(world.numbers)
    assert cycle.units == 20 and found.population.numbers.tolist() == numbers[1::3].tolist()
    ages = _ages(world)
    head_ages = ages[1::3]
    minors = (ages < 18).reshape(20, 3).sum(axis=1)
    assert found.population.columns["household.size"].tolist() == [3] * 20
    assert found.population.columns["household.members_under_18"].tolist() == minors.tolist()
    assert found.eligible.tolist() == (minors >= 1).tolist()
    assert found.amounts[:, 0].tolist() == np.where(minors >= 1, 3000 + head_ages, 0).tolist()
    reasons = {r.reason for r in cycles.results(cycle.id, limit=100) if not r.eligible}
    assert reasons <= {"not met: household.members_under_18 >= 1"}


def test_fallback__cel_per_unit_answers_as_the_compiler_would(world: World) -> None:
    """A condition the compiler does not lower (a regular expression) runs through CEL, with the same results."""
    text = programme_text(upper=200).replace(
        'eligibility = "person.age >= 18 && person.age < 200"',
        "eligibility = \"person.age >= 18 && person.sex.matches('^[FM]$')\"",
    )
    register(world, text)
    services = world.services
    compiled = CompiledProgramme(
        services.programmes.get("adult_cash").programme, services.event_types, services.benefits
    )
    assert compiled.fallback, "matches() is not lowered"
    cycle = services.cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
    _, found = services.cycles.preview(cycle.id, by=world.maker)
    ages, sexes = found.population.columns["person.age"], found.population.columns["person.sex"]
    assert found.eligible.tolist() == ((ages >= 18) & np.isin(sexes, ["F", "M"])).tolist()


def _ages(world: World) -> npt.NDArray[np.int64]:
    """Each seeded person's age on the cycle's date, by number, counted here by calendar."""
    day = datetime.date(2027, 1, 1)
    with world.services.store.transaction() as conn:
        rows = conn.execute(select(persons.c.birth_date).order_by(persons.c.number)).scalars().all()
    born = [datetime.date.fromisoformat(b) for b in rows]
    return np.array([day.year - b.year - ((day.month, day.day) < (b.month, b.day)) for b in born])
