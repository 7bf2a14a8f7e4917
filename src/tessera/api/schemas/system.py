"""The service's own state: health and principals."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tessera.auth import Principal


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    accounts: int
    transfers: int
    access_log_size: int


class PrincipalPublic(BaseModel):
    id: str
    name: str
    role: str
    agency: str
    organisation: str = Field("", description="org:<id> a merchant acts for; empty for none")

    @classmethod
    def of(cls, p: Principal) -> PrincipalPublic:
        return cls(id=p.id, name=p.name, role=p.role.value, agency=p.agency, organisation=p.organisation)


class PrincipalsPublic(BaseModel):
    principals: list[PrincipalPublic]
