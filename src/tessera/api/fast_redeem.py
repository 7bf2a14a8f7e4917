"""A till's redemption and the person's approval answered ahead of FastAPI's router (issue 19).

``POST /v1/outlets/{outlet_id}/redemptions`` and ``POST /v1/me/redemptions/{id}/approve`` are
the hot path of a shop's day, and of one server process's CPU a redemption about a third was
FastAPI's: middleware and routing, resolving the dependencies, validating the answer again,
and three trips through Starlette's thread pool (authenticating, the route, the answer's
validation). A *plain* request is answered by this ASGI layer instead, with the same checks
in the same order (authenticate, authorise, then the very function the route calls,
``redeem_at_till`` or ``approve_mine``) and the same JSON, on the app's ``Offload`` pool in one
trip. Plain: a well-formed id in the path, no query string, ``Authorization: Bearer`` with a
token, a stated purpose (if any) that ``checked_purpose`` takes; for the till also an
``Idempotency-Key`` of the route's length and a JSON body that ``RedemptionCreate`` validates;
for the approval no body. Anything else goes on to the route, untouched (the body it read is
handed on as it came), which answers it or names the error; nothing here has a side effect
before that choice is made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.datastructures import State
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.api.errors import answered
from tessera.api.offload import Offload
from tessera.api.routes.redemptions import approve_mine, redeem_at_till
from tessera.api.schemas.redemptions import RedemptionCreate, RedemptionPublic
from tessera.auth import Action, Principal, authorize
from tessera.errors import TesseraError
from tessera.limits import IDEMPOTENCY_KEY_MAX
from tessera.service import PURPOSE_BYTES_MAX, Caller, Services, checked_purpose

_TILL = re.compile(r"/v1/outlets/(o_[0-9a-f]{16})/redemptions")
_APPROVE = re.compile(r"/v1/me/redemptions/(r_[0-9a-f]{16})/approve")
_JSON = re.compile(r"application/json\s*(;.*)?", re.IGNORECASE)

# Given the caller, what the request answers.
Work = Callable[[Services, Caller], RedemptionPublic]


class RedemptionFastPath:
    """ASGI middleware: plain redemption and approval requests answered here, every other request passed on."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self._state = state  # the app's: the services open there at startup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        till = _TILL.fullmatch(path)
        approve = None if till else _APPROVE.fullmatch(path)
        if till is None and approve is None:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        messages, body = await _read(receive)
        plain = _plain(headers, body, till, approve)
        if plain is None:  # the route answers, reading the body as it came
            await self.app(scope, _replay(messages, receive), send)
            return
        services: Services = self._state.services
        offload: Offload = self._state.offload
        client = scope["client"][0] if scope.get("client") else "-"

        async def work() -> Response:
            answer = await offload.run(_serve, services, plain, services.cached_caller(plain.token), client)
            return Response(answer, plain.status, media_type="application/json")

        response = await answered(work, "POST", path)
        await response(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Plain:
    """A request this layer answers: the caller's token and stated purpose, the action, the work, the status."""

    token: str
    purpose: str
    action: Action
    work: Work
    status: int


def _serve(services: Services, plain: Plain, cached: Principal | None, client: str) -> str:
    """On a pool thread: the caller as ``get_caller`` finds it (a key not checked lately, checked now), the work."""
    with services.store.reading():  # a key checked now and the work's first reads: one transaction
        principal = cached if cached is not None else services.authenticate(plain.token, client)
        caller = Caller(principal, authorize(principal, plain.action), plain.purpose)
        return plain.work(services, caller).model_dump_json(by_alias=True)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """Each header's first value, as FastAPI's ``Header`` parameters read them."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name, value)
    return found


def _plain(
    headers: dict[bytes, bytes], body: bytes | None, till: re.Match[str] | None, approve: re.Match[str] | None
) -> Plain | None:
    """Token, purpose, action, work and status of a request this layer may answer; None to leave it to the route."""
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token or token != token.strip():
        return None
    stated = headers.get(b"x-tessera-purpose")
    if stated is not None and len(stated) > PURPOSE_BYTES_MAX:
        return None
    try:
        purpose = checked_purpose(stated)
    except TesseraError:
        return None
    if approve is not None:
        if body != b"":
            return None
        redemption_id = approve.group(1)
        return Plain(token, purpose, Action.me_redemptions_approve, lambda s, c: approve_mine(s, c, redemption_id), 200)
    assert till is not None
    key = headers.get(b"idempotency-key", b"").decode("latin-1")
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or body is None:
        return None
    if not _JSON.fullmatch(headers.get(b"content-type", b"").decode("latin-1")):
        return None
    try:
        order = RedemptionCreate.model_validate(json.loads(body))  # as FastAPI reads a JSON body
    except (ValueError, ValidationError):  # json's errors are ValueErrors; the route names what is wrong
        return None
    outlet_id = till.group(1)
    return Plain(
        token, purpose, Action.redemptions_create, lambda s, c: redeem_at_till(s, c, outlet_id, order, key), 201
    )


async def _read(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages as they came, and its whole body (None if the client left before it ended)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` for the route: the messages already read, in order, then the client's own."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
