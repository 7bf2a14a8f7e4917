"""What a person reads about themselves: their record, their virtual ids, who looked at their data."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tessera.api.schemas.common import vars_of
from tessera.api.schemas.identity import PersonPublic, VirtualIdPublic
from tessera.audit import AccessEntry


class MyIdentityPublic(BaseModel):
    person: PersonPublic
    virtual_ids: list[VirtualIdPublic]


class AccessEntryPublic(BaseModel):
    """One look at the caller's data: who, in what role and agency, why, and what they saw."""

    index: int
    time_ns: int
    principal: str
    role: str
    agency: str
    purpose: str
    fields: list[str]
    outcome: str

    @classmethod
    def of(cls, index: int, e: AccessEntry) -> AccessEntryPublic:
        return cls.model_validate({**vars_of(e), "index": index})


class AccessLogPublic(BaseModel):
    entries: list[AccessEntryPublic]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page; null at the end")
