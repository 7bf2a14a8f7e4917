"""API keys: the store keeps the hash, revokes once, lists newest first."""

from __future__ import annotations

import hashlib

import pytest

from tessera.auth.principals import Principal, Role
from tessera.errors import ConflictError, ForbiddenError, NotFoundError
from tessera.identity import Registry
from tessera.store import API_KEYS_ACTIVE_MAX, ApiKeyRecord, Store

HASH = hashlib.sha256(b"secret").digest()
T0 = 1_700_000_000 * 10**9


def test_key_round_trips(store: Store, citizen: Principal) -> None:
    """The hash comes back byte for byte, with both timestamps."""
    store.add_api_key("k_1", citizen.id, HASH, T0)
    assert store.get_api_key("k_1") == ApiKeyRecord("k_1", citizen.id, HASH, T0, None)


def test_unknown_key__none(store: Store) -> None:
    """Looking up a key that is not there is not an error."""
    assert store.get_api_key("k_missing") is None


def test_long_encoded_hash_round_trips(store: Store, citizen: Principal) -> None:
    """An encoded password hash (argon2, scrypt) fits, not only a raw digest."""
    encoded = b"$scrypt$ln=15,r=8,p=1$" + b"A" * 200
    store.add_api_key("k_1", citizen.id, encoded, T0)
    record = store.get_api_key("k_1")
    assert record is not None and record.secret_hash == encoded


def test_revoke_keeps_first_time(store: Store, citizen: Principal) -> None:
    """A key revoked twice stays revoked from the first time."""
    store.add_api_key("k_1", citizen.id, HASH, T0)
    store.revoke_api_key("k_1", T0 + 5)
    store.revoke_api_key("k_1", T0 + 9)
    record = store.get_api_key("k_1")
    assert record is not None and record.revoked_at_ns == T0 + 5


def test_list_newest_first_with_revoked(store: Store, citizen: Principal, officer: Principal) -> None:
    """A principal's keys only, newest first, revoked ones included."""
    for i in range(3):
        store.add_api_key(f"k_{i}", citizen.id, HASH, T0 + i)
    store.add_api_key("k_other", officer.id, HASH, T0)
    store.revoke_api_key("k_0", T0 + 10)
    assert [k.key_id for k in store.list_api_keys(citizen.id)] == ["k_2", "k_1", "k_0"]
    assert store.list_api_keys(citizen.id)[-1].revoked_at_ns == T0 + 10
    assert store.list_api_keys("p_0123456789abcdef") == []


def test_key_id_taken__conflict(store: Store, citizen: Principal, officer: Principal) -> None:
    """Key ids are unique across principals; the first key is untouched."""
    store.add_api_key("k_1", citizen.id, HASH, T0)
    with pytest.raises(ConflictError) as caught:
        store.add_api_key("k_1", officer.id, b"\0" * 32, T0 + 1)
    assert caught.value.field == "key_id"
    assert store.get_api_key("k_1") == ApiKeyRecord("k_1", citizen.id, HASH, T0, None)


def test_key_for_unknown_principal__not_found(store: Store) -> None:
    """A key needs a principal to belong to."""
    with pytest.raises(NotFoundError) as caught:
        store.add_api_key("k_1", "p_0123456789abcdef", HASH, T0)
    assert caught.value.field == "principal_id"
    assert store.get_api_key("k_1") is None


def test_revoke_unknown__not_found(store: Store) -> None:
    """Revoking a key that does not exist names the key."""
    with pytest.raises(NotFoundError) as caught:
        store.revoke_api_key("k_missing", T0)
    assert caught.value.field == "key_id"


def test_active_keys_are_limited(store: Store, citizen: Principal) -> None:
    """Past the limit of active keys a new one is refused until one is revoked."""
    for i in range(API_KEYS_ACTIVE_MAX):
        store.add_api_key(f"k_{i}", citizen.id, HASH, T0 + i)
    with pytest.raises(ConflictError) as caught:
        store.add_api_key("k_more", citizen.id, HASH, T0)
    assert caught.value.field == "principal_id"
    store.revoke_api_key("k_0", T0 + 1000)
    store.add_api_key("k_more", citizen.id, HASH, T0 + 1001)
    assert len(store.list_api_keys(citizen.id)) == API_KEYS_ACTIVE_MAX + 1


def test_timestamps_past_2_to_the_62_round_trip(store: Store) -> None:
    """Nanosecond timestamps use the whole signed 64-bit range on both backends."""
    admin = store.create_principal("root", Role.admin)
    store.add_api_key("k_big", admin.id, HASH, 2**63 - 2)
    store.revoke_api_key("k_big", 2**63 - 1)
    assert store.get_api_key("k_big") == ApiKeyRecord("k_big", admin.id, HASH, 2**63 - 2, 2**63 - 1)


def test_no_key_for_a_principal_that_speaks_for_a_person(store: Store) -> None:
    """A person's principal gets no API key (they log in with passkey and PIN); only the demo's for_person passes."""
    person = Registry(store).create_person({"name": "Ada Obi", "birth_date": "1980-02-01", "sex": "F"}, station="x")
    with pytest.raises(ForbiddenError, match="registered person"):
        store.add_api_key("k_1", person.principal_id, HASH, T0)
    assert store.list_api_keys(person.principal_id) == []
    store.add_api_key("k_demo", person.principal_id, HASH, T0, for_person=True)
    assert [k.key_id for k in store.list_api_keys(person.principal_id)] == ["k_demo"]
