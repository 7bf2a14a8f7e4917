"""A merchant principal may act for an organisation, whose restrictions then reach its accounts (issue 5).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: SQLite (3.35+) adds and drops a column in place, where
# batch mode would copy the table and lose its CHECK constraint, which SQLite cannot reflect.
def upgrade() -> None:
    op.add_column("principals", sa.Column("organisation", sa.String(length=68), nullable=True))
    op.create_index(op.f("ix_principals_organisation"), "principals", ["organisation"])


def downgrade() -> None:
    op.drop_index(op.f("ix_principals_organisation"), table_name="principals")
    op.drop_column("principals", "organisation")
