"""Alembic's commands with Tessera's migrations, for developers: ``python -m tessera.store.migrate``.

No ``alembic.ini``: the configuration is built in code, as ``Store.open`` builds it. The
commands run against a scratch SQLite database, migrated to head and deleted afterwards,
unless ``-x database_url=...`` names a real one::

    python -m tessera.store.migrate revision --autogenerate -m "add widgets"   # writes 0002_add_widgets.py
    python -m tessera.store.migrate check       # fails if tables.py has changes no migration makes
    python -m tessera.store.migrate history
    python -m tessera.store.migrate -x database_url=postgresql://tessera@db/tessera current
    python -m tessera.store.migrate -x database_url=postgresql://tessera@db/tessera upgrade head --sql

``revision`` numbers the new file after the last one (``0002``, ``0003``, ...) unless
``--rev-id`` is given.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence

from alembic import command
from alembic.config import CommandLine
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from tessera.store.connecting import engine_for, parsed_url
from tessera.store.store import Store, alembic_config

PROG = "python -m tessera.store.migrate"


def next_revision_id() -> str:
    """The id after the newest revision's: revisions are numbered 0001, 0002, ..."""
    script = ScriptDirectory.from_config(alembic_config())
    return f"{sum(1 for _ in script.walk_revisions()) + 1:04d}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one alembic command; 0 done, 1 alembic refused, 2 bad arguments."""
    cli = CommandLine(prog=PROG)
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.print_help(sys.stderr)
        return 2
    options.raiseerr = True
    extras = dict(x.split("=", 1) for x in (options.x or []) if "=" in x)
    if options.cmd[0] is command.revision and options.rev_id is None:
        options.rev_id = next_revision_id()
    config = alembic_config()
    config.cmd_opts = options
    config.stdout = sys.stdout  # alembic bound its default at import; take the current one
    with tempfile.TemporaryDirectory(prefix="tessera-migrate-") as scratch:
        url = extras.get("database_url")
        if url is None:
            url = f"sqlite:///{scratch}/scratch.db"
            Store.open(url).close()  # autogenerate compares tables.py with a database at head
        target, _ = parsed_url(url)
        # "%" is configparser's interpolation character: a password may hold one.
        config.set_main_option("sqlalchemy.url", target.render_as_string(hide_password=False).replace("%", "%%"))
        try:
            if getattr(options, "sql", False):
                cli.run_cmd(config, options)  # offline: env.py prints SQL, connects to nothing
                return 0
            engine = engine_for(target)
            try:
                with engine.begin() as conn:
                    config.attributes["connection"] = conn
                    cli.run_cmd(config, options)
            finally:
                engine.dispose()
        except CommandError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
