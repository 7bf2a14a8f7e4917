"""Restrictions with due process: legal bases, restrictions, notices and appeals (issue 5).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # tables to come (issue 5)


def downgrade() -> None:
    pass
