"""Migrations: run on open, idempotent, reversible, and in step with tables.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from tessera.auth.principals import Role
from tessera.errors import ConflictError, StoreError
from tessera.store import Store, migrate
from tessera.store.metadata import metadata
from tessera.store.store import MIGRATIONS_DIR, _current_revisions, _head_revision, alembic_config

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _revision(store: Store) -> str | None:
    with store._engine.connect() as conn:  # the store's own pool, past its API
        return MigrationContext.configure(conn).get_current_revision()


def test_the_head_read_from_file_names_is_alembics_and_the_history_one_line() -> None:
    """Store.open knows the head without alembic: the newest file's number, which alembic agrees with."""
    script = ScriptDirectory.from_config(alembic_config())
    assert _head_revision() == HEAD and len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        assert revision.path is not None and Path(revision.path).name.startswith(f"{revision.revision}_")


def test_the_revision_read_without_alembic_is_alembics(database_url: str) -> None:
    """The store reads the database's revision as alembic does: head after opening."""
    with Store.open(database_url) as store, store._engine.connect() as conn:
        assert _current_revisions(conn) == (HEAD,) == (_revision(store),)


def test_open_migrates_an_empty_database_to_head(database_url: str) -> None:
    """A new database gets every table and the newest revision."""
    with Store.open(database_url) as store:
        assert _revision(store) == HEAD
        with store._engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {*metadata.tables, "alembic_version"}


def test_open_twice_is_idempotent(database_url: str) -> None:
    """Opening a migrated database changes nothing and keeps the data."""
    with Store.open(database_url) as store:
        alice = store.create_principal("alice", Role.citizen)
    with Store.open(database_url) as store:
        assert _revision(store) == HEAD
        assert store.list_principals() == [alice]


def test_migrations_produce_exactly_tables_py(database_url: str) -> None:
    """Autogenerate finds no difference between the migrated schema and tables.py."""
    with Store.open(database_url) as store, store._engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    """Every migration's downgrade undoes its upgrade; the store then migrates afresh."""
    with Store.open(database_url) as store:
        config = alembic_config()
        with store._engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with store._engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    with Store.open(database_url) as store:
        assert _revision(store) == HEAD


def test_holders_recorded_before_0032_are_kept_by_account_and_by_principal(database_url: str) -> None:
    """Migration 0032 moves the pairs by principal to their own table: both reads answer as before, both ways down."""
    with Store.open(database_url) as store:
        alice, bob = (store.create_principal(name, Role.citizen) for name in ("alice", "bob"))
        store.set_account_holders([(9, alice.id), (2**62, bob.id), (4, alice.id)])
        config = alembic_config()
        for target in ("0031", "head"):
            with store._engine.begin() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, target) if target == "0031" else command.upgrade(config, target)
        assert store.account_holders([4, 9, 2**62, 5]) == {4: alice.id, 9: alice.id, 2**62: bob.id}
        assert (store.accounts_held_by(alice.id), store.accounts_held_by(bob.id)) == ([4, 9], [2**62])
        with pytest.raises(ConflictError):  # still one holder an account
            store.set_account_holders([(9, bob.id)])


def test_database_from_a_newer_version__store_error(database_url: str) -> None:
    """A revision this code does not know is refused with the URL, not half-migrated."""
    with Store.open(database_url) as store, store._engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError) as caught:
        Store.open(database_url)
    assert "9999" in str(caught.value)


def test_revisions_are_numbered_files_in_one_line() -> None:
    """Revision ids are 0001, 0002, ... with no branches, each in a file named for it."""
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.walk_revisions())[::-1]
    assert [r.revision for r in revisions] == [f"{i:04d}" for i in range(1, len(revisions) + 1)]
    assert len(script.get_heads()) == 1
    for revision in revisions:
        assert revision.path is not None
        assert Path(revision.path).parent == MIGRATIONS_DIR / "versions"
        assert Path(revision.path).name.startswith(revision.revision + "_")


class TestMigrateCommand:
    def test_check_finds_tables_py_and_migrations_agree(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``python -m tessera.store.migrate check`` passes on a clean tree."""
        assert migrate.main(["check"]) == 0
        assert "No new upgrade operations detected" in capsys.readouterr().out

    def test_heads_names_the_one_head(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Alembic's commands run without an alembic.ini."""
        assert migrate.main(["heads"]) == 0
        assert capsys.readouterr().out.strip() == f"{HEAD} (head)"

    def test_next_revision_is_numbered_after_the_head(self) -> None:
        """A new revision file gets the next four-digit number."""
        assert HEAD is not None
        assert migrate.next_revision_id() == f"{int(HEAD) + 1:04d}"

    def test_no_command__usage_and_status_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a command it prints usage to stderr."""
        assert migrate.main([]) == 2
        assert "usage" in capsys.readouterr().err
