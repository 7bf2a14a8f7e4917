"""The OpenID Connect provider of the internet ID: services log people in with their passkey.

The authorization code flow with PKCE (OpenID Connect Core §3.1, RFC 7636)::

    relying party ─ GET /oidc/authorize ─▶ begin_authorization   the consent page and a passkey challenge
    person        ─ passkey + consent ──▶ finish_authorization  Redirect to redirect_uri?code=..&state=..
    relying party ─ POST /oidc/token ───▶ exchange_code         an access token and a signed ID token
    relying party ─ GET /oidc/userinfo ─▶ userinfo              sub and the claims the person consented to

What it holds to:

- **Pairwise subjects.** ``sub`` is an HMAC of the relying party's sector and the person's
  number: stable at one service, different at the next, so two services cannot join their
  records. The Tessera number itself is never a claim.
- **Minimal disclosure.** A claim is released only if the relying party is registered for
  it, asked for it (as a scope of the same name) and the person ticked it on the consent
  page. Claims come from the userinfo endpoint only, so each release is one logged event.
- **Every look is logged.** Each login, each refused login of a known person, and each
  userinfo release appends to the person's access log, naming the service and the claims.
- **No open redirector.** An unknown client or a redirect URI that is not registered
  exactly is an exception, shown to the person, never a redirect (RFC 6749 §4.1.2.1). Once
  the redirect URI is trusted, a refusal is a value: a ``Redirect`` carrying an OAuth error.
- **Codes are single use.** They live ``CODE_TTL_S``; a second use fails *and* revokes the
  tokens issued from the code (RFC 6749 §4.1.2). A wrong verifier, a wrong redirect URI or
  an expired code changes nothing.
- **A status change ends what was granted before it.** The person's live access tokens are
  revoked and their unused codes expire when the registry commits the change, so a token
  issued before a suspension stays dead after the person is reinstated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from joserfc.jwk import KeySetSerialization
from sqlalchemy import Connection, Row, delete, select, update

from tessera.audit import AccessEntry, AccessLog
from tessera.errors import (
    AccessError,
    InvalidGrantError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from tessera.identity.numbers import checked_number
from tessera.identity.oidc_clients import (
    CLAIMS,
    ClientCredentials,
    Clock,
    Registration,
    RelyingParties,
    RelyingParty,
    checked_client_id,
)
from tessera.identity.oidc_keys import SIGNING_ALG, ProviderKeys, b64url
from tessera.identity.registry import Person, Registry
from tessera.store import (
    ACR_MAX,
    OIDC_STATE_MAX,
    REDIRECT_URI_MAX,
    Store,
    oidc_codes,
    oidc_requests,
    oidc_tokens,
    persons,
)

__all__ = [
    "ACR_PASSKEY",
    "ACR_PASSKEY_PIN",
    "ACR_VALUES",
    "CLAIMS",
    "CODE_TTL_S",
    "SCOPES",
    "AuthorizationRequest",
    "ClientCredentials",
    "LoginCeremony",
    "OpenIdProvider",
    "PasskeyLogin",
    "PinCheck",
    "Redirect",
    "Registration",
    "RelyingParties",
    "RelyingParty",
    "Tokens",
]

OPENID = "openid"
SCOPES = (OPENID, *CLAIMS)
# Authentication context classes, lowest first: a passkey alone, or a passkey and the PIN.
ACR_PASSKEY = "urn:tessera:acr:passkey"
ACR_PASSKEY_PIN = "urn:tessera:acr:passkey+pin"
ACR_VALUES = (ACR_PASSKEY, ACR_PASSKEY_PIN)
ROLE = "relying_party"  # the role relying parties have in the access log

REQUEST_TTL_S = 300  # as long as the passkey ceremony it waits on (Passkeys' default)
CODE_TTL_S = 60
ACCESS_TOKEN_TTL_S = 600
ID_TOKEN_TTL_S = 600
RETAIN_S = 3600  # expired rows stay this long, so a late replay is recognised as one
PARAMS_MAX = 32
PARAM_VALUE_MAX = REDIRECT_URI_MAX
_NS = 1_000_000_000
_ADULT_AGE = 18  # the age the age_over_18 claim vouches for

_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3


class LoginCeremony(Protocol):
    """A WebAuthn login ceremony: its id and the PublicKeyCredentialRequestOptions JSON for the browser."""

    @property
    def id(self) -> str: ...

    @property
    def options(self) -> Mapping[str, Any]: ...


class PasskeyLogin(Protocol):
    """The passkey login ``tessera.identity.passkeys.Passkeys`` offers."""

    def begin_login(self, number: str | None = None) -> LoginCeremony: ...

    def finish_login(self, ceremony_id: str, credential: dict[str, Any] | str) -> str: ...


class PinCheck(Protocol):
    """``tessera.identity.pin.Pins``: returns for the right PIN, raises an ``AccessError`` otherwise."""

    def verify_pin(self, number: str, pin: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked request waiting for the person: what to show on the consent page and the passkey challenge."""

    id: str
    relying_party: RelyingParty
    redirect_uri: str
    claims: tuple[str, ...]  # asked for, in the order asked; each is shown to the person
    state: str | None
    nonce: str | None
    acr: str
    webauthn_options: Mapping[str, Any]
    expires_at_ns: int

    @property
    def pin_required(self) -> bool:
        return self.acr == ACR_PASSKEY_PIN


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where the browser goes back to: the redirect URI with a code, or with an OAuth ``error``."""

    uri: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    """The token endpoint's answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3)."""

    access_token: str
    id_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"


class OpenIdProvider:
    """Relying parties, the authorization code flow, ID tokens and userinfo, over the store's database."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        access_log: AccessLog,
        passkeys: PasskeyLogin,
        *,
        keys_dir: Path,
        issuer: str,
        pins: PinCheck | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        self.issuer = _checked_issuer(issuer)
        self._store = store
        self._registry = registry
        self._log = access_log
        self._passkeys = passkeys
        self._pins = pins
        self._clock = clock
        self._keys = ProviderKeys(keys_dir)
        self.clients = RelyingParties(store, clock)
        registry.on_status_change(self._status_changed)

    # --- what relying parties read first ---------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider Metadata (OpenID Connect Discovery §3)."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oidc/authorize",
            "token_endpoint": f"{base}/oidc/token",
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "jwks_uri": f"{base}/oidc/jwks",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": [SIGNING_ALG],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": list(ACR_VALUES),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", *CLAIMS],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
        }

    def jwks(self) -> KeySetSerialization:
        """The public keys ID tokens are signed with."""
        return self._keys.jwks()

    def subject_at(self, client_id: str, number: str) -> str:
        """The ``sub`` a relying party knows the person by (for the person's own view of their logins)."""
        number = checked_number(number)
        party = self.clients.get(client_id)
        if party is None:
            raise NotFoundError("client_id", f"no relying party {client_id}")
        return self._keys.pairwise_subject(party.sector_id, number)

    # --- the authorization endpoint ------------------------------------------------------------

    def begin_authorization(
        self, params: Mapping[str, str] | Sequence[tuple[str, str]]
    ) -> AuthorizationRequest | Redirect:
        """Check an authorization request; keep it, with a fresh passkey challenge, for the person to answer.

        Raises ``NotFoundError`` or ``InvalidInputError`` naming ``client_id`` or ``redirect_uri``
        when either is missing, unknown or not registered (or ``params`` when there are too
        many or they are not text): those must be shown to the person, never redirected to.
        Any other fault is a ``Redirect`` carrying the OAuth error.
        """
        given, faults = _params(params)
        party = self._party_for_authorization(given.get("client_id"))
        redirect_uri = given.get("redirect_uri")
        if redirect_uri is None:
            raise InvalidInputError("redirect_uri", "is required")
        if redirect_uri not in party.redirect_uris:
            raise InvalidInputError("redirect_uri", f"is not registered for {party.name}: it must match exactly")
        state = given.get("state")
        if state is not None and not _plain_text(state, OIDC_STATE_MAX):
            # Not echoed back: it is no value a client could have meant.
            return self._refusal(
                redirect_uri, None, "invalid_request", f"state: 1-{OIDC_STATE_MAX} printable characters"
            )
        refused = self._check_request(party, given, faults)
        if refused is not None:
            return self._refusal(redirect_uri, state, *refused)
        nonce = given.get("nonce")
        scopes = given["scope"].split()
        claims = tuple(dict.fromkeys(s for s in scopes if s != OPENID))
        acr = ACR_PASSKEY_PIN if ACR_PASSKEY_PIN in given.get("acr_values", "").split() else ACR_PASSKEY
        ceremony = self._passkeys.begin_login()
        now = self._clock()
        request = AuthorizationRequest(
            id=secrets.token_urlsafe(32),
            relying_party=party,
            redirect_uri=redirect_uri,
            claims=claims,
            state=state,
            nonce=nonce,
            acr=acr,
            webauthn_options=ceremony.options,
            expires_at_ns=now + REQUEST_TTL_S * _NS,
        )
        with self._store.transaction(write=True) as conn:
            self._purge(conn, now)
            conn.execute(
                oidc_requests.insert().values(
                    id=request.id,
                    client_id=party.client_id,
                    redirect_uri=redirect_uri,
                    scopes=" ".join((OPENID, *claims)),
                    state=state,
                    nonce=nonce,
                    code_challenge=given["code_challenge"],
                    acr=acr,
                    ceremony_id=ceremony.id,
                    created_at_ns=now,
                    expires_at_ns=request.expires_at_ns,
                    closed_at_ns=None,
                )
            )
        return request

    def finish_authorization(
        self, request_id: str, credential: dict[str, Any] | str, claims: Sequence[str], pin: str | None = None
    ) -> Redirect:
        """The person's answer: their passkey assertion, the claims they consent to (a subset), maybe a PIN.

        On success the Redirect carries a code. A passkey that is not accepted leaves the
        request open for another try until it expires; once the passkey is accepted the
        request is answered, whatever follows. A person who may not log in (suspended,
        revoked, deceased) is refused by the passkey check itself, or, should their status
        change in between, gets ``access_denied``: the relying party must not learn why.

        Raises ``NotFoundError`` for an unknown, answered or expired request,
        ``InvalidInputError`` naming the claim, ``pin`` or ``credential`` at fault, and
        ``UnauthenticatedError`` (or ``CredentialLockedError``) for a passkey or PIN not accepted.
        """
        request_id = _checked_request_id(request_id)
        if pin is not None and not isinstance(pin, str):
            raise InvalidInputError("pin", "must be a string of digits")
        now = self._clock()
        row = self._open_request(request_id, now)
        asked = tuple(s for s in row.scopes.split() if s != OPENID)
        consented = _checked_consent(claims, asked)
        if row.acr == ACR_PASSKEY_PIN and not pin:
            raise InvalidInputError("pin", "is required: the service asked for a login with passkey and PIN")
        party = self.clients.get(row.client_id)
        if party is None or party.disabled:
            raise NotFoundError("client_id", "the service is no longer registered")
        # finish_login consumes the ceremony only on success, so two answers racing for one
        # request cannot both get through, and a failed one leaves the request usable.
        number = self._passkeys.finish_login(row.ceremony_id, credential)
        with self._store.transaction(write=True) as conn:
            closed = conn.execute(
                update(oidc_requests)
                .where(oidc_requests.c.id == request_id, oidc_requests.c.closed_at_ns.is_(None))
                .values(closed_at_ns=now)
            )
            if closed.rowcount != 1:
                raise NotFoundError("request_id", "the login was declined meanwhile")
        person = self._registry.get_person(number)
        if person is None:
            raise UnauthenticatedError("the passkey belongs to no registered person")
        if person.status != "active":
            self._log.append([self._entry(party, number, ("sub",), f"denied: the person is {person.status}")])
            return self._refusal(row.redirect_uri, row.state, "access_denied", "the login was not completed")
        amr: tuple[str, ...] = ("pop",)
        if row.acr == ACR_PASSKEY_PIN:
            if self._pins is None:
                raise UnauthenticatedError("pin: PIN checks are not available on this server")
            try:
                self._pins.verify_pin(number, pin or "")
            except AccessError:
                self._log.append([self._entry(party, number, ("sub",), "denied: PIN not accepted")])
                raise
            amr = ("pop", "pin", "mfa")
        code = secrets.token_urlsafe(32)
        with self._store.transaction(write=True) as conn:
            conn.execute(
                oidc_codes.insert().values(
                    code_hash=_digest(code),
                    client_id=party.client_id,
                    number=number,
                    redirect_uri=row.redirect_uri,
                    code_challenge=row.code_challenge,
                    nonce=row.nonce,
                    scopes=" ".join((OPENID, *consented)),
                    acr=row.acr,
                    amr=" ".join(amr),
                    auth_time_ns=now,
                    expires_at_ns=now + CODE_TTL_S * _NS,
                    used_at_ns=None,
                )
            )
        given = ", ".join(consented) or "no claims"
        self._log.append([self._entry(party, number, ("sub",), f"logged in; consented to {given}")])
        response = {"code": code, **({"state": row.state} if row.state is not None else {}), "iss": self.issuer}
        return Redirect(_with_query(row.redirect_uri, response))

    def refuse_authorization(self, request_id: str) -> Redirect:
        """The person said no: the request closes and the service hears ``access_denied``."""
        request_id = _checked_request_id(request_id)
        now = self._clock()
        row = self._open_request(request_id, now)
        with self._store.transaction(write=True) as conn:
            closed = conn.execute(
                update(oidc_requests)
                .where(oidc_requests.c.id == request_id, oidc_requests.c.closed_at_ns.is_(None))
                .values(closed_at_ns=now)
            )
            if closed.rowcount != 1:
                raise NotFoundError("request_id", "the login was answered meanwhile")
        return self._refusal(row.redirect_uri, row.state, "access_denied", "the person declined")

    # --- the token endpoint --------------------------------------------------------------------

    def exchange_code(
        self,
        client: ClientCredentials,
        *,
        grant_type: str | None,
        code: str | None,
        redirect_uri: str | None,
        code_verifier: str | None,
    ) -> Tokens:
        """Trade a code for tokens (RFC 6749 §4.1.3 with RFC 7636 §4.5).

        ``UnauthenticatedError`` is OAuth's invalid_client; ``InvalidGrantError`` its
        invalid_grant (the field says which check failed); ``InvalidInputError`` naming
        ``grant_type`` its unsupported_grant_type, naming anything else invalid_request.
        """
        party = self.clients.authenticate(client)
        if grant_type != "authorization_code":
            raise InvalidInputError("grant_type", f"only authorization_code is supported, got {grant_type!r:.40}")
        for name, value in (("code", code), ("redirect_uri", redirect_uri), ("code_verifier", code_verifier)):
            if not value:
                raise InvalidInputError(name, "is required")
        assert code is not None and redirect_uri is not None and code_verifier is not None
        if not _PKCE_VERIFIER.fullmatch(code_verifier):
            raise InvalidInputError("code_verifier", "must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)")
        code_hash = _digest(code)
        now = self._clock()
        access_token = secrets.token_urlsafe(32)
        with self._store.transaction(write=True) as conn:
            row = conn.execute(select(oidc_codes).where(oidc_codes.c.code_hash == code_hash).with_for_update()).first()
            if row is None:
                raise InvalidGrantError("code", "is unknown")
            if row.client_id != party.client_id:
                raise InvalidGrantError("code", "was issued to another client")
            replayed = row.used_at_ns is not None
            if replayed:
                conn.execute(
                    update(oidc_tokens)
                    .where(oidc_tokens.c.code_hash == code_hash, oidc_tokens.c.revoked_at_ns.is_(None))
                    .values(revoked_at_ns=now)
                )
            else:
                if row.expires_at_ns <= now:
                    raise InvalidGrantError("code", f"has expired: a code lives {CODE_TTL_S} seconds")
                if redirect_uri != row.redirect_uri:
                    raise InvalidGrantError("redirect_uri", "is not the one the code was issued for")
                if not hmac.compare_digest(b64url(hashlib.sha256(code_verifier.encode()).digest()), row.code_challenge):
                    raise InvalidGrantError("code_verifier", "does not match the code challenge")
                status = conn.scalar(select(persons.c.status).where(persons.c.number == row.number))
                if status != "active":
                    raise InvalidGrantError("code", "is no longer valid")
                conn.execute(update(oidc_codes).where(oidc_codes.c.code_hash == code_hash).values(used_at_ns=now))
                conn.execute(
                    oidc_tokens.insert().values(
                        token_hash=_digest(access_token),
                        code_hash=code_hash,
                        client_id=party.client_id,
                        number=row.number,
                        scopes=row.scopes,
                        expires_at_ns=now + ACCESS_TOKEN_TTL_S * _NS,
                        revoked_at_ns=None,
                    )
                )
        if replayed:
            # Someone holds a code that was already spent: whoever spent it first may be the thief.
            self._log.append([self._entry(party, row.number, ("sub",), "denied: code replayed; its tokens revoked")])
            raise InvalidGrantError("code", "was already used; the tokens issued from it are revoked")
        now_s = now // _NS
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self._keys.pairwise_subject(party.sector_id, row.number),
            "aud": party.client_id,
            "exp": now_s + ID_TOKEN_TTL_S,
            "iat": now_s,
            "auth_time": row.auth_time_ns // _NS,
            "acr": row.acr,
            "amr": row.amr.split(),
            # OpenID Connect Core §3.1.3.6: binds the access token to this ID token.
            "at_hash": b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
        }
        if row.nonce is not None:
            claims["nonce"] = row.nonce
        return Tokens(access_token, self._keys.sign(claims), ACCESS_TOKEN_TTL_S, row.scopes)

    # --- the userinfo endpoint -----------------------------------------------------------------

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """``sub`` and the consented claims, for a live access token; the release is logged for the person.

        Raises ``UnauthenticatedError`` (OAuth's invalid_token) for a token that is unknown,
        expired or revoked, or whose person or relying party may no longer log in.
        """
        if not isinstance(access_token, str) or not _TOKEN.fullmatch(access_token):
            raise UnauthenticatedError("the access token is malformed")
        now = self._clock()
        with self._store.transaction() as conn:
            row = conn.execute(select(oidc_tokens).where(oidc_tokens.c.token_hash == _digest(access_token))).first()
        if row is None or row.revoked_at_ns is not None or row.expires_at_ns <= now:
            raise UnauthenticatedError("the access token is unknown, expired or revoked")
        party = self.clients.get(row.client_id)
        person = self._registry.get_person(row.number)
        if party is None or party.disabled or person is None or person.status != "active":
            raise UnauthenticatedError("the access token is no longer valid")
        claims = tuple(s for s in row.scopes.split() if s != OPENID)
        released: dict[str, Any] = {"sub": self._keys.pairwise_subject(party.sector_id, row.number)}
        released.update(_claim_values(person, claims, now))
        self._log.append([self._entry(party, row.number, ("sub", *claims), "released")])
        return released

    # --- plumbing ------------------------------------------------------------------------------

    def _status_changed(self, person: Person) -> None:
        """Revoke the person's live access tokens and expire their unused codes: granted under the old status."""
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(oidc_tokens)
                .where(oidc_tokens.c.number == person.number, oidc_tokens.c.revoked_at_ns.is_(None))
                .values(revoked_at_ns=now)
            )
            conn.execute(
                update(oidc_codes)
                .where(
                    oidc_codes.c.number == person.number,
                    oidc_codes.c.used_at_ns.is_(None),
                    oidc_codes.c.expires_at_ns > now,
                )
                .values(expires_at_ns=now)
            )

    def _open_request(self, request_id: str, now: int) -> Row[Any]:
        with self._store.transaction() as conn:
            row = conn.execute(select(oidc_requests).where(oidc_requests.c.id == request_id)).first()
        if row is None or row.closed_at_ns is not None:
            raise NotFoundError("request_id", "no login waiting under this id: it was answered already, or never made")
        if row.expires_at_ns <= now:
            raise NotFoundError("request_id", "the login request expired: start again from the service")
        return row

    def _party_for_authorization(self, client_id: str | None) -> RelyingParty:
        if client_id is None:
            raise InvalidInputError("client_id", "is required")
        party = self.clients.get(checked_client_id(client_id))
        if party is None or party.disabled:
            raise NotFoundError("client_id", f"no relying party {client_id}")
        return party

    def _check_request(
        self, party: RelyingParty, given: Mapping[str, str], faults: Sequence[str]
    ) -> tuple[str, str] | None:
        """The OAuth error and its description for a request whose redirect URI is trusted; None if sound."""
        if faults:
            return "invalid_request", faults[0]
        if "request" in given:
            return "request_not_supported", "request: request objects are not supported"
        if "request_uri" in given:
            return "request_uri_not_supported", "request_uri: request objects are not supported"
        response_type = given.get("response_type")
        if response_type is None:
            return "invalid_request", "response_type: is required"
        if response_type != "code":
            return "unsupported_response_type", "response_type: only code is supported"
        if given.get("response_mode", "query") != "query":
            return "invalid_request", "response_mode: only query is supported"
        scope = given.get("scope")
        if scope is None:
            return "invalid_scope", "scope: is required and must include openid"
        scopes = scope.split(" ")
        if not all(_SCOPE_TOKEN.fullmatch(s) for s in scopes):
            return "invalid_scope", "scope: space-separated scope names"
        if OPENID not in scopes:
            return "invalid_scope", "scope: must include openid"
        for s in scopes:
            if s not in SCOPES:
                return "invalid_scope", f"scope: {s} is unknown (known: {' '.join(SCOPES)})"
            if s != OPENID and s not in party.claims:
                return "invalid_scope", f"scope: {party.name} is not registered for {s}"
        method = given.get("code_challenge_method")
        if method is None or "code_challenge" not in given:
            return "invalid_request", "code_challenge: PKCE is required, with code_challenge_method=S256"
        if method != "S256":
            return "invalid_request", "code_challenge_method: only S256 is supported"
        if not _PKCE_CHALLENGE.fullmatch(given["code_challenge"]):
            return "invalid_request", "code_challenge: must be 43 base64url characters (SHA-256 of the verifier)"
        nonce = given.get("nonce")
        if nonce is not None and not _plain_text(nonce, OIDC_STATE_MAX):
            return "invalid_request", f"nonce: 1-{OIDC_STATE_MAX} printable characters"
        if "none" in given.get("prompt", "").split():
            # Every login here needs the person: there is no session to log in silently with.
            return "login_required", "prompt: none cannot be met; the person must log in"
        if len(given.get("acr_values", "")) > ACR_MAX * len(ACR_VALUES) * 4:
            return "invalid_request", "acr_values: too long"
        return None

    def _refusal(self, redirect_uri: str, state: str | None, error: str, description: str) -> Redirect:
        response = {"error": error, "error_description": description}
        if state is not None:
            response["state"] = state
        response["iss"] = self.issuer
        return Redirect(_with_query(redirect_uri, response), error)

    def _entry(self, party: RelyingParty, number: str, fields: tuple[str, ...], outcome: str) -> AccessEntry:
        return AccessEntry(
            self._clock(),
            f"rp:{party.client_id}",
            ROLE,
            party.sector_id,
            f"login to {party.name}"[:200],
            self._registry.subject_of(number),
            fields,
            outcome[:200],
        )

    def _purge(self, conn: Connection, now: int) -> None:
        """Forget what expired more than ``RETAIN_S`` ago; a code goes only once its tokens have."""
        horizon = now - RETAIN_S * _NS
        conn.execute(delete(oidc_tokens).where(oidc_tokens.c.expires_at_ns < horizon))
        conn.execute(
            delete(oidc_codes).where(
                oidc_codes.c.expires_at_ns < horizon,
                oidc_codes.c.code_hash.not_in(select(oidc_tokens.c.code_hash)),
            )
        )
        conn.execute(delete(oidc_requests).where(oidc_requests.c.expires_at_ns < horizon))


# --- helpers ---------------------------------------------------------------------------------------


def _claim_values(person: Person, claims: Sequence[str], now_ns: int) -> dict[str, Any]:
    today = dt.datetime.fromtimestamp(now_ns / _NS, dt.UTC).date()
    values: dict[str, Any] = {}
    for claim in claims:
        if claim == "name":
            values["name"] = person.name
        elif claim == "age_over_18":
            values["age_over_18"] = person.age_on(today) >= _ADULT_AGE
        elif claim == "resident":
            values["resident"] = person.status == "active"
    return values


def _params(params: Mapping[str, str] | Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """The parameters by name, and what is wrong with them besides client_id and redirect_uri.

    Those two raise at once: nothing may be redirected before they are known to be sound.
    Any other parameter given twice (RFC 6749 §3.1 forbids it) or too long is a fault
    reported to the relying party.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    if len(pairs) > PARAMS_MAX:
        raise InvalidInputError("params", f"at most {PARAMS_MAX} parameters")
    given: dict[str, str] = {}
    faults: list[str] = []
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInputError("params", "names and values must be strings")
        trusted_first = name in ("client_id", "redirect_uri")
        if len(value) > PARAM_VALUE_MAX:
            if trusted_first:
                raise InvalidInputError(name, f"at most {PARAM_VALUE_MAX} characters")
            faults.append(f"{name}: at most {PARAM_VALUE_MAX} characters")
        if name in given:
            if trusted_first:
                raise InvalidInputError(name, "must be given once")
            faults.append(f"{name}: must be given once")
        given[name] = value
    return given, faults


def _checked_consent(claims: object, asked: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(claims, Sequence) or isinstance(claims, str | bytes):
        raise InvalidInputError("claims", "must be a list of the claims the person consents to")
    if len(claims) > len(CLAIMS):
        raise InvalidInputError("claims", f"at most {len(CLAIMS)} claims")
    for i, claim in enumerate(claims):
        if claim not in asked:
            raise InvalidInputError(f"claims[{i}]", f"{claim!r:.40} was not asked for")
    return tuple(c for c in asked if c in claims)  # in the order asked, each once


def _checked_request_id(value: object) -> str:
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise NotFoundError("request_id", "no login waiting under this id")
    return value


def _checked_issuer(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError("issuer", "must be a URL")
    parts = urlsplit(value)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1", "testserver")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise InvalidInputError("issuer", "must be an https URL (plain http only for localhost or testserver)")
    if parts.query or parts.fragment or parts.username:
        raise InvalidInputError("issuer", "must have no query, fragment or user (OpenID Connect Discovery §3)")
    return value.rstrip("/")


def _plain_text(value: str, limit: int) -> bool:
    return 1 <= len(value) <= limit and value.isprintable()


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` appended to the query it already has (RFC 6749 §3.1.2 keeps it)."""
    parts = urlsplit(uri)
    query = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
