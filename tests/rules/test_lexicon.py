"""The backstop lexicon: names that denote a protected category, in several languages and scripts, read in context."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tessera.errors import InvalidInputError, ProtectedCategoryError
from tessera.rules.categories import FAVOURABLE_ONLY, FORBIDDEN, Category
from tessera.rules.declaration_checks import declared
from tessera.rules.definitions import BUILTIN_DEFINITIONS, builtin_path
from tessera.rules.lexicon import LANGUAGES, LEXICON_FILE, Lexicon, builtin_lexicon, check_benefit_name


def categories(name: str, context: tuple[str, ...] = ()) -> set[str]:
    return {d.category.value for d in builtin_lexicon().denotations(name, context)}


class TestWhatItFinds:
    @pytest.mark.parametrize(
        ("name", "category"),
        [
            ("citizen.worship_visit", "religion"),
            ("culto", "religion"),  # Spanish and Portuguese: worship
            ("mosque_visit", "religion"),
            ("посещение_церкви", "religion"),  # Russian: a visit to church
            ("poseshchenie_tserkvi", "religion"),  # the same, romanised (BGN/PCGN)
            ("posesenie_cerkvi", "religion"),  # ... and by ISO 9
            ("信仰", "religion"),  # Chinese: faith
            ("xin_yang", "religion"),  # its pinyin, split
            ("زيارة_المسجد", "religion"),  # Arabic: a visit to the mosque, with the article
            ("masjid_visits", "religion"),
            ("église_visite", "religion"),
            ("eglise", "religion"),
            ("religión", "religion"),
            ("r_e_l_i_g_i_o_n", "religion"),  # spelled apart
            ("wor_ship_count", "religion"),
            ("political_party", "political_opinion"),
            ("hizb_member", "political_opinion"),
            ("政党", "political_opinion"),
            ("профсоюз", "trade_union"),
            ("sindicato_cuota", "trade_union"),
            ("trade_union", "trade_union"),
            ("tradeunion_dues", "trade_union"),
            ("union_member", "trade_union"),
            ("ethnic_origin", "ethnicity"),
            ("民族", "ethnicity"),
            ("sexual_orientation", "sexual_life"),
            ("voter_turnout", "voting"),
            ("ballot_cast", "voting"),
            ("protest_attended", "protest_assembly"),
            ("gps_trace", "location_history"),
            ("browsing_minutes", "browsing_history"),
            ("journalist_contacts", "speech_content"),
            ("clinic_visit", "health"),
            ("saúde", "health"),
            ("disability_grade", "disability"),
        ],
    )
    def test_a_name_denoting_a_category__found(self, name: str, category: str) -> None:
        """Each attack name the issue lists, and their kin in other languages, scripts and spellings."""
        assert category in categories(name)

    @pytest.mark.parametrize(
        "name",
        [
            "amount",
            "lender",
            "party_id",  # a party to a contract
            "counter_party",
            "currency_union",
            "credit_union_member",
            "customs_union",
            "strike_price",
            "good_faith",
            "race_condition",
            "minority_shareholder",
            "audit_opinion",
            "protest_of_cheque",
            "protesto_titulo",  # Brazil: the protest of a bill at a notary
            "partiya_tovara",  # Russian: a batch of goods
            "hospitality",
            "chronicle",
            "disabled_account",
            "loan_impairment",
            "blind_signature",
            "section",
            "culture",
            "tribunal",
            "electricity",
        ],
    )
    def test_an_ordinary_name__nothing(self, name: str) -> None:
        """Ambiguous words in a harmless context, and words that only start like a listed one."""
        assert categories(name) == set()

    def test_context_comes_from_the_type_name_too(self) -> None:
        """``party_id`` is a contract's party, unless the event type says it is about membership."""
        assert categories("party_id", ("contract.signed",)) == set()
        assert categories("party_id", ("membership.renewed",)) == {"political_opinion"}
        assert categories("union_id", ("monetary.transfer",)) == set()

    def test_what_matched_is_named(self) -> None:
        """A denotation names the lexicon entry, its language and the part of the name that matched."""
        (found, *_) = builtin_lexicon().denotations("poseshchenie_tserkvi")
        assert (found.category, found.entry, found.language, found.matched) == (
            Category.religion,
            "tserk*",
            "ru_latn",
            "tserkvi",
        )
        assert "ru_latn" in found.describe() and "tserkvi" in found.describe()

    def test_invisible_characters_and_look_alikes_do_not_hide_a_word(self) -> None:
        """A zero-width space inside, or a Cyrillic letter among Latin ones, reads as the plain word."""
        assert "religion" in categories("mos\u200bque_visit")
        assert "religion" in categories("m\u043esque")  # a Cyrillic o


class TestRefusal:
    def test_a_forbidden_word_refuses_whatever_the_label(self) -> None:
        """No label lets a religion word be declared."""
        words = builtin_lexicon()
        found = words.refusal("mosque_visit", labels={Category.health})
        assert found is not None and found.category is Category.religion

    def test_a_health_word_needs_a_health_or_disability_label(self) -> None:
        """``chronic_condition`` declared as health is lawful; as reference it is relabelled health data."""
        words = builtin_lexicon()
        assert words.refusal("chronic_condition", labels={Category.health}) is None
        assert words.refusal("chronic_condition", labels={Category.benefit, Category.disability}) is None
        found = words.refusal("chronic_condition", labels={Category.reference})
        assert found is not None and found.category is Category.health

    def test_the_error_names_the_field_and_the_category(self) -> None:
        """check_name raises ProtectedCategoryError at where.field with the category and the word."""
        with pytest.raises(ProtectedCategoryError) as caught:
            builtin_lexicon().check_name("culto", "p.toml:event_type[0]", "fields.culto")
        assert caught.value.field == "p.toml:event_type[0].fields.culto"
        assert caught.value.category == "religion"
        assert "'culto'" in str(caught.value) and "(lexicon: 'culto', es" in str(caught.value)

    def test_an_exception_waives_exactly_its_name(self) -> None:
        """The key two DPOs granted waives that name only."""
        words = builtin_lexicon()
        words.check_name("union_id", "w", "f", exceptions={"x.union_id"}, exception_key="x.union_id")
        with pytest.raises(ProtectedCategoryError):
            words.check_name("union_id", "w", "f", exceptions={"x.union_id"}, exception_key="y.union_id")

    def test_benefit_names__a_health_benefit_is_lawful_a_religious_one_is_not(self) -> None:
        """A benefit is favourable: disability words may name one, religion words never."""
        check_benefit_name("disability_allowance", "benefit[0]", "id")
        with pytest.raises(ProtectedCategoryError) as caught:
            check_benefit_name("mosque_upkeep_grant", "benefit[1]", "id")
        assert caught.value.category == "religion"
        assert FAVOURABLE_ONLY  # the categories a benefit may name


class TestTheBuiltIns:
    def test_every_built_in_name_passes_the_lexicon(self) -> None:
        """Every event type, record, field and benefit Tessera ships is declared under its lawful label."""
        document = builtin_path(BUILTIN_DEFINITIONS).read_text(encoding="utf-8")
        made = declared(document, name=BUILTIN_DEFINITIONS)
        assert made.waived == frozenset()
        for type_name in made.types.names():
            assert not categories(type_name) - {"health", "disability"}, type_name

    def test_every_name_in_the_example_rules_passes(self) -> None:
        """Rule ids, reason codes, score schemes and benefits of the shipped examples name no forbidden category."""
        rules = tomllib.loads(builtin_path("example_rules.toml").read_text(encoding="utf-8"))["rule"]
        words = builtin_lexicon()
        for rule in rules:
            names = [rule["id"], rule["reason_code"]]
            names += [
                e.get("scheme") or e.get("benefit") for e in rule["effects"] if e.get("scheme") or e.get("benefit")
            ]
            for name in names:
                assert words.refusal(name, labels=FAVOURABLE_ONLY) is None, name

    def test_the_lexicon_covers_every_protected_category_and_language(self) -> None:
        """Each forbidden or favourable-only category has words, and each listed language appears."""
        document = tomllib.loads(builtin_path(LEXICON_FILE).read_text(encoding="utf-8"))
        listed = {t["category"] for t in document["category"]}
        assert listed == {c.value for c in FORBIDDEN | FAVOURABLE_ONLY} | {"derived"}
        for language in ("en", "es", "fr", "pt", "ar", "ru", "zh", "ru_latn", "zh_latn", "ar_latn"):
            assert any(t.get(language) for t in document["category"]), language
        assert set(LANGUAGES) == {"en", "es", "fr", "pt", "ar", "ru", "zh", "ru_latn", "zh_latn", "ar_latn"}

    def test_every_category_cites_its_sources(self) -> None:
        """Sources are named in the file, and every category's sources exist."""
        words = builtin_lexicon()
        assert {"gdpr-9", "iccpr", "152-fz", "pipl-28", "romanisation"} <= set(words.sources)
        assert len(words) > 500


class TestTheFile:
    def lexicon(self, **extra: Any) -> dict[str, Any]:
        return {
            "source": [{"id": "s", "cite": "a source"}],
            "category": [{"category": "religion", "sources": ["s"], "en": ["church*"]}],
            **extra,
        }

    def test_a_word_under_two_categories__refused(self) -> None:
        """A word means one category, or its refusals would say two things."""
        document = self.lexicon()
        document["category"].append({"category": "voting", "sources": ["s"], "fr": ["Church*"]})
        with pytest.raises(InvalidInputError, match="listed under religion and voting"):
            Lexicon(document)

    def test_a_category_citing_no_known_source__refused(self) -> None:
        """A lexicon category citing a source id the file does not declare is refused, naming it."""
        document = self.lexicon()
        document["category"][0]["sources"] = ["nowhere"]
        with pytest.raises(InvalidInputError, match="no \\[\\[source\\]\\] has the id 'nowhere'"):
            Lexicon(document)

    def test_an_ordinary_category__refused(self) -> None:
        """The lexicon lists protected categories only."""
        document = self.lexicon()
        document["category"][0]["category"] = "financial"
        with pytest.raises(InvalidInputError, match="must be a protected category"):
            Lexicon(document)

    def test_an_ambiguous_word_names_the_contexts_that_decide_it(self) -> None:
        """protected=true with no allowed_with would be a plain word: say so instead."""
        ambiguous = {"word": "mass", "language": "en", "category": "religion", "protected": True, "note": "n"}
        with pytest.raises(InvalidInputError, match="allowed_with"):
            Lexicon(self.lexicon(ambiguous=[ambiguous]))
        words = Lexicon(self.lexicon(ambiguous=[{**ambiguous, "allowed_with": ["physics", "kg"]}]))
        assert [d.category for d in words.denotations("mass_attended")] == [Category.religion]
        assert words.denotations("mass_kg") == []

    def test_a_long_name__refused_before_matching(self) -> None:
        """Matching runs of tokens is bounded: a name past the limit is refused, not searched."""
        with pytest.raises(InvalidInputError):
            builtin_lexicon().denotations("a_" * 200)


class TestRuleOutputs:
    """A name that carries a rule's output back in is refused in every language, as category derived."""

    @pytest.mark.parametrize(
        "name",
        ["cliente_puntuacion", "lista_negra", "pontuacao_credito", "negativado", "рейтинг_заемщика", "reyting",
         "黑名单", "heimingdan", "liste_noire", "social_credit"],
    )  # fmt: skip
    def test_score_and_blacklist_words_in_any_language(self, name: str) -> None:
        """Score and blacklist words in six languages, romanised too, are refused as derived."""
        found = builtin_lexicon().refusal(name, labels=FAVOURABLE_ONLY)
        assert found is not None and found.category.value == "derived", name

    def test_benefits_and_ordinary_names_pass(self) -> None:
        """Benefit names and ordinary financial names are not mistaken for a rule's output."""
        for name in ("fee_waiver", "disability_allowance", "credit_limit", "amount_due", "food_aid"):
            assert builtin_lexicon().refusal(name, labels=FAVOURABLE_ONLY) is None, name
