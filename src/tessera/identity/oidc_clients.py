"""Relying parties of the OpenID provider: registration, exact redirect URIs, client authentication.

A relying party is registered by an admin with the redirect URIs it may use, matched
character for character (no prefixes, no wildcards: OAuth 2.0 Security BCP §4.1), and the
claims it may ever ask for. Its *sector* keys the pairwise subjects it sees: by default the
host of its redirect URIs, so two services on different hosts never see the same ``sub``.

A sector is assigned or verified, never taken on trust: a named sector must be the host of
every redirect URI or a domain above each (``clinic.example`` for
``https://app.clinic.example/cb``), so a service cannot name another's sector and be given
its people's ``sub``. OpenID Connect Core §8.1 proves the same with a
``sector_identifier_uri`` fetched over https; this provider fetches nothing, so it checks
the hosts instead. Two relying parties share a sector, and a ``sub``, only when the owner
of that domain put both of them under it.

A confidential client gets a secret, shown once and stored as a SHA-256 hash (it is 256
random bits: a slow hash would add nothing, as for API keys); a public client (a phone
app, a single-page app) has none and proves itself with PKCE alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Row, select, update

from tessera.errors import ConflictError, InvalidInputError, NotFoundError, UnauthenticatedError
from tessera.store import REDIRECT_URI_MAX, RP_NAME_MAX, SECTOR_ID_MAX, Store, principals, relying_parties
from tessera.text import checked_text, shows_letter_or_digit

Clock = Callable[[], int]

# The claims a relying party may ask for, each as a scope of the same name, and how the
# consent page says it. The Tessera number is not among them, and never will be.
CLAIMS: dict[str, str] = {
    "name": "your name, as the registry has it",
    "age_over_18": "whether you are 18 or older (yes or no; not your birth date)",
    "resident": "whether you are a registered resident in good standing (yes or no)",
}
REDIRECT_URIS_MAX = 10
SECTOR_PARTIES_MAX = 100  # listed to the admin who adds one more
CLIENT_SECRET_BYTES = 32
# Plain http is for development only: a browser on the same machine, or the test client.
DEVELOPMENT_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "testserver"})

_CLIENT_ID = re.compile(r"rp_[0-9a-f]{16}")
_SECTOR_ID = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_PRINCIPAL_ID = re.compile(r"p_[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """A service people log in to. ``public`` clients have no secret and rely on PKCE alone."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    sector_id: str
    claims: tuple[str, ...]
    public: bool
    created_by: str
    created_at_ns: int
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Registration:
    """A newly registered relying party and its client secret, shown this once (None for a public client)."""

    relying_party: RelyingParty
    client_secret: str | None


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a client presented at the token endpoint: HTTP Basic or form fields, already unpacked."""

    client_id: str | None
    client_secret: str | None = None


class RelyingParties:
    """The registered relying parties, in the store's database."""

    def __init__(self, store: Store, clock: Clock = time.time_ns) -> None:
        self._store = store
        self._clock = clock

    def register(
        self,
        name: str,
        redirect_uris: Sequence[str],
        *,
        claims: Sequence[str] = (),
        public: bool = False,
        sector_id: str | None = None,
        created_by: str,
    ) -> Registration:
        """Register a relying party; the secret comes back once, and only its hash is kept."""
        name = _checked_name(name)
        uris = checked_redirect_uris(redirect_uris)
        allowed = checked_claims(claims, "claims")
        if not isinstance(public, bool):
            raise InvalidInputError("public", "must be true or false")
        sector = _checked_sector(sector_id, uris)
        if not isinstance(created_by, str) or not _PRINCIPAL_ID.fullmatch(created_by):
            raise InvalidInputError("created_by", "must be a principal id: 'p_' and 16 hex digits")
        secret = None if public else secrets.token_urlsafe(CLIENT_SECRET_BYTES)
        party = RelyingParty(
            client_id="rp_" + secrets.token_hex(8),
            name=name,
            redirect_uris=uris,
            sector_id=sector,
            claims=allowed,
            public=public,
            created_by=created_by,
            created_at_ns=self._clock(),
        )

        def conflict() -> ConflictError | None:
            # The name is the only constraint left to break: the principal was checked above.
            if self._row_named(name) is not None:
                return ConflictError("name", f"a relying party is already named {name!r}")
            return None

        with self._store.transaction(write=True, conflict=conflict) as conn:
            if conn.scalar(select(principals.c.id).where(principals.c.id == created_by)) is None:
                raise NotFoundError("created_by", f"no principal {created_by}")
            conn.execute(
                relying_parties.insert().values(
                    client_id=party.client_id,
                    name=party.name,
                    secret_hash=None if secret is None else secret_hash(secret),
                    redirect_uris=json.dumps(list(uris)),
                    sector_id=sector,
                    claims=json.dumps(list(allowed)),
                    created_by=created_by,
                    created_at_ns=party.created_at_ns,
                    disabled=False,
                )
            )
        return Registration(party, secret)

    def get(self, client_id: str) -> RelyingParty | None:
        """The relying party with this client id, disabled or not; None if there is none."""
        row = self._row(client_id)
        return None if row is None else _party_of(row)

    def in_sector(self, sector_id: str) -> list[RelyingParty]:
        """The enabled relying parties of a sector, oldest first: those that see the same ``sub`` of a person."""
        with self._store.transaction() as conn:
            rows = conn.execute(
                select(relying_parties)
                .where(relying_parties.c.sector_id == sector_id, relying_parties.c.disabled.is_(False))
                .order_by(relying_parties.c.created_at_ns, relying_parties.c.client_id)
                .limit(SECTOR_PARTIES_MAX)
            )
            return [_party_of(row) for row in rows]

    def disable(self, client_id: str) -> None:
        """Stop a relying party for good: no new logins, its codes and tokens stop working."""
        client_id = checked_client_id(client_id)
        with self._store.transaction(write=True) as conn:
            done = conn.execute(
                update(relying_parties).where(relying_parties.c.client_id == client_id).values(disabled=True)
            )
            if done.rowcount == 0:
                raise NotFoundError("client_id", f"no relying party {client_id}")

    def authenticate(self, credentials: ClientCredentials) -> RelyingParty:
        """The enabled relying party these credentials prove, or UnauthenticatedError (OAuth's invalid_client).

        A confidential client must present its secret; a public one must present none.
        """
        if not isinstance(credentials, ClientCredentials):
            raise InvalidInputError("client", "must be ClientCredentials")
        client_id, secret = credentials.client_id, credentials.client_secret
        if not client_id:
            raise UnauthenticatedError("client_id: the client did not identify itself (HTTP Basic or client_id)")
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            raise UnauthenticatedError("client_id: no such client")
        row = self._row(client_id)
        if row is None or row.disabled:
            raise UnauthenticatedError("client_id: no such client")
        if secret is not None and not isinstance(secret, str):
            raise UnauthenticatedError("client_secret: must be text")
        if row.secret_hash is None:
            if secret:
                raise UnauthenticatedError("client_secret: a public client has no secret")
        elif not secret or not hmac.compare_digest(secret_hash(secret), bytes(row.secret_hash)):
            raise UnauthenticatedError("client_secret: wrong secret for this client")
        return _party_of(row)

    def _row(self, client_id: str) -> Row[Any] | None:
        client_id = checked_client_id(client_id)
        with self._store.transaction() as conn:
            return conn.execute(select(relying_parties).where(relying_parties.c.client_id == client_id)).first()

    def _row_named(self, name: str) -> Row[Any] | None:
        with self._store.transaction() as conn:
            return conn.execute(select(relying_parties.c.client_id).where(relying_parties.c.name == name)).first()


# --- checks ----------------------------------------------------------------------------------------


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def checked_client_id(value: object, field: str = "client_id") -> str:
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise InvalidInputError(field, f"must be 'rp_' and 16 hex digits, got {value!r:.40}")
    return value


def checked_claims(value: object, field: str) -> tuple[str, ...]:
    """Known claim names, each once, in the order given."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvalidInputError(field, "must be a list of claim names")
    if len(value) > len(CLAIMS):
        raise InvalidInputError(field, f"at most {len(CLAIMS)} claims: {', '.join(CLAIMS)}")
    found: list[str] = []
    for i, claim in enumerate(value):
        if claim not in CLAIMS:
            raise InvalidInputError(f"{field}[{i}]", f"must be one of {', '.join(CLAIMS)}, got {claim!r:.40}")
        if claim not in found:
            found.append(claim)
    return tuple(found)


def checked_redirect_uris(value: object) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvalidInputError("redirect_uris", "must be a list of URLs")
    if not 1 <= len(value) <= REDIRECT_URIS_MAX:
        raise InvalidInputError("redirect_uris", f"must hold 1-{REDIRECT_URIS_MAX} URLs, got {len(value)}")
    uris = tuple(checked_redirect_uri(v, f"redirect_uris[{i}]") for i, v in enumerate(value))
    if len(set(uris)) != len(uris):
        raise InvalidInputError("redirect_uris", "must not repeat a URL")
    return uris


def checked_redirect_uri(value: object, field: str) -> str:
    """An absolute https URL without fragment or credentials (http only on development hosts)."""
    if not isinstance(value, str) or not 1 <= len(value) <= REDIRECT_URI_MAX:
        raise InvalidInputError(field, f"must be a URL of 1-{REDIRECT_URI_MAX} characters")
    if not value.isascii() or any(c.isspace() or not " " <= c <= "~" for c in value):
        raise InvalidInputError(field, "must be ASCII without spaces or control characters (percent-encode the rest)")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        raise InvalidInputError(field, f"is not a URL: {value!r:.80}") from None
    if "#" in value:
        raise InvalidInputError(field, "must not have a fragment (RFC 6749 §3.1.2)")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(field, "must not carry a user name or password")
    if not host:
        raise InvalidInputError(field, "must be an absolute URL with a host")
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and host in DEVELOPMENT_HOSTS):
        raise InvalidInputError(field, "must be https (plain http only for localhost, 127.0.0.1, ::1 or testserver)")
    return value


def _checked_sector(value: object, uris: tuple[str, ...]) -> str:
    """The sector: assigned (the redirect URIs' one host), or named and holding every redirect host.

    A host lies in a sector when it is the sector or a name below it. An IP address or a
    one-label name (``localhost``) lies only in itself: nothing above it belongs to anyone.
    """
    hosts = sorted({str(urlsplit(u).hostname).lower() for u in uris})  # checked as part of a URL already
    if value is None:
        if len(hosts) != 1:
            raise InvalidInputError("sector_id", "is required when the redirect URIs are on different hosts")
        return hosts[0]
    if not isinstance(value, str) or len(value) > SECTOR_ID_MAX or not _SECTOR_ID.fullmatch(value.lower()):
        raise InvalidInputError("sector_id", f"must be a DNS host name, got {value!r:.60}")
    sector = value.lower()
    for host in hosts:
        if host != sector and not (host.endswith("." + sector) and "." in sector and not _is_ip(host)):
            raise InvalidInputError(
                "sector_id",
                f"{sector} must be the host of every redirect URI or a domain above it; {host} is not in it",
            )
    return sector


def _is_ip(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _checked_name(value: object) -> str:
    """The name the consent page shows: all of it seen, and a letter or digit among it.

    A right-to-left override could make one service read as another, and a name of Hangul
    fillers or variation selectors shows as nothing at all (``tessera.text``).
    """
    name = checked_text(value, "name", RP_NAME_MAX)
    if not shows_letter_or_digit(name):
        raise InvalidInputError("name", "must show a letter or digit (invisible characters and fillers do not count)")
    return name


def _party_of(row: Row[Any]) -> RelyingParty:
    return RelyingParty(
        client_id=row.client_id,
        name=row.name,
        redirect_uris=tuple(json.loads(row.redirect_uris)),
        sector_id=row.sector_id,
        claims=tuple(json.loads(row.claims)),
        public=row.secret_hash is None,
        created_by=row.created_by,
        created_at_ns=row.created_at_ns,
        disabled=bool(row.disabled),
    )
