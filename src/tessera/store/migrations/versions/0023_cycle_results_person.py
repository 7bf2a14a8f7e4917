"""A person's own results across cycles (issue 19, /v1/me/entitlements): cycle_results indexed by the unit's number.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_cycle_results_person_cycle_id"), "cycle_results", ["person", "cycle_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cycle_results_person_cycle_id"), table_name="cycle_results")
