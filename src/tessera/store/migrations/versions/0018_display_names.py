"""A principal may carry the display name its agency publishes, shown in people's access logs (issue 18).

A person reading who looked at their data is told the officer's role, agency and this
name, never the principal's ``name`` (a login, perhaps a real name). Principals made before
this migration have none (NULL): they are shown a pseudonym made from their id.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, as 0009: SQLite adds and drops a column in place.
def upgrade() -> None:
    op.add_column("principals", sa.Column("display_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("principals", "display_name")
