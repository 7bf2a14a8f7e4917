"""Sanctions lists: imported lists and their listed entities (issue 5).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sanctions_lists",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("entities", sa.Integer(), nullable=False),
        sa.Column("names", sa.Integer(), nullable=False),
        sa.Column("imported_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("source IN ('eu', 'ofac', 'un', 'ftm')", name=op.f("ck_sanctions_lists_source")),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sanctions_lists")),
    )
    op.create_table(
        "sanctions_entities",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("list_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("birth_dates", sa.Text(), nullable=False),
        sa.Column("nationalities", sa.Text(), nullable=False),
        sa.Column("identifiers", sa.Text(), nullable=False),
        sa.Column("programs", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('person', 'organisation', 'vessel', 'aircraft')", name=op.f("ck_sanctions_entities_kind")
        ),
        sa.ForeignKeyConstraint(
            ["source"], ["sanctions_lists.source"], name=op.f("fk_sanctions_entities_source_sanctions_lists")
        ),
        sa.PrimaryKeyConstraint("source", "list_id", name=op.f("pk_sanctions_entities")),
    )


def downgrade() -> None:
    op.drop_table("sanctions_entities")
    op.drop_table("sanctions_lists")
