"""Redemptions at outlets (issue 19): each redemption, its transfers, officers' attestations; returns and back-pay.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_STATUSES = "status IN ('awaiting_approval', 'posting', 'completed', 'held', 'posted', 'voided', 'declined', 'refused')"
_AUTHS = "auth IN ('pin', 'app', 'nominee', 'attestation')"
_KINDS = "kind IN ('draw', 'co_payment', 'return', 'post', 'void')"


def upgrade() -> None:
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("outlet_id", sa.String(length=18), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("merchant", sa.String(length=18), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=12), nullable=False),
        sa.Column("holder", sa.String(length=18), nullable=False),
        sa.Column("presented_by", sa.String(length=12), nullable=False),
        sa.Column("auth", sa.String(length=16), nullable=False),
        sa.Column("attestation_id", sa.String(length=18), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("co_payment", sa.BigInteger(), nullable=True),
        sa.Column("co_payment_method", sa.String(length=8), nullable=True),
        sa.Column("hold_timeout_s", sa.Integer(), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("decided_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.CheckConstraint(_STATUSES, name=op.f("ck_redemptions_status")),
        sa.CheckConstraint(_AUTHS, name=op.f("ck_redemptions_auth")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
        sa.UniqueConstraint("merchant", "idempotency_key", name=op.f("uq_redemptions_merchant_idempotency_key")),
    )
    op.create_index(op.f("ix_redemptions_outlet_id_created_at_ns"), "redemptions", ["outlet_id", "created_at_ns"])
    op.create_index(op.f("ix_redemptions_person_created_at_ns"), "redemptions", ["person", "created_at_ns"])
    op.create_table(
        "redemption_transfers",
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("redemption_id", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=False),
        sa.Column("outlet_id", sa.String(length=18), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pending_id", sa.BigInteger(), nullable=True),
        sa.Column("debit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.CheckConstraint(_KINDS, name=op.f("ck_redemption_transfers_kind")),
        sa.ForeignKeyConstraint(
            ["redemption_id"], ["redemptions.id"], name=op.f("fk_redemption_transfers_redemption_id_redemptions")
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_redemption_transfers")),
    )
    op.create_index(op.f("ix_redemption_transfers_redemption_id"), "redemption_transfers", ["redemption_id"])
    op.create_index(
        op.f("ix_redemption_transfers_programme_cycle_id"), "redemption_transfers", ["programme", "cycle_id"]
    )
    op.create_index(op.f("ix_redemption_transfers_outlet_id"), "redemption_transfers", ["outlet_id"])
    op.create_table(
        "redemption_attestations",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("officer", sa.String(length=18), nullable=False),
        sa.Column("person", sa.String(length=12), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("outlet_id", sa.String(length=18), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("used_by", sa.String(length=18), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemption_attestations")),
    )
    op.create_index(op.f("ix_redemption_attestations_person"), "redemption_attestations", ["person"])
    op.create_table(
        "entitlement_adjustments",
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("made_by", sa.String(length=18), nullable=False),
        sa.Column("made_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('return', 'back_pay')", name=op.f("ck_entitlement_adjustments_kind")),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_entitlement_adjustments")),
    )
    op.create_index(
        op.f("ix_entitlement_adjustments_programme_cycle_id"), "entitlement_adjustments", ["programme", "cycle_id"]
    )
    op.create_index(op.f("ix_entitlement_adjustments_person"), "entitlement_adjustments", ["person"])


def downgrade() -> None:
    op.drop_index(op.f("ix_entitlement_adjustments_person"), table_name="entitlement_adjustments")
    op.drop_index(op.f("ix_entitlement_adjustments_programme_cycle_id"), table_name="entitlement_adjustments")
    op.drop_table("entitlement_adjustments")
    op.drop_index(op.f("ix_redemption_attestations_person"), table_name="redemption_attestations")
    op.drop_table("redemption_attestations")
    for index in ("outlet_id", "programme_cycle_id", "redemption_id"):
        op.drop_index(op.f(f"ix_redemption_transfers_{index}"), table_name="redemption_transfers")
    op.drop_table("redemption_transfers")
    op.drop_index(op.f("ix_redemptions_person_created_at_ns"), table_name="redemptions")
    op.drop_index(op.f("ix_redemptions_outlet_id_created_at_ns"), table_name="redemptions")
    op.drop_table("redemptions")
