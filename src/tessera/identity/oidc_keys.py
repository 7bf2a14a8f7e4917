"""The OpenID provider's secrets on disk: the ID-token signing key and the pairwise-subject key.

Both are made once, on first use, in the directory the provider is given, and read back on
every start: an ID token signed yesterday must still verify against the JWKS, and a
person's ``sub`` at a relying party must never change. Each file is written whole under a
temporary name (mode 0600) and published with a hard link, which fails if the name is
taken, so two processes starting at once end up with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySetSerialization, RSAKey

from tessera.errors import InvalidInputError, StoreError

SIGNING_ALG = "RS256"  # OpenID Connect's mandatory algorithm (Core §15.1): every relying party can check it
RSA_BITS = 2048
PAIRWISE_KEY_BYTES = 32
SIGNING_KEY_FILE = "signing-key.jwk"
PAIRWISE_KEY_FILE = "pairwise.key"
KEY_FILE_BYTES_MAX = 16 * 1024


def b64url(data: bytes) -> str:
    """base64url without padding, as JOSE and PKCE write it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ProviderKeys:
    """The signing key pair (its public half is the JWKS) and the secret behind pairwise subjects."""

    def __init__(self, directory: Path) -> None:
        if not isinstance(directory, Path):
            raise InvalidInputError("keys_dir", "must be a pathlib.Path")
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the OIDC key directory {directory}: {exc.strerror}") from exc
        raw = _load_or_create(directory / SIGNING_KEY_FILE, _new_signing_key)
        try:
            key = RSAKey.import_key(json.loads(raw))
        except (ValueError, JoseError) as exc:
            raise StoreError(f"the OIDC signing key {directory / SIGNING_KEY_FILE} is unreadable: {exc}") from exc
        if not key.is_private:
            raise StoreError(f"the OIDC signing key {directory / SIGNING_KEY_FILE} holds no private key")
        key.ensure_kid()
        self._key = key
        self._pairwise = _load_or_create(directory / PAIRWISE_KEY_FILE, lambda: secrets.token_bytes(PAIRWISE_KEY_BYTES))
        if len(self._pairwise) != PAIRWISE_KEY_BYTES:
            raise StoreError(f"the pairwise key {directory / PAIRWISE_KEY_FILE} is not {PAIRWISE_KEY_BYTES} bytes")

    @property
    def kid(self) -> str:
        """The signing key's id: its RFC 7638 thumbprint unless the file names another."""
        kid = self._key.kid
        assert kid is not None  # ensure_kid set it
        return kid

    def jwks(self) -> KeySetSerialization:
        """The JSON Web Key Set relying parties check ID tokens against: public halves only."""
        return {"keys": [self._key.as_dict(private=False, use="sig", alg=SIGNING_ALG)]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims``, signed RS256 under this key's ``kid``."""
        return jwt.encode({"alg": SIGNING_ALG, "kid": self.kid}, claims, self._key, algorithms=[SIGNING_ALG])

    def pairwise_subject(self, sector_id: str, number: str) -> str:
        """The person's ``sub`` in one sector: HMAC-SHA256 of the sector and the number, base64url.

        Stable for as long as the key file lives; different between sectors; and, without the
        key, neither linkable across sectors nor reversible to the number.
        """
        message = sector_id.encode("utf-8") + b"\x00" + number.encode("ascii")
        return b64url(hmac.new(self._pairwise, message, hashlib.sha256).digest())


def _new_signing_key() -> bytes:
    key = RSAKey.generate_key(RSA_BITS, private=True, auto_kid=True)
    return json.dumps(key.as_dict(private=True), sort_keys=True).encode()


def _load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of ``path``; if there is no such file, ``make()`` them and publish them there first."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    data = make()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process published first: its key is the key
        finally:
            temporary.unlink()
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return _read(path)
    except OSError as exc:
        raise StoreError(f"cannot write the OIDC key file {path}: {exc.strerror}") from exc


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(KEY_FILE_BYTES_MAX + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot read the OIDC key file {path}: {exc.strerror}") from exc
    if len(data) > KEY_FILE_BYTES_MAX:
        raise StoreError(f"the OIDC key file {path} is over {KEY_FILE_BYTES_MAX} bytes")
    return data
