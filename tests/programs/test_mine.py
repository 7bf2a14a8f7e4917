"""A person's own entitlements: every programme they are in, why, what is left and where; their redemptions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.errors import InvalidInputError
from tessera.rules import builtin_code_tables
from tests.programs.cycle_world import (
    CYCLE_DATE_NS,
    World,
    family_programme_text,
    grocer,
    open_world,
    programme_text,
    redeem,
    register,
)

DAY_NS = 86_400 * 10**9
SOON = CYCLE_DATE_NS + DAY_NS  # a day into the cycle: its credits live 60 days
EXPIRES = CYCLE_DATE_NS + 60 * DAY_NS


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with 12 seeded persons."""
    made = open_world(tmp_path, persons=12)
    yield made
    made.services.close()


def _run(world: World, programme_id: str, *, pay: bool = True) -> int:
    """A cycle of ``programme_id`` previewed, and unless ``pay`` is false approved and disbursed."""
    cycles = world.services.cycles
    cycle = cycles.create(programme_id, CYCLE_DATE_NS, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    if pay:
        cycles.approve(cycle.id, by=world.checker)
        cycles.disburse(cycle.id, by=world.checker)
    return cycle.id


def _family(world: World, *, pay: bool = True) -> tuple[str, str, str, int]:
    """The first person heads a household with the second; the third lives alone. The family programme's cycle run."""
    head, member, alone = world.numbers[:3]
    world.services.households.create_household(
        [head, member], head=head, actor=world.admin.id, reason="registered at the desk"
    )
    register(world, family_programme_text())
    return head, member, alone, _run(world, "family_cash", pay=pay)


class TestHousehold:
    def test_the_head_and_a_member_both_see_the_households_entitlement(self, world: World) -> None:
        """Paid to the head for the household of two (40.00): both see it, marked as the household's, with why."""
        head, member, _, cycle_id = _family(world)
        reader = world.services.my_entitlements
        for number, yours in ((head, True), (member, False)):
            mine = reader.of(number, now_ns=SOON)
            [seen] = mine.programmes
            assert (seen.id, seen.unit, seen.kind, seen.number, seen.head, seen.yours, seen.nominee) == (
                "family_cash", "household", "cash", head, head, yours, False,
            )  # fmt: skip
            assert seen.household_id == mine.household_id is not None
            assert seen.latest is not None and seen.latest.cycle_id == cycle_id and seen.latest.eligible
            assert seen.latest.reason == "met: household.size >= 2; household.size < 50"
            assert [c.held for c in seen.latest.clauses] == [True, True]
            assert seen.latest.amounts == ("40.00 XTS",)
            [line] = seen.lines
            assert (line.paid, line.left, line.left_text, line.until_ns, line.expired) == (
                True, 4000, "40.00 XTS", EXPIRES, 0,
            )  # fmt: skip
        assert reader.of(head, now_ns=SOON).others == ()
        assert reader.of(member, now_ns=SOON).others == (head,)

    def test_a_nominee_who_is_no_member_sees_what_they_collect_and_its_redemptions(self, world: World) -> None:
        """The third person collects for the household: they see its entitlement marked ``nominee``, until removed."""
        head, member, alone, cycle_id = _family(world)
        homes = world.services.households
        [home] = [homes.household_of(head)]
        assert home is not None
        homes.add_nominee(home.id, alone, actor=world.admin.id, reason="the head's fingerprints fail")
        homes.add_nominee(home.id, member, actor=world.admin.id, reason="a member nominated too")
        grocer(world.services, programme_id="family_cash")
        redeem(
            world.services, programme_id="family_cash", number=head, cycle_id=cycle_id, amount=1500,
            redemption_id="r_00000000000000d0", at_ns=SOON,
        )  # fmt: skip
        reader = world.services.my_entitlements
        mine = reader.of(alone, now_ns=SOON)
        own, seen = mine.programmes  # their own (a household of one is not eligible), then the one they collect for
        assert (own.number, own.nominee, own.latest is not None and own.latest.eligible) == (alone, False, False)
        assert (seen.id, seen.number, seen.head, seen.household_id, seen.yours, seen.nominee) == (
            "family_cash", head, head, home.id, False, True,
        )  # fmt: skip
        assert mine.household_id is None and mine.others == (head,)
        assert seen.lines[0].left_text == "25.00 XTS" and seen.latest is not None and seen.latest.eligible
        assert [r.id for r in mine.redemptions] == ["r_00000000000000d0"]
        [as_member] = reader.of(member, now_ns=SOON).programmes  # a member named nominee too sees it once
        assert (as_member.nominee, as_member.household_id) == (False, home.id)
        homes.remove_nominee(home.id, alone, actor=world.admin.id, reason="no longer needed")
        gone = reader.of(alone, now_ns=SOON)
        assert ([p.number for p in gone.programmes], gone.redemptions, gone.others) == ([alone], (), ())

    def test_where_it_is_spent_names_the_categories_and_counts_the_outlets(self, world: World) -> None:
        """Merchant categories by their MCC names, and the outlets authorised now."""
        head, _, _, _ = _family(world)
        grocer(world.services, programme_id="family_cash")
        [seen] = world.services.my_entitlements.of(head, now_ns=SOON).programmes
        mcc = builtin_code_tables().get("mcc")
        names = {code: mcc.meaning(code) for code in (5411, 5499)}
        assert all(n is not None for n in names.values())
        assert [(s.code, s.name) for s in seen.merchant_categories] == [
            (c, n.label) for c, n in names.items() if n is not None
        ]
        assert seen.outlets == 1

    def test_what_expired_unspent_is_shown_apart_from_what_is_left(self, world: World) -> None:
        """Past the credit's validity nothing is left; the 40.00 is shown as expired, and when."""
        head, _, _, _ = _family(world)
        [line] = world.services.my_entitlements.of(head, now_ns=EXPIRES + 1).programmes[0].lines
        assert (line.left, line.expired, line.expired_text, line.until_ns, line.last_expired_ns) == (
            0, 4000, "40.00 XTS", None, EXPIRES,
        )  # fmt: skip


class TestNotEligible:
    def test_one_not_eligible_in_the_latest_cycle_sees_why_not(self, world: World) -> None:
        """A person alone (a household of one) was previewed and not paid: they see the programme and the clause."""
        _, _, alone, cycle_id = _family(world)
        [seen] = world.services.my_entitlements.of(alone, now_ns=SOON).programmes
        assert seen.number == alone and seen.yours and seen.latest is not None
        assert (seen.latest.cycle_id, seen.latest.eligible) == (cycle_id, False)
        assert seen.latest.reason == "not met: household.size >= 2"
        assert [c.held for c in seen.latest.clauses] == [False, True]
        assert seen.latest.amounts == ("",)
        [line] = seen.lines
        assert (line.paid, line.left_text, line.until_ns) == (False, "0.00 XTS", None)

    def test_a_programme_never_run_is_not_shown(self, world: World) -> None:
        """Registered but with no cycle previewed, and nobody paid: nobody sees it."""
        register(world, programme_text())
        assert world.services.my_entitlements.of(world.numbers[0], now_ns=SOON).programmes == ()

    def test_under_or_an_eligible_person_is_told_which_clause_held(self, world: World) -> None:
        """``||``: the clause bits are kept for the eligible, so the words name the clause that held."""
        register(
            world,
            programme_text().replace("person.age >= 18 && person.age < 200", "person.age < 18 || person.age >= 60"),
        )
        cycle_id = _run(world, "adult_cash", pay=False)
        results = world.services.cycles.results(cycle_id, limit=100)
        ages = {r.person: r for r in results}
        reader = world.services.my_entitlements
        told = {number: reader.of(number, now_ns=SOON).programmes[0].latest for number in ages}
        reasons = {t.reason for t in told.values() if t is not None and t.eligible}
        assert reasons and reasons <= {"met: person.age < 18", "met: person.age >= 60"}
        for latest in told.values():
            assert latest is not None
            assert sum(c.held for c in latest.clauses) == (1 if latest.eligible else 0)


class TestRedemptions:
    def test_a_redemption_lowers_what_is_left_and_is_listed_newest_first_by_page(self, world: World) -> None:
        """Two draws at the grocer: both members see 15.00 left and the redemptions, a page at a time."""
        head, member, alone, cycle_id = _family(world)
        grocer(world.services, programme_id="family_cash")
        for k, amount in enumerate((1500, 1000)):
            redeem(
                world.services, programme_id="family_cash", number=head, cycle_id=cycle_id, amount=amount,
                redemption_id=f"r_00000000000000b{k}", at_ns=SOON + k,
            )  # fmt: skip
        reader = world.services.my_entitlements
        for number in (head, member):
            mine = reader.of(number, now_ns=SOON, limit=1)
            assert mine.programmes[0].lines[0].left_text == "15.00 XTS"
            [newest] = mine.redemptions
            assert (newest.id, newest.outlet_name, newest.status, newest.created_at_ns) == (
                "r_00000000000000b1", "Mama Njeri's Grocery", "completed", SOON + 1,
            )  # fmt: skip
            assert newest.items[0]["amount"] == 1000
            assert mine.next_before is not None
            older = reader.of(number, now_ns=SOON, limit=1, before=mine.next_before)
            assert [r.id for r in older.redemptions] == ["r_00000000000000b0"]
            assert reader.of(number, now_ns=SOON, limit=2).next_before is not None
        assert reader.of(alone, now_ns=SOON).redemptions == ()

    def test_a_bad_cursor_or_limit_names_the_field(self, world: World) -> None:
        """``before`` is the previous page's cursor, ``limit`` a page size: anything else is refused by name."""
        reader = world.services.my_entitlements
        with pytest.raises(InvalidInputError, match="before"):
            reader.of(world.numbers[0], before="yesterday")
        with pytest.raises(InvalidInputError, match="limit"):
            reader.of(world.numbers[0], limit=0)
