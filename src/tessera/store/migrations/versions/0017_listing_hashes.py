"""Listing hashes: what each import changed, and the screening of registered people it owes (issue 18).

A listing keeps the SHA-256 of its content and the import at which that content first
appeared; an import keeps its counts of new, changed and removed listings and the progress
of the screening of every registered person against the new and changed ones. A hit found
that way has the context ``import``. Rows imported before this revision have NULL hashes,
which the next import computes from the stored row, so an unchanged listing stays unchanged.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

CONTEXTS_BEFORE = "context IN ('enrolment', 'counterparty')"
CONTEXTS_AFTER = "context IN ('enrolment', 'counterparty', 'import')"
_LIST_COLUMNS = (
    ("listings_new", sa.Integer()),
    ("listings_changed", sa.Integer()),
    ("listings_removed", sa.Integer()),
    ("screen_since_ns", sa.BigInteger()),
    ("screened_through", sa.String(length=12)),
    ("screened_people", sa.Integer()),
    ("screened_hits", sa.Integer()),
    ("screened_at_ns", sa.BigInteger()),
)


# Plain ALTER TABLE, as 0009 and 0015: SQLite adds and drops a column in place.
def upgrade() -> None:
    op.add_column("sanctions_entities", sa.Column("content_hash", sa.String(length=64), nullable=True))
    op.add_column("sanctions_entities", sa.Column("changed_at_ns", sa.BigInteger(), nullable=True))
    for name, kind in _LIST_COLUMNS:
        op.add_column("sanctions_lists", sa.Column(name, kind, nullable=True))
    _replace_context_check(CONTEXTS_BEFORE, CONTEXTS_AFTER)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM screening_hits WHERE context = 'import'"))
    _replace_context_check(CONTEXTS_AFTER, CONTEXTS_BEFORE)
    for name, _ in reversed(_LIST_COLUMNS):
        op.drop_column("sanctions_lists", name)
    op.drop_column("sanctions_entities", "changed_at_ns")
    op.drop_column("sanctions_entities", "content_hash")


def _replace_context_check(before: str, after: str) -> None:
    """Swap the CHECK on ``screening_hits.context`` for one with other contexts.

    As revision 0014 does for principals' roles: PostgreSQL drops and adds the constraint;
    SQLite cannot alter one, so the table's schema text is edited in place inside this
    migration's transaction (https://sqlite.org/lang_altertable.html, "making other kinds of
    table schema changes"), which is safe for a CHECK that admits more rows than before.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_screening_hits_context"), "screening_hits", type_="check")
        op.create_check_constraint(op.f("ck_screening_hits_context"), "screening_hits", after)
        return
    schema = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'screening_hits'")
    sql = schema.scalar_one()
    if sql.count(before) != 1:
        raise RuntimeError(f"screening_hits' context check is not {before!r} as revision 0008 made it: {sql!r}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'screening_hits'",
            (sql.replace(before, after),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")  # other connections reread the schema
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
