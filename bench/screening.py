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

With ``--registered N`` it measures instead what an import does for the people already
registered (``tessera.rules.ListScreenings``): a SQLite store with the OFAC and UN fixtures
imported and N people registered (``tessera.testing.synthetic_demographics``, and
``--positives`` of them named and born as one of the new listings), then an FtM list of
``--new-listings`` made-up listings imported; the timed job reads every person in batches,
logs each read in a real access log, screens the batch's names against only the new listings
and records the hits. It also times the matcher alone on the same names three ways: one call
per person against the new listings (the watch's old loop), one call per batch, and one call
per batch against the whole lists (what screening everyone against everything would cost).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from tessera.audit import AccessLog
from tessera.identity import Registry
from tessera.rules import (
    SCREEN_PEOPLE_BATCH,
    SCREEN_THRESHOLD,
    LegalBases,
    ListedEntity,
    ListScreenings,
    Notices,
    Restrictions,
    SanctionsLists,
    SanctionsWatch,
    Screener,
    ScreeningProgress,
    ScreeningQuery,
    clear_caches,
    parse_ofac,
    parse_un,
)
from tessera.store import Store, persons, principals
from tessera.testing import (
    LabelledQuery,
    progress,
    screening_queries,
    synthetic_demographics,
    synthetic_listed_entities,
    synthetic_numbers,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "sanctions"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench screening", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=20_000, help="listings, the fixtures padded with synthetic")
    parser.add_argument("--positives", type=int, default=2000, help="queries made from listed names")
    parser.add_argument("--negatives", type=int, default=2000, help="queries for people on no list")
    parser.add_argument("--seed", type=int, default=7, help="the labelled set's seed (the threshold was set on 1-3)")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="where ofac/ and un/ are")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    parser.add_argument("--registered", type=int, default=0, help="time an import's screening of this many people")
    parser.add_argument("--new-listings", type=int, default=50, help="with --registered: listings the import adds")
    args = parser.parse_args(argv)
    if args.registered < 0 or args.new_listings < 1:
        parser.error("--registered >= 0 and --new-listings >= 1")
    if args.entities < 1 or args.positives < 0 or args.negatives < 0 or args.positives + args.negatives < 1:
        parser.error("--entities >= 1, and --positives and --negatives >= 0, not both 0")
    return args


REGISTER_CHUNK = 10_000  # rows an executemany while setting up
MATCHER_SAMPLE = 20_000  # people whose names the matcher alone is timed on, three ways
REPORT_EVERY_S = 2  # progress on stderr while the job runs

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


def _ftm_line(entity: ListedEntity, key: str) -> str:
    properties = {"name": list(entity.names), "birthDate": list(entity.birth_dates)}
    properties["nationality"] = list(entity.nationalities)
    schema = "Person" if entity.kind == "person" else "Company"
    return json.dumps({"id": key, "schema": schema, "properties": properties}, ensure_ascii=False)


def _natural(name: str) -> str:
    """``FAMILY, Given Names`` as a person writes it: ``Given Names Family``."""
    family, _, given = name.partition(",")
    return f"{given.strip()} {family.strip().title()}".strip()


def _register(store: Store, people: list[dict[str, Any]], seed: int) -> None:
    """Registered as enrolment registers them (a citizen principal each), in bulk: the setup is not timed."""
    numbers = synthetic_numbers(seed, len(people))
    for start in range(0, len(people), REGISTER_CHUNK):
        chunk = range(start, min(start + REGISTER_CHUNK, len(people)))
        with store.transaction(write=True) as conn:
            conn.execute(
                insert(principals),
                [
                    {"id": f"p_{i:016x}", "name": f"person-{i:016x}", "role": "citizen", "agency": "",
                     "subject": f"p_{i:016x}", "created_at_ns": 0, "disabled": False}
                    for i in chunk
                ],
            )  # fmt: skip
            conn.execute(
                insert(persons),
                [
                    {"number": numbers[i], "principal_id": f"p_{i:016x}", "name": people[i]["name"],
                     "other_names": json.dumps(people[i]["other_names"], ensure_ascii=False),
                     "birth_date": people[i]["birth_date"], "sex": people[i]["sex"], "address": "",
                     "status": "active", "enrolment_id": f"e_{i:016x}", "created_at_ns": 0}
                    for i in chunk
                ],
            )  # fmt: skip


def _matcher_rates(
    entities: list[ListedEntity], people: list[dict[str, Any]], keys: set[tuple[str, str]]
) -> dict[str, int]:
    """Names/s of the matcher alone on the people's names: per person, per batch, and per batch against everything."""
    whole = Screener(entities)
    restricted = whole.restricted(keys)
    per_person = [
        [ScreeningQuery(str(n), birth_date=str(p["birth_date"])) for n in (p["name"], *p["other_names"])]
        for p in people[:MATCHER_SAMPLE]
    ]
    names = sum(len(q) for q in per_person)
    rates: dict[str, int] = {}
    for label, screener, batched in (
        ("per_person_new_listings", restricted, False),
        ("per_batch_new_listings", restricted, True),
        ("per_batch_whole_lists", whole, True),
    ):
        clear_caches()
        t0 = time.perf_counter()
        if batched:
            for start in range(0, len(per_person), SCREEN_PEOPLE_BATCH):
                screener.screen_names([q for qs in per_person[start : start + SCREEN_PEOPLE_BATCH] for q in qs])
        else:
            for queries in per_person:
                screener.screen_names(queries)
        rates[label] = round(names / (time.perf_counter() - t0))
    return rates


def run_import_job(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tessera-bench-import-")))
        store = stack.enter_context(Store.open(f"sqlite:///{folder}/registry.db"))
        log = stack.enter_context(AccessLog.open(folder / "audit"))
        lists = SanctionsLists(store)
        bases = LegalBases()
        watch = SanctionsWatch(store, Restrictions(store, bases, Notices(store, bases)), lists)
        screenings = ListScreenings(store, Registry(store), watch, log)
        progress("importing the OFAC and UN fixtures (the lists of record)")
        lists.import_list(args.fixtures / "ofac" / "sdn.csv", "ofac")
        lists.import_list(args.fixtures / "un" / "consolidated.xml", "un")
        screenings.run_owed()  # the fixtures' screening: nobody is registered yet
        new = synthetic_listed_entities(args.seed, args.new_listings)
        progress(f"registering {args.registered:,} people, {args.positives:,} of them named as new listings")
        people: list[dict[str, Any]] = synthetic_demographics(args.seed, args.registered)
        persons_listed = [e for e in new if e.kind == "person"]
        planted = min(args.positives, args.registered)
        for k in range(planted):
            listed = persons_listed[k % len(persons_listed)]
            at = k * (args.registered // max(1, planted))
            people[at] = {**people[at], "name": _natural(listed.names[0]), "other_names": []}
            people[at]["birth_date"] = listed.birth_dates[0]
        _register(store, people, args.seed)
        path = folder / "new.jsonl"
        path.write_text("".join(_ftm_line(e, f"new-{i}") + "\n" for i, e in enumerate(new)), encoding="utf-8")
        imported = lists.import_list(path, "ftm")
        entities = lists.entities()
        progress(f"building the watch's index of {len(entities):,} listings")
        watch.refresh()
        progress(f"screening {args.registered:,} registered people against {imported.owed} new listings")
        last = [time.perf_counter()]

        def report(at: ScreeningProgress) -> None:
            if time.perf_counter() - last[0] > REPORT_EVERY_S or at.people_done == at.people_total:
                last[0] = time.perf_counter()
                progress(f"  {at.people_done:,} of {at.people_total:,} people, {at.hits} hits")

        clear_caches()
        t0 = time.perf_counter()
        (summary,) = screenings.run_owed(report)
        seconds = time.perf_counter() - t0
        entries = log.size
        keys = {("ftm", f"ftm:new-{i}") for i in range(len(new))}
        progress(f"timing the matcher alone on {min(MATCHER_SAMPLE, len(people)):,} people's names")
        rates = _matcher_rates(entities, people, keys)
    return {
        "bench": "screening_import",
        "people_per_second": round(summary.people / seconds),
        "people": summary.people,
        "seconds": round(seconds, 2),
        "new_listings": summary.listings_screened,
        "hits": summary.hits,
        "positives_planted": planted,
        "access_entries": entries,
        "matcher_names_per_second": rates,
        "conditions": {
            "store": "SQLite, one file; access log on the same disk",
            "batch": SCREEN_PEOPLE_BATCH,
            "lists_of_record": "OFAC and UN fixtures",
            "names": "synthetic_demographics: six scripts, a small name pool (repeated names keep token caches warm)",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not (args.fixtures / "ofac" / "sdn.csv").is_file():
        progress(f"error: the sanctions fixtures are not under {args.fixtures}")
        return 2
    result = run_import_job(args) if args.registered else run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
