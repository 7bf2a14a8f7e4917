"""Every error leaves as RFC 9457 ``application/problem+json`` with a stable ``code``.

Bad input is a 4xx naming the field; nothing else in the response says how the code is
built (no stack trace, no exception class), and an unexpected fault is a bare 500.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from tessera import errors

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("tessera.api")

# The most specific class wins: the table is searched along each error's MRO.
STATUS_BY_CLASS: dict[type[errors.TesseraError], int] = {
    errors.InvalidInputError: 400,
    errors.BatchSizeError: 422,  # a well-formed body whose list is too long (RFC 9110 15.5.21)
    errors.BodySizeError: 413,  # the bytes alone are too many (RFC 9110 15.5.14)
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.PaymentRefusedError: 422,  # well-formed, understood, and refused by the ledger (RFC 9110 15.5.21)
    errors.RedemptionRefusedError: 422,  # understood, and refused for a reason the shopkeeper reads out
    errors.UnauthenticatedError: 401,
    errors.ForbiddenError: 403,
    errors.PurposeRequiredError: 403,
    errors.RateLimitedError: 429,
    errors.CredentialLockedError: 423,  # RFC 4918's Locked: waiting, or an officer's reset, opens it
    errors.StoreError: 503,
    errors.StoreClosedError: 503,
    errors.LogLockedError: 503,
    errors.GalleryLockedError: 503,
    errors.LedgerClosedError: 503,
    errors.LedgerFailedError: 503,
    errors.LedgerLockedError: 503,
    errors.CorruptionError: 500,
    errors.TesseraError: 500,
}
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def status_of(error: errors.TesseraError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_CLASS:
            return STATUS_BY_CLASS[cls]
    return 500


def problem(
    status: int,
    code: str,
    detail: str,
    request: Request | str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """The problem+json response; ``request`` gives the ``instance`` (or is its path); RFC 9457 extension members."""
    body: dict[str, Any] = {
        "type": f"urn:tessera:error:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request if isinstance(request, str) else request.url.path,
    }
    if field is not None:
        body["field"] = field
    body.update(extensions or {})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    """Pydantic's ``("body", "transfers", 3, "amount")`` as ``body.transfers[3].amount``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


async def _tessera_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.TesseraError)
    return error_response(exc, request.method, request.url.path)


def error_response(exc: errors.TesseraError, method: str, path: str) -> JSONResponse:
    """A Tessera error as problem+json, with Retry-After or WWW-Authenticate where it calls for one."""
    status = status_of(exc)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        log.error("request %s %s failed: %s [%s]", method, path, exc, exc.code)
    headers = {}
    if isinstance(exc, errors.RateLimitedError | errors.CredentialLockedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, errors.UnauthenticatedError):
        headers["WWW-Authenticate"] = 'Bearer realm="tessera"'
    # A 503 names what is closed or locked, which the caller may know; other faults' texts stay in the log.
    shown = status < HTTPStatus.INTERNAL_SERVER_ERROR or status == HTTPStatus.SERVICE_UNAVAILABLE
    detail = str(exc) if shown else "the server could not complete the request"
    extensions = None
    if isinstance(exc, errors.RedemptionRefusedError):
        extensions = {"reason": exc.reason, "words": exc.words, "params": exc.params}
    return problem(
        status, exc.code, detail, path, field=getattr(exc, "field", None), headers=headers, extensions=extensions
    )


async def answered(work: Callable[[], Awaitable[Response]], method: str, path: str) -> Response:
    """What an ASGI fast path sends: ``work``'s response, or a fault answered as the routes' handlers would."""
    try:
        return await work()
    except errors.TesseraError as exc:
        return error_response(exc, method, path)
    except Exception:
        log.exception("unexpected fault in %s %s", method, path)
        return problem(500, "internal", "the server could not complete the request", path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    field = _location(tuple(first.get("loc", ())))
    detail = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg", "invalid request"))
    more = len(exc.errors()) - 1
    if more > 0:
        detail += f" (and {more} more)"
    return problem(422, errors.InvalidInputError.code, detail, request, field=field or None)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
    return problem(exc.status_code, code, str(exc.detail), request, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected fault in %s %s", request.method, request.url.path)
    return problem(500, "internal", "the server could not complete the request", request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.TesseraError, _tessera_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
