"""What each entry of the persons' change sequence is about (issue 19): ``person_changes.kind``.

The active persons and the households kept between previews follow the same log (migrations
0028 and 0029), and each re-read every number in it: a household member was re-read for every
birth date corrected, and a person for every move between households (at ten million, 30,000
changes cost as many random reads again). The triggers now say which: ``p`` a person's row,
``s`` the subject of a person's principal, ``h`` a household membership. Entries written
before this migration have none (NULL), and both readers read them.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

LOCK = 0x7E55E7A_0028  # migration 0028's advisory lock
_PERSON = ("number", "principal_id", "birth_date", "sex", "status")  # 0028's columns
_MEMBER = ("number", "household_id", "is_head")  # 0029's


def _sqlite(kinds: bool) -> list[str]:
    """0028's and 0029's SQLite triggers, writing each entry's kind when ``kinds``."""

    def logged(number: str, kind: str) -> str:
        if kinds:
            return f"INSERT INTO person_changes (number, kind) VALUES ({number}, '{kind}');"
        return f"INSERT INTO person_changes (number) VALUES ({number});"

    def moved(kind: str) -> str:
        column = ", kind" if kinds else ""
        value = f", '{kind}'" if kinds else ""
        return f"INSERT INTO person_changes (number{column}) SELECT OLD.number{value} WHERE OLD.number != NEW.number;"

    statements = []
    for table, kind, columns, prefix in (
        ("persons", "p", _PERSON, "person_changes"),
        ("household_members", "h", _MEMBER, "household_member_changes"),
    ):
        statements += [
            f"CREATE TRIGGER {prefix}_insert AFTER INSERT ON {table} BEGIN {logged('NEW.number', kind)} END",
            f"CREATE TRIGGER {prefix}_delete AFTER DELETE ON {table} BEGIN {logged('OLD.number', kind)} END",
            f"CREATE TRIGGER {prefix}_update AFTER UPDATE ON {table} WHEN "
            + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
            + f" BEGIN {moved(kind)} {logged('NEW.number', kind)} END",
        ]
    column, value = (", kind", ", 's'") if kinds else ("", "")
    statements.append(
        "CREATE TRIGGER person_changes_subject AFTER UPDATE OF subject ON principals "
        "WHEN OLD.subject IS NOT NEW.subject "
        f"BEGIN INSERT INTO person_changes (number{column}) "
        f"SELECT number{value} FROM persons WHERE principal_id = NEW.id; END"
    )
    return statements


_SQLITE_TRIGGERS = [
    f"{prefix}_{what}"
    for prefix in ("person_changes", "household_member_changes")
    for what in ("insert", "delete", "update")
] + ["person_changes_subject"]


def _postgresql(kinds: bool) -> list[str]:
    """0028's PostgreSQL functions (the triggers call them by name), writing each entry's kind when ``kinds``."""
    kind = "CASE WHEN TG_TABLE_NAME = 'household_members' THEN 'h' ELSE 'p' END"
    column, value, subject = (", kind", f", {kind}", ", 's'") if kinds else ("", "", "")
    return [
        f"""CREATE OR REPLACE FUNCTION person_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK});
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO person_changes (number{column}) VALUES (OLD.number{value});
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR OLD.number <> NEW.number) THEN
        INSERT INTO person_changes (number{column}) VALUES (NEW.number{value});
    END IF;
    RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION principal_subject_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK});
    INSERT INTO person_changes (number{column}) SELECT number{subject} FROM persons WHERE principal_id = NEW.id;
    RETURN NULL;
END $$""",
    ]


def _triggers(kinds: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _postgresql(kinds):
            op.execute(sa.text(statement))
        return
    for trigger in _SQLITE_TRIGGERS:
        op.execute(sa.text(f"DROP TRIGGER {trigger}"))
    for statement in _sqlite(kinds):
        op.execute(sa.text(statement))


def upgrade() -> None:
    op.add_column("person_changes", sa.Column("kind", sa.String(length=1), nullable=True))
    _triggers(kinds=True)


def downgrade() -> None:
    _triggers(kinds=False)
    op.drop_column("person_changes", "kind")
