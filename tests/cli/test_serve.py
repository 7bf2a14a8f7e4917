"""tessera serve and tessera keys: a real server process, keys made by the CLI, the demo seed."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tessera.api import create_app
from tessera.auth import Role
from tessera.cli.common import open_store
from tessera.cli.main import app
from tessera.cli.programmes_demo import PROGRAMME_IDS
from tessera.cli.seed import PERSONAS, demo_principals
from tessera.ledger import Ledger
from tessera.service import Services, Settings
from tests.cli.demo import printed_keys, start_demo

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    """The token is printed once; the list shows ids and dates only; a revoked key is marked."""
    made = runner.invoke(
        app,
        ["keys", "create", "--role", "officer", "--name", "clerk", "--agency", "tax-office", "--data", str(tmp_path)],
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert re.fullmatch(r"tsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    key_id = token.split("_")[1]
    listed = json.loads(runner.invoke(app, ["keys", "list", "--name", "clerk", "--data", str(tmp_path)]).stdout)
    secret = token.split("_", 2)[2]  # base64url: the secret itself may hold "_"
    assert [k["key_id"] for k in listed["keys"]] == [key_id] and secret not in json.dumps(listed)
    assert runner.invoke(app, ["keys", "revoke", key_id, "--data", str(tmp_path)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["keys", "list", "--name", "clerk", "--data", str(tmp_path)]).stdout)
    assert listed["keys"][0]["revoked_at_ns"] is not None


def test_keys_create_refuses_bad_input_without_writing(tmp_path: Path) -> None:
    """keys create refuses a bad role, agency, name or organisation by field, and makes no key."""
    for args, field in (
        (["--role", "king", "--name", "x"], "role"),
        (["--role", "officer", "--name", "x"], "agency"),
        (["--role", "citizen", "--name", "bad\nname"], "name"),
        (["--role", "citizen", "--name", "x", "--organisation", "org:acme"], "organisation"),
        (["--role", "merchant", "--name", "x", "--organisation", "Acme Ltd"], "organisation"),
    ):
        result = runner.invoke(app, ["keys", "create", *args, "--data", str(tmp_path)])
        assert result.exit_code == 1 and f"{field}:" in result.stderr, (args, result.output)
    assert runner.invoke(app, ["keys", "list", "--name", "x", "--data", str(tmp_path)]).exit_code == 1


def test_keys_create_for_a_merchant_acting_for_an_organisation(tmp_path: Path) -> None:
    """The link is set when the merchant is created; asking for another organisation later is refused."""
    data = ["--data", str(tmp_path)]
    till = ["keys", "create", "--role", "merchant", "--name", "till 1", *data]
    assert runner.invoke(app, [*till, "--organisation", "org:acme-foods"]).exit_code == 0
    assert runner.invoke(app, till).exit_code == 0  # another key, same principal
    moved = runner.invoke(app, [*till, "--organisation", "org:other"])
    assert moved.exit_code == 1 and "organisation:" in moved.stderr and "org:acme-foods" in moved.stderr
    with open_store(tmp_path, None) as store:
        principal = store.get_principal_by_name("till 1")
        assert principal is not None and principal.organisation == "org:acme-foods"
        assert len(store.list_api_keys(principal.id)) == 2


def test_keys_create_with_the_display_name_people_are_shown(tmp_path: Path) -> None:
    """--display-name is kept with a new officer; asking for another one later is refused, naming display_name."""
    data = ["--data", str(tmp_path)]
    clerk = ["keys", "create", "--role", "officer", "--name", "jane.doe", "--agency", "courts", *data]
    assert runner.invoke(app, [*clerk, "--display-name", "Clerk 9"]).exit_code == 0
    renamed = runner.invoke(app, [*clerk, "--display-name", "Jane Doe"])
    assert renamed.exit_code == 1 and "display_name:" in renamed.stderr
    with open_store(tmp_path, None) as store:
        principal = store.get_principal_by_name("jane.doe")
        assert principal is not None and principal.display_name == "Clerk 9"


def test_serve_demo_answers_over_http_and_stops_cleanly(tmp_path: Path) -> None:
    """`tessera serve --demo` prints keys; alice reads her wallet; SIGINT stops the server."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tessera.cli.main",
        "serve",
        "--demo",
        "--data",
        str(tmp_path),
        "--port",
        str(port),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            _check_demo_server(server, port)
        finally:
            server.send_signal(signal.SIGINT)
            _, stderr = server.communicate(timeout=30)
        assert server.returncode == 0, stderr


def _check_demo_server(server: subprocess.Popen[str], port: int) -> None:
    keys = {}
    assert server.stdout is not None
    for line in server.stdout:
        match = re.match(r"\s+(\S+)\s+\w+\s+(tsk_\S+)", line)
        if match:
            keys[match.group(1)] = match.group(2)
        if line.startswith("Try, as alice:"):
            break
    deadline = time.monotonic() + 30
    while True:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and server.poll() is None, "server did not come up"
            time.sleep(0.1)
    # The currency's 4, 2 quota reserves, 3 programme accounts, the fuel quota's 34 households' entitlements (Alice's
    # and every single enrolled person's), the means-tested food and rice for Alice's household alone (nobody else's
    # income was reported: not assessed, not paid), and 3 shop tills.
    assert health.json()["accounts"] == 4 + 2 + 3 + 34 + 1 + 1 + 3
    wallet = httpx.get(
        f"http://127.0.0.1:{port}/v1/ledger/accounts/2", headers={"Authorization": f"Bearer {keys['alice']}"}
    )
    assert wallet.status_code == 200 and wallet.json()["balance"] == 10_000
    docs = httpx.get(f"http://127.0.0.1:{port}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    queue = httpx.get(
        f"http://127.0.0.1:{port}/v1/identity/adjudications",
        headers={"Authorization": f"Bearer {keys['registrar']}", "X-Tessera-Purpose": "demo adjudication"},
    )
    assert queue.status_code == 200 and queue.json()["enrolments"], "the demo seeds probable duplicates"
    discovery = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == f"http://localhost:{port}"


def test_serve_refuses_a_public_url_passkeys_cannot_use(tmp_path: Path) -> None:
    """Plain http anywhere but localhost is refused before anything starts, with the option named."""
    result = runner.invoke(app, ["serve", "--data", str(tmp_path), "--public-url", "http://id.example.gov"])
    assert result.exit_code != 0
    assert result.exit_code == 1 and "public_url" in result.stderr and "Traceback" not in result.output


def test_serve_refuses_a_rule_the_guard_refuses__one_line_and_nothing_served(tmp_path: Path) -> None:
    """The rules load before the server starts: a refusal names the rule, field and category, not a traceback."""
    rules = tmp_path / "scores.toml"
    rules.write_text(
        '[[rule]]\nid = "health-bonus"\ntitle = "t"\nbasis = "social-security-act/disability-allowance"\n'
        'inputs = ["benefit.claimed"]\ncondition = "event.claimant.chronic_condition"\nreason_code = "x"\n'
        'effects = [{ kind = "score", scheme = "credit", points = 5, expires_after = "30d" }]\n'
    )
    result = runner.invoke(app, ["serve", "--data", str(tmp_path / "d"), "--rules", str(rules)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"error [protected_category]: {rules}:rule[0].benefit.claimed.claimant")
    assert result.stderr.count("\n") == 1


class TestForwardedHeaders:
    """X-Forwarded-For is believed only from the proxies --forwarded-allow-ips names (none by default)."""

    def _uvicorn_options(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict[str, object]:
        seen: dict[str, object] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app_, **options: seen.update(options))
        result = runner.invoke(app, ["serve", "--data", str(tmp_path), *extra])
        assert result.exit_code == 0, result.output
        return seen

    def test_by_default_no_proxy_is_believed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """By default uvicorn is told to believe no proxy's forwarded headers."""
        assert self._uvicorn_options(tmp_path, monkeypatch)["proxy_headers"] is False

    def test_named_proxies_are_passed_to_uvicorn(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Named proxies reach uvicorn as one normalised list, with proxy headers on."""
        options = self._uvicorn_options(tmp_path, monkeypatch, "--forwarded-allow-ips", "10.0.0.7, 10.1.0.0/16")
        assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == "10.0.0.7,10.1.0.0/16"

    def test_something_else_is_refused_in_one_line(self, tmp_path: Path) -> None:
        """A proxy list with a host name in it is refused in one line, not a traceback."""
        result = runner.invoke(app, ["serve", "--data", str(tmp_path), "--forwarded-allow-ips", "10.0.0.7,proxy"])
        assert result.exit_code == 1 and "--forwarded-allow-ips" in result.stderr and "Traceback" not in result.output

    def test_rotating_x_forwarded_for_from_loopback_does_not_escape_the_rate_limit(self, tmp_path: Path) -> None:
        """A real `tessera serve`: failed logins from one address reach 429 whatever X-Forwarded-For says."""
        port = _free_port()
        command = [sys.executable, "-m", "tessera.cli.main", "serve", "--data", str(tmp_path), "--port", str(port)]
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as server:
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        httpx.get(f"http://127.0.0.1:{port}/healthz")
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline and server.poll() is None, "server did not come up"
                        time.sleep(0.1)
                # The allowance is 20 failures at once, refilled at 1 a second: under load the
                # requests may be slow, so go on (a new address each time) until a 429 or 200 tries.
                statuses: list[int] = []
                with httpx.Client() as client:
                    for i in range(200):
                        statuses.append(
                            client.get(
                                f"http://127.0.0.1:{port}/v1/me",
                                headers={"Authorization": "Bearer wrong", "X-Forwarded-For": f"198.51.100.{i}"},
                            ).status_code
                        )
                        if statuses[-1] == 429:
                            break
            finally:
                server.send_signal(signal.SIGINT)
                server.communicate(timeout=30)
        assert statuses[0] == 401 and statuses[-1] == 429 and len(statuses) > 20


class TestDemoRestarts:
    """A restarted demo replaces its keys, and a demo on a directory a server holds says what to do."""

    def test_a_second_start_revokes_the_first_starts_keys(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After two starts each persona, people included, holds one active key: the one the second start printed.

        The programmes' world is made once: the same shops printed, one cycle of each programme.
        """
        banners = [start_demo(tmp_path, monkeypatch) for _ in range(2)]
        first, second = (printed_keys(b) for b in banners)
        assert set(first) == set(second) == {p.name for p in PERSONAS}
        outlets = [re.findall(r"/v1/outlets/(o_[0-9a-f]{16})/", b) for b in banners]
        assert outlets[0] == outlets[1] and len(outlets[0]) == 2
        with closing(Services(Settings(data_dir=tmp_path))) as services:
            assert [len(services.cycles.of_programme(p)) for p in PROGRAMME_IDS] == [1, 1, 1]
            principals = demo_principals(services)
            assert principals["alice"].role is Role.citizen and services.registry.person_of_principal(
                principals["alice"].id
            )
            for name, token in second.items():
                active = [
                    k.key_id for k in services.store.list_api_keys(principals[name].id) if k.revoked_at_ns is None
                ]
                assert active == [token.split("_")[1]], name
                revoked = services.store.get_api_key(first[name].split("_")[1])
                assert revoked is not None and revoked.revoked_at_ns is not None, name

    def test_a_restart_after_alice_appealed_offers_a_notice_she_has_not_appealed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Her appeal line works after every restart: once she appealed, the bureau reports another late instalment."""
        first = start_demo(tmp_path, monkeypatch)
        [notice] = re.findall(r"/v1/me/notices/(n_[0-9a-f]{16})/appeal", first)
        again = start_demo(tmp_path, monkeypatch)
        assert re.findall(r"/v1/me/notices/(n_[0-9a-f]{16})/appeal", again) == [notice], "not appealed: the same"
        with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
            alice = {"Authorization": f"Bearer {printed_keys(again)['alice']}"}
            grounds = {"grounds": "paid on time"}
            assert client.post(f"/v1/me/notices/{notice}/appeal", headers=alice, json=grounds).status_code == 201
        [later] = re.findall(r"/v1/me/notices/(n_[0-9a-f]{16})/appeal", start_demo(tmp_path, monkeypatch))
        assert later != notice

    def test_demo_on_a_directory_a_server_holds_says_to_pass_another_data(self, tmp_path: Path) -> None:
        """`tessera demo` on a held ledger fails in one line naming --data and the server, not only ledger_locked."""
        with Ledger.open(tmp_path / "ledger"):  # a running tessera serve holds its ledger the same way
            result = runner.invoke(app, ["demo", "--data", str(tmp_path / "ledger")])
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.startswith("error [ledger_locked]: ") and result.stderr.count("\n") == 1
        assert "pass --data with another directory, or stop the server" in result.stderr
