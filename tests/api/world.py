"""The API tests' world: a running app with one principal and API key per role, its accounts and a live server."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi.testclient import TestClient

from tessera.api import create_app
from tessera.auth import Principal, Rate, Role
from tessera.cli.seed import issue_key
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.money import ledger_unit
from tessera.programs import EXAMPLE_LEDGERS, EXAMPLE_PROGRAMMES, builtin_programmes_path
from tessera.service import Services, Settings

MONEY = 1
WALLET = AccountFlags.debits_must_not_exceed_credits
ISSUER, ALICE, BOB, SHOP = 1, 2, 3, 4
GENEROUS = Rate(per_second=1_000_000, burst=1_000_000)  # the walk and schemathesis make many calls


@dataclass
class World:
    """The test client and who is in the world: principals by name, and a header set for each."""

    client: TestClient
    services: Services
    principals: dict[str, Principal]
    tokens: dict[str, str]

    def as_(self, name: str, purpose: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[name]}"}
        if purpose is not None:
            headers["X-Tessera-Purpose"] = purpose
        return headers


PEOPLE = (
    ("bank", Role.officer, "central-bank"),
    ("tax-officer", Role.officer, "tax-office"),
    ("alice", Role.citizen, ""),
    ("bob", Role.citizen, ""),
    ("shop", Role.merchant, ""),
    ("auditor", Role.auditor, ""),
    ("admin", Role.admin, ""),
    ("dpo", Role.dpo, ""),
)


def make_world(client: TestClient) -> World:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    principals, tokens = {}, {}
    for name, role, agency in PEOPLE:
        principals[name] = services.store.create_principal(name, role, agency=agency)
        tokens[name] = issue_key(services, principals[name])
    currency = ledger_unit(MONEY, "currency", "XTS", 2, "central-bank")
    services.ledger_units.register(currency, requested_by="test admin 1", approved_by="test admin 2")
    holders = {ISSUER: "bank", ALICE: "alice", BOB: "bob", SHOP: "shop"}
    services.store.set_account_holders([(a, principals[n].id) for a, n in holders.items()])
    services.ledger.create_accounts(
        [
            Account(ISSUER, MONEY, code=1, flags=AccountFlags.credits_must_not_exceed_debits),
            Account(ALICE, MONEY, code=2, flags=WALLET),
            Account(BOB, MONEY, code=2, flags=WALLET),
            Account(SHOP, MONEY, code=3, flags=WALLET),
        ]
    )
    services.ledger.create_transfers(
        [Transfer(1, ISSUER, ALICE, 10_000, MONEY, 1), Transfer(2, ISSUER, BOB, 5_000, MONEY, 1)]
    )
    return World(client, services, principals, tokens)


def register_example_programmes(world: World) -> list[str]:
    """Register the built-in example programmes (food_cash, rice_ration, fuel_quota) by API, their ledgers first."""
    services = world.services
    rows = json.loads(builtin_programmes_path(EXAMPLE_LEDGERS).read_text(encoding="utf-8"))["ledgers"]
    for r in rows:
        if r["id"] == MONEY:
            continue  # the world's currency
        if services.agencies.get(r["issuer"]) is None:
            services.agencies.register(r["issuer"], r["issuer"].replace("-", " ").title(), by="test")
        unit = ledger_unit(r["id"], r["name"], r["unit"], r["decimals"], r["issuer"], category=r["category"])
        services.ledger_units.register(unit, requested_by="test admin 1", approved_by="test admin 2")
    text = builtin_programmes_path(EXAMPLE_PROGRAMMES).read_text(encoding="utf-8")
    made = []
    for part in re.split(r"(?m)^(?=\[\[programme\]\]$)", text)[1:]:
        answer = world.client.post("/v1/programs", json={"text": part}, headers=world.as_("admin"))
        assert answer.status_code == 201, answer.text
        made.append(str(answer.json()["id"]))
    return made


def settings_for(path: Path, **kwargs: object) -> Settings:
    options: dict[str, object] = {
        "ledger_sync": False,
        "lookup_rate": GENEROUS,
        "auth_failure_rate": GENEROUS,
        "ceremony_rate": GENEROUS,
        "caller_cache_s": 0.0,  # a revoked key must fail at once in the tests
        "incoming_wait_max_s": 0.2,  # the route walk and schemathesis may ask to wait; tests that wait set their own
        "public_url": "http://localhost",  # WebAuthn allows plain http on localhost only; TestClient serves any host
    }
    options.update(kwargs)
    return Settings(data_dir=path, **options)  # type: ignore[arg-type]


@dataclass
class LiveServer:
    """A real uvicorn server on a loopback port, for clients that speak HTTP (tessera.client, schemathesis)."""

    url: str
    world: World


@contextmanager
def live_server(path: Path) -> Iterator[LiveServer]:
    app = create_app(settings_for(path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    client = TestClient(app)  # outside `with`: it shares the server's open services, starts no second lifespan
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", make_world(client))
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=30)
