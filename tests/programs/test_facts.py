"""The fact schema: the names a programme's CEL may read, each with the categories the guard judges."""

from __future__ import annotations

from tessera.programs import HOUSEHOLD_FACTS, PERSON_FACTS, fact_schema
from tessera.rules import Category, FieldType, load_definitions, load_rules
from tests.programs.worlds import BASES, TYPES, benefits


class TestTheSchema:
    """Person, household, grants and reported facts, by their own names."""

    def test_every_group_is_named(self) -> None:
        """Demographics and household composition are declared here; grants and reports come from the registers."""
        names = fact_schema(TYPES, benefits()).names()
        assert {f"person.{n}" for n in PERSON_FACTS} | {f"household.{n}" for n in HOUSEHOLD_FACTS} <= set(names)
        assert {"grants.aid", "grants.care_allowance", "grants.disability_allowance"} <= set(names)
        assert {"reported.care_assessed.grade", "reported.income_reported.monthly"} <= set(names)
        assert "household.members_under_18" in names and "person.age" in names

    def test_only_what_agencies_report_is_a_fact(self) -> None:
        """The ledger's transfers have no reporting agency: they are no fact about a person."""
        assert not any(n.startswith("reported.ledger_transfer.") for n in fact_schema(TYPES, benefits()).names())

    def test_each_fact_carries_its_categories(self) -> None:
        """A reported fact carries its type's purpose and its own category; a grant what its benefit reveals."""
        leaves = fact_schema(TYPES, benefits()).leaves()
        grade = leaves["reported.care_assessed.grade"]
        assert grade.type is FieldType.integer and grade.categories == (
            Category.reference, Category.benefit, Category.disability,
        )  # fmt: skip
        assert leaves["grants.care_allowance"].categories[-1] is Category.disability
        assert leaves["grants.aid"].categories[-1] is Category.benefit
        assert leaves["household.size"].categories[-1] is Category.identity

    def test_a_grant_made_on_health_data_is_health_data(self) -> None:
        """With the rules in force, a grant of a plain benefit by a rule that read health data carries health."""
        rule = """
[[rule]]
id = "aid.chronic"
title = "Aid for the chronically ill"
basis = "aid-act/1"
inputs = ["care.assessed"]
condition = "event.chronic"
reason_code = "aid"
effects = [{ kind = "eligibility", benefit = "aid", expires_after = "30d" }]
"""
        rules = load_rules([rule], TYPES, BASES, benefits())
        leaves = fact_schema(TYPES, benefits(), rules).leaves()
        assert leaves["grants.aid"].categories[-1] is Category.health

    def test_an_event_type_too_deep_to_read_is_left_out_and_said_so(self) -> None:
        """Records nest at most four deep; a reported type whose records would nest deeper is named in left_out."""
        deep = """
[[record_type]]
name = "inner"
fields.x = { type = "int", category = "benefit" }
[[record_type]]
name = "middle"
fields.inner = { type = "inner", category = "benefit" }
[[record_type]]
name = "outer"
fields.middle = { type = "middle", category = "benefit" }
[[event_type]]
name = "deep.reported"
purpose = "benefit"
reported_by = ["care-agency"]
fields.outer = { type = "outer", category = "benefit" }
"""
        types, _ = load_definitions([deep], TYPES, BASES)
        schema = fact_schema(types, benefits())
        assert "deep.reported" in schema.left_out and not any(n.startswith("reported.deep_") for n in schema.names())
