"""A throwaway PostgreSQL server for the tests: started once per session, deleted at the end.

``initdb`` into a private temporary directory (handed to the ``postgres`` user when the
tests run as root, since the server refuses to run as root), no TCP listener, the unix
socket in that directory (so the port number can clash with nothing), and no fsync:
the data lives only as long as the test session. Nothing is installed; without server
binaries ``start_server`` raises ``PgUnavailableError`` saying what is missing.

    server = start_server()
    try:
        url = server.create_database()   # postgresql://postgres@/t_...?host=/tmp/...
    finally:
        server.stop()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    import psycopg
except ImportError:  # start_server says how to get it
    psycopg = None  # type: ignore[assignment]

POSTGRES_USER = "postgres"
PORT = 5432  # names the socket file only; there is no TCP listener
VERSION_PREFERRED = 15
COMMAND_SECONDS_MAX = 60
BIN_ENV = "TESSERA_PG_BIN"  # a directory holding initdb, pg_ctl and postgres, to use those
INSTALL_HINT = (
    "install the server with `apt-get install postgresql-15` (Debian/Ubuntu) or "
    "`brew install postgresql@15` (macOS), or point TESSERA_PG_BIN at a directory holding "
    "initdb, pg_ctl and postgres"
)
_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")


class PgUnavailableError(Exception):
    """No server can be started here; the message says what is missing and how to get it."""


def _complete(bin_dir: Path) -> bool:
    return all((bin_dir / name).is_file() for name in _SERVER_PROGRAMS)


def _version_of(bin_dir: Path) -> int:
    match = re.search(r"/(\d+)/bin$", str(bin_dir))
    return int(match.group(1)) if match else 0


def find_bin_dir() -> Path:
    """A directory with the server programs: $TESSERA_PG_BIN, `pg_config --bindir`, /usr/lib/postgresql/*/bin."""
    given = os.environ.get(BIN_ENV)
    if given:
        if not _complete(Path(given)):
            raise PgUnavailableError(f"{BIN_ENV}={given} holds no {', '.join(_SERVER_PROGRAMS)}")
        return Path(given)
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(done.stdout.strip()))
    system = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_of)
    candidates += sorted(system, key=lambda d: _version_of(d) == VERSION_PREFERRED)[::-1]
    for bin_dir in candidates:
        if _complete(bin_dir):
            return bin_dir
    looked = ", ".join(str(c) for c in candidates) or "no pg_config on PATH, no /usr/lib/postgresql/*/bin"
    raise PgUnavailableError(
        f"no PostgreSQL server programs ({', '.join(_SERVER_PROGRAMS)}) found (looked in: {looked}); {INSTALL_HINT}"
    )


@dataclass(slots=True)
class PgServer:
    """A running throwaway cluster; ``create_database`` hands out fresh databases."""

    bin_dir: Path
    root: Path
    as_user: list[str] = field(default_factory=list)
    started: bool = False

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str) -> str:
        return f"postgresql://{POSTGRES_USER}@/{database}?host={self.root}&port={PORT}"

    def _run(self, args: Sequence[str]) -> None:
        # A session of its own keeps a Ctrl-C at the terminal away from the postmaster:
        # stop() decides how the server ends.
        done = subprocess.run(
            [*self.as_user, *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS_MAX,
            check=False,
            start_new_session=True,
        )
        if done.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise PgUnavailableError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def start(self) -> None:
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", POSTGRES_USER]
        self._run([*initdb, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.root),
            "port": str(PORT),
            # Speed over durability: the cluster is deleted when the session ends.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
        self.started = True  # from here on stop() must try, even if the start half-worked
        pg_ctl = str(self.bin_dir / "pg_ctl")
        self._run([pg_ctl, "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "start"])

    def stop(self) -> None:
        """Stop the server (no shutdown checkpoint: the data is thrown away) and delete it all."""
        try:
            if self.started:
                with contextlib.suppress(PgUnavailableError, subprocess.SubprocessError):
                    self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run statements on a database (the maintenance one by default), outside a transaction."""
        with psycopg.connect(
            host=str(self.root), port=PORT, user=POSTGRES_USER, dbname=database, autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def create_database(self, template: str = "template1") -> str:
        """A new, empty (or ``template``-copied) database; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = database_of(url)
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_of(url: str) -> str:
    """The database name in one of our URLs."""
    return urlsplit(url).path.lstrip("/")


def start_server() -> PgServer:
    """Start a throwaway server, or raise ``PgUnavailableError`` naming what is missing."""
    if psycopg is None:  # the store's driver: a server is no use without it
        raise PgUnavailableError("psycopg is not installed: pip install -e '.[test]'")
    bin_dir = find_bin_dir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            account: Any = pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            raise PgUnavailableError(
                f"running as root, and there is no {POSTGRES_USER!r} user to run the server as "
                "(PostgreSQL refuses root): run the tests as an ordinary user, or create that user"
            ) from None
        if shutil.which("runuser") is None:
            raise PgUnavailableError("running as root, and `runuser` (util-linux) is not on PATH")
        as_user = ["runuser", "-u", POSTGRES_USER, "--"]
    root = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
    if as_user:
        os.chown(root, account.pw_uid, account.pw_gid)
    server = PgServer(bin_dir=bin_dir, root=root, as_user=as_user)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
