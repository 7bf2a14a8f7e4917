"""Programmes: a cycle's preview and durable disbursement over synthetic people in households of four.

Run as ``tessera bench programs [--people 1000000] [--seed 42] [--no-sync] [--dir PATH] [--json]
[--registered-households]``. Seeds ``--people`` persons straight into a SQLite store (households
of four consecutive by number, the first the head: synthetic, or with ``--registered-households``
written into the registry's household tables and read as the service reads them), registers a
household programme (children or elders make a household eligible; 50.00 and 25.00 a child), and
times, apart: gathering the facts from the store into columns, evaluating eligibility and amounts
over every household, the whole preview as the service runs it (gathering, evaluating and writing
the per-household results; its active persons scanned into the service's snapshot), the same
preview again after a thousandth of the people each registered, no longer active and with a birth
date corrected (the snapshot patched from the store's change log,
``tessera.programs.active_persons``), and the disbursement (entitlement accounts opened, their
holders recorded, and transfers applied in packed batches, fsync on each unless ``--no-sync``),
then a second cycle's disbursement (accounts already open); each disbursement's wall time split
into ``*_read_s`` (the frozen preview read back and batches packed), ``*_accounts_s`` (looked up
in the ledger, new ones opened), ``*_holders_s`` (waited for new accounts' holders), ``*_ledger_s``
(transfers applied) and ``*_progress_s`` (``batches_done`` after each batch). Issue 19's goal at
10,000,000 people: preview ≤ 2 s, disbursement ≤ 30 s. Prints one JSON object; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, update

from tessera.auth import Role
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.money import AccountKind, ledger_unit
from tessera.programs import (
    CompiledProgramme,
    Composition,
    DisbursementTimes,
    Population,
    funding_accounts,
    gather_population,
    number_text,
    preview,
)
from tessera.service import Services, Settings
from tessera.store import Store, persons
from tessera.testing import progress, seed_households, seed_persons

MONEY, RESERVE = 1, 900_001
HOUSEHOLD_SIZE = 4
CYCLE_DATE_NS = 1_798_761_600 * 10**9  # 2027-01-01
PROGRAMME = """
[[programme]]
id = "family_cash"
name = "Family cash transfer"
basis = "social-protection-act/food"
unit = "household"
kind = "cash"
currency = "currency"
eligibility = "household.members_under_18 >= 1 || household.members_60_and_over >= 1"
schedule = "monthly"
valid_for = "60d"
over_budget = "pro_rate"
merchant_categories = [5411, 5422, 5499]

[programme.cash]
amount = "5000 + 2500 * household.members_under_18"
budget = 1_000_000_000_000_000
"""


class Fours:
    """Households of four consecutive persons (by number), the first the head."""

    def composition(self, numbers: npt.NDArray[np.int64]) -> Composition:
        index = np.arange(len(numbers), dtype=np.int64)
        empty = np.zeros(0, np.int64)
        return Composition(index // HOUSEHOLD_SIZE, index % HOUSEHOLD_SIZE == 0, empty, empty)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench programs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000, help="synthetic persons, in households of four")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-sync", action="store_true", help="do not fsync each ledger batch")
    parser.add_argument("--dir", type=Path, default=None, help="where the store and ledger go (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; the output is always JSON")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="a SQLite registry.db seeded before (seed_persons, then seed_households of four), copied, not re-seeded",
    )
    parser.add_argument(
        "--registered-households",
        action="store_true",
        help="write the households of four into the registry's tables and read them as the service does",
    )
    args = parser.parse_args(argv)
    if args.people < HOUSEHOLD_SIZE:
        parser.error(f"--people must be at least {HOUSEHOLD_SIZE}")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, preview and disburse once; the timings and counts."""
    base = args.dir or Path(tempfile.mkdtemp(prefix="tessera-bench-programs-"))
    try:
        if args.store is not None:
            base.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.store, base / "registry.db")
        services = Services(Settings(data_dir=base, ledger_sync=not args.no_sync))
        try:
            measured = _measure(services, args)
            # Closing waits for the sanctions watch to screen every new (programme, entitlement) pair.
            progress(f"measured, closing: {json.dumps(measured)}")
            t = time.perf_counter()
        finally:
            services.close()
        measured["close_s"] = round(time.perf_counter() - t, 3)
        return measured
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


def _measure(services: Services, args: argparse.Namespace) -> dict[str, Any]:
    store = services.store
    services.agencies.register("social-welfare", "Social welfare", by="bench")
    maker = store.create_principal("maker", Role.officer, agency="social-welfare")
    checker = store.create_principal("checker", Role.officer, agency="social-welfare")
    bank = store.create_principal("bank", Role.officer, agency="central-bank")
    services.ledger_units.register(
        ledger_unit(MONEY, "currency", "XTS", 2, "central-bank"), requested_by="bench 1", approved_by="bench 2"
    )
    store.set_account_holders([(RESERVE, bank.id)])
    services.ledger.create_accounts(
        [Account(RESERVE, MONEY, AccountKind.issuance, AccountFlags.credits_must_not_exceed_debits)]
    )
    progress(f"reading the persons of {args.store}" if args.store else f"seeding {args.people:,} persons")
    t = time.perf_counter()
    if args.store is not None:  # copied into the data directory by ``run``: its persons and households as seeded
        with store.transaction() as conn:
            args.people = conn.execute(select(func.count()).select_from(persons)).scalar_one()
    else:
        seeded = seed_persons(store, args.seed, args.people)
        if args.registered_households:  # the service's own RegisteredHouseholds reads them
            seed_households(store, args.seed, sorted(seeded), HOUSEHOLD_SIZE)
    if args.store is None and not args.registered_households:
        services.household_source = Fours()  # what the service's cycles read households from
    seed_s = time.perf_counter() - t
    programme = services.programmes.check(PROGRAMME)
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(PROGRAMME, programme, funding, registered_by="bench")
    services.ledger.create_transfers([Transfer(1, RESERVE, funding[MONEY], 10**17, MONEY, 1)])
    compiled = CompiledProgramme(programme, services.event_types, services.benefits)

    progress("gathering facts and evaluating")
    t = time.perf_counter()
    population = gather_population(
        store,
        compiled.facts,
        programme.unit,
        CYCLE_DATE_NS,
        households=services.household_source,
        types=services.event_types,
    )
    gather_s = time.perf_counter() - t
    t = time.perf_counter()
    found = preview(compiled, population)
    evaluate_s = time.perf_counter() - t

    progress("preview as the service runs it (gather, evaluate, write the results)")
    cycle = services.cycles.create(programme.id, CYCLE_DATE_NS, by=maker)
    gathered: list[float] = []
    gathered_cpu: list[float] = []
    gather = services.gather

    def timed_gather(c: CompiledProgramme, at_ns: int) -> Population:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return gather(c, at_ns)
        finally:
            gathered.append(time.perf_counter() - start)
            gathered_cpu.append(time.thread_time() - cpu)

    services.gather = timed_gather  # type: ignore[method-assign]  # the service's own gather, timed apart
    t = time.perf_counter()
    _, previewed = services.cycles.preview(cycle.id, by=maker)
    preview_s = time.perf_counter() - t
    t = time.perf_counter()
    preview(compiled, previewed.population)
    service_evaluate_s = time.perf_counter() - t
    first_refresh = services.active_persons.last

    changed = _change_some(store, args, services.active_persons.active_persons().numbers)
    progress(f"{changed:,} persons changed; the same cycle previewed again, the active persons patched")
    t = time.perf_counter()
    _, again_previewed = services.cycles.preview(cycle.id, by=maker)
    second_preview_s = time.perf_counter() - t
    second_refresh = services.active_persons.last
    t = time.perf_counter()
    preview(compiled, again_previewed.population)
    second_evaluate_s = time.perf_counter() - t
    services.cycles.approve(cycle.id, by=checker)

    progress("disbursing")
    t, cpu = time.perf_counter(), time.thread_time()
    done = services.cycles.disburse(cycle.id, by=checker)
    disburse_s, disburse_cpu_s = time.perf_counter() - t, time.thread_time() - cpu

    progress("a second cycle: the entitlement accounts are open and their holders recorded")
    again = services.cycles.create(programme.id, CYCLE_DATE_NS + 31 * 86_400 * 10**9, by=maker)
    services.cycles.preview(again.id, by=maker)
    services.cycles.approve(again.id, by=checker)
    t, cpu = time.perf_counter(), time.thread_time()
    second = services.cycles.disburse(again.id, by=checker)
    second_s, second_cpu_s = time.perf_counter() - t, time.thread_time() - cpu
    return {
        "bench": "programs",
        "people": args.people,
        "households": len(population),
        "households_read": "registered" if args.registered_households or args.store else "fours",
        "eligible": int(found.eligible.sum()),
        "compiled": not compiled.fallback,
        "seed_s": round(seed_s, 3),
        "gather_s": round(gather_s, 3),
        "evaluate_s": round(evaluate_s, 4),
        "preview_in_memory_s": round(gather_s + evaluate_s, 3),
        "preview_with_results_written_s": round(preview_s, 3),
        "service_units": len(previewed.population),
        "service_gather_s": round(gathered[0], 3),
        "results_written_s": round(preview_s - gathered[0] - service_evaluate_s, 3),
        "service_gather_cpu_s": round(gathered_cpu[0], 3),
        "service_persons_read": first_refresh.how,
        "changed_between_previews": changed,
        "second_service_persons_read": f"{second_refresh.how} ({second_refresh.changed:,} persons re-read)",
        "second_eligible": int(again_previewed.eligible.sum()),  # what the cycle disburses
        "second_service_gather_s": round(gathered[1], 3),
        "second_service_gather_cpu_s": round(gathered_cpu[1], 3),
        "second_preview_in_memory_s": round(gathered[1] + second_evaluate_s, 3),
        "second_preview_with_results_written_s": round(second_preview_s, 3),
        "second_results_written_s": round(second_preview_s - gathered[1] - second_evaluate_s, 3),
        "disburse_s": round(disburse_s, 3),
        "transfers": done.transfers_applied,
        "batches": done.batches,
        "transfers_per_s": round(done.transfers_applied / disburse_s) if disburse_s else None,
        "disburse_cpu_s": round(disburse_cpu_s, 3),  # this thread's: the ledger's feed and screening run beside it
        **_parts("disburse", done.times),
        "second_cycle_disburse_s": round(second_s, 3),
        "second_cycle_transfers_per_s": round(second.transfers_applied / second_s) if second_s else None,
        "second_cycle_disburse_cpu_s": round(second_cpu_s, 3),
        **_parts("second_cycle_disburse", second.times),
        "durable": not args.no_sync,
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def _change_some(store: Store, args: argparse.Namespace, numbers: npt.NDArray[np.int64]) -> int:
    """Between the two previews, as a registry sees between cycles: some registered, some no longer active,
    some birth dates corrected (a thousandth of the people each, at least one). How many persons changed."""
    each = max(args.people // 1000, 1)
    rng = np.random.default_rng([args.seed, 2])
    picked = number_text(numbers[rng.choice(len(numbers), 2 * each, replace=False)]).tolist()
    number = persons.c.number
    with store.transaction(write=True) as conn:
        for start in range(0, each, 1000):
            gone, corrected = picked[start : start + 1000], picked[each + start : each + start + 1000]
            conn.execute(update(persons).where(number.in_(gone)).values(status="deceased"))
            conn.execute(update(persons).where(number.in_(corrected)).values(birth_date="2020-02-29"))
    seed_persons(store, args.seed + 1, each, unlike=number_text(numbers).tolist())
    return 3 * each


def _parts(prefix: str, times: DisbursementTimes) -> dict[str, float]:
    """Where a disbursement's wall time went: ``disburse_read_s``, ``disburse_holders_s``, ``disburse_ledger_s``..."""
    return {f"{prefix}_{name}": round(getattr(times, name), 3) for name in DisbursementTimes.__slots__}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
