"""Programmes registered, and their cycles (issue 19): definitions, cycles with every step's actor, per-unit results.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_STATUSES = "status IN ('draft', 'previewed', 'approved', 'disbursing', 'disbursed', 'closed')"


def upgrade() -> None:
    op.create_table(
        "programme_definitions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("funding", sa.Text(), nullable=False),
        sa.Column("registered_by", sa.String(length=18), nullable=False),
        sa.Column("registered_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_programme_definitions")),
    )
    stepped: list[sa.Column[object]] = []
    for step in ("previewed", "approved", "disbursed", "closed"):
        stepped += [
            sa.Column(f"{step}_by", sa.String(length=18), nullable=True),
            sa.Column(f"{step}_at_ns", sa.BigInteger(), nullable=True),
        ]
    op.create_table(
        "programme_cycles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cycle_date_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=18), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        *stepped,
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("batches_done", sa.Integer(), nullable=False),
        sa.CheckConstraint(_STATUSES, name=op.f("ck_programme_cycles_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_cycles")),
    )
    op.create_index(op.f("ix_programme_cycles_programme"), "programme_cycles", ["programme"])
    op.create_table(
        "cycle_results",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=12), nullable=False),
        sa.Column("holder", sa.String(length=18), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("amounts", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["programme_cycles.id"], name=op.f("fk_cycle_results_cycle_id_programme_cycles")
        ),
        sa.PrimaryKeyConstraint("cycle_id", "seq", name=op.f("pk_cycle_results")),
    )


def downgrade() -> None:
    op.drop_table("cycle_results")
    op.drop_index(op.f("ix_programme_cycles_programme"), table_name="programme_cycles")
    op.drop_table("programme_cycles")
    op.drop_table("programme_definitions")
