"""Who exercises a legal basis, and the court order a restriction carries out (issue 15).

A basis names the agencies whose officers put a restriction under it into effect, amend
or lift it (``legal_bases.exercised_by``, sorted and comma-separated). Bases already on
record get none here: the first registration of the same terms that names them fills
them in (the built-in ones, at the service's next start). A restriction under a court
order keeps the order's reference: court, case number and date.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode, as in 0009: SQLite (3.35+) adds and drops a column in
# place, where batch mode would copy the table and lose its CHECK constraints.
def upgrade() -> None:
    op.add_column("legal_bases", sa.Column("exercised_by", sa.String(length=808), nullable=True))
    op.add_column("restrictions", sa.Column("order_court", sa.String(length=120), nullable=True))
    op.add_column("restrictions", sa.Column("order_case_number", sa.String(length=64), nullable=True))
    op.add_column("restrictions", sa.Column("order_issued_on", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("restrictions", "order_issued_on")
    op.drop_column("restrictions", "order_case_number")
    op.drop_column("restrictions", "order_court")
    op.drop_column("legal_bases", "exercised_by")
