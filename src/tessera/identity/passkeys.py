"""Passkeys: the internet ID credential, a device-bound key unlocked by the device's biometric or PIN.

Each use is a WebAuthn *ceremony* in two calls: ``begin_*`` stores a single-use challenge
and returns the options for the browser's ``navigator.credentials.create()`` or ``get()``;
``finish_*`` checks the authenticator's answer against it (py_webauthn does the
cryptography) and consumes it. Every passkey must verify its user (biometric or device
PIN), and is discoverable, so that a person can log in without typing their number.

The Tessera number never reaches the authenticator: the WebAuthn user handle is a random
value kept per person in ``passkey_users``.

Binding a passkey needs one of two things. A person who holds a live passkey adds another
(the caller has just logged in with it: checking that is the API's job). A person who
holds none, new or having lost every device, needs a *rebind grant*: a one-time token an
officer issues after checking them in person. A passkey bound with a grant replaces all
the person's others in the same transaction, so a lost or stolen device stops working the
moment the new one is bound.

Failures, and what they raise:

- ``NotFoundError`` (field ``ceremony_id``): a ceremony nobody issued, or one of the other
  kind (a login's id passed to ``finish_registration``);
- ``ConflictError`` (field ``ceremony_id``): a ceremony finished already (a replay);
- ``UnauthenticatedError``: a ceremony past its ``ceremony_ttl_s`` (begin again); an
  answer that does not verify (origin, RP, challenge, signature, no user verification);
  an unknown, revoked or someone else's passkey; a signature counter that went back (a
  cloned key); a person who is not ``active``, at login; a rebind token that is unknown,
  used, expired or another person's;
- ``ForbiddenError``: binding a passkey with no live one and no rebind grant, or for a
  person who is not ``active``;
- ``InvalidInputError``, naming the field: malformed arguments.

A failure changes nothing: the ceremony stays open until it succeeds or expires.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Row, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tessera.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from tessera.identity.numbers import checked_number
from tessera.identity.pin import checked_officer
from tessera.store import (
    CHALLENGE_LENGTH,
    COSE_KEY_MAX,
    CREDENTIAL_ID_MAX,
    PASSKEY_LABEL_MAX,
    USER_HANDLE_LENGTH,
    Store,
    passkey_users,
    passkeys,
    persons,
    rebind_grants,
    webauthn_ceremonies,
)
from tessera.text import checked_text

Clock = Callable[[], int]

CEREMONY_TTL_S_DEFAULT = 5 * 60
CEREMONY_TTL_S_MAX = 30 * 60
CEREMONY_KEEP_S = 60 * 60  # an expired ceremony is kept this long, so a late answer hears "expired"
REBIND_TTL_S_DEFAULT = 15 * 60  # the person binds the new device at the officer's desk
REBIND_TTL_S_MIN = 60  # the shortest grant: a minute at the officer's desk
REBIND_TTL_S_MAX = 7 * 24 * 60 * 60
# A suspended person still logs in to Tessera itself, to read why and to appeal; what they
# may do there (and whether other services accept them: the OIDC provider says no) is
# decided past the login.
LOGIN_STATUSES = ("active", "suspended")
# Why a login begun for a number cannot succeed (Ceremony.refusal).
UNKNOWN_NUMBER = "unknown number"
NOT_LOGGING_IN = "person may not log in"  # revoked or deceased
NO_PASSKEY = "no live passkey"
PASSKEYS_LIVE_MAX = 10  # per person: phones, a laptop, a security key or two
PASSKEYS_LIST_MAX = 100  # the newest; revoked ones stay on record
CREDENTIAL_JSON_MAX = 64 * 1024  # an answer is a few hundred bytes; an attestation chain a few KiB
CREDENTIAL_DEPTH_MAX = 16  # an answer nests 4 levels (clientExtensionResults.prf.results.first)
CREDENTIAL_ID_BYTES_MAX = 1023  # WebAuthn's own limit
ORIGINS_MAX = 16
ORIGIN_CHARS_MAX = 255  # characters: an origin is a scheme, a host and a port, never a whole URL
RP_NAME_MAX = 64
_NS = 1_000_000_000

# ES256 first: every platform authenticator has it. EdDSA and RS256 for security keys and Windows Hello.
ALGORITHMS = (
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
)

# py_webauthn wraps most malformed answers in WebAuthnException, but lets some decoding
# errors through as they are (binascii.Error from base64, struct.error, KeyError).
_MALFORMED = (WebAuthnException, ValueError, TypeError, LookupError, struct.error)

# Matched with fullmatch: "$" would let a trailing newline through.
_CEREMONY_ID = re.compile(r"c_[0-9a-f]{32}")
_REBIND_TOKEN = re.compile(r"trb_[A-Za-z0-9_-]{43}")
_CREDENTIAL_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{CREDENTIAL_ID_MAX}}}")
_RP_ID = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# For the depth of an answer given as JSON text: escapes, then what nests.
_JSON_ESCAPE = re.compile(r"\\.", re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


@dataclass(frozen=True, slots=True)
class Ceremony:
    """A begun ceremony: pass ``options`` to the browser and ``id`` back to ``finish_*``.

    ``options`` is the JSON form of PublicKeyCredentialCreationOptions (registration) or
    PublicKeyCredentialRequestOptions (login), binary values in base64url.
    """

    id: str
    options: dict[str, Any]
    expires_at_ns: int
    # Why a login begun for a number cannot succeed (UNKNOWN_NUMBER, NOT_LOGGING_IN,
    # NO_PASSKEY), for the service's own log; never for the caller, who must not learn it.
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class PasskeyRecord:
    """A bound passkey, as the person sees it in their list; revoked ones stay listed."""

    credential_id: str  # base64url, as WebAuthn's JSON writes it
    number: str
    label: str
    aaguid: str  # the authenticator model; all zeros when it does not say
    transports: tuple[str, ...]
    sign_count: int
    created_at_ns: int
    last_used_at_ns: int | None = None
    revoked_at_ns: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ns is not None


class Passkeys:
    """The WebAuthn relying party for Tessera's internet ID, its state in the store's database.

    ``rp_id`` is the registrable domain the passkeys are scoped to (``id.example.gov``);
    ``origins`` are the exact web origins the ceremonies may run on, each within it.
    """

    def __init__(
        self,
        store: Store,
        rp_id: str,
        rp_name: str,
        origins: Sequence[str],
        *,
        ceremony_ttl_s: int = CEREMONY_TTL_S_DEFAULT,
        clock: Clock = time.time_ns,
    ) -> None:
        if not isinstance(rp_id, str) or not _RP_ID.fullmatch(rp_id):
            raise InvalidInputError("rp_id", f"must be a lowercase domain name, got {rp_id!r:.80}")
        if not isinstance(rp_name, str) or not rp_name.strip() or len(rp_name) > RP_NAME_MAX:
            raise InvalidInputError("rp_name", f"must be 1-{RP_NAME_MAX} characters")
        if isinstance(ceremony_ttl_s, bool) or not isinstance(ceremony_ttl_s, int):
            raise InvalidInputError("ceremony_ttl_s", f"must be an integer, got {ceremony_ttl_s!r:.20}")
        if not 1 <= ceremony_ttl_s <= CEREMONY_TTL_S_MAX:
            raise InvalidInputError("ceremony_ttl_s", f"must be from 1 to {CEREMONY_TTL_S_MAX}, got {ceremony_ttl_s}")
        self._store = store
        self._rp_id = rp_id
        self._rp_name = rp_name
        self._origins = _checked_origins(origins, rp_id)
        self._ttl_s = ceremony_ttl_s
        self._clock = clock

    # --- registration -------------------------------------------------------------------------

    def begin_registration(self, number: str, *, label: str = "", rebind_token: str | None = None) -> Ceremony:
        """Start binding a new passkey to the person.

        Without ``rebind_token`` the person must hold a live passkey, and the caller must have
        just logged in with it. With one (from ``grant_rebind``) the new passkey will replace
        all of the person's others. ``label`` is the person's name for the device.
        """
        number = checked_number(number)
        label = _checked_label(label)
        grant_hash = None if rebind_token is None else _token_hash(rebind_token)
        now = self._clock()
        challenge = secrets.token_bytes(CHALLENGE_LENGTH)
        ceremony_id = "c_" + secrets.token_hex(16)
        expires_at_ns = now + self._ttl_s * _NS
        with self._store.transaction(write=True) as conn:
            name = _active_person_name(conn, number)
            if grant_hash is not None:
                _check_grant(conn, grant_hash, number, now)
            live = _live_passkeys(conn, number)
            if grant_hash is None:
                _check_may_add(live)
            user_handle = self._user_handle(conn, number, now)
            _insert_ceremony(
                conn,
                ceremony_id,
                kind="register",
                number=number,
                challenge=challenge,
                now=now,
                expires_at_ns=expires_at_ns,
                label=label,
                rebind_grant=grant_hash,
            )
        options = generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._rp_name,
            user_id=user_handle,
            # What the device shows in its account chooser: the person's name, never the number.
            user_name=name,
            user_display_name=name,
            challenge=challenge,
            timeout=self._ttl_s * 1000,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            # A rebind replaces every passkey: the old device may bind afresh.
            exclude_credentials=[] if grant_hash is not None else [_descriptor(row) for row in live],
            supported_pub_key_algs=list(ALGORITHMS),
        )
        return Ceremony(ceremony_id, options_to_json_dict(options), expires_at_ns)

    def finish_registration(self, ceremony_id: str, credential: dict[str, Any] | str) -> PasskeyRecord:
        """Check the authenticator's answer to ``begin_registration`` and bind the passkey.

        ``credential`` is the RegistrationResponseJSON (a dict, or its JSON text). A rebind
        revokes the person's other passkeys in the same transaction.
        """
        ceremony_id = _checked_ceremony_id(ceremony_id)
        credential = _checked_credential(credential)
        now = self._clock()
        with self._store.transaction() as conn:
            ceremony = _open_ceremony(conn, ceremony_id, "register", now)
        try:
            parsed: RegistrationCredential = parse_registration_credential_json(credential)
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=ceremony.challenge,
                expected_rp_id=self._rp_id,
                expected_origin=list(self._origins),
                require_user_verification=True,
                supported_pub_key_algs=list(ALGORITHMS),
            )
        except _MALFORMED as exc:
            raise UnauthenticatedError(f"the passkey registration did not verify: {exc}") from exc
        if len(verified.credential_id) > CREDENTIAL_ID_BYTES_MAX:
            raise UnauthenticatedError(f"the credential id is over WebAuthn's {CREDENTIAL_ID_BYTES_MAX} bytes")
        if len(verified.credential_public_key) > COSE_KEY_MAX:
            raise UnauthenticatedError(f"the public key is over {COSE_KEY_MAX} bytes")
        # Hints for the browser on later logins: "internal", "hybrid", ... (py_webauthn drops unknown ones).
        transports = ",".join(sorted({t.value for t in parsed.response.transports or []}))
        record = PasskeyRecord(
            credential_id=bytes_to_base64url(verified.credential_id),
            number=ceremony.number,
            label=ceremony.label,
            aaguid=verified.aaguid,
            transports=tuple(transports.split(",")) if transports else (),
            sign_count=verified.sign_count,
            created_at_ns=now,
        )

        def bound() -> ConflictError | None:
            with self._store.transaction() as conn:
                taken = conn.scalar(select(passkeys.c.number).where(passkeys.c.credential_id == record.credential_id))
            return None if taken is None else ConflictError("credential", "this passkey is bound already")

        with self._store.transaction(write=True, conflict=bound) as conn:
            _consume_ceremony(conn, ceremony_id, "register", now)
            _active_person_name(conn, record.number)
            if ceremony.rebind_grant is not None:
                self._use_grant(conn, ceremony.rebind_grant, record.number, now)
            else:
                # Checked again: the passkey that allowed the start may have been revoked since
                # (the person reported it stolen), and the thief must not bind a successor.
                _check_may_add(_live_passkeys(conn, record.number))
            conn.execute(
                passkeys.insert().values(
                    credential_id=record.credential_id,
                    number=record.number,
                    public_key=verified.credential_public_key,
                    sign_count=record.sign_count,
                    aaguid=record.aaguid,
                    transports=transports,
                    label=record.label,
                    created_at_ns=now,
                    last_used_at_ns=None,
                    revoked_at_ns=None,
                )
            )
        return record

    # --- login --------------------------------------------------------------------------------

    def begin_login(self, number: str | None = None) -> Ceremony:
        """Start a login: the authenticator offers the discoverable passkeys it holds for this site.

        With ``number``, only that person's passkey finishes it. The options are the same
        for every number, registered or not, revoked or without a passkey: they never list
        the person's credentials (each Tessera passkey is discoverable, so the device needs
        no list), and a login that cannot succeed fails only at the finish, as another
        person's passkey would. ``Ceremony.refusal`` says why, for the service's own log.
        """
        if number is not None:
            number = checked_number(number)
        now = self._clock()
        challenge = secrets.token_bytes(CHALLENGE_LENGTH)
        ceremony_id = "c_" + secrets.token_hex(16)
        expires_at_ns = now + self._ttl_s * _NS
        refusal = None
        with self._store.transaction(write=True) as conn:
            if number is not None:
                refusal = _login_refusal(conn, number)
            known = refusal != UNKNOWN_NUMBER
            _insert_ceremony(
                conn,
                ceremony_id,
                kind="login",
                # ``number`` must name a person: a number nobody holds waits in ``label`` (a
                # login has no label of its own), so its finish refuses every passkey.
                number=number if known else None,
                label="" if known or number is None else number,
                challenge=challenge,
                now=now,
                expires_at_ns=expires_at_ns,
            )
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=challenge,
            timeout=self._ttl_s * 1000,
            allow_credentials=[],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return Ceremony(ceremony_id, options_to_json_dict(options), expires_at_ns, refusal)

    def finish_login(self, ceremony_id: str, credential: dict[str, Any] | str) -> str:
        """Check the authenticator's answer to ``begin_login``; the number of the person it proves.

        ``credential`` is the AuthenticationResponseJSON (a dict, or its JSON text). Any
        failure of the answer raises ``UnauthenticatedError`` saying why.
        """
        ceremony_id = _checked_ceremony_id(ceremony_id)
        credential = _checked_credential(credential)
        now = self._clock()
        try:
            parsed: AuthenticationCredential = parse_authentication_credential_json(credential)
        except _MALFORMED as exc:
            raise UnauthenticatedError(f"the passkey answer is malformed: {exc}") from exc
        credential_id = bytes_to_base64url(parsed.raw_id)
        with self._store.transaction() as conn:
            ceremony = _open_ceremony(conn, ceremony_id, "login", now)
            key = conn.execute(
                select(passkeys, passkey_users.c.user_handle)
                .join(passkey_users, passkey_users.c.number == passkeys.c.number)
                .where(passkeys.c.credential_id == credential_id)
            ).first()
            if key is None:
                raise UnauthenticatedError("the passkey is not bound to anyone here")
            if key.revoked_at_ns is not None:
                raise UnauthenticatedError("the passkey was revoked")
            begun_for = ceremony.number or ceremony.label or None  # see begin_login
            if begun_for is not None and key.number != begun_for:
                raise UnauthenticatedError("the passkey is not this person's")
            handle = parsed.response.user_handle
            if handle is not None and handle != key.user_handle:
                raise UnauthenticatedError("the passkey's user handle does not match its person")
            _check_may_log_in(conn, key.number)
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=ceremony.challenge,
                expected_rp_id=self._rp_id,
                expected_origin=list(self._origins),
                credential_public_key=key.public_key,
                # Zero turns py_webauthn's own counter check off: ours, below, runs only on
                # a verified signature and says what a counter that went back means.
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except _MALFORMED as exc:
            raise UnauthenticatedError(f"the passkey answer did not verify: {exc}") from exc
        new_count = verified.new_sign_count
        if _counter_went_back(key.sign_count, new_count):
            raise UnauthenticatedError(
                f"the passkey's signature counter did not go up ({new_count} after {key.sign_count}): "
                "the key may have been cloned; refused"
            )
        with self._store.transaction(write=True) as conn:
            _consume_ceremony(conn, ceremony_id, "login", now)
            # The counter is compared again in the update: a login that raced this one
            # may have moved it, or the passkey may have been revoked meanwhile.
            counter_ok = passkeys.c.sign_count == 0 if new_count == 0 else passkeys.c.sign_count < new_count
            done = conn.execute(
                update(passkeys)
                .where(passkeys.c.credential_id == credential_id, passkeys.c.revoked_at_ns.is_(None), counter_ok)
                .values(sign_count=new_count, last_used_at_ns=now)
            )
            if done.rowcount != 1:
                raise UnauthenticatedError("the passkey was revoked, or used with a higher counter, meanwhile")
        return str(key.number)

    # --- managing passkeys ----------------------------------------------------------------------

    def list_passkeys(self, number: str) -> list[PasskeyRecord]:
        """The person's passkeys, newest first, revoked ones included (at most ``PASSKEYS_LIST_MAX``)."""
        number = checked_number(number)
        query = (
            select(passkeys)
            .where(passkeys.c.number == number)
            .order_by(passkeys.c.created_at_ns.desc(), passkeys.c.credential_id)
            .limit(PASSKEYS_LIST_MAX)
        )
        with self._store.transaction() as conn:
            _person_status(conn, number)
            return [_record_of(row) for row in conn.execute(query)]

    def revoke_passkey(self, number: str, credential_id: str) -> None:
        """Revoke one of the person's passkeys; revoking a revoked one changes nothing."""
        number = checked_number(number)
        if not isinstance(credential_id, str) or not _CREDENTIAL_ID.fullmatch(credential_id):
            raise InvalidInputError("credential_id", f"must be base64url, at most {CREDENTIAL_ID_MAX} characters")
        with self._store.transaction(write=True) as conn:
            owner = conn.scalar(select(passkeys.c.number).where(passkeys.c.credential_id == credential_id))
            if owner != number:
                raise NotFoundError("credential_id", f"{number} has no passkey {credential_id}")
            conn.execute(
                update(passkeys)
                .where(passkeys.c.credential_id == credential_id, passkeys.c.revoked_at_ns.is_(None))
                .values(revoked_at_ns=self._clock())
            )

    def grant_rebind(self, number: str, officer_principal_id: str, *, ttl_s: int = REBIND_TTL_S_DEFAULT) -> str:
        """A one-time token that lets the person bind a passkey replacing all their others.

        Call it only after checking the person in person (1:1 biometric verification). Only
        the newest grant works: issuing one cuts the person's earlier grants short.
        """
        number = checked_number(number)
        officer_id = checked_officer(self._store, officer_principal_id, "officer_principal_id")
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not REBIND_TTL_S_MIN <= ttl_s <= REBIND_TTL_S_MAX:
            raise InvalidInputError(
                "ttl_s", f"must be an integer from {REBIND_TTL_S_MIN} to {REBIND_TTL_S_MAX}, got {ttl_s!r:.20}"
            )
        token = "trb_" + secrets.token_urlsafe(32)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            _active_person_name(conn, number)
            conn.execute(
                update(rebind_grants)
                .where(
                    rebind_grants.c.number == number,
                    rebind_grants.c.used_at_ns.is_(None),
                    rebind_grants.c.expires_at_ns > now,
                )
                .values(expires_at_ns=now)
            )
            conn.execute(
                rebind_grants.insert().values(
                    token_hash=_token_hash(token),
                    number=number,
                    officer_id=officer_id,
                    created_at_ns=now,
                    expires_at_ns=now + ttl_s * _NS,
                    used_at_ns=None,
                )
            )
        return token

    # --- plumbing -------------------------------------------------------------------------------

    def _user_handle(self, conn: Connection, number: str, now: int) -> bytes:
        """The person's WebAuthn user handle, made on first use."""
        values = {"number": number, "user_handle": secrets.token_bytes(USER_HANDLE_LENGTH), "created_at_ns": now}
        # ON CONFLICT DO NOTHING: a registration begun in parallel may have made it first.
        insert = (postgresql.insert if self._store.dialect == "postgresql" else sqlite.insert)(passkey_users)
        conn.execute(insert.values(values).on_conflict_do_nothing(index_elements=["number"]))
        return bytes(
            conn.execute(select(passkey_users.c.user_handle).where(passkey_users.c.number == number)).scalar_one()
        )

    def _use_grant(self, conn: Connection, grant_hash: bytes, number: str, now: int) -> None:
        """Spend the rebind grant and revoke every passkey the person had."""
        done = conn.execute(
            update(rebind_grants)
            .where(
                rebind_grants.c.token_hash == grant_hash,
                rebind_grants.c.used_at_ns.is_(None),
                rebind_grants.c.expires_at_ns > now,
            )
            .values(used_at_ns=now)
        )
        if done.rowcount != 1:
            raise UnauthenticatedError("rebind_token: the grant was used, expired or replaced meanwhile")
        conn.execute(
            update(passkeys)
            .where(passkeys.c.number == number, passkeys.c.revoked_at_ns.is_(None))
            .values(revoked_at_ns=now)
        )


# --- ceremonies -------------------------------------------------------------------------------


def _open_ceremony(conn: Connection, ceremony_id: str, kind: str, now: int) -> Row[Any]:
    """The ceremony, if it is of ``kind``, unused and unexpired; else the error that says which."""
    row = conn.execute(select(webauthn_ceremonies).where(webauthn_ceremonies.c.id == ceremony_id)).first()
    if row is None or row.kind != kind:
        raise NotFoundError("ceremony_id", f"no {kind} ceremony {ceremony_id}")
    if row.used_at_ns is not None:
        raise ConflictError("ceremony_id", "the ceremony was finished already; begin a new one")
    if now >= row.expires_at_ns:
        raise UnauthenticatedError("the ceremony expired; begin a new one")
    return row


def _consume_ceremony(conn: Connection, ceremony_id: str, kind: str, now: int) -> None:
    """Mark the ceremony used, unless a parallel finish got there first."""
    done = conn.execute(
        update(webauthn_ceremonies)
        .where(
            webauthn_ceremonies.c.id == ceremony_id,
            webauthn_ceremonies.c.used_at_ns.is_(None),
            webauthn_ceremonies.c.expires_at_ns > now,
        )
        .values(used_at_ns=now)
    )
    if done.rowcount != 1:
        _open_ceremony(conn, ceremony_id, kind, now)  # raises the error that says why
        raise ConflictError("ceremony_id", "the ceremony was finished already; begin a new one")


def _purge_ceremonies(conn: Connection, now: int) -> None:
    conn.execute(delete(webauthn_ceremonies).where(webauthn_ceremonies.c.expires_at_ns < now - CEREMONY_KEEP_S * _NS))


def _insert_ceremony(
    conn: Connection,
    ceremony_id: str,
    *,
    kind: str,
    number: str | None,
    challenge: bytes,
    now: int,
    expires_at_ns: int,
    label: str = "",
    rebind_grant: bytes | None = None,
) -> None:
    """Store a begun ceremony, first dropping those long expired (so the table stays small)."""
    _purge_ceremonies(conn, now)
    conn.execute(
        webauthn_ceremonies.insert().values(
            id=ceremony_id,
            kind=kind,
            number=number,
            challenge=challenge,
            label=label,
            rebind_grant=rebind_grant,
            created_at_ns=now,
            expires_at_ns=expires_at_ns,
            used_at_ns=None,
        )
    )


# --- persons, passkeys and grants ---------------------------------------------------------------


def _person_status(conn: Connection, number: str) -> tuple[str, str]:
    """The person's status and name; NotFoundError if there is no such person."""
    row = conn.execute(select(persons.c.status, persons.c.name).where(persons.c.number == number)).first()
    if row is None:
        raise NotFoundError("number", f"no person {number}")
    return str(row.status), str(row.name)


def _active_person_name(conn: Connection, number: str) -> str:
    """The person's name; ForbiddenError unless they are active."""
    status, name = _person_status(conn, number)
    if status != "active":
        raise ForbiddenError(f"the person is {status}: no credential may be bound")
    return name


def _login_refusal(conn: Connection, number: str) -> str | None:
    """Why a login for ``number`` cannot succeed, or None; the same two reads whatever the answer."""
    status = conn.scalar(select(persons.c.status).where(persons.c.number == number))
    live = _live_passkeys(conn, number)
    if status is None:
        return UNKNOWN_NUMBER
    if status not in LOGIN_STATUSES:
        return NOT_LOGGING_IN
    return None if live else NO_PASSKEY


def _check_may_log_in(conn: Connection, number: str) -> None:
    status, _ = _person_status(conn, number)
    if status not in LOGIN_STATUSES:
        raise UnauthenticatedError(f"the person is {status}: their credentials are refused")


def _live_passkeys(conn: Connection, number: str) -> list[Row[Any]]:
    query = (
        select(passkeys.c.credential_id, passkeys.c.transports)
        .where(passkeys.c.number == number, passkeys.c.revoked_at_ns.is_(None))
        .order_by(passkeys.c.created_at_ns)
        .limit(PASSKEYS_LIVE_MAX + 1)
    )
    return list(conn.execute(query))


def _check_may_add(live: list[Row[Any]]) -> None:
    """A passkey added without a rebind grant: the person holds one, and not too many."""
    if not live:
        raise ForbiddenError(
            "the person holds no live passkey: binding one needs a rebind grant from an officer "
            "after an in-person check"
        )
    if len(live) >= PASSKEYS_LIVE_MAX:
        raise ConflictError("number", f"the person holds {PASSKEYS_LIVE_MAX} live passkeys; revoke one first")


def _check_grant(conn: Connection, grant_hash: bytes, number: str, now: int) -> None:
    grant = conn.execute(select(rebind_grants).where(rebind_grants.c.token_hash == grant_hash)).first()
    if grant is None or grant.number != number:
        raise UnauthenticatedError("rebind_token: no such grant for this person")
    if grant.used_at_ns is not None:
        raise UnauthenticatedError("rebind_token: the grant was used already")
    if now >= grant.expires_at_ns:
        raise UnauthenticatedError("rebind_token: the grant expired, or a newer one replaced it")


def _counter_went_back(stored: int, received: int) -> bool:
    """WebAuthn's clone check: a counter in use must grow; authenticators without one send 0 always."""
    return (stored > 0 or received > 0) and received <= stored


def _descriptor(row: Row[Any]) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in row.transports.split(",") if t]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(row.credential_id), transports=transports or None)


def _record_of(row: Row[Any]) -> PasskeyRecord:
    return PasskeyRecord(
        credential_id=row.credential_id,
        number=row.number,
        label=row.label,
        aaguid=row.aaguid,
        transports=tuple(t for t in row.transports.split(",") if t),
        sign_count=row.sign_count,
        created_at_ns=row.created_at_ns,
        last_used_at_ns=row.last_used_at_ns,
        revoked_at_ns=row.revoked_at_ns,
    )


# --- arguments ----------------------------------------------------------------------------------


def _checked_origins(value: object, rp_id: str) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes) or not 1 <= len(value) <= ORIGINS_MAX:
        raise InvalidInputError("origins", f"must be a list of 1-{ORIGINS_MAX} origins")
    origins = []
    for i, origin in enumerate(value):
        field = f"origins[{i}]"
        if not isinstance(origin, str) or len(origin) > ORIGIN_CHARS_MAX:
            raise InvalidInputError(field, "must be an origin such as https://id.example.gov")
        parts = urlsplit(origin)
        host = parts.hostname or ""
        if parts.path or parts.query or parts.fragment or parts.username or origin != origin.strip():
            raise InvalidInputError(field, "an origin is scheme://host[:port], nothing more")
        if parts.scheme != "https" and not (parts.scheme == "http" and host == "localhost"):
            raise InvalidInputError(field, "must be https (http only for localhost)")
        if host != rp_id and not host.endswith("." + rp_id):
            raise InvalidInputError(field, f"{host!r} is not {rp_id} or a subdomain of it")
        origins.append(origin)
    return tuple(origins)


def _checked_label(value: object) -> str:
    """The device's name as the person will read it (an officer may set it at a re-binding): nothing hidden."""
    return checked_text(value, "label", PASSKEY_LABEL_MAX)


def _checked_ceremony_id(value: object) -> str:
    if not isinstance(value, str) or not _CEREMONY_ID.fullmatch(value):
        raise InvalidInputError("ceremony_id", f"must be 'c_' and 32 hex digits, got {value!r:.40}")
    return value


def _checked_credential(value: object) -> dict[str, Any] | str:
    """The authenticator's answer, within size and depth; what it says is py_webauthn's to judge.

    Depth first: ``json`` recurses, so an answer nested a thousand deep would stop the
    size check, or py_webauthn's parser, with a RecursionError instead of a refusal.
    """
    if isinstance(value, str):
        if len(value) > CREDENTIAL_JSON_MAX:
            raise InvalidInputError("credential", f"is over {CREDENTIAL_JSON_MAX} bytes")
        if _text_depth(value) > CREDENTIAL_DEPTH_MAX:
            raise InvalidInputError("credential", f"nests deeper than {CREDENTIAL_DEPTH_MAX} levels")
        return value
    if not isinstance(value, dict):
        raise InvalidInputError("credential", "must be a WebAuthn response: a dict or its JSON text")
    if _depth(value) > CREDENTIAL_DEPTH_MAX:
        raise InvalidInputError("credential", f"nests deeper than {CREDENTIAL_DEPTH_MAX} levels")
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError):
        raise InvalidInputError("credential", "must be JSON: a WebAuthn response object") from None
    if size > CREDENTIAL_JSON_MAX:
        raise InvalidInputError("credential", f"is over {CREDENTIAL_JSON_MAX} bytes")
    return value


def _depth(value: object) -> int:
    """How deep dicts and lists nest in ``value``, walked without recursion; the walk stops once past the limit."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > CREDENTIAL_DEPTH_MAX:
                break
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _text_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text, brackets in strings not counted (escapes dropped first)."""
    outside = "".join(_JSON_ESCAPE.sub("", text).split('"')[::2])
    deepest = depth = 0
    for char in _JSON_BRACKET.findall(outside):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _token_hash(token: object) -> bytes:
    if not isinstance(token, str) or not _REBIND_TOKEN.fullmatch(token):
        raise InvalidInputError("rebind_token", "must be a token from grant_rebind ('trb_' and 43 characters)")
    # SHA-256, not a slow hash: the token has 256 random bits, nothing to guess.
    return hashlib.sha256(token.encode()).digest()
