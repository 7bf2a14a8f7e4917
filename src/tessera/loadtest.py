"""Load benches over HTTP: ``tessera serve`` as a subprocess on a loopback port, driven by client threads.

Shared by ``bench/http.py`` and ``bench/redemption.py``: the server (start, wait for
/healthz, stop gracefully), a bounded run of requests from N threads with their latencies,
and the CPU the server, the bench and everything else on the machine used meanwhile.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tessera.testing import progress

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
LOG_TAIL_BYTES = 8000


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


class ServerDiedError(BenchError):
    """``tessera serve`` exited; the message carries the end of its output."""


def tessera_command() -> list[str]:
    """How to run the ``tessera`` CLI from this interpreter (the module works without the script)."""
    return [sys.executable, "-m", "tessera.cli.main"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``tessera serve`` as a subprocess in its own session, its output in a log file."""

    def __init__(self, data: Path, log_path: Path, accounts: int = 0, transfers: int = 0) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        command = [*tessera_command(), "serve", "--data", str(data), "--host", HOST, "--port", str(self.port)]
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


def drive(
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


def latency_ms(latencies: list[float]) -> dict[str, float]:
    lat = np.array(latencies) * 1000
    return {
        "p50": round(float(np.percentile(lat, 50)), 2),
        "p99": round(float(np.percentile(lat, 99)), 2),
        "max": round(float(lat.max()), 2),
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and all its threads so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (Linux), to see what else ran during a phase."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def phase(
    server: Server,
    requests: Sequence[Any],
    clients: int,
    make_client: Callable[[], Any],
    post: Callable[[Any, Any], int],
    *,
    label: str,
) -> dict[str, Any]:
    """One timed run: its rate, latencies, refusals and the CPU the server and the bench used."""
    server_cpu = cpu_seconds(server.process.pid)
    busy = machine_busy_seconds()
    client_cpu = time.process_time()
    seconds, latencies, refused = drive(requests, clients, make_client, post, label)
    client_cpu = time.process_time() - client_cpu
    busy_after = machine_busy_seconds()
    server_after = cpu_seconds(server.process.pid)
    server_cpu = None if server_cpu is None or server_after is None else server_after - server_cpu
    other = None
    if busy is not None and busy_after is not None and server_cpu is not None:
        other = max(0.0, busy_after - busy - server_cpu - client_cpu)
    return {
        "requests_per_second": round(len(requests) / seconds, 1),
        "latency_ms": latency_ms(latencies),
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
