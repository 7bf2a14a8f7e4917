"""OpenID Connect over HTTP: discovery, JWKS, the consent page, token and userinfo; relying-party registration.

The protocol's endpoints carry no ``x-tessera-action``: OAuth's own client authentication
and bearer tokens guard them. They speak the protocol's error dialect where the protocol
fixes one: the token endpoint answers ``{"error", "error_description"}`` (RFC 6749 §5.2),
userinfo sets ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 §3.1). The
authorization endpoint redirects refusals back to the relying party once its redirect URI
is known to be registered, and shows anything else to the person: an HTML page when the
browser asks for ``text/html``, problem+json otherwise.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import secrets
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from tessera.api.bodies import parse_json
from tessera.api.deps import CallerDep, ServicesDep, client_address, declare
from tessera.api.errors import problem, status_of
from tessera.api.schemas import AuthorizationPagePublic, ConsentCreate, OidcClientCreate, OidcClientPublic, TokenPublic
from tessera.auth import Action
from tessera.errors import (
    InvalidGrantError,
    InvalidInputError,
    TesseraError,
    UnauthenticatedError,
)
from tessera.identity import CLAIMS, AuthorizationRequest, ClientCredentials, Redirect
from tessera.service import Services

router = APIRouter(tags=["oidc"])
log = logging.getLogger("tessera.api")
RequestId = Annotated[str, Path(max_length=64, description="from the authorization page")]
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

TOKEN_FORM = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "properties": {
                    "grant_type": {"type": "string", "enum": ["authorization_code"]},
                    "code": {"type": "string"},
                    "redirect_uri": {"type": "string"},
                    "code_verifier": {"type": "string"},
                    "client_id": {"type": "string", "description": "client_secret_post or a public client"},
                    "client_secret": {"type": "string", "description": "client_secret_post"},
                },
                "required": ["grant_type", "code", "redirect_uri", "code_verifier"],
            }
        }
    },
}
CONSENT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ConsentCreate"}},
        FORM: {"schema": {"$ref": "#/components/schemas/ConsentCreate"}, "description": "what the consent page posts"},
    },
}
OAUTH_ERROR = {"description": "an OAuth error", "content": {"application/json": {"schema": {"type": "object"}}}}


# --- discovery ---------------------------------------------------------------------------------------


@router.get("/.well-known/openid-configuration")
def discovery(services: ServicesDep) -> JSONResponse:
    """OpenID Provider Metadata: where the endpoints are and what they support. Public."""
    return JSONResponse(services.oidc.discovery(), headers={"Cache-Control": "public, max-age=3600"})


@router.get("/oidc/jwks")
def jwks(services: ServicesDep) -> JSONResponse:
    """The public keys ID tokens are signed with (RS256). Public."""
    return JSONResponse(services.oidc.jwks(), headers={"Cache-Control": "public, max-age=3600"})


# --- relying parties -----------------------------------------------------------------------------------


@router.post("/v1/oidc/clients", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.oidc_clients_create))
def create_client(body: OidcClientCreate, caller: CallerDep, services: ServicesDep) -> OidcClientPublic:
    """Register a relying party; a confidential one's ``client_secret`` is in this answer and nowhere else."""
    registration = services.oidc.clients.register(
        body.name,
        body.redirect_uris,
        claims=body.claims,
        public=body.public,
        sector_id=body.sector_id,
        created_by=caller.principal.id,
    )
    return OidcClientPublic.of(registration)


# --- the authorization endpoint and the consent page ---------------------------------------------------


@router.get(
    "/oidc/authorize",
    response_model=AuthorizationPagePublic,
    responses={
        200: {"content": {"text/html": {}}, "description": "the consent page, or its data as JSON"},
        303: {"description": "back to the relying party with an OAuth error"},
    },
)
def authorize(request: Request, services: ServicesDep) -> Response:
    """Check an authorization request; answer the consent page (``text/html``) or its data (JSON).

    Query parameters as OpenID Connect Core §3.1.2.1 has them: ``response_type=code``,
    ``client_id``, ``redirect_uri`` (registered, exactly), ``scope`` (``openid`` and any of
    ``name age_over_18 resident``), ``state``, ``nonce``, ``code_challenge`` with
    ``code_challenge_method=S256`` (required), and ``acr_values`` (ask for
    ``urn:tessera:acr:passkey+pin`` to have the PIN asked too).
    """
    page = _wants_html(request)
    try:
        services.limiter.take("ceremony", client_address(request))
        outcome = services.oidc.begin_authorization(list(request.query_params.multi_items()))
    except TesseraError as exc:
        if page:
            return _error_page(exc)
        raise
    if isinstance(outcome, Redirect):
        return _redirect(outcome)
    if page:
        return _consent_page(outcome)
    data = AuthorizationPagePublic.of(outcome, CLAIMS)
    return JSONResponse(data.model_dump(mode="json"), headers=NO_STORE)


@router.post(
    "/oidc/authorize/{request_id}",
    status_code=status.HTTP_303_SEE_OTHER,
    openapi_extra={"requestBody": CONSENT_BODY},
    responses={303: {"description": "back to the relying party: ?code=...&state=... or ?error=access_denied"}},
)
async def answer_authorization(request_id: RequestId, request: Request, services: ServicesDep) -> Response:
    """The person's answer to the consent page: their passkey's assertion and the claims they consent to."""
    page = _wants_html(request)
    try:
        answer = await _consent_of(request)
        if answer.decision == "deny":
            outcome = await run_in_threadpool(services.oidc.refuse_authorization, request_id)
        else:
            if answer.credential is None:
                raise InvalidInputError("credential", "is required: the passkey's answer (or decision=deny)")
            outcome = await run_in_threadpool(
                services.oidc.finish_authorization, request_id, answer.credential, list(answer.claims), answer.pin
            )
    except TesseraError as exc:
        if page:
            return _error_page(exc)
        raise
    return _redirect(outcome)


async def _consent_of(request: Request) -> ConsentCreate:
    """The answer from a JSON body or from the consent page's form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: Any
    if content_type == "application/json":
        raw = parse_json(await request.body())
    elif content_type in (FORM, "multipart/form-data"):
        form = await request.form()
        values: dict[str, list[str]] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                raise InvalidInputError(name, "must be text, not a file")
            values.setdefault(name, []).append(value)
        raw = {name: found[0] for name, found in values.items() if name != "claims"}
        raw["claims"] = values.get("claims", [])
        if not raw.get("pin"):
            raw.pop("pin", None)  # the page sends an empty field when no PIN is asked for
    else:
        raise InvalidInputError("Content-Type", f"must be application/json or {FORM}")
    try:
        return ConsentCreate.model_validate(raw)
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None


# --- the token endpoint ------------------------------------------------------------------------------------


@router.post(
    "/oidc/token",
    response_model=TokenPublic,
    openapi_extra={"requestBody": TOKEN_FORM},
    responses={400: OAUTH_ERROR, 401: OAUTH_ERROR},
)
async def token(request: Request, services: ServicesDep) -> JSONResponse:
    """Trade an authorization code and its PKCE verifier for an access token and an ID token.

    The client authenticates with HTTP Basic (client_secret_basic), with ``client_id`` and
    ``client_secret`` in the form (client_secret_post), or, if public, with ``client_id`` alone.
    """
    try:
        form = await _token_form(request)
        client = _client_credentials(request, form)
        tokens = await run_in_threadpool(
            services.oidc.exchange_code,
            client,
            grant_type=form.get("grant_type"),
            code=form.get("code"),
            redirect_uri=form.get("redirect_uri"),
            code_verifier=form.get("code_verifier"),
        )
    except TesseraError as exc:
        return _oauth_error(exc)
    body = TokenPublic(
        access_token=tokens.access_token,
        token_type="Bearer",
        expires_in=tokens.expires_in,
        id_token=tokens.id_token,
        scope=tokens.scope,
    )
    return JSONResponse(body.model_dump(), headers=NO_STORE)


async def _token_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise InvalidInputError("Content-Type", f"must be {FORM} (RFC 6749 §4.1.3)")
    form = await request.form()
    found: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidInputError(name, "must be text")
        if name in found:
            raise InvalidInputError(name, "must be given once")
        found[name] = value
    return found


def _client_credentials(request: Request, form: Mapping[str, str]) -> ClientCredentials:
    """The client's id and secret from HTTP Basic or from the form; never both ways at once (RFC 6749 §2.3)."""
    header = request.headers.get("authorization")
    if header is None:
        return ClientCredentials(form.get("client_id"), form.get("client_secret"))
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise UnauthenticatedError("Authorization: the token endpoint takes HTTP Basic client credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthenticatedError("Authorization: malformed HTTP Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise UnauthenticatedError("Authorization: malformed HTTP Basic credentials")
    # RFC 6749 §2.3.1: both halves are form-encoded before they are joined.
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if "client_secret" in form:
        raise InvalidInputError("client_secret", "the client authenticated with HTTP Basic already")
    if form.get("client_id", client_id) != client_id:
        raise InvalidInputError("client_id", "differs from the HTTP Basic user name")
    return ClientCredentials(client_id, secret)


def _oauth_error(exc: TesseraError) -> JSONResponse:
    """The RFC 6749 §5.2 error for a refused token request; faults go on to the problem+json handler."""
    if isinstance(exc, UnauthenticatedError):
        body = {"error": "invalid_client", "error_description": str(exc)}
        return JSONResponse(body, 401, headers={**NO_STORE, "WWW-Authenticate": 'Basic realm="tessera"'})
    if isinstance(exc, InvalidGrantError):
        error = "invalid_grant"
    elif isinstance(exc, InvalidInputError):
        error = "unsupported_grant_type" if exc.field == "grant_type" else "invalid_request"
    else:
        raise exc
    return JSONResponse({"error": error, "error_description": str(exc)}, 400, headers=NO_STORE)


# --- the userinfo endpoint ------------------------------------------------------------------------------


USERINFO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}, "description": "sub and the claims"},
    401: {"description": "no token, or invalid_token (see WWW-Authenticate)"},
}


@router.get("/oidc/userinfo", responses=USERINFO_RESPONSES)
def userinfo(request: Request, services: ServicesDep) -> Response:
    """``sub`` and the claims the person consented to, for ``Authorization: Bearer <access token>``."""
    return _userinfo(request, services)


@router.post("/oidc/userinfo", responses=USERINFO_RESPONSES)
def userinfo_post(request: Request, services: ServicesDep) -> Response:
    """The same as ``GET /oidc/userinfo`` (OpenID Connect Core §5.3.1 allows both)."""
    return _userinfo(request, services)


def _userinfo(request: Request, services: Services) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        # RFC 6750 §3.1: a request with no credentials gets no error code, only the challenge.
        return problem(
            401,
            UnauthenticatedError.code,
            "send the access token as 'Authorization: Bearer ...'",
            request,
            headers={"WWW-Authenticate": 'Bearer realm="tessera"'},
        )
    try:
        claims = services.oidc.userinfo(token.strip())
    except UnauthenticatedError as exc:
        challenge = f'Bearer realm="tessera", error="invalid_token", error_description="{_quoted(str(exc))}"'
        return problem(401, exc.code, str(exc), request, headers={"WWW-Authenticate": challenge})
    return JSONResponse(claims, headers=NO_STORE)


# --- pages for people -------------------------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _redirect(outcome: Redirect) -> RedirectResponse:
    return RedirectResponse(outcome.uri, status_code=status.HTTP_303_SEE_OTHER, headers=NO_STORE)


def _quoted(text: str) -> str:
    """Text safe inside a quoted HTTP header parameter: printable ASCII without quotes or backslashes."""
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')


PAGE_STYLE = """body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
fieldset{border:1px solid #999;border-radius:.5rem}label{display:block;margin:.4rem 0}
button{font-size:1rem;padding:.5rem 1rem;margin:.5rem .5rem 0 0}.note{color:#444;font-size:.9rem}"""

# Turns the JSON request options into what navigator.credentials.get() takes, and its
# answer back into AuthenticationResponseJSON, which the server checks.
CONSENT_SCRIPT = """const form = document.getElementById("consent");
const options = JSON.parse(document.getElementById("webauthn-options").textContent);
const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
document.getElementById("allow").addEventListener("click", async (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const publicKey = {...options, challenge: bytes(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({...c, id: bytes(c.id)}))};
  try {
    const c = await navigator.credentials.get({publicKey});
    const r = c.response;
    form.elements.credential.value = JSON.stringify({id: c.id, rawId: b64(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment, clientExtensionResults: c.getClientExtensionResults(),
      response: {clientDataJSON: b64(r.clientDataJSON), authenticatorData: b64(r.authenticatorData),
        signature: b64(r.signature), userHandle: r.userHandle ? b64(r.userHandle) : null}});
    form.elements.decision.value = "allow";
    form.submit();
  } catch (error) {
    document.getElementById("problem").textContent = "Your passkey was not used: " + error.message;
  }
});"""


def _page(title: str, body: str, status_code: int, nonce: str) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<style nonce="{nonce}">{PAGE_STYLE}</style></head><body>{body}</body></html>'
    )
    headers = {
        **NO_STORE,
        # The consent page must never be framed: a hidden frame could have the person click "allow".
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(document, status_code=status_code, headers=headers)


def _consent_page(request: AuthorizationRequest) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    party = html.escape(request.relying_party.name)
    if request.claims:
        boxes = "".join(
            f'<label><input type="checkbox" name="claims" value="{c}"> {html.escape(CLAIMS[c])}</label>'
            for c in request.claims
        )
        asks = f"<fieldset><legend>{party} asks to know — tick what you agree to share:</legend>{boxes}</fieldset>"
    else:
        asks = f"<p>{party} asks only to know it is you. Nothing else about you is shared.</p>"
    pin = (
        '<label>Your Tessera PIN <input type="password" name="pin" inputmode="numeric" autocomplete="off" '
        'pattern="[0-9]{6,12}" minlength="6" maxlength="12" required></label>'
        if request.pin_required
        else ""
    )
    # "<" escaped: the options can then never close the script element they sit in.
    options = json.dumps(dict(request.webauthn_options)).replace("<", "\\u003c")
    body = (
        f"<h1>Log in to {party}</h1>"
        f'<form id="consent" method="post" action="/oidc/authorize/{request.id}">{asks}'
        f'<p class="note">{party} never learns your Tessera number: it knows you by an identifier '
        "that only services of its own sector see. This login is written to your access log.</p>"
        f'{pin}<input type="hidden" name="credential"><input type="hidden" name="decision" value="deny">'
        '<button id="allow" type="button">Log in with your passkey</button>'
        '<button type="submit" formnovalidate>Cancel</button></form>'
        '<p id="problem" role="alert"></p>'
        f'<script type="application/json" id="webauthn-options">{options}</script>'
        f'<script nonce="{nonce}">{CONSENT_SCRIPT}</script>'
    )
    return _page(f"Log in to {request.relying_party.name}", body, 200, nonce)


def _error_page(exc: TesseraError) -> HTMLResponse:
    code = status_of(exc)
    if code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        log.error("the login page failed: %s [%s]", exc, exc.code)
    shown = code < HTTPStatus.INTERNAL_SERVER_ERROR or code == HTTPStatus.SERVICE_UNAVAILABLE
    detail = str(exc) if shown else "the server could not complete the login"
    body = (
        "<h1>This login cannot go on</h1>"
        f"<p>{html.escape(detail)}</p>"
        "<p>Go back to the service you came from and start again.</p>"
    )
    return _page("Login stopped", body, code, secrets.token_urlsafe(16))
