"""Who is calling: principals, their roles, and the identifiers that name them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tessera.errors import InvalidInputError

NAME_MAX = 100
AGENCY_MAX = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]*")


class Role(StrEnum):
    """What a principal is; ``tessera.auth.policy`` says what each may do."""

    citizen = "citizen"  # only their own data
    officer = "officer"  # acts for an agency; states a purpose for every read of someone else's data
    merchant = "merchant"  # its own accounts and point-of-sale payments
    auditor = "auditor"  # reads logs, never content
    admin = "admin"  # configuration, never personal data


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``subject`` is whose personal data is theirs (citizens only)."""

    id: str
    name: str
    role: Role
    agency: str = ""
    subject: str = ""
    created_at_ns: int = 0
    disabled: bool = False


def checked_name(value: object, field: str = "name", limit: int = NAME_MAX) -> str:
    """A printable name: letters, digits, space and ``._@-``, starting with a letter or digit."""
    if not isinstance(value, str) or not value or len(value) > limit or not _NAME.fullmatch(value):
        raise InvalidInputError(field, f"must be 1-{limit} letters, digits, spaces or ._@- (starting alphanumeric)")
    return value


def checked_role(value: object, field: str = "role") -> Role:
    if isinstance(value, str) and value in Role.__members__:
        return Role(value)
    raise InvalidInputError(field, f"must be one of {', '.join(r.value for r in Role)}, got {value!r}")
