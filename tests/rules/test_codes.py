"""Code tables: what coded values mean, and the feed showing each rule only the values it may read."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from tessera.cli.main import app
from tessera.errors import InvalidInputError, NotFoundError
from tessera.identity.registry import Registry
from tessera.ledger import Account, AccountFlags, CommittedBatch, Ledger, Transfer
from tessera.ledger.journal import EntryKind
from tessera.ledger.records import ACCOUNT_DTYPE
from tessera.money.agencies import Agencies
from tessera.money.ledgers import Ledgers, ledger_unit
from tessera.rules.categories import Category, EventTypes, FieldType, event_type
from tessera.rules.codes import (
    BENEFIT,
    LEDGER,
    MCC,
    NO_MERCHANT_CATEGORY,
    TRANSFER_CODE,
    WITHHELD_INT,
    WITHHELD_TEXT,
    CodeTables,
    builtin_code_tables,
    code_table,
    ledger_codes_in,
    ledger_table,
    mcc_table,
    transfer_code_table,
)
from tessera.rules.definitions import builtin_definitions, load_definitions
from tessera.rules.language.compiler import CompiledRules
from tessera.rules.language.rulesets import load_rules
from tessera.rules.scoring.engine import HolderSubjects, LedgerColumns, PayeeCategories, RuleEngine
from tessera.rules.scoring.scores import Scores
from tessera.store import Store
from tessera.store.money_tables import ledgers
from tessera.store.tables import eligibility_grants

# Our decisions (docs/rules.md, "Codes and free text"): each protected code and the categories it reveals.
PROTECTED = {
    2741: {"speech_content"},
    4119: {"health"},
    5047: {"health"},
    5122: {"health"},
    5192: {"speech_content"},
    5912: {"health"},
    5973: {"religion"},
    5975: {"health", "disability"},
    5976: {"health", "disability"},
    5994: {"speech_content"},
    7273: {"sexual_life"},
    7277: {"health"},
    8011: {"health"},
    8021: {"health"},
    8031: {"health"},
    8041: {"health"},
    8042: {"health"},
    8043: {"health"},
    8044: {"health"},
    8049: {"health"},
    8050: {"health"},
    8062: {"health"},
    8071: {"health"},
    8099: {"health"},
    8398: {"religion"},
    8641: {"political_opinion", "religion"},
    8651: {"political_opinion"},
    8661: {"religion"},
    8699: {"trade_union", "political_opinion"},
}
OTHER = {9311: {"tax"}, 9211: {"judicial"}, 9222: {"judicial"}, 9223: {"judicial"}}
FIXTURE = Path("/work/shared/fixtures/mcc/mcc_codes.csv")


class TestMerchantCategories:
    """The shipped ISO 18245 table: every code, its source, and the category each implies."""

    def test_every_code_of_the_published_list_is_shipped_with_its_source(self) -> None:
        """981 codes from the card networks' list, plus 0 for no merchant category; the source is recorded."""
        table = mcc_table()
        assert len(table) == 982
        assert "greggles/mcc-codes" in table.source and "16e8ab1" in table.source and "ISO 18245" in table.source
        meaning = table.meaning(8661)
        assert meaning is not None and meaning.label == "Religious Organizations"
        none = table.meaning(NO_MERCHANT_CATEGORY)
        assert none is not None and none.categories == {Category.financial}

    @pytest.mark.skipif(not FIXTURE.exists(), reason="the shared fixture is not here")
    def test_the_shipped_codes_are_the_fixtures(self) -> None:
        """The package's copy holds exactly the codes of the fixture it was made from."""
        with FIXTURE.open(encoding="utf-8") as f:
            codes = {int(r["mcc"]) for r in csv.DictReader(f)}
        assert {c.value for c in mcc_table()} == codes | {NO_MERCHANT_CATEGORY}

    def test_each_protected_code_carries_the_category_we_decided(self) -> None:
        """Places of worship, parties, unions, care, dating and the press are no longer 'financial'."""
        table = mcc_table()
        for value, categories in {**PROTECTED, **OTHER}.items():
            meaning = table.meaning(value)
            assert meaning is not None and {c.value for c in meaning.categories} == categories, value

    def test_every_other_code_is_financial(self) -> None:
        """Groceries, fuel, airlines: ordinary payment data."""
        decided = PROTECTED.keys() | OTHER.keys()
        for code in mcc_table():
            if code.value not in decided:
                assert code.categories == {Category.financial}, code

    def test_the_transfer_code_chart(self) -> None:
        """Codes 1-21 each have a meaning; nothing else has one; a programme's return and back-pay are benefits."""
        table = transfer_code_table()
        assert [c.value for c in table] == list(range(1, 22))
        assert table.meaning(7) is not None and table.meaning(7).categories == {Category.tax}  # type: ignore[union-attr]
        assert table.meaning(20).categories == {Category.benefit}  # type: ignore[union-attr]
        assert table.meaning(22) is None


class TestTables:
    """Checked tables: values once, known categories, a source."""

    @pytest.mark.parametrize(
        ("entries", "field"),
        [
            ([(1, "a", "financial"), (1, "b", "financial")], "codes.t[1].value"),
            ([(-1, "a", "financial")], "codes.t[0].value"),
            ([(True, "a", "financial")], "codes.t[0].value"),
            ([(1, "", "financial")], "codes.t[0].label"),
            ([(1, "a", "Religion")], "codes.t[0].categories"),
            ([(1, "a", "")], "codes.t[0].categories"),
        ],
    )
    def test_a_bad_entry__refused_naming_it(self, entries: list[tuple[object, object, object]], field: str) -> None:
        """A value twice, out of range or a bool, an empty label, an unknown or missing category."""
        with pytest.raises(InvalidInputError) as caught:
            code_table("t", "int", entries, "test")
        assert caught.value.field == field

    def test_a_table_needs_a_source_and_a_name(self) -> None:
        """Where the meanings come from is part of the table."""
        with pytest.raises(InvalidInputError, match="source"):
            code_table("t", "int", [], " ")
        with pytest.raises(InvalidInputError, match="name"):
            code_table("T-1", "int", [], "test")

    def test_the_builtin_tables(self) -> None:
        """mcc, transfer_code and empty ledger and benefit registers; an unknown name is not_found."""
        tables = builtin_code_tables()
        assert tables.names() == [BENEFIT, LEDGER, MCC, TRANSFER_CODE]
        assert len(tables.get(LEDGER)) == 0 and len(tables.get(BENEFIT)) == 0
        with pytest.raises(NotFoundError):
            tables.get("programme")

    def test_a_table_is_replaced_only_by_one_of_the_same_type(self) -> None:
        """The register of ledgers replaces the empty one; text codes cannot replace numbers."""
        tables = builtin_code_tables().replaced(ledger_table([(7, "fuel-quota", "disability")]))
        assert tables.get(LEDGER).meaning(7).categories == {Category.disability}  # type: ignore[union-attr]
        with pytest.raises(InvalidInputError):
            tables.replaced(code_table(LEDGER, "str", [], "test"))


class TestMasking:
    """What a rule sees of a coded column: the values it may read, every other one withheld."""

    def test_a_rule_that_is_not_a_grant_sees_no_protected_or_unlisted_code(self) -> None:
        """Religion, health and codes the table does not list read as -1; groceries and 'none' as they are."""
        column = np.array([5411, 8661, 5912, 7777, 0, 65535, 7273], dtype=np.uint16)
        seen = mcc_table().masked(column, benefits_only=False)
        assert seen.tolist() == [5411, -1, -1, -1, 0, -1, -1]

    def test_a_grant_sees_health_codes_but_never_forbidden_ones(self) -> None:
        """A pharmacy may open a benefit; a place of worship is never seen."""
        column = np.array([5411, 8661, 5912, 7777], dtype=np.int64)
        assert mcc_table().masked(column, benefits_only=True).tolist() == [5411, -1, 5912, -1]

    def test_large_codes_are_masked_by_search(self) -> None:
        """A table of ledgers up to 2**32 - 1 masks by search, not by a lookup array of that size."""
        table = ledger_table([(1, "currency", None), (4_000_000_000, "fuel", "disability")])
        column = np.array([1, 4_000_000_000, 2, -5], dtype=np.int64)
        assert table.masked(column, benefits_only=False).tolist() == [1, -1, -1, -1]
        assert table.masked(column, benefits_only=True).tolist() == [1, 4_000_000_000, -1, -1]

    def test_text_codes_are_masked_to_the_empty_text(self) -> None:
        """A programme's name the rule may not read reads as ''."""
        table = code_table("programme", "str", [("food_aid", "Food aid", "benefit"), ("hiv_care", "x", "health")], "t")
        column = np.array(["food_aid", "hiv_care", "other"])
        assert table.masked(column, benefits_only=False).tolist() == ["food_aid", WITHHELD_TEXT, WITHHELD_TEXT]
        assert table.masked(column, benefits_only=True).tolist() == ["food_aid", "hiv_care", WITHHELD_TEXT]


class TestPayeeCategories:
    """A transfer's merchant category is its payee account's, kept from the ledger's feed."""

    def test_lookups_by_account(self) -> None:
        """Known merchants give their code, any other account 0, account 0 (a settlement) -1."""
        payees = PayeeCategories(np.array([30, 10, 20], dtype=np.uint64), np.array([5411, 8661, 0], dtype=np.uint16))
        assert len(payees) == 2  # the account without a category is not held
        ids = np.array([10, 30, 20, 99, 0], dtype=np.uint64)
        assert payees(ids).tolist() == [8661, 5411, 0, 0, WITHHELD_INT]
        assert PayeeCategories()(np.array([5, 0], dtype=np.uint64)).tolist() == [0, WITHHELD_INT]

    @settings(max_examples=50, deadline=None)
    @given(
        held=st.dictionaries(st.integers(1, 2**63 - 1), st.integers(0, 65535), max_size=40),
        more=st.dictionaries(st.integers(1, 2**63 - 1), st.integers(0, 65535), max_size=10),
        asked=st.lists(st.integers(0, 2**63 - 1), max_size=60),
    )
    def test_lookups_agree_with_a_dictionary(
        self, held: dict[int, int], more: dict[int, int], asked: list[int]
    ) -> None:
        """Whatever the ids and the order asked, and after more are added (an account's category never changes)."""
        more = {k: v for k, v in more.items() if k not in held}
        payees = PayeeCategories(np.array(list(held), dtype=np.uint64), np.array(list(held.values()), dtype=np.uint16))
        payees.add(np.array(list(more), dtype=np.uint64), np.array(list(more.values()), dtype=np.uint16))
        known = {**held, **more}
        queries = [*asked, *known]
        expected = [WITHHELD_INT if q == 0 else known.get(q, 0) for q in queries]
        assert payees(np.array(queries, dtype=np.uint64)).tolist() == expected

    def test_an_account_batch_on_the_feed_adds_the_accounts_it_created(self) -> None:
        """Only those created (status 0): a refused account never gets a category."""
        records = np.zeros(3, dtype=ACCOUNT_DTYPE)
        records["id"] = [40, 41, 42]
        records["category"] = [5912, 5812, 7273]
        statuses = np.array([0, 0, 21], dtype=np.uint32)
        payees = PayeeCategories()
        payees.on_accounts(CommittedBatch(1, EntryKind.accounts, 0, records, statuses))
        assert payees(np.array([40, 41, 42], dtype=np.uint64)).tolist() == [5912, 5812, 0]

    def test_the_column_a_rule_reads(self, tmp_path: Path) -> None:
        """From a live ledger: the payee's category per transfer; without a payee index, withheld."""
        with Ledger.open(tmp_path / "ledger", sync=False) as ledger:
            accounts = [Account(1, 1, 1), Account(2, 1, 2, category=5411), Account(3, 1, 2, category=8661)]
            ledger.create_accounts([*accounts, Account(4, 1, 2)])
            ids, categories = ledger.categorised_accounts()
            assert sorted(zip(ids.tolist(), categories.tolist(), strict=True)) == [(2, 5411), (3, 8661)]
            payees = PayeeCategories(ids, categories)
        records = np.zeros(3, dtype=[("credit_account_id", "<u8")])
        records["credit_account_id"] = [2, 3, 4]
        batch = CommittedBatch(2, EntryKind.transfers, 0, records, np.zeros(3, dtype=np.uint32))
        assert LedgerColumns(batch, payees)["merchant_category"].tolist() == [5411, 8661, 0]
        assert LedgerColumns(batch)["merchant_category"].tolist() == [-1, -1, -1]


class TestLedgerRegister:
    """A ledger number means what the register of ledgers says it funds."""

    def test_the_register_in_the_store(self, tmp_path: Path) -> None:
        """Every registered ledger is in the table; without a category of its own it is financial."""
        with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
            Agencies(store).register("test-issuer", "Test Issuer", "admin")
            Ledgers(store).register(
                ledger_unit(1, "currency", "XTS", 2, "test-issuer"), requested_by="a", approved_by="b"
            )
            with store.transaction() as conn:
                table = ledger_codes_in(conn)
        meaning = table.meaning(1)
        assert meaning is not None and meaning.label == "currency" and meaning.categories == {Category.financial}
        assert table.meaning(2) is None


class TestRulesCheck:
    """``tessera rules check`` reads the register of ledgers from the store, as the service does."""

    def test_a_ledger_comparison_is_judged_by_what_the_ledger_funds(self, tmp_path: Path) -> None:
        """Ledger 1 (the currency) may be scored on; ledger 7, a disability quota, only granted."""
        with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
            Agencies(store).register("test-issuer", "Test Issuer", "admin")
            for number, name in ((1, "currency"), (7, "disability-transport")):
                unit = ledger_unit(number, name, "XTS", 2, "test-issuer")
                Ledgers(store).register(unit, requested_by="a", approved_by="b")
            with store.transaction(write=True) as conn:  # what the DPOs record for it (migration 0014)
                conn.execute(ledgers.update().where(ledgers.c.id == 7).values(category="disability"))
        rules = tmp_path / "rules.toml"
        rules.write_text(LEDGER_RULE.format(id="ops.currency", ledger=1) + LEDGER_RULE.format(id="ops.quota", ledger=7))
        result = CliRunner().invoke(app, ["rules", "check", "--data", str(tmp_path), str(rules)])
        assert result.exit_code == 2, result.output
        (line,) = result.stdout.splitlines()
        assert "rule=ops.quota" in line and "field=ledger.transfer.ledger category=disability" in line


LEDGER_RULE = """
[[rule]]
id = "{id}"
title = "A payment on a ledger"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.ledger == {ledger} && event.refused"
reason_code = "ledger"
reason_text = "A payment was refused."
effects = [{{ kind = "score", scheme = "credit", points = -1, expires_after = "30d" }}]
"""


class TestDeclarations:
    """A field names its code table in its declaration; the table must exist and hold its type of value."""

    def test_the_builtin_coded_fields(self) -> None:
        """ledger.transfer's ledger, code and merchant category are coded; lender and case_id are free text."""
        types, _ = builtin_definitions()
        leaves = types.get("ledger.transfer").leaf_fields()
        assert {p: leaf.codes for p, leaf in leaves.items() if leaf.codes} == {
            "ledger": LEDGER,
            "code": TRANSFER_CODE,
            "merchant_category": MCC,
        }
        assert types.get("loan.repaid").leaf_fields()["lender"].codes is None

    def test_a_definitions_file_names_a_table(self) -> None:
        """``codes = "mcc"`` in TOML."""
        text = """
[[event_type]]
name = "card.paid"
purpose = "financial"
fields.mcc = { type = "int", category = "financial", codes = "mcc" }
"""
        types, _ = load_definitions([text])
        assert types.get("card.paid").leaf_fields()["mcc"].codes == MCC

    @pytest.mark.parametrize(
        ("spec", "error", "field"),
        [
            ('{ type = "int", category = "financial", codes = "shops" }', NotFoundError, "card.paid.mcc.codes"),
            ('{ type = "str", category = "financial", codes = "mcc" }', InvalidInputError, "card.paid.mcc.codes"),
            ('{ type = "bool", category = "financial", codes = "mcc" }', InvalidInputError, "card.paid.mcc.codes"),
            ('{ type = "int", category = "financial", codes = "Mcc!" }', InvalidInputError, "card.paid.mcc.codes"),
            ('{ type = "int", category = "financial", code = "mcc" }', InvalidInputError, "fields.mcc.code"),
        ],
    )
    def test_a_bad_code_table__refused_naming_the_field(self, spec: str, error: type[Exception], field: str) -> None:
        """An unknown table, one of other values, a bool or a bad name, a misspelt key."""
        text = f'[[event_type]]\nname = "card.paid"\npurpose = "financial"\nfields.mcc = {spec}\n'
        with pytest.raises(error) as caught:
            load_definitions([text])
        assert str(caught.value).split(":")[-2].endswith(field) or field in str(caught.value)

    def test_a_hand_made_type_is_checked_again(self) -> None:
        """event_type() with a code table it cannot find is refused when registered."""
        made = event_type("card.paid", "financial", {"mcc": (FieldType.integer, "financial", "shops")})
        with pytest.raises(NotFoundError, match="shops"):
            EventTypes([made])

    def test_tables_in_force_must_cover_every_coded_field(self) -> None:
        """Putting tables in force that lack one a field names is refused."""
        types, _ = builtin_definitions()
        with pytest.raises(NotFoundError):
            types.use_codes(CodeTables([mcc_table()]))
        assert MCC in types.codes


FEED_RULES = """
[[rule]]
id = "shop.food"
title = "A food purchase"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.merchant_category in [5411, 5462] && !event.refused"
reason_code = "food"
reason_text = "A purchase at a grocer or a bakery."
effects = [{ kind = "score", scheme = "credit", points = -1, expires_after = "30d" }]

[[rule]]
id = "care.pharmacy"
title = "A pharmacy purchase opens a fee waiver"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.merchant_category == 5912"
reason_code = "pharmacy"
effects = [{ kind = "eligibility", benefit = "fee_waiver", expires_after = "30d" }]
"""


class TestOnTheFeed:
    """From the ledger's feed to the rules: each payment's merchant category, as each rule may see it."""

    def test_merchant_categories_reach_the_rules_that_may_read_them(self, tmp_path: Path) -> None:
        """Groceries reach a score, the pharmacy a grant, the place of worship nothing; new merchants from the feed."""
        issuer, alice, grocer, pharmacy, church, bakery = 1, 2, 3, 4, 5, 6
        with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
            registry = Registry(store)
            person = registry.create_person(
                {"name": "Alice Example", "birth_date": "1990-04-01", "sex": "F"}, station="p_00000000000000aa"
            )
            store.set_account_holders([(alice, person.principal_id)])
            types, bases = builtin_definitions()
            with Ledger.open(tmp_path / "ledger", sync=False) as ledger:
                wallet = AccountFlags.debits_must_not_exceed_credits
                ledger.create_accounts(
                    [
                        Account(issuer, 1, 1),
                        Account(alice, 1, 2, flags=wallet),
                        Account(grocer, 1, 3, category=5411),
                        Account(pharmacy, 1, 3, category=5912),
                        Account(church, 1, 3, category=8661),
                    ]
                )
                engine = RuleEngine(
                    store,
                    CompiledRules(load_rules([FEED_RULES], types, bases), types),
                    Scores(store),
                    payer_subjects=HolderSubjects(store, registry),
                    payees=PayeeCategories(*ledger.categorised_accounts()),
                )
                ledger.subscribe(engine.on_ledger_batch)
                ledger.create_accounts([Account(bakery, 1, 3, category=5462)])  # known from the feed only
                payees = [grocer, pharmacy, church, bakery]
                payments = [Transfer(11 + k, alice, payee, 10, 1, 2) for k, payee in enumerate(payees)]
                ledger.create_transfers([Transfer(10, issuer, alice, 1000, 1, 1), *payments])
                assert ledger.feed.wait_idle(5)
            with store.transaction() as conn:
                grants = conn.execute(select(eligibility_grants.c.rule_id, eligibility_grants.c.subject)).all()
        assert engine.stats.per_rule == {"shop.food": 2, "care.pharmacy": 1}
        assert [tuple(g) for g in grants] == [("care.pharmacy", person.number)]


def test_a_text_code_hiding_a_character_is_refused() -> None:
    """A code compared exactly must be seen exactly: a bidi override or a zero-width space is refused."""
    for hidden in ("food\u202e_aid", "food\u200b_aid"):
        with pytest.raises(InvalidInputError, match="value"):
            code_table("programme", "str", [(hidden, "Food aid", ["benefit"])], "test")
