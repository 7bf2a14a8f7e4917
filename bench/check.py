"""The enforcement point: in-process checks per second, and GET /v1/check latency over HTTP.

Run as ``tessera bench check [--restrictions 1000000] [--checks 2000000] [--http-restrictions 10000]
[--http-requests 5000] [--http-rate 400] [--seed 42] [--dir PATH] [--json]``. First, in this process: an
``EnforcementIndex`` is loaded with ``--restrictions`` active restrictions (one subject each,
one to three domains) and ``--checks`` pre-drawn calls are timed through
``tessera.rules.check``, four ways: subjects with no restriction (the common allow),
restricted subjects asked about a domain left open (allow), and restricted subjects asked
about a closed domain (deny, with the ids and reasons); and a mix of the first and the
last, one check in a hundred denied. Then over HTTP: a data directory
gets an officer's key, a few registered persons (one restricted) and
``--http-restrictions`` court-order restrictions on organisations, and ``tessera serve``
starts on it as a subprocess; one client (the standard library's ``http.client``, one
keep-alive connection: httpx spent ~0.9 ms of the machine's two cores a request, more than
the server) sends ``--http-requests`` sequential ``GET /v1/check`` calls per case, paced at
``--http-rate`` a second (under the lookup limit every key has), and reports p50/p99: an
organisation (no access-log entry), a person (each check is a durable access-log entry),
and a restricted person (denied). Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    del sys.path[0]  # bench/ heads sys.path when run as a file: http.py there would shadow the stdlib's

import argparse
import datetime as dt
import gc
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from tessera.auth import Role
from tessera.cli.seed import issue_key
from tessera.rules import (
    CourtOrder,
    Denial,
    Domain,
    EnforcementIndex,
    Proposal,
    install_index,
    legal_basis,
    uninstall_index,
)
from tessera.rules import check as rules_check
from tessera.service import Services, Settings
from tessera.testing import filesystem_of, progress

HOST = "127.0.0.1"
DOMAINS = [d.value for d in Domain]
YEAR_NS = 365 * 86_400 * 10**9
PROPOSALS_BATCH = 1000
REASON = "Income tax unpaid after three reminders"
MIXED_DENIED_SHARE = 0.01


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--restrictions", type=int, default=1_000_000, help="restrictions in the in-process index")
    parser.add_argument("--checks", type=int, default=2_000_000, help="in-process checks timed per case")
    parser.add_argument("--http-restrictions", type=int, default=10_000, help="restrictions in the served store")
    parser.add_argument("--http-requests", type=int, default=5000, help="GET /v1/check calls per case (0 skips HTTP)")
    parser.add_argument(
        "--http-rate", type=float, default=400.0, help="requests/s a case is paced at (the lookup limit is 500/s)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary data directory")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    if args.restrictions < 1 or args.checks < 1 or args.http_restrictions < 1 or args.http_requests < 0:
        parser.error("--restrictions, --checks and --http-restrictions >= 1, --http-requests >= 0")
    if not args.http_rate > 0:
        parser.error("--http-rate > 0")
    return args


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles_ms(seconds: list[float]) -> dict[str, float]:
    p50, p90, p99, p999 = np.percentile(np.asarray(seconds) * 1000, [50, 90, 99, 99.9])
    return {
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p99": round(float(p99), 3),
        "p999": round(float(p999), 3),
    }


# -- in process ---------------------------------------------------------------------------------------


def in_process(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    now = time.time_ns()
    index = EnforcementIndex()
    rss_before = _rss_mib()
    sizes = rng.integers(1, 4, size=args.restrictions)
    orders = np.argsort(rng.random((args.restrictions, len(DOMAINS))), axis=1)
    closed = [
        [DOMAINS[j] for j in orders[i, : sizes[i]]] for i in range(args.restrictions)
    ]  # plain str, as callers pass
    entries = [
        (
            f"org:restricted-{i}",
            closed[i],
            Denial(f"r_{i:016x}", "tax.unpaid", REASON, "tax-act/12", now, now + YEAR_NS),
        )
        for i in range(args.restrictions)
    ]
    started = time.perf_counter()
    index.put_many(entries)
    load_s = time.perf_counter() - started
    del entries
    progress(f"indexed {args.restrictions:,} restrictions in {load_s:.1f} s")
    install_index(index)
    picks = rng.integers(0, args.restrictions, size=args.checks)
    cases = {
        "allow_unrestricted": ([f"org:free-{i}" for i in picks], ["payments"] * args.checks),
        "allow_open_domain": (
            [f"org:restricted-{i}" for i in picks],
            [next(d for d in DOMAINS if d not in closed[i]) for i in picks],
        ),
        "deny": ([f"org:restricted-{i}" for i in picks], [closed[i][0] for i in picks]),
    }
    # What an enforcement point sees: most people it checks are restricted in nothing.
    denied = rng.random(args.checks) < MIXED_DENIED_SHARE
    cases["mixed_1pct_denied"] = (
        [f"org:restricted-{i}" if d else f"org:free-{i}" for i, d in zip(picks, denied, strict=True)],
        [closed[i][0] if d else "payments" for i, d in zip(picks, denied, strict=True)],
    )
    result: dict[str, Any] = {
        "restrictions": args.restrictions,
        "load_seconds": round(load_s, 2),
        "rss_growth_mib": round(_rss_mib() - rss_before, 1),
    }
    check = rules_check  # a local name: the timed loop looks it up fastest
    for name, (subjects, domains) in cases.items():
        gc.collect()
        gc.disable()  # a collection mid-loop would be timed as a check
        try:
            best = 0.0
            for _ in range(3):
                t0 = time.perf_counter()
                for subject, domain in zip(subjects, domains, strict=True):
                    check(subject, domain)
                elapsed = time.perf_counter() - t0
                best = max(best, args.checks / elapsed)
            t0 = time.perf_counter()
            for _subject, _domain in zip(subjects, domains, strict=True):
                pass
            loop_s = time.perf_counter() - t0
        finally:
            gc.enable()
        if name != "mixed_1pct_denied":
            allowed = check(subjects[0], domains[0]).allowed
            assert allowed == (name != "deny"), name
        result[name] = {"checks_per_second": round(best), "loop_ns_per_check": round(loop_s / args.checks * 1e9, 1)}
        progress(f"  {name}: {best:,.0f} checks/s (best of 3)")
    uninstall_index(index)
    return result


# -- over HTTP ------------------------------------------------------------------------------------------


def _seed(data: Path, args: argparse.Namespace) -> dict[str, str]:
    """An officer's key, two persons (one restricted) and court-order restrictions on organisations.

    The restrictions are the courts' (a clerk's, with the order's reference): only they take effect at once.
    """
    services = Services(Settings(data_dir=data, ledger_sync=False))
    try:
        officer = services.store.create_principal("bench-border", Role.officer, agency="border-agency")
        key = issue_key(services, officer)
        clerk = services.store.create_principal("bench-clerk", Role.officer, agency="courts")
        order = CourtOrder("High Court", "HC/bench/1", dt.date(2026, 1, 5))
        basis = ("court/bench", "Civil Procedure Act", "s. 7", "court_order", ["travel", "procurement"])
        services.restrictions.register_bases([legal_basis(*basis, exercised_by=["courts"])])
        free = services.registry.create_person(
            {"name": "Free Person", "birth_date": "1980-01-01", "sex": "X"}, station="bench"
        )
        held = services.registry.create_person(
            {"name": "Held Person", "birth_date": "1980-01-01", "sex": "X"}, station="bench"
        )
        end = time.time_ns() + YEAR_NS
        services.restrictions.propose(
            held.number,
            ["travel"],
            "court/bench",
            authority="High Court",
            reason_code="court.order",
            reason_text="Travel ban pending trial",
            end_ns=end,
            proposer=clerk.id,
            court_order=order,
        )
        started = time.perf_counter()
        for start in range(0, args.http_restrictions, PROPOSALS_BATCH):
            batch = [
                Proposal(
                    f"org:bench-{i}",
                    ["procurement"],
                    "court/bench",
                    "High Court",
                    "court.debarment",
                    "Debarred from public contracts",
                    end,
                    clerk.id,
                    court_order=order,
                )
                for i in range(start, min(start + PROPOSALS_BATCH, args.http_restrictions))
            ]
            services.restrictions.propose_many(batch)
        progress(f"stored {args.http_restrictions:,} restrictions in {time.perf_counter() - started:.1f} s")
        return {"key": key, "free": free.number, "held": held.number}
    finally:
        services.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class _Client:
    """One keep-alive HTTP/1.1 connection sending the officer's headers."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._connection = http.client.HTTPConnection(HOST, port, timeout=10)
        self._headers = headers

    def get(self, path: str) -> tuple[int, bytes]:
        self._connection.request("GET", path, headers=self._headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


def _wait_for(server: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"tessera serve exited: {log_path.read_text()[-4000:]}")
        probe = _Client(port, {})
        try:
            if probe.get("/healthz")[0] == http.HTTPStatus.OK:
                return
        except OSError:
            pass
        finally:
            probe.close()
        if time.monotonic() > deadline:
            raise RuntimeError("tessera serve did not start within 60 s")
        time.sleep(0.1)


def over_http(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = directory / "data"
    seeded = _seed(data, args)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tessera.cli.main",
        "serve",
        "--data",
        str(data),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    log_path = directory / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(server, port, log_path)
        headers = {"Authorization": f"Bearer {seeded['key']}", "X-Tessera-Purpose": "border crossing"}
        client = _Client(port, headers)
        try:
            cases = {
                "organisation_allowed": {"subject": "org:bench-free", "domain": "procurement"},
                "organisation_denied": {"subject": "org:bench-7", "domain": "procurement"},
                "person_allowed_logged": {"subject": seeded["free"], "domain": "travel"},
                "person_denied_logged": {"subject": seeded["held"], "domain": "travel"},
            }
            result: dict[str, Any] = {
                "restrictions": args.http_restrictions + 1,
                "requests_per_case": args.http_requests,
                "requests_per_second": args.http_rate,
                "client": "http.client, one keep-alive connection",
            }
            for name, params in cases.items():
                path = "/v1/check?" + urlencode(params)
                for _ in range(200):  # warm the connection, the caller cache and the code paths
                    client.get(path)
                latencies = []
                allowed = None
                gap = 1.0 / args.http_rate
                due = time.perf_counter()
                for _ in range(args.http_requests):
                    # Paced, not flat out: an enforcement point's key is rate-limited like any caller's.
                    due += gap
                    t0 = time.perf_counter()
                    if due > t0:
                        time.sleep(due - t0)
                    t0 = time.perf_counter()
                    status, body = client.get(path)
                    latencies.append(time.perf_counter() - t0)
                    if status != http.HTTPStatus.OK:
                        raise RuntimeError(f"{name}: {status} {body[:300]!r}")
                    allowed = json.loads(body)["allowed"]
                result[name] = {"allowed": allowed, **_percentiles_ms(latencies)}
                progress(f"  {name}: p50 {result[name]['p50']} ms, p99 {result[name]['p99']} ms")
        finally:
            client.close()
        return result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": "check",
        "conditions": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "seed": args.seed,
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),  # other work on the machine skews every figure
        },
    }
    progress(f"in-process: {args.restrictions:,} restrictions, {args.checks:,} checks a case")
    result["in_process"] = in_process(args)
    if args.http_requests:
        directory = Path(tempfile.mkdtemp(prefix="tessera-bench-check-", dir=args.dir))
        try:
            result["conditions"]["filesystem"] = filesystem_of(directory)
            progress(f"over HTTP: {args.http_requests:,} sequential GET /v1/check a case, one keep-alive client")
            result["http"] = over_http(directory, args)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
