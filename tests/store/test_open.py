"""Opening, closing and sharing a store: URLs, unreachable servers, SQLite settings, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tessera.auth.principals import Principal, Role
from tessera.errors import ConflictError, InvalidInputError, StoreClosedError, StoreError
from tessera.store import Store

THREADS = 8


class TestUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "",
            "registry.db",
            "mysql://user@host/db",
            "sqlite://",
            "sqlite:///:memory:",
            "sqlite:///file:registry.db?mode=memory",
            "sqlite:///registry.db?timeout=5",
            "sqlite:////no/such/directory/registry.db",
            "postgresql://user@host",
            "postgresql://user@host:notaport/db",
            "x" * 3000,
            None,
        ],
    )
    def test_bad_url__invalid_input_naming_database_url(self, url: str) -> None:
        """Only a SQLite file or a PostgreSQL database with a name will do."""
        with pytest.raises(InvalidInputError) as caught:
            Store.open(url)
        assert caught.value.field == "database_url"

    def test_url_redacted_hides_the_password(self, tmp_path: Path) -> None:
        """The password never appears in what the store shows of its URL."""
        with Store.open(f"sqlite:///{tmp_path}/r.db") as store:
            assert store.url_redacted == f"sqlite:///{tmp_path}/r.db"
            assert repr(store) == f"Store('sqlite:///{tmp_path}/r.db')"

    @pytest.mark.parametrize(
        "url",
        [
            "postgresql://tessera:s3cret-pw@127.0.0.1:1/registry?connect_timeout=2",
            "postgresql://tessera:s3cret-pw@/registry?host=/nonexistent/socket/dir",
        ],
    )
    def test_unreachable_postgresql__store_error_with_url_without_password(self, url: str) -> None:
        """The error says which database could not be reached, and not its password."""
        with pytest.raises(StoreError) as caught:
            Store.open(url)
        message = str(caught.value)
        assert "s3cret-pw" not in message
        assert "tessera:***@" in message and "registry" in message
        assert caught.value.code == "store"


class TestSqlite:
    def test_reopened_file_keeps_its_data(self, tmp_path: Path) -> None:
        """Everything written is there after close and open."""
        url = f"sqlite:///{tmp_path}/registry.db"
        with Store.open(url) as store:
            alice = store.create_principal("alice", Role.citizen)
            store.add_api_key("k_1", alice.id, b"h" * 32, 1)
            store.set_account_holders([(2**62, alice.id)])
        with Store.open(url) as store:
            assert store.get_principal(alice.id) == alice
            assert store.get_api_key("k_1") is not None
            assert store.account_holders([2**62]) == {2**62: alice.id}

    def test_file_uses_wal_and_foreign_keys(self, tmp_path: Path) -> None:
        """WAL persists in the file; foreign keys are on for the store's connections."""
        path = tmp_path / "registry.db"
        with Store.open(f"sqlite:///{path}") as store, store._engine.connect() as conn:  # past the API
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    def test_relative_path_is_allowed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """sqlite:///name.db is relative to the working directory."""
        monkeypatch.chdir(tmp_path)
        Store.open("sqlite:///registry.db").close()
        assert (tmp_path / "registry.db").is_file()


class TestClose:
    def test_calls_after_close__store_closed(self, store: Store) -> None:
        """A closed store refuses calls; closing twice is harmless."""
        store.close()
        store.close()
        with pytest.raises(StoreClosedError):
            store.list_principals()

    def test_context_manager_closes(self, tmp_path: Path) -> None:
        """Leaving the with-block closes the store."""
        with Store.open(f"sqlite:///{tmp_path}/r.db") as store:
            pass
        with pytest.raises(StoreClosedError):
            store.get_principal_by_name("alice")


class TestThreads:
    def _together(self, count: int, work: Callable[[int], object]) -> list[object]:
        """Run ``work(i)`` for each i on its own thread, all released at once."""
        start = threading.Barrier(count)

        def run(i: int) -> object:
            start.wait()
            try:
                return work(i)
            except ConflictError as exc:
                return exc

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(run, range(count)))

    def test_many_threads_write_and_read_at_once(self, store: Store) -> None:
        """Threads creating principals, keys and holders at once all succeed, nothing lost."""

        def work(i: int) -> Principal:
            principal = store.create_principal(f"user {i}", Role.citizen)
            for k in range(5):
                store.add_api_key(f"k_{i}_{k}", principal.id, b"h" * 32, k)
                store.set_account_holders([(1000 * i + k + 1, principal.id)])
                assert store.get_principal(principal.id) == principal
            return principal

        created = self._together(THREADS, work)
        assert all(isinstance(p, Principal) for p in created)
        assert len(store.list_principals()) == THREADS
        for i, principal in enumerate(created):
            assert isinstance(principal, Principal)
            assert len(store.list_api_keys(principal.id)) == 5
            assert store.accounts_held_by(principal.id) == [1000 * i + k + 1 for k in range(5)]

    def test_racing_for_one_name__exactly_one_wins(self, store: Store) -> None:
        """Of threads creating the same name at once, one succeeds and the rest get a conflict."""
        results = self._together(THREADS, lambda i: store.create_principal("popular", Role.merchant))
        assert sum(isinstance(r, Principal) for r in results) == 1
        assert all(isinstance(r, Principal | ConflictError) for r in results)

    def test_racing_for_one_account__exactly_one_holder(self, store: Store) -> None:
        """Of threads claiming one account for different principals, one wins; the holder is that one."""
        claimants = [store.create_principal(f"claimant {i}", Role.merchant) for i in range(THREADS)]
        results = self._together(THREADS, lambda i: store.set_account_holders([(7, claimants[i].id)]))
        winners = [claimants[i].id for i, r in enumerate(results) if r is None]
        assert len(winners) == 1
        assert store.account_holders([7]) == {7: winners[0]}
