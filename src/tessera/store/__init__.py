"""The registries' storage: principals, API keys and account holders, in SQLite or PostgreSQL.

``Store.open(url)`` connects and migrates; see ``docs/store.md``.
"""

from tessera.store.store import (
    ACCOUNTS_LIST_MAX,
    API_KEYS_ACTIVE_MAX,
    API_KEYS_LIST_MAX,
    PRINCIPALS_LIST_MAX,
    ApiKeyRecord,
    Store,
)

__all__ = [
    "ACCOUNTS_LIST_MAX",
    "API_KEYS_ACTIVE_MAX",
    "API_KEYS_LIST_MAX",
    "PRINCIPALS_LIST_MAX",
    "ApiKeyRecord",
    "Store",
]
