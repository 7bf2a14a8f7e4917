"""Who is calling: principals, their roles, and the identifiers that name them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tessera.errors import InvalidInputError
from tessera.text import checked_text, shows_letter_or_digit

NAME_MAX = 100
DISPLAY_NAME_MAX = 100
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
    # What a person reading their access log is shown for this principal, published by its
    # agency: a pseudonym or a name the officer agrees to show, never ``name`` unasked ("" for
    # none: ``published_name`` then derives a stable pseudonym from the id).
    display_name: str = ""


# A role in words, as a person reading their access log is told it.
ROLE_TITLES = {
    "citizen": "citizen",
    "officer": "officer",
    "merchant": "merchant",
    "auditor": "auditor",
    "admin": "administrator",
    "dpo": "data-protection officer",
    "relying_party": "service you logged in to",
}


def role_title(role: str) -> str:
    """A role in words (``dpo``: "data-protection officer"); an unknown one as written, underscores spaced."""
    return ROLE_TITLES.get(role, role.replace("_", " "))


def published_name(principal: Principal) -> str:
    """The name a person is shown for a principal that looked at their data: its display name, else a pseudonym.

    The pseudonym is the role's title and the first eight hex digits of the principal's id
    ("officer 21dce364"): stable, so a person can name the officer in a complaint or an
    appeal and the agency can tell who it was, and it reveals nothing the id beside it does
    not. ``name`` (a login, perhaps a real name) is never shown to the person.
    """
    return principal.display_name or f"{role_title(principal.role.value)} {principal.id[2:10]}"


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


def checked_display_name(value: object, field: str = "display_name") -> str:
    """A name people will read ("" for none): any script, every character seen, a letter or digit among them."""
    text = checked_text(value, field, DISPLAY_NAME_MAX)
    if text and not shows_letter_or_digit(text):
        raise InvalidInputError(field, "must show a letter or digit (invisible characters do not count)")
    return text


def checked_role(value: object, field: str = "role") -> Role:
    if isinstance(value, str) and value in Role.__members__:
        return Role(value)
    raise InvalidInputError(field, f"must be one of {', '.join(r.value for r in Role)}, got {value!r}")
