"""What a person reads about themselves: their record, their virtual ids, who looked at their data."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from tessera.api.schemas.common import Rfc3339, beside, vars_of
from tessera.api.schemas.identity import PersonPublic, VirtualIdPublic
from tessera.audit import AccessEntry
from tessera.auth import role_title


class MyIdentityPublic(BaseModel):
    person: PersonPublic
    virtual_ids: list[VirtualIdPublic]


class AccessEntryPublic(BaseModel):
    """One look at the caller's data, in words: who (name, role, agency), when, why, what they saw, what happened.

    ``principal``, ``role``, ``agency`` and ``time_ns`` are the entry as the log holds it (what
    its leaf hash covers); ``display_name``, ``role_title``, ``agency_name`` and ``who`` say
    the same in words. ``display_name`` is the one the looker's agency publishes, or a
    pseudonym made from the principal id: never the principal's login name (docs/audit.md).
    """

    index: int
    time_ns: int
    time: Rfc3339 = beside("time_ns")
    principal: str
    display_name: str = Field(description="the name the agency publishes for whoever looked, or a pseudonym")
    role: str
    role_title: str = Field(description="the role in words")
    agency: str
    agency_name: str | None = Field(description="the agency's registered title; null for none")
    who: str = Field(description="display name, role and agency in one line")
    purpose: str
    fields: list[str]
    outcome: str

    @classmethod
    def of(cls, index: int, e: AccessEntry, looker: Looker) -> AccessEntryPublic:
        role_words = role_title(e.role)
        where = ", ".join(w for w in (role_words, looker.agency_name) if w)
        return cls.model_validate(
            {
                **vars_of(e),
                "index": index,
                "display_name": looker.display_name,
                "role_title": role_words,
                "agency_name": looker.agency_name,
                "who": f"{looker.display_name} ({where})",
            }
        )


@dataclass(frozen=True, slots=True)
class Looker:
    """Who an entry's principal is, as a person reading their log is told: a published name and an agency's title."""

    display_name: str
    agency_name: str | None


class AccessLogPublic(BaseModel):
    entries: list[AccessEntryPublic]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page; null at the end")
