"""Bad arguments: every method names the field, raises before touching the database, writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tessera.auth.principals import Role
from tessera.errors import BatchSizeError, InvalidInputError
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT
from tessera.store import Store
from tessera.store.metadata import metadata

P = "<principal>"  # replaced by an existing principal's id
OTHER = "p_0123456789abcdef"  # well formed, not stored

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("create_principal", {"name": "", "role": Role.admin}, "name"),
    ("create_principal", {"name": " leading space", "role": Role.admin}, "name"),
    ("create_principal", {"name": "x" * 101, "role": Role.admin}, "name"),
    ("create_principal", {"name": "tab\there", "role": Role.admin}, "name"),
    ("create_principal", {"name": 5, "role": Role.admin}, "name"),
    ("create_principal", {"name": "ok", "role": "king"}, "role"),
    ("create_principal", {"name": "ok", "role": None}, "role"),
    ("create_principal", {"name": "ok", "role": Role.officer}, "agency"),
    ("create_principal", {"name": "ok", "role": Role.officer, "agency": "x" * 101}, "agency"),
    ("create_principal", {"name": "ok", "role": Role.admin, "agency": 5}, "agency"),
    ("create_principal", {"name": "ok", "role": Role.admin, "agency": "\n"}, "agency"),
    ("create_principal", {"name": "ok", "role": Role.merchant, "subject": "person:1"}, "subject"),
    ("create_principal", {"name": "ok", "role": Role.citizen, "subject": "has space"}, "subject"),
    ("create_principal", {"name": "ok", "role": Role.citizen, "subject": "x" * 65}, "subject"),
    ("create_principal", {"name": "ok", "role": Role.citizen, "subject": 7}, "subject"),
    ("create_principal", {"name": "ok", "role": Role.citizen, "subject": "person:1\n"}, "subject"),
    ("create_principal", {"name": "ok", "role": Role.admin, "display_name": 5}, "display_name"),
    ("create_principal", {"name": "ok", "role": Role.admin, "display_name": "a\u202eb"}, "display_name"),
    ("create_principal", {"name": "ok", "role": Role.admin, "display_name": "x" * 101}, "display_name"),
    ("create_principal", {"name": "ok", "role": Role.citizen, "organisation": "org:acme"}, "organisation"),
    ("create_principal", {"name": "ok", "role": Role.auditor, "organisation": "org:acme"}, "organisation"),
    ("create_principal", {"name": "ok", "role": Role.merchant, "organisation": "acme"}, "organisation"),
    ("create_principal", {"name": "ok", "role": Role.merchant, "organisation": "org:Acme"}, "organisation"),
    ("create_principal", {"name": "ok", "role": Role.merchant, "organisation": "org:" + "a" * 65}, "organisation"),
    ("create_principal", {"name": "ok", "role": Role.merchant, "organisation": 5}, "organisation"),
    ("get_principal", {"principal_id": "alice"}, "principal_id"),
    ("get_principal", {"principal_id": "p_0123456789ABCDEF"}, "principal_id"),
    ("get_principal", {"principal_id": None}, "principal_id"),
    ("get_principal", {"principal_id": "p_0123456789abcdef\n"}, "principal_id"),
    ("get_principal_by_name", {"name": ""}, "name"),
    ("list_principals", {"role": "king"}, "role"),
    ("list_principals", {"limit": 0}, "limit"),
    ("list_principals", {"limit": 1001}, "limit"),
    ("list_principals", {"limit": True}, "limit"),
    ("list_principals", {"limit": "5"}, "limit"),
    ("list_principals", {"after": "p_1"}, "after"),
    ("disable_principal", {"principal_id": "p_"}, "principal_id"),
    ("add_api_key", {"key_id": "", "principal_id": P, "secret_hash": b"h" * 32, "created_at_ns": 1}, "key_id"),
    ("add_api_key", {"key_id": "a b", "principal_id": P, "secret_hash": b"h" * 32, "created_at_ns": 1}, "key_id"),
    ("add_api_key", {"key_id": "k" * 65, "principal_id": P, "secret_hash": b"h" * 32, "created_at_ns": 1}, "key_id"),
    ("add_api_key", {"key_id": 1, "principal_id": P, "secret_hash": b"h" * 32, "created_at_ns": 1}, "key_id"),
    ("add_api_key", {"key_id": "k", "principal_id": "x", "secret_hash": b"h" * 32, "created_at_ns": 1}, "principal_id"),
    ("add_api_key", {"key_id": "k", "principal_id": P, "secret_hash": b"h" * 15, "created_at_ns": 1}, "secret_hash"),
    ("add_api_key", {"key_id": "k", "principal_id": P, "secret_hash": b"h" * 257, "created_at_ns": 1}, "secret_hash"),
    ("add_api_key", {"key_id": "k", "principal_id": P, "secret_hash": "h" * 32, "created_at_ns": 1}, "secret_hash"),
    ("add_api_key", {"key_id": "k", "principal_id": P, "secret_hash": b"h" * 32, "created_at_ns": -1}, "created_at_ns"),
    (
        "add_api_key",
        {"key_id": "k", "principal_id": P, "secret_hash": b"h" * 32, "created_at_ns": ID_LIMIT},
        "created_at_ns",
    ),
    (
        "add_api_key",
        {"key_id": "k", "principal_id": P, "secret_hash": b"h" * 32, "created_at_ns": 1.5},
        "created_at_ns",
    ),
    ("get_api_key", {"key_id": ""}, "key_id"),
    ("get_api_key", {"key_id": "k_1\n"}, "key_id"),
    ("revoke_api_key", {"key_id": "a/b", "at_ns": 1}, "key_id"),
    ("revoke_api_key", {"key_id": "k", "at_ns": -1}, "at_ns"),
    ("revoke_api_key", {"key_id": "k", "at_ns": None}, "at_ns"),
    ("list_api_keys", {"principal_id": 3}, "principal_id"),
    ("set_account_holders", {"holders": []}, "holders"),
    ("set_account_holders", {"holders": [(1, P)] * (BATCH_SIZE_MAX + 1)}, "holders"),
    ("set_account_holders", {"holders": "12"}, "holders"),
    ("set_account_holders", {"holders": 5}, "holders"),
    ("set_account_holders", {"holders": [5]}, "holders[0]"),
    ("set_account_holders", {"holders": [(1, P, 3)]}, "holders[0]"),
    ("set_account_holders", {"holders": [(1, P), (0, P)]}, "holders[1].account_id"),
    ("set_account_holders", {"holders": [(ID_LIMIT, P)]}, "holders[0].account_id"),
    ("set_account_holders", {"holders": [(True, P)]}, "holders[0].account_id"),
    ("set_account_holders", {"holders": [(1, "bob")]}, "holders[0].principal_id"),
    ("set_account_holders", {"holders": [(1, P), (2, P), (1, OTHER)]}, "holders[2].principal_id"),
    ("account_holders", {"account_ids": [0]}, "account_ids[0]"),
    ("account_holders", {"account_ids": [1, 2.0]}, "account_ids[1]"),
    ("account_holders", {"account_ids": [1] * (BATCH_SIZE_MAX + 1)}, "account_ids"),
    ("account_holders", {"account_ids": b"\x01"}, "account_ids"),
    ("accounts_held_by", {"principal_id": ""}, "principal_id"),
    ("accounts_held_by", {"principal_id": P, "limit": 0}, "limit"),
    ("accounts_held_by", {"principal_id": P, "limit": BATCH_SIZE_MAX + 1}, "limit"),
    ("accounts_of_organisation", {"organisation": "acme"}, "organisation"),
    ("accounts_of_organisation", {"organisation": None}, "organisation"),
    ("accounts_of_organisation", {"organisation": "org:acme", "limit": 0}, "limit"),
]


def _contents(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with store._engine.connect() as conn:  # reads every row, under the store's API
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t))) for t in metadata.sorted_tables}


@pytest.fixture(scope="module")
def principal_id(shared_store: Store) -> Iterator[str]:
    yield shared_store.create_principal("holder", Role.citizen).id


@pytest.mark.parametrize(
    ("method", "kwargs", "field"), CASES, ids=[f"{m}-{f}-{i}" for i, (m, _, f) in enumerate(CASES)]
)
def test_bad_argument__field_named_and_nothing_written(
    shared_store: Store, principal_id: str, method: str, kwargs: dict[str, Any], field: str
) -> None:
    """InvalidInputError (a ValueError) names the argument; the tables are as before."""
    kwargs = {k: _placed(v, principal_id) for k, v in kwargs.items()}
    before = _contents(shared_store)
    with pytest.raises(InvalidInputError) as caught:
        getattr(shared_store, method)(**kwargs)
    assert caught.value.field == field, caught.value
    assert str(caught.value).startswith(f"{field}: ")
    assert _contents(shared_store) == before


def test_empty_or_oversized_batch__batch_size_error(shared_store: Store, principal_id: str) -> None:
    """Batches refused for their size say so with the batch_size code."""
    with pytest.raises(BatchSizeError):
        shared_store.set_account_holders([])
    with pytest.raises(BatchSizeError):
        shared_store.account_holders([1] * (BATCH_SIZE_MAX + 1))


def _placed(value: Any, principal_id: str) -> Any:
    """``value`` with the placeholder ``P`` replaced, inside lists and pairs too."""
    if value == P and isinstance(value, str):
        return principal_id
    if isinstance(value, list):
        return [_placed(v, principal_id) for v in value]
    if isinstance(value, tuple):
        return tuple(_placed(v, principal_id) for v in value)
    return value
