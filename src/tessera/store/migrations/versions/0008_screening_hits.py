"""Sanctions screening hits awaiting or bearing an officer's decision (issue 5).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screening_hits",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("list_id", sa.String(length=200), nullable=False),
        sa.Column("list_version", sa.BigInteger(), nullable=False),
        sa.Column("listed_name", sa.String(length=500), nullable=False),
        sa.Column("score_ppm", sa.Integer(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("context", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=18), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("restriction_id", sa.String(length=18), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("decided_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("context IN ('enrolment', 'counterparty')", name=op.f("ck_screening_hits_context")),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'dismissed')", name=op.f("ck_screening_hits_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_hits")),
    )
    op.create_index(
        op.f("ix_screening_hits_subject_source_list_id"), "screening_hits", ["subject", "source", "list_id"]
    )
    op.create_index(op.f("ix_screening_hits_status_created_at_ns"), "screening_hits", ["status", "created_at_ns"])


def downgrade() -> None:
    op.drop_index(op.f("ix_screening_hits_status_created_at_ns"), table_name="screening_hits")
    op.drop_index(op.f("ix_screening_hits_subject_source_list_id"), table_name="screening_hits")
    op.drop_table("screening_hits")
