"""Outlets, their authorisations for programmes, and programmes' approved product lists."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, Strict

from tessera.api.schemas.common import FromRecord, Id, Rfc3339, Rfc3339OrNone, SortedInts, StrictModel, beside
from tessera.programs import AUTHORISATION_REASON_MAX, OUTLET_ACCOUNTS_MAX, OUTLET_NAME_MAX, PROGRAMME_ID_MAX

ProgrammeIdText = Annotated[str, Field(min_length=1, max_length=PROGRAMME_ID_MAX)]
AuthorisationReason = Annotated[str, Field(min_length=1, max_length=AUTHORISATION_REASON_MAX)]


class OutletCreate(StrictModel):
    name: str = Field(min_length=1, max_length=OUTLET_NAME_MAX)
    operator: str = Field(
        min_length=1, max_length=80, description="a merchant principal's id (p_...), or an organisation (org:...)"
    )
    category: Annotated[int, Strict()] = Field(description="ISO 18245 merchant category code (MCC)")
    location: str = Field(min_length=1, max_length=16, description="CC-AAA-LLLL, like KE-047-0012")
    accounts: list[Id] = Field(
        default_factory=list,
        max_length=OUTLET_ACCOUNTS_MAX,
        description="merchant accounts of its category, held by its operator, at most one per ledger",
    )


class OutletPublic(FromRecord):
    id: str
    name: str
    operator: str
    category: int
    location: str
    accounts: SortedInts
    registered_by: str
    registered_at_ns: int
    registered_at: Rfc3339 = beside("registered_at_ns")


class OutletsPublic(BaseModel):
    outlets: list[OutletPublic]


class AuthorisationCreate(StrictModel):
    programme: ProgrammeIdText
    reason: AuthorisationReason


class RevocationCreate(StrictModel):
    reason: AuthorisationReason


class AuthorisationPublic(FromRecord):
    outlet_id: str
    programme_id: str
    seq: int = Field(description="the n-th authorisation of this outlet for this programme")
    live: bool
    basis: str = Field(description="the programme's legal basis when it was made")
    reason: str
    authorised_by: str
    authorised_at_ns: int
    authorised_at: Rfc3339 = beside("authorised_at_ns")
    revoked_by: str | None
    revoked_at_ns: int | None
    revoked_at: Rfc3339OrNone = beside("revoked_at_ns")
    revocation_reason: str | None


class AuthorisationsPublic(BaseModel):
    authorisations: list[AuthorisationPublic]


class ApprovedProductPublic(FromRecord):
    code: str
    description: str
    unit: str
    commodity: str | None = Field(description="the quota one item draws on; null: paid in cash")
    quantity: int = Field(description="of the commodity's ledger's minor units per item; 0 for cash")


class ProductListPublic(FromRecord):
    programme_id: str
    version: int
    digest: str = Field(description="SHA-256 of the CSV file as imported")
    products: int
    imported_by: str
    imported_at_ns: int
    imported_at: Rfc3339 = beside("imported_at_ns")


class ProductsPublic(BaseModel):
    """A page of a version's products, by code; ``version`` is null before any import (the definition's products)."""

    programme_id: str
    version: ProductListPublic | None
    products: list[ApprovedProductPublic]


class ProductListsPublic(BaseModel):
    versions: list[ProductListPublic]
