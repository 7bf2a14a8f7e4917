"""Payments a person makes: aliases payees publish, payment requests, and payers' idempotency keys (issue 18).

Self-contained: three new tables, nothing else touched, so it re-chains behind any other 0016.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_aliases",
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("principal_id", sa.String(length=18), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_payment_aliases_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_payment_aliases")),
    )
    op.create_index(
        op.f("ix_payment_aliases_principal_id_alias"), "payment_aliases", ["principal_id", "alias"], unique=False
    )
    op.create_table(
        "payment_requests",
        sa.Column("id", sa.String(length=19), nullable=False),
        sa.Column("principal_id", sa.String(length=18), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("ledger", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("paid_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_requests_amount")),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_payment_requests_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_requests")),
    )
    op.create_index(
        op.f("ix_payment_requests_principal_id_created_at_ns"),
        "payment_requests",
        ["principal_id", "created_at_ns"],
        unique=False,
    )
    op.create_table(
        "payment_keys",
        sa.Column("principal_id", sa.String(length=18), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("ledger", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=19), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=4000), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_payment_keys_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("principal_id", "key", name=op.f("pk_payment_keys")),
    )


def downgrade() -> None:
    op.drop_table("payment_keys")
    op.drop_index(op.f("ix_payment_requests_principal_id_created_at_ns"), table_name="payment_requests")
    op.drop_table("payment_requests")
    op.drop_index(op.f("ix_payment_aliases_principal_id_alias"), table_name="payment_aliases")
    op.drop_table("payment_aliases")
