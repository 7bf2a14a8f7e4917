"""Rules: events/s from the ledger's event feed through 50 compiled rules to updated scores.

Run as ``tessera bench rules [--events 4000000] [--batch 8190] [--rules 50] [--accounts 100000]
[--sync] [--seed 42] [--dir PATH] [--json]``. Opens a ledger and a SQLite store under
``--dir``, gives every wallet a person, loads ``--rules`` generated rules over
``ledger.transfer`` (thresholds on amount, code, ledger and refusal status; together they
fire on about 4% of events, each firing a score contribution), subscribes the rule engine
to the ledger's feed and submits ``--events`` transfers in batches (3% over the balance,
so the ledger refuses them). Reports the end-to-end rate (first submit to the last score
recorded), the engine's own rate (events over the time it was busy), firings, score
contributions and store commits, and the compiled rules' time for one batch. Prints one
JSON object; progress on stderr.
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

from tessera.ledger import TRANSFER_DTYPE, Account, AccountFlags, CommittedBatch, Ledger, Transfer
from tessera.limits import BATCH_SIZE_MAX
from tessera.rules import (
    LEDGER_EVENT,
    CompiledRules,
    LedgerColumns,
    RuleEngine,
    Scores,
    builtin_definitions,
    ledger_table,
    load_rules,
)
from tessera.store import Store
from tessera.testing import progress

ISSUER = 1
FIRST_WALLET = 1000
REFUSED_SHARE = 0.03  # payments larger than any wallet holds, which the ledger refuses


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench rules", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4_000_000, help="transfers submitted (each is one event)")
    parser.add_argument("--batch", type=int, default=BATCH_SIZE_MAX, help="transfers per ledger batch")
    parser.add_argument("--rules", type=int, default=50, help="generated rules over ledger.transfer")
    parser.add_argument("--accounts", type=int, default=100_000, help="wallets, each held by a person")
    parser.add_argument("--sync", action="store_true", help="fsync every ledger batch (durable)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where the ledger and store go (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; the output is always JSON")
    args = parser.parse_args(argv)
    for name in ("events", "batch", "rules", "accounts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.batch > BATCH_SIZE_MAX:
        parser.error(f"--batch is at most {BATCH_SIZE_MAX} (the ledger's batch limit)")
    return args


def generated_rules(count: int, seed: int) -> str:
    """``count`` rules over ledger.transfer, as a rule file: mixed conditions, each firing on a few per cent."""
    rng = np.random.default_rng(seed)
    shapes = [
        "event.refused && event.status == {status} && event.code == {code} && event.amount >= {amount}",
        "event.amount > {big} && event.code == {code}",
        "!event.refused && event.ledger == 1 && event.amount % {mod} == {rem} && event.amount > {amount}",
        "event.two_phase && event.amount >= {big}",
        "event.refused && (event.code == {code} || event.code == {code2})",
        "event.amount >= {amount} && event.amount < {amount} + {width} && event.code in [{code}, {code2}, 9]",
    ]
    rules = []
    for i in range(count):
        shape = shapes[i % len(shapes)]
        condition = shape.format(
            status=int(rng.choice([35, 36])),
            amount=int(rng.integers(1, 500)) * 100,
            big=int(rng.integers(90_000, 99_000)),
            code=int(rng.integers(1, 20)),
            code2=int(rng.integers(1, 20)),
            mod=int(rng.integers(300, 1000)),
            rem=int(rng.integers(0, 50)),
            width=int(rng.integers(50, 300)),
        )
        points = -int(rng.integers(1, 30)) if i % 3 else int(rng.integers(1, 10))
        rules.append(
            f"""[[rule]]
id = "bench.rule-{i:03d}"
title = "Generated rule {i}"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "{condition}"
reason_code = "bench_{i:03d}"
reason_text = "Generated rule {i} for the benchmark."
effects = [{{ kind = "score", scheme = "bench", points = {points}, expires_after = "30d", half_life = "7d" }}]
"""
        )
    return "\n".join(rules)


def _transfers(rng: np.random.Generator, first_id: int, count: int, wallets: int) -> np.ndarray:
    batch = np.zeros(count, dtype=TRANSFER_DTYPE)
    batch["id"] = np.arange(first_id, first_id + count, dtype=np.uint64)
    debit = rng.integers(0, wallets, count)
    credit = (debit + rng.integers(1, wallets, count)) % wallets
    batch["debit_account_id"] = FIRST_WALLET + debit
    batch["credit_account_id"] = FIRST_WALLET + credit
    # Mostly small payments; a few (REFUSED_SHARE) larger than any wallet holds.
    amounts = rng.integers(1, 5_000, count)
    big = rng.random(count) < REFUSED_SHARE
    amounts[big] = rng.integers(90_000, 100_000, int(big.sum()))
    batch["amount"] = amounts
    batch["ledger"] = 1
    batch["code"] = rng.integers(1, 20, count)
    return batch


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="tessera-bench-rules-", dir=args.dir))
    try:
        return _measure(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    types, bases = builtin_definitions()
    types.use_codes(types.codes.replaced(ledger_table([(1, "currency", None)])))  # as the register holds it
    ruleset = load_rules([generated_rules(args.rules, args.seed)], types, bases)
    compile_started = time.perf_counter()
    compiled = CompiledRules(ruleset, types)
    compile_s = time.perf_counter() - compile_started
    wallets = args.accounts
    subjects = np.array([f"{100_000_000_000 + i:012d}" for i in range(wallets)], dtype=object)

    def payer_subjects(account_ids: np.ndarray) -> list[str | None]:
        # The bench's people: wallet i belongs to person i (the service resolves holders through the store).
        return list(subjects[(account_ids - FIRST_WALLET).astype(np.int64)])

    with (
        Store.open(f"sqlite:///{root / 'registry.db'}") as store,
        Ledger.open(root / "ledger", sync=args.sync) as ledger,
    ):
        engine = RuleEngine(
            store, compiled, Scores(store), payer_subjects=payer_subjects, backlog=lambda: ledger.feed.queued_behind
        )
        ledger.reserve(wallets + 1, args.events + wallets)  # as the service does: no array growth mid-run
        wallet = AccountFlags.debits_must_not_exceed_credits
        accounts = [Account(ISSUER, 1, 1)] + [Account(FIRST_WALLET + i, 1, 2, flags=wallet) for i in range(wallets)]
        for start in range(0, len(accounts), BATCH_SIZE_MAX):
            ledger.create_accounts(accounts[start : start + BATCH_SIZE_MAX])
        issue = [Transfer(10 + i, ISSUER, FIRST_WALLET + i, 50_000, 1, 1) for i in range(wallets)]
        for start in range(0, len(issue), BATCH_SIZE_MAX):
            ledger.create_transfers(issue[start : start + BATCH_SIZE_MAX])
        ledger.subscribe(engine.on_ledger_batch)
        next_id = 10 + wallets + 1
        batches = []
        for start in range(0, args.events, args.batch):
            count = min(args.batch, args.events - start)
            batches.append(_transfers(rng, next_id, count, wallets))
            next_id += count
        refused = 0
        started = time.perf_counter()
        for i, batch in enumerate(batches):
            results = ledger.create_transfers(batch)
            refused += int(np.count_nonzero(results.statuses))
            if i % 50 == 0:
                progress(f"submitted {(i + 1) * args.batch:,} transfers")
        submitted_s = time.perf_counter() - started
        ledger.feed.wait_idle()
        elapsed = time.perf_counter() - started
        stats = engine.stats
        # The compiled rules alone, on one batch, for the share of the engine's time.
        probe = batches[0]
        statuses = np.zeros(len(probe), dtype=np.uint32)
        rounds = 20
        t = time.perf_counter()
        for _ in range(rounds):
            compiled.evaluate(LEDGER_EVENT, LedgerColumns(CommittedBatch(0, 2, 0, probe, statuses)), len(probe))
        evaluate_ms = (time.perf_counter() - t) / rounds * 1e3
        return {
            "bench": "rules",
            "events": stats.events,
            "end_to_end_events_per_s": round(stats.events / elapsed),
            "engine_events_per_s": round(stats.events / stats.busy_s) if stats.busy_s else None,
            "ledger_submit_s": round(submitted_s, 3),
            "elapsed_s": round(elapsed, 3),
            "engine_busy_s": round(stats.busy_s, 3),
            "evaluate_ms_per_batch": round(evaluate_ms, 3),
            "firings": stats.firings,
            "firing_share": round(stats.firings / max(stats.events, 1), 4),
            "score_contributions": stats.contributions,
            "store_commits": stats.commits,
            "refused_transfers": refused,
            "feed_errors": ledger.feed.errors,
            "conditions": {
                "rules": len(ruleset),
                "fallback_rules": len(compiled.fallback),
                "compile_s": round(compile_s, 3),
                "batch": args.batch,
                "accounts": wallets,
                "ledger_sync": args.sync,
                "store": "sqlite",
                "seed": args.seed,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
        }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
