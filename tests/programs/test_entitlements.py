"""First to expire, first spent: what is left of each credit follows from the balance alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tessera.programs.entitlements import Credit, Portion, Standing, portions

NOW = 1_000


def _credits(amounts: list[int], expiries: list[int]) -> list[Credit]:
    return [Credit(k + 1, a, e, 100 + k) for k, (a, e) in enumerate(zip(amounts, expiries, strict=False))]


class TestPortions:
    """The balance belongs to the credits that expire last."""

    def test_the_balance_fills_the_latest_credits_first(self) -> None:
        """100 and 100 credited, 150 left: the later credit is whole, the earlier half spent."""
        got = portions(150, _credits([100, 100], [2_000, 3_000]), NOW)
        assert got == (Portion(1, 100, 50, 2_000, True), Portion(2, 100, 100, 3_000, True))

    def test_an_expired_credit_is_held_but_not_left(self) -> None:
        """An expired remainder counts in the balance, not in what may be spent, and is owed back."""
        standing = Standing(7, 1, 150, portions(150, _credits([100, 100], [500, 3_000]), NOW))
        assert standing.left == 100 and standing.expired == 50
        assert standing.returns() == [(1, 50)]
        assert standing.until_ns == 3_000 and standing.last_expired_ns == 500

    def test_a_balance_beyond_the_credits_read_is_expired(self) -> None:
        """Credits older than those read leave a remainder that cannot be spent (cycle 0)."""
        got = portions(130, _credits([100], [3_000]), NOW)
        assert got[0] == Portion(0, 30, 30, 0, False)
        assert Standing(7, 1, 130, got).left == 100

    def test_drawing_more_than_is_left_is_refused(self) -> None:
        """``draw`` never spends an expired credit."""
        standing = Standing(7, 1, 150, portions(150, _credits([100, 100], [500, 3_000]), NOW))
        try:
            standing.draw(101)
        except ValueError as exc:
            assert "100 left" in str(exc)
        else:
            raise AssertionError("drew more than was left")

    @given(
        st.lists(st.integers(1, 10_000), min_size=1, max_size=8),
        st.lists(st.integers(NOW + 1, 10_000), min_size=8, max_size=8),
        st.data(),
    )
    def test_drawing_then_reading_again_agrees(
        self, amounts: list[int], expiries: list[int], data: st.DataObject
    ) -> None:
        """Spend what ``draw`` says; the balance's new attribution is the old one less the draw, cycle by cycle."""
        credits = _credits(amounts, expiries)
        balance = data.draw(st.integers(0, sum(amounts)))
        before = Standing(7, 1, balance, portions(balance, credits, NOW))
        amount = data.draw(st.integers(0, before.left))
        pieces = before.draw(amount)
        assert sum(a for _, a in pieces) == amount
        after = Standing(7, 1, balance - amount, portions(balance - amount, credits, NOW))
        drawn = {c: 0 for c in range(len(amounts) + 1)}
        for cycle, a in pieces:
            drawn[cycle] += a
        assert {p.cycle_id: p.left for p in after.portions} == {
            p.cycle_id: p.left - drawn[p.cycle_id] for p in before.portions
        }
