"""Who a restriction or a notice is about: a person, by Tessera number, or an organisation.

A person is named by their 12-digit Tessera number (Verhoeff check digit last), never by a
principal id, so that a notice and a restriction read the same on paper as on screen. An
organisation has no number here yet: it is ``org:`` and its register's id.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from tessera.auth import ORG_PREFIX, ORGANISATION_MAX, checked_organisation
from tessera.errors import NotFoundError
from tessera.identity import checked_number
from tessera.store import persons

SUBJECT_MAX = ORGANISATION_MAX  # a Tessera number is shorter


def checked_subject(value: object, field: str = "subject") -> str:
    """A Tessera number with a correct check digit, or ``org:<id>`` (lowercase letters, digits, ``._-``)."""
    if isinstance(value, str) and value.startswith(ORG_PREFIX):
        return checked_organisation(value, field)
    return checked_number(value, field)


def is_person(subject: str) -> bool:
    """Whether a checked subject names a person (and so has an access log and a principal)."""
    return not subject.startswith(ORG_PREFIX)


def require_registered(conn: Connection, subjects: Sequence[tuple[str, str]]) -> None:
    """For (field, subject) pairs: a person must be registered, or NotFoundError names the field; one query."""
    numbers = sorted({s for _, s in subjects if is_person(s)})
    if not numbers:
        return
    found = set(conn.scalars(select(persons.c.number).where(persons.c.number.in_(numbers))))
    for field, s in subjects:
        if is_person(s) and s not in found:
            raise NotFoundError(field, f"no person {s} is registered")
