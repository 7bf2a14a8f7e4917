"""Scores: sums of live contributions, decay and expiry, key factors, and their storage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.rules.scoring.scores import KEY_FACTORS_MAX, SCORE_MAX, SCORE_MIN, Contribution, Scores, score_of
from tessera.store import Store

NS = 1_000_000_000
DAY = 86_400 * NS
PERSON = "123456789010"  # a Tessera number with a valid check digit


def _c(points: int, rule: str = "r1", at: int = 0, days: int = 30, half_life_s: int | None = None) -> Contribution:
    return Contribution(
        PERSON, "credit", points, rule, rule.upper(), f"text of {rule}", f"ev:{rule}", at, at + days * DAY, half_life_s
    )


class TestScoreOf:
    def test_sum_of_live_contributions(self) -> None:
        """A score is the sum of its live contributions, within the scheme's published range."""
        score = score_of(PERSON, "credit", [_c(-40), _c(10, "r2"), _c(-5, "r3")], now_ns=DAY)
        assert score.value == -35 and score.live_contributions == 3
        assert (score.minimum, score.maximum) == (SCORE_MIN, SCORE_MAX)

    def test_expired__counts_for_nothing(self) -> None:
        """An expired contribution adds nothing and is not given as a factor."""
        score = score_of(PERSON, "credit", [_c(-40, days=1), _c(-5, "r2", days=10)], now_ns=2 * DAY)
        assert score.value == -5 and score.live_contributions == 1
        assert [f.rule_id for f in score.factors] == ["r2"]

    def test_half_life__halves(self) -> None:
        """A contribution with a one-day half-life counts a quarter after two days."""
        decaying = _c(-80, half_life_s=86_400, days=30)
        assert score_of(PERSON, "credit", [decaying], now_ns=2 * DAY).value == -20

    def test_clamped_to_range(self) -> None:
        """However many contributions pile up, the score stops at the scheme's minimum."""
        many = [_c(-900, f"r{i}") for i in range(5)]
        assert score_of(PERSON, "credit", many, now_ns=0).value == SCORE_MIN

    def test_key_factors__at_most_four_most_lowering_first(self) -> None:
        """The key factors are the four that lower the score most, largest first, with text, points and events."""
        cs = [_c(-10 * (i + 1), f"r{i}") for i in range(6)] + [_c(-1, "r0"), _c(50, "good")]
        factors = score_of(PERSON, "credit", cs, now_ns=0).factors
        assert len(factors) == KEY_FACTORS_MAX
        assert [f.rule_id for f in factors] == ["r5", "r4", "r3", "r2"]
        assert factors[0].text == "text of r5" and factors[0].points == -60 and factors[0].events == 1
        assert all(f.points < 0 for f in factors)

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(-1000, 1000).filter(bool), st.integers(0, 40), st.integers(1, 40)), max_size=30)
    )
    def test_value_is_clamped_sum_of_live(self, specs: list[tuple[int, int, int]]) -> None:
        """Property: the score is the clamped, rounded sum of contributions alive at now."""
        now = 20 * DAY
        cs = [_c(p, f"r{i}", at=a * DAY, days=d) for i, (p, a, d) in enumerate(specs)]
        live = [c for c in cs if c.expires_at_ns > now]
        expected = max(SCORE_MIN, min(SCORE_MAX, sum(c.points for c in live)))
        score = score_of(PERSON, "credit", cs, now)
        assert score.value == expected and score.live_contributions == len(live)


class TestStored:
    def test_record_and_read_back(self, store: Store) -> None:
        """Contributions recorded in a transaction read back as scores per scheme, with their factors."""
        scores = Scores(store, clock=lambda: DAY)
        with store.transaction(write=True) as conn:
            scores.record_in(
                conn, [_c(-40), _c(-5, "r2"), Contribution(PERSON, "tax", -7, "t", "T", "late", "e", 0, DAY * 9)]
            )
        assert [s.scheme for s in scores.scores_of(PERSON)] == ["credit", "tax"]
        credit = scores.score(PERSON, "credit")
        assert credit.value == -45 and [f.rule_id for f in credit.factors] == ["r1", "r2"]
        assert len(scores.contributions_of(PERSON)) == 3

    def test_cursor_moves_in_the_same_transaction(self, store: Store) -> None:
        """A source's cursor starts unset and keeps the last value written in a committed transaction."""
        scores = Scores(store)
        assert scores.cursor("ledger") is None
        with store.transaction(write=True) as conn:
            scores.set_cursor_in(conn, "ledger", 5)
        with store.transaction(write=True) as conn:
            scores.set_cursor_in(conn, "ledger", 9)
        assert scores.cursor("ledger") == 9

    def test_failed_transaction__neither_rows_nor_cursor(self, store: Store) -> None:
        """Contributions and the cursor that caused them land together or not at all."""
        scores = Scores(store)
        with pytest.raises(RuntimeError), store.transaction(write=True) as conn:
            scores.record_in(conn, [_c(-40)])
            scores.set_cursor_in(conn, "ledger", 3)
            raise RuntimeError("crash before commit")
        assert scores.cursor("ledger") is None and scores.contributions_of(PERSON) == []

    @pytest.mark.parametrize("bad", ["", "12345", None, "org:BAD ID"])
    def test_bad_subject__refused(self, store: Store, bad: object) -> None:
        """Asking for the scores of an empty, malformed or non-string subject is refused on subject."""
        with pytest.raises(InvalidInputError) as caught:
            Scores(store).scores_of(bad)  # type: ignore[arg-type]
        assert caught.value.field == "subject"
