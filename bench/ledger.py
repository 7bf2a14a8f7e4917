"""Ledger throughput: durable transfers per second through the public API.

Run as ``tessera bench ledger [--accounts N] [--transfers N] [--batch 8190]
[--distribution uniform|zipf] [--clients 2] [--json]``. Creates its own ledger in a
temporary directory (on the disk under ``--dir``), funds every wallet from the issuer,
then submits pre-generated payment batches from ``--clients`` threads so that group
commit overlaps one batch's fsync with the next batch's apply. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from tessera.ledger import Ledger
from tessera.limits import BATCH_SIZE_MAX
from tessera.testing import filesystem_of, issuance_batches, payment_batches, progress, wallet_batches


def _require_ok(failed: list[Any], step: str) -> None:
    if failed:
        raise SystemExit(f"bench setup failed while {step}: {failed[:3]}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench ledger", description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000, help="wallets to create")
    parser.add_argument("--transfers", type=int, default=10_000_000, help="payments to time")
    parser.add_argument("--batch", type=int, default=BATCH_SIZE_MAX, help=f"transfers per batch (max {BATCH_SIZE_MAX})")
    parser.add_argument("--distribution", choices=["uniform", "zipf"], default="uniform")
    parser.add_argument("--clients", type=int, default=2, help="threads submitting batches")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary ledger")
    parser.add_argument("--no-sync", action="store_true", help="skip fsync (not durable; for comparison only)")
    parser.add_argument("--json", action="store_true", help="print only the JSON object (progress goes to stderr)")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= BATCH_SIZE_MAX:
        parser.error(f"--batch must be between 1 and {BATCH_SIZE_MAX}")
    for name in ("accounts", "transfers", "clients"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-", dir=args.dir))
    try:
        return _run_in(directory, args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run_in(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    progress(f"generating {args.transfers:,} {args.distribution} payments over {args.accounts:,} wallets")
    batches = payment_batches(
        args.seed,
        args.accounts,
        args.transfers,
        batch_size=args.batch,
        distribution=args.distribution,
        first_transfer_id=args.accounts + 1,
    )
    # The directory is thrown away afterwards, so skip the snapshot close() would write.
    with Ledger.open(directory, sync=not args.no_sync, snapshot_journal_bytes=2**62) as ledger:
        started = time.perf_counter()
        ledger.reserve(accounts=args.accounts + 1, transfers=args.accounts + args.transfers)
        for accounts in wallet_batches(args.accounts):
            _require_ok(ledger.create_accounts(accounts).failed(), "creating wallets")
        # 10**9 each keeps the issuer's total debits below 2**63 even at 10M wallets.
        for funding in issuance_batches(args.accounts, 10**9, first_transfer_id=1):
            _require_ok(ledger.create_transfers(funding).failed(), "funding wallets")
        setup_seconds = time.perf_counter() - started
        progress(f"created and funded {args.accounts:,} wallets in {setup_seconds:.1f} s")

        latencies: list[float] = []
        refused = 0
        next_batch = 0
        lock = threading.Lock()

        def client() -> None:
            nonlocal next_batch, refused
            while True:
                with lock:
                    i = next_batch
                    next_batch += 1
                if i >= len(batches):
                    return
                t0 = time.perf_counter()
                results = ledger.create_transfers(batches[i])
                elapsed = time.perf_counter() - t0
                failed = int(np.count_nonzero(results.statuses))
                with lock:
                    latencies.append(elapsed)
                    refused += failed

        def report_progress() -> None:
            while not done.wait(2.0):
                progress(f"  {min(next_batch, len(batches)) * args.batch:,} transfers submitted")

        done = threading.Event()
        reporter = threading.Thread(target=report_progress, daemon=True)
        reporter.start()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        done.set()
        journal_bytes = sum(p.stat().st_size for p in directory.glob("*.journal"))

    lat = np.array(latencies) * 1000
    return {
        "bench": "ledger",
        "transfers_per_second": round(args.transfers / seconds),
        "durable": not args.no_sync,
        "batch_latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
        "batch_latency_ms_p99": round(float(np.percentile(lat, 99)), 3),
        "seconds": round(seconds, 3),
        "transfers": args.transfers,
        "refused": refused,
        "accounts": args.accounts,
        "batch": args.batch,
        "batches": len(batches),
        "distribution": args.distribution,
        "clients": args.clients,
        "setup_seconds": round(setup_seconds, 2),
        "journal_bytes": journal_bytes,
        "filesystem": filesystem_of(directory),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
