"""Registered persons for household tests: an enrolment officer, a reason, and people born a day apart."""

from __future__ import annotations

import datetime as dt
import itertools

from tessera.identity import Registry

OFFICER = "p_00000000000000aa"
REASON = "family registered at the desk, birth certificates seen"
_births = itertools.count()


def person(registry: Registry, name: str = "Amina Diallo") -> str:
    """A registered person's number, born on a day of their own."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=next(_births) % 20_000)
    return registry.create_person({"name": name, "birth_date": born.isoformat(), "sex": "F"}, station=OFFICER).number
