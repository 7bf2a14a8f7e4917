"""Who a restriction or a notice is about: a person, by Tessera number, or an organisation.

A person is named by their 12-digit Tessera number (Verhoeff check digit last), never by a
principal id, so that a notice and a restriction read the same on paper as on screen. An
organisation has no number here yet: it is ``org:`` and its register's id.
"""

from __future__ import annotations

import re

from tessera.errors import InvalidInputError
from tessera.identity.numbers import checked_number

ORG_PREFIX = "org:"
ORG_ID_MAX = 64
SUBJECT_MAX = len(ORG_PREFIX) + ORG_ID_MAX
_ORG = re.compile(rf"org:[a-z0-9][a-z0-9._-]{{0,{ORG_ID_MAX - 1}}}")


def checked_subject(value: object, field: str = "subject") -> str:
    """A Tessera number with a correct check digit, or ``org:<id>`` (lowercase letters, digits, ``._-``)."""
    if isinstance(value, str) and value.startswith(ORG_PREFIX):
        if not _ORG.fullmatch(value):
            raise InvalidInputError(field, f"an organisation is org: and 1-{ORG_ID_MAX} of a-z 0-9 . _ -")
        return value
    return checked_number(value, field)


def is_person(subject: str) -> bool:
    """Whether a checked subject names a person (and so has an access log and a principal)."""
    return not subject.startswith(ORG_PREFIX)
