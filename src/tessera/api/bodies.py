"""What the API accepts as a request body: its size, counted while it streams, and its depth.

``BodyLimit`` wraps the whole app. A declared ``Content-Length`` over the route's limit is
refused before anything is read; a body without one (``Transfer-Encoding: chunked``) is
counted as the app pulls it, and the first chunk past the limit ends the request: the
413 goes out at once and the app hears the client leave, so nothing more is read. Each
path may carry its own limit (the ledger's transfers route has one); every other route
gets ``BODY_BYTES_MAX``.

``parse_json`` is for routes that read a JSON body themselves. Python's parser recurses,
so a body nested a thousand deep is a ``RecursionError`` (a 500) rather than bad input; it
is refused first, with the depth named, past ``JSON_DEPTH_MAX``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.api.errors import problem
from tessera.errors import BodySizeError, InvalidInputError

BODY_BYTES_MAX = 4 * 1024 * 1024  # an enrolment batch with templates, or a batch of accounts, fits with room
JSON_DEPTH_MAX = 32  # the deepest request schema nests 5 levels; a WebAuthn answer 4

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


class BodyLimit:
    """ASGI middleware: a body over its path's limit, declared or streamed, is answered 413 unread."""

    def __init__(
        self, app: ASGIApp, limit: int = BODY_BYTES_MAX, limits_by_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.limits_by_path = dict(limits_by_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.limits_by_path.get(path, self.limit)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await _refuse(scope, receive, send, 400, "Content-Length: must be a number of bytes")
                    return
                if int(value) > limit:
                    await _refuse(scope, receive, send, 413, f"body: at most {limit} bytes")
                    return
                break
        # Counted even when the length was declared: the server keeps to it, but nothing here relies on that.
        received = 0
        started = over = answered = False

        async def counted_receive() -> Message:
            nonlocal received, over, answered
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    if not started:
                        await _refuse(scope, receive, send, 413, f"body: at most {limit} bytes")
                        answered = True
                    # As if the client left: the app stops reading, and an answer of its own goes nowhere.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not answered:
                raise
            # The 413 is out; what the app raised on hearing the client leave is no fault.


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    too_large = status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = BodySizeError.code if too_large else InvalidInputError.code
    field = "body" if too_large else "Content-Length"
    # The rest of the body stays unread, so the connection cannot carry another request.
    response = problem(status, code, detail, scope["path"], field=field, headers={"Connection": "close"})
    await response(scope, receive, send)


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text; linear, with no recursion.

    Brackets inside strings do not count: escapes go first, then every other stretch
    between quotes is a string. Malformed text gets a number too; the parser refuses it.
    """
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    brackets = b"".join(body.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    # "[" and "{" have bit 1 set, "]" and "}" do not: +1 for an opener, -1 for a closer.
    steps = (np.frombuffer(brackets, np.uint8) & 2).astype(np.int64) - 1
    return int(np.cumsum(steps).max())


def parse_json(body: bytes, field: str = "body") -> Any:
    """The JSON value of a body a route reads itself; 400 naming ``field`` when malformed or too deep."""
    depth = json_depth(body)
    if depth > JSON_DEPTH_MAX:
        raise InvalidInputError(field, f"nests {depth} levels deep; at most {JSON_DEPTH_MAX}")
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidInputError(field, "is not JSON") from None
