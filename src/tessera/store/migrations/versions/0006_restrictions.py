"""Restrictions with due process: legal bases, restrictions, notices and appeals (issue 5).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legal_bases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("instrument", sa.String(length=200), nullable=False),
        sa.Column("article", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("domains", sa.String(length=200), nullable=False),
        sa.Column("registered_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_bases")),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("rule_id", sa.String(length=140), nullable=True),
        sa.Column("basis_id", sa.String(length=64), nullable=False),
        sa.Column("basis_cite", sa.String(length=266), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("reason_text", sa.String(length=1000), nullable=False),
        sa.Column("domains", sa.String(length=200), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("appeal", sa.String(length=500), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(
        op.f("ix_notices_subject_created_at_ns_id"), "notices", ["subject", "created_at_ns", "id"], unique=False
    )
    op.create_table(
        "restrictions",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("domains", sa.String(length=200), nullable=False),
        sa.Column("basis_id", sa.String(length=64), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("reason_text", sa.String(length=1000), nullable=False),
        sa.Column("rule_id", sa.String(length=140), nullable=True),
        sa.Column("event_ref", sa.String(length=200), nullable=True),
        sa.Column("proposed_by", sa.String(length=140), nullable=False),
        sa.Column("proposed_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=True),
        sa.Column("end_ns", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("appeal_state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=140), nullable=True),
        sa.Column("decision_reason", sa.String(length=1000), nullable=True),
        sa.Column("decided_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("ended_by", sa.String(length=140), nullable=True),
        sa.Column("end_reason", sa.String(length=1000), nullable=True),
        sa.Column("ended_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "appeal_state IN ('none', 'pending', 'upheld', 'lifted')", name=op.f("ck_restrictions_appeal_state")
        ),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'lifted', 'expired', 'rejected')", name=op.f("ck_restrictions_status")
        ),
        sa.ForeignKeyConstraint(["basis_id"], ["legal_bases.id"], name=op.f("fk_restrictions_basis_id_legal_bases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restrictions")),
    )
    op.create_index(op.f("ix_restrictions_status_end_ns"), "restrictions", ["status", "end_ns"], unique=False)
    op.create_index(op.f("ix_restrictions_subject_status"), "restrictions", ["subject", "status"], unique=False)
    op.create_table(
        "appeals",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("restriction_id", sa.String(length=18), nullable=False),
        sa.Column("subject", sa.String(length=68), nullable=False),
        sa.Column("filed_by", sa.String(length=140), nullable=False),
        sa.Column("grounds", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filed_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(length=140), nullable=True),
        sa.Column("decision_reason", sa.String(length=1000), nullable=True),
        sa.Column("decided_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'upheld', 'lifted')", name=op.f("ck_appeals_status")),
        sa.ForeignKeyConstraint(
            ["restriction_id"], ["restrictions.id"], name=op.f("fk_appeals_restriction_id_restrictions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    op.create_index(op.f("ix_appeals_restriction_id"), "appeals", ["restriction_id"], unique=False)
    op.create_index(op.f("ix_appeals_status_filed_at_ns"), "appeals", ["status", "filed_at_ns"], unique=False)
    op.create_index(op.f("ix_appeals_subject_filed_at_ns"), "appeals", ["subject", "filed_at_ns"], unique=False)
    op.create_table(
        "restriction_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("restriction_id", sa.String(length=18), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=140), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["restriction_id"], ["restrictions.id"], name=op.f("fk_restriction_events_restriction_id_restrictions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restriction_events")),
    )
    op.create_index(
        op.f("ix_restriction_events_restriction_id_id"), "restriction_events", ["restriction_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_restriction_events_restriction_id_id"), table_name="restriction_events")
    op.drop_table("restriction_events")
    op.drop_index(op.f("ix_appeals_subject_filed_at_ns"), table_name="appeals")
    op.drop_index(op.f("ix_appeals_status_filed_at_ns"), table_name="appeals")
    op.drop_index(op.f("ix_appeals_restriction_id"), table_name="appeals")
    op.drop_table("appeals")
    op.drop_index(op.f("ix_restrictions_subject_status"), table_name="restrictions")
    op.drop_index(op.f("ix_restrictions_status_end_ns"), table_name="restrictions")
    op.drop_table("restrictions")
    op.drop_index(op.f("ix_notices_subject_created_at_ns_id"), table_name="notices")
    op.drop_table("notices")
    op.drop_table("legal_bases")
