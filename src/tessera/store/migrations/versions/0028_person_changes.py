"""The persons' change sequence (issue 19): a log written by triggers on ``persons`` and ``principals``.

A cycle's preview keeps the active persons as columns between cycles and re-reads only the
persons written since (``tessera.programs.active_persons``). The log is written by the
database itself, so that no writer, the registry's or a bulk load's, can leave it behind:
a row for each person inserted, deleted, or updated in a fact a cycle reads (principal,
birth date, sex, status), and for the person of each principal whose subject changes.

On PostgreSQL sequence numbers are drawn before commit, so a reader could pass over one
still uncommitted; every trigger takes a shared transaction-level advisory lock first, and
a reader takes it exclusively while it reads the newest sequence number: every change
numbered up to it has then committed.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

LOCK = 0x7E55E7A_0028  # the advisory lock's key: tessera.programs.kept_files.CHANGES_LOCK, the same
_READ = ("principal_id", "birth_date", "sex", "status")  # the facts a snapshot keeps; numbers never change
_SQLITE = [
    "CREATE TRIGGER person_changes_insert AFTER INSERT ON persons "
    "BEGIN INSERT INTO person_changes (number) VALUES (NEW.number); END",
    "CREATE TRIGGER person_changes_delete AFTER DELETE ON persons "
    "BEGIN INSERT INTO person_changes (number) VALUES (OLD.number); END",
    "CREATE TRIGGER person_changes_update AFTER UPDATE ON persons WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("number", *_READ))
    + " BEGIN INSERT INTO person_changes (number) SELECT OLD.number WHERE OLD.number != NEW.number;"
    " INSERT INTO person_changes (number) VALUES (NEW.number); END",
    "CREATE TRIGGER person_changes_subject AFTER UPDATE OF subject ON principals "
    "WHEN OLD.subject IS NOT NEW.subject "
    "BEGIN INSERT INTO person_changes (number) SELECT number FROM persons WHERE principal_id = NEW.id; END",
]
_POSTGRESQL = [
    f"""CREATE FUNCTION person_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK});
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO person_changes (number) VALUES (OLD.number);
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR OLD.number <> NEW.number) THEN
        INSERT INTO person_changes (number) VALUES (NEW.number);
    END IF;
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION principal_subject_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK});
    INSERT INTO person_changes (number) SELECT number FROM persons WHERE principal_id = NEW.id;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER person_changes_insert AFTER INSERT ON persons FOR EACH ROW EXECUTE FUNCTION person_changed()",
    "CREATE TRIGGER person_changes_delete AFTER DELETE ON persons FOR EACH ROW EXECUTE FUNCTION person_changed()",
    "CREATE TRIGGER person_changes_update AFTER UPDATE ON persons FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in ("number", *_READ))
    + ") EXECUTE FUNCTION person_changed()",
    "CREATE TRIGGER person_changes_subject AFTER UPDATE OF subject ON principals FOR EACH ROW "
    "WHEN (OLD.subject IS DISTINCT FROM NEW.subject) EXECUTE FUNCTION principal_subject_changed()",
]
_TRIGGERS = {
    "person_changes_insert": "persons",
    "person_changes_delete": "persons",
    "person_changes_update": "persons",
    "person_changes_subject": "principals",
}


def upgrade() -> None:
    op.create_table(
        "person_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_person_changes")),
        sqlite_autoincrement=True,
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL if postgresql else _SQLITE:
        op.execute(sa.text(statement))


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger, table in _TRIGGERS.items():
        op.execute(sa.text(f"DROP TRIGGER {trigger}" + (f" ON {table}" if postgresql else "")))
    if postgresql:
        op.execute(sa.text("DROP FUNCTION person_changed()"))
        op.execute(sa.text("DROP FUNCTION principal_subject_changed()"))
    op.drop_table("person_changes")
