"""Who is calling: principals, their roles, and the identifiers that name them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tessera.errors import InvalidInputError

NAME_MAX = 100
AGENCY_MAX = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]*")
ORG_PREFIX = "org:"
ORG_ID_MAX = 64
ORGANISATION_MAX = len(ORG_PREFIX) + ORG_ID_MAX
_ORGANISATION = re.compile(rf"org:[a-z0-9][a-z0-9._-]{{0,{ORG_ID_MAX - 1}}}")


class Role(StrEnum):
    """What a principal is; ``tessera.auth.policy`` says what each may do."""

    citizen = "citizen"  # only their own data
    officer = "officer"  # acts for an agency; states a purpose for every read of someone else's data
    merchant = "merchant"  # its own accounts and point-of-sale payments
    auditor = "auditor"  # reads logs, never content
    admin = "admin"  # configuration, never personal data
    dpo = "dpo"  # data-protection officer: declares what data means (types, bases), never reads personal data


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``subject`` is whose personal data is theirs (citizens only).

    ``organisation`` (``org:<id>``, merchants only) is the organisation the principal's
    accounts belong to: a restriction on it closes them too (``organisation_of``).
    """

    id: str
    name: str
    role: Role
    agency: str = ""
    subject: str = ""
    created_at_ns: int = 0
    disabled: bool = False
    organisation: str = ""


def organisation_of(principal: Principal) -> str:
    """The organisation a non-citizen's accounts belong to: the one it acts for, else ``org:<its id>``.

    The second form is how screening names a counterparty that is no person, so a
    restriction from a confirmed hit on it reaches its accounts. Citizens: "".
    """
    if principal.role is Role.citizen:
        return ""
    return principal.organisation or ORG_PREFIX + principal.id


def checked_organisation(value: object, field: str = "organisation") -> str:
    """``org:`` and the organisation's register id: 1-64 of lowercase letters, digits, ``._-``."""
    if not isinstance(value, str) or not _ORGANISATION.fullmatch(value):
        raise InvalidInputError(field, f"an organisation is org: and 1-{ORG_ID_MAX} of a-z 0-9 . _ -")
    return value


def checked_name(value: object, field: str = "name", limit: int = NAME_MAX) -> str:
    """A printable name: letters, digits, space and ``._@-``, starting with a letter or digit."""
    if not isinstance(value, str) or not value or len(value) > limit or not _NAME.fullmatch(value):
        raise InvalidInputError(field, f"must be 1-{limit} letters, digits, spaces or ._@- (starting alphanumeric)")
    return value


def checked_role(value: object, field: str = "role") -> Role:
    if isinstance(value, str) and value in Role.__members__:
        return Role(value)
    raise InvalidInputError(field, f"must be one of {', '.join(r.value for r in Role)}, got {value!r}")
