"""Households over HTTP: officers create, read and change them with a purpose, logged for each person in them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tessera.cli.seed import issue_key
from tessera.identity import new_number
from tests.api.people import applicant, enrol
from tests.api.world import World

PURPOSE = "household registration 2026/118"
REASON = "family registered at the desk"
HOUSEHOLDS = "/v1/identity/households"
_births = itertools.count()


def registered(world: World, count: int) -> list[str]:
    """``count`` registered persons' numbers (straight into the registry: no gallery needed here)."""
    officer = world.principals["tax-officer"].id
    return [
        world.services.registry.create_person(
            {"name": "Kwame Mensah", "birth_date": f"{1950 + next(_births) % 60}-03-14", "sex": "M"}, station=officer
        ).number
        for _ in range(count)
    ]


def officer(world: World, purpose: str | None = PURPOSE) -> dict[str, str]:
    return world.as_("tax-officer", purpose=purpose)


def create(world: World, members: list[str], head: str, **extra: Any) -> Any:
    body = {"members": members, "head": head, "reason": REASON, **extra}
    return world.client.post(HOUSEHOLDS, json=body, headers=officer(world))


def looks(world: World, number: str) -> list[tuple[str, str]]:
    """(purpose, outcome) of each entry in a person's access log, oldest first."""
    subject = world.services.registry.subject_of(number)
    return [(e.purpose, e.outcome) for _, e in world.services.access_log.entries_for_subject(subject, limit=100)][::-1]


def problem(response: Any, status: int, field: str) -> dict[str, Any]:
    """The response is a problem+json of ``status`` naming ``field``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    return body


class TestOfficers:
    def test_create_read_and_find__logged_for_each_member_and_nominee(self, world: World) -> None:
        """Creating, reading and finding a household each log one entry for every person it shows."""
        a, b, nominee = registered(world, 3)
        made = create(world, [a, b], a, nominees=[nominee])
        assert made.status_code == 201, made.text
        home = made.json()
        assert (home["head"], sorted(home["members"]), home["nominees"]) == (a, sorted([a, b]), [nominee])
        assert [h["change"] for h in home["history"]] == [
            "member_joined",
            "member_joined",
            "head_changed",
            "nominee_added",
        ]
        read = world.client.get(f"{HOUSEHOLDS}/{home['id']}", headers=officer(world, "benefit review"))
        found = world.client.get(f"/v1/identity/persons/{b}/household", headers=officer(world, "benefit review"))
        assert read.json() == found.json() == home
        for number in (a, b, nominee):
            assert looks(world, number) == [
                (PURPOSE, f"household {home['id']} created"),
                ("benefit review", f"read household {home['id']}"),
                ("benefit review", f"read household {home['id']}"),
            ]

    def test_without_a_purpose__refused_and_logged_for_each(self, world: World) -> None:
        """No purpose, no household: the refusal is what each person's log shows, and nothing was made."""
        a, b = registered(world, 2)
        refused = world.client.post(
            HOUSEHOLDS, json={"members": [a, b], "head": a, "reason": REASON}, headers=officer(world, None)
        )
        assert refused.status_code == 403 and refused.json()["code"] == "purpose_required"
        assert looks(world, a) == looks(world, b) == [("none stated", "denied: no purpose")]
        assert world.services.households.household_of(a) is None

    def test_changes_answer_the_household_and_join_its_history(self, world: World) -> None:
        """Join, head, nominee and leaving each answer the household with the change last in its history."""
        a, b, c, helper = registered(world, 4)
        home = create(world, [a], a).json()
        url = f"{HOUSEHOLDS}/{home['id']}"
        steps = [
            (f"{url}/members", {"number": b, "reason": "married"}, ("member_joined", b)),
            (f"{url}/members", {"number": c, "reason": "born"}, ("member_joined", c)),
            (f"{url}/head", {"number": b, "reason": "a works abroad"}, ("head_changed", b)),
            (f"{url}/nominees", {"number": helper, "reason": "b's fingerprints fail"}, ("nominee_added", helper)),
            (f"{url}/nominees/{helper}/remove", {"reason": "no longer needed"}, ("nominee_removed", helper)),
            (f"{url}/members/{b}/remove", {"reason": "moved out", "new_head": a}, ("member_left", b)),
        ]
        for path, body, last in steps:
            answer = world.client.post(path, json=body, headers=officer(world))
            assert answer.status_code == 200, answer.text
            change = answer.json()["history"][-1]
            assert (change["change"], change["number"]) == last and change["reason"] == body["reason"]
            assert change["actor"] == world.principals["tax-officer"].id
        final = answer.json()
        assert (final["head"], sorted(final["members"])) == (a, sorted([a, c]))
        assert looks(world, helper)[-1] == (PURPOSE, f"household {home['id']}: {helper} no longer nominated")
        assert looks(world, b)[-1] == (PURPOSE, f"household {home['id']}: {b} leaves")

    def test_a_persons_record_names_their_household(self, world: World) -> None:
        """GET /v1/identity/persons/{number} shows the household id, "" for none."""
        a, b = registered(world, 2)
        home = create(world, [a], a).json()
        read = world.client.get(f"/v1/identity/persons/{a}", headers=officer(world)).json()
        assert read["household"] == home["id"]
        assert world.client.get(f"/v1/identity/persons/{b}", headers=officer(world)).json()["household"] == ""

    def test_a_citizen_may_not_use_the_officers_routes(self, world: World) -> None:
        """Households are an officer's to read and change; a citizen has /v1/me/household."""
        [a] = registered(world, 1)
        assert world.client.get(f"/v1/identity/persons/{a}/household", headers=world.as_("alice")).status_code == 403


class TestBadInput:
    """Each a problem+json naming the field, and nothing written."""

    def test_a_person_in_two_households(self, world: World) -> None:
        """A member of one household is refused in a second, at its creation or by joining."""
        a, b, c = registered(world, 3)
        first = create(world, [a, b], a).json()
        body = problem(create(world, [b, c], c), 409, "members[0]")
        assert first["id"] in body["detail"]
        second = create(world, [c], c).json()
        joined = world.client.post(
            f"{HOUSEHOLDS}/{second['id']}/members", json={"number": a, "reason": REASON}, headers=officer(world)
        )
        problem(joined, 409, "number")
        assert world.services.households.household(second["id"]).members == (c,)
        assert looks(world, a)[-1][1].startswith(f"household {second['id']}: {a} joins refused")

    def test_a_nominee_who_is_not_registered(self, world: World) -> None:
        """A nominee must be a registered person."""
        [a] = registered(world, 1)
        home = create(world, [a], a).json()
        stranger = new_number()
        answer = world.client.post(
            f"{HOUSEHOLDS}/{home['id']}/nominees", json={"number": stranger, "reason": REASON}, headers=officer(world)
        )
        assert stranger in problem(answer, 404, "number")["detail"]
        problem(create(world, registered(world, 1), a, nominees=[stranger]), 400, "head")
        [b] = registered(world, 1)
        problem(create(world, [b], b, nominees=[stranger]), 404, "nominees[0]")
        assert world.services.households.household_of(b) is None

    def test_a_third_nominee(self, world: World) -> None:
        """Two nominees at most: the third is refused naming nominees."""
        a, n1, n2, n3 = registered(world, 4)
        home = create(world, [a], a, nominees=[n1, n2]).json()
        answer = world.client.post(
            f"{HOUSEHOLDS}/{home['id']}/nominees", json={"number": n3, "reason": REASON}, headers=officer(world)
        )
        assert "remove one first" in problem(answer, 409, "nominees")["detail"]
        too_many = world.client.post(
            HOUSEHOLDS,
            json={"members": [n3], "head": n3, "nominees": [a, n1, n2], "reason": REASON},
            headers=officer(world),
        )
        assert too_many.status_code == 422 and too_many.json()["field"].endswith("nominees")

    def test_removing_the_head_without_naming_a_new_one(self, world: World) -> None:
        """The head leaves a household of several only with new_head."""
        a, b = registered(world, 2)
        home = create(world, [a, b], a).json()
        answer = world.client.post(
            f"{HOUSEHOLDS}/{home['id']}/members/{a}/remove", json={"reason": "moved out"}, headers=officer(world)
        )
        problem(answer, 400, "new_head")
        assert world.services.households.household(home["id"]).head == a

    def test_an_unknown_person_number(self, world: World) -> None:
        """A well-formed number no one holds is a 404 naming where it was given."""
        [a] = registered(world, 1)
        stranger = new_number()
        assert stranger in problem(create(world, [a, stranger], a), 404, "members[1]")["detail"]
        problem(world.client.get(f"/v1/identity/persons/{stranger}/household", headers=officer(world)), 404, "number")
        assert world.services.households.household_of(a) is None

    def test_an_empty_household(self, world: World) -> None:
        """A household needs a member, its head."""
        [a] = registered(world, 1)
        problem(create(world, [], a), 422, "members")
        assert world.services.households.household_of(a) is None

    def test_a_person_in_no_household(self, world: World) -> None:
        """Finding the household of a person in none is a 404 naming number, logged for them."""
        [a] = registered(world, 1)
        problem(world.client.get(f"/v1/identity/persons/{a}/household", headers=officer(world)), 404, "number")
        assert looks(world, a) == [(PURPOSE, "read: in no household")]


class TestCitizens:
    def test_a_citizen_reads_their_household__logged_for_the_others_not_for_them(self, world: World) -> None:
        """/v1/me/household shows the caller's household; the others in it see the look, the caller's log does not."""
        [enrolled] = enrol(world, applicant("hh-0001", who=501)).json()["enrolments"]
        me, other, nominee = enrolled["number"], *registered(world, 2)
        person = world.services.registry.person(me)
        principal = world.services.store.get_principal(person.principal_id)
        assert principal is not None
        mine = {"Authorization": f"Bearer {issue_key(world.services, principal, for_person=True)}"}
        assert world.client.get("/v1/me/household", headers=mine).json()["field"] == "household"
        home = create(world, [me, other], other, nominees=[nominee]).json()
        before = looks(world, me)
        read = world.client.get("/v1/me/household", headers=mine)
        assert read.status_code == 200 and read.json() == home
        assert looks(world, me) == before
        for number in (other, nominee):
            assert looks(world, number)[-1] == ("a member of the household reading it", f"read household {home['id']}")

    def test_an_enrolment_naming_a_household__refused_pointing_to_the_households(self, world: World) -> None:
        """A station still sending a free-text household is told where households went; "" is taken as none."""
        named = applicant("hh-0002", who=502)
        named["demographics"]["household"] = "hh-17"
        body = problem(enrol(world, named), 400, "demographics.household")
        assert "/v1/identity/households" in body["detail"]
        empty = applicant("hh-0003", who=503)
        empty["demographics"]["household"] = ""
        [made] = enrol(world, empty).json()["enrolments"]
        assert made["state"] == "enrolled" and "household" not in made["demographics"]


@pytest.mark.parametrize("path", ["/members", "/head", "/nominees"])
def test_an_unknown_household__not_found(world: World, path: str) -> None:
    """A change to a household no one made is a 404 naming household_id."""
    [a] = registered(world, 1)
    answer = world.client.post(
        f"{HOUSEHOLDS}/h_{'0' * 16}{path}", json={"number": a, "reason": REASON}, headers=officer(world)
    )
    problem(answer, 404, "household_id")
