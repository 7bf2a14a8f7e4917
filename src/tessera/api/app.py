"""The FastAPI application: ``create_app(settings)`` wires routes, errors and the open services."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tessera import __version__
from tessera.api import errors
from tessera.api.bodies import BODY_BYTES_MAX, BodyLimit
from tessera.api.fast_check import CheckFastPath
from tessera.api.fast_redeem import RedemptionFastPath
from tessera.api.offload import Offload
from tessera.api.probes import ProbeLog
from tessera.api.routes import (
    audit,
    credentials,
    declarations,
    grievances,
    households,
    identity,
    ledger,
    me,
    money,
    oidc,
    outlets,
    payments,
    policy,
    programs,
    reconciliation,
    redemptions,
    sanctions,
    system,
)
from tessera.api.schemas import TransfersCreate
from tessera.service import Services, Settings

DESCRIPTION = """Tessera's HTTP API. Authenticate with `Authorization: Bearer tsk_...` (an API key
from `tessera keys create`). Errors are RFC 9457 `application/problem+json` with a stable
`code`. Every route's `x-tessera-action` names its row in the policy table (docs/api.md)."""


def create_app(settings: Settings, *, freeze_startup: bool = False) -> FastAPI:
    """The app; the ledger, store and access log open at startup and close at shutdown.

    ``freeze_startup`` (``tessera serve``): what start-up made is moved out of the cyclic collector's
    sight once the services are open. Not for a process that opens many apps (tests): their later
    cyclic garbage would never be collected.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services(settings)
        app.state.offload = Offload()
        # What start-up made lives as long as the server: out of the cyclic collector's sight, so that a
        # full collection walks only what requests make (a pause in some request's answer, otherwise).
        if freeze_startup:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            app.state.offload.close()  # first: calls still running may need the services
            app.state.services.close()

    app = FastAPI(title="Tessera", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.probes = ProbeLog()  # holds nothing open: made with the app, not at startup
    errors.install(app)
    for module in (
        # First: a till's requests are the hot path, and routes are matched in order, one regex each;
        # its paths are its own (no other route's pattern matches them), so nothing else changes.
        redemptions,
        system,
        ledger,
        money,
        me,
        payments,
        audit,
        identity,
        households,
        credentials,
        oidc,
        policy,
        sanctions,
        declarations,
        grievances,  # before programs: /v1/programs/grievances is no programme's id
        outlets,
        programs,
        reconciliation,
    ):
        app.include_router(module.router)
    app.add_middleware(CheckFastPath, state=app.state)
    app.add_middleware(RedemptionFastPath, state=app.state)  # a till's and its approval's plain requests
    # Added last, so the outermost: every request meets the limit first, the fast path's included.
    app.add_middleware(BodyLimit, limit=BODY_BYTES_MAX, limits_by_path={"/v1/ledger/transfers": ledger.BODY_BYTES_MAX})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            # The transfers route reads its body itself (JSON or packed), so its model is added by hand.
            model = TransfersCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(model.pop("$defs", {}))
            components["TransfersCreate"] = model
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
