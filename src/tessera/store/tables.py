"""The registries' tables, in SQLAlchemy Core: the schema that migrations must produce.

``tests/store/test_migrations.py`` compares a freshly migrated database with this
metadata; a change here without a migration in ``migrations/versions/`` fails there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from tessera.auth.principals import AGENCY_MAX, NAME_MAX, Role

PRINCIPAL_ID_LENGTH = 18  # "p_" and 16 hex digits
ROLE_LENGTH_MAX = 16
SUBJECT_MAX = 64
KEY_ID_MAX = 64
SECRET_HASH_MAX = 256  # room for an encoded scrypt or argon2 hash, not only a raw digest

# Named constraints: both backends then agree on every name, and a later migration can
# drop or alter a constraint by the name it was given here.
metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

_ROLES_SQL = ", ".join(f"'{role.value}'" for role in Role)

principals = Table(
    "principals",
    metadata,
    Column("id", String(PRINCIPAL_ID_LENGTH), primary_key=True),
    Column("name", String(NAME_MAX), nullable=False, unique=True),
    Column("role", String(ROLE_LENGTH_MAX), nullable=False),
    Column("agency", String(AGENCY_MAX), nullable=False),
    # NULL for everyone but citizens: two principals must never speak for the same person.
    Column("subject", String(SUBJECT_MAX), nullable=True, unique=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False),
    CheckConstraint(f"role IN ({_ROLES_SQL})", name="role"),
    Index(None, "role", "id"),  # list_principals(role=...) pages through one role by id
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(KEY_ID_MAX), primary_key=True),
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=False, index=True),
    Column("secret_hash", LargeBinary(SECRET_HASH_MAX), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("revoked_at_ns", BigInteger, nullable=True),
)

# Which principal holds a ledger account. The ledger itself knows only account ids.
account_holders = Table(
    "account_holders",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=False),
    Index(None, "principal_id", "account_id"),  # accounts_held_by, in account order
)
