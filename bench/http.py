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
import subprocess
import tempfile
import time
from collections.abc import Callable
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
from tessera.loadtest import (
    READY_TIMEOUT_S,
    BenchError,
    Server,
    ServerDiedError,
    phase,
    tessera_command,
)
from tessera.money import AccountKind
from tessera.testing import (
    ISSUER_CODE,
    ISSUER_ID,
    filesystem_of,
    issuance_batches,
    payment_batches,
    progress,
)

FUNDING = 10**9  # per wallet; far more than the timed payments (at most 100 each) can spend


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


def _tessera(data: Path, *args: str) -> str:
    """Run one ``tessera`` command on ``data``; its last line of output (a key, when it makes one)."""
    command = [*tessera_command(), *args, "--data", str(data)]
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

        timed = phase(server, batches, args.clients, lambda: Client(server.url, key), _post_packed, label="packed")
        packed = {"transfers_per_second": round(payments / timed["seconds"]), "transfers": payments, **timed}
        packed["ok"] = payments - packed["refused"]
        progress(f"packed: {packed['transfers_per_second']:,} transfers/s over {packed['seconds']:.1f} s")

        small_result: dict[str, Any] | None = None
        if json_bodies:
            post_json = _json_client(server.url, key)
            timed = phase(server, json_bodies, args.clients, post_json, _post_json, label="json")
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
