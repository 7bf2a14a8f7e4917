"""The OpenID provider's domain: relying parties, the code flow with PKCE, pairwise subjects, disclosure, logging."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from tessera.audit import AccessLog
from tessera.auth import Principal, Role
from tessera.errors import (
    ConflictError,
    InvalidGrantError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from tessera.identity.oidc import (
    ACR_PASSKEY,
    ACR_PASSKEY_PIN,
    CODE_TTL_S,
    AuthorizationRequest,
    ClientCredentials,
    OpenIdProvider,
    Redirect,
    RelyingParty,
    Tokens,
)
from tessera.identity.oidc_keys import ProviderKeys, b64url
from tessera.identity.passkeys import Passkeys
from tessera.identity.pin import Pins
from tessera.identity.registry import Person, Registry
from tessera.store import Store
from tessera.store.tables import oidc_codes, oidc_requests, oidc_tokens, relying_parties
from tests.identity.softauthn import SoftAuthenticator

ISSUER = "https://id.example"
ORIGIN = "https://id.example"
PIN = "402917"
NS = 1_000_000_000


class FakeClock:
    """Now, until a test moves it on."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * NS)


@dataclass
class World:
    store: Store
    registry: Registry
    passkeys: Passkeys
    pins: Pins
    log: AccessLog
    clock: FakeClock
    provider: OpenIdProvider
    keys_dir: Path
    admin: Principal
    officer: Principal
    devices: dict[str, SoftAuthenticator] = field(default_factory=dict)

    def person(self, name: str = "Amara Okafor", birth_date: str = "1990-04-12", pin: bool = False) -> Person:
        """A registered person with one passkey on a device of their own (and a PIN, if asked)."""
        person = self.registry.create_person(
            {"name": name, "birth_date": birth_date, "sex": "F", "address": "1 Quay St"}, station=self.officer.id
        )
        token = self.passkeys.grant_rebind(person.number, self.officer.id)
        ceremony = self.passkeys.begin_registration(person.number, rebind_token=token)
        device = SoftAuthenticator()
        self.passkeys.finish_registration(ceremony.id, device.create(ceremony.options, ORIGIN))
        self.devices[person.number] = device
        if pin:
            self.pins.set_pin(person.number, PIN)
        return person

    def party(
        self, name: str, uri: str, claims: tuple[str, ...] = ("name", "age_over_18", "resident"), **kwargs: Any
    ) -> tuple[RelyingParty, ClientCredentials]:
        registration = self.provider.clients.register(name, [uri], claims=claims, created_by=self.admin.id, **kwargs)
        credentials = ClientCredentials(registration.relying_party.client_id, registration.client_secret)
        return registration.relying_party, credentials


@pytest.fixture(scope="module")
def made_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signing key for the module: an RSA key takes a noticeable while to make."""
    directory = tmp_path_factory.mktemp("oidc-keys")
    ProviderKeys(directory)
    return directory


@pytest.fixture
def world(store: Store, tmp_path: Path, made_keys: Path) -> Iterator[World]:
    shutil.copytree(made_keys, tmp_path / "oidc")
    clock = FakeClock()
    registry = Registry(store, clock=clock)
    passkeys = Passkeys(store, "id.example", "Tessera", [ORIGIN], clock=clock)
    # A cheap hash: the PIN's cost is pin.py's business, not this file's.
    pins = Pins(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1), clock=clock)
    admin = store.create_principal("admin", Role.admin)
    officer = store.create_principal("registry-officer", Role.officer, agency="civil-registry")
    with AccessLog.open(tmp_path / "audit") as log:
        provider = OpenIdProvider(
            store, registry, log, passkeys, keys_dir=tmp_path / "oidc", issuer=ISSUER, pins=pins, clock=clock
        )
        yield World(store, registry, passkeys, pins, log, clock, provider, tmp_path / "oidc", admin, officer)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def params(party: RelyingParty, challenge: str, scope: str = "openid name", **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": party.client_id,
        "redirect_uri": party.redirect_uris[0],
        "scope": scope,
        "state": "st-1",
        "nonce": "nonce-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def begun(world: World, party: RelyingParty, challenge: str, scope: str = "openid name", **extra: str) -> Any:
    request = world.provider.begin_authorization(params(party, challenge, scope, **extra))
    assert isinstance(request, AuthorizationRequest), request
    return request


def answer(
    world: World, request: AuthorizationRequest, person: Person, consent: tuple[str, ...], **kw: Any
) -> Redirect:
    assertion = world.devices[person.number].get(dict(request.webauthn_options), ORIGIN)
    return world.provider.finish_authorization(request.id, assertion, list(consent), **kw)


def query(redirect: Redirect) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(redirect.uri).query).items()}


def login(
    world: World, party: RelyingParty, person: Person, scope: str = "openid name", consent: tuple[str, ...] = ("name",)
) -> tuple[str, str]:
    """A code and its verifier, the person having logged in and consented."""
    verifier, challenge = pkce()
    redirect = answer(world, begun(world, party, challenge, scope), person, consent)
    assert redirect.error is None, redirect
    return query(redirect)["code"], verifier


def exchange(world: World, party: RelyingParty, client: ClientCredentials, code: str, verifier: str) -> Tokens:
    return world.provider.exchange_code(
        client, grant_type="authorization_code", code=code, redirect_uri=party.redirect_uris[0], code_verifier=verifier
    )


def count(world: World, table: Any) -> int:
    with world.store.transaction() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def id_claims(world: World, tokens: Tokens, party: RelyingParty, nonce: str = "nonce-1") -> dict[str, Any]:
    """The ID token's claims, its signature checked against the JWKS and iss, aud, exp and nonce against the request."""
    decoded = jwt.decode(tokens.id_token, KeySet.import_key_set(world.provider.jwks()), algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        now=world.clock.now // NS,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": party.client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(decoded.claims)
    return decoded.claims


class TestRegistration:
    def test_a_confidential_client_gets_a_secret_and_a_public_one_none(self, world: World) -> None:
        """The secret is in the registration only; a public client relies on PKCE."""
        shop, creds = world.party("Shop", "https://shop.example/cb")
        app, app_creds = world.party("App", "https://app.example/cb", public=True)
        assert creds.client_secret and not shop.public
        assert app_creds.client_secret is None and app.public
        assert world.provider.clients.get(shop.client_id) == shop

    @pytest.mark.parametrize(
        "uri",
        [
            "http://shop.example/cb",
            "https://shop.example/cb#frag",
            "https://user:pw@shop.example/cb",
            "/cb",
            "https://shop.example/c b",
            "ftp://shop.example/cb",
        ],
    )
    def test_redirect_uri_refused__not_https_or_not_absolute(self, world: World, uri: str) -> None:
        """Only absolute https URLs without fragment or credentials."""
        with pytest.raises(InvalidInputError) as caught:
            world.party("Shop", uri)
        assert caught.value.field == "redirect_uris[0]"

    @pytest.mark.parametrize(
        "name",
        [
            "\u3164",  # HANGUL FILLER
            "\u115f\u1160",  # HANGUL CHOSEONG and JUNGSEONG FILLER
            "\uffa0\uffa0",  # HALFWIDTH HANGUL FILLER
            "\ufe0f\U000e0100",  # variation selectors
            "\u3164 \u3164",
            ". -",
            "Tax\u3164Office",
            "Tax \u202eeciffO",
            "Tax\u200b Office",
        ],
        ids=["filler", "jamo", "halfwidth", "selectors", "spaced", "punctuation", "filler-inside", "rlo", "zwsp"],
    )
    def test_a_name_that_shows_nothing_or_hides_something__refused(self, world: World, name: str) -> None:
        """The consent page shows the name: fillers and variation selectors alone would show a blank service."""
        with pytest.raises(InvalidInputError) as caught:
            world.party(name, "https://shop.example/cb")
        assert caught.value.field == "name"
        assert world.provider.clients.in_sector("shop.example") == []

    def test_a_name_in_persian_keeps_its_joiner(self, world: World) -> None:
        """A relying party's Persian name keeps its zero-width non-joiner, which the script needs to read right."""
        name = "\u062f\u0627\u0631\u0648\u062e\u0627\u0646\u0647\u200c\u0647\u0627 24"  # a pharmacy's, with a ZWNJ
        assert world.party(name, "https://shop.example/cb")[0].name == name

    @pytest.mark.parametrize("uri", ["http://localhost:3000/cb", "http://127.0.0.1/cb", "http://testserver/cb"])
    def test_plain_http_is_for_development_hosts(self, world: World, uri: str) -> None:
        """Plain http works on the developer's own machine."""
        assert world.party("Dev", uri)[0].redirect_uris == (uri,)

    def test_the_sector_is_the_redirect_host_unless_given(self, world: World) -> None:
        """Several hosts need a sector named outright."""
        assert world.party("Shop", "https://Shop.Example/cb")[0].sector_id == "shop.example"
        with pytest.raises(InvalidInputError) as caught:
            world.provider.clients.register(
                "Two", ["https://a.example/cb", "https://b.example/cb"], created_by=world.admin.id
            )
        assert caught.value.field == "sector_id"
        two = world.provider.clients.register(
            "Two",
            ["https://a.health.example/cb", "https://b.health.example/cb"],
            sector_id="Health.Example",
            created_by=world.admin.id,
        )
        assert two.relying_party.sector_id == "health.example"

    @pytest.mark.parametrize(
        ("uri", "sector"),
        [
            ("https://evil.test/cb", "example.org"),  # issue 15: another service's sector, another's people's sub
            ("https://example.org.evil.test/cb", "example.org"),
            ("https://notexample.org/cb", "example.org"),
            ("https://example.org/cb", "pay.example.org"),  # a sector below the host is not the host's to name
            ("https://shop.org/cb", "org"),  # a top-level domain is no one's
            ("http://127.0.0.1/cb", "0.0.1"),  # nothing above an address belongs to anyone
        ],
    )
    def test_a_named_sector_must_hold_every_redirect_host(self, world: World, uri: str, sector: str) -> None:
        """A sector is verified against the redirect hosts: a service cannot claim a sector it is not in."""
        with pytest.raises(InvalidInputError) as caught:
            world.party("Evil", uri, sector_id=sector)
        assert caught.value.field == "sector_id" and sector in str(caught.value)
        assert count(world, relying_parties) == 0

    def test_services_under_one_domain_may_share_its_sector(self, world: World) -> None:
        """The domain's owner put both there: the same sector, listed for the admin who adds the second."""
        clinic, _ = world.party("Clinic", "https://clinic.example/cb")
        pharmacy, _ = world.party("Pharmacy", "https://pharmacy.clinic.example/cb", sector_id="clinic.example")
        assert clinic.sector_id == pharmacy.sector_id == "clinic.example"
        assert sorted(p.name for p in world.provider.clients.in_sector("clinic.example")) == ["Clinic", "Pharmacy"]
        world.provider.clients.disable(clinic.client_id)
        assert [p.name for p in world.provider.clients.in_sector("clinic.example")] == ["Pharmacy"]

    def test_unknown_claims_and_taken_names_are_refused(self, world: World) -> None:
        """A claim outside the list (the number, say) cannot even be registered."""
        with pytest.raises(InvalidInputError) as caught:
            world.party("Shop", "https://shop.example/cb", claims=("name", "number"))
        assert caught.value.field == "claims[1]"
        world.party("Shop", "https://shop.example/cb")
        with pytest.raises(ConflictError):
            world.party("Shop", "https://other.example/cb")


class TestAuthorizationRequest:
    def test_a_sound_request_is_kept_with_a_passkey_challenge(self, world: World) -> None:
        """The request lists the claims asked for and carries WebAuthn request options."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        request = begun(world, shop, pkce()[1], "openid age_over_18 name")
        assert request.claims == ("age_over_18", "name")
        assert request.acr == ACR_PASSKEY and not request.pin_required
        assert request.webauthn_options["rpId"] == "id.example"
        assert count(world, oidc_requests) == 1

    def test_unknown_redirect_uri__raised_never_redirected(self, world: World) -> None:
        """A redirect URI that is not registered exactly is an exception, and nothing is stored."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        for wrong in ("https://shop.example/cb/", "https://evil.example/cb", "https://shop.example/cb?x=1"):
            with pytest.raises(InvalidInputError) as caught:
                world.provider.begin_authorization({**params(shop, pkce()[1]), "redirect_uri": wrong})
            assert caught.value.field == "redirect_uri"
        assert count(world, oidc_requests) == 0

    def test_unknown_client__raised_never_redirected(self, world: World) -> None:
        """An unknown client_id is raised, never redirected: its redirect URI cannot be trusted."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        with pytest.raises(NotFoundError) as caught:
            world.provider.begin_authorization({**params(shop, pkce()[1]), "client_id": "rp_0000000000000000"})
        assert caught.value.field == "client_id"

    @pytest.mark.parametrize(
        ("change", "error"),
        [
            ({"response_type": "token"}, "unsupported_response_type"),
            ({"scope": "name"}, "invalid_scope"),
            ({"scope": "openid email"}, "invalid_scope"),
            ({"code_challenge_method": "plain"}, "invalid_request"),
            ({"code_challenge": "short"}, "invalid_request"),
            ({"prompt": "none"}, "login_required"),
            ({"request": "eyJ..."}, "request_not_supported"),
        ],
    )
    def test_refusals_go_back_to_the_relying_party(self, world: World, change: dict[str, str], error: str) -> None:
        """Once the redirect URI is trusted, a bad request is a redirect with the OAuth error and the state."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        outcome = world.provider.begin_authorization({**params(shop, pkce()[1]), **change})
        assert isinstance(outcome, Redirect) and outcome.error == error
        assert outcome.uri.startswith("https://shop.example/cb?")
        assert query(outcome)["state"] == "st-1" and query(outcome)["iss"] == ISSUER
        assert count(world, oidc_requests) == 0

    def test_pkce_is_required(self, world: World) -> None:
        """No code_challenge, no login: public and confidential clients alike."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        bare = {k: v for k, v in params(shop, "x").items() if not k.startswith("code_challenge")}
        outcome = world.provider.begin_authorization(bare)
        assert isinstance(outcome, Redirect) and outcome.error == "invalid_request"
        assert "PKCE" in query(outcome)["error_description"]

    def test_a_claim_the_party_is_not_registered_for__invalid_scope(self, world: World) -> None:
        """A relying party registered for age only cannot ask for the name."""
        bar, _ = world.party("Bar", "https://bar.example/cb", claims=("age_over_18",))
        outcome = world.provider.begin_authorization(params(bar, pkce()[1], "openid name"))
        assert isinstance(outcome, Redirect) and outcome.error == "invalid_scope"

    def test_a_repeated_parameter__invalid_request(self, world: World) -> None:
        """A parameter sent twice is redirected back as invalid_request rather than one copy picked."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        pairs = [*params(shop, pkce()[1]).items(), ("scope", "openid")]
        outcome = world.provider.begin_authorization(pairs)
        assert isinstance(outcome, Redirect) and outcome.error == "invalid_request"


class TestCodeExchange:
    def test_the_code_buys_tokens_and_a_signed_id_token(self, world: World) -> None:
        """The ID token verifies against the JWKS and names this party, this nonce and this access token."""
        person = world.person()
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, person)
        tokens = exchange(world, shop, creds, code, verifier)
        claims = id_claims(world, tokens, shop)
        assert claims["sub"] == world.provider.subject_at(shop.client_id, person.number)
        assert claims["acr"] == ACR_PASSKEY and claims["amr"] == ["pop"]
        assert claims["at_hash"] == b64url(hashlib.sha256(tokens.access_token.encode()).digest()[:16])
        assert tokens.scope == "openid name" and tokens.token_type == "Bearer"
        assert "name" not in claims  # claims come from userinfo, one logged release at a time

    def test_a_replayed_code__invalid_grant_and_its_tokens_revoked(self, world: World) -> None:
        """RFC 6749 §4.1.2: the second use fails and the first use's tokens stop working."""
        person = world.person()
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, person)
        tokens = exchange(world, shop, creds, code, verifier)
        assert world.provider.userinfo(tokens.access_token)["sub"]
        with pytest.raises(InvalidGrantError) as caught:
            exchange(world, shop, creds, code, verifier)
        assert caught.value.field == "code" and "already used" in str(caught.value)
        with pytest.raises(UnauthenticatedError):
            world.provider.userinfo(tokens.access_token)
        assert count(world, oidc_tokens) == 1
        subject = world.registry.subject_of(person.number)
        outcomes = [e.outcome for _, e in world.log.entries_for_subject(subject)]
        assert "denied: code replayed; its tokens revoked" in outcomes

    def test_a_mismatched_verifier__invalid_grant_and_nothing_changes(self, world: World) -> None:
        """The wrong verifier is refused; the right one still works afterwards."""
        person = world.person()
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, person)
        with pytest.raises(InvalidGrantError) as caught:
            exchange(world, shop, creds, code, pkce()[0])
        assert caught.value.field == "code_verifier"
        assert count(world, oidc_tokens) == 0
        assert exchange(world, shop, creds, code, verifier).access_token

    def test_an_expired_code__invalid_grant_and_nothing_changes(self, world: World) -> None:
        """A code past its lifetime is an invalid grant, issues no token and is not marked used."""
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, world.person())
        world.clock.advance(CODE_TTL_S + 1)
        with pytest.raises(InvalidGrantError) as caught:
            exchange(world, shop, creds, code, verifier)
        assert caught.value.field == "code" and "expired" in str(caught.value)
        assert count(world, oidc_tokens) == 0
        with world.store.transaction() as conn:
            assert conn.scalar(select(oidc_codes.c.used_at_ns)) is None

    def test_a_different_redirect_uri__invalid_grant(self, world: World) -> None:
        """Exchanging a code with another of the client's redirect URIs than it was issued for is an invalid grant."""
        shop = world.provider.clients.register(
            "Shop", ["https://shop.example/a", "https://shop.example/b"], claims=["name"], created_by=world.admin.id
        )
        party, creds = shop.relying_party, ClientCredentials(shop.relying_party.client_id, shop.client_secret)
        code, verifier = login(world, party, world.person())
        with pytest.raises(InvalidGrantError) as caught:
            world.provider.exchange_code(
                creds,
                grant_type="authorization_code",
                code=code,
                redirect_uri="https://shop.example/b",
                code_verifier=verifier,
            )
        assert caught.value.field == "redirect_uri"

    def test_a_wrong_client_secret__unauthenticated_and_the_code_survives(self, world: World) -> None:
        """A wrong or missing secret is unauthenticated and does not burn the code: the right secret still works."""
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, world.person())
        for wrong in (ClientCredentials(shop.client_id, "guess"), ClientCredentials(shop.client_id, None)):
            with pytest.raises(UnauthenticatedError, match="client_secret"):
                exchange(world, shop, wrong, code, verifier)
        assert exchange(world, shop, creds, code, verifier).access_token

    def test_a_code_of_another_client__invalid_grant(self, world: World) -> None:
        """A code issued to one client cannot be exchanged by another, even in the same sector."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        other, other_creds = world.party("Other", "https://shop.example/cb2", sector_id="shop.example")
        code, verifier = login(world, shop, world.person())
        with pytest.raises(InvalidGrantError, match="another client"):
            exchange(world, other, other_creds, code, verifier)

    def test_a_public_client_needs_no_secret_and_may_not_send_one(self, world: World) -> None:
        """A public client exchanges with PKCE alone, and sending a made-up secret is refused."""
        app, creds = world.party("App", "https://app.example/cb", public=True)
        code, verifier = login(world, app, world.person())
        with pytest.raises(UnauthenticatedError, match="public client"):
            exchange(world, app, ClientCredentials(app.client_id, "made-up"), code, verifier)
        assert exchange(world, app, creds, code, verifier).access_token

    def test_only_the_authorization_code_grant(self, world: World) -> None:
        """Any grant type but authorization_code is invalid input on grant_type, not an invalid grant."""
        shop, creds = world.party("Shop", "https://shop.example/cb")
        with pytest.raises(InvalidInputError) as caught:
            world.provider.exchange_code(
                creds, grant_type="password", code="x", redirect_uri=shop.redirect_uris[0], code_verifier="y"
            )
        assert caught.value.field == "grant_type" and not isinstance(caught.value, InvalidGrantError)


class TestPairwiseSubjects:
    def test_sub_is_stable_per_sector_and_differs_across_sectors(self, world: World) -> None:
        """Two logins at one service: one sub. Another sector: another sub. Same sector: the same sub."""
        person = world.person()
        shop, shop_creds = world.party("Shop", "https://shop.example/cb")
        clinic, clinic_creds = world.party("Clinic", "https://clinic.example/cb")
        pharmacy, pharmacy_creds = world.party(
            "Pharmacy", "https://pharmacy.clinic.example/cb", sector_id="clinic.example"
        )
        subs = []
        for party, creds in (
            (shop, shop_creds),
            (shop, shop_creds),
            (clinic, clinic_creds),
            (pharmacy, pharmacy_creds),
        ):
            code, verifier = login(world, party, person)
            subs.append(id_claims(world, exchange(world, party, creds, code, verifier), party)["sub"])
        assert subs[0] == subs[1] and subs[2] == subs[3] and subs[0] != subs[2]
        assert all(person.number not in s for s in subs)

    def test_subjects_and_keys_survive_a_restart(self, world: World) -> None:
        """A new provider over the same key directory gives the same sub and the same JWKS."""
        person = world.person()
        shop, _ = world.party("Shop", "https://shop.example/cb")
        again = OpenIdProvider(
            world.store, world.registry, world.log, world.passkeys, keys_dir=world.keys_dir, issuer=ISSUER
        )
        assert again.subject_at(shop.client_id, person.number) == world.provider.subject_at(
            shop.client_id, person.number
        )
        assert again.jwks() == world.provider.jwks()


class TestMinimalDisclosure:
    def test_only_the_claims_consented_to_are_released(self, world: World) -> None:
        """Asked for name and age, the person ticks age only: userinfo has sub and age, no name, no number."""
        person = world.person()
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, person, "openid name age_over_18", ("age_over_18",))
        tokens = exchange(world, shop, creds, code, verifier)
        info = world.provider.userinfo(tokens.access_token)
        assert set(info) == {"sub", "age_over_18"} and info["age_over_18"] is True
        assert person.number not in repr(info) + tokens.id_token + tokens.access_token

    def test_every_claim_has_its_value(self, world: World) -> None:
        """name as registered; age_over_18 computed on the day; resident while active."""
        minor = world.person("Kofi Mensah", birth_date="2015-01-01")
        shop, creds = world.party("Shop", "https://shop.example/cb")
        scope = "openid name age_over_18 resident"
        code, verifier = login(world, shop, minor, scope, ("name", "age_over_18", "resident"))
        info = world.provider.userinfo(exchange(world, shop, creds, code, verifier).access_token)
        assert info["name"] == "Kofi Mensah" and info["age_over_18"] is False and info["resident"] is True

    def test_consenting_to_a_claim_not_asked_for__refused(self, world: World) -> None:
        """Consent cannot add a claim the party did not ask for, and the request stays open for a valid answer."""
        person = world.person()
        shop, _ = world.party("Shop", "https://shop.example/cb")
        request = begun(world, shop, pkce()[1], "openid age_over_18")
        with pytest.raises(InvalidInputError) as caught:
            answer(world, request, person, ("name",))
        assert caught.value.field == "claims[0]"
        assert answer(world, request, person, ("age_over_18",)).error is None  # the request stayed open


class TestConsent:
    def test_declining__access_denied_and_the_request_closes(self, world: World) -> None:
        """Declining redirects with access_denied and the state, and the request cannot be answered again."""
        shop, _ = world.party("Shop", "https://shop.example/cb")
        request = begun(world, shop, pkce()[1])
        refused = world.provider.refuse_authorization(request.id)
        assert refused.error == "access_denied" and query(refused)["state"] == "st-1"
        with pytest.raises(NotFoundError):
            world.provider.refuse_authorization(request.id)

    def test_a_passkey_not_accepted_leaves_the_request_open(self, world: World) -> None:
        """An answer from a phishing origin fails; the real one then gets through."""
        person = world.person()
        shop, _ = world.party("Shop", "https://shop.example/cb")
        request = begun(world, shop, pkce()[1])
        phished = world.devices[person.number].get(dict(request.webauthn_options), "https://id-example.evil")
        with pytest.raises(UnauthenticatedError):
            world.provider.finish_authorization(request.id, phished, ["name"])
        assert answer(world, request, person, ("name",)).error is None
        with pytest.raises(NotFoundError):
            answer(world, request, person, ("name",))

    def test_an_expired_request__not_found(self, world: World) -> None:
        """A request left unanswered past its lifetime is gone: answering it is not found, expired."""
        person = world.person()
        shop, _ = world.party("Shop", "https://shop.example/cb")
        request = begun(world, shop, pkce()[1])
        world.clock.advance(301)
        with pytest.raises(NotFoundError, match="expired"):
            answer(world, request, person, ("name",))

    def test_high_assurance_asks_for_the_pin(self, world: World) -> None:
        """acr_values=passkey+pin: no PIN is refused, a wrong one is refused and logged, the right one is in acr/amr."""
        person = world.person(pin=True)
        shop, creds = world.party("Shop", "https://shop.example/cb")
        verifier, challenge = pkce()
        request = begun(world, shop, challenge, acr_values=ACR_PASSKEY_PIN)
        assert request.pin_required
        with pytest.raises(InvalidInputError) as caught:
            answer(world, request, person, ("name",))
        assert caught.value.field == "pin"
        with pytest.raises(UnauthenticatedError):
            answer(world, request, person, ("name",), pin="111999")
        request = begun(world, shop, challenge, acr_values=ACR_PASSKEY_PIN)
        code = query(answer(world, request, person, ("name",), pin=PIN))["code"]
        claims = id_claims(world, exchange(world, shop, creds, code, verifier), shop)
        assert claims["acr"] == ACR_PASSKEY_PIN and claims["amr"] == ["pop", "pin", "mfa"]
        outcomes = [e.outcome for _, e in world.log.entries_for_subject(world.registry.subject_of(person.number))]
        assert "denied: PIN not accepted" in outcomes


class TestPersonsWhoMayNotLogIn:
    @pytest.mark.parametrize("status", ["revoked", "deceased"])
    def test_refused_at_login(self, world: World, status: str) -> None:
        """A person whose identity is revoked or closed gets no code: their passkey is refused."""
        person = world.person()
        world.registry.set_status(person.number, status, reason="test", actor=world.officer.id)
        shop, _ = world.party("Shop", "https://shop.example/cb")
        with pytest.raises(UnauthenticatedError, match=status):
            answer(world, begun(world, shop, pkce()[1]), person, ("name",))
        assert count(world, oidc_codes) == 0

    def test_suspended__logs_in_to_tessera_but_not_to_services(self, world: World) -> None:
        """The passkey still works (to appeal at Tessera), but a service gets access_denied, logged."""
        person = world.person()
        world.registry.set_status(person.number, "suspended", reason="test", actor=world.officer.id)
        shop, _ = world.party("Shop", "https://shop.example/cb")
        refused = answer(world, begun(world, shop, pkce()[1]), person, ("name",))
        assert query(refused)["error"] == "access_denied"
        assert count(world, oidc_codes) == 0
        outcomes = [e.outcome for _, e in world.log.entries_for_subject(world.registry.subject_of(person.number))]
        assert "denied: the person is suspended" in outcomes

    def test_suspended_after_login__code_and_token_stop_working(self, world: World) -> None:
        """Suspending a person voids their unredeemed code and their live access token at once."""
        person = world.person()
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, person)
        tokens = exchange(world, shop, creds, *login(world, shop, person))
        world.registry.set_status(person.number, "suspended", reason="test", actor=world.officer.id)
        with pytest.raises(InvalidGrantError):
            exchange(world, shop, creds, code, verifier)
        with pytest.raises(UnauthenticatedError):
            world.provider.userinfo(tokens.access_token)

    def test_reinstated__what_was_granted_before_the_change_stays_dead(self, world: World) -> None:
        """Issue 15: a status change revokes the tokens and expires the codes; reinstating brings neither back."""
        person = world.person()
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, person)
        tokens = exchange(world, shop, creds, *login(world, shop, person))
        world.registry.set_status(person.number, "revoked", reason="test", actor=world.officer.id)
        world.registry.set_status(person.number, "active", reason="revoked in error", actor=world.officer.id)
        with pytest.raises(UnauthenticatedError, match="revoked"):
            world.provider.userinfo(tokens.access_token)
        with pytest.raises(InvalidGrantError, match="expired"):
            exchange(world, shop, creds, code, verifier)
        fresh = exchange(world, shop, creds, *login(world, shop, person))
        assert world.provider.userinfo(fresh.access_token)["name"] == person.name


class TestAccessLog:
    def test_every_login_and_every_release_is_in_the_persons_log(self, world: World) -> None:
        """The login names the service and what was consented; the release names the claims."""
        person = world.person()
        shop, creds = world.party("Shop", "https://shop.example/cb")
        code, verifier = login(world, shop, person, "openid name age_over_18", ("name", "age_over_18"))
        world.provider.userinfo(exchange(world, shop, creds, code, verifier).access_token)
        entries = [e for _, e in world.log.entries_for_subject(world.registry.subject_of(person.number))]
        assert [(e.outcome, e.fields) for e in entries] == [
            ("released", ("sub", "name", "age_over_18")),
            ("logged in; consented to name, age_over_18", ("sub",)),
        ]
        for e in entries:
            assert (e.principal, e.role, e.agency) == (f"rp:{shop.client_id}", "relying_party", "shop.example")
            assert e.purpose == "login to Shop"
            assert person.number not in e.encode().decode()

    def test_unknown_tokens_are_refused(self, world: World) -> None:
        """Empty, random and malformed access tokens are unauthenticated at userinfo."""
        for token in ("", "x" * 43, "not a token"):
            with pytest.raises(UnauthenticatedError):
                world.provider.userinfo(token)
