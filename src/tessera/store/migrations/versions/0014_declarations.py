"""Declarations are law: data-protection officers, versioned declarations, and what a ledger funds (issue 16).

- ``principals.role`` admits ``dpo``, the data-protection officer who declares event types,
  record types and legal bases.
- ``declaration_versions`` keeps every version of the declarations, whole, with its hash,
  who proposed it, and its status; ``declaration_decisions`` each DPO's approval or refusal.
  Version 1 (the built-in definitions) is recorded by the service at its first start, not
  here: a migration is history and must not import the definitions, which move on.
- ``ledgers.category``: the data category of what a ledger funds (NULL: financial).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ROLES_BEFORE = "role IN ('citizen', 'officer', 'merchant', 'auditor', 'admin')"
ROLES_AFTER = "role IN ('citizen', 'officer', 'merchant', 'auditor', 'admin', 'dpo')"


def upgrade() -> None:
    _replace_role_check(ROLES_BEFORE, ROLES_AFTER)
    op.add_column("ledgers", sa.Column("category", sa.String(length=32), nullable=True))
    op.create_table(
        "declaration_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("exceptions", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.String(length=18), nullable=True),
        sa.Column("proposed_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "approvals_needed >= 0 AND approvals_needed <= 2", name=op.f("ck_declaration_versions_approvals_needed")
        ),
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name=op.f("ck_declaration_versions_status")),
        sa.ForeignKeyConstraint(
            ["proposed_by"], ["principals.id"], name=op.f("fk_declaration_versions_proposed_by_principals")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_declaration_versions")),
    )
    op.create_index(op.f("ix_declaration_versions_status_version"), "declaration_versions", ["status", "version"])
    op.create_table(
        "declaration_decisions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("principal_id", sa.String(length=18), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("decision IN ('approve', 'refuse')", name=op.f("ck_declaration_decisions_decision")),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_declaration_decisions_principal_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["version"],
            ["declaration_versions.version"],
            name=op.f("fk_declaration_decisions_version_declaration_versions"),
        ),
        sa.PrimaryKeyConstraint("version", "principal_id", name=op.f("pk_declaration_decisions")),
    )


def downgrade() -> None:
    dpos = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM principals WHERE role = 'dpo'")).scalar_one()
    if dpos:
        raise RuntimeError(f"{dpos} principals are data-protection officers, a role revision 0013 does not know")
    op.drop_table("declaration_decisions")
    op.drop_index(op.f("ix_declaration_versions_status_version"), table_name="declaration_versions")
    op.drop_table("declaration_versions")
    op.drop_column("ledgers", "category")
    _replace_role_check(ROLES_AFTER, ROLES_BEFORE)


def _replace_role_check(before: str, after: str) -> None:
    """Swap the CHECK on ``principals.role`` for one with other roles.

    PostgreSQL drops and adds the constraint. SQLite cannot alter a constraint, and copying
    the table (batch mode) would fail here: every table that refers to principals holds
    rows, and SQLite checks foreign keys when the old table is dropped, even deferred.
    SQLite's documented alternative for a CHECK that admits more rows than before is to
    edit the table's schema text in place (https://sqlite.org/lang_altertable.html,
    "making other kinds of table schema changes"), inside this migration's transaction.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_principals_role"), "principals", type_="check")
        op.create_check_constraint(op.f("ck_principals_role"), "principals", after)
        return
    schema = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'principals'")
    sql = schema.scalar_one()
    if sql.count(before) != 1:
        raise RuntimeError(f"principals' role check is not {before!r} as revision 0001 made it: {sql!r}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'principals'",
            (sql.replace(before, after),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")  # other connections reread the schema
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
