"""Households in the registry, out of the free-text ``persons.household`` (issue 19).

- ``households``, ``household_members`` (keyed by the person: one household at a time; the
  head a flagged member, one per household), ``household_nominees`` (two slots each) and
  ``household_changes`` (the history, only ever added to).
- Persons who shared the same non-empty ``household`` text become one household. Its head
  is the oldest member (the earliest birth date; then the earliest registered, then the
  lowest number); each member's joining and the head are recorded as changes by
  ``migration 0019`` with the reason "migrated from the free-text household field".
  Texts of spaces alone named no household and are left out. It is done in set-based SQL
  (a few INSERT ... SELECT), so a registry of millions moves in one pass of the database.
- ``persons.household`` and its index go.

Downgrade puts the column back holding each member's household id, and refuses once a
household has a nominee or a history past its migration, which revision 0018 cannot hold.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ACTOR = "migration 0019"
REASON = "migrated from the free-text household field"
SCRATCH = "household_texts_0019"  # the text-to-id map, made and dropped within the upgrade
_CHANGES = "change IN ('member_joined', 'member_left', 'head_changed', 'nominee_added', 'nominee_removed')"


def upgrade() -> None:
    op.create_table(
        "households",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=140), nullable=False),
        sa.Column("closed_at_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
    )
    op.create_table(
        "household_members",
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.Column("household_id", sa.String(length=18), nullable=False),
        sa.Column("is_head", sa.Boolean(), nullable=False),
        sa.Column("joined_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_household_members_household_id_households")
        ),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_household_members_number_persons")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_household_members")),
    )
    op.create_index(op.f("ix_household_members_household_id_number"), "household_members", ["household_id", "number"])
    op.create_index(
        "uq_household_members_head",
        "household_members",
        ["household_id"],
        unique=True,
        sqlite_where=sa.text("is_head"),
        postgresql_where=sa.text("is_head"),
    )
    op.create_table(
        "household_nominees",
        sa.Column("household_id", sa.String(length=18), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.Column("added_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("slot >= 1 AND slot <= 2", name=op.f("ck_household_nominees_slot")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_household_nominees_household_id_households")
        ),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_household_nominees_number_persons")),
        sa.PrimaryKeyConstraint("household_id", "slot", name=op.f("pk_household_nominees")),
        sa.UniqueConstraint("household_id", "number", name=op.f("uq_household_nominees_household_id_number")),
    )
    op.create_index(op.f("ix_household_nominees_number"), "household_nominees", ["number"])
    op.create_table(
        "household_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("household_id", sa.String(length=18), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=140), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_CHANGES, name=op.f("ck_household_changes_change")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_household_changes_household_id_households")
        ),
        sa.ForeignKeyConstraint(["number"], ["persons.number"], name=op.f("fk_household_changes_number_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_changes")),
    )
    op.create_index(op.f("ix_household_changes_household_id_id"), "household_changes", ["household_id", "id"])
    _move_free_text_households(op.get_bind())
    # Plain ALTER TABLE, as 0015: SQLite drops a column in place once no index names it.
    op.drop_index(op.f("ix_persons_household"), table_name="persons")
    op.drop_column("persons", "household")


def _move_free_text_households(conn: sa.Connection) -> None:
    """One household per distinct text that shows something, in set-based SQL: a registry of millions
    moves in a few statements, never a row at a time through Python.

    A scratch table maps each text to a new random id (drawn by the database: ``h_`` and 16 hex
    digits), then households, members (the first of each text by age heads it) and their
    history are each one INSERT ... SELECT, the history in order: each household's members
    oldest first, then its head.
    """
    now = time.time_ns()
    draw = (
        "'h_' || lower(hex(randomblob(8)))"
        if conn.dialect.name == "sqlite"
        else "'h_' || substr(md5(random()::text || clock_timestamp()::text || household), 1, 16)"
    )
    params = {"now": now, "actor": ACTOR, "reason": REASON}
    ranked = (
        "SELECT p.number, m.id, ROW_NUMBER() OVER (PARTITION BY p.household"
        " ORDER BY p.birth_date, p.created_at_ns, p.number) AS oldest"
        f" FROM persons p JOIN {SCRATCH} m ON m.household = p.household"
    )
    statements = [
        f"CREATE TABLE {SCRATCH} (household VARCHAR(64) PRIMARY KEY, id VARCHAR(18) NOT NULL UNIQUE)",
        # Spaces alone name no household (TRIM drops spaces on both databases).
        f"INSERT INTO {SCRATCH} (household, id) SELECT household, {draw} FROM persons"
        " WHERE TRIM(household) != '' GROUP BY household",
        "INSERT INTO households (id, created_at_ns, created_by, closed_at_ns)"
        f" SELECT id, :now, :actor, NULL FROM {SCRATCH}",
        "INSERT INTO household_members (number, household_id, is_head, joined_at_ns)"
        f" SELECT number, id, oldest = 1, :now FROM ({ranked}) ranked",
        "INSERT INTO household_changes (household_id, change, number, actor, reason, at_ns)"
        f" SELECT id, 'member_joined', number, :actor, :reason, :now FROM ({ranked}) ranked ORDER BY id, oldest",
        "INSERT INTO household_changes (household_id, change, number, actor, reason, at_ns)"
        " SELECT household_id, 'head_changed', number, :actor, :reason, :now FROM household_members"
        " WHERE is_head ORDER BY household_id",
        f"DROP TABLE {SCRATCH}",
    ]
    for statement in statements:
        conn.execute(sa.text(statement), {k: v for k, v in params.items() if f":{k}" in statement})


def downgrade() -> None:
    conn = op.get_bind()
    later = conn.execute(
        sa.text("SELECT COUNT(*) FROM household_changes WHERE actor != :actor"), {"actor": ACTOR}
    ).scalar_one()
    nominees = conn.execute(sa.text("SELECT COUNT(*) FROM household_nominees")).scalar_one()
    if later or nominees:
        raise RuntimeError(
            f"{later} household changes since migration 0019 and {nominees} nominees: "
            "revision 0018's free-text household cannot hold them"
        )
    op.add_column("persons", sa.Column("household", sa.String(length=64), nullable=False, server_default=""))
    conn.execute(
        sa.text(
            "UPDATE persons SET household = (SELECT household_id FROM household_members"
            " WHERE household_members.number = persons.number) WHERE number IN (SELECT number FROM household_members)"
        )
    )
    op.create_index(op.f("ix_persons_household"), "persons", ["household"])
    op.drop_index(op.f("ix_household_changes_household_id_id"), table_name="household_changes")
    op.drop_table("household_changes")
    op.drop_index(op.f("ix_household_nominees_number"), table_name="household_nominees")
    op.drop_table("household_nominees")
    op.drop_index("uq_household_members_head", table_name="household_members")
    op.drop_index(op.f("ix_household_members_household_id_number"), table_name="household_members")
    op.drop_table("household_members")
    op.drop_table("households")
