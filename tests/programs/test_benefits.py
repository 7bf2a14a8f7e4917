"""Programmes join the register of benefits, so a rule's eligibility grant can name one."""

from __future__ import annotations

import pytest

from tessera.errors import ConflictError, NotFoundError
from tessera.programs import programme_benefit, with_programmes
from tessera.rules import Category, load_rules
from tests.programs.worlds import BASES, TYPES, benefits, cash, checked

GRANT = """
[[rule]]
id = "food.for-the-ill"
title = "Food cash for the chronically ill"
basis = "aid-act/1"
inputs = ["care.assessed"]
condition = "event.chronic"
reason_code = "food_cash"
effects = [{ kind = "eligibility", benefit = "food_cash", expires_after = "60d" }]
"""


class TestTheRegister:
    """A programme is a benefit under its id, its basis and what it reveals."""

    def test_a_programme_is_a_benefit_of_its_basis(self) -> None:
        """Its id, name and basis; the categories a grant of it reveals."""
        (programme,) = checked(cash(eligibility="household.size > 0 || grants.care_allowance"))[0]
        made = programme_benefit(programme)
        assert (made.id, made.title, made.bases, made.categories) == (
            "food_cash", "Food cash", frozenset({"aid-act/1"}), frozenset({Category.disability}),
        )  # fmt: skip

    def test_a_rule_may_grant_a_programme_once_it_joins_the_register(self) -> None:
        """Without the programme the grant names no registered benefit; with it, the rule loads."""
        with pytest.raises(NotFoundError, match="no registered benefit"):
            load_rules([GRANT], TYPES, BASES, benefits())
        programmes, _ = checked(cash())
        register = with_programmes(benefits(), programmes)
        (rule,) = load_rules([GRANT], TYPES, BASES, register)
        assert rule.effects[0].benefit == "food_cash" and "food_cash" not in benefits()  # the given one is untouched

    def test_a_programme_clashing_with_a_benefit__conflict(self) -> None:
        """Joining a register that holds the id on other terms is a conflict."""
        programmes, _ = checked(cash())
        register = with_programmes(benefits(), programmes)
        (other,) = checked(cash(name="Another food cash"))[0]
        with pytest.raises(ConflictError):
            with_programmes(register, [other])
