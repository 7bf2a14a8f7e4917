"""Households in the registry, out of the free-text ``persons.household`` (issue 19).

- ``households``, ``household_members`` (keyed by the person: one household at a time; the
  head a flagged member, one per household), ``household_nominees`` (two slots each) and
  ``household_changes`` (the history, only ever added to).
- Persons who shared the same non-empty ``household`` text become one household. Its head
  is the oldest member (the earliest birth date; then the earliest registered, then the
  lowest number); each member's joining and the head are recorded as changes by
  ``migration 0016`` with the reason "migrated from the free-text household field".
  Texts that show nothing (spaces only) named no household and are left out.
- ``persons.household`` and its index go.

Downgrade puts the column back holding each member's household id, and refuses once a
household has a nominee or a history past its migration, which revision 0015 cannot hold.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ACTOR = "migration 0016"
REASON = "migrated from the free-text household field"
PAGE = 5_000  # household texts per round trip: memory stays bounded on a registry of millions
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
    """One household per distinct non-empty text, a page of texts at a time, its members read by the old index."""
    persons = sa.table(
        "persons",
        sa.column("number", sa.String),
        sa.column("household", sa.String),
        sa.column("birth_date", sa.String),
        sa.column("created_at_ns", sa.BigInteger),
    )
    households = sa.table(
        "households",
        sa.column("id", sa.String),
        sa.column("created_at_ns", sa.BigInteger),
        sa.column("created_by", sa.String),
        sa.column("closed_at_ns", sa.BigInteger),
    )
    members = sa.table(
        "household_members",
        sa.column("number", sa.String),
        sa.column("household_id", sa.String),
        sa.column("is_head", sa.Boolean),
        sa.column("joined_at_ns", sa.BigInteger),
    )
    changes = sa.table(
        "household_changes",
        sa.column("household_id", sa.String),
        sa.column("change", sa.String),
        sa.column("number", sa.String),
        sa.column("actor", sa.String),
        sa.column("reason", sa.String),
        sa.column("at_ns", sa.BigInteger),
    )
    now = time.time_ns()
    after = ""
    while True:
        texts = list(
            conn.scalars(
                sa.select(persons.c.household)
                .where(persons.c.household > after)
                .group_by(persons.c.household)
                .order_by(persons.c.household)
                .limit(PAGE)
            )
        )
        if not texts:
            return
        after = texts[-1]
        rows = conn.execute(
            sa.select(persons.c.household, persons.c.number)
            .where(persons.c.household.in_(texts))
            # The oldest first: the earliest birth date (ISO text sorts as dates do), then who registered first.
            .order_by(persons.c.household, persons.c.birth_date, persons.c.created_at_ns, persons.c.number)
        )
        grouped: dict[str, list[str]] = {}
        for text, number in rows:
            if text.strip():
                grouped.setdefault(text, []).append(number)
        new_households, new_members, new_changes = [], [], []
        for numbers in grouped.values():
            household_id = "h_" + secrets.token_hex(8)
            new_households.append({"id": household_id, "created_at_ns": now, "created_by": ACTOR, "closed_at_ns": None})
            for i, number in enumerate(numbers):
                new_members.append(
                    {"number": number, "household_id": household_id, "is_head": i == 0, "joined_at_ns": now}
                )
                new_changes.append(_change(household_id, "member_joined", number, now))
            new_changes.append(_change(household_id, "head_changed", numbers[0], now))
        if new_households:
            conn.execute(households.insert(), new_households)
            conn.execute(members.insert(), new_members)
            conn.execute(changes.insert(), new_changes)


def _change(household_id: str, change: str, number: str, at_ns: int) -> dict[str, object]:
    return {
        "household_id": household_id,
        "change": change,
        "number": number,
        "actor": ACTOR,
        "reason": REASON,
        "at_ns": at_ns,
    }


def downgrade() -> None:
    conn = op.get_bind()
    later = conn.execute(
        sa.text("SELECT COUNT(*) FROM household_changes WHERE actor != :actor"), {"actor": ACTOR}
    ).scalar_one()
    nominees = conn.execute(sa.text("SELECT COUNT(*) FROM household_nominees")).scalar_one()
    if later or nominees:
        raise RuntimeError(
            f"{later} household changes since migration 0016 and {nominees} nominees: "
            "revision 0015's free-text household cannot hold them"
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
