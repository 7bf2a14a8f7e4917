"""HTTP load: durable transfers per second through ``tessera serve`` on loopback.

Run as ``tessera bench http [--accounts N] [--requests N] [--batch 8190] [--clients 2]
[--json-requests N] [--json-batch 10] [--json]``. Creates a data directory (under
``--dir``), an officer's API key (``tessera keys create``), and starts ``tessera serve``
on a free loopback port as a subprocess. As that officer it opens the wallets and an
issuer (JSON, 8190 a request) and funds every wallet (packed), not timed. Then it times a
fixed number of packed payment batches posted from ``--clients`` threads, each with its own
``tessera.client.Client`` (bounded load: every request is sent, none is dropped), and a
second fixed run of small JSON batches to show the per-request overhead. Prints one JSON
object; progress and the server's log (if it dies) go to stderr. Exit 1 if the server
fails or a request is answered with an error, 2 on a bad flag, 130 on Ctrl-C (the server
is stopped in every case).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    # Run as ``python bench/http.py``: bench/ heads sys.path and this file would shadow the stdlib's http.
    del sys.path[0]

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from tessera.client import Client
from tessera.errors import TesseraError
from tessera.ledger import Account, AccountFlags
from tessera.limits import BATCH_SIZE_MAX
from tessera.money import AccountKind
from tessera.testing import (
    ISSUER_CODE,
    ISSUER_ID,
    filesystem_of,
    issuance_batches,
    payment_batches,
    progress,
)

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
FUNDING = 10**9  # per wallet; far more than the timed payments (at most 100 each) can spend
LOG_TAIL_BYTES = 8000


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


class ServerDiedError(BenchError):
    """``tessera serve`` exited; the message carries the end of its output."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="wallets to open (plus one issuer)")
    parser.add_argument("--requests", type=int, default=400, help="packed batches to post (timed)")
    parser.add_argument(
        "--batch", type=int, default=BATCH_SIZE_MAX, help=f"transfers per packed request (max {BATCH_SIZE_MAX})"
    )
    parser.add_argument("--clients", type=int, default=2, help="threads posting requests, each with its own client")
    parser.add_argument("--json-requests", type=int, default=2000, help="small JSON requests to post (0 skips them)")
    parser.add_argument("--json-batch", type=int, default=10, help="transfers per JSON request")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary data directory")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= BATCH_SIZE_MAX:
        parser.error(f"--batch must be between 1 and {BATCH_SIZE_MAX}")
    if not 1 <= args.json_batch <= BATCH_SIZE_MAX:
        parser.error(f"--json-batch must be between 1 and {BATCH_SIZE_MAX}")
    for name in ("accounts", "requests", "clients"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.json_requests < 0:
        parser.error("--json-requests must not be negative")
    return args


# -- the server ---------------------------------------------------------------------------------


def _tessera_command() -> list[str]:
    """How to run the ``tessera`` CLI from this interpreter (the module works without the script)."""
    return [sys.executable, "-m", "tessera.cli.main"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _tessera(data: Path, *args: str) -> str:
    """Run one ``tessera`` command on ``data``; its last line of output (a key, when it makes one)."""
    command = [*_tessera_command(), *args, "--data", str(data)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120, cwd=data.parent)
    if done.returncode != 0:
        raise BenchError(f"tessera {' '.join(args[:2])} exited {done.returncode}:\n{done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def _create_key(data: Path) -> str:
    """The issuer's officer key, as an operator makes it: two admins register ledger 1, then approve the key."""
    admins = [_tessera(data, "keys", "create", "--role", "admin", "--name", f"bench-admin-{i}") for i in (1, 2)]
    approvers = [arg for admin in admins for arg in ("--approver", admin)]
    currency = ("--id", "1", "--name", "bench-currency", "--unit", "XTS", "--decimals", "2", "--issuer", "central-bank")
    _tessera(data, "ledgers", "add", *currency, *approvers)
    token = _tessera(
        data, "keys", "create", "--role", "officer", "--name", "bench-bank", "--agency", "central-bank", *approvers
    )
    if not token.startswith("tsk_"):
        raise BenchError(f"tessera keys create printed no key: {token!r}")
    return token


class Server:
    """``tessera serve`` as a subprocess in its own session, its output in a log file."""

    def __init__(self, data: Path, log_path: Path, accounts: int, transfers: int) -> None:
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        command = [*_tessera_command(), "serve", "--data", str(data), "--host", HOST, "--port", str(self.port)]
        # Room for the whole run up front: growing the ledger's arrays mid-run copies them under its lock.
        command += ["--reserve-accounts", str(accounts), "--reserve-transfers", str(transfers)]
        self._log_file = log_path.open("wb")
        # Its own session: a Ctrl-C reaches only the bench, which then stops the server itself.
        self.process = subprocess.Popen(
            command,
            cwd=data.parent,  # not the caller's cwd: from bench/ this file would shadow the stdlib's http
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-LOG_TAIL_BYTES:].decode(errors="replace")

    def died(self) -> ServerDiedError | None:
        code = self.process.poll()
        if code is None:
            return None
        return ServerDiedError(f"tessera serve exited with {code}; its output:\n{self.log_tail()}")

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds until GET /healthz answered 200; BenchError if the server died or took too long."""
        started = time.perf_counter()
        deadline = started + timeout_s
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            while True:
                error = self.died()
                if error is not None:
                    raise error
                try:
                    if http.get("/healthz").status_code == HTTPStatus.OK:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                if time.perf_counter() > deadline:
                    raise BenchError(
                        f"tessera serve did not answer GET {self.url}/healthz within {timeout_s:.0f} s; "
                        f"its output:\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    def health(self) -> dict[str, Any]:
        with httpx.Client(base_url=self.url, timeout=10.0) as http:
            body: dict[str, Any] = http.get("/healthz").json()
            return body

    def stop(self) -> float | None:
        """SIGTERM (graceful: the ledger closes), then SIGKILL; seconds the graceful stop took, else None."""
        started = time.perf_counter()
        try:
            if self.process.poll() is not None:
                progress(f"tessera serve had already exited ({self.process.returncode})")
                return None
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                progress(f"tessera serve did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM; killing it")
                return None
            seconds = time.perf_counter() - started
            if code not in (0, -signal.SIGTERM):  # uvicorn re-raises SIGTERM once it has shut down
                progress(f"tessera serve exited with {code} on SIGTERM; its output:\n{self.log_tail()}")
            else:
                progress(f"tessera serve stopped in {seconds:.1f} s")
            return seconds
        finally:
            if self.process.poll() is None:  # it timed out, or a second Ctrl-C cut the wait short
                self.process.kill()
                self.process.wait()
            self._log_file.close()


# -- load ---------------------------------------------------------------------------------------


def _require_ok(statuses: npt.NDArray[np.uint32], step: str) -> None:
    failed = np.flatnonzero(statuses)
    if len(failed):
        raise BenchError(f"setup failed while {step}: {len(failed)} refused, first at {int(failed[0])}")


def _setup(url: str, key: str, accounts: int) -> None:
    """Open the issuer and the wallets (JSON), then fund each wallet from the issuer (packed)."""
    flags = AccountFlags.debits_must_not_exceed_credits
    with Client(url, key) as client:
        issuer = Account(
            ISSUER_ID, 1, ISSUER_CODE, AccountFlags.credits_must_not_exceed_debits
        )  # issuance: at or below 0
        _require_ok(client.create_accounts([issuer]).statuses, "opening the issuer")
        for start in range(0, accounts, BATCH_SIZE_MAX):
            ids = range(2 + start, 2 + min(start + BATCH_SIZE_MAX, accounts))
            # The officer's own operating accounts: a wallet is a citizen's, and the bench has no citizens.
            wallets = [Account(i, 1, AccountKind.system, flags) for i in ids]
            _require_ok(client.create_accounts(wallets).statuses, "opening wallets")
        for funding in issuance_batches(accounts, FUNDING, first_transfer_id=1):
            _require_ok(client.create_transfers(funding).statuses, "funding wallets")


def _drive(
    requests: Sequence[Any],
    clients: int,
    make_client: Callable[[], Any],
    post: Callable[[Any, Any], int],
    label: str,
) -> tuple[float, list[float], int]:
    """Post every request once from ``clients`` threads; (seconds, latencies in s, refused transfers).

    ``post(client, request)`` sends one request and returns how many of its transfers were refused.
    """
    latencies: list[float] = []
    refused = 0
    errors: list[BaseException] = []
    next_index = 0
    lock = threading.Lock()
    stop = threading.Event()
    done = threading.Event()

    def worker() -> None:
        nonlocal next_index, refused
        try:
            with make_client() as client:
                while not stop.is_set():
                    with lock:
                        i = next_index
                        next_index += 1
                    if i >= len(requests):
                        return
                    t0 = time.perf_counter()
                    failed = post(client, requests[i])
                    elapsed = time.perf_counter() - t0
                    with lock:
                        latencies.append(elapsed)
                        refused += failed
        except BaseException as error:  # handed to the main thread, which raises it
            with lock:
                errors.append(error)
            stop.set()

    def report() -> None:  # not named progress: that is the shared printer it calls
        while not done.wait(2.0):
            progress(f"  {label}: {min(next_index, len(requests)):,} of {len(requests):,} requests sent")

    reporter = threading.Thread(target=report, daemon=True)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    reporter.start()
    started = time.perf_counter()
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)  # wakes for Ctrl-C
    finally:
        stop.set()
        done.set()
    seconds = time.perf_counter() - started
    if errors:
        raise BenchError(f"{label}: a request failed: {type(errors[0]).__name__}: {errors[0]}")
    return seconds, latencies, refused


def _post_packed(client: Client, batch: npt.NDArray[np.void]) -> int:
    return int(np.count_nonzero(client.create_transfers(batch).statuses))


def _json_bodies(batches: list[npt.NDArray[np.void]]) -> list[bytes]:
    bodies = []
    for batch in batches:
        transfers = [
            {
                "id": int(t["id"]),
                "debit_account_id": int(t["debit_account_id"]),
                "credit_account_id": int(t["credit_account_id"]),
                "amount": int(t["amount"]),
                "ledger": int(t["ledger"]),
                "code": int(t["code"]),
            }
            for t in batch
        ]
        bodies.append(json.dumps({"transfers": transfers}).encode())
    return bodies


def _json_client(url: str, key: str) -> Callable[[], httpx.Client]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return lambda: httpx.Client(base_url=url, headers=headers, timeout=30.0)


def _post_json(http: httpx.Client, body: bytes) -> int:
    response = http.post("/v1/ledger/transfers", content=body)
    if response.status_code != HTTPStatus.OK:
        raise TesseraError(f"POST /v1/ledger/transfers answered {response.status_code}: {response.text[:300]}")
    return sum(1 for r in response.json()["results"] if r["status"] != "ok")


def _latency_ms(latencies: list[float]) -> dict[str, float]:
    lat = np.array(latencies) * 1000
    return {
        "p50": round(float(np.percentile(lat, 50)), 2),
        "p99": round(float(np.percentile(lat, 99)), 2),
        "max": round(float(lat.max()), 2),
    }


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and all its threads so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (Linux), to see what else ran during a phase."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _phase(
    server: Server,
    requests: Sequence[Any],
    clients: int,
    make_client: Callable[[], Any],
    post: Callable[[Any, Any], int],
    *,
    label: str,
) -> dict[str, Any]:
    """One timed run: its rate, latencies, refusals and the CPU the server and the bench used."""
    server_cpu = _cpu_seconds(server.process.pid)
    busy = _machine_busy_seconds()
    client_cpu = time.process_time()
    seconds, latencies, refused = _drive(requests, clients, make_client, post, label)
    client_cpu = time.process_time() - client_cpu
    busy_after = _machine_busy_seconds()
    server_after = _cpu_seconds(server.process.pid)
    server_cpu = None if server_cpu is None or server_after is None else server_after - server_cpu
    other = None
    if busy is not None and busy_after is not None and server_cpu is not None:
        other = max(0.0, busy_after - busy - server_cpu - client_cpu)
    return {
        "requests_per_second": round(len(requests) / seconds, 1),
        "latency_ms": _latency_ms(latencies),
        "seconds": round(seconds, 3),
        "requests": len(requests),
        "refused": refused,
        # Cores busy on average (2.0 = both cores of a 2-core machine for the whole run).
        "server_cpu_cores": None if server_cpu is None else round(server_cpu / seconds, 2),
        "server_cpu_ms_per_request": None if server_cpu is None else round(server_cpu / len(requests) * 1000, 2),
        "bench_cpu_cores": round(client_cpu / seconds, 2),
        # Everything else on the machine (kernel threads, other people's work): high means a noisy run.
        "other_cpu_cores": None if other is None else round(other / seconds, 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-http-", dir=args.dir))
    try:
        return _run_in(directory, args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run_in(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = directory / "data"
    load_before = os.getloadavg()  # the machine may be shared: other work skews every figure
    payments = args.requests * args.batch
    progress(f"generating {payments:,} payments ({args.requests:,} x {args.batch:,}) over {args.accounts:,} wallets")
    batches = payment_batches(
        args.seed, args.accounts, payments, batch_size=args.batch, first_transfer_id=args.accounts + 1
    )
    small = payment_batches(
        args.seed + 1,
        args.accounts,
        args.json_requests * args.json_batch,
        batch_size=args.json_batch,
        first_transfer_id=args.accounts + payments + 1,
    )
    json_bodies = _json_bodies(small)

    key = _create_key(data)
    transfers_total = 2 * args.accounts + payments + args.json_requests * args.json_batch
    server = Server(data, directory / "serve.log", args.accounts + 1, transfers_total)
    try:
        progress(f"tessera serve on {server.url} (pid {server.process.pid}), data in {data}")
        ready_seconds = server.wait_ready(READY_TIMEOUT_S)
        started = time.perf_counter()
        _setup(server.url, key, args.accounts)
        setup_seconds = time.perf_counter() - started
        progress(f"opened and funded {args.accounts:,} wallets over HTTP in {setup_seconds:.1f} s")

        timed = _phase(server, batches, args.clients, lambda: Client(server.url, key), _post_packed, label="packed")
        packed = {"transfers_per_second": round(payments / timed["seconds"]), "transfers": payments, **timed}
        packed["ok"] = payments - packed["refused"]
        progress(f"packed: {packed['transfers_per_second']:,} transfers/s over {packed['seconds']:.1f} s")

        small_result: dict[str, Any] | None = None
        if json_bodies:
            post_json = _json_client(server.url, key)
            timed = _phase(server, json_bodies, args.clients, post_json, _post_json, label="json")
            count = sum(len(b) for b in small)
            small_result = {"batch": args.json_batch, **timed, "transfers": count, "ok": count - timed["refused"]}
            small_result["transfers_per_second"] = round(count / timed["seconds"])
            progress(f"json: {small_result['requests_per_second']:,} requests/s over {small_result['seconds']:.1f} s")
        health = server.health()
        error = server.died()
        if error is not None:
            raise error
    except Exception as failure:
        error = server.died()
        if error is not None and not isinstance(failure, ServerDiedError):
            raise error from failure  # the server's own output says more than a refused connection
        raise
    finally:
        stop_seconds = server.stop()

    return {
        "bench": "http",
        "transfers_per_second": packed["transfers_per_second"],
        "packed": packed,
        "json": small_result,
        "accounts": args.accounts,
        "batch": args.batch,
        "clients": args.clients,
        "seed": args.seed,
        "durable": True,  # tessera serve opens its ledger with sync on: every batch is fsynced before it answers
        "transport": "HTTP/1.1 keep-alive over loopback, one connection per client thread",
        "server": "tessera serve (uvicorn, one process)",
        "server_counts": {k: health.get(k) for k in ("accounts", "transfers", "access_log_size")},
        "setup_seconds": round(setup_seconds, 2),
        "server_ready_seconds": round(ready_seconds, 2),
        "server_stop_seconds": None if stop_seconds is None else round(stop_seconds, 2),
        "filesystem": filesystem_of(directory),
        "load_average_before": [round(x, 2) for x in load_before],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        result = run(args)
    except (BenchError, TesseraError) as error:  # TesseraError: the setup's Client calls
        progress(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        progress("interrupted; the server was stopped")
        return 130
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
