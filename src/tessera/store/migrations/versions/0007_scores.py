"""Scores: live score contributions, eligibility grants and the rule engine's cursors (issue 5).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "score_contributions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("half_life_s", sa.BigInteger(), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("reason_text", sa.String(length=1000), nullable=False),
        sa.Column("event_ref", sa.String(length=80), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_contributions")),
    )
    with op.batch_alter_table("score_contributions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_score_contributions_subject_scheme"), ["subject", "scheme"], unique=False)
    op.create_table(
        "eligibility_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("benefit", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("event_ref", sa.String(length=80), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eligibility_grants")),
    )
    with op.batch_alter_table("eligibility_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_eligibility_grants_subject"), ["subject"], unique=False)
    op.create_table(
        "rule_cursors",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_rule_cursors")),
    )


def downgrade() -> None:
    op.drop_table("rule_cursors")
    with op.batch_alter_table("eligibility_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_eligibility_grants_subject"))
    op.drop_table("eligibility_grants")
    with op.batch_alter_table("score_contributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_contributions_subject_scheme"))
    op.drop_table("score_contributions")
