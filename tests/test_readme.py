"""The README's Quickstart, walked: its commands run, a real `serve --demo` prints what it shows, its curl lines work.

The commands come from the Quickstart's ``sh`` blocks, past the install step; the server is
a subprocess on a free port over a temporary directory; the printed curl lines are run with
curl when it is installed, else replayed with httpx (same method, headers, URL and body).
"""

from __future__ import annotations

import json
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tessera.cli.story import READ_PURPOSE

ROOT = Path(__file__).resolve().parents[1]
START_S = 120  # a bounded wait for the server to print its banner and answer, on a busy machine
TESSERA = ".venv/bin/tessera "
_VOLATILE = (  # what differs from one start to the next: keys, people's numbers, notice, payment key, port
    (re.compile(r"tsk_[A-Za-z0-9_-]+"), "tsk_KEY"),
    (re.compile(r"person \d{12}"), "person NUMBER"),
    (re.compile(r"n_[0-9a-f]{16}"), "n_NOTICE"),
    (re.compile(r"pay-[0-9a-f]{16}"), "pay-KEY"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:PORT"),
    (re.compile(r"o_[0-9a-f]{16}"), "o_OUTLET"),
    (re.compile(r"redeem-[0-9a-f]{16}"), "redeem-KEY"),
    (re.compile(r'"number": "\d{12}"'), '"number": "NUMBER"'),
    (re.compile(r"date=\d{4}-\d{2}-\d{2}"), "date=DAY"),
)


def quickstart() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Quickstart\n", 1)[1].split("\n## ", 1)[0]


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", quickstart(), re.DOTALL)


def is_install(step: str) -> bool:
    return step.startswith("python3 -m venv") or " install " in step


def commands() -> list[list[str]]:
    """The Quickstart's tessera commands, past the install step (and the test suite, which is this run)."""
    found = []
    for block in blocks("sh"):
        for line in block.splitlines():
            for step in (s.strip() for s in line.split("&&")):
                if not step or is_install(step) or step == ".venv/bin/pytest -n 2":
                    continue
                assert step.startswith(TESSERA), f"the Quickstart runs only tessera past the install: {step}"
                found.append(shlex.split(step.removeprefix(TESSERA)))
    return found


def masked(text: str) -> str:
    for pattern, stands_for in _VOLATILE:
        text = pattern.sub(stands_for, text)
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(args: list[str], data: Path, port: int) -> Iterator[str]:
    """A real `python -m tessera serve ...` subprocess; yields its banner once it answers, stops it after."""
    command = [sys.executable, "-m", "tessera", *args, "--data", str(data), "--port", str(port)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            banner = read_banner(server)
            wait_until_answering(server, port)
            yield banner
        finally:
            server.send_signal(signal.SIGINT)
            _, stderr = server.communicate(timeout=30)
        assert server.returncode == 0, stderr


def read_banner(server: subprocess.Popen[str]) -> str:
    """stdout up to the banner's last line, read on a thread so that the wait stays bounded."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert server.stdout is not None
    stdout = server.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline, banner = time.monotonic() + START_S, []
    while not banner or not banner[-1].startswith("More: "):
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        assert line is not None, (
            f"the server stopped before its banner: {server.stderr.read() if server.stderr else ''}"
        )
        banner.append(line)
    return "".join(banner)


def wait_until_answering(server: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + START_S
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline and server.poll() is None, "the server did not come up"
            time.sleep(0.1)


def run_curl(line: str, *, with_curl: bool = shutil.which("curl") is not None) -> tuple[int, Any]:
    """Run a printed curl line as printed: with curl if there is one, else the same request through httpx."""
    argv = shlex.split(line)
    assert argv[0] == "curl"
    if with_curl:
        status_last = [*argv, "-s", "-w", "\n%{http_code}"]
        done = subprocess.run(status_last, check=True, capture_output=True, text=True, timeout=30)
        body, _, status = done.stdout.rpartition("\n")
        return int(status), json.loads(body)
    headers, data, url = {}, None, ""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-H":
            name, _, value = next(args).partition(": ")
            headers[name] = value
        elif arg in ("-d", "--data"):
            data = next(args)
        else:
            url = arg
    response = httpx.request("POST" if data is not None else "GET", url, headers=headers, content=data, timeout=30)
    return response.status_code, response.json()


def test_the_quickstart_shows_the_demo_and_its_commands_past_the_install() -> None:
    """Past the install, the Quickstart runs `tessera serve --demo` and shows its banner with five curl lines."""
    assert commands() == [["serve", "--demo"]]
    [banner] = blocks("text")
    assert len([line for line in banner.splitlines() if line.strip().startswith("curl ")]) == 5


def test_the_quickstart_walks_against_a_real_demo_server(tmp_path: Path) -> None:
    """A real `serve --demo` prints what the README shows, and each curl line it prints answers 2xx as it says."""
    [serve] = [c for c in commands() if c[0] == "serve"]
    port = free_port()
    with serving(serve, tmp_path / "data", port) as banner:
        [shown] = blocks("text")
        assert masked(banner) == masked(shown), "README.md's Quickstart shows another banner than the demo prints"
        curls = [line.strip() for line in banner.splitlines() if line.strip().startswith("curl ")]
        paid, log, appeal = (run_curl(line) for line in curls[:3])
        replayed = run_curl(curls[1], with_curl=False)  # the fallback where curl is missing: the same answer
        redeemed, statement = (run_curl(line) for line in curls[3:])  # after: the redemption is in Alice's log
    assert paid[0] == 200 and paid[1]["status"] == "posted" and paid[1]["to_alias"] == "corner-grocer"
    assert paid[1]["amount"] == "2.00" and paid[1]["replayed"] is False
    assert log[0] == 200 and READ_PURPOSE in [e["purpose"] for e in log[1]["entries"]]
    assert replayed == log
    notice = re.findall(r"n_[0-9a-f]{16}", curls[2])
    assert appeal[0] == 201 and [appeal[1]["notice_id"]] == notice and appeal[1]["status"] == "pending"
    assert redeemed[0] == 201 and redeemed[1]["status"] == "completed" and redeemed[1]["lines"][0]["left"] == "5.000"
    assert statement[0] == 200 and [e["redemption_id"] for e in statement[1]["entries"]] == [redeemed[1]["id"]]
