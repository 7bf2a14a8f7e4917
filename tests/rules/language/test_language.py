"""Rule files: what loads, and every malformed rule refused with the file, rule and field named, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.errors import InvalidInputError, NotFoundError, TesseraError
from tessera.rules.basis import Domain
from tessera.rules.definitions import builtin_definitions, builtin_path, load_definitions
from tessera.rules.language.rulesets import (
    POINTS_MAX,
    Effect,
    EffectKind,
    RuleSet,
    check_rules,
    load_rules,
)

TYPES, BASES = builtin_definitions()
GOOD = """
[[rule]]
id = "credit.repaid-late"
title = "Repaid late"
basis = "consumer-credit-act/12"
inputs = ["loan.repaid"]
condition = "event.days_late > 30"
reason_code = "repaid_late"
reason_text = "An instalment was repaid more than 30 days late."
effects = [{ kind = "score", scheme = "credit", points = -40, expires_after = "365d", half_life = "90d" }]
"""


def with_rule(**changes: str | None) -> str:
    """GOOD with keys replaced (TOML values as text) or removed (None)."""
    lines = []
    keys = set()
    for line in GOOD.strip().splitlines():
        key = line.split(" = ")[0]
        keys.add(key)
        if key in changes:
            if changes[key] is not None:
                lines.append(f"{key} = {changes[key]}")
        else:
            lines.append(line)
    lines += [f"{k} = {v}" for k, v in changes.items() if v is not None and k not in keys]
    return "\n".join(lines) + "\n"


def refusal(text: str, *more: str) -> TesseraError:
    with pytest.raises(TesseraError) as caught:
        load_rules([text, *more], TYPES, BASES)
    return caught.value


class TestLoading:
    def test_a_rule_loads_with_its_basis_effects_and_fields(self) -> None:
        """A good rule loads with its basis, its effects in seconds, the fields it reads and its source."""
        (rule,) = load_rules([GOOD], TYPES, BASES)
        assert rule.basis.cite() == "Consumer Credit Act, s. 12 (credit reference scoring)"
        assert rule.effects == (Effect(EffectKind.score, 365 * 86_400, "credit", -40, 90 * 86_400),)
        assert rule.fields == {"loan.repaid.days_late"} and rule.adverse
        assert rule.source == "<text 0>:rule[0]"

    def test_the_example_file_loads_from_a_path(self) -> None:
        """The shipped example file loads from disk and is indexed by input, with each rule's fields and effects."""
        rules = load_rules([builtin_path("example_rules.toml")], TYPES, BASES)
        assert len(rules) >= 6
        assert {r.id for r in rules.for_input("loan.repaid")} == {"credit.repaid-late", "credit.repaid-on-time"}
        assert rules.get("benefit.disability-allowance").fields == {
            "benefit.claimed.programme",
            "benefit.claimed.claimant.disability_grade",
        }
        restriction = rules.get("credit.defaulted").effects[1]
        assert restriction.kind is EffectKind.restriction and restriction.domains == {Domain.credit}

    def test_several_inputs_read_the_same_field(self) -> None:
        """A rule over two event types reads the same field of each, and both are on record as read."""
        text = with_rule(inputs='["loan.repaid", "loan.defaulted"]', condition='"event.amount > 100"')
        (rule,) = load_rules([text], TYPES, BASES)
        assert rule.fields == {"loan.repaid.amount", "loan.defaulted.amount"}

    def test_a_favourable_rule_needs_no_reason_text(self) -> None:
        """Only adverse rules must give a reason: a grant of eligibility loads without one."""
        effect = '[{ kind = "eligibility", benefit = "fee_waiver", expires_after = "30d" }]'
        (rule,) = load_rules([with_rule(reason_text=None, effects=effect)], TYPES, BASES)
        assert rule.reason_text == "" and not rule.adverse

    def test_the_rule_set_is_immutable_and_indexed(self) -> None:
        """A rule set cannot be reassigned, answers by id and input, and refuses a rule id twice."""
        rules = load_rules([GOOD], TYPES, BASES)
        assert "credit.repaid-late" in rules and rules.for_input("tax.filed_late") == ()
        with pytest.raises(AttributeError):
            rules.rules = ()  # type: ignore[misc]
        with pytest.raises(NotFoundError):
            rules.get("nope")
        with pytest.raises(InvalidInputError):
            RuleSet([*rules, *rules])


class TestBadInput:
    """Each malformed rule is refused with an error whose field names the file, the rule and the key."""

    @pytest.mark.parametrize(
        ("changes", "error", "field"),
        [
            ({"condition": None}, InvalidInputError, "condition"),
            ({"basis": None}, InvalidInputError, "basis"),
            ({"effects": None}, InvalidInputError, "effects"),
            ({"title": '""'}, InvalidInputError, "title"),
            ({"id": '"Credit Late"'}, InvalidInputError, "id"),
            ({"reason": '"typo"'}, InvalidInputError, "reason"),  # an unknown key is a typo, not ignored
            ({"inputs": '["loan.repaid_late"]'}, NotFoundError, "inputs[0]"),
            ({"inputs": "[]"}, InvalidInputError, "inputs"),
            ({"basis": '"credit-act"'}, NotFoundError, "basis"),
            ({"reason_text": None}, InvalidInputError, "reason_text"),  # adverse without a reason
            ({"reason_text": '"   "'}, InvalidInputError, "reason_text"),
            ({"reason_code": '"Late!"'}, InvalidInputError, "reason_code"),
            ({"condition": '"event.days_late >"'}, InvalidInputError, "condition"),  # CEL syntax error
            ({"condition": '"event.days_late + 1"'}, InvalidInputError, "condition"),  # not a bool
            ({"condition": '"event.days_late > 1.5"'}, InvalidInputError, "condition"),  # int vs double
            ({"condition": '"x > 1"'}, InvalidInputError, "condition"),  # undeclared
        ],
    )
    def test_rule_keys(self, changes: dict[str, str | None], error: type[Exception], field: str) -> None:
        """Each missing, unknown or malformed key (CEL syntax, type, undeclared name) is refused by field."""
        caught = refusal(with_rule(**changes))
        assert type(caught) is error
        assert getattr(caught, "field", None) == f"<text 0>:rule[0].{field}"

    @pytest.mark.parametrize(
        ("effect", "field"),
        [
            ('{ kind = "score", scheme = "credit", points = 1001, expires_after = "1d" }', "points"),
            ('{ kind = "score", scheme = "credit", points = -1001, expires_after = "1d" }', "points"),
            ('{ kind = "score", scheme = "credit", points = 0, expires_after = "1d" }', "points"),
            ('{ kind = "score", scheme = "credit", points = 1.5, expires_after = "1d" }', "points"),
            ('{ kind = "score", scheme = "Credit", points = -1, expires_after = "1d" }', "scheme"),
            ('{ kind = "score", scheme = "credit", points = -1 }', "expires_after"),  # every effect expires
            ('{ kind = "score", scheme = "credit", points = -1, expires_after = "forever" }', "expires_after"),
            ('{ kind = "score", scheme = "credit", points = -1, expires_after = "3651d" }', "expires_after"),
            ('{ kind = "score", scheme = "credit", points = -1, expires_after = "1d", half_life = "2d" }', "half_life"),
            ('{ kind = "restriction", domains = ["travel"], expires_after = "1d" }', "domains[0]"),  # not the basis's
            ('{ kind = "restriction", domains = [], expires_after = "1d" }', "domains"),
            ('{ kind = "restriction", domains = ["credit"], expires_after = "1d", points = 3 }', "points"),
            ('{ kind = "eligibility", expires_after = "1d" }', "benefit"),
            ('{ kind = "denial", expires_after = "0s" }', "expires_after"),
            ('{ kind = "freeze", expires_after = "1d" }', "kind"),
        ],
    )
    def test_effects(self, effect: str, field: str) -> None:
        """Out-of-bounds effects (points, scheme, expiry, half-life, domains, kind) are refused by key."""
        caught = refusal(with_rule(effects=f"[{effect}]"))
        assert isinstance(caught, InvalidInputError)
        assert caught.field == f"<text 0>:rule[0].effects[0].{field}"

    def test_points_bound(self) -> None:
        """Points at exactly POINTS_MAX load: the bound itself is allowed."""
        (rule,) = load_rules(
            [with_rule(effects=f'[{{ kind = "score", scheme = "c", points = {POINTS_MAX}, expires_after = "1d" }}]')],
            TYPES,
            BASES,
        )
        assert rule.effects == (Effect(EffectKind.score, 86_400, "c", POINTS_MAX),)

    def test_malformed_toml_names_the_file(self, tmp_path: Path) -> None:
        """Broken TOML is refused as malformed TOML with the file's path as the field."""
        path = tmp_path / "credit.toml"
        path.write_text('[[rule]]\nid = "x\n')
        caught = refusal(path)  # type: ignore[arg-type]
        assert isinstance(caught, InvalidInputError) and caught.field == str(path)
        assert "malformed TOML" in str(caught)

    def test_a_file_names_its_rules_by_path_and_position(self, tmp_path: Path) -> None:
        """A refusal names the file path and the rule's position in it, so an author finds the line."""
        path = tmp_path / "credit.toml"
        path.write_text(GOOD + with_rule(id='"second"', condition='"event.days_late >"'))
        caught = refusal(path)  # type: ignore[arg-type]
        assert getattr(caught, "field", None) == f"{path}:rule[1].condition"

    def test_a_duplicate_rule_id_across_files(self) -> None:
        """The same rule id in two files is refused on the second, naming where the first stands."""
        caught = refusal(GOOD, GOOD)
        assert isinstance(caught, InvalidInputError) and caught.field == "<text 1>:rule[0].id"
        assert "<text 0>:rule[0]" in str(caught)

    @pytest.mark.parametrize(
        "text", ['[rule]\nid = "x"\n', '[[rules]]\nid = "x"\n', "rule = 3\n", '[[rule]]\nid = "x"\n[[event_type]]\n']
    )
    def test_a_file_that_is_not_a_list_of_rules(self, text: str) -> None:
        """A table instead of an array, a misspelt table or a declaration in a rule file is refused."""
        assert isinstance(refusal(text), InvalidInputError)

    def test_a_missing_file(self, tmp_path: Path) -> None:
        """A rule file that does not exist is not found, not silently an empty rule set."""
        assert isinstance(refusal(tmp_path / "nope.toml"), NotFoundError)  # type: ignore[arg-type]


class TestAllOrNothing:
    def test_load_rules_refuses_everything_when_one_rule_is_bad(self) -> None:
        """load_rules loads nothing when one rule of many is bad: no half-applied policy."""
        with pytest.raises(InvalidInputError):
            load_rules([GOOD, with_rule(id='"other"', basis=None)], TYPES, BASES)

    def test_check_rules_collects_every_refusal_and_keeps_the_good_rules(self) -> None:
        """check_rules reports every refusal with its place and rule id, and keeps the good rules."""
        rules, refusals = check_rules(
            [GOOD, with_rule(id='"b"', basis=None) + with_rule(id='"c"', condition='"event.nope > 1"'), "[[rule"],
            TYPES,
            BASES,
        )
        assert [r.id for r in rules] == ["credit.repaid-late"]
        assert [(r.where, r.rule) for r in refusals] == [
            ("<text 1>:rule[0]", "b"),
            ("<text 1>:rule[1]", "c"),
            ("<text 2>", None),
        ]
        assert refusals[1].line().startswith("<text 1>:rule[1]: rule=c field=condition [not_found]")


class TestEffects:
    """An Effect checks itself when built, so a hand-built one cannot break the bounds either."""

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"kind": EffectKind.score, "expires_after_s": 10, "scheme": "credit", "points": POINTS_MAX + 1},
            {"kind": EffectKind.score, "expires_after_s": 10, "scheme": "credit", "points": 0},
            {"kind": EffectKind.score, "expires_after_s": 0, "scheme": "credit", "points": 1},
            {"kind": EffectKind.denial, "expires_after_s": 10, "points": 5},
            {"kind": EffectKind.restriction, "expires_after_s": 10},
            {"kind": EffectKind.eligibility, "expires_after_s": 10, "benefit": "x", "half_life_s": 5},
            {"kind": "score", "expires_after_s": 10, "scheme": "credit", "points": 1},
        ],
    )
    def test_out_of_bounds(self, kwargs: dict[str, object]) -> None:
        """Hand-built effects outside the bounds (points, expiry, extra keys, a plain string kind) are refused."""
        with pytest.raises(InvalidInputError):
            Effect(**kwargs)  # type: ignore[arg-type]

    def test_favourable(self) -> None:
        """Only grants and positive scores are favourable; denials, restrictions and negative scores are not."""
        assert Effect(EffectKind.eligibility, 10, benefit="x").favourable
        assert Effect(EffectKind.score, 10, "credit", 3).favourable
        assert not Effect(EffectKind.score, 10, "credit", -3).favourable
        assert not Effect(EffectKind.denial, 10).favourable
        assert not Effect(EffectKind.restriction, 10, domains=frozenset({Domain.credit})).favourable


class TestDefinitions:
    """Event types, records and bases from TOML: unknown and cyclic records are refused by name."""

    def test_the_builtin_definitions(self) -> None:
        """The built-in types include the ledger's transfer with its leaf fields, and bases of every kind."""
        assert {"ledger.transfer", "loan.repaid", "loan.defaulted", "tax.filed_late", "court.judgment_unpaid"} <= set(
            TYPES.names()
        )
        transfer = TYPES.get("ledger.transfer").leaf_fields()
        assert {p: leaf.type.value for p, leaf in transfer.items()} == {
            "amount": "int",
            "ledger": "int",
            "code": "int",
            "merchant_category": "int",
            "status": "int",
            "refused": "bool",
            "two_phase": "bool",
        }
        kinds = {BASES.get(i).kind.value for i in BASES.ids()}
        assert {"statute", "court_order", "sanctions_listing"} <= kinds

    def test_records_in_any_order_and_extending_the_builtins(self) -> None:
        """Records may be declared after their use and build on built-in ones, without touching the given registries."""
        text = """
[[event_type]]
name = "household.registered"
purpose = "benefit"
fields.who = { type = "household", category = "benefit" }
[[record_type]]
name = "household"
fields.head = { type = "claimant", category = "benefit" }
fields.size = { type = "int", category = "benefit" }
"""
        types, _ = load_definitions([text], TYPES, BASES)
        assert "household.registered.who.head.disability_grade" in {
            f"household.registered.{p}" for p in types.get("household.registered").leaf_fields()
        }
        assert "household.registered" not in TYPES  # the registries given are left untouched

    def test_a_cycle_of_records_is_refused(self) -> None:
        """Records that contain each other are refused, the cycle spelt out."""
        text = """
[[record_type]]
name = "a"
fields.b = { type = "b", category = "financial" }
[[record_type]]
name = "b"
fields.a = { type = "a", category = "financial" }
"""
        with pytest.raises(InvalidInputError, match="cycle: a -> b -> a"):
            load_definitions([text])

    def test_an_unknown_record_is_refused(self) -> None:
        """A field typed with an undeclared record is not found, naming the field's type key."""
        text = """
[[event_type]]
name = "x.y"
purpose = "financial"
fields.p = { type = "person", category = "financial" }
"""
        with pytest.raises(NotFoundError) as caught:
            load_definitions([text])
        assert caught.value.field == "<text 0>:event_type[0].fields.p.type"

    @pytest.mark.parametrize(
        "text",
        [
            '[[event_type]]\nname = "x.y"\npurpose = "financial"\nfields.time = {type = "int", category = "tax"}\n',
            '[[legal_basis]]\nid = "a"\ninstrument = "A"\narticle = "1"\nkind = "decree"\n',
            '[[event_type]]\nname = "x.y"\npurpose = "financial"\nfields.p = { type = "int" }\n',
            "[[widget]]\n",
        ],
    )
    def test_malformed_definitions(self, text: str) -> None:
        """An unknown category, basis kind, missing category or table is refused with the text's place."""
        with pytest.raises(InvalidInputError) as caught:
            load_definitions([text])
        assert caught.value.field.startswith("<text 0>:")


class TestLegalBasisCoversWhatItNames:
    """A rule citing a basis reads only what the basis covers; court orders and listings cover no rule (issue 16)."""

    def test_the_builtin_bases_cover_their_own_events(self) -> None:
        """The built-in bases cover their own events, and court orders and listings cover no rule."""
        assert BASES.get("consumer-credit-act/12").covers >= {"loan.repaid", "loan.defaulted", "ledger.transfer"}
        assert BASES.get("tax-administration-act/45").covers == {"tax.filed_late"}
        assert all(not BASES.get(i).for_rules for i in BASES.ids() if i.startswith(("sanctions-act", "civil-proc")))

    def test_a_rule_over_an_input_its_basis_does_not_cover__refused(self) -> None:
        """A rule reading an event its basis does not cover is refused on that input, naming rule and basis."""
        error = refusal(with_rule(inputs='["tax.filed_late"]'))
        assert isinstance(error, InvalidInputError) and error.field == "<text 0>:rule[0].inputs[0]"
        assert "'credit.repaid-late'" in str(error) and "consumer-credit-act/12" in str(error)

    @pytest.mark.parametrize(
        "effect",
        [
            '{ kind = "restriction", domains = ["payments"], expires_after = "90d" }',
            '{ kind = "score", scheme = "credit", points = -10, expires_after = "90d" }',
        ],
    )
    def test_a_rule_citing_a_court_order__refused_whatever_it_does(self, effect: str) -> None:
        """A rule may not cite a court order, whether it restricts or scores: only a court exercises one."""
        text = with_rule(
            basis='"civil-procedure-code/enforcement"', inputs='["court.judgment_unpaid"]', effects=f"[{effect}]"
        )
        error = refusal(text.replace("event.days_late", "event.days_unpaid"))
        assert isinstance(error, InvalidInputError) and error.field == "<text 0>:rule[0].basis"

    def test_definitions_name_what_a_basis_covers(self) -> None:
        """A declared basis names the events and purposes it covers; an unknown purpose is refused."""
        text = """
[[legal_basis]]
id = "fines-act/3"
instrument = "Fines Act"
article = "s. 3"
kind = "statute"
covers = ["tax.filed_late"]
purposes = ["judicial"]
"""
        _, bases = load_definitions([text], TYPES, BASES)
        assert bases.get("fines-act/3").coverage_text() == "tax.filed_late, purpose judicial"
        with pytest.raises(InvalidInputError) as caught:
            load_definitions([text.replace('"judicial"', '"justice"')])
        assert caught.value.field == "<text 0>:legal_basis[0].basis.purposes[0]"


class TestRuleOutputsAreNoInput:
    """No rule may read another rule's grants, scores, notices or restrictions, by any path (issue 16)."""

    @staticmethod
    def declared(name: str, purpose: str, field: str, category: str, table: str = "event_type") -> str:
        head = f'[[{table}]]\nname = "{name}"\n' + (f'purpose = "{purpose}"\n' if table == "event_type" else "")
        return head + f'fields.{field} = {{ type = "int", category = "{category}" }}\n'

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (("score.changed", "financial", "x", "financial"), "name"),  # an agency re-emitting scores as events
            (("loan.applied", "financial", "credit_score", "financial"), "credit_score"),
            (("benefit.paid", "benefit", "grants", "benefit"), "grants"),
            (("loan.applied", "financial", "x", "derived"), "x"),
            (("loan.applied", "derived", "x", "financial"), "purpose"),
            (("notice", "", "x", "financial", "record_type"), "name"),
            (("person", "", "restriction_count", "financial", "record_type"), "restriction_count"),
        ],
    )
    def test_a_declaration_carrying_a_rule_output__refused(self, args: tuple[str, ...], field: str) -> None:
        """A type or field carrying a rule's output (score, grants, derived) is refused: rules cannot chain."""
        with pytest.raises(InvalidInputError) as caught:
            load_definitions([self.declared(*args)])
        assert caught.value.field.startswith("<text 0>:") and caught.value.field.endswith(field)
        assert "rule's output" in str(caught.value)
