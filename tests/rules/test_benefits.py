"""The register of benefits: a grant opens a registered benefit, under a basis the benefit names (issue 16)."""

from __future__ import annotations

import pytest

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.rules.benefits import Benefit, Benefits, benefit
from tessera.rules.categories import Category
from tessera.rules.definitions import builtin_benefits, builtin_definitions, load_benefits, load_definitions
from tessera.rules.language.rulesets import load_rules

TYPES, BASES = builtin_definitions()
CARE = benefit("care_grant", "Care grant", ["social-security-act/disability-allowance"], ["health"])


class TestBenefit:
    def test_plain_values_become_a_checked_benefit(self) -> None:
        """benefit() turns plain lists and category names into the frozen Benefit a register holds."""
        assert (
            Benefit(
                "care_grant",
                "Care grant",
                frozenset({"social-security-act/disability-allowance"}),
                frozenset({Category.health}),
            )
            == CARE
        )

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (("Care", "Care", ["b"]), "benefit.id"),  # one lowercase word
            (("care", "", ["b"]), "benefit.title"),
            (("care", "\u3164", ["b"]), "benefit.title"),  # a filler shows nothing
            (("care", "Care", []), "benefit.bases"),  # granted under no law
            (("care", "Care", "b"), "benefit.bases"),
            (("care", "Care", ["b"], ["religion"]), "benefit.categories[0]"),  # a grant no rule could hold
            (("care", "Care", ["b"], ["derived"]), "benefit.categories[0]"),
            (("care", "Care", ["b"], ["Health"]), "benefit.categories[0]"),
        ],
    )
    def test_malformed_terms__invalid_input_naming_the_field(self, args: tuple[object, ...], field: str) -> None:
        """Bad ids, blank titles, no bases, or protected and derived categories are refused by field."""
        with pytest.raises(InvalidInputError) as caught:
            benefit(*args)  # type: ignore[arg-type]
        assert caught.value.field == field

    @pytest.mark.parametrize(
        ("id", "title"),
        [
            ("extra_scrutiny", "Extra scrutiny"),
            ("support", "Enhanced fraud investigation"),
            ("home_visit", "Home inspection"),
            ("priority", "Priority audit"),
            ("care", "Care, with surveillance"),
        ],
    )
    def test_a_penalty_named_as_a_benefit__refused(self, id: str, title: str) -> None:
        """A register holding "extra scrutiny" would let a rule grant it on disability data."""
        with pytest.raises(InvalidInputError, match="names a penalty"):
            benefit(id, title, ["b"])

    @pytest.mark.parametrize("title", ["Penalty waiver", "Rent freeze", "Support for fraud victims", "Housing grant"])
    def test_reliefs_named_for_what_they_relieve__registered(self, title: str) -> None:
        """A relief whose title names what it relieves (a penalty waiver) is a benefit, not a penalty."""
        assert benefit("relief", title, ["b"]).title == title


class TestRegister:
    def test_the_same_terms_twice_are_a_no_op_other_terms_a_conflict(self) -> None:
        """The same benefit twice is one entry; other terms under its id are a conflict."""
        register = Benefits([CARE])
        assert register.register(CARE) is register.get("care_grant") and len(register) == 1
        with pytest.raises(ConflictError):
            register.register(benefit("care_grant", "Care grant", ["consumer-credit-act/12"]))

    def test_an_unknown_benefit__not_found(self) -> None:
        """Asking an empty register for a benefit is not found."""
        with pytest.raises(NotFoundError):
            Benefits().get("care_grant")

    def test_a_hand_made_benefit_is_checked_again(self) -> None:
        """A Benefit built by hand that names a penalty is refused by the register, not only by benefit()."""
        with pytest.raises(InvalidInputError, match="names a penalty"):
            Benefits([Benefit("extra_scrutiny", "Extra scrutiny", frozenset({"b"}))])

    def test_the_builtin_register(self) -> None:
        """The built-in register holds the disability allowance (a disability-category grant) and the fee waiver."""
        register = builtin_benefits()
        assert register.ids() == ["disability_allowance", "fee_waiver"]
        assert register.get("disability_allowance").categories == {Category.disability}


class TestDefinitionsFiles:
    def test_benefits_are_declared_beside_the_bases_they_name(self) -> None:
        """A definitions file declares a benefit beside its basis; the register given stays untouched."""
        text = """
[[legal_basis]]
id = "housing-act/7"
instrument = "Housing Act"
article = "s. 7"
kind = "statute"
covers = ["benefit.claimed"]

[[benefit]]
id = "housing_aid"
title = "Housing aid"
bases = ["housing-act/7"]
description = "Help with rent."
"""
        _, bases = load_definitions([text], TYPES, BASES)
        register = load_benefits([text], bases, builtin_benefits())
        assert register.ids() == ["disability_allowance", "fee_waiver", "housing_aid"]
        assert "housing_aid" not in builtin_benefits()  # the register given is left untouched

    @pytest.mark.parametrize(
        ("text", "error", "field"),
        [
            ('[[benefit]]\nid = "aid"\ntitle = "Aid"\nbases = ["no-such-act/1"]\n', NotFoundError, "bases[0]"),
            ('[[benefit]]\nid = "aid"\ntitle = "Aid"\n', InvalidInputError, "bases"),
            (
                '[[benefit]]\nid = "aid"\ntitle = "Aid"\nbases = ["consumer-credit-act/12"]\nx = 1\n',
                InvalidInputError,
                "x",
            ),
        ],
    )
    def test_a_bad_declaration__refused_naming_the_table(self, text: str, error: type[Exception], field: str) -> None:
        """An unknown basis, no bases or an unknown key is refused, naming the benefit table and key."""
        with pytest.raises(error) as caught:
            load_benefits([text], BASES)
        assert caught.value.field.startswith("<text 0>:benefit[0].")  # type: ignore[attr-defined]
        assert caught.value.field.endswith(field)  # type: ignore[attr-defined]


class TestGrants:
    GRANT = """
[[rule]]
id = "care"
title = "Care"
basis = "social-security-act/disability-allowance"
inputs = ["benefit.claimed"]
condition = "event.claimant.chronic_condition"
reason_code = "care"
effects = [{ kind = "eligibility", benefit = "care_grant", expires_after = "30d" }]
"""

    def test_a_grant_of_a_registered_benefit_loads_and_carries_its_categories(self) -> None:
        """A grant of a registered benefit loads and carries the benefit's categories as well as its own."""
        (rule,) = load_rules([self.GRANT], TYPES, BASES, Benefits([CARE]))
        assert rule.categories == {Category.benefit, Category.health}

    def test_a_grant_of_a_benefit_not_in_the_register__refused(self) -> None:
        """A rule granting a benefit nobody registered is refused, naming the effect's benefit and the id."""
        with pytest.raises(NotFoundError) as caught:
            load_rules([self.GRANT], TYPES, BASES)  # the built-in register has no care grant
        assert caught.value.field == "<text 0>:rule[0].effects[0].benefit" and "'care'" in str(caught.value)
