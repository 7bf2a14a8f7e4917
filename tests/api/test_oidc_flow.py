"""Logging in to two services over HTTP, driven by a real OIDC client: authlib's OAuth2Client over httpx.

The relying parties' half (authorization URL, state, PKCE, token request, bearer calls) is
authlib's; the ID token is checked with joserfc against the JWKS the server publishes. The
person's half (the consent page and the passkey) is the software authenticator's.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.common.security import generate_token

from tests.api.oidc_scene import HTML, ISSUER, JSON, SHOP_CALLBACK, Scene, authorization_url


def payload(jws: str) -> str:
    """The decoded claims of a compact JWS, as text, to search."""
    part = jws.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def test_two_services_log_the_same_person_in_and_cannot_link_them(scene: Scene) -> None:
    """Both logins succeed; each service gets a different sub and only the claims consented; the log has both."""
    shop = scene.log_in(scene.shop, "openid name age_over_18", ["age_over_18"], "client_secret_basic")
    clinic = scene.log_in(scene.clinic, "openid name resident", ["name", "resident"], "client_secret_post")

    assert shop.id_claims["sub"] != clinic.id_claims["sub"]
    assert shop.userinfo == {"sub": shop.id_claims["sub"], "age_over_18": True}
    assert clinic.userinfo == {"sub": clinic.id_claims["sub"], "name": "Amara Okafor", "resident": True}
    number = scene.person.number
    for login in (shop, clinic):
        seen = json.dumps(login.tokens) + payload(login.tokens["id_token"]) + json.dumps(login.userinfo)
        assert number not in seen

    again = scene.log_in(scene.shop, "openid", [], "client_secret_basic")
    assert again.id_claims["sub"] == shop.id_claims["sub"] and again.userinfo == {"sub": shop.id_claims["sub"]}

    subject = scene.world.services.registry.subject_of(number)
    entries = [e for _, e in scene.world.services.access_log.entries_for_subject(subject)]
    seen_by = {(e.principal, e.outcome, e.fields) for e in entries}
    shop_rp, clinic_rp = f"rp:{scene.shop['client_id']}", f"rp:{scene.clinic['client_id']}"
    assert (shop_rp, "logged in; consented to age_over_18", ("sub",)) in seen_by
    assert (shop_rp, "released", ("sub", "age_over_18")) in seen_by
    assert (clinic_rp, "logged in; consented to name, resident", ("sub",)) in seen_by
    assert (clinic_rp, "released", ("sub", "name", "resident")) in seen_by
    assert {e.role for e in entries} == {"relying_party"}


def test_the_discovery_document_and_jwks(scene: Scene) -> None:
    """Discovery names this issuer, code flow with S256 only, pairwise subjects, RS256; the JWKS holds public keys."""
    config = scene.config
    assert config["issuer"] == ISSUER and config["jwks_uri"] == f"{ISSUER}/oidc/jwks"
    assert config["response_types_supported"] == ["code"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["subject_types_supported"] == ["pairwise"]
    assert "RS256" in config["id_token_signing_alg_values_supported"]
    (key,) = scene.client.get("/oidc/jwks").json()["keys"]
    assert key["kty"] == "RSA" and key["kid"] and "d" not in key


def test_the_consent_page_lists_each_claim_in_plain_words(scene: Scene) -> None:
    """A browser gets HTML naming the service and each claim, with the passkey options, never framable."""
    with scene.relying_party(scene.clinic, "openid name age_over_18 resident", "client_secret_basic") as rp:
        url, _ = rp.create_authorization_url(scene.config["authorization_endpoint"], code_verifier=generate_token(48))
    page = scene.client.get(url, headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for words in ("City Clinic", "your name", "18 or older", "registered resident", "navigator.credentials.get"):
        assert words in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_declining_on_the_page__access_denied_back_to_the_service(scene: Scene) -> None:
    """The page's Cancel button posts the form; the service hears access_denied with its state."""
    with scene.relying_party(scene.shop, "openid name", "client_secret_basic") as rp:
        url, state = rp.create_authorization_url(
            scene.config["authorization_endpoint"], code_verifier=generate_token(48)
        )
    action = scene.client.get(url, headers=JSON).json()["action"]
    answer = scene.client.post(
        action, data={"decision": "deny", "credential": ""}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["error"] == ["access_denied"] and back["state"] == [state]


class TestBadInput:
    def test_an_unknown_redirect_uri_is_shown_never_followed(self, scene: Scene) -> None:
        """A page for the person (or problem+json for a program), never a Location to the unregistered URI."""
        url, _ = authorization_url(scene, redirect_uri="https://evil.example/steal")
        page = scene.client.get(url, headers=HTML, follow_redirects=False)
        assert page.status_code == 400 and "location" not in page.headers
        assert "not registered" in page.text and "evil.example" not in page.headers.get("content-security-policy", "")
        problem = scene.client.get(url, headers=JSON, follow_redirects=False)
        assert problem.status_code == 400 and problem.json()["field"] == "redirect_uri"

    def test_a_request_without_pkce__invalid_request_back_to_the_service(self, scene: Scene) -> None:
        """A request with plain PKCE instead of S256 is sent back to the service as invalid_request."""
        url, _ = authorization_url(scene)
        bare = url.replace("code_challenge_method=S256", "code_challenge_method=plain")
        answer = scene.client.get(bare, headers=JSON, follow_redirects=False)
        assert answer.status_code == 303
        assert parse_qs(urlsplit(answer.headers["location"]).query)["error"] == ["invalid_request"]

    def code(self, scene: Scene) -> tuple[str, str]:
        url, verifier = authorization_url(scene)
        callback = scene.consent(url, ["name"])
        return parse_qs(urlsplit(callback).query)["code"][0], verifier

    def token_request(self, scene: Scene, code: str, verifier: str, secret: str | None = None) -> Any:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": SHOP_CALLBACK,
            "code_verifier": verifier,
        }
        return scene.client.post(
            "/oidc/token", data=form, auth=(scene.shop["client_id"], secret or scene.shop["client_secret"])
        )

    def test_a_replayed_code__invalid_grant_and_the_first_token_dies(self, scene: Scene) -> None:
        """Replaying a code is invalid_grant and revokes the token the first exchange issued (RFC 6749 4.1.2)."""
        code, verifier = self.code(scene)
        first = self.token_request(scene, code, verifier)
        assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
        bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
        assert scene.client.get("/oidc/userinfo", headers=bearer).status_code == 200
        replay = self.token_request(scene, code, verifier)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        refused = scene.client.get("/oidc/userinfo", headers=bearer)
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]

    def test_a_mismatched_verifier__invalid_grant_and_the_code_still_works(self, scene: Scene) -> None:
        """A wrong PKCE verifier is invalid_grant naming code_verifier, and does not burn the code."""
        code, verifier = self.code(scene)
        wrong = self.token_request(scene, code, generate_token(48))
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        assert "code_verifier" in wrong.json()["error_description"]
        assert self.token_request(scene, code, verifier).status_code == 200

    def test_a_wrong_client_secret__invalid_client(self, scene: Scene) -> None:
        """A wrong client secret is 401 invalid_client with a Basic challenge."""
        code, verifier = self.code(scene)
        wrong = self.token_request(scene, code, verifier, secret="not-the-secret")
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert wrong.headers["www-authenticate"].startswith("Basic")

    def test_no_bearer_token_at_userinfo__401_problem(self, scene: Scene) -> None:
        """userinfo without a bearer token is 401 as problem+json."""
        refused = scene.client.get("/oidc/userinfo")
        assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/problem+json")
