"""Households: members, a head among them, two nominees at most, one household a person, and a history that replays."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tessera.errors import BatchSizeError, ConflictError, InvalidInputError, NotFoundError, StoreError
from tessera.identity import (
    MEMBERS_MAX,
    NOMINEES_MAX,
    Household,
    HouseholdChange,
    Households,
    Registry,
    new_number,
    replayed,
)
from tessera.store import Store, household_changes, household_members, household_nominees, households
from tests.identity.registered import OFFICER, REASON, person


def snapshot(store: Store) -> dict[str, list[Any]]:
    """Every household row in the store, to show that a refusal wrote nothing."""
    with store.transaction() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t)))) for t in TABLES}


TABLES = (households, household_members, household_nominees, household_changes)


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


@pytest.fixture
def homes(store: Store) -> Households:
    return Households(store)


@pytest.fixture
def family(registry: Registry, homes: Households) -> tuple[Household, list[str]]:
    """A household of three, the first its head."""
    numbers = [person(registry) for _ in range(3)]
    return homes.create_household(numbers, head=numbers[0], actor=OFFICER, reason=REASON), numbers


class TestCreate:
    def test_a_household_has_its_members_head_nominees_and_the_history_of_its_making(
        self, registry: Registry, homes: Households
    ) -> None:
        """Creating records each member's joining, the head and the nominees, with actor and reason."""
        a, b, neighbour = person(registry), person(registry), person(registry)
        made = homes.create_household([a, b], head=b, nominees=[neighbour], actor=OFFICER, reason=REASON)
        assert made.head == b and set(made.members) == {a, b} and made.nominees == (neighbour,)
        assert [(c.change, c.number) for c in made.history] == [
            ("member_joined", b),
            ("member_joined", a),
            ("head_changed", b),
            ("nominee_added", neighbour),
        ]
        assert {(c.actor, c.reason) for c in made.history} == {(OFFICER, REASON)}
        assert homes.household(made.id) == made == homes.household_of(a)

    def test_a_person_in_no_household__none(self, registry: Registry, homes: Households) -> None:
        """household_of a registered person outside every household is None, not an error."""
        assert homes.household_of(person(registry)) is None

    def test_the_registry_shows_each_persons_household(self, registry: Registry, homes: Households) -> None:
        """A person's record names the household they are in now, and "" once they leave."""
        a, b = person(registry), person(registry)
        made = homes.create_household([a, b], head=a, actor=OFFICER, reason=REASON)
        assert registry.person(b).household == made.id
        homes.remove_member(made.id, b, actor=OFFICER, reason="moved out")
        assert registry.person(b).household == ""


class TestBadInput:
    """Each refusal names the field and writes nothing."""

    def test_a_person_in_two_households__conflict_naming_the_member(
        self, store: Store, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """A member of one household cannot be in another: at creation or by joining."""
        home, numbers = family
        other = person(registry)
        before = snapshot(store)
        with pytest.raises(ConflictError, match=home.id) as caught:
            homes.create_household([other, numbers[1]], head=other, actor=OFFICER, reason=REASON)
        assert caught.value.field == "members[1]"
        second = homes.create_household([other], head=other, actor=OFFICER, reason=REASON)
        before = snapshot(store)
        with pytest.raises(ConflictError, match=home.id) as caught:
            homes.add_member(second.id, numbers[2], actor=OFFICER, reason=REASON)
        assert caught.value.field == "number" and snapshot(store) == before
        with pytest.raises(ConflictError) as caught:
            homes.add_member(home.id, numbers[2], actor=OFFICER, reason=REASON)  # this one, again
        assert caught.value.field == "number" and snapshot(store) == before

    def test_the_store_itself_refuses_a_second_household(
        self, store: Store, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """Past the domain, the key on household_members keeps a person to one household."""
        _, numbers = family
        lone = person(registry)
        second = homes.create_household([lone], head=lone, actor=OFFICER, reason=REASON)
        with pytest.raises(StoreError), store.transaction(write=True) as conn:
            conn.execute(
                household_members.insert().values(
                    number=numbers[1], household_id=second.id, is_head=False, joined_at_ns=1
                )
            )

    @pytest.mark.parametrize("way", ["create", "join"])
    def test_a_second_household_past_the_domains_check__the_stores_key_refuses_it_as_a_conflict(
        self,
        store: Store,
        homes: Households,
        family: tuple[Household, list[str]],
        monkeypatch: pytest.MonkeyPatch,
        way: str,
    ) -> None:
        """Two officers racing past the check (made blind here): the key refuses it, a conflict, nothing written."""
        _, numbers = family
        registry = Registry(store)
        lone = person(registry)
        second = homes.create_household([lone], head=lone, actor=OFFICER, reason=REASON)
        monkeypatch.setattr("tessera.identity.households._check_in_none", lambda *_, **__: None)
        before = snapshot(store)
        with pytest.raises(ConflictError, match="meanwhile") as caught:
            if way == "create":
                homes.create_household([person(registry), numbers[1]], head=numbers[1], actor=OFFICER, reason=REASON)
            else:
                homes.add_member(second.id, numbers[1], actor=OFFICER, reason=REASON)
        assert caught.value.field == ("members" if way == "create" else "number")
        assert snapshot(store) == before

    def test_a_nominee_who_is_not_registered__not_found_naming_the_field(
        self, store: Store, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """A nominee must be a registered person, whether named at creation or added later."""
        home, _ = family
        stranger = new_number()
        before = snapshot(store)
        with pytest.raises(NotFoundError, match=stranger) as caught:
            homes.add_nominee(home.id, stranger, actor=OFFICER, reason=REASON)
        assert caught.value.field == "number" and snapshot(store) == before

    def test_a_third_nominee__conflict_naming_nominees(
        self, store: Store, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """Two nominees at most: the third is refused until one is removed."""
        home, _ = family
        for _ in range(NOMINEES_MAX):
            homes.add_nominee(home.id, person(registry), actor=OFFICER, reason=REASON)
        before = snapshot(store)
        with pytest.raises(ConflictError, match="remove one first") as caught:
            homes.add_nominee(home.id, person(registry), actor=OFFICER, reason=REASON)
        assert caught.value.field == "nominees" and snapshot(store) == before
        with pytest.raises(InvalidInputError) as caught:
            homes.create_household(
                [home.members[0]],
                head=home.members[0],
                nominees=[new_number() for _ in range(3)],
                actor=OFFICER,
                reason=REASON,
            )
        assert caught.value.field == "nominees"

    def test_the_store_itself_has_two_nominee_slots(
        self, store: Store, registry: Registry, family: tuple[Household, list[str]]
    ) -> None:
        """Past the domain, a third slot breaks the store's check."""
        home, _ = family
        with pytest.raises(StoreError), store.transaction(write=True) as conn:
            conn.execute(
                household_nominees.insert().values(
                    household_id=home.id, slot=NOMINEES_MAX + 1, number=person(registry), added_at_ns=1
                )
            )

    def test_removing_the_head_without_a_new_one__invalid_naming_new_head(
        self, store: Store, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """The head leaves a household of several only with a new head named among the others."""
        home, numbers = family
        before = snapshot(store)
        with pytest.raises(InvalidInputError) as caught:
            homes.remove_member(home.id, numbers[0], actor=OFFICER, reason=REASON)
        assert caught.value.field == "new_head" and snapshot(store) == before
        with pytest.raises(InvalidInputError) as caught:
            homes.remove_member(home.id, numbers[0], new_head=numbers[0], actor=OFFICER, reason=REASON)
        assert caught.value.field == "new_head" and snapshot(store) == before
        after = homes.remove_member(home.id, numbers[0], new_head=numbers[2], actor=OFFICER, reason="the head died")
        assert after.head == numbers[2] and numbers[0] not in after.members
        assert [(c.change, c.number) for c in after.history[-2:]] == [
            ("head_changed", numbers[2]),
            ("member_left", numbers[0]),
        ]

    def test_an_unknown_person_number__not_found_naming_the_member(
        self, store: Store, registry: Registry, homes: Households
    ) -> None:
        """A well-formed number no one holds is NotFound at its index; a malformed one is refused before any read."""
        a = person(registry)
        stranger = new_number()
        before = snapshot(store)
        with pytest.raises(NotFoundError, match=stranger) as caught:
            homes.create_household([a, stranger], head=a, actor=OFFICER, reason=REASON)
        assert caught.value.field == "members[1]" and snapshot(store) == before
        with pytest.raises(InvalidInputError) as caught:
            homes.create_household([a, "123"], head=a, actor=OFFICER, reason=REASON)
        assert caught.value.field == "members[1]" and snapshot(store) == before
        with pytest.raises(NotFoundError) as caught:
            homes.household_of(stranger)
        assert caught.value.field == "number"

    def test_an_empty_household__refused_naming_members(
        self, store: Store, registry: Registry, homes: Households
    ) -> None:
        """A household needs at least one member, its head."""
        before = snapshot(store)
        with pytest.raises(BatchSizeError) as caught:
            homes.create_household([], head=person(registry), actor=OFFICER, reason=REASON)
        assert caught.value.field == "members" and snapshot(store) == before

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"head": "other"}, "head"),
            ({"reason": " "}, "reason"),
            ({"reason": "moved\u202e"}, "reason"),
            ({"actor": ""}, "actor"),
            ({"repeat": True}, "members[1]"),
        ],
    )
    def test_other_bad_creations__refused_naming_the_field(
        self, store: Store, registry: Registry, homes: Households, changes: dict[str, Any], field: str
    ) -> None:
        """A head outside the members, a blank or hiding reason, no actor, a member twice."""
        a, b = person(registry), person(registry)
        args: dict[str, Any] = {"head": a, "actor": OFFICER, "reason": REASON}
        members = [a, a] if changes.get("repeat") else [a]
        args.update({k: v for k, v in changes.items() if k != "repeat"})  # the parameters are shared: not popped
        if args["head"] == "other":
            args["head"] = b
        with pytest.raises(InvalidInputError) as caught:
            homes.create_household(members, **args)
        assert caught.value.field == field and snapshot(store) == {t.name: [] for t in TABLES}

    def test_too_many_members__refused(self, homes: Households) -> None:
        """More than MEMBERS_MAX members is refused before any lookup."""
        numbers = [new_number() for _ in range(MEMBERS_MAX + 1)]
        with pytest.raises(BatchSizeError) as caught:
            homes.create_household(numbers, head=numbers[0], actor=OFFICER, reason=REASON)
        assert caught.value.field == "members"

    def test_a_deceased_person_joins_nothing(
        self, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """A person recorded dead is neither a new member nor a nominee."""
        home, _ = family
        gone = person(registry)
        registry.set_status(gone, "deceased", reason="death certificate", actor=OFFICER)
        for change in (homes.add_member, homes.add_nominee):
            with pytest.raises(ConflictError, match="deceased"):
                change(home.id, gone, actor=OFFICER, reason=REASON)

    def test_unknown_household__not_found(self, homes: Households, registry: Registry) -> None:
        """A household id no one made is NotFound naming household_id; a malformed one is invalid."""
        with pytest.raises(NotFoundError) as caught:
            homes.add_member("h_" + "0" * 16, person(registry), actor=OFFICER, reason=REASON)
        assert caught.value.field == "household_id"
        with pytest.raises(InvalidInputError) as caught:
            homes.household("H-17")
        assert caught.value.field == "household_id"


class TestChanges:
    def test_the_last_member_leaving_closes_the_household(self, registry: Registry, homes: Households) -> None:
        """The sole member leaves alone; the household closes, its nominees go, and it changes no more."""
        a, helper = person(registry), person(registry)
        home = homes.create_household([a], head=a, nominees=[helper], actor=OFFICER, reason=REASON)
        closed = homes.remove_member(home.id, a, actor=OFFICER, reason="joined her daughter's household")
        assert closed.closed_at_ns is not None and closed.members == () and closed.head is None
        assert closed.nominees == ()
        assert [(c.change, c.number) for c in closed.history[-2:]] == [("member_left", a), ("nominee_removed", helper)]
        with pytest.raises(ConflictError, match="closed") as caught:
            homes.add_member(home.id, a, actor=OFFICER, reason=REASON)
        assert caught.value.field == "household_id"
        assert homes.create_household([a], head=a, actor=OFFICER, reason=REASON).head == a  # free to join another

    def test_head_and_nominee_changes_join_the_history(
        self, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """Changing the head, adding and removing a nominee each add one entry, with the reason given."""
        home, numbers = family
        nominee = person(registry)
        homes.change_head(home.id, numbers[1], actor=OFFICER, reason="the father is abroad")
        homes.add_nominee(home.id, nominee, actor=OFFICER, reason="fingerprints fail")
        after = homes.remove_nominee(home.id, nominee, actor=OFFICER, reason="no longer needed")
        assert after.head == numbers[1] and after.nominees == ()
        assert [(c.change, c.reason) for c in after.history[len(home.history) :]] == [
            ("head_changed", "the father is abroad"),
            ("nominee_added", "fingerprints fail"),
            ("nominee_removed", "no longer needed"),
        ]

    def test_nominating_lists_the_households_a_person_collects_for_now(
        self, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """A helper named by two households sees both, by id; removed from one, only the other; nobody else any."""
        home, numbers = family
        helper, lone = person(registry), person(registry)
        other = homes.create_household([lone], head=lone, actor=OFFICER, reason=REASON)
        assert homes.nominating(helper) == []
        for h in (home, other):
            homes.add_nominee(h.id, helper, actor=OFFICER, reason="fingerprints fail")
        assert [h.id for h in homes.nominating(helper)] == sorted([home.id, other.id])
        homes.remove_nominee(home.id, helper, actor=OFFICER, reason="no longer needed")
        [left] = homes.nominating(helper)
        assert (left.id, left.head, left.nominees) == (other.id, lone, (helper,))
        assert homes.nominating(numbers[0]) == []
        with pytest.raises(NotFoundError) as caught:
            homes.nominating(new_number())
        assert caught.value.field == "number"

    def test_a_head_who_is_not_a_member__refused(
        self, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """The head is chosen among the members only."""
        home, numbers = family
        with pytest.raises(InvalidInputError) as caught:
            homes.change_head(home.id, person(registry), actor=OFFICER, reason=REASON)
        assert caught.value.field == "number"
        with pytest.raises(ConflictError):
            homes.change_head(home.id, numbers[0], actor=OFFICER, reason=REASON)

    def test_removing_someone_not_there__not_found(
        self, registry: Registry, homes: Households, family: tuple[Household, list[str]]
    ) -> None:
        """Removing a non-member or a non-nominee names the number."""
        home, _ = family
        for change in (homes.remove_member, homes.remove_nominee):
            with pytest.raises(NotFoundError) as caught:
                change(home.id, person(registry), actor=OFFICER, reason=REASON)
            assert caught.value.field == "number"


@pytest.mark.parametrize(
    "changes",
    [
        [("head_changed", "1")],  # a head who never joined
        [("member_joined", "1"), ("member_joined", "1")],  # joined twice
        [("member_joined", "1"), ("member_joined", "2"), ("head_changed", "1"), ("member_left", "1")],  # head left
        [("nominee_added", "1"), ("nominee_added", "2"), ("nominee_added", "3")],  # a third nominee
        [("nominee_removed", "1")],  # never nominated
    ],
)
def test_a_history_that_could_not_have_happened__replay_refuses_it(changes: list[tuple[str, str]]) -> None:
    """replayed() checks each step as the domain does, so a rewritten history shows."""
    with pytest.raises(ValueError, match="cannot follow"):
        replayed(HouseholdChange(change, number, OFFICER, REASON, 0) for change, number in changes)


# --- the invariants, over random sequences of changes --------------------------------------------

POOL = 7  # persons per example: few enough that the changes collide often
OPERATIONS = st.one_of(
    st.tuples(
        st.just("create"),
        st.lists(st.integers(0, POOL - 1), max_size=4),
        st.integers(0, POOL - 1),
        st.lists(st.integers(0, POOL - 1), max_size=3),
    ),
    st.tuples(st.sampled_from(["add", "head", "nominate", "unnominate"]), st.integers(0, 3), st.integers(0, POOL - 1)),
    st.tuples(st.just("remove"), st.integers(0, 3), st.integers(0, POOL - 1), st.none() | st.integers(0, POOL - 1)),
)


def _apply(homes: Households, made: list[str], people: list[str], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "create":
        _, members, head, nominees = op
        made.append(
            homes.create_household(
                [people[i] for i in members],
                head=people[head],
                nominees=[people[i] for i in nominees],
                actor=OFFICER,
                reason=REASON,
            ).id
        )
        return
    if not made:
        return
    household_id, number = made[op[1] % len(made)], people[op[2]]
    if kind == "add":
        homes.add_member(household_id, number, actor=OFFICER, reason=REASON)
    elif kind == "head":
        homes.change_head(household_id, number, actor=OFFICER, reason=REASON)
    elif kind == "nominate":
        homes.add_nominee(household_id, number, actor=OFFICER, reason=REASON)
    elif kind == "unnominate":
        homes.remove_nominee(household_id, number, actor=OFFICER, reason=REASON)
    else:
        successor = None if op[3] is None else people[op[3]]
        homes.remove_member(household_id, number, new_head=successor, actor=OFFICER, reason=REASON)


def _check_invariants(homes: Households, made: list[str], people: list[str]) -> dict[str, Household]:
    found = {h: homes.household(h) for h in made}
    seen: dict[str, str] = {}
    for home in found.values():
        for number in home.members:
            assert number not in seen, f"{number} is in {seen.get(number)} and {home.id}"
            seen[number] = home.id
        assert (home.head in home.members) if home.members else (home.head is None and home.closed_at_ns)
        assert len(home.nominees) <= NOMINEES_MAX
        state = replayed(home.history)
        assert (state.members, state.head, state.nominees) == (
            frozenset(home.members),
            home.head,
            frozenset(home.nominees),
        )
    for number in people:
        home_of = homes.household_of(number)
        assert (home_of.id if home_of else None) == seen.get(number)
    return found


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPERATIONS, max_size=12))
def test_any_sequence_of_changes_keeps_the_invariants(
    store: Store, registry: Registry, homes: Households, ops: list[tuple[Any, ...]]
) -> None:
    """Whatever is asked, in any order: one household a person, the head a member, two nominees at most,
    the history replays to the state, it only grows, and a refused change writes nothing."""
    people = [person(registry) for _ in range(POOL)]  # new persons: earlier examples' households hold none of them
    made: list[str] = []
    before = _check_invariants(homes, made, people)
    for op in ops:
        rows = snapshot(store)
        try:
            _apply(homes, made, people, op)
        except (InvalidInputError, ConflictError, NotFoundError):
            assert snapshot(store) == rows
        after = _check_invariants(homes, made, people)
        for household_id, home in before.items():
            assert after[household_id].history[: len(home.history)] == home.history
        before = after
