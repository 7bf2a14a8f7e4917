"""Grievances (issue 19): a person's complaint about an entitlement or a redemption, and its resolution.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_KINDS = "kind IN ('not_received', 'shop_refused', 'wrong_amount')"
_STATUSES = "status IN ('open', 'resolved_upheld', 'resolved_rejected')"


def upgrade() -> None:
    op.create_table(
        "grievances",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("subject", sa.String(length=12), nullable=False),
        sa.Column("holder", sa.String(length=18), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("redemption_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("filed_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolved_by", sa.String(length=18), nullable=True),
        sa.Column("resolved_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("back_pay", sa.String(length=2000), nullable=True),
        sa.CheckConstraint(_KINDS, name=op.f("ck_grievances_kind")),
        sa.CheckConstraint(_STATUSES, name=op.f("ck_grievances_status")),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["programme_cycles.id"], name=op.f("fk_grievances_cycle_id_programme_cycles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grievances")),
    )
    op.create_index(op.f("ix_grievances_subject"), "grievances", ["subject"])
    op.create_index(op.f("ix_grievances_programme"), "grievances", ["programme"])


def downgrade() -> None:
    op.drop_index(op.f("ix_grievances_programme"), table_name="grievances")
    op.drop_index(op.f("ix_grievances_subject"), table_name="grievances")
    op.drop_table("grievances")
