"""FastAPI dependencies, as ``Annotated`` aliases routes declare in their signatures.

``CallerDep`` authenticates the request, looks up the action the route declared (its
``x-tessera-action``), authorises it against the policy table and applies the rate
limits. A route that touches anyone's data takes a ``CallerDep``; only public routes don't.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tessera.api.probes import ProbeLog
from tessera.api.schemas import Rfc3339In
from tessera.auth import Action, authorize
from tessera.limits import ID_LIMIT
from tessera.service import PURPOSE_BYTES_MAX, Caller, Services, checked_purpose

ACTION_KEY = "x-tessera-action"
_bearer = HTTPBearer(auto_error=False, description="An API key from `tessera keys create`: `Bearer tsk_...`")


def declare(action: Action) -> dict[str, Any]:
    """The ``openapi_extra`` a route passes to say which action it performs."""
    return {ACTION_KEY: action.value}


async def get_services(request: Request) -> Services:
    # async: a sync dependency costs a trip through the threadpool, and this one only reads an attribute
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_probes(request: Request) -> ProbeLog:
    probes: ProbeLog = request.app.state.probes
    return probes


ProbesDep = Annotated[ProbeLog, Depends(get_probes)]


def client_address(request: Request) -> str:
    """The caller's address, the key for per-client rate limits."""
    return request.client.host if request.client else "-"


def limit_ceremonies(request: Request, services: ServicesDep) -> None:
    """Count a new passkey ceremony or authorization request against the client's allowance (429 past it)."""
    services.limiter.take("ceremony", client_address(request))


CeremonyLimit = Depends(limit_ceremonies)


async def get_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_tessera_purpose: Annotated[
        str | None,
        Header(
            description="Why an officer reads someone else's data, in UTF-8; shown to that person.",
            max_length=PURPOSE_BYTES_MAX,  # the latin-1 reading of the bytes: checked_purpose decodes them
        ),
    ] = None,
) -> Caller:
    route = request.scope["route"]
    action = Action((route.openapi_extra or {})[ACTION_KEY])
    token = credentials.credentials if credentials else None
    # A key checked within caller_cache_s is answered here; anything else reads the store, off the event loop.
    principal = services.cached_caller(token) if token else None
    if principal is None:
        principal = await run_in_threadpool(services.authenticate, token, client_address(request))
    grant = authorize(principal, action)
    if request.method == "GET":
        services.limiter.take("lookup", principal.id)
    return Caller(principal, grant, checked_purpose(x_tessera_purpose))


CallerDep = Annotated[Caller, Depends(get_caller)]


def after_time(
    after: Annotated[
        Rfc3339In | None,
        Query(description="RFC 3339: only what came after this time; pass the last item's time to page on"),
    ] = None,
    after_ns: Annotated[int | None, Query(ge=0, lt=ID_LIMIT, description="the same in nanoseconds since 1970")] = None,
) -> int | None:
    """A queue's cursor, as RFC 3339 (``after``) or nanoseconds (``after_ns``), never both; None: from the start."""
    if after is not None and after_ns is not None:
        msg = "give after (RFC 3339) or after_ns (nanoseconds), not both"
        raise RequestValidationError([{"type": "value_error", "loc": ("query", "after"), "msg": msg, "input": after}])
    return after if after is not None else after_ns


AfterNs = Annotated[int | None, Depends(after_time)]
