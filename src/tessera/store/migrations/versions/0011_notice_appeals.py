"""Notice appeals: a person's appeal on a rule's lowered score or denial, one per notice (issue 5).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_appeals",
        sa.Column("id", sa.String(length=19), nullable=False),
        sa.Column("notice_id", sa.String(length=18), nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("filed_by", sa.String(length=140), nullable=False),
        sa.Column("grounds", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filed_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(length=140), nullable=True),
        sa.Column("decision_reason", sa.String(length=1000), nullable=True),
        sa.Column("decided_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("withdrawn", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'upheld', 'withdrawn')", name=op.f("ck_notice_appeals_status")),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], name=op.f("fk_notice_appeals_notice_id_notices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_appeals")),
    )
    with op.batch_alter_table("notice_appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_appeals_notice_id"), ["notice_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_notice_appeals_status_filed_at_ns"), ["status", "filed_at_ns"])
        batch_op.create_index(batch_op.f("ix_notice_appeals_subject_filed_at_ns"), ["subject", "filed_at_ns"])


def downgrade() -> None:
    with op.batch_alter_table("notice_appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_appeals_subject_filed_at_ns"))
        batch_op.drop_index(batch_op.f("ix_notice_appeals_status_filed_at_ns"))
        batch_op.drop_index(batch_op.f("ix_notice_appeals_notice_id"))
    op.drop_table("notice_appeals")
