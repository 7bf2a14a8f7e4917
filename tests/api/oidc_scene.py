"""The OIDC tests' scene: a person with a passkey, two relying parties, and an OIDC client speaking to the app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tessera.api import create_app
from tessera.identity.registry import Person
from tests.api.world import World, make_world, settings_for
from tests.identity.softauthn import SoftAuthenticator

ISSUER = "http://localhost"  # WebAuthn allows plain http on localhost only; TestClient serves any host
SHOP_CALLBACK = "https://shop.example/callback"
CLINIC_CALLBACK = "https://clinic.example/oidc/back"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class ThroughApp(httpx2.BaseTransport):
    """An httpx transport that hands each request to the app behind a TestClient: authlib's client speaks to it."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._client.send(request, follow_redirects=False)
        return httpx2.Response(response.status_code, headers=response.headers, content=response.content)


@dataclass
class Login:
    """What a relying party ends up with after one login."""

    tokens: dict[str, Any]
    id_claims: dict[str, Any]
    userinfo: dict[str, Any]


@dataclass
class Scene:
    world: World
    person: Person
    device: SoftAuthenticator
    shop: dict[str, Any]
    clinic: dict[str, Any]
    config: dict[str, Any]

    @property
    def client(self) -> TestClient:
        return self.world.client

    def relying_party(self, registration: dict[str, Any], scope: str, auth_method: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=registration["client_id"],
            client_secret=registration["client_secret"],
            token_endpoint_auth_method=auth_method,
            scope=scope,
            redirect_uri=registration["redirect_uris"][0],
            code_challenge_method="S256",
            transport=ThroughApp(self.client),
        )

    def consent(self, authorization_url: str, claims: list[str]) -> str:
        """The person's part: read the page as JSON, touch the passkey, tick ``claims``; the Location back."""
        page = self.client.get(authorization_url, headers=JSON)
        assert page.status_code == 200, page.text
        data = page.json()
        assertion = self.device.get(data["webauthn"], ISSUER)
        answer = self.client.post(
            data["action"], json={"credential": assertion, "claims": claims}, headers=JSON, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def log_in(self, registration: dict[str, Any], scope: str, claims: list[str], auth_method: str) -> Login:
        """One whole login at a relying party, as its OIDC library does it."""
        with self.relying_party(registration, scope, auth_method) as rp:
            verifier, nonce = generate_token(48), generate_token(20)
            url, _ = rp.create_authorization_url(
                self.config["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
            callback = self.consent(url, claims)
            assert callback.startswith(registration["redirect_uris"][0] + "?")
            tokens = rp.fetch_token(
                self.config["token_endpoint"], authorization_response=callback, code_verifier=verifier
            )
            keys = KeySet.import_key_set(self.client.get(self.config["jwks_uri"]).json())
            token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": ISSUER},
                aud={"essential": True, "value": registration["client_id"]},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
            info = rp.get(self.config["userinfo_endpoint"])
            assert info.status_code == 200, info.text
            return Login(dict(tokens), token.claims, info.json())


@contextmanager
def open_scene(path: Path) -> Iterator[Scene]:
    """An app on ``path`` with Amara registered, her passkey bound, and the shop and the clinic registered."""
    app = create_app(settings_for(path, public_url=ISSUER))
    with TestClient(app) as client:
        world = make_world(client)
        services = world.services
        officer = world.principals["bank"]
        person = services.registry.create_person(
            {"name": "Amara Okafor", "birth_date": "1990-04-12", "sex": "F", "address": "1 Quay St"},
            station=officer.id,
        )
        device = SoftAuthenticator()
        ceremony = services.passkeys.begin_registration(
            person.number, rebind_token=services.passkeys.grant_rebind(person.number, officer.id)
        )
        services.passkeys.finish_registration(ceremony.id, device.create(ceremony.options, ISSUER))
        shop = register(world, "Corner Shop", SHOP_CALLBACK, ["name", "age_over_18"])
        clinic = register(world, "City Clinic", CLINIC_CALLBACK, ["name", "age_over_18", "resident"])
        config = client.get("/.well-known/openid-configuration").json()
        yield Scene(world, person, device, shop, clinic, config)


def register(world: World, name: str, callback: str, claims: list[str]) -> dict[str, Any]:
    response = world.client.post(
        "/v1/oidc/clients",
        json={"name": name, "redirect_uris": [callback], "claims": claims},
        headers=world.as_("admin"),
    )
    assert response.status_code == 201, response.text
    registration: dict[str, Any] = response.json()
    return registration


def authorization_url(scene: Scene, **extra: str) -> tuple[str, str]:
    """The shop's authorization URL for ``openid name`` and its PKCE verifier; ``extra`` adds parameters."""
    verifier = generate_token(48)
    with scene.relying_party(scene.shop, "openid name", "client_secret_basic") as rp:
        url, _ = rp.create_authorization_url(scene.config["authorization_endpoint"], code_verifier=verifier, **extra)
    return url, verifier
