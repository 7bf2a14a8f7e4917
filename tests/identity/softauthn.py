"""A software passkey authenticator and its browser, for tests: what a phone does, in memory.

``SoftAuthenticator`` plays both halves of ``navigator.credentials``: it reads the JSON
options a relying party sends (``Ceremony.options``), makes or uses a P-256 (ES256) key,
and returns the JSON the browser would post back (``RegistrationResponseJSON`` and
``AuthenticationResponseJSON``). Every credential is discoverable (resident), attestation
is ``none``, and each use adds one to the credential's signature counter::

    device = SoftAuthenticator()
    ceremony = passkeys.begin_registration(number, rebind_token=token)
    passkeys.finish_registration(ceremony.id, device.create(ceremony.options, ORIGIN))
    ceremony = passkeys.begin_login()
    assert passkeys.finish_login(ceremony.id, device.get(ceremony.options, ORIGIN)) == number

To misbehave: pass another ``origin`` (a phishing site), ``rp_id=`` (a key scoped to
another site), set ``user_verified = False`` (the device skipped its biometric), or
``clone()`` the device and use the copy after the original (a cloned key's counter goes
back); ``set_counter`` moves a counter directly. ``counter=False`` makes a device that,
like many synced passkeys, always reports 0.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    Aaguid,
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

# A made-up authenticator model: tests can tell it from Aaguid.NONE.
SOFT_AAGUID = Aaguid.parse("7e55e4a0-0000-4000-8000-50f7a07e0000")
Flag = AuthenticatorData.FLAG


class AuthenticatorError(Exception):
    """The authenticator refuses, as a browser's DOMException would (NotAllowedError, InvalidStateError)."""


@dataclass
class SoftCredential:
    """One resident credential: its key, the site and user it belongs to, and its counter."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    user_name: str
    counter: int = 0

    @property
    def id(self) -> str:
        """The credential id as WebAuthn's JSON writes it (base64url, no padding)."""
        return websafe_encode(self.credential_id)


class SoftAuthenticator:
    """A platform authenticator in memory: ES256 keys, resident credentials, user verification."""

    def __init__(self, *, user_verified: bool = True, counter: bool = True, aaguid: Aaguid = SOFT_AAGUID) -> None:
        self.user_verified = user_verified  # False: the device skipped its biometric or PIN
        self.counter = counter  # False: always report 0, as many synced passkeys do
        self.aaguid = aaguid
        self.credentials: dict[bytes, SoftCredential] = {}

    def create(self, options: dict[str, Any], origin: str, *, rp_id: str | None = None) -> dict[str, Any]:
        """``navigator.credentials.create()``: a new credential, as RegistrationResponseJSON.

        ``rp_id`` overrides the options' RP id in the authenticator data (a key for another site).
        """
        rp_id = rp_id or options["rp"]["id"]
        if not any(p["alg"] == ES256.ALGORITHM for p in options["pubKeyCredParams"]):
            raise AuthenticatorError("NotSupportedError: the relying party does not accept ES256")
        excluded = {websafe_decode(c["id"]) for c in options.get("excludeCredentials", [])}
        if excluded & set(self.credentials):
            raise AuthenticatorError("InvalidStateError: this device holds an excluded credential")
        key = ec.generate_private_key(ec.SECP256R1())
        user = options["user"]
        user_handle = websafe_decode(user["id"])
        # A new credential for the same site and user replaces the old one on the device.
        for old in [c for c in self.credentials.values() if c.rp_id == rp_id and c.user_handle == user_handle]:
            del self.credentials[old.credential_id]
        credential = SoftCredential(secrets.token_bytes(32), key, rp_id, user_handle, user["name"])
        self.credentials[credential.credential_id] = credential
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.CREATE, challenge=options["challenge"], origin=origin
        )
        public_key = ES256.from_cryptography_key(key.public_key())  # type: ignore[no-untyped-call]  # fido2 leaves it bare
        attested = AttestedCredentialData.create(self.aaguid, credential.credential_id, public_key)
        auth_data = AuthenticatorData.create(
            hashlib.sha256(rp_id.encode()).digest(), self._flags() | Flag.AT, credential.counter, attested
        )
        attestation = AttestationObject.create("none", auth_data, {})
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "attestationObject": websafe_encode(attestation),
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self, options: dict[str, Any], origin: str, *, credential_id: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """``navigator.credentials.get()``: an assertion, as AuthenticationResponseJSON.

        Uses the first credential in ``allowCredentials`` this device holds or, when the list
        is empty (a discoverable login), the device's first credential for the site;
        ``credential_id`` picks one instead, as a person would in the account chooser.
        """
        rp_id = rp_id or options["rpId"]
        credential = self._choose(options, rp_id, credential_id)
        if self.counter:
            credential.counter += 1
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.GET, challenge=options["challenge"], origin=origin
        )
        auth_data = AuthenticatorData.create(hashlib.sha256(rp_id.encode()).digest(), self._flags(), credential.counter)
        signature = credential.private_key.sign(auth_data + client_data.hash, ec.ECDSA(hashes.SHA256()))
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(auth_data),
                "signature": websafe_encode(signature),
                "userHandle": websafe_encode(credential.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def clone(self) -> SoftAuthenticator:
        """A copy of this device, keys and counters included: what an attacker who extracted the keys holds."""
        return copy.deepcopy(self)

    def set_counter(self, credential_id: str, value: int) -> None:
        """Move a credential's signature counter, e.g. backwards; its next use reports ``value + 1``."""
        self.credentials[websafe_decode(credential_id)].counter = value

    def _flags(self) -> AuthenticatorData.FLAG:
        return Flag.UP | Flag.UV if self.user_verified else Flag.UP

    def _choose(self, options: dict[str, Any], rp_id: str, credential_id: str | None) -> SoftCredential:
        if credential_id is not None:
            return self.credentials[websafe_decode(credential_id)]
        allowed = [websafe_decode(c["id"]) for c in options.get("allowCredentials", [])]
        if allowed:
            held = [self.credentials[i] for i in allowed if i in self.credentials]
        else:
            held = [c for c in self.credentials.values() if c.rp_id == rp_id]
        if not held:
            raise AuthenticatorError("NotAllowedError: this device holds no credential for the request")
        return held[0]
