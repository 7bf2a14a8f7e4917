"""Redemptions left posting, indexed for the start-up sweep (issue 19): a partial index on ``redemptions``.

A redemption is ``posting`` from when its row and chain are written until the ledger's answer
is recorded; a crash in between leaves it so, and ``Services`` settles such rows at start from
what the ledger holds. The index holds only those rows, so the sweep never scans the table.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_POSTING = "status = 'posting'"


def upgrade() -> None:
    op.create_index(
        "ix_redemptions_posting",
        "redemptions",
        ["status"],
        sqlite_where=sa.text(_POSTING),
        postgresql_where=sa.text(_POSTING),
    )


def downgrade() -> None:
    op.drop_index("ix_redemptions_posting", table_name="redemptions")
