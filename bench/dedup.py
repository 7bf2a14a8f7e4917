"""1:N de-duplication: duplicate recall, false matches and search latency against a large gallery.

Run as ``tessera bench dedup [--count N] [--probes 2000] [--clustered] [--fingers F]
[--batch 10000] [--rescore 64] [--shards 2] [--scan auto] [--seed 42] [--dir PATH] [--json]``.
Enrols ``--count`` synthetic people (``tessera.testing``: capture 0 of persons 0..N-1)
into a gallery on disk under ``--dir``, each batch fdatasync'ed, closes it and times the
reopen (reading every record and building the index). Then searches ``--probes`` probes,
half a new capture of an enrolled person (a repeat), half a person never enrolled: each
alone (single-query latency), then all in batches of 1,000 (batched cost per query).
A repeat is found when its enrolled number is among the candidates at or above
``DUPLICATE_THRESHOLD``; a false match is a new person with any candidate at or above it.
Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tessera.identity.dedup import BATCH_MAX as ADD_BATCH_MAX
from tessera.identity.dedup import (
    DUPLICATE_THRESHOLD,
    RESCORE_CANDIDATES,
    RESCORE_MAX,
    SHARDS_DEFAULT,
    SHARDS_MAX,
    Candidate,
    Gallery,
    SignCodeIndex,
)
from tessera.identity.fusion import FINGER_WEIGHT
from tessera.identity.templates import FINGERS_MAX, Templates
from tessera.testing import (
    FINGER_ORDER,
    filesystem_of,
    progress,
    synthetic_faces,
    synthetic_fingers,
    synthetic_numbers,
)

SEARCH_BATCH = 1000
K = 16
PROBES_MIN = 2  # half the probes repeat enrolled people, half are strangers: at least one of each
REPORT_EVERY_S = 5  # progress on stderr while enrolling, not once per batch


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench dedup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="people enrolled in the gallery")
    parser.add_argument("--probes", type=int, default=2000, help="searches, half of them repeats of enrolled people")
    parser.add_argument("--clustered", action="store_true", help="look-alike faces whose scores overlap (harder)")
    parser.add_argument("--fingers", type=int, default=0, help=f"finger templates per person, 0..{FINGERS_MAX}")
    parser.add_argument("--batch", type=int, default=10_000, help=f"people per durable add (max {ADD_BATCH_MAX})")
    parser.add_argument("--rescore", type=int, default=RESCORE_CANDIDATES, help="codes re-scored exactly per query")
    parser.add_argument("--shards", type=int, default=SHARDS_DEFAULT, help="scan threads per query")
    parser.add_argument("--scan", choices=["auto", "kernel", "faiss"], default="auto", help="kernel, faiss or auto")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary gallery")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= ADD_BATCH_MAX:
        parser.error(f"--batch must be between 1 and {ADD_BATCH_MAX}")
    if not 0 <= args.fingers <= FINGERS_MAX:
        parser.error(f"--fingers must be between 0 and {FINGERS_MAX}")
    if (
        args.count < 1
        or args.probes < PROBES_MIN
        or not 1 <= args.rescore <= RESCORE_MAX
        or not 1 <= args.shards <= SHARDS_MAX
    ):
        parser.error(f"--count >= 1, --probes >= {PROBES_MIN}, --rescore 1..{RESCORE_MAX} and --shards 1..{SHARDS_MAX}")
    return args


def templates_of(args: argparse.Namespace, people: range | np.ndarray, capture: int) -> list[Templates]:
    """Synthetic templates, built directly: the generator's vectors are already unit float32."""
    faces = synthetic_faces(args.seed, people, capture=capture, clustered=args.clustered)
    if not args.fingers:
        return [Templates(face) for face in faces]
    prints = synthetic_fingers(args.seed, people, capture=capture, clustered=args.clustered)
    positions = sorted(FINGER_ORDER[: args.fingers])
    return [Templates(face, tuple((p, prints[i, p - 1]) for p in positions)) for i, face in enumerate(faces)]


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _percentiles(values: list[float] | np.ndarray, points: list[float]) -> list[float]:
    return [round(float(x), 4) for x in np.percentile(np.asarray(values), points)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-dedup-", dir=args.dir))
    try:
        return _run_in(directory, args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _enrol(directory: Path, args: argparse.Namespace, numbers: list[str]) -> dict[str, Any]:
    progress(f"enrolling {args.count:,} people in batches of {args.batch:,} (durable adds)")
    generate = add = 0.0
    last_report = time.perf_counter()
    index = SignCodeIndex(rescore=args.rescore, shards=args.shards, scan=args.scan)
    with Gallery.open(directory, index=index) as gallery:
        for start in range(0, args.count, args.batch):
            t0 = time.perf_counter()
            people = range(start, min(args.count, start + args.batch))
            batch = templates_of(args, people, 0)
            t1 = time.perf_counter()
            gallery.add(numbers[people.start : people.stop], batch)
            t2 = time.perf_counter()
            generate, add = generate + t1 - t0, add + t2 - t1
            if t2 - last_report > REPORT_EVERY_S:
                last_report = t2
                progress(f"  {people.stop:,} enrolled ({people.stop / add:,.0f}/s adding)")
    return {
        "generate_seconds": round(generate, 1),
        "add_seconds": round(add, 1),
        "adds_per_second": round(args.count / add),
    }


def _outcomes(
    found: list[list[Candidate]], expected: list[str | None]
) -> tuple[list[float], list[float], int, int, int, int]:
    """Genuine scores, new people's best scores, repeats found, found first, false matches, stray candidates."""
    genuine, best_new = [], []
    hits = first = false_matches = stray = 0
    for candidates, want in zip(found, expected, strict=True):
        above = [c for c in candidates if c.score >= DUPLICATE_THRESHOLD]
        if want is None:
            best_new.append(candidates[0].score if candidates else -1.0)
            false_matches += bool(above)
            continue
        mine = [c.score for c in candidates if c.number == want]
        genuine.append(mine[0] if mine else -1.0)
        hits += any(c.number == want for c in above)
        first += bool(candidates) and candidates[0].number == want
        stray += sum(c.number != want for c in above)
    return genuine, best_new, hits, first, false_matches, stray


def _run_in(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"bench": "dedup", "durable": True}
    numbers = synthetic_numbers(args.seed, args.count)
    result |= _enrol(directory, args, numbers)
    file_bytes = (directory / "gallery.log").stat().st_size

    progress("reopening: reading every record and building the index")
    rss_before = _rss_mib()
    t0 = time.perf_counter()
    index = SignCodeIndex(rescore=args.rescore, shards=args.shards, scan=args.scan)
    with Gallery.open(directory, index=index, progress=progress) as gallery:
        result["open_seconds"] = round(time.perf_counter() - t0, 2)
        result["index_bytes"] = gallery.index_nbytes
        result["open_rss_growth_mib"] = round(_rss_mib() - rss_before)
        assert len(gallery) == args.count

        rng = np.random.default_rng([args.seed, 99])
        repeats = np.sort(rng.choice(args.count, args.probes // 2, replace=False))
        strangers = range(args.count, args.count + args.probes - len(repeats))
        probes = templates_of(args, repeats, 1) + templates_of(args, strangers, 0)
        expected: list[str | None] = [numbers[i] for i in repeats.tolist()] + [None] * len(strangers)
        order = rng.permutation(len(probes))

        progress(f"searching {len(probes):,} probes one at a time")
        single: list[float] = []
        found: list[list[Candidate]] = [[] for _ in probes]
        for i in order.tolist():
            t0 = time.perf_counter()
            found[i] = gallery.search([probes[i]], k=K)[0]
            single.append(time.perf_counter() - t0)
        progress(f"searching them again in batches of {SEARCH_BATCH}")
        t0 = time.perf_counter()
        batched = [c for s in range(0, len(probes), SEARCH_BATCH) for c in gallery.search(probes[s : s + SEARCH_BATCH])]
        batched_seconds = time.perf_counter() - t0
        assert [[c.number for c in x] for x in batched] == [[c.number for c in x] for x in found]

    genuine, best_new, hits, first, false_matches, stray = _outcomes(found, expected)
    p50, p90, p99 = _percentiles(np.array(single) * 1000, [50, 90, 99])
    return result | {
        "duplicate_recall": round(hits / len(genuine), 5),
        "top1_rate": round(first / len(genuine), 5),
        "false_match_rate": round(false_matches / len(best_new), 5),
        "false_candidates_with_repeats": stray,
        "search_ms_mean": round(float(np.mean(single)) * 1000, 4),
        "search_ms_p50": p50,
        "search_ms_p90": p90,
        "search_ms_p99": p99,
        "batched_ms_per_search": round(batched_seconds / len(probes) * 1000, 3),
        "genuine_score_p0_p01_p1_p50": _percentiles(genuine, [0, 0.1, 1, 50]),
        "new_person_best_score_p50_p99_p999_p100": _percentiles(best_new, [50, 99, 99.9, 100]),
        "count": args.count,
        "probes": len(probes),
        "repeats": len(genuine),
        "clustered": args.clustered,
        "fingers": args.fingers,
        "threshold": DUPLICATE_THRESHOLD,
        "finger_weight": FINGER_WEIGHT,
        "k": K,
        "rescore": args.rescore,
        "shards": args.shards,
        "scan": index.codes.name,
        "batch": args.batch,
        "seed": args.seed,
        "file_bytes": file_bytes,
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
