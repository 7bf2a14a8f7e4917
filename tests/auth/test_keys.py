"""API keys: the token's shape, and that only a hash is kept and checked in constant time."""

from __future__ import annotations

import pytest

from tessera.auth import new_key, parse_token, secret_matches
from tessera.errors import UnauthenticatedError


def test_a_new_key_parses_back_to_its_id_and_matches_its_hash() -> None:
    """A new key's token parses to its id and a secret that matches the stored hash, which does not hold it."""
    key = new_key()
    key_id, secret = parse_token(key.token)
    assert key_id == key.key_id and secret_matches(secret, key.secret_hash)
    assert secret not in key.secret_hash.hex()


def test_two_keys_differ() -> None:
    """Two new keys never share a token."""
    assert new_key().token != new_key().token


def test_a_changed_secret_does_not_match() -> None:
    """Changing one character of the secret fails the hash check."""
    key = new_key()
    _, secret = parse_token(key.token)
    assert not secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), key.secret_hash)


@pytest.mark.parametrize(
    "token", ["", "tsk_", "tsk_abc_def", "Bearer tsk_x", "tsk_" + "0" * 12 + "_" + "a" * 42, "x" * 500]
)
def test_malformed_tokens_are_unauthenticated(token: str) -> None:
    """Empty, truncated, prefixed, misshapen or overlong tokens are unauthenticated as malformed."""
    with pytest.raises(UnauthenticatedError, match="malformed"):
        parse_token(token)
