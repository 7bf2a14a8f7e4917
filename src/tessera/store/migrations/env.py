"""Alembic's environment: runs the migrations on the connection ``tessera.store`` hands it.

There is no ``alembic.ini``. ``Store.open`` (and ``python -m tessera.store.migrate``)
build the alembic ``Config`` in code and pass an open connection, already inside a
transaction, as ``config.attributes["connection"]``: the whole upgrade then commits or
rolls back as one, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from tessera.store.metadata import metadata

# Any fixed number: every process migrating the same PostgreSQL database queues on it,
# so that two servers starting at once do not both create the tables.
MIGRATION_LOCK_KEY = 0x7E55E8A0


def run_migrations_offline() -> None:
    """``--sql``: print the SQL for a DBA to review instead of running it."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead, and
        # autogenerate then writes migrations that work on both backends.
        render_as_batch=True,
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    given = context.config.attributes.get("connection")
    if not isinstance(given, Connection):
        raise RuntimeError("run migrations through tessera.store: Store.open(url) or python -m tessera.store.migrate")
    run_migrations_online(given)
