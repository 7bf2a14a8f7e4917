"""Passkeys, PINs and their ceremonies (the internet ID credential).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passkey_users",
        sa.Column("number", sa.String(12), nullable=False),
        sa.Column("user_handle", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_passkey_users_number_persons")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_passkey_users")),
        sa.UniqueConstraint("user_handle", name=op.f("uq_passkey_users_user_handle")),
    )
    op.create_table(
        "passkeys",
        sa.Column("credential_id", sa.String(1366), nullable=False),
        sa.Column("number", sa.String(12), nullable=False),
        sa.Column("public_key", sa.LargeBinary(2048), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("transports", sa.String(128), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("sign_count >= 0", name=op.f("ck_passkeys_sign_count")),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_passkeys_number_persons")),
        sa.PrimaryKeyConstraint("credential_id", name=op.f("pk_passkeys")),
    )
    op.create_index(op.f("ix_passkeys_number_created_at_ns"), "passkeys", ["number", "created_at_ns"])
    op.create_table(
        "rebind_grants",
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("number", sa.String(12), nullable=False),
        sa.Column("officer_id", sa.String(18), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("used_at_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_rebind_grants_number_persons")),
        sa.ForeignKeyConstraint(["officer_id"], ["principals.id"], name=op.f("fk_rebind_grants_officer_id_principals")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_rebind_grants")),
    )
    op.create_index(op.f("ix_rebind_grants_number"), "rebind_grants", ["number"])
    op.create_table(
        "webauthn_ceremonies",
        sa.Column("id", sa.String(34), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("number", sa.String(12), nullable=True),
        sa.Column("challenge", sa.LargeBinary(32), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("rebind_grant", sa.LargeBinary(32), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("used_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('register', 'login')", name=op.f("ck_webauthn_ceremonies_kind")),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_webauthn_ceremonies_number_persons")),
        sa.ForeignKeyConstraint(
            ["rebind_grant"],
            ["rebind_grants.token_hash"],
            name=op.f("fk_webauthn_ceremonies_rebind_grant_rebind_grants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webauthn_ceremonies")),
    )
    op.create_index(op.f("ix_webauthn_ceremonies_expires_at_ns"), "webauthn_ceremonies", ["expires_at_ns"])
    op.create_table(
        "pins",
        sa.Column("number", sa.String(12), nullable=False),
        sa.Column("pin_hash", sa.String(256), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("reset_by", sa.String(18), nullable=True),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("failed_attempts >= 0 AND lockouts >= 0", name=op.f("ck_pins_counters")),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_pins_number_persons")),
        sa.ForeignKeyConstraint(["reset_by"], ["principals.id"], name=op.f("fk_pins_reset_by_principals")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_pins")),
    )


def downgrade() -> None:
    op.drop_table("pins")
    op.drop_table("webauthn_ceremonies")  # before rebind_grants, which it refers to
    op.drop_table("rebind_grants")
    op.drop_table("passkeys")
    op.drop_table("passkey_users")
