"""Rule events: lawful events agencies submit for the rules (loan.repaid, tax.filed_late), kept as received (issue 5).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=18), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("received_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("submission", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_rule_events")),
    )
    with op.batch_alter_table("rule_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_events_source_event_id"), ["source", "event_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_rule_events_subject"), ["subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rule_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_events_subject"))
        batch_op.drop_index(batch_op.f("ix_rule_events_source_event_id"))
    op.drop_table("rule_events")
