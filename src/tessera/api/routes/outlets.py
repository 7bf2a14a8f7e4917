"""Outlets and approved product lists over HTTP: the programme agency's officers register and authorise shops.

An outlet is a business, not a person: reading one needs no purpose and lands in no
person's access log; every registration, authorisation, revocation and import is kept
with who made it and why instead (``tessera.programs``). Officers and admins register and
read outlets, authorise them for programmes, revoke, and import product lists (an
officer only for a programme whose basis names its agency, when it names any); a
merchant reads the outlets it operates and their authorisations; anyone reads a
programme's products, the list a shop's till checks against.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    ApprovedProductPublic,
    AuthorisationCreate,
    AuthorisationPublic,
    AuthorisationsPublic,
    OutletCreate,
    OutletPublic,
    OutletsPublic,
    ProductListPublic,
    ProductListsPublic,
    ProductsPublic,
    RevocationCreate,
)
from tessera.auth import Action, Role
from tessera.errors import NotFoundError
from tessera.programs import OUTLETS_LIST_MAX, PRODUCTS_PAGE_MAX, Outlet
from tessera.service import Caller, Services

router = APIRouter(tags=["programmes"])
OutletIdPath = Annotated[str, Path(pattern=r"^o_[0-9a-f]{16}$")]
ProgrammeIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
CSV_BODY = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}


def _outlet(services: Services, caller: Caller, outlet_id: str) -> Outlet:
    """The outlet, if the caller may see it: a merchant only its own, which reads as "not there" otherwise."""
    outlet = services.outlets.get(outlet_id)
    if caller.principal.role is Role.merchant and not services.outlets.operates(caller.principal, outlet):
        raise NotFoundError("outlet", f"no outlet {outlet_id!r} is registered")
    return outlet


@router.post("/v1/outlets", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.outlets_create))
def register_outlet(body: OutletCreate, caller: CallerDep, services: ServicesDep) -> OutletPublic:
    """Register an outlet: its operator, MCC category, location code and the tills it is paid into."""
    made = services.outlets.register(
        caller.principal.id,
        name=body.name,
        operator=body.operator,
        category=body.category,
        location=body.location,
        accounts=body.accounts,
    )
    return OutletPublic.of(made)


@router.get("/v1/outlets", openapi_extra=declare(Action.outlets_read))
def list_outlets(
    caller: CallerDep,
    services: ServicesDep,
    *,
    operator: Annotated[str | None, Query(max_length=80)] = None,
    location: Annotated[str | None, Query(max_length=16, description="a location code or its start: KE-047")] = None,
    after: Annotated[str | None, Query(max_length=18, description="the last outlet id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=OUTLETS_LIST_MAX)] = 100,
) -> OutletsPublic:
    """Outlets by id, of an operator or in an area; a merchant gets the ones it operates."""
    if caller.principal.role is Role.merchant:
        found = services.outlets.operated_by(caller.principal)
    else:
        found = services.outlets.find(operator=operator, location=location, after=after, limit=limit)
    return OutletsPublic(outlets=[OutletPublic.of(o) for o in found])


@router.get("/v1/outlets/{outlet_id}", openapi_extra=declare(Action.outlets_read))
def get_outlet(outlet_id: OutletIdPath, caller: CallerDep, services: ServicesDep) -> OutletPublic:
    """One outlet (a merchant: only one it operates)."""
    return OutletPublic.of(_outlet(services, caller, outlet_id))


@router.get("/v1/outlets/{outlet_id}/authorisations", openapi_extra=declare(Action.outlets_read))
def list_authorisations(outlet_id: OutletIdPath, caller: CallerDep, services: ServicesDep) -> AuthorisationsPublic:
    """Every authorisation of the outlet, revoked ones included with who revoked them, when and why."""
    outlet = _outlet(services, caller, outlet_id)
    found = services.outlets.authorisations(outlet.id)
    return AuthorisationsPublic(authorisations=[AuthorisationPublic.of(a) for a in found])


@router.post(
    "/v1/outlets/{outlet_id}/authorisations",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=declare(Action.outlets_authorise),
)
def authorise_outlet(
    outlet_id: OutletIdPath, body: AuthorisationCreate, caller: CallerDep, services: ServicesDep
) -> AuthorisationPublic:
    """Authorise the outlet for a programme spent at its category, with a reason; 409 while one stands."""
    return AuthorisationPublic.of(services.outlets.authorise(outlet_id, body.programme, caller.principal, body.reason))


@router.post(
    "/v1/outlets/{outlet_id}/authorisations/{programme_id}/revoke", openapi_extra=declare(Action.outlets_authorise)
)
def revoke_outlet(
    outlet_id: OutletIdPath,
    programme_id: ProgrammeIdPath,
    body: RevocationCreate,
    caller: CallerDep,
    services: ServicesDep,
) -> AuthorisationPublic:
    """End the outlet's standing authorisation for the programme, with a reason; 404 when none stands."""
    return AuthorisationPublic.of(services.outlets.revoke(outlet_id, programme_id, caller.principal, body.reason))


@router.put(
    "/v1/programs/{programme_id}/products",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={**declare(Action.products_import), "requestBody": CSV_BODY},
)
async def import_products(
    programme_id: ProgrammeIdPath, request: Request, caller: CallerDep, services: ServicesDep
) -> ProductListPublic:
    """Replace the programme's approved product list with a CSV file, as its next version: whole, or not at all."""
    data = await request.body()
    made = await run_in_threadpool(services.product_lists.import_list, programme_id, data, caller.principal)
    return ProductListPublic.of(made)


def _products(services: Services, programme_id: str, version: int | None, after: str, limit: int) -> ProductsPublic:
    found = services.product_lists.version(programme_id, version)
    page = services.product_lists.products(programme_id, version, after=after, limit=limit)
    return ProductsPublic(
        programme_id=programme_id,
        version=None if found is None else ProductListPublic.of(found),
        products=[ApprovedProductPublic.of(p) for p in page],
    )


AfterCode = Annotated[str, Query(max_length=32, description="the last product code seen")]
ProductsLimit = Annotated[int, Query(ge=1, le=PRODUCTS_PAGE_MAX)]


@router.get("/v1/programs/{programme_id}/products", openapi_extra=declare(Action.products_read))
def get_products(
    programme_id: ProgrammeIdPath,
    caller: CallerDep,
    services: ServicesDep,
    after: AfterCode = "",
    limit: ProductsLimit = PRODUCTS_PAGE_MAX,
) -> ProductsPublic:
    """The list in force, a page of its products by code (before any import: the definition's products)."""
    return _products(services, programme_id, None, after, limit)


@router.get("/v1/programs/{programme_id}/products/versions", openapi_extra=declare(Action.products_read))
def list_product_lists(programme_id: ProgrammeIdPath, caller: CallerDep, services: ServicesDep) -> ProductListsPublic:
    """Every imported version of the programme's list, newest first: who imported it, when, its digest."""
    found = services.product_lists.versions(programme_id)
    return ProductListsPublic(versions=[ProductListPublic.of(v) for v in found])


@router.get("/v1/programs/{programme_id}/products/versions/{version}", openapi_extra=declare(Action.products_read))
def get_product_list(
    programme_id: ProgrammeIdPath,
    version: VersionPath,
    caller: CallerDep,
    services: ServicesDep,
    *,
    after: AfterCode = "",
    limit: ProductsLimit = PRODUCTS_PAGE_MAX,
) -> ProductsPublic:
    """One version of the list, as it was imported, and a page of its products."""
    return _products(services, programme_id, version, after, limit)
