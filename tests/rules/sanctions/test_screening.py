"""Sanctions screening: hand-picked cases on the real lists, the pre-filter's bound, and a labelled set."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.rules import (
    SCORE_FLOOR,
    SCREEN_THRESHOLD,
    ListedEntity,
    Screener,
    ScreeningQuery,
    name_tokens,
    parse_eu,
    parse_ofac,
    parse_un,
)
from tessera.testing import screening_queries, synthetic_listed_entities, to_cyrillic

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "sanctions"
DATA = Path(__file__).resolve().parent / "data"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared sanctions fixtures are not present")


@pytest.fixture(scope="module")
def listed() -> list[ListedEntity]:
    """OFAC, UN and the EU extract: the lists of record."""
    ofac = FIXTURES / "ofac"
    return [
        *parse_ofac(ofac / "sdn.csv", ofac / "alt.csv", ofac / "add.csv"),
        *parse_un(FIXTURES / "un" / "consolidated.xml"),
        *parse_eu(DATA / "eu_fsf.xml"),
    ]


@pytest.fixture(scope="module")
def screener(listed: list[ListedEntity]) -> Screener:
    return Screener(listed)


def _alerts(screener: Screener, query: ScreeningQuery) -> dict[str, float]:
    (matches,) = screener.screen_names([query])
    return {m.list_id: m.score for m in matches if m.score >= SCREEN_THRESHOLD}


class TestNames:
    """A listed name is found however people write it."""

    @pytest.mark.parametrize(
        ("name", "list_id"),
        [
            ("Ri Won Ho", "un:KPi.033"),
            ("Won Ho Ri", "un:KPi.033"),  # reordered
            ("Ри Вон Хо", "un:KPi.033"),  # Cyrillic, as a Russian speaker writes it  # noqa: RUF001
            ("Владимир Путин", "eu:EU.6500.85"),  # Cyrillic, patronymic left out
            ("vladimir putin", "eu:EU.6500.85"),
            ("Banko Nacional de Cuba", "ofac:306"),  # a typo
            ("Dr. Kahdim Al-Ruba", "ofac:8334"),  # a typo next to a folded spelling: "kh" is folded to "h"
            ("Unliited Dance Discoteca", "ofac:26153"),  # a typo that makes a doubled letter
            ("National Bank of Cuba", "ofac:306"),  # the alias from alt.csv
            ("Saddam Hussein al-Tikriti", "eu:EU.27.28"),
            ("Ayman al-Zawahari", "eu:EU.2711.19"),
        ],
    )
    def test_found(self, screener: Screener, name: str, list_id: str) -> None:
        """Reordered, Cyrillic, lower-case, misspelt and alias forms of a listed name all reach its listing."""
        assert list_id in _alerts(screener, ScreeningQuery(name))

    def test_generated_cyrillic__found(self, screener: Screener) -> None:
        """The test generator's Cyrillic spelling of an OFAC name comes back to it."""
        assert to_cyrillic("Jaramillo") == "Джарамилло"
        assert "ofac:11537" in _alerts(screener, ScreeningQuery(to_cyrillic("Henao Jaramillo Mario Alberto")))

    @pytest.mark.parametrize("name", ["John Smith", "Anna Petrova", "Carlos Rodriguez", "Olga Ivanova", "Peter Meyer"])
    def test_common_names__not_flagged(self, screener: Screener, name: str) -> None:
        """Common names with no listing raise no alert: screening must not flag ordinary people."""
        assert _alerts(screener, ScreeningQuery(name)) == {}

    def test_another_of_the_family__not_flagged(self, screener: Screener) -> None:
        """The family name of a listed person with other given names is not that person."""
        assert "ofac:20157" not in _alerts(screener, ScreeningQuery("Kim Min Jun"))
        assert "ofac:20157" in _alerts(screener, ScreeningQuery("Kim Jong Un"))

    def test_tokens__romanised_and_folded(self) -> None:
        """Spelling variants of romanisation meet: BGN's Cyrillic and the lists' Latin."""
        assert set(name_tokens("ДЖАРАМИЛЛО ХЕНАО")) == set(name_tokens("HENAO JARAMILLO"))  # noqa: RUF001
        assert name_tokens("Abd al-Wahhab") == name_tokens("ABD AL-WAHAB")


class TestOtherFacts:
    """Birth date, nationality and documents move a name's score, and say so."""

    def test_conflicting_birth_date__lowers_below_threshold(self, screener: Screener) -> None:
        """The listed birth date makes a sure match; a conflicting one drops the same name below the threshold."""
        (same, other) = screener.screen_names(
            [ScreeningQuery("Ri Won Ho", birth_date="1964-07-17"), ScreeningQuery("Ri Won Ho", birth_date="1990-01-01")]
        )
        listed = {m.list_id: m for m in same}["un:KPi.033"]
        assert listed.features["birth_date"] > 0 and listed.score == 1.0
        assert "un:KPi.033" not in {m.list_id for m in other if m.score >= SCREEN_THRESHOLD}

    def test_near_birth_year__small_penalty(self, screener: Screener) -> None:
        """A birth date a year off costs a little and keeps the match above the threshold."""
        (matches,) = screener.screen_names([ScreeningQuery("Ri Won Ho", birth_date="1965-03-01")])
        listed = {m.list_id: m for m in matches}["un:KPi.033"]
        assert -0.1 < listed.features["birth_date"] < 0 and listed.score >= SCREEN_THRESHOLD

    def test_nationality__conflict_lowers_match_raises(self, screener: Screener) -> None:
        """The listed nationality raises a name's score and another lowers it, against the name alone."""
        plain, right, wrong = (
            {m.list_id: m.score for m in matches}["un:KPi.033"]
            for matches in screener.screen_names(
                [
                    ScreeningQuery("Ri Won"),
                    ScreeningQuery("Ri Won", country="KP"),
                    ScreeningQuery("Ri Won", country="fr"),
                ]
            )
        )
        assert wrong < plain < right

    def test_identifier__raises_and_is_a_feature(self, screener: Screener) -> None:
        """A matching document number raises the score and shows as its own feature."""
        (matches,) = screener.screen_names([ScreeningQuery("Ri Won", identifiers=("381-310-014",))])
        listed = {m.list_id: m for m in matches}["un:KPi.033"]
        assert listed.features["identifier"] > 0 and listed.score >= SCREEN_THRESHOLD


class TestResults:
    """Scores lie in 0..1, best first, with the features that made them."""

    def test_sorted_bounded_limited(self, screener: Screener) -> None:
        """Matches come best first, within the limit, scored between the floor and 1, with their features."""
        (matches,) = screener.screen_names([ScreeningQuery("Mohammed Ali")], limit=5)
        assert 0 < len(matches) <= 5
        scores = [m.score for m in matches]
        assert scores == sorted(scores, reverse=True)
        assert all(SCORE_FLOOR <= s <= 1.0 for s in scores)
        assert {"name", "query_coverage", "listed_coverage", "tokens_exact"} <= set(matches[0].features)

    def test_nothing_indexed__no_matches(self) -> None:
        """An empty screener answers one empty list per query rather than failing."""
        assert Screener([]).screen_names([ScreeningQuery("Anyone")]) == [[]]

    def test_prefilter_never_drops_a_name_that_scores(self, screener: Screener, listed: list[ListedEntity]) -> None:
        """Scoring every name finds nothing the pre-filter (max-score bound, then a bound per name) did not."""
        labelled = screening_queries(11, listed, 16, 8)
        # Some with a birth date or country: those lower the floor a name must reach.
        queries = [
            ScreeningQuery(
                q.name, birth_date="1964-07-17" if i % 3 == 1 else None, country="KP" if i % 3 == 2 else None
            )
            for i, q in enumerate(labelled)
        ]
        brute = Screener(listed)

        def every_name(plans: Sequence[object]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            rows, names = np.divmod(np.arange(len(plans) * brute.name_count), brute.name_count)
            return rows, names, np.full(len(rows), np.inf)

        brute._candidates = every_name  # type: ignore[method-assign]
        matched = 0
        for query, fast, slow in zip(
            queries, screener.screen_names(queries, limit=100), brute.screen_names(queries, limit=100), strict=True
        ):
            assert [(m.list_id, m.score, m.features) for m in fast] == [
                (m.list_id, m.score, m.features) for m in slow
            ], query.name
            matched += bool(fast)
        assert matched >= len(queries) // 2  # the comparison is not between empty lists


class TestRestricted:
    """A screener restricted to some listings answers for them exactly as the whole one does, and for no other."""

    # No shrinking: an example is a seed and a few listings, readable as drawn, and shrinking rescreens for minutes.
    @settings(
        max_examples=15,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def test_scores_and_features_are_the_whole_lists(
        self, screener: Screener, listed: list[ListedEntity], data: st.DataObject
    ) -> None:
        """For any few listings, a restricted screener's matches are the whole screener's among those listings."""
        labelled = screening_queries(data.draw(st.integers(1, 50), label="seed"), listed, 12, 4)
        queries = [ScreeningQuery(q.name) for q in labelled]
        whole = screener.screen_names(queries, limit=100)
        found = sorted({(m.entity.source, m.list_id) for matches in whole for m in matches})
        keys = set(data.draw(st.lists(st.sampled_from(found), max_size=8), label="kept")) if found else set()
        keys |= {("un", "un:KPi.033")}
        restricted = screener.restricted(keys)
        assert restricted.entity_count == len({k for k in keys if k in {(e.source, e.list_id) for e in listed}})
        for query, every, few in zip(queries, whole, restricted.screen_names(queries, limit=100), strict=True):
            expected = [(m.list_id, m.score, m.features) for m in every if (m.entity.source, m.list_id) in keys]
            assert [(m.list_id, m.score, m.features) for m in few] == expected, query.name

    def test_the_whole_screener_is_left_as_it_was(self, screener: Screener) -> None:
        """Restricting makes a view: the screener it came from still finds every listing."""
        screener.restricted({("ofac", "ofac:306")})
        assert "un:KPi.033" in _alerts(screener, ScreeningQuery("Ri Won Ho"))
        assert _alerts(screener.restricted({("ofac", "ofac:306")}), ScreeningQuery("Ri Won Ho")) == {}


class TestInput:
    """Malformed queries are refused with the field at fault."""

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            (ScreeningQuery(""), "queries[0].name"),
            (ScreeningQuery("..."), "queries[0].name"),
            (ScreeningQuery("x" * 501), "queries[0].name"),
            (ScreeningQuery("Ri", birth_date="1964-02-30"), "queries[0].birth_date"),
            (ScreeningQuery("Ri", birth_date="17.07.1964"), "queries[0].birth_date"),
            (ScreeningQuery("Ri", country="PRK"), "queries[0].country"),
            (ScreeningQuery("Ri", identifiers=["1"]), "queries[0].identifiers"),  # type: ignore[arg-type]
            ("Ri Won Ho", "queries[0]"),
        ],
    )
    def test_refused(self, query: object, field: str) -> None:
        """Empty, symbol-only or overlong names, bad dates, countries and identifiers are refused by field."""
        with pytest.raises(InvalidInputError) as caught:
            Screener([]).screen_names([query])  # type: ignore[list-item]
        assert caught.value.field == field

    def test_limit_and_batch(self) -> None:
        """A zero limit, or a string where a list of queries belongs, is refused naming which."""
        with pytest.raises(InvalidInputError, match="limit"):
            Screener([]).screen_names([ScreeningQuery("A")], limit=0)
        with pytest.raises(InvalidInputError, match="queries"):
            Screener([]).screen_names("A")  # type: ignore[arg-type]


class TestLabelledSet:
    """The seeded generator: the same set for a seed, and screening does well on it."""

    def test_same_seed__same_set(self, listed: list[ListedEntity]) -> None:
        """The same seed draws the same labelled queries, with the positives and both kinds of negative asked for."""
        first = screening_queries(5, listed, 30, 30)
        assert first == screening_queries(5, listed, 30, 30)
        assert sum(bool(q.expected) for q in first) == 30
        assert {q.variant for q in first if not q.expected} == {"negative", "negative_shared_surname"}

    def test_recall_and_precision(self, listed: list[ListedEntity]) -> None:
        """On 250 + 250 queries against the lists and 3,000 made-up listings: few misses, few false alerts."""
        entities = [*listed, *synthetic_listed_entities(3, 3000)]
        labelled = screening_queries(3, entities, 250, 250)
        results = Screener(entities).screen_names([ScreeningQuery(q.name) for q in labelled])
        found = false = 0
        for query, matches in zip(labelled, results, strict=True):
            above = {m.list_id for m in matches if m.score >= SCREEN_THRESHOLD}
            right = bool(above & query.expected)
            found += right
            false += bool(above) and not right
        assert found / 250 >= 0.95
        assert found / (found + false) >= 0.95


def test_the_index_leaves_the_garbage_collector_little_to_walk(screener: Screener) -> None:
    """Lists and sets per token made every full collection walk ~400k objects (0.3 s each, half the screening rate)."""
    entities = synthetic_listed_entities(3, 3000)
    gc.collect()
    before = {id(o) for o in gc.get_objects()}
    built = Screener(entities)
    gc.collect()
    kept = [o for o in gc.get_objects() if id(o) not in before]
    assert built.name_count >= 3000
    assert len(kept) < 100, Counter(type(o).__name__ for o in kept).most_common(5)
