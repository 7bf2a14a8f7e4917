"""Programme files: the examples load; every kind of bad input is refused with its code and the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.errors import ConflictError, InvalidInputError, NotFoundError, ProtectedCategoryError, TesseraError
from tessera.money import ledger_unit
from tessera.programs import (
    EXAMPLE_LEDGERS,
    EXAMPLE_PROGRAMMES,
    FORMULA_MAX,
    PROGRAMME_ID_MAX,
    PROGRAMME_NAME_MAX,
    Kind,
    OverBudget,
    Schedule,
    Unit,
    builtin_programmes_path,
    check_programmes,
    load_programmes,
)
from tessera.rules import Category, builtin_benefits, builtin_definitions
from tests.programs.worlds import BASES, LEDGERS, TYPES, benefits, cash, checked, ration, refusal

WHERE = "<text 0>:programme[0]"


def example_ledgers() -> list[object]:
    rows = json.loads(builtin_programmes_path(EXAMPLE_LEDGERS).read_text(encoding="utf-8"))["ledgers"]
    return [
        ledger_unit(r["id"], r["name"], r["unit"], r["decimals"], r["issuer"], category=r["category"]) for r in rows
    ]


class TestTheExamples:
    """The shipped examples load against the built-in declarations and the example ledgers."""

    def test_the_example_file_loads_clean(self) -> None:
        """A food cash programme, a rice ration at a subsidised price per household and a fuel quota."""
        types, bases = builtin_definitions()
        programmes = load_programmes(
            [builtin_programmes_path(EXAMPLE_PROGRAMMES)], types, bases, ledgers=example_ledgers(),
            benefits=builtin_benefits(),
        )  # fmt: skip
        assert programmes.ids() == ["food_cash", "fuel_quota", "rice_ration"]
        food, rice, fuel = (programmes.get(i) for i in ("food_cash", "rice_ration", "fuel_quota"))
        assert (food.kind, food.unit, food.currency, food.schedule) == (
            Kind.cash,
            Unit.household,
            "currency",
            Schedule.monthly,
        )
        assert food.line().ledger == "currency" and food.line().top_ups[0].condition == "grants.disability_allowance"
        assert food.categories == {Category.disability}  # it reads a grant that reveals disability, to widen
        assert (rice.kind, rice.line("rice").co_payment, rice.line("rice").decimals) == (Kind.subsidised_price, 100, 3)
        assert [p.code for p in rice.products] == ["RICE-5KG", "RICE-1KG"] and rice.over_budget is OverBudget.refuse
        assert (fuel.kind, fuel.currency, fuel.schedule, fuel.line("fuel").unit) == (
            Kind.in_kind,
            None,
            Schedule.weekly,
            "litre",
        )
        assert fuel.valid_for_s == 14 * 86_400 and fuel.merchant_categories == {5541, 5542, 5983}
        assert food.facts == {
            "reported.income_assessed.monthly_income", "grants.disability_allowance",
            "household.members_under_18", "household.members_60_and_over",
        }  # fmt: skip

    def test_the_test_worlds_programmes_load(self) -> None:
        """The builders of worlds.py make programmes that load, so each refusal below is the change's doing."""
        programmes, refusals = checked(cash(), ration())
        assert refusals == [] and programmes.ids() == ["food_cash", "rice_ration"]

    def test_load_is_all_or_nothing(self) -> None:
        """load_programmes raises the first refusal; check_programmes reports each and keeps the rest."""
        with pytest.raises(NotFoundError):
            load_programmes([cash(), ration(basis="no-such-act/1")], TYPES, BASES, ledgers=LEDGERS, benefits=benefits())
        programmes, refusals = checked(cash(), ration(basis="no-such-act/1"))
        assert programmes.ids() == ["food_cash"] and len(refusals) == 1


def _refused(text: str, error: type[TesseraError], field: str, *words: str) -> TesseraError:
    found = refusal(text).error
    assert type(found) is error, found
    assert getattr(found, "field", None) == f"{WHERE}.{field}", found
    for word in words:
        assert word in str(found), (word, str(found))
    return found


class TestTheBasis:
    """A programme operates under a registered legal basis that can host it, and reads only what it covers."""

    def test_no_basis__refused(self) -> None:
        """A programme without a basis is refused, naming the key."""
        _refused(cash(basis=None), InvalidInputError, "basis", "is required")
        _refused(cash(basis=" "), InvalidInputError, "basis", "registered legal basis")

    def test_unknown_basis__refused(self) -> None:
        """A basis that is not registered is refused as not found."""
        _refused(cash(basis="food-act/99"), NotFoundError, "basis", "no legal basis 'food-act/99'")

    def test_a_court_order_basis__refused(self) -> None:
        """An officer exercises a court order; no programme operates under one."""
        _refused(cash(basis="civil-procedure-code/enforcement"), InvalidInputError, "basis", "court order")

    def test_a_reported_fact_the_basis_does_not_cover__refused(self) -> None:
        """Reading an agency's facts needs a basis covering their event type, as a rule's inputs do."""
        _refused(
            cash(basis="narrow-act/1", eligibility="reported.care_assessed.grade >= 2"),
            InvalidInputError, "basis", "care.assessed", "does not cover",
        )  # fmt: skip


class TestFacts:
    """Conditions and amounts read registered facts only."""

    def test_an_unknown_fact__refused(self) -> None:
        """A fact no schema declares is not found, naming the key it was read in."""
        _refused(cash(eligibility="household.income < 5"), NotFoundError, "eligibility", "no fact 'household.income'")
        _refused(cash(cash__amount="person.salary * 2"), NotFoundError, "cash.amount", "no fact 'person.salary'")

    def test_a_group_of_facts_read_whole__refused(self) -> None:
        """``household`` is a group; a condition reads one of its facts."""
        _refused(cash(eligibility="household == household"), InvalidInputError, "eligibility", "group of facts")

    def test_the_ledgers_feed_is_no_fact(self) -> None:
        """Event types no agency reports (the ledger's transfers) are not facts about a person."""
        _refused(cash(eligibility="reported.ledger_transfer.amount > 0"), NotFoundError, "eligibility", "no fact")

    def test_a_condition_that_is_no_boolean__refused(self) -> None:
        """An eligibility condition is true or false."""
        _refused(cash(eligibility="household.size"), InvalidInputError, "eligibility", "true or false")


class TestProtectedData:
    """Forbidden categories are refused; health and disability only widen eligibility and never touch amounts."""

    @pytest.mark.parametrize(
        "condition",
        [
            "reported.income_reported.monthly < 300000 && !grants.care_allowance",  # the denial in disguise
            "reported.income_reported.monthly < 300000 && !(reported.care_assessed.grade >= 2)",
            "reported.care_assessed.grade < 2",
            "!reported.care_assessed.chronic",
            "reported.care_assessed.chronic == false",
            'reported.care_assessed.diagnosis == ""',
            "reported.care_assessed.grade != 3",
            "reported.care_assessed.grade > person.age",  # unknown polarity: refused too
        ],
    )
    def test_a_narrowing_health_or_disability_condition__refused(self, condition: str) -> None:
        """A protected fact, or a grant that reveals one, read so that its absence opens the door, is refused."""
        found = _refused_protected(cash(eligibility=condition))
        assert found.category in {"health", "disability"}

    def test_the_grant_of_a_benefit_revealing_disability_is_disability_data(self) -> None:
        """``!grants.care_allowance`` names the grant and the category it reveals."""
        found = _refused_protected(cash(eligibility="household.size > 0 && !grants.care_allowance"))
        assert found.field == f"{WHERE}.eligibility.grants.care_allowance" and found.category == "disability"
        assert "programme 'food_cash'" in str(found)

    @pytest.mark.parametrize(
        "condition",
        [
            "reported.income_reported.monthly < 300000 || grants.care_allowance",
            "reported.care_assessed.grade >= 2",
            "household.members_60_and_over >= 1 || reported.care_assessed.chronic",
            'reported.care_assessed.diagnosis == "tuberculosis"',
            "!(!grants.care_allowance)",
        ],
    )
    def test_a_widening_condition__admitted(self, condition: str) -> None:
        """The protected fact opens the door: these load."""
        programmes, refusals = checked(cash(eligibility=condition))
        assert refusals == [] and len(programmes) == 1

    def test_an_amount_reading_a_protected_fact__refused(self) -> None:
        """The rules judge conditions, not numbers: an amount may not read health or disability, even to raise it."""
        for amount in ("5000 - 1000 * (grants.care_allowance ? 1 : 0)", "5000 + reported.care_assessed.grade"):
            found = _refused_protected(cash(cash__amount=amount))
            assert found.field.startswith(f"{WHERE}.cash.amount.") and "top_up" in str(found)

    def test_a_top_up_raises_an_amount_on_a_protected_fact(self) -> None:
        """The admitted way: a top-up whose condition widens and whose amount reads no protected fact."""
        text = cash() + '[[programme.cash.top_up]]\ncondition = "grants.care_allowance"\namount = "2000"\n'
        (programme,) = checked(text)[0]
        assert programme.line().top_ups[0].amount == "2000" and Category.disability in programme.categories

    def test_a_narrowing_top_up__refused(self) -> None:
        """A top-up for those without the fact is a cut for those with it."""
        text = cash() + '[[programme.cash.top_up]]\ncondition = "!grants.care_allowance"\namount = "2000"\n'
        found = refusal(text).error
        assert isinstance(found, ProtectedCategoryError)
        assert found.field == f"{WHERE}.cash.top_up[0].condition.grants.care_allowance"

    @pytest.mark.parametrize(
        ("key", "value"),
        [("name", "Mosque upkeep grant"), ("description", "Rice for church members"), ("id", "party_members_aid")],
    )
    def test_a_name_that_reveals_a_forbidden_category__refused(self, key: str, value: str) -> None:
        """The guard judges meaning: a programme called for a religion or a party is that data (the lexicon)."""
        found = _refused_protected(cash(**{key: value}))
        assert found.field == f"{WHERE}.{key}" and found.category in {"religion", "political_opinion"}

    def test_a_commodity_that_reveals_a_forbidden_category__refused(self) -> None:
        """A quota's commodity is named in every entitlement of it."""
        found = _refused_protected(ration(quota__commodity="halal_meat"))
        assert found.field == f"{WHERE}.quota[0].commodity" and found.category == "religion"

    def test_a_health_name_is_lawful(self) -> None:
        """Health and disability may open a door: a programme named for them loads."""
        assert checked(cash(name="Disability food supplement"))[1] == []

    def test_a_claimed_benefit_is_read_for_what_it_reveals(self) -> None:
        """A claim's programme is coded by the register: a claim of a disability benefit only widens, and is carried."""
        claimed = "reported.benefit_claimed.programme"
        found = _refused_protected(
            cash(basis="social-protection-act/food", eligibility=f'{claimed} != "care_allowance"')
        )
        assert found.category == "disability"
        (programme,) = checked(cash(basis="social-protection-act/food", eligibility=f'{claimed} == "care_allowance"'))[
            0
        ]
        assert programme.categories == {Category.disability}

    def test_a_forbidden_merchant_category__refused(self) -> None:
        """A programme spendable at religious organisations reveals religion: refused, naming the entry."""
        found = _refused_protected(cash(merchant_categories=[5411, 8661]))
        assert found.field == f"{WHERE}.merchant_categories[1]" and found.category == "religion"

    def test_a_health_merchant_category_makes_the_programme_health_data(self) -> None:
        """Pharmacies are allowed, and a grant of the programme then reveals health."""
        (programme,) = checked(cash(merchant_categories=[5912]))[0]
        assert programme.categories == {Category.health}

    def test_a_ledger_funding_a_forbidden_category__refused(self) -> None:
        """A ledger's category is what it funds: a programme on a religion's ledger is refused."""
        found = _refused_protected(cash(currency="church-tithe"))
        assert found.category == "religion"


def _refused_protected(text: str) -> ProtectedCategoryError:
    found = refusal(text).error
    assert isinstance(found, ProtectedCategoryError), found
    assert found.code == "protected_category"
    return found


class TestAmounts:
    """Amounts, budgets and co-payments are whole, never negative, in their ledger's minor units."""

    def test_a_negative_amount__refused(self) -> None:
        """A literal below zero, or a formula that goes below zero on a probe, is refused with the facts shown."""
        _refused(cash(cash__amount="-5"), InvalidInputError, "cash.amount", "never negative", "-5")
        _refused(
            cash(cash__amount="5000 - 1000 * household.size"), InvalidInputError, "cash.amount",
            "never negative", "household.size = 10",
        )  # fmt: skip

    def test_an_amount_that_is_no_whole_number__refused(self) -> None:
        """Amounts are ints: a double or a bool is refused naming its type."""
        _refused(cash(cash__amount="1.5"), InvalidInputError, "cash.amount", "not double")
        _refused(cash(cash__amount="household.size > 2"), InvalidInputError, "cash.amount", "not bool")

    def test_a_syntax_error_in_an_amount_names_its_own_line(self) -> None:
        """The guard judges an amount inside a comparison; its errors still point into the formula as written."""
        found = _refused(cash(cash__amount="5000 +"), InvalidInputError, "cash.amount", "at the end:")
        assert "')'" not in str(found)
        _refused(cash(cash__amount="5000 + * 2"), InvalidInputError, "cash.amount", "at 1:8:")

    @pytest.mark.parametrize("budget", [-1, 0, 1.5, "100", True])
    def test_a_negative_or_malformed_budget__refused(self, budget: object) -> None:
        """A budget per cycle is a whole number of minor units, at least 1."""
        _refused(cash(cash__budget=budget), InvalidInputError, "cash.budget", "whole number")

    def test_a_negative_co_payment__refused(self) -> None:
        """A subsidised price is a positive price per unit."""
        found = refusal(ration(quota__co_payment=-100)).error
        assert isinstance(found, InvalidInputError) and found.field == f"{WHERE}.quota[0].co_payment"


class TestLedgersAndKinds:
    """Each kind names the ledgers it needs, of the right sort, and only those."""

    def test_an_unknown_ledger__refused(self) -> None:
        """A ledger not in the register is not found, naming the key and the ledgers known."""
        _refused(cash(currency="dollars"), NotFoundError, "currency", "no ledger 'dollars'", "rice-quota")
        found = refusal(ration(quota__ledger="wheat-quota")).error
        assert isinstance(found, NotFoundError) and found.field == f"{WHERE}.quota[0].ledger"

    def test_cash_on_a_quota_ledger__refused(self) -> None:
        """Money is paid on a currency ledger (an ISO 4217 unit), not on kilograms of rice."""
        _refused(cash(currency="rice-quota"), InvalidInputError, "currency", "counts kg, not a currency")

    def test_a_quota_on_the_currency__refused(self) -> None:
        """A quota is a ledger of its own in the commodity's unit."""
        found = refusal(ration(quota__ledger="currency")).error
        assert isinstance(found, InvalidInputError) and "is a currency" in str(found)

    def test_each_kind_names_only_what_it_needs(self) -> None:
        """In kind has no currency; cash no quota; quotas no cash; subsidised price needs a co-payment."""
        in_kind = ration(kind="in_kind", currency=None, quota__co_payment=None)
        assert checked(in_kind)[1] == []
        _refused(ration(kind="in_kind", quota__co_payment=None), InvalidInputError, "currency", "no currency")
        _refused(ration(currency=None), InvalidInputError, "currency", "is required")
        _refused(ration(kind="cash"), InvalidInputError, "quota", "no quota")
        _refused(cash(kind="in_kind", currency=None), InvalidInputError, "cash", "no cash")
        _refused(ration(quota__co_payment=None), InvalidInputError, "quota[0].co_payment", "is required")
        with_price = in_kind.replace("budget = 10000000", "co_payment = 5\nbudget = 10000000")
        _refused(with_price, InvalidInputError, "quota[0].co_payment", "unknown key")

    def test_two_quotas_on_one_ledger__refused(self) -> None:
        """Each commodity's quota is its own ledger, so a quota is a balance."""
        second = '[[programme.quota]]\ncommodity = "flour"\nledger = "rice-quota"\namount = "1"\n'
        second += "budget = 1\nco_payment = 1\n"
        found = refusal(ration() + second).error
        assert isinstance(found, ConflictError) and found.field == f"{WHERE}.quota[1].ledger"

    def test_a_product_of_no_quota__refused(self) -> None:
        """A product draws on one of the programme's commodities."""
        text = ration() + '[[programme.products]]\ncode = "FLOUR-1KG"\ncommodity = "flour"\nquantity = 1000\n'
        found = refusal(text).error
        assert isinstance(found, NotFoundError) and found.field == f"{WHERE}.products[0].commodity"

    def test_an_unknown_merchant_category__refused(self) -> None:
        """An MCC that is not in the ISO 18245 table is not found; none at all is refused too."""
        _refused(cash(merchant_categories=[5411, 1234]), NotFoundError, "merchant_categories[1]", "1234")
        _refused(cash(merchant_categories=[0]), NotFoundError, "merchant_categories[0]")
        _refused(cash(merchant_categories=[]), InvalidInputError, "merchant_categories", "1-64")


class TestShape:
    """Enumerations, durations, texts and keys: each refused by name, with its limit."""

    @pytest.mark.parametrize(
        ("key", "value"),
        [("schedule", "daily"), ("unit", "village"), ("kind", "voucher"), ("over_budget", "borrow")],
    )
    def test_an_unknown_choice__refused(self, key: str, value: str) -> None:
        """Schedules are monthly, weekly or one-off; units, kinds and over-budget policies likewise listed."""
        _refused(cash(**{key: value}), InvalidInputError, key, "must be one of")

    @pytest.mark.parametrize("valid_for", ["0d", "2y", "401d", "60", 60, "1h"])
    def test_a_bad_validity__refused(self, valid_for: object) -> None:
        """An entitlement is valid from a day to a little over a year."""
        _refused(cash(valid_for=valid_for), InvalidInputError, "valid_for", "from 1 day")

    def test_over_long_texts__refused(self) -> None:
        """Every text has its limit, named in the message."""
        _refused(cash(name="x" * (PROGRAMME_NAME_MAX + 1)), InvalidInputError, "name", str(PROGRAMME_NAME_MAX))
        _refused(cash(id="a" * (PROGRAMME_ID_MAX + 1)), InvalidInputError, "id", str(PROGRAMME_ID_MAX))
        _refused(cash(description="x" * 1001), InvalidInputError, "description", "1000")
        long = "household.size >= 1" + " || household.size >= 1" * (FORMULA_MAX // 20)
        _refused(cash(eligibility=long), InvalidInputError, "eligibility", str(FORMULA_MAX))
        _refused(ration(quota__commodity="r" * 33), InvalidInputError, "quota[0].commodity", "32")

    def test_unknown_and_missing_keys__refused(self) -> None:
        """A misspelt key is not silently ignored; a missing one is named."""
        _refused(cash(budjet=5), InvalidInputError, "budjet", "unknown key")
        _refused(cash(eligibility=None), InvalidInputError, "eligibility", "is required")
        _refused(cash(cash__amount=None), InvalidInputError, "cash.amount", "is required")

    def test_a_duplicate_id__refused(self) -> None:
        """Ids are unique across the files of one load."""
        programmes, refusals = checked(cash(), cash())
        assert programmes.ids() == ["food_cash"]
        assert isinstance(refusals[0].error, ConflictError) and refusals[0].where == "<text 1>:programme[0]"

    def test_a_name_that_names_a_penalty__refused(self) -> None:
        """A programme joins the register of benefits, which refuses a "benefit" named for a penalty."""
        _refused(cash(name="Audit relief"), InvalidInputError, "name", "penalty")

    def test_an_id_taken_by_another_benefit__refused(self) -> None:
        """The id is the programme's benefit id: one registered with other terms is a conflict."""
        _refused(cash(id="aid"), ConflictError, "id", "other terms")

    def test_a_file_with_other_tables__refused(self, tmp_path: Path) -> None:
        """A programme file holds [[programme]] tables only; an unreadable file is one refusal."""
        stray = tmp_path / "stray.toml"
        stray.write_text('[[rule]]\nid = "x"\n')
        _, refusals = check_programmes(
            [stray, tmp_path / "none.toml"], TYPES, BASES, ledgers=LEDGERS, benefits=benefits()
        )
        assert [type(r.error) for r in refusals] == [InvalidInputError, NotFoundError]
        assert refusals[0].line().startswith(f"{stray}:rule: programme=- field={stray}:rule [invalid_input]")
