"""The OpenID Connect provider: relying parties, the consent page, the token endpoint's answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict

from tessera.api.schemas.common import Rfc3339, StrictModel, beside, vars_of
from tessera.api.schemas.credentials import PinDigits
from tessera.identity import AuthorizationRequest, Registration

ClaimName = Literal["name", "age_over_18", "resident"]


class OidcClientCreate(StrictModel):
    """A relying party to register: redirect URIs are matched exactly; https only (http on localhost)."""

    name: Annotated[str, Field(min_length=1, max_length=200, description="shown to people on the consent page")]
    redirect_uris: list[Annotated[str, Field(max_length=2048)]] = Field(min_length=1, max_length=10)
    claims: list[ClaimName] = Field(default_factory=list, max_length=3, description="the claims it may ask for")
    public: Annotated[bool, Strict()] = Field(
        False, description="a client without a secret (an app): PKCE alone proves it"
    )
    sector_id: Annotated[str | None, Field(max_length=253, description="default: the redirect URIs' host")] = None


class OidcClientPublic(BaseModel):
    client_id: str
    name: str
    redirect_uris: list[str]
    sector_id: str
    claims: list[str]
    public: bool
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    client_secret: str | None = Field(description="shown this once; only its hash is kept (null for a public client)")

    @classmethod
    def of(cls, r: Registration) -> OidcClientPublic:
        return cls.model_validate({**vars_of(r.relying_party), "client_secret": r.client_secret})


class ClaimRequestedPublic(BaseModel):
    name: str
    description: str


class AuthorizationPagePublic(BaseModel):
    """The consent page as data: who asks, for what, and the passkey challenge to answer it with."""

    request_id: str
    action: str = Field(description="where to POST the answer (ConsentCreate)")
    client_id: str
    client_name: str
    claims: list[ClaimRequestedPublic]
    acr: str
    pin_required: bool
    webauthn: dict[str, Any] = Field(description="PublicKeyCredentialRequestOptions, binary values in base64url")
    expires_at_ns: int
    expires_at: Rfc3339 = beside("expires_at_ns")

    @classmethod
    def of(cls, r: AuthorizationRequest, descriptions: dict[str, str]) -> AuthorizationPagePublic:
        return cls(
            request_id=r.id,
            action=f"/oidc/authorize/{r.id}",
            client_id=r.relying_party.client_id,
            client_name=r.relying_party.name,
            claims=[ClaimRequestedPublic(name=c, description=descriptions[c]) for c in r.claims],
            acr=r.acr,
            pin_required=r.pin_required,
            webauthn=dict(r.webauthn_options),
            expires_at_ns=r.expires_at_ns,
        )


class ConsentCreate(StrictModel):
    """The person's answer: ``allow`` with their passkey's assertion and the claims they agree to share, or ``deny``."""

    decision: Literal["allow", "deny"] = "allow"
    credential: dict[str, Any] | Annotated[str, Field(max_length=65536)] | None = Field(
        None, description="AuthenticationResponseJSON from navigator.credentials.get()"
    )
    claims: list[ClaimName] = Field(default_factory=list, max_length=3, description="a subset of those asked for")
    pin: PinDigits | None = None


class TokenPublic(BaseModel):
    """The token endpoint's answer (RFC 6749 §5.1); errors are ``{"error", "error_description"}`` (§5.2)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    id_token: str
    scope: str
