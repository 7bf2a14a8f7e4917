"""Migration 0019: free-text households become households, the oldest member heading each, and the column goes."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from tessera.identity import Households, replayed
from tessera.identity.numbers import check_digit
from tessera.store import Store
from tessera.store.store import alembic_config

OFFICER = "p_00000000000000aa"
REASON = "migrated from the free-text household field"


def _number(i: int) -> str:
    body = f"1{i:010d}"
    return body + str(check_digit(body))


N1, N2, N3, N4, N5, N6, N7, N8, N9 = (_number(i) for i in range(1, 10))
# (number, household text, birth date, registered at).
PEOPLE = [
    (N1, "hh-A", "1980-05-01", 10),
    (N2, "hh-A", "1950-02-03", 20),  # the oldest of hh-A: its head
    (N3, "hh-A", "2010-09-09", 30),
    (N4, "hh-B", "1970-01-01", 40),  # born the same day as 5, registered first: head
    (N5, "hh-B", "1970-01-01", 50),
    (N6, "hh-C", "1990-01-01", 60),  # alone, still a household
    (N7, "", "1960-01-01", 70),  # named none
    (N8, "   ", "1961-01-01", 80),  # spaces show nothing: none either
    (N9, "HH-A", "1940-01-01", 90),  # another text: another household
]


def _at_0018_with_people(url: str) -> None:
    """A store at revision 0018 whose persons carry the free-text households of PEOPLE."""
    with Store.open(url) as store:
        config = alembic_config()
        with store._engine.begin() as conn:  # past the store's API, as the migration tests do
            config.attributes["connection"] = conn
            command.downgrade(config, "0018")
        with store._engine.begin() as conn:
            for number, household, born, at in PEOPLE:
                principal = f"p_{int(number):016x}"
                conn.execute(
                    text(
                        "INSERT INTO principals (id, name, role, agency, subject, created_at_ns, disabled)"
                        " VALUES (:id, :name, 'citizen', '', :id, :at, :off)"
                    ),
                    {"id": principal, "name": f"person-{number}", "at": at, "off": False},
                )
                conn.execute(
                    text(
                        "INSERT INTO persons (number, principal_id, name, other_names, birth_date, sex, address,"
                        " household, status, enrolment_id, created_at_ns) VALUES (:number, :principal, 'A Person',"
                        " '[]', :born, 'F', '', :household, 'active', :enrolment, :at)"
                    ),
                    {
                        "number": number,
                        "principal": principal,
                        "born": born,
                        "household": household,
                        "enrolment": f"e_{int(number):016x}",
                        "at": at,
                    },
                )


def test_free_text_households_become_households_headed_by_the_oldest(database_url: str) -> None:
    """Persons sharing a non-empty text are one household, the oldest (then the first registered) its head."""
    _at_0018_with_people(database_url)
    with Store.open(database_url) as store:
        homes = Households(store)
        found = {n: homes.household_of(n) for n, *_ in PEOPLE}
        a, b, c, lone = found[N1], found[N4], found[N6], found[N9]
        assert a is not None and b is not None and c is not None and lone is not None
        assert (a.head, set(a.members)) == (N2, {N1, N2, N3})
        assert (b.head, set(b.members)) == (N4, {N4, N5})
        assert (c.head, c.members) == (N6, (N6,))
        assert lone.members == (N9,) and len({a.id, b.id, c.id, lone.id}) == 4
        assert found[N7] is None and found[N8] is None
        for home in (a, b, c, lone):
            assert home.created_by == "migration 0019" and home.nominees == ()
            assert {(h.actor, h.reason) for h in home.history} == {("migration 0019", REASON)}
            assert home.history[-1].change == "head_changed" and home.history[-1].number == home.head
            assert replayed(home.history).members == frozenset(home.members)
        with store._engine.connect() as conn:
            assert "household" not in {c["name"] for c in inspect(conn).get_columns("persons")}
        # The migrated households are households like any other.
        moved = homes.remove_member(a.id, N3, actor=OFFICER, reason="left for university")
        assert N3 not in moved.members


def test_downgrade_puts_each_members_household_id_back(database_url: str) -> None:
    """Back at 0018, persons.household holds the id of the household each was in; others are empty."""
    _at_0018_with_people(database_url)
    with Store.open(database_url) as store:
        ids = {n: (h.id if h else "") for n, *_ in PEOPLE for h in [Households(store).household_of(n)]}
        config = alembic_config()
        with store._engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0018")
        with store._engine.connect() as conn:
            back = dict(conn.execute(text("SELECT number, household FROM persons")).all())
    assert back == ids


def test_downgrade_refused_once_households_hold_what_0018_cannot(database_url: str) -> None:
    """A nominee or a change since the migration has no place in a free-text column: downgrade stops."""
    _at_0018_with_people(database_url)
    with Store.open(database_url) as store:
        home = Households(store).household_of(N1)
        assert home is not None
        Households(store).add_nominee(home.id, N7, actor=OFFICER, reason="she collects for them")
        config = alembic_config()
        with pytest.raises(RuntimeError, match="nominees"), store._engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0018")
