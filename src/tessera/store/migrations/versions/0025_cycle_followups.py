"""What follows a cycle (issue 19): notices of eligibility lost and before expiry, the return of what was not spent.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cycle_followups",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("lost_notices", sa.Integer(), nullable=True),
        sa.Column("lost_notified_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("expiry_notified_by", sa.String(length=18), nullable=True),
        sa.Column("expiry_through_seq", sa.Integer(), nullable=False),
        sa.Column("expiry_notices", sa.Integer(), nullable=False),
        sa.Column("expiry_notified_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("returned_by", sa.String(length=18), nullable=True),
        sa.Column("return_started_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("return_through_seq", sa.Integer(), nullable=False),
        sa.Column("returned_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("returned", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["programme_cycles.id"], name=op.f("fk_cycle_followups_cycle_id_programme_cycles")
        ),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_cycle_followups")),
    )


def downgrade() -> None:
    op.drop_table("cycle_followups")
