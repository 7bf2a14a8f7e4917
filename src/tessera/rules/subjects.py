"""Who a restriction or a notice is about: a person, by Tessera number, or an organisation.

A person is named by their 12-digit Tessera number (Verhoeff check digit last), never by a
principal id, so that a notice and a restriction read the same on paper as on screen. An
organisation has no number here yet: it is ``org:`` and its register's id.
"""

from __future__ import annotations

from tessera.auth.principals import ORG_PREFIX, ORGANISATION_MAX, checked_organisation
from tessera.identity.numbers import checked_number

SUBJECT_MAX = ORGANISATION_MAX  # a Tessera number is shorter


def checked_subject(value: object, field: str = "subject") -> str:
    """A Tessera number with a correct check digit, or ``org:<id>`` (lowercase letters, digits, ``._-``)."""
    if isinstance(value, str) and value.startswith(ORG_PREFIX):
        return checked_organisation(value, field)
    return checked_number(value, field)


def is_person(subject: str) -> bool:
    """Whether a checked subject names a person (and so has an access log and a principal)."""
    return not subject.startswith(ORG_PREFIX)
