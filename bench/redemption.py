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

Closed-loop threads (``app``) each send the next redemption as soon as the last is answered:
that measures the **saturation throughput**, and its latencies are queueing behind it. Latency
at a given load is measured **open-loop** (``open_loop``, after ``app``, before ``pin``): the
redemptions arrive at random (Poisson) at an offered total rate, each at the next shop in turn,
``--open-requests`` of them at each rate, sent by a pool of ``--open-clients`` client threads;
each till request's latency counts from its *scheduled* send time (a send delayed behind a busy
client counts its wait: no coordinated omission). The rates are ``--open-rates`` (redemptions/s)
or else ``--open-fractions`` of the closed loop's throughput (default 25, 50 and 75 %);
``--open-requests 0`` skips them.

JSON keys: ``app`` and ``pin`` (closed loop: ``redemptions_per_second``, ``redemptions``,
``seconds``, ``end_to_end_ms``, ``till_request_ms`` and ``approve_request_ms`` as p50/p99/max,
and the CPU ``server_cpu_cores``, ``server_cpu_ms_per_request`` (a redemption), ``bench_cpu_cores``,
``other_cpu_cores``: everything else on the machine); ``saturation_redemptions_per_second`` (the
closed loop's rate); ``open_loop``: one object a rate with ``offered_per_second``,
``fraction_of_saturation`` (null for ``--open-rates``), ``achieved_per_second``, ``redemptions``,
``seconds``, ``till_request_ms``, ``approve_request_ms`` and ``end_to_end_ms`` (from the scheduled
send to the approval's answer) as p50/p90/p99/max, ``send_delay_ms`` (how far behind its schedule
each till request left the client: a busy pool or a busy machine) and ``late_sends`` (more than
1 ms behind), ``goal_met`` (both requests' p99 ≤ 20 ms), the CPU figures
as above and ``load_average_after``; ``goal`` (``app_p99_ms_worst_request``: the closed loop's,
``open_loop_met_up_to_per_second``: the highest offered rate that met it, or null).

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
import queue
import shutil
import tempfile
import threading
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
from tessera.loadtest import (
    READY_TIMEOUT_S,
    BenchError,
    Server,
    ServerDiedError,
    cpu_seconds,
    latency_ms,
    machine_busy_seconds,
    phase,
)
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
OPEN_FRACTIONS = (0.25, 0.5, 0.75)
LATE_S = 0.001  # a send this far behind its schedule waited for a free client thread
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
    parser.add_argument("--open-requests", type=int, default=400, help="open-loop redemptions at each rate (0 skips)")
    parser.add_argument("--open-rates", type=_rates, default=None, help="open-loop rates, redemptions/s: 10,20,30")
    parser.add_argument(
        "--open-fractions", type=_rates, default=OPEN_FRACTIONS, help="else fractions of the closed loop's rate"
    )
    parser.add_argument("--open-clients", type=int, default=32, help="client threads sending the open-loop arrivals")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary data directory")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    for name in ("persons", "shops", "threads", "app_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.open_clients < 1:
        parser.error("--open-clients must be at least 1")
    for name in ("pin_requests", "warmup", "open_requests"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    draws = np.bincount(np.concatenate(_people(args)), minlength=args.persons)
    if draws.max() > DRAWS_MAX:
        parser.error(f"each person's ration is {DRAWS_MAX} redemptions: raise --persons or lower the requests")
    return args


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not {text!r}") from None
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError("every rate must be above zero")
    return rates


def _open_runs(args: argparse.Namespace) -> int:
    return len(args.open_rates or args.open_fractions) if args.open_requests else 0


def _people(args: argparse.Namespace) -> tuple[np.ndarray[Any, np.dtype[np.int64]], ...]:
    """Whom each redemption is for (indices into the persons): the app path's (warm-up, closed, open), then PIN's."""
    app_total = args.warmup + args.app_requests + _open_runs(args) * args.open_requests
    app = np.arange(app_total, dtype=np.int64) % args.persons
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


def percentiles_ms(latencies: list[float]) -> dict[str, float]:
    lat = np.array(latencies) * 1000
    found = {f"p{q}": round(float(np.percentile(lat, q)), 2) for q in (50, 90, 99)}
    return {**found, "max": round(float(lat.max()), 2)}


def _open_loop(server: Server, world: World, args: argparse.Namespace, jobs: list[tuple[int, int]], rate: float) -> Any:
    """``jobs`` arriving at random (Poisson) at ``rate`` a second, each timed from when it was due to be sent."""
    rng = np.random.default_rng(args.seed)
    due = np.cumsum(rng.exponential(1.0 / rate, len(jobs)))
    waiting: queue.Queue[tuple[float, tuple[int, int]] | None] = queue.Queue()
    till_s: list[float] = []
    approve_s: list[float] = []
    whole_s: list[float] = []
    late: list[float] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=60.0) as http:
                while (item := waiting.get()) is not None and not errors:
                    due_at, (shop, person) = item
                    late.append(time.perf_counter() - due_at)  # list.append is atomic: the threads share these lists
                    body = {
                        "programme": "rice_ration", "person": {"number": world.numbers[person]}, "auth": "app",
                        "items": ITEMS,
                    }  # fmt: skip
                    headers = {
                        "Authorization": f"Bearer {world.till_keys[shop]}",
                        "Idempotency-Key": str(uuid.uuid4()),
                    }
                    asked = http.post(f"/v1/outlets/{world.outlets[shop]}/redemptions", json=body, headers=headers)
                    answered = time.perf_counter()
                    till_s.append(answered - due_at)
                    redemption = _answered(asked, HTTPStatus.CREATED, "awaiting_approval", "the till")
                    mine = {"Authorization": f"Bearer {world.person_keys[person]}"}
                    approved = http.post(f"/v1/me/redemptions/{redemption}/approve", headers=mine)
                    done = time.perf_counter()
                    approve_s.append(done - answered)
                    whole_s.append(done - due_at)
                    _answered(approved, HTTPStatus.OK, "completed", "the person's approval")
        except BaseException as error:  # handed to the main thread, which raises it
            errors.append(error)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.open_clients)]
    for t in threads:
        t.start()
    server_cpu, busy, client_cpu = cpu_seconds(server.process.pid), machine_busy_seconds(), time.process_time()
    started = time.perf_counter()
    try:
        for at, job in zip(due, jobs, strict=True):
            pause = started + at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            waiting.put((started + float(at), job))
            if errors:
                break
    finally:
        for _ in threads:
            waiting.put(None)
        for t in threads:
            while t.is_alive():
                t.join(0.5)  # wakes for Ctrl-C
    seconds = time.perf_counter() - started
    if errors:
        raise BenchError(f"open loop at {rate:.1f}/s: a request failed: {type(errors[0]).__name__}: {errors[0]}")
    server_cpu_after, busy_after = cpu_seconds(server.process.pid), machine_busy_seconds()
    client_cpu = time.process_time() - client_cpu
    served = None if server_cpu is None or server_cpu_after is None else server_cpu_after - server_cpu
    other = None
    if busy is not None and busy_after is not None and served is not None:
        other = max(0.0, busy_after - busy - served - client_cpu)
    till, approve = percentiles_ms(till_s), percentiles_ms(approve_s)
    return {
        "offered_per_second": round(rate, 2),
        "achieved_per_second": round(len(jobs) / seconds, 2),
        "redemptions": len(jobs),
        "seconds": round(seconds, 3),
        "till_request_ms": till,
        "approve_request_ms": approve,
        "end_to_end_ms": percentiles_ms(whole_s),
        "late_sends": sum(1 for s in late if s > LATE_S),
        "send_delay_ms": percentiles_ms(late),
        "goal_met": max(till["p99"], approve["p99"]) <= GOAL_P99_MS,
        "server_cpu_cores": None if served is None else round(served / seconds, 2),
        "server_cpu_ms_per_request": None if served is None else round(served / len(jobs) * 1000, 2),
        "bench_cpu_cores": round(client_cpu / seconds, 2),
        "other_cpu_cores": None if other is None else round(other / seconds, 2),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def _open_loops(
    server: Server, world: World, args: argparse.Namespace, jobs: list[tuple[int, int]], saturation: float
) -> list[dict[str, Any]]:
    """One open-loop run a rate, each on its own ``--open-requests`` of ``jobs``."""
    if args.open_rates:
        rates = [(r, None) for r in args.open_rates]
    else:
        rates = [(f * saturation, f) for f in args.open_fractions]
    runs = []
    for k, (rate, fraction) in enumerate(rates):
        mine = jobs[k * args.open_requests : (k + 1) * args.open_requests]
        progress(f"open loop: {len(mine)} redemptions at {rate:.1f}/s")
        figures = _open_loop(server, world, args, mine, rate)
        figures["fraction_of_saturation"] = fraction
        worst = max(figures["till_request_ms"]["p99"], figures["approve_request_ms"]["p99"])
        progress(f"open loop at {rate:.1f}/s: worst p99 {worst:.1f} ms")
        runs.append(figures)
    return runs


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
    closed_end = args.warmup + args.app_requests
    pin_jobs = [(i % args.shops, int(p)) for i, p in enumerate(pin)]
    server = Server(data, directory / "serve.log")
    try:
        progress(f"tessera serve on {server.url} (pid {server.process.pid}), data in {data}")
        server.wait_ready(READY_TIMEOUT_S)
        if args.warmup:
            _timed(server, world, args, app_jobs[: args.warmup], "app")
        by_app = _timed(server, world, args, app_jobs[args.warmup : closed_end], "app")
        progress(f"app: {by_app['redemptions_per_second']:,} redemptions/s over {by_app['seconds']:.1f} s")
        saturation = by_app["redemptions_per_second"]
        open_loop = _open_loops(server, world, args, app_jobs[closed_end:], saturation) if args.open_requests else []
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
    met = [run["offered_per_second"] for run in open_loop if run["goal_met"]]
    return {
        "bench": "redemption",
        "app": by_app,
        "pin": by_pin,
        "saturation_redemptions_per_second": saturation,
        "open_loop": open_loop,
        "goal": {
            "p99_ms_per_request": GOAL_P99_MS,
            "app_p99_ms_worst_request": worst,
            "met": worst <= GOAL_P99_MS,
            "open_loop_met_up_to_per_second": max(met) if met else None,
        },
        "persons": args.persons,
        "shops": args.shops,
        "threads": args.threads,
        "open_clients": args.open_clients,
        "arrivals": "Poisson, each at the next shop in turn; latency from the scheduled send (open loop)",
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
