"""Imported sanctions lists in the store: one source per format, replaced whole on each import.

``SanctionsLists(store).import_list(path, "ofac")`` parses the file and writes its
listings in one transaction: a malformed file, a fault half-way or a crash leaves the
previous import of that source as it was. ``entities()`` reads them back for screening.
Each listing keeps a hash of its content and the import at which that content appeared,
so an import knows which listings are new or changed, and records the screening of
registered people against them that it owes (``tessera.rules.sanctions.rescreen``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select

from tessera.errors import InvalidInputError
from tessera.rules.sanctions.lists import ListedEntity, parse_eu, parse_ftm, parse_ofac, parse_un
from tessera.store import (
    LIST_ID_MAX,
    SANCTIONS_FILE_NAME_MAX,
    SANCTIONS_FORMATS,
    Store,
    sanctions_entities,
    sanctions_lists,
    screening_hits,
)

IMPORT_BATCH = 1000  # rows per executemany: large enough to amortise, small enough to report progress
LIST_ENTITIES_MAX = 2_000_000  # screening holds every listing in memory; past this, something is wrong
_DIGEST_CHUNK = 1024 * 1024
# What a listing's content hash covers: every stored column but its keys and the hash columns.
_CONTENT_COLUMNS = (
    "kind", "names", "birth_dates", "nationalities", "identifiers", "programs", "legal_basis", "remarks",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ImportedList:
    """What one import stored: the source, the file, its digest, the counts and when."""

    source: str
    file_name: str
    digest: str
    entities: int
    names: int
    imported_at_ns: int  # the list's version: hits record it
    new: int = 0  # listings whose list id the previous import of the source did not have
    changed: int = 0  # listings whose content differs from the previous import's
    removed: int = 0  # listings of the previous import that this one does not have
    owed: int = 0  # new and changed listings every registered person is still to be screened against
    # Pending or confirmed hits on the removed listings, left for the unit to decide: what the
    # import found then, not kept (``lists()`` gives 0).
    open_hits_removed: int = field(default=0, compare=False)


def _checked_format(value: object) -> str:
    if value not in SANCTIONS_FORMATS:
        raise InvalidInputError("format", f"must be one of {', '.join(SANCTIONS_FORMATS)}, got {value!r}")
    return str(value)


def _files_of(path: Path, list_format: str) -> list[Path]:
    """The files an import reads: for OFAC, sdn.csv and whichever of alt.csv and add.csv lie beside it."""
    if not isinstance(path, Path):
        raise InvalidInputError("path", "must be a pathlib.Path")
    if not path.is_file():
        raise InvalidInputError("path", f"{path} is not a file")
    if len(path.name) > SANCTIONS_FILE_NAME_MAX:
        raise InvalidInputError("path", f"file name longer than {SANCTIONS_FILE_NAME_MAX} characters")
    if list_format != "ofac":
        return [path]
    return [path, *(p for p in (path.with_name("alt.csv"), path.with_name("add.csv")) if p.is_file())]


def parse_list(path: Path, list_format: str) -> Iterator[ListedEntity]:
    """The listings of a file in one of the formats ``eu``, ``ofac``, ``un`` or ``ftm``, streaming."""
    list_format = _checked_format(list_format)
    files = _files_of(path, list_format)
    if list_format == "ofac":
        beside = {p.name: p for p in files[1:]}
        return parse_ofac(path, beside.get("alt.csv"), beside.get("add.csv"))
    return {"eu": parse_eu, "un": parse_un, "ftm": parse_ftm}[list_format](path)


def _digest(files: Sequence[Path]) -> str:
    sha = hashlib.sha256()
    for file in files:
        with file.open("rb") as stream:
            while chunk := stream.read(_DIGEST_CHUNK):
                sha.update(chunk)
    return sha.hexdigest()


def _row(entity: ListedEntity, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "list_id": entity.list_id,
        "kind": entity.kind,
        "names": json.dumps(entity.names, ensure_ascii=False),
        "birth_dates": json.dumps(entity.birth_dates),
        "nationalities": json.dumps(entity.nationalities, ensure_ascii=False),
        "identifiers": json.dumps(entity.identifiers, ensure_ascii=False),
        "programs": json.dumps(entity.programs, ensure_ascii=False),
        "legal_basis": entity.legal_basis,
        "remarks": entity.remarks,
    }


def _entity_of(row: Any) -> ListedEntity:
    return ListedEntity(
        list_id=row.list_id,
        source=row.source,
        kind=row.kind,
        names=tuple(json.loads(row.names)),
        birth_dates=tuple(json.loads(row.birth_dates)),
        nationalities=tuple(json.loads(row.nationalities)),
        identifiers=tuple(json.loads(row.identifiers)),
        programs=tuple(json.loads(row.programs)),
        legal_basis=row.legal_basis,
        remarks=row.remarks,
    )


class SanctionsLists:
    """The imported sanctions lists of one store."""

    def __init__(self, store: Store, clock: Callable[[], int] = time.time_ns) -> None:
        self._store = store
        self._clock = clock

    def import_list(self, path: Path, list_format: str, progress: Callable[[int], None] | None = None) -> ImportedList:
        """Parse ``path`` as ``list_format`` and replace that source's listings with it, all or nothing.

        For ``ofac``, ``path`` is ``sdn.csv``; ``alt.csv`` and ``add.csv`` beside it are read
        when present. ``progress`` is called with the number of listings written so far.
        A malformed file raises ``InvalidInputError`` naming its line or element, and a file
        with no listings at all (most likely the wrong format) is refused; either way the
        store keeps what it had.

        Each listing is compared with the previous import of its source by its list id and
        the hash of its content: the import records how many are new, changed and removed,
        and owes a screening of every registered person against the new and changed ones
        (``ListScreenings`` does it); an unchanged listing owes none.
        """
        source = _checked_format(list_format)
        files = _files_of(path, source)
        digest = _digest(files)
        entities = names = 0
        with self._store.transaction(write=True) as conn:
            before = conn.execute(select(sanctions_lists).where(sanctions_lists.c.source == source)).first()
            previous = _previous_hashes(conn, source)
            # A version is an import time, and it must grow even if the clock steps back.
            version = max(self._clock(), (before.imported_at_ns + 1) if before is not None else 0)
            # An import whose screening is not finished hands its listings on: the new one screens from there.
            since, carried = version, None
            if before is not None and before.screen_since_ns is not None and before.screened_at_ns is None:
                since = int(before.screen_since_ns)
                carried = (before.screened_through, before.screened_people, before.screened_hits)
            conn.execute(delete(sanctions_entities).where(sanctions_entities.c.source == source))
            conn.execute(delete(sanctions_lists).where(sanctions_lists.c.source == source))
            # The parent row first, so that the entities' foreign key holds; counts come last.
            conn.execute(
                insert(sanctions_lists).values(
                    source=source, file_name=path.name, digest=digest, entities=0, names=0, imported_at_ns=0
                )
            )
            batch: list[dict[str, Any]] = []
            new = changed = owed = 0
            for entity in parse_list(path, source):
                if len(entity.list_id) > LIST_ID_MAX:
                    raise InvalidInputError(path.name, f"list id longer than {LIST_ID_MAX}: {entity.list_id:.40}")
                entities += 1
                names += len(entity.names)
                if entities > LIST_ENTITIES_MAX:
                    raise InvalidInputError(path.name, f"more than {LIST_ENTITIES_MAX} listings")
                row = _row(entity, source)
                row["content_hash"] = content_hash(row)
                known = previous.pop(entity.list_id, None)
                if known is None or known[0] != row["content_hash"]:
                    new, changed = (new + 1, changed) if known is None else (new, changed + 1)
                    row["changed_at_ns"] = version
                else:
                    row["changed_at_ns"] = known[1]
                owed += row["changed_at_ns"] >= since
                batch.append(row)
                if len(batch) == IMPORT_BATCH:
                    _insert(conn, batch, progress, entities)
                    batch = []
            _insert(conn, batch, progress, entities)
            if entities == 0:
                raise InvalidInputError(path.name, f"no listings found; is this really a {source} file?")
            imported = ImportedList(
                source,
                path.name,
                digest,
                entities,
                names,
                version,
                new=new,
                changed=changed,
                removed=len(previous),
                owed=owed,
                open_hits_removed=_open_hits_on(conn, source, sorted(previous)),
            )
            # Nothing new or changed: the owed listings are the unfinished job's (or fewer), which
            # goes on where it stopped; else every person is screened against them all from the start.
            through, people, hits = (None, 0, 0) if carried is None or new + changed else carried
            conn.execute(
                sanctions_lists.update()
                .where(sanctions_lists.c.source == source)
                .values(
                    entities=entities,
                    names=names,
                    imported_at_ns=version,
                    listings_new=new,
                    listings_changed=changed,
                    listings_removed=len(previous),
                    screen_since_ns=since if owed else None,
                    screened_through=through,
                    screened_people=people,
                    screened_hits=hits,
                    screened_at_ns=None,
                )
            )
        return imported

    def lists(self) -> list[ImportedList]:
        """The imported lists, by source, each with the listings its screening still owes."""
        owed_count = (
            select(func.count())
            .where(
                sanctions_entities.c.source == sanctions_lists.c.source,
                sanctions_entities.c.changed_at_ns >= sanctions_lists.c.screen_since_ns,
                sanctions_lists.c.screened_at_ns.is_(None),
            )
            .scalar_subquery()
        )
        with self._store.transaction() as conn:
            rows = conn.execute(select(sanctions_lists, owed_count.label("owed")).order_by(sanctions_lists.c.source))
            return [
                ImportedList(
                    r.source,
                    r.file_name,
                    r.digest,
                    r.entities,
                    r.names,
                    r.imported_at_ns,
                    new=r.listings_new or 0,
                    changed=r.listings_changed or 0,
                    removed=r.listings_removed or 0,
                    owed=r.owed or 0,
                )
                for r in rows
            ]

    def entities(self, sources: Sequence[str] | None = None) -> list[ListedEntity]:
        """Every listing of the named sources (all sources when None), by source and list id."""
        query = select(sanctions_entities).order_by(sanctions_entities.c.source, sanctions_entities.c.list_id)
        if sources is not None:
            if isinstance(sources, str) or not isinstance(sources, Sequence):
                raise InvalidInputError("sources", "must be a list of source names")
            query = query.where(sanctions_entities.c.source.in_([_checked_format(s) for s in sources]))
        with self._store.transaction() as conn:
            return [_entity_of(row) for row in conn.execute(query)]


def content_hash(row: Mapping[str, Any] | RowMapping) -> str:
    """SHA-256 of a listing's content as stored (its columns but source, list id and the hash columns)."""
    content = [row[column] for column in _CONTENT_COLUMNS]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def _previous_hashes(conn: Connection, source: str) -> dict[str, tuple[str, int]]:
    """Each listing of the source's current import: its content hash and when that content appeared.

    A row imported before the hashes were kept (migration 0016) is hashed from its columns
    now; its content is counted as old (appeared at 0), as it was screened by what came before.
    """
    query = select(
        sanctions_entities.c.list_id,
        sanctions_entities.c.content_hash,
        sanctions_entities.c.changed_at_ns,
        *(sanctions_entities.c[column] for column in _CONTENT_COLUMNS),
    ).where(sanctions_entities.c.source == source)
    found: dict[str, tuple[str, int]] = {}
    for row in conn.execute(query):
        stored = row._mapping
        found[row.list_id] = (row.content_hash or content_hash(stored), row.changed_at_ns or 0)
    return found


def _open_hits_on(conn: Connection, source: str, list_ids: Sequence[str]) -> int:
    """How many pending or confirmed hits name one of these listings of the source."""
    count = 0
    for start in range(0, len(list_ids), IMPORT_BATCH):
        count += int(
            conn.scalar(
                select(func.count())
                .select_from(screening_hits)
                .where(
                    screening_hits.c.source == source,
                    screening_hits.c.list_id.in_(list_ids[start : start + IMPORT_BATCH]),
                    screening_hits.c.status.in_(("pending", "confirmed")),
                )
            )
            or 0
        )
    return count


def _insert(conn: Connection, batch: list[dict[str, Any]], progress: Callable[[int], None] | None, done: int) -> None:
    if batch:
        conn.execute(insert(sanctions_entities), batch)
    if progress is not None:
        progress(done)
