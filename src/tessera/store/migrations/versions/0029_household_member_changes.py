"""Household memberships in the persons' change sequence (issue 19): triggers on ``household_members``.

A cycle's preview keeps the registry's households as columns between previews
(``tessera.programs.KeptHouseholds``) and re-reads only the members written since. Each
member inserted, deleted, or updated in their household or head flag is written to
``person_changes`` (migration 0028) by the database itself, as a write to the person's facts
is; on PostgreSQL through 0028's own ``person_changed()``, which takes its shared advisory
lock first, so that a reader holding it exclusively sees every change numbered up to the
newest committed, and no later one.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_READ = ("number", "household_id", "is_head")
_SQLITE = [
    "CREATE TRIGGER household_member_changes_insert AFTER INSERT ON household_members "
    "BEGIN INSERT INTO person_changes (number) VALUES (NEW.number); END",
    "CREATE TRIGGER household_member_changes_delete AFTER DELETE ON household_members "
    "BEGIN INSERT INTO person_changes (number) VALUES (OLD.number); END",
    "CREATE TRIGGER household_member_changes_update AFTER UPDATE ON household_members WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _READ)
    + " BEGIN INSERT INTO person_changes (number) SELECT OLD.number WHERE OLD.number != NEW.number;"
    " INSERT INTO person_changes (number) VALUES (NEW.number); END",
]
_POSTGRESQL = [
    "CREATE TRIGGER household_member_changes_insert AFTER INSERT ON household_members "
    "FOR EACH ROW EXECUTE FUNCTION person_changed()",
    "CREATE TRIGGER household_member_changes_delete AFTER DELETE ON household_members "
    "FOR EACH ROW EXECUTE FUNCTION person_changed()",
    "CREATE TRIGGER household_member_changes_update AFTER UPDATE ON household_members FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _READ)
    + ") EXECUTE FUNCTION person_changed()",
]
_TRIGGERS = ("household_member_changes_insert", "household_member_changes_delete", "household_member_changes_update")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL if postgresql else _SQLITE:
        op.execute(sa.text(statement))


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in _TRIGGERS:
        op.execute(sa.text(f"DROP TRIGGER {trigger}" + (" ON household_members" if postgresql else "")))
