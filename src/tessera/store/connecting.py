"""Connecting to the registry's database: its URL checked, and an engine whose connections start as Tessera needs.

SQLite: WAL, foreign keys on, a busy timeout, ``BEGIN IMMEDIATE`` for a writer, and
``synchronous`` FULL unless a transaction asked not to wait for the disk (``LAZY``);
PostgreSQL: ``synchronous_commit`` off for those transactions alone.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from tessera.errors import InvalidInputError, StoreError
from tessera.store.shared import LAZY as _LAZY
from tessera.store.shared import WRITE as _WRITE

URL_MAX = 2048
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 10.0
_SYNCHRONOUS = "tessera_synchronous"  # a pooled SQLite connection's PRAGMA synchronous, kept in its info


def parsed_url(url: object) -> tuple[URL, str]:
    """The URL to connect with (driver chosen) and the one to show (password hidden)."""
    usage = "expected sqlite:///path/to/registry.db or postgresql://user@host/dbname"
    if not isinstance(url, str) or not url or len(url) > URL_MAX:
        raise InvalidInputError("database_url", f"must be a URL of 1-{URL_MAX} characters; {usage}")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise InvalidInputError("database_url", f"is not a database URL; {usage}") from None
    redacted = unquote(parsed.render_as_string(hide_password=True))
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        path = parsed.database
        if not path or path == ":memory:" or path.startswith("file:"):
            raise InvalidInputError("database_url", f"must name a database file; {usage}")
        if parsed.query or parsed.host or parsed.username or parsed.password:
            raise InvalidInputError("database_url", "a sqlite URL takes a path only: no host, user or ?options")
        if not Path(path).parent.is_dir():
            raise InvalidInputError("database_url", f"the directory {Path(path).parent} does not exist")
        return parsed.set(drivername="sqlite+pysqlite"), redacted
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        if not parsed.database:
            raise InvalidInputError("database_url", f"must name a database; {usage}")
        return parsed.set(drivername="postgresql+psycopg"), redacted
    raise InvalidInputError("database_url", f"unsupported scheme {parsed.drivername!r}; {usage}")


def engine_for(url: URL) -> Engine:
    """An engine for a parsed URL: SQLite in WAL mode with its pragmas set per connection, or PostgreSQL."""
    if url.get_backend_name() == "sqlite":
        # QueuePool, one connection per concurrent caller; WAL lets readers run beside the writer.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {"application_name": "tessera"}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        # pre_ping: a pooled connection that died with a server restart is replaced, not handed out.
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True, hide_parameters=True)
    except ImportError as exc:
        raise StoreError(f"PostgreSQL needs the psycopg driver: pip install 'psycopg[binary]' ({exc})") from exc
    event.listen(engine, "begin", _postgresql_begin)
    return engine


def _sqlite_connected(dbapi_connection: Any, record: Any) -> None:
    # sqlite3's own transaction handling would not BEGIN before a SELECT; we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=FULL")  # every commit waits for the disk, unless asked not to
    finally:
        cursor.close()
    record.info[_SYNCHRONOUS] = "FULL"


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    # A connection's setting, not a transaction's: changed only when the next commit wants another.
    synchronous = "NORMAL" if options.get(_LAZY) else "FULL"
    if conn.info.get(_SYNCHRONOUS) != synchronous:
        _driver_sql(conn, f"PRAGMA synchronous={synchronous}")
        conn.info[_SYNCHRONOUS] = synchronous
    # A writer takes the write lock up front. A deferred transaction that read first and
    # then wrote would fail at once with SQLITE_BUSY when another writer got in between,
    # without waiting out the busy timeout.
    _driver_sql(conn, "BEGIN IMMEDIATE" if options.get(_WRITE) else "BEGIN")


def _driver_sql(conn: Connection, statement: str) -> None:
    """A statement straight to sqlite3 (SQLAlchemy's execution costs more than BEGIN); faults come out as its errors."""
    try:
        conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _postgresql_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_LAZY):
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")  # this transaction's alone
