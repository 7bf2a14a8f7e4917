"""The body limit holds while the body streams: chunked uploads stop at the limit, on every route."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Message

from tessera.api.bodies import BODY_BYTES_MAX, JSON_DEPTH_MAX, json_depth, parse_json
from tessera.api.routes.ledger import BODY_BYTES_MAX as TRANSFERS_BYTES_MAX
from tessera.errors import InvalidInputError
from tests.api.world import World, live_server

CHUNK = 64 * 1024


JSON = [(b"content-type", b"application/json")]
FORM = [(b"content-type", b"application/x-www-form-urlencoded")]
FIELD = b"a=" + b"x" * (CHUNK - 3) + b"&"  # a form's parser takes no field over 1 MiB: many small ones


@pytest.fixture
def app(world: World) -> FastAPI:
    """The app with its services open (the lifespan ran), to be driven directly."""
    return world.client.app  # type: ignore[return-value]


def as_(world: World, name: str) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in world.as_(name).items()]


def drive(
    app: FastAPI,
    method: str,
    path: str,
    chunks: int,
    headers: list[tuple[bytes, bytes]],
    *,
    chunk: bytes = b"x" * CHUNK,
) -> tuple[int, int]:
    """Send ``chunks`` of CHUNK bytes as one chunked body; the status and how many chunks the app pulled."""
    assert len(chunk) == CHUNK
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        if pulled == chunks:
            await asyncio.sleep(3600)  # the client has nothing more to say; only a disconnect would come
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"transfer-encoding", b"chunked"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=60))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if starts[0]["status"] == 413:
        problem = json.loads(body)
        assert problem["code"] == "body_size" and problem["field"] == "body", problem
        assert (b"content-type", b"application/problem+json") in starts[0]["headers"]
    return int(starts[0]["status"]), pulled


class TestChunkedBodies:
    @pytest.mark.parametrize(
        ("method", "path", "headers"),
        [
            ("POST", "/v1/sessions", JSON),  # unauthenticated, a JSON model
            ("POST", "/oidc/authorize/abc", JSON),  # unauthenticated, reads its body itself
            ("POST", "/oidc/authorize/abc", FORM),
            ("POST", "/oidc/token", FORM),
            ("POST", "/v1/ledger/accounts", JSON),  # unauthenticated: the body is read before the key is checked
        ],
    )
    def test_chunked_body_over_the_limit__413_and_no_more_read(
        self, app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """A 200 MiB chunked body is cut off at the limit: 413, and the app pulled one chunk past it."""
        chunk = FIELD if headers is FORM else b"x" * CHUNK
        status, pulled = drive(app, method, path, chunks=200 * 1024 * 1024 // CHUNK, headers=headers, chunk=chunk)
        assert (status, pulled) == (413, BODY_BYTES_MAX // CHUNK + 1)

    def test_a_route_that_never_reads_its_body_answers_as_usual(self, app: FastAPI) -> None:
        """A route that ignores its body answers at once, pulling at most one chunk of a 200 MiB upload."""
        status, pulled = drive(app, "GET", "/healthz", chunks=200 * 1024 * 1024 // CHUNK, headers=[])
        assert status == 200 and pulled <= 1

    def test_transfers_route_has_its_own_limit(self, world: World, app: FastAPI) -> None:
        """The ledger's transfers route stops at its own limit, not the app's."""
        assert TRANSFERS_BYTES_MAX < BODY_BYTES_MAX
        headers = [*as_(world, "alice"), (b"content-type", b"application/octet-stream")]
        status, pulled = drive(app, "POST", "/v1/ledger/transfers", chunks=BODY_BYTES_MAX // CHUNK, headers=headers)
        assert (status, pulled) == (413, TRANSFERS_BYTES_MAX // CHUNK + 1)

    def test_chunked_body_within_the_limit_is_read_whole(self, app: FastAPI) -> None:
        """Just under the limit the route sees the whole body (and refuses it for what it is, not its size)."""
        status, pulled = drive(app, "POST", "/v1/sessions", chunks=BODY_BYTES_MAX // CHUNK, headers=JSON)
        assert pulled == BODY_BYTES_MAX // CHUNK and status == 422


class TestDeclaredLength:
    def test_declared_length_over_the_limit__413_before_reading(self, app: FastAPI) -> None:
        """A Content-Length over the limit is answered without pulling a byte."""
        length = str(BODY_BYTES_MAX + 1).encode()
        status, pulled = drive(app, "POST", "/v1/sessions", chunks=10, headers=[*JSON, (b"content-length", length)])
        assert (status, pulled) == (413, 0)

    def test_declared_length_over_the_transfers_limit(self, world: World) -> None:
        """A declared length one byte over the transfers limit is 413 body_size before anything is read."""
        response = world.client.post(
            "/v1/ledger/transfers",
            content=b"x" * (TRANSFERS_BYTES_MAX + 1),
            headers={**world.as_("alice"), "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 413 and response.json()["code"] == "body_size"

    def test_the_check_fast_path_sits_inside_the_limit(self, world: World) -> None:
        """GET /v1/check, answered ahead of the router, still meets the body limit first."""
        response = world.client.request(
            "GET",
            "/v1/check?subject=123456789012&domain=payments",
            content=b"x" * (BODY_BYTES_MAX + 1),
            headers=world.as_("bank", purpose="a payment"),
        )
        assert response.status_code == 413 and response.json()["code"] == "body_size"


def test_chunked_upload_to_a_real_server__413_and_the_connection_closes(tmp_path: Path) -> None:
    """Over a socket to uvicorn: the 413 comes back mid-upload, and the server closes the connection."""
    with live_server(tmp_path) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(
                b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
            sent = 0
            try:
                while sent < 200 * 1024 * 1024:
                    conn.sendall(chunk)
                    sent += CHUNK
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server stopped reading and closed: what it answered is still there to read
            reply = b""
            try:
                while data := conn.recv(65536):
                    reply += data
            except ConnectionResetError:
                pass
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert sent < 200 * 1024 * 1024  # it never took the whole upload
        assert b'"code":"body_size"' in reply


class TestJsonDepth:
    def test_nested_a_thousand_deep__400_naming_the_depth(self) -> None:
        """JSON nested a thousand deep is refused on the body, naming the depth limit, before it is parsed."""
        with pytest.raises(InvalidInputError, match=f"at most {JSON_DEPTH_MAX}") as caught:
            parse_json(b'{"credential": ' + b"[" * 1000 + b"]" * 1000 + b"}")
        assert caught.value.field == "body"

    def test_brackets_inside_strings_do_not_count(self) -> None:
        """Brackets inside strings (escaped quotes too) do not count toward the depth, so such JSON parses."""
        text = json.dumps({"a": "[[[{{{" * 100 + '\\"[[', "b": ["]]]" * 50]}).encode()
        assert json_depth(text) == 2 and parse_json(text)["b"] == ["]]]" * 50]

    def test_not_json__400(self) -> None:
        """A body that is not JSON is invalid input saying so, not a parser's traceback."""
        with pytest.raises(InvalidInputError, match="not JSON"):
            parse_json(b"{nope")

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u00e9\n'),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k'), inner, max_size=3)
            ),
            max_leaves=30,
        )
    )
    def test_depth_matches_the_structure(self, value: object) -> None:
        """The byte scan agrees with the depth of the value the text encodes, whatever its strings hold."""
        assert json_depth(json.dumps(value).encode()) == _depth(value)
        assert json_depth(json.dumps(value, ensure_ascii=False).encode()) == _depth(value)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0
