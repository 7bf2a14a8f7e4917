"""Access-log speed: durable appends per second, open time, proof and listing latency.

Run as ``tessera bench audit [--entries N] [--batch 1000] [--threads 8] [--thread-batch 16]
[--thread-entries 200000] [--subjects N] [--samples 2000] [--verify] [--dir PATH] [--json]``.
Appends pre-generated, seeded entries to a log in a temporary directory (on the disk
under ``--dir``): first ``--entries`` in batches of ``--batch`` from one thread, then, in
a second log, ``--thread-entries`` in small batches from ``--threads`` threads at once
(group commit). Every append is fdatasync'ed before it returns. Then it closes and
reopens the large log and times proofs and per-subject listings at its final size.
Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tessera.audit import AccessEntry, AccessLog, verify_log
from tessera.audit.entries import BATCH_MAX
from tessera.limits import PAGE_SIZE_MAX
from tessera.testing import filesystem_of, progress

ROLES = ("officer", "clinician", "auditor", "caseworker")
AGENCIES = tuple(f"agency-{i:02d}" for i in range(20))
PURPOSES = tuple(f"purpose {i}: benefit eligibility review" for i in range(12))
FIELD_SETS = (
    ("name",),
    ("name", "address"),
    ("name", "date_of_birth", "address"),
    ("health.allergies", "name"),
    ("benefits.food", "benefits.fuel", "name"),
    ("wallet.id",),
    ("name", "phone", "email"),
    ("tax.income", "name"),
)
OUTCOMES = ("read", "write")
PRINCIPALS = 5_000
REPORT_EVERY_S = 2  # progress on stderr while appending, not once per batch


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries appended from one thread")
    parser.add_argument("--batch", type=int, default=1000, help=f"entries per append, one thread (max {BATCH_MAX})")
    parser.add_argument("--threads", type=int, default=8, help="threads appending at once in the second run")
    parser.add_argument("--thread-batch", type=int, default=16, help="entries per append in the threaded run")
    parser.add_argument("--thread-entries", type=int, default=200_000, help="entries in the threaded run (0: skip)")
    parser.add_argument("--subjects", type=int, default=1_000_000, help="distinct people the entries are about")
    parser.add_argument("--samples", type=int, default=2000, help="proofs and listings timed for the latencies")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verify", action="store_true", help="also time verify_log over the whole log")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary logs")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    for name, low, high in (("batch", 1, BATCH_MAX), ("thread_batch", 1, BATCH_MAX)):
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name.replace('_', '-')} must be between {low} and {high}")
    for name in ("entries", "threads", "subjects", "samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.thread_entries < 0:
        parser.error("--thread-entries must be at least 0")
    return args


def entry_batches(seed: int, count: int, batch: int, subjects: int, first: int = 0) -> list[list[AccessEntry]]:
    """``count`` seeded entries in batches: officers of 20 agencies looking at ``subjects`` people."""
    rng = np.random.default_rng(seed)
    people = [f"person-{n:09d}" for n in range(subjects)]
    officers = [f"officer-{n:05d}" for n in range(PRINCIPALS)]
    batches = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        draws = zip(
            rng.integers(0, subjects, n).tolist(),
            rng.integers(0, PRINCIPALS, n).tolist(),
            rng.integers(0, 2**16, n).tolist(),
            strict=True,
        )
        batches.append(
            [
                AccessEntry(
                    1_800_000_000_000_000_000 + first + start + i,
                    officers[o],
                    ROLES[o % len(ROLES)],
                    AGENCIES[o % len(AGENCIES)],
                    PURPOSES[r % len(PURPOSES)],
                    people[p],
                    FIELD_SETS[r % len(FIELD_SETS)],
                    OUTCOMES[r % 7 == 0],
                )
                for i, (p, o, r) in enumerate(draws)
            ]
        )
    return batches


def _percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return round(float(np.percentile(ms, 50)), 4), round(float(np.percentile(ms, 99)), 4)


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def _append_one_thread(log: AccessLog, batches: list[list[AccessEntry]]) -> tuple[float, list[float]]:
    latencies = []
    last_report = started = time.perf_counter()
    for k, batch in enumerate(batches):
        t0 = time.perf_counter()
        log.append(batch)
        latencies.append(time.perf_counter() - t0)
        if t0 - last_report > REPORT_EVERY_S:
            last_report = t0
            progress(f"  {log.size:,} entries appended ({k * len(batch) / (t0 - started):,.0f}/s)")
    return time.perf_counter() - started, latencies


def _append_threads(log: AccessLog, batches: list[list[AccessEntry]], threads: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    next_batch = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal next_batch
        mine = []
        while True:
            with lock:
                k = next_batch
                next_batch += 1
            if k >= len(batches):
                break
            t0 = time.perf_counter()
            log.append(batches[k])
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.perf_counter() - started, latencies


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-audit-", dir=args.dir))
    try:
        return _run_in(directory, args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run_in(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"bench": "audit", "durable": True}
    progress(f"generating {args.entries:,} entries about {args.subjects:,} people")
    batches = entry_batches(args.seed, args.entries, args.batch, args.subjects)

    progress(f"appending {args.entries:,} entries in batches of {args.batch:,} from 1 thread")
    with AccessLog.open(directory / "log") as log:
        seconds, latencies = _append_one_thread(log, batches)
        p50, p99 = _percentiles_ms(latencies)
        result |= {"appends_per_second": round(args.entries / seconds), "batch_latency_ms_p50": p50}
        result |= {"batch_latency_ms_p99": p99, "append_seconds": round(seconds, 2)}
        del batches
        t0 = time.perf_counter()
    result["close_seconds"] = round(time.perf_counter() - t0, 3)
    sizes = {p.name: p.stat().st_size for p in (directory / "log").iterdir() if p.is_file()}

    if args.thread_entries:
        progress(
            f"appending {args.thread_entries:,} entries in batches of {args.thread_batch} from {args.threads} threads"
        )
        small = entry_batches(args.seed + 1, args.thread_entries, args.thread_batch, args.subjects)
        with AccessLog.open(directory / "threaded") as log:
            seconds, latencies = _append_threads(log, small, args.threads)
        p50, p99 = _percentiles_ms(latencies)
        result |= {"threaded_appends_per_second": round(args.thread_entries / seconds)}
        result |= {"threaded_call_latency_ms_p50": p50, "threaded_call_latency_ms_p99": p99}

    progress("reopening the large log")
    t0 = time.perf_counter()
    with AccessLog.open(directory / "log") as log:
        result["open_seconds"] = round(time.perf_counter() - t0, 3)
        result["open_entries_rederived"] = log.recovery.entries_rederived
        t0 = time.perf_counter()
        log.checkpoint()  # sorts the subject index now rather than in the background mid-measurement
        result["subject_index_sort_seconds"] = round(time.perf_counter() - t0, 3)
        rng = random.Random(args.seed)
        size = log.size
        head = log.tree_head()
        progress(f"timing {args.samples:,} inclusion proofs, consistency proofs and listings at {size:,} entries")
        indexes = [rng.randrange(size) for _ in range(args.samples)]
        inclusion = _timed([lambda i=i: log.inclusion_proof(i) for i in indexes])
        old_sizes = [rng.randrange(1, size + 1) for _ in range(args.samples)]
        consistency = _timed([lambda m=m: log.consistency_proof(m) for m in old_sizes])
        people = [f"person-{rng.randrange(args.subjects):09d}" for _ in range(args.samples)]
        found: list[int] = []
        listing = _timed(
            [lambda p=p: found.append(len(log.entries_for_subject(p, PAGE_SIZE_MAX // 10))) for p in people]
        )
        result |= dict(
            zip(("inclusion_proof_ms_p50", "inclusion_proof_ms_p99"), _percentiles_ms(inclusion), strict=True)
        )
        result |= dict(
            zip(("consistency_proof_ms_p50", "consistency_proof_ms_p99"), _percentiles_ms(consistency), strict=True)
        )
        result |= dict(
            zip(("entries_for_subject_ms_p50", "entries_for_subject_ms_p99"), _percentiles_ms(listing), strict=True)
        )
        result["entries_for_subject_found_mean"] = round(sum(found) / len(found), 2)
        result["tree_head_ms"] = round(_timed([log.tree_head])[0] * 1000, 3)
        assert head.verify(log.public_key)

    if args.verify:
        progress("verifying the whole log")
        t0 = time.perf_counter()
        verify_log(directory / "log")
        result["verify_seconds"] = round(time.perf_counter() - t0, 2)

    return result | {
        "entries": args.entries,
        "batch": args.batch,
        "threads": args.threads,
        "thread_batch": args.thread_batch,
        "thread_entries": args.thread_entries,
        "subjects": args.subjects,
        "samples": args.samples,
        "listing_limit": PAGE_SIZE_MAX // 10,
        "file_bytes": sizes,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "filesystem": filesystem_of(directory),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
