"""When the ledger took an upheld grievance's back-pay: what is owed after a crash is found and sent (issue 19).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("grievances", sa.Column("back_paid_at_ns", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grievances") as batch:
        batch.drop_column("back_paid_at_ns")
