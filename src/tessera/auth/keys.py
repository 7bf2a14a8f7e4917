"""API keys for service principals: ``tsk_<key id>_<secret>``; only a hash of the secret is stored.

The secret is 256 random bits, so a single SHA-256 is enough: there is nothing to
brute-force that a slow password hash would protect (unlike a PIN or a password).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from tessera.errors import UnauthenticatedError

PREFIX = "tsk"
KEY_ID_HEX = 12
_SHAPE = re.compile(rf"{PREFIX}_([0-9a-f]{{{KEY_ID_HEX}}})_([A-Za-z0-9_-]{{43}})")


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: ``token`` is shown once to its owner and never stored."""

    key_id: str
    token: str
    secret_hash: bytes


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_key() -> NewKey:
    key_id = secrets.token_hex(KEY_ID_HEX // 2)
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, f"{PREFIX}_{key_id}_{secret}", hash_secret(secret))


def parse_token(token: str) -> tuple[str, str]:
    """Split a presented token into key id and secret, or refuse it as malformed."""
    match = _SHAPE.fullmatch(token)
    if match is None:
        raise UnauthenticatedError(f"the API key is malformed (expected {PREFIX}_<id>_<secret>)")
    return match.group(1), match.group(2)


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
