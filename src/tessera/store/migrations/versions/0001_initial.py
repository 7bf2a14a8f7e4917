"""The registries: principals, their API keys, and who holds which ledger account.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

A migration is history: it spells out its columns and values instead of importing them
from tables.py or tessera.auth, which will move on while this file must not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("id", sa.String(18), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("agency", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
        sa.UniqueConstraint("subject", name=op.f("uq_principals_subject")),
        sa.CheckConstraint(
            "role IN ('citizen', 'officer', 'merchant', 'auditor', 'admin')", name=op.f("ck_principals_role")
        ),
    )
    op.create_index(op.f("ix_principals_role_id"), "principals", ["role", "id"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("principal_id", sa.String(18), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(256), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"], name=op.f("fk_api_keys_principal_id_principals")),
    )
    op.create_index(op.f("ix_api_keys_principal_id"), "api_keys", ["principal_id"])
    op.create_table(
        "account_holders",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("principal_id", sa.String(18), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_holders")),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_account_holders_principal_id_principals")
        ),
    )
    op.create_index(
        op.f("ix_account_holders_principal_id_account_id"), "account_holders", ["principal_id", "account_id"]
    )


def downgrade() -> None:
    op.drop_table("account_holders")
    op.drop_table("api_keys")
    op.drop_table("principals")
