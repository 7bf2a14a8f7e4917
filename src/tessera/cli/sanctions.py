"""``tessera sanctions``: import sanctions lists and screen names against them."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tessera.cli.common import DATA_DEFAULT, DatabaseOption, DataOption, command_group, open_store, reporting_errors
from tessera.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from tessera.rules import Match, ScreeningQuery
    from tessera.store import Store


app = command_group("Sanctions lists: import them (screening registered people), screen names against them.")

NAMES_FILE_ROWS_MAX = 1_000_000  # a screening file larger than this is split by the caller
_NAMES_FILE_COLUMNS = ("name", "birth_date", "country")


class ListFormat(StrEnum):
    """The list formats ``import`` reads."""

    eu = "eu"
    ofac = "ofac"
    un = "un"
    ftm = "ftm"


@app.command("import")
def import_list(
    file: Annotated[Path, typer.Argument(help="The list file; for ofac, sdn.csv (alt.csv and add.csv beside it).")],
    list_format: Annotated[ListFormat, typer.Option("--format", help="eu, ofac, un or ftm.")],
    screen_people: Annotated[
        bool,
        typer.Option(
            "--screen/--no-screen",
            help="Then screen every registered person against the new and changed listings (default), "
            "or leave that to `tessera sanctions rescreen` or a running server.",
        ),
    ] = True,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Import a sanctions list, replacing the previous import of that list; all or nothing.

    The import counts the listings that are new, changed or removed since the previous
    import of that list, then screens every registered person against the new and changed
    ones (progress on stderr); hits join the officers' queue. Unchanged listings are not
    screened again, so re-importing the same file screens nobody.
    """
    from tessera.rules import SanctionsLists

    with reporting_errors(), open_store(data, database_url) as store:
        with typer.progressbar(iter(()), label=f"importing {file.name}", file=typer.get_text_stream("stderr")) as bar:
            done = 0

            def advance(count: int) -> None:
                nonlocal done
                bar.update(count - done)
                done = count

            imported = SanctionsLists(store).import_list(file, list_format.value, progress=advance)
        typer.echo(
            f"imported {imported.entities} listings with {imported.names} names from {file.name}: "
            f"{imported.new} new, {imported.changed} changed, {imported.removed} removed",
            err=True,
        )
        if imported.open_hits_removed:
            typer.echo(
                f"{imported.open_hits_removed} open hits name removed listings: they stay in the queue for "
                "the financial intelligence unit to dismiss (or to lift their restrictions)",
                err=True,
            )
        report: dict[str, object] = {
            "source": imported.source,
            "file": imported.file_name,
            "sha256": imported.digest,
            "entities": imported.entities,
            "names": imported.names,
            "listings": {"new": imported.new, "changed": imported.changed, "removed": imported.removed},
            "open_hits_on_removed": imported.open_hits_removed,
        }
        if screen_people:
            report["screening"] = _screen_owed(data, store)
    typer.echo(json.dumps(report))


@app.command("rescreen")
def rescreen(data: DataOption = DATA_DEFAULT, database_url: DatabaseOption = None) -> None:
    """Screen the registered people against what the last imports made new or changed, if still owed.

    An import stopped half-way through its screening (a crash, Ctrl-C, --no-screen) goes on
    from the last batch written; a batch screened twice records no hit twice. Prints one
    JSON object per list screened.
    """
    with reporting_errors(), open_store(data, database_url) as store:
        typer.echo(json.dumps(_screen_owed(data, store)))


REPORT_EVERY_S = 1.0  # a progress line at most this often, and one at the end


def _hits(count: int) -> str:
    return f"{count:,} hit" if count == 1 else f"{count:,} hits"


def _screen_owed(data: Path, store: Store) -> dict[str, object]:
    """Run the screenings the imports owe, with progress on stderr; what they did."""
    import time

    from tessera.audit import AccessLog
    from tessera.errors import LogLockedError
    from tessera.identity import Registry
    from tessera.rules import (
        LegalBases,
        ListScreenings,
        Notices,
        Restrictions,
        SanctionsLists,
        SanctionsWatch,
        ScreeningProgress,
    )

    try:
        log = AccessLog.open(data / "audit")
    except LogLockedError:
        # Every look is logged, and only the log's holder appends: the server screens, on its worker.
        typer.echo(f"a running tessera serve holds {data}; it screens the registered people itself", err=True)
        return {"by": "server"}
    with log:
        bases = LegalBases()
        watch = SanctionsWatch(store, Restrictions(store, bases, Notices(store, bases)), SanctionsLists(store))
        screenings = ListScreenings(store, Registry(store), watch, log)
        last = 0.0
        started: set[str] = set()

        def report(at: ScreeningProgress) -> None:
            nonlocal last
            if at.source not in started:
                started.add(at.source)
                typer.echo(
                    f"screening {at.people_total:,} registered people against "
                    f"{at.listings:,} new or changed {at.source} listings",
                    err=True,
                )
            now = time.monotonic()
            if now - last >= REPORT_EVERY_S or at.people_done == at.people_total:
                last = now
                percent = 100 * at.people_done // max(1, at.people_total)
                typer.echo(
                    f"  {at.people_done:,} of {at.people_total:,} people ({percent}%), {_hits(at.hits)}", err=True
                )

        done = screenings.run_owed(report)
    if not done:
        typer.echo("no new or changed listings to screen the registered people against", err=True)
    for s in done:
        typer.echo(
            f"screened {s.people:,} people against {s.listings_screened:,} {s.source} listings "
            f"({s.listings_new} new, {s.listings_changed} changed, {s.listings_removed} removed): "
            f"{_hits(s.hits)} recorded",
            err=True,
        )
    return {
        "lists": [
            {
                "source": s.source,
                "listings": s.listings_screened,
                "people": s.people,
                "hits": s.hits,
                "finished": s.finished,
            }
            for s in done
        ]
    }


def _result(line: int | None, query: ScreeningQuery, matches: list[Match]) -> str:
    """One query's answer as a JSON line: the query echoed (with its file line), then its matches."""
    from tessera.rules import SCREEN_THRESHOLD

    rows = [
        {
            "list_id": m.list_id,
            "name": m.name,
            "score": m.score,
            "programmes": list(m.entity.programs),
            "features": dict(m.features),
        }
        for m in matches
    ]
    answer: dict[str, object] = {} if line is None else {"line": line}
    answer |= {"query": query.name, "matches": rows, "threshold": SCREEN_THRESHOLD}
    return json.dumps(answer, ensure_ascii=False)


# The table's columns: (title, width); a longer cell is cut with an ellipsis so columns stay aligned.
_TABLE = (("line", 5), ("query", 28), ("score", 6), ("listing", 30), ("listed name", 32), ("programme", 30))


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table_row(cells: Sequence[str]) -> str:
    return "  ".join(_cell(c, w).ljust(w) for c, (_, w) in zip(cells, _TABLE, strict=True)).rstrip()


def _table_rows(line: int | None, query: ScreeningQuery, matches: list[Match]) -> list[str]:
    """One query's answer as table rows: each match on its own row, the query echoed on the first."""
    from tessera.rules import SCREEN_THRESHOLD

    where = "-" if line is None else str(line)
    if not matches:
        return [_table_row((where, query.name, "", "no match", "", ""))]
    rows = []
    for k, m in enumerate(matches):
        alert = "*" if m.score >= SCREEN_THRESHOLD else " "
        echoed = (where, query.name) if k == 0 else ("", "")
        programme = "; ".join(m.entity.programs) or "-"
        rows.append(_table_row((*echoed, f"{m.score:.2f}{alert}", m.list_id, m.name, programme)))
    return rows


def _queries_of(path: Path) -> Iterator[tuple[int, ScreeningQuery]]:
    """The rows of a ``name,birth_date,country`` CSV file as (line number, query).

    A header line is optional: a first non-blank row with a cell ``name`` is read as one (its
    columns in any order), else every row is name, birth date, country in that order. A
    byte-order mark is dropped; blank lines are skipped but still counted.
    """
    from tessera.rules import ScreeningQuery

    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            columns: Sequence[str] = _NAMES_FILE_COLUMNS
            first, names = True, 0
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if first and "name" in (cell.strip() for cell in row):
                    columns, first = _header(path, reader.line_num, row), False
                    continue
                first, names = False, names + 1
                if names > NAMES_FILE_ROWS_MAX:
                    raise InvalidInputError(path.name, f"more than {NAMES_FILE_ROWS_MAX} names")
                if len(row) > len(columns):
                    raise InvalidInputError(
                        f"{path.name}:{reader.line_num}", f"{len(row)} cells; the columns are {','.join(columns)}"
                    )
                cells = dict(zip(columns, row, strict=False))
                query = ScreeningQuery(
                    name=cells.get("name") or "",
                    birth_date=cells.get("birth_date") or None,
                    country=cells.get("country") or None,
                )
                yield reader.line_num, query
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InvalidInputError("file", f"cannot read {path}: {error}") from None


def _header(path: Path, line: int, row: Sequence[str]) -> tuple[str, ...]:
    columns = tuple(cell.strip() for cell in row)
    unknown = set(columns) - set(_NAMES_FILE_COLUMNS)
    if unknown or len(set(columns)) != len(columns):
        raise InvalidInputError(f"{path.name}:{line}", f"the header names each of {','.join(_NAMES_FILE_COLUMNS)} once")
    return columns


@app.command("screen")
def screen(
    *,
    name: Annotated[str | None, typer.Option(help="The name to screen, in any script.")] = None,
    birth_date: Annotated[str | None, typer.Option(help="Date of birth, YYYY-MM-DD.")] = None,
    country: Annotated[str | None, typer.Option(help="Nationality (or a company's country), two letters.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A CSV of name,birth_date,country to screen, one result per line.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many matches per name.", min=1, max=100)] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per name (with its file line) instead of a table.")
    ] = False,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Screen a name (or a file of names) against the imported lists; print each one's matches, best first.

    The table echoes each query (its file line and name) beside the listings it resembles,
    with their programmes; a score marked ``*`` is at or above the alert threshold.
    """
    from tessera.rules import (
        SCREEN_BATCH_MAX,
        SCREEN_THRESHOLD,
        SanctionsLists,
        Screener,
        ScreeningQuery,
        checked_query,
    )

    with reporting_errors():
        if (name is None) == (file is None):
            raise InvalidInputError("name", "give either --name or --file")
        if file is None:
            # Checked before the lists load, so that a bad argument answers at once.
            options = {"name": "--name", "birth_date": "--birth-date", "country": "--country"}
            lines: list[int | None] = [None]
            queries = [checked_query(ScreeningQuery(str(name), birth_date, country), fields=options)]
        elif birth_date is not None or country is not None:
            raise InvalidInputError("file", "--birth-date and --country go in the file's columns")
        else:
            # Every row is checked before anything is printed: a bad line 900 fails the whole file.
            read = [(line, checked_query(q, f"{file.name}:{line}")) for line, q in _queries_of(file)]
            lines, queries = [line for line, _ in read], [q for _, q in read]
        with open_store(data, database_url) as store:
            entities = SanctionsLists(store).entities()
        if not entities:
            raise NotFoundError("lists", "no sanctions list is imported; run tessera sanctions import first")
        screener = Screener(entities)
        if not as_json:
            typer.echo(_table_row([title for title, _ in _TABLE]))
        for start in range(0, len(queries), SCREEN_BATCH_MAX):
            batch = queries[start : start + SCREEN_BATCH_MAX]
            for line, query, matches in zip(lines[start:], batch, screener.screen_names(batch, limit), strict=False):
                typer.echo(_result(line, query, matches) if as_json else "\n".join(_table_rows(line, query, matches)))
        if not as_json:
            typer.echo(f"* at or above the alert threshold {SCREEN_THRESHOLD}", err=True)
