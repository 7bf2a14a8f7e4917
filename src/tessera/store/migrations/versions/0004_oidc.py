"""The OpenID Connect provider: relying parties, authorization requests, codes and tokens.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relying_parties",
        sa.Column("client_id", sa.String(length=19), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("sector_id", sa.String(length=253), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=18), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["principals.id"], name=op.f("fk_relying_parties_created_by_principals")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_relying_parties")),
        sa.UniqueConstraint("name", name=op.f("uq_relying_parties_name")),
    )
    op.create_table(
        "oidc_codes",
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=19), nullable=False),
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("code_challenge", sa.String(length=43), nullable=False),
        sa.Column("nonce", sa.String(length=512), nullable=True),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=False),
        sa.Column("amr", sa.String(length=64), nullable=False),
        sa.Column("auth_time_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("used_at_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["relying_parties.client_id"], name=op.f("fk_oidc_codes_client_id_relying_parties")
        ),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_oidc_codes_number_persons")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oidc_codes")),
    )
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_codes_expires_at_ns"), ["expires_at_ns"], unique=False)

    op.create_table(
        "oidc_requests",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("client_id", sa.String(length=19), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=512), nullable=True),
        sa.Column("nonce", sa.String(length=512), nullable=True),
        sa.Column("code_challenge", sa.String(length=43), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=False),
        sa.Column("ceremony_id", sa.String(length=64), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("closed_at_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["relying_parties.client_id"], name=op.f("fk_oidc_requests_client_id_relying_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_requests")),
    )
    with op.batch_alter_table("oidc_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_requests_expires_at_ns"), ["expires_at_ns"], unique=False)

    op.create_table(
        "oidc_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=19), nullable=False),
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["relying_parties.client_id"], name=op.f("fk_oidc_tokens_client_id_relying_parties")
        ),
        sa.ForeignKeyConstraint(
            ["code_hash"], ["oidc_codes.code_hash"], name=op.f("fk_oidc_tokens_code_hash_oidc_codes")
        ),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_oidc_tokens_number_persons")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oidc_tokens")),
    )
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_tokens_code_hash"), ["code_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_tokens_expires_at_ns"), ["expires_at_ns"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_expires_at_ns"))
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_code_hash"))

    op.drop_table("oidc_tokens")
    with op.batch_alter_table("oidc_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_requests_expires_at_ns"))

    op.drop_table("oidc_requests")
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_codes_expires_at_ns"))

    op.drop_table("oidc_codes")
    op.drop_table("relying_parties")
