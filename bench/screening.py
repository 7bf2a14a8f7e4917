"""Sanctions screening: names/s against the lists, and recall and precision on a labelled set.

Run as ``tessera bench screening [--entities 20000] [--positives 2000] [--negatives 2000]
[--seed 7] [--json]``. Parses the OFAC and UN fixtures (the lists of record),
pads them with synthetic listings (``tessera.testing.synthetic_listed_entities``) to
``--entities``, builds a ``Screener`` (timed) and screens a seeded labelled set of
names-only queries (``tessera.testing.screening_queries``) in one ``screen_names`` call: positives made from listed
names as people write them, negatives that are on no list, half of them sharing a listed
person's family name. The screener starts cold: its token caches (romanisation, folding,
index hits) are emptied, so every query token is new to them the first time; a second set
(seed + 1) then measures it warm.

A positive is found when its listing (or one named the same) scores at or above the
threshold; a negative is a false alert when anything does, and so is a positive whose
alerts are all for other listings. ``alert_precision`` counts every alert, including a
positive's extra alerts for other listings with similar names. Prints one JSON object;
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tessera.rules import SCREEN_THRESHOLD, ListedEntity, Screener, ScreeningQuery, clear_caches, parse_ofac, parse_un
from tessera.testing import LabelledQuery, progress, screening_queries, synthetic_listed_entities

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "sanctions"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench screening", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=20_000, help="listings, the fixtures padded with synthetic")
    parser.add_argument("--positives", type=int, default=2000, help="queries made from listed names")
    parser.add_argument("--negatives", type=int, default=2000, help="queries for people on no list")
    parser.add_argument("--seed", type=int, default=7, help="the labelled set's seed (the threshold was set on 1-3)")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="where ofac/ and un/ are")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    if args.entities < 1 or args.positives < 0 or args.negatives < 0 or args.positives + args.negatives < 1:
        parser.error("--entities >= 1, and --positives and --negatives >= 0, not both 0")
    return args


Outcome = list[list[tuple[str, float]]]  # per query: (list id, score) of each match


def _screen(screener: Screener, queries: list[ScreeningQuery]) -> tuple[Outcome, float]:
    t0 = time.perf_counter()
    results = screener.screen_names(queries)
    seconds = time.perf_counter() - t0
    return [[(m.list_id, m.score) for m in matches] for matches in results], seconds


def _outcomes(labelled: list[LabelledQuery], results: Outcome, threshold: float) -> dict[str, Any]:
    found = false_alerts = alerts = right_alerts = 0
    missed: Counter[str] = Counter()
    for query, matches in zip(labelled, results, strict=True):
        above = [list_id for list_id, score in matches if score >= threshold]
        right = [list_id for list_id in above if list_id in query.expected]
        alerts += len(above)
        right_alerts += len(right)
        if query.expected:
            found += bool(right)
            false_alerts += bool(above) and not right
            if not right:
                missed[query.variant] += 1
        else:
            false_alerts += bool(above)
    positives = sum(bool(q.expected) for q in labelled)
    return {
        "recall": round(found / positives, 4) if positives else None,
        "precision": round(found / (found + false_alerts), 4) if found + false_alerts else None,
        "alert_precision": round(right_alerts / alerts, 4) if alerts else None,
        "found": found,
        "false_alerts": false_alerts,
        "missed_by_variant": dict(missed.most_common()),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    progress("parsing the OFAC and UN fixtures")
    ofac = args.fixtures / "ofac"
    entities: list[ListedEntity] = [
        *parse_ofac(ofac / "sdn.csv", ofac / "alt.csv", ofac / "add.csv"),
        *parse_un(args.fixtures / "un" / "consolidated.xml"),
    ]
    of_record = len(entities)
    entities += synthetic_listed_entities(args.seed, max(0, args.entities - of_record))
    progress(f"labelling {args.positives:,} positives and {args.negatives:,} negatives (seed {args.seed})")
    labelled = screening_queries(args.seed, entities, args.positives, args.negatives)
    queries = [ScreeningQuery(q.name) for q in labelled]
    progress(f"indexing {len(entities):,} listings")
    t0 = time.perf_counter()
    screener = Screener(entities)
    index_seconds = time.perf_counter() - t0
    progress(f"screening {len(queries):,} names, one process, caches cold")
    clear_caches()  # making the labelled set romanised its names: screening must do that work itself
    results, seconds = _screen(screener, queries)
    # Another set of the same size and make: the caches now hold the list's common tokens.
    again = [ScreeningQuery(q.name) for q in screening_queries(args.seed + 1, entities, args.positives, args.negatives)]
    progress(f"screening {len(again):,} other names, caches warm")
    _, seconds_again = _screen(screener, again)
    composition = Counter(q.variant if not q.expected else "positive:" + q.variant for q in labelled)
    return {
        "bench": "screening",
        "names_per_second": round(len(queries) / seconds),
        "names": len(queries),
        "seconds": round(seconds, 3),
        "names_per_second_warm": round(len(again) / seconds_again),
        "entities": screener.entity_count,
        "entities_of_record": of_record,
        "names_indexed": screener.name_count,
        "index_seconds": round(index_seconds, 2),
        "threshold": SCREEN_THRESHOLD,
        **_outcomes(labelled, results, SCREEN_THRESHOLD),
        "labelled_set": {
            "seed": args.seed,
            "positives": sum(bool(q.expected) for q in labelled),
            "negatives": sum(not q.expected for q in labelled),
            "variants": dict(sorted(composition.items())),
        },
        "conditions": {
            "queries": "names only; names_per_second from cold caches, _warm on a second set (seed + 1)",
            "processes": 1,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not (args.fixtures / "ofac" / "sdn.csv").is_file():
        progress(f"error: the sanctions fixtures are not under {args.fixtures}")
        return 2
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
