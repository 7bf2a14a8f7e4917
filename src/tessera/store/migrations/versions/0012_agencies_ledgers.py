"""Who may create money: a register of agencies, of ledgers and their issuers, and two-admin requests (issue 15).

The built-in agencies are inserted here, as the register's first rows; every agency an
existing principal names is kept too, so no officer loses its agency on upgrade.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The agencies every deployment starts with; the rules' definitions and legal bases name them.
BUILTIN_AGENCIES = (
    ("appeals-tribunal", "Appeals Tribunal"),
    ("border-agency", "Border Agency"),
    ("central-bank", "Central Bank"),
    ("civil-registry", "Civil Registry"),
    ("courts", "The Courts"),
    ("credit-bureau", "Credit Bureau"),
    ("financial-intelligence-unit", "Financial Intelligence Unit"),
    ("social-security", "Social Security Administration"),
    ("tax-office", "Tax Office"),
)


def upgrade() -> None:
    agencies = op.create_table(
        "agencies",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("registered_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("registered_by", sa.String(length=140), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
    )
    op.create_table(
        "ledgers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=100), nullable=False),
        sa.Column("registered_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.String(length=140), nullable=False),
        sa.Column("approved_by", sa.String(length=140), nullable=False),
        sa.CheckConstraint("decimals >= 0 AND decimals <= 18", name=op.f("ck_ledgers_decimals")),
        sa.ForeignKeyConstraint(["issuer"], ["agencies.id"], name=op.f("fk_ledgers_issuer_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledgers")),
        sa.UniqueConstraint("name", name=op.f("uq_ledgers_name")),
    )
    op.create_table(
        "admin_requests",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.String(length=2000), nullable=False),
        sa.Column("requested_by", sa.String(length=18), nullable=False),
        sa.Column("requested_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=18), nullable=True),
        sa.Column("decided_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=2000), nullable=True),
        sa.CheckConstraint("kind IN ('officer_key', 'ledger')", name=op.f("ck_admin_requests_kind")),
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name=op.f("ck_admin_requests_status")),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["principals.id"], name=op.f("fk_admin_requests_requested_by_principals")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["principals.id"], name=op.f("fk_admin_requests_decided_by_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_requests")),
    )
    op.create_index(op.f("ix_admin_requests_status_requested_at_ns"), "admin_requests", ["status", "requested_at_ns"])
    now = time.time_ns()
    builtin = dict(BUILTIN_AGENCIES)
    in_use = op.get_bind().execute(sa.text("SELECT DISTINCT agency FROM principals WHERE agency != ''")).scalars()
    legacy = {name: name for name in in_use if name not in builtin}  # as principals spelled them
    rows = [
        {"id": i, "title": t, "registered_at_ns": now, "registered_by": "migration 0012"}
        for i, t in sorted({**builtin, **legacy}.items())
    ]
    op.bulk_insert(agencies, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_admin_requests_status_requested_at_ns"), table_name="admin_requests")
    op.drop_table("admin_requests")
    op.drop_table("ledgers")
    op.drop_table("agencies")
