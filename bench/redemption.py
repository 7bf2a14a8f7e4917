"""Redemption over HTTP: many shops' tills at once, the person already authenticated, and the PIN path apart.

Run as ``tessera bench redemption [--persons 2000] [--shops 20] [--threads 8] [--app-requests 2000]
[--pin-requests 200] [--warmup 40] [--dir PATH] [--json]``. Sets up, in process and not timed,
what a shop needs: ``--persons`` synthetic persons, a rice ration (an in-kind quota of 10 kg a
person, in grams, on its own ledger with its issuer's reserve) registered, funded and paid in
one disbursed cycle, ``--shops`` groceries each with its own merchant principal, API key and
till accounts, authorised for the ration, API keys for the persons, and PINs for the PIN path's
persons. Then starts ``tessera serve`` (durable ledger, its default) on a loopback port and
times, from ``--threads`` threads, each a shop's till in turn:

- **app** (the person already authenticated): the till posts an ``auth: app`` redemption of
  1 kg (it waits), then the person, logged in, approves it (``POST /v1/me/redemptions/{id}/approve``):
  the draw happens there. Latency of each request, and redemptions/s end to end.
- **pin**: the till posts a redemption of 1 kg with the person's PIN; argon2id costs about
  45 ms a check by design, so this path is reported apart.

Issue 19's goal: p99 ≤ 20 ms a request on the authenticated path. Prints one JSON object;
progress and the server's log (if it dies) on stderr. Exit 1 if the server fails or a request
is answered otherwise than it should be, 2 on a bad flag.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    # Run as ``python bench/redemption.py``: bench/ heads sys.path and its http.py would shadow the stdlib's.
    del sys.path[0]

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tessera.auth import Principal, Role
from tessera.cli.seed import issue_key
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.loadtest import READY_TIMEOUT_S, BenchError, Server, ServerDiedError, latency_ms, phase
from tessera.money import AccountKind, ledger_unit
from tessera.programs import funding_accounts
from tessera.service import Services, Settings
from tessera.testing import filesystem_of, progress, seed_persons

MONEY, RICE = 1, 2
MONEY_RESERVE, RICE_RESERVE = 900_001, 900_002
OUTLET_ACCOUNTS = 700_000  # a shop's till accounts: OUTLET_ACCOUNTS + 2 * shop (+1 for rice)
CYCLE_DATE_NS = 1_798_761_600 * 10**9  # 2027-01-01: the ration is live for 45 days from it
PIN = "482913"
QUOTA_G, DRAW_G = 10_000, 1_000  # 10 kg a person, 1 kg a redemption
DRAWS_MAX = QUOTA_G // DRAW_G
GOAL_P99_MS = 20.0
PROGRAMME = f"""
[[programme]]
id = "rice_ration"
name = "Rice ration"
basis = "social-protection-act/rations"
unit = "person"
kind = "in_kind"
eligibility = "person.age >= 0"
schedule = "monthly"
valid_for = "45d"
over_budget = "refuse"
merchant_categories = [5411]

[[programme.quota]]
commodity = "rice"
ledger = "rice-quota"
amount = "{QUOTA_G}"
budget = 1_000_000_000_000_000

[[programme.products]]
code = "RICE-1KG"
commodity = "rice"
quantity = {DRAW_G}
"""
ITEMS = [{"product": "RICE-1KG", "quantity": 1}]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench redemption", description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=2000, help="synthetic persons, each paid the ration")
    parser.add_argument("--shops", type=int, default=20, help="groceries, each its own merchant and API key")
    parser.add_argument("--threads", type=int, default=8, help="client threads posting at once")
    parser.add_argument("--app-requests", type=int, default=2000, help="redemptions the person approves (timed)")
    parser.add_argument("--pin-requests", type=int, default=200, help="redemptions by PIN (timed; 0 skips them)")
    parser.add_argument("--warmup", type=int, default=40, help="app redemptions first, not counted")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary data directory")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    for name in ("persons", "shops", "threads", "app_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("pin_requests", "warmup"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    draws = np.bincount(np.concatenate(_people(args)), minlength=args.persons)
    if draws.max() > DRAWS_MAX:
        parser.error(f"each person's ration is {DRAWS_MAX} redemptions: raise --persons or lower the requests")
    return args


def _people(args: argparse.Namespace) -> tuple[np.ndarray[Any, np.dtype[np.int64]], ...]:
    """Whom each redemption is for (indices into the persons): the app path's (warm-up first), then the PIN path's."""
    app = np.arange(args.warmup + args.app_requests, dtype=np.int64) % args.persons
    pin = np.arange(args.pin_requests, dtype=np.int64) % max(1, min(args.pin_requests, args.persons))
    return app, pin


@dataclass(frozen=True)
class World:
    """What the timed runs need: the shops' outlets and keys, the persons' numbers and keys."""

    outlets: list[str]
    till_keys: list[str]
    numbers: list[str]
    person_keys: list[str]  # for the app path's persons


def _setup(data: Path, args: argparse.Namespace) -> World:
    """The persons, the ration paid, the shops authorised, keys and PINs: in process, before the server starts."""
    services = Services(Settings(data_dir=data))
    try:
        return _set_up(services, args)
    finally:
        services.close()


def _set_up(services: Services, args: argparse.Namespace) -> World:
    store = services.store
    services.agencies.register("social-welfare", "Social welfare", by="bench")
    maker = store.create_principal("maker", Role.officer, agency="social-welfare")
    checker = store.create_principal("checker", Role.officer, agency="social-welfare")
    admin = store.create_principal("admin", Role.admin)
    for ledger_id, name, unit, decimals, issuer, reserve in (
        (MONEY, "currency", "XTS", 2, "central-bank", MONEY_RESERVE),
        (RICE, "rice-quota", "kg", 3, "food-ministry", RICE_RESERVE),
    ):
        if issuer != "central-bank":
            services.agencies.register(issuer, "Food ministry", by="bench")
        kinds = {"category": "benefit"} if ledger_id == RICE else {}
        services.ledger_units.register(
            ledger_unit(ledger_id, name, unit, decimals, issuer, **kinds),
            requested_by="bench 1",
            approved_by="bench 2",
        )
        officer = store.create_principal(f"{issuer} officer", Role.officer, agency=issuer)
        store.set_account_holders([(reserve, officer.id)])
        flags = AccountFlags.credits_must_not_exceed_debits
        services.ledger.create_accounts([Account(reserve, ledger_id, AccountKind.issuance, flags)])

    progress(f"seeding {args.persons:,} persons and paying the ration")
    numbers = seed_persons(store, args.seed, args.persons)
    programme = services.programmes.check(PROGRAMME)
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(PROGRAMME, programme, funding, registered_by=admin.id)
    services.ledger.create_transfers([Transfer(1, RICE_RESERVE, funding[RICE], 10**15, ledger=RICE, code=1)])
    cycle = services.cycles.create(programme.id, CYCLE_DATE_NS, by=maker)
    services.cycles.preview(cycle.id, by=maker)
    services.cycles.approve(cycle.id, by=checker)
    services.cycles.disburse(cycle.id, by=maker)

    progress(f"registering {args.shops} shops")
    outlets, till_keys = [], []
    for shop in range(args.shops):
        grocer = store.create_principal(f"grocer {shop}", Role.merchant)
        accounts = [
            Account(OUTLET_ACCOUNTS + 2 * shop + k, ledger_id, AccountKind.merchant, category=5411)
            for k, ledger_id in enumerate((MONEY, RICE))
        ]
        store.set_account_holders([(a.id, grocer.id) for a in accounts])
        services.ledger.create_accounts(accounts)
        outlet = services.outlets.register(
            admin.id, name=f"Grocery {shop}", operator=grocer.id, category=5411, location="KE-047-0012",
            accounts=[a.id for a in accounts],
        )  # fmt: skip
        services.outlets.authorise(outlet.id, programme.id, admin, "licensed for the ration")
        outlets.append(outlet.id)
        till_keys.append(issue_key(services, grocer))

    app, pin = _people(args)
    progress(f"keys for {len(set(app.tolist())):,} persons, PINs for {len(set(pin.tolist())):,} (argon2id each)")
    person_keys = [""] * args.persons
    for i in sorted(set(app.tolist())):
        person_keys[i] = issue_key(services, _principal(services, numbers[i]), for_person=True)
    for i in sorted(set(pin.tolist())):
        services.pins.set_pin(numbers[i], PIN)
    return World(outlets, till_keys, numbers, person_keys)


def _principal(services: Services, number: str) -> Principal:
    principal = services.store.get_principal(services.registry.person(number).principal_id)
    if principal is None:
        raise BenchError(f"person {number} has no principal")
    return principal


# -- the timed runs -----------------------------------------------------------------------------


def _answered(response: httpx.Response, expected: int, status: str, what: str) -> str:
    """The redemption's id, if the answer is ``expected`` with ``status``; else BenchError."""
    body = response.json() if response.headers.get("content-type", "").endswith("json") else {}
    if response.status_code != expected or body.get("status") != status:
        raise BenchError(f"{what} answered {response.status_code}: {response.text[:300]}")
    redemption: str = body["id"]
    return redemption


class Tills:
    """Posts one redemption a call, on the path asked, noting each request's latency."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.create: list[float] = []
        self.approve: list[float] = []

    def _till(self, http: httpx.Client, shop: int, body: dict[str, Any]) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.world.till_keys[shop]}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        t0 = time.perf_counter()
        response = http.post(f"/v1/outlets/{self.world.outlets[shop]}/redemptions", json=body, headers=headers)
        self.create.append(time.perf_counter() - t0)  # list.append is atomic: threads share these lists
        return response

    def by_app(self, http: httpx.Client, job: tuple[int, int]) -> int:
        shop, person = job
        number = self.world.numbers[person]
        body = {"programme": "rice_ration", "person": {"number": number}, "auth": "app", "items": ITEMS}
        redemption = _answered(self._till(http, shop, body), HTTPStatus.CREATED, "awaiting_approval", "the till")
        headers = {"Authorization": f"Bearer {self.world.person_keys[person]}"}
        t0 = time.perf_counter()
        approved = http.post(f"/v1/me/redemptions/{redemption}/approve", headers=headers)
        self.approve.append(time.perf_counter() - t0)
        _answered(approved, HTTPStatus.OK, "completed", "the person's approval")
        return 0

    def by_pin(self, http: httpx.Client, job: tuple[int, int]) -> int:
        shop, person = job
        body = {
            "programme": "rice_ration",
            "person": {"number": self.world.numbers[person]},
            "pin": PIN,
            "items": ITEMS,
        }
        _answered(self._till(http, shop, body), HTTPStatus.CREATED, "completed", "the till (PIN)")
        return 0


def _timed(server: Server, world: World, args: argparse.Namespace, jobs: list[tuple[int, int]], path: str) -> Any:
    tills = Tills(world)
    post = tills.by_app if path == "app" else tills.by_pin
    figures = phase(
        server, jobs, args.threads, lambda: httpx.Client(base_url=server.url, timeout=60.0), post, label=path
    )
    figures["redemptions_per_second"] = figures.pop("requests_per_second")
    figures["redemptions"] = figures.pop("requests")
    figures["end_to_end_ms"] = figures.pop("latency_ms")
    figures.pop("refused")  # every answer was checked: anything else stopped the bench
    figures["till_request_ms"] = latency_ms(tills.create)
    if path == "app":
        figures["approve_request_ms"] = latency_ms(tills.approve)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-redemption-", dir=args.dir))
    try:
        return _run_in(directory, args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run_in(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = directory / "data"
    load_before = os.getloadavg()  # the machine may be shared: other work skews every figure
    started = time.perf_counter()
    world = _setup(data, args)
    setup_seconds = time.perf_counter() - started
    app, pin = _people(args)
    app_jobs = [(i % args.shops, int(p)) for i, p in enumerate(app)]
    pin_jobs = [(i % args.shops, int(p)) for i, p in enumerate(pin)]
    server = Server(data, directory / "serve.log")
    try:
        progress(f"tessera serve on {server.url} (pid {server.process.pid}), data in {data}")
        server.wait_ready(READY_TIMEOUT_S)
        if args.warmup:
            _timed(server, world, args, app_jobs[: args.warmup], "app")
        by_app = _timed(server, world, args, app_jobs[args.warmup :], "app")
        progress(f"app: {by_app['redemptions_per_second']:,} redemptions/s over {by_app['seconds']:.1f} s")
        by_pin = _timed(server, world, args, pin_jobs, "pin") if pin_jobs else None
        if by_pin:
            progress(f"pin: {by_pin['redemptions_per_second']:,} redemptions/s over {by_pin['seconds']:.1f} s")
        error = server.died()
        if error is not None:
            raise error
    except Exception as failure:
        error = server.died()
        if error is not None and not isinstance(failure, ServerDiedError):
            raise error from failure  # the server's own output says more than a refused connection
        raise
    finally:
        server.stop()
    worst = max(by_app["till_request_ms"]["p99"], by_app["approve_request_ms"]["p99"])
    return {
        "bench": "redemption",
        "app": by_app,
        "pin": by_pin,
        "goal": {"p99_ms_per_request": GOAL_P99_MS, "app_p99_ms_worst_request": worst, "met": worst <= GOAL_P99_MS},
        "persons": args.persons,
        "shops": args.shops,
        "threads": args.threads,
        "warmup_redemptions": args.warmup,
        "draw": "1 kg of a 10 kg rice ration (in kind, its own quota ledger), one linked chain a redemption",
        "pin_hash": "argon2id (about 45 ms a check by design)",
        "seed": args.seed,
        "durable": True,  # tessera serve opens its ledger with sync on: every chain is fsynced before it answers
        "transport": "HTTP/1.1 keep-alive over loopback, one connection per client thread",
        "server": "tessera serve (uvicorn, one process), default settings",
        "setup_seconds": round(setup_seconds, 2),
        "filesystem": filesystem_of(directory),
        "load_average_before": [round(x, 2) for x in load_before],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        result = run(args)
    except BenchError as error:
        progress(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        progress("interrupted; the server was stopped")
        return 130
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
