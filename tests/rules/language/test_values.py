"""The guard reads values: codes and free text carry meaning (issue 16, part 1).

Written as an operator who wants to punish a minority and has read docs/rules.md: every way
to single out payments to a place of worship, a pharmacy or a dating service, and every way
to read a church's or a mosque's name in free text, is refused when the rule is defined,
naming the rule, the field and the category. Lawful rules still load.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tessera.errors import InvalidInputError, ProtectedCategoryError, TesseraError
from tessera.rules.categories import FORBIDDEN, Category, EventTypes, FieldSpec, event_type
from tessera.rules.codes import code_table, ledger_table
from tessera.rules.definitions import EXAMPLE_RULES, builtin_definitions, builtin_path
from tessera.rules.language.compiler import CompiledRules
from tessera.rules.language.guard import guarded_condition
from tessera.rules.language.reference import ReferenceRule
from tessera.rules.language.rulesets import check_rules, load_rules
from tessera.rules.language.values import FREE_TEXT, is_free_text

TYPES, BASES = builtin_definitions()
TYPES.use_codes(TYPES.codes.replaced(ledger_table([(1, "currency", None), (7, "disability-transport", "disability")])))

SCORE_DOWN = '{ kind = "score", scheme = "credit", points = -30, expires_after = "365d" }'
SCORE_UP = '{ kind = "score", scheme = "credit", points = 5, expires_after = "365d" }'
RESTRICTION = '{ kind = "restriction", domains = ["credit"], expires_after = "30d" }'
DENIAL = '{ kind = "denial", expires_after = "30d" }'
GRANT = '{ kind = "eligibility", benefit = "fee_waiver", expires_after = "30d" }'


def rule_text(condition: str, effect: str = SCORE_DOWN, inputs: str = "ledger.transfer", rule_id: str = "op.r") -> str:
    return f"""
[[rule]]
id = "{rule_id}"
title = "A rule an operator wrote"
basis = "consumer-credit-act/12"
inputs = ["{inputs}"]
condition = {json.dumps(condition)}
reason_code = "operator"
reason_text = "Because the operator said so."
effects = [{effect}]
"""


def refusal(condition: str, effect: str = SCORE_DOWN, inputs: str = "ledger.transfer") -> TesseraError:
    rules, refusals = check_rules([rule_text(condition, effect, inputs)], TYPES, BASES)
    assert not len(rules), f"{condition!r} loaded"
    (refused,) = refusals
    return refused.error


def loads(condition: str, effect: str = SCORE_DOWN, inputs: str = "ledger.transfer") -> None:
    rules, refusals = check_rules([rule_text(condition, effect, inputs)], TYPES, BASES)
    assert not refusals, refusals[0].line()
    assert len(rules) == 1


MCC = "event.merchant_category"
RELIGION_ATTACKS = [
    f"{MCC} == 8661",
    f"8661 == {MCC}",
    f"{MCC} in [5411, 8661]",
    f"{MCC} >= 8600 && {MCC} <= 8700",
    f"{MCC} > 8660 && {MCC} < 8662",
    f"{MCC} - 8000 == 661",
    f"{MCC} / 10 == 866",
    f"{MCC} % 1000 == 661",
    f"{MCC} * 2 == 17322",
    f"-{MCC} == -8661",
    f"double({MCC}) == 8661.0",
    f"double({MCC}) / 10.0 > 866.0 && double({MCC}) / 10.0 < 866.2",
    f'string({MCC}) == "8661"',
    f'string({MCC}).startsWith("866")',
    f'string({MCC}).endsWith("661")',
    f'string({MCC}).matches("^86[6]1$")',
    f"({MCC} == 8661) == true",
    f"({MCC} == 8661 ? 1 : 0) > 0",
    f"!({MCC} != 8661)",
    f"!!({MCC} == 8661)",
    f"event.amount > 0 && {MCC} == 8661",
    f"event.refused || {MCC} == 8661 && event.amount > 100",
]


class TestCodedFields:
    """A score lowered for payments at MCC 8661 (religious organisations), however the condition is dressed."""

    @pytest.mark.parametrize("condition", RELIGION_ATTACKS)
    def test_a_rule_singling_out_a_place_of_worship__refused_naming_rule_field_and_religion(
        self, condition: str
    ) -> None:
        """Equality, sets, ranges, arithmetic, conversions, double negation, inside && and ||."""
        error = refusal(condition)
        assert isinstance(error, ProtectedCategoryError)
        assert error.field == "<text 0>:rule[0].ledger.transfer.merchant_category"
        assert "op.r" in str(error)
        assert error.category == "religion" or "religion: " in str(error)
        assert "8661 (Religious Organizations)" in str(error)

    @pytest.mark.parametrize("effect", [SCORE_UP, GRANT, RESTRICTION, DENIAL])
    def test_forbidden_codes_are_refused_whatever_the_effect(self, effect: str) -> None:
        """A bonus for churchgoers or a grant to them reads religion as much as a penalty does."""
        error = refusal(f"{MCC} == 8661", effect)
        assert isinstance(error, ProtectedCategoryError) and error.category == "religion"

    @pytest.mark.parametrize(
        "condition",
        [
            f"{MCC} == event.code",
            f"{MCC} == event.amount",
            f"{MCC} - event.code == 8659",
            f"event.amount > ({MCC} == 8661 ? 0 : 100000000)",
            f"[{MCC}].exists(m, m == 8661)",
            f"[{MCC}].all(m, m != 5411)",
        ],
    )
    @pytest.mark.parametrize("effect", [SCORE_DOWN, GRANT])
    def test_a_comparison_the_guard_cannot_resolve__refused(self, condition: str, effect: str) -> None:
        """With another field, through a value that meets another field, in a macro: taken to match every code.

        The merchant table holds forbidden codes, so even a grant may not read it so.
        """
        error = refusal(condition, effect)
        assert isinstance(error, ProtectedCategoryError)
        assert error.field.endswith("ledger.transfer.merchant_category")
        assert "religion" in str(error) and "op.r" in str(error)

    @pytest.mark.parametrize(
        "condition",
        [f"{MCC} != 5411", f"!({MCC} == 5411)", f"!({MCC} in [5411, 5412])", f"{MCC} >= 5000", f"{MCC} < 5000"],
    )
    def test_a_negation_or_open_range_reads_almost_every_category(self, condition: str) -> None:
        """``!=``, ``not in`` and one-sided ranges match the protected codes (or the withheld value) too."""
        error = refusal(condition)
        assert isinstance(error, ProtectedCategoryError)
        assert Category(error.category) in FORBIDDEN

    def test_pharmacy_purchases__never_a_restriction(self) -> None:
        """Health: a restriction on pharmacy purchases is refused."""
        error = refusal(f"{MCC} == 5912 && event.amount > 5000", RESTRICTION)
        assert isinstance(error, ProtectedCategoryError) and error.category == "health"
        assert "5912 (Drug Stores and Pharmacies)" in str(error)

    @pytest.mark.parametrize("effect", [SCORE_DOWN, SCORE_UP, DENIAL])
    def test_health_codes__never_a_score_or_a_denial(self, effect: str) -> None:
        """Doctors, hospitals, opticians: only a grant may read them."""
        for code in (8011, 8062, 8043, 5976):
            error = refusal(f"{MCC} == {code}", effect)
            assert isinstance(error, ProtectedCategoryError) and error.category in {"health", "disability"}

    def test_a_dating_service__never_a_denial(self) -> None:
        """Sexual life."""
        error = refusal(f"{MCC} == 7273", DENIAL)
        assert isinstance(error, ProtectedCategoryError) and error.category == "sexual_life"

    @pytest.mark.parametrize(
        ("code", "category"),
        [(8651, "political_opinion"), (8699, "trade_union"), (5994, "speech_content"), (5973, "religion")],
    )
    def test_parties_unions_and_the_press(self, code: int, category: str) -> None:
        """Each forbidden category the table holds."""
        error = refusal(f"{MCC} in [{code}]")
        assert isinstance(error, ProtectedCategoryError)
        assert category in str(error)

    def test_a_quota_ledger_is_what_it_funds(self) -> None:
        """``event.ledger == 7`` reads the category of ledger 7: a disability programme's quota."""
        error = refusal("event.ledger == 7")
        assert isinstance(error, ProtectedCategoryError) and error.category == "disability"
        loads("event.ledger == 7", GRANT)
        loads("event.ledger == 1 && event.refused")

    @pytest.mark.parametrize(
        "condition", ["event.ledger != 7", "!(event.ledger == 7)", "!(event.ledger in [7])", "event.ledger < 7"]
    )
    def test_a_grant_on_everything_but_a_disability_quota__refused(self, condition: str) -> None:
        """Granting on the absence of a protected fact: the quota's holders are the ones left out."""
        error = refusal(condition, GRANT)
        assert isinstance(error, ProtectedCategoryError) and error.category == "disability"
        assert "absence" in str(error)

    def test_a_value_with_no_registered_meaning__refused_unless_purely_favourable(self) -> None:
        """A transfer code or ledger not in its table: nobody said what it means."""
        for condition in ("event.code == 99", "event.ledger == 9", "event.code != 2", "event.code < 3"):
            assert isinstance(refusal(condition), InvalidInputError)
        loads("event.code == 99", SCORE_UP)
        loads("event.code != 2", SCORE_UP)


class TestLawfulRules:
    """What the guard must still let through."""

    @pytest.mark.parametrize(
        "condition",
        [
            "event.refused && event.status == 35 && event.amount >= 100000",
            f"{MCC} == 5411 && event.amount > 50000",
            f"{MCC} >= 5411 && {MCC} <= 5499",
            f"{MCC} in [5541, 5542] && event.refused",
            f"!event.refused && {MCC} == 7995",
            "event.code == 2 && event.ledger == 1",
            "event.code in [11, 14] && event.refused",
        ],
    )
    def test_a_score_on_ordinary_payments_loads(self, condition: str) -> None:
        """Payments refused for lack of funds, at groceries, fuel or betting: financial data."""
        loads(condition)

    def test_an_eligibility_grant_for_pharmacy_spending_loads(self) -> None:
        """Health may open a door, and the grant carries the category it was derived from."""
        loads(f"{MCC} == 5912 && event.amount >= 2000", GRANT)
        types = [TYPES.get("ledger.transfer")]
        guarded = guarded_condition("w", "r", f"{MCC} == 5912", types, True, favourable=True, codes=TYPES.codes)
        assert guarded.value_categories == {Category.health}
        assert guarded.coded == {"merchant_category": "mcc"}
        rules = load_rules([rule_text(f"{MCC} == 5912", GRANT)], TYPES, BASES)
        assert Category.health in rules.get("op.r").categories  # a grant from pharmacy purchases is health data

    def test_the_shipped_example_rules_load(self) -> None:
        """Every example rule Tessera ships."""
        rules, refusals = check_rules([builtin_path(EXAMPLE_RULES)], TYPES, BASES)
        assert not refusals, [r.line() for r in refusals]
        assert len(rules) >= 5


FREE_TEXT_ATTACKS = [
    ("loan.repaid", 'event.lender.contains("church")'),
    ("loan.repaid", 'event.lender.contains("Church")'),
    ("loan.repaid", 'event.lender.matches("(?i)mosque")'),
    ("loan.repaid", 'event.lender.matches("(?i)(iglesia|parroquia|mezquita|sinagoga)")'),
    ("loan.repaid", 'event.lender.contains("iglesia")'),
    ("loan.repaid", 'event.lender.contains("مسجد")'),  # a mosque
    ("loan.repaid", 'event.lender.contains("كنيسة")'),  # a church
    ("loan.repaid", 'event.lender.startsWith("Islamic")'),
    ("loan.repaid", 'event.lender.endsWith("Synagogue Credit Union")'),
    ("loan.repaid", 'event.lender == "Banco de la Iglesia"'),
    ("loan.repaid", 'event.lender in ["Al Baraka", "Dar Al Maal"]'),
    ("loan.repaid", "size(event.lender) == 13"),
    ("loan.repaid", 'event.lender != "First Bank"'),
    ("loan.defaulted", 'event.lender.contains("MOSQUE")'),
    ("court.judgment_unpaid", 'event.case_id.startsWith("FAM-")'),
]


class TestFreeText:
    """Names, references and dockets: no rule that can close a door reads them."""

    @pytest.mark.parametrize(("inputs", "condition"), FREE_TEXT_ATTACKS)
    def test_reading_free_text_in_an_adverse_rule__refused_naming_it(self, inputs: str, condition: str) -> None:
        """In English, Spanish and Arabic; by contains, matches, startsWith, endsWith, ==, in, size and !=."""
        guarded = condition if inputs == "court.judgment_unpaid" else f"event.amount > 0 && {condition}"
        error = refusal(guarded, inputs=inputs)
        assert isinstance(error, ProtectedCategoryError)
        assert error.category == FREE_TEXT
        assert error.field.split(".", 1)[1].startswith(inputs) and "op.r" in str(error)

    @pytest.mark.parametrize("effect", [RESTRICTION, DENIAL])
    def test_other_adverse_effects_too(self, effect: str) -> None:
        """A restriction or a denial on a lender's name."""
        error = refusal('event.lender.contains("church")', effect, "loan.repaid")
        assert isinstance(error, ProtectedCategoryError) and error.category == FREE_TEXT

    def test_a_purely_favourable_rule_may_read_it(self) -> None:
        """A bonus, or a grant, for a named lender: it can open a door only."""
        loads('event.lender == "First Bank"', SCORE_UP, "loan.repaid")

    def test_which_fields_are_free_text(self) -> None:
        """Text and reference numbers without a table; coded fields, amounts and flags are not."""
        assert is_free_text(TYPES.get("loan.repaid").leaf_fields()["lender"].type, (Category.reference,), None)
        assert is_free_text(TYPES.get("ledger.transfer").leaf_fields()["code"].type, (Category.reference,), None)
        assert not is_free_text(TYPES.get("ledger.transfer").leaf_fields()["code"].type, (Category.reference,), "x")
        assert not is_free_text(TYPES.get("ledger.transfer").leaf_fields()["amount"].type, (Category.financial,), None)


class TestTextCodes:
    """A text field with a code table: equality with registered values, never patterns."""

    def setup_method(self) -> None:
        programme = code_table(
            "programme",
            "str",
            [
                ("food_aid", "Food aid", "benefit"),
                ("hiv_care", "HIV care", "health"),
                ("mosque_meals", "x", "religion"),
            ],
            "a test register of programmes",
        )
        self.codes = TYPES.codes.replaced(programme)
        fields: dict[str, FieldSpec] = {"programme": ("str", "benefit", "programme"), "amount": ("int", "benefit")}
        self.types = EventTypes([event_type("aid.paid", "benefit", fields)], codes=self.codes)

    def _category(self, condition: str, benefits_only: bool) -> str | None:
        """The category the guard refuses ``condition`` for, or None when it admits it."""
        inputs = [self.types.get("aid.paid")]
        try:
            guarded_condition("w", "r", condition, inputs, benefits_only, favourable=benefits_only, codes=self.codes)
        except ProtectedCategoryError as error:
            return error.category
        return None

    def test_equality_with_registered_values(self) -> None:
        """A registered programme of an ordinary category loads; health only in a grant; religion never."""
        assert self._category('event.programme == "food_aid"', benefits_only=False) is None
        assert self._category('event.programme == "hiv_care"', benefits_only=False) == "health"
        assert self._category('event.programme == "hiv_care"', benefits_only=True) is None
        assert self._category('event.programme.startsWith("mosque")', benefits_only=True) == "religion"
        assert self._category('event.programme != "food_aid"', benefits_only=False) == "religion"
        assert self._category('event.programme.contains("_")', benefits_only=False) == "religion"


class TestTheFeedShowsOnlyWhatARuleMayRead:
    """Defence in depth: the compiled rules see a coded column through their own view."""

    def test_each_rule_sees_the_codes_it_may_read(self) -> None:
        """A grant sees the pharmacy; a score sees groceries; nobody sees the church or an unlisted code."""
        text = rule_text(f"{MCC} == 5411", SCORE_DOWN, rule_id="a.grocery") + rule_text(
            f"{MCC} == 5912", GRANT, rule_id="b.pharmacy"
        )
        rules = load_rules([text], TYPES, BASES)
        compiled = CompiledRules(rules, TYPES)
        columns = {
            "merchant_category": np.array([5411, 5912, 8661, 7777, 0], dtype=np.int64),
            "amount": np.zeros(5, dtype=np.int64),
        }
        fired = {rule.id: rows.tolist() for rule, rows in compiled.evaluate("ledger.transfer", columns, 5)}
        assert fired == {"a.grocery": [0], "b.pharmacy": [1]}

    def test_the_reference_evaluator_sees_the_same(self) -> None:
        """Per event, as the compiled batch: what the rule may not read arrives withheld."""
        rules = load_rules([rule_text(f"{MCC} == 5912", GRANT)], TYPES, BASES)
        reference = ReferenceRule(rules.get("op.r"), TYPES)
        assert reference.evaluate({"merchant_category": 5912}) is True
        assert reference.evaluate({"merchant_category": 8661}) is False
        holds, errors = reference.evaluate_columns({"merchant_category": np.array([5912, 7777, 5411])}, 3)
        assert holds.tolist() == [True, False, False] and not errors.any()

    def test_a_grant_that_matches_unlisted_codes_never_sees_them(self) -> None:
        """A purely favourable rule may compare an unlisted transfer code; the feed withholds it anyway."""
        rules = load_rules([rule_text("event.code == 99 || event.code == 2", SCORE_UP)], TYPES, BASES)
        compiled = CompiledRules(rules, TYPES)
        columns = {"code": np.array([99, 2, 3], dtype=np.int64)}
        ((_, rows),) = compiled.evaluate("ledger.transfer", columns, 3)
        assert rows.tolist() == [1]


class TestProgrammes:
    """A claim's programme is coded by the register of benefits: it means what the benefit funds."""

    @staticmethod
    def _rule(condition: str, effect: str) -> str:
        return rule_text(condition, effect, "benefit.claimed").replace(
            "consumer-credit-act/12", "social-security-act/disability-allowance"
        )

    def test_a_score_on_a_disability_programme__refused_as_disability(self) -> None:
        """A score on claims to the disability programme is refused as disability data."""
        rules, refusals = check_rules(
            [self._rule('event.programme == "disability_allowance"', SCORE_DOWN)], TYPES, BASES
        )
        assert not len(rules)
        assert any(isinstance(r.error, ProtectedCategoryError) and r.error.category == "disability" for r in refusals)

    def test_a_grant_to_everyone_but_disability_claimants__refused(self) -> None:
        """A grant to all but disability claimants fires on the protected fact's absence and is refused."""
        grant = '{ kind = "eligibility", benefit = "disability_allowance", expires_after = "30d" }'
        rules, refusals = check_rules([self._rule('event.programme != "disability_allowance"', grant)], TYPES, BASES)
        assert not len(rules) and "absence" in str(refusals[0].error)
        rules, refusals = check_rules([self._rule('event.programme == "disability_allowance"', grant)], TYPES, BASES)
        assert len(rules) == 1 and not refusals
