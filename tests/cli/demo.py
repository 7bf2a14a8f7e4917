"""Starting `tessera serve --demo` in process, up to where it would listen, and reading what it printed."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tessera.cli.main import app

KEY_LINE = re.compile(r"^  (\S+)\s+(citizen|officer|merchant|auditor|admin)\s+(tsk_\S+)$", re.MULTILINE)


def start_demo(data: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`tessera serve --demo --data DATA` up to where it would listen; what it printed."""
    monkeypatch.setattr(uvicorn, "run", lambda app_, **options: None)
    result = CliRunner().invoke(app, ["serve", "--demo", "--data", str(data)])
    assert result.exit_code == 0, result.output
    return result.stdout


def printed_keys(banner: str) -> dict[str, str]:
    """Each persona's key, by name, as the banner printed it."""
    return {m[1]: m[3] for m in KEY_LINE.finditer(banner)}


def replay(client: TestClient, line: str) -> httpx.Response:
    """A printed curl line's request (headers, JSON body, URL) sent through ``client`` instead of the network."""
    argv = shlex.split(line)
    assert argv[0] == "curl", line
    headers, body = {}, None
    for flag, value in itertools.pairwise(argv[1:-1]):
        if flag == "-H":
            name, _, text = value.partition(": ")
            headers[name] = text
        elif flag == "-d":
            body = value
    path = "/" + argv[-1].split("/", 3)[3]
    return client.request("POST" if body is not None else "GET", path, headers=headers, content=body)
