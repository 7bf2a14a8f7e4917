"""The service's own state: health and principals."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tessera.api.schemas.common import FromRecord


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    accounts: int
    transfers: int
    access_log_size: int


class PrincipalPublic(FromRecord):
    id: str
    name: str
    role: str
    agency: str
    organisation: str = Field("", description="org:<id> a merchant acts for; empty for none")
    display_name: str = Field(
        "", description="what people whose data it reads are shown; empty: a pseudonym made from the id"
    )


class PrincipalsPublic(BaseModel):
    principals: list[PrincipalPublic]
