"""An eligibility grant keeps the data categories it was derived from (issue 16).

A grant that came from disability data is disability data wherever it is read next, so
it carries those categories with it; grants made before this migration have none (NULL).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, as 0009: SQLite adds and drops a column in place.
def upgrade() -> None:
    op.add_column("eligibility_grants", sa.Column("categories", sa.String(length=400), nullable=True))


def downgrade() -> None:
    op.drop_column("eligibility_grants", "categories")
