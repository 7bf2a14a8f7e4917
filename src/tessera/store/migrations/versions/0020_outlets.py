"""Shops (issue 19): outlets, their accounts, their authorisations for programmes and the revocations, and
programmes' approved product lists, each import a version.

Self-contained: six new tables, nothing else touched.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outlets",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("operator", sa.String(length=68), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=16), nullable=False),
        sa.Column("registered_by", sa.String(length=18), nullable=False),
        sa.Column("registered_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outlets")),
    )
    op.create_index(op.f("ix_outlets_operator_id"), "outlets", ["operator", "id"], unique=False)
    op.create_index(op.f("ix_outlets_location_id"), "outlets", ["location", "id"], unique=False)
    op.create_table(
        "outlet_accounts",
        sa.Column("outlet_id", sa.String(length=18), nullable=False),
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ledger", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["outlet_id"], ["outlets.id"], name=op.f("fk_outlet_accounts_outlet_id_outlets")),
        sa.PrimaryKeyConstraint("outlet_id", "account_id", name=op.f("pk_outlet_accounts")),
        sa.UniqueConstraint("outlet_id", "ledger", name=op.f("uq_outlet_accounts_outlet_id_ledger")),
    )
    op.create_table(
        "outlet_authorisations",
        sa.Column("outlet_id", sa.String(length=18), nullable=False),
        sa.Column("programme_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("authorised_by", sa.String(length=18), nullable=False),
        sa.Column("authorised_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_outlet_authorisations_seq")),
        sa.ForeignKeyConstraint(["outlet_id"], ["outlets.id"], name=op.f("fk_outlet_authorisations_outlet_id_outlets")),
        sa.PrimaryKeyConstraint("outlet_id", "programme_id", "seq", name=op.f("pk_outlet_authorisations")),
    )
    op.create_index(
        op.f("ix_outlet_authorisations_programme_id_outlet_id"),
        "outlet_authorisations",
        ["programme_id", "outlet_id"],
        unique=False,
    )
    op.create_table(
        "outlet_revocations",
        sa.Column("outlet_id", sa.String(length=18), nullable=False),
        sa.Column("programme_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("revoked_by", sa.String(length=18), nullable=False),
        sa.Column("revoked_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outlet_id", "programme_id", "seq"],
            ["outlet_authorisations.outlet_id", "outlet_authorisations.programme_id", "outlet_authorisations.seq"],
            name=op.f("fk_outlet_revocations_outlet_id_outlet_authorisations"),
        ),
        sa.PrimaryKeyConstraint("outlet_id", "programme_id", "seq", name=op.f("pk_outlet_revocations")),
    )
    op.create_table(
        "product_lists",
        sa.Column("programme_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("products", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(length=18), nullable=False),
        sa.Column("imported_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_product_lists_version")),
        sa.PrimaryKeyConstraint("programme_id", "version", name=op.f("pk_product_lists")),
    )
    op.create_table(
        "product_list_items",
        sa.Column("programme_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("commodity", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_product_list_items_quantity")),
        sa.ForeignKeyConstraint(
            ["programme_id", "version"],
            ["product_lists.programme_id", "product_lists.version"],
            name=op.f("fk_product_list_items_programme_id_product_lists"),
        ),
        sa.PrimaryKeyConstraint("programme_id", "version", "code", name=op.f("pk_product_list_items")),
    )


def downgrade() -> None:
    op.drop_table("product_list_items")
    op.drop_table("product_lists")
    op.drop_table("outlet_revocations")
    op.drop_index(op.f("ix_outlet_authorisations_programme_id_outlet_id"), table_name="outlet_authorisations")
    op.drop_table("outlet_authorisations")
    op.drop_table("outlet_accounts")
    op.drop_index(op.f("ix_outlets_location_id"), table_name="outlets")
    op.drop_index(op.f("ix_outlets_operator_id"), table_name="outlets")
    op.drop_table("outlets")
