"""Account holders in two tables, each B-tree filled in its own key order (issue 19): ``holder_accounts``.

``account_holders`` kept one row a pair with two B-trees of unrelated keys (the account, and
the index by principal), so a cycle's million new holders were inserted at random into one
of them: about 4 µs a row in SQLite, most of a first disbursement's wait. The pairs by
principal move to ``holder_accounts`` (its key the index's, with the foreign key to
``principals``); ``account_holders`` keeps the pairs by account alone (on SQLite WITHOUT
ROWID, rebuilt: one B-tree). The store writes both in one transaction, each in its key order.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

_INDEX = "ix_account_holders_principal_id_account_id"
_FK = "fk_account_holders_principal_id_principals"


def upgrade() -> None:
    op.create_table(
        "holder_accounts",
        sa.Column("principal_id", sa.String(18), nullable=False),
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "account_id", name=op.f("pk_holder_accounts")),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_holder_accounts_principal_id_principals")
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO holder_accounts (principal_id, account_id) "
        "SELECT principal_id, account_id FROM account_holders ORDER BY principal_id, account_id"
    )
    op.drop_index(_INDEX, table_name="account_holders")
    if op.get_bind().dialect.name == "sqlite":  # no foreign key is dropped in place there: the table is rebuilt
        _rebuild(with_rowid=False)
    else:
        op.drop_constraint(_FK, "account_holders", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(with_rowid=True)
    else:
        op.create_foreign_key(_FK, "account_holders", "principals", ["principal_id"], ["id"])
    op.create_index(_INDEX, "account_holders", ["principal_id", "account_id"])
    op.drop_table("holder_accounts")


def _rebuild(*, with_rowid: bool) -> None:
    """``account_holders`` again on SQLite: WITHOUT ROWID and no foreign key, or (down) as migration 0001 made it."""
    foreign_keys = [sa.ForeignKeyConstraint(["principal_id"], ["principals.id"], name=op.f(_FK))] if with_rowid else []
    op.create_table(
        "account_holders_new",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("principal_id", sa.String(18), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_holders")),
        *foreign_keys,
        sqlite_with_rowid=with_rowid,
    )
    op.execute(
        "INSERT INTO account_holders_new (account_id, principal_id) "
        "SELECT account_id, principal_id FROM account_holders ORDER BY account_id"
    )
    op.drop_table("account_holders")
    op.rename_table("account_holders_new", "account_holders")
