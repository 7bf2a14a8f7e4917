"""Parsers for published sanctions lists: the US OFAC SDN CSV files and the UN consolidated XML.

Each parser is a generator of :class:`ListedEntity` and raises
:class:`~tessera.errors.InvalidInputError` naming the file and line (CSV) or element (XML)
at fault. Entities read before the fault have already been yielded, so an importer must
consume the whole iterator before it stores anything: all-or-nothing is the importer's job.
"""

from __future__ import annotations

import csv
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from tessera.errors import InvalidInputError

OFAC_EMPTY = "-0-"
OFAC_KINDS = {"individual": "person", "vessel": "vessel", "aircraft": "aircraft", "": "organisation"}
# The legacy files end with a DOS end-of-file byte on a line of its own.
OFAC_EOF_MARKER = "\x1a"
XML_CHUNK_BYTES = 64 * 1024

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
_OFAC_DATE = r"(?:(\d{1,2}) )?(?:(" + "|".join(_MONTHS) + r") )?(\d{4})"
_OFAC_DOB = re.compile(rf"(?:alt\. )?DOB (?:circa )?{_OFAC_DATE}(?: to {_OFAC_DATE})?")
_OFAC_NATIONALITY = re.compile(r"(?:alt\. )?(?:nationality|citizen) (.+)")
# Personal documents only; company registers, tax and vessel numbers stay in the remarks.
_OFAC_DOCUMENT = re.compile(
    r"(?:alt\. )?(?:Passport|National ID No\.|Cedula No\.|Identification Number|C\.U\.R\.P\.)"
    r" ([A-Za-z0-9][A-Za-z0-9/.\- ]*?)(?: \(.*\))?(?: (?:issued|expires) .*)?"
)


@dataclass(frozen=True, slots=True)
class ListedEntity:
    """One listing on a sanctions list, reduced to what screening matches on."""

    list_id: str
    source: str
    kind: str
    names: tuple[str, ...]
    birth_dates: tuple[str, ...]
    nationalities: tuple[str, ...]
    identifiers: tuple[str, ...]
    programs: tuple[str, ...]
    legal_basis: str
    remarks: str


def _clean(text: str | None) -> str:
    return unicodedata.normalize("NFC", (text or "").strip())


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _ofac_field(value: str) -> str:
    value = _clean(value)
    return "" if value == OFAC_EMPTY else value


def _ofac_rows(path: Path, columns: int) -> Iterator[tuple[str, int, list[str]]]:
    """Yield ``(field, ent_num, row)`` with the row's fields cleaned; ``field`` is ``name:line``."""
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        line = 1
        try:
            for row in reader:
                field = f"{path.name}:{line}"
                line = reader.line_num + 1
                if not row or row == [OFAC_EOF_MARKER]:
                    continue
                if len(row) != columns:
                    raise InvalidInputError(field, f"expected {columns} columns, found {len(row)}")
                try:
                    ent_num = int(row[0].strip())
                except ValueError:
                    raise InvalidInputError(field, f"ent_num {row[0]!r} is not an integer") from None
                yield field, ent_num, [_ofac_field(value) for value in row]
        except (csv.Error, UnicodeDecodeError) as error:
            raise InvalidInputError(f"{path.name}:{line}", str(error)) from error


def _ofac_date(day: str | None, month: str | None, year: str) -> str:
    if month is None:
        return year
    if day is None:
        return f"{year}-{_MONTHS[month]:02d}"
    return f"{year}-{_MONTHS[month]:02d}-{int(day):02d}"


def parse_ofac_remarks(remarks: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]:
    """Split OFAC remarks into ``(birth_dates, nationalities, identifiers, rest)``.

    The remarks are ``;``-separated items. An item that is wholly a date of birth
    (``DOB 12 Jan 1960``, ``DOB circa 1958``, ``DOB Jan 1960``; a range ``DOB 1960 to 1962``
    gives both ends), a nationality or citizenship (``nationality Iran``, ``citizen Egypt``)
    or a personal document (``Passport A1234 (Iran)``, national ID, cedula, CURP) is taken
    out, ``alt.`` variants included; every other item stays in ``rest``.
    """
    birth_dates: list[str] = []
    nationalities: list[str] = []
    identifiers: list[str] = []
    rest: list[str] = []
    for raw_item in remarks.split(";"):
        item = raw_item.strip().removesuffix(".").strip()
        if not item:
            continue
        if match := _OFAC_DOB.fullmatch(item):
            birth_dates.append(_ofac_date(*match.group(1, 2, 3)))
            if match.group(6):
                birth_dates.append(_ofac_date(*match.group(4, 5, 6)))
        elif match := _OFAC_NATIONALITY.fullmatch(item):
            nationalities.append(match.group(1))
        elif match := _OFAC_DOCUMENT.fullmatch(item):
            identifiers.append(match.group(1))
        else:
            rest.append(raw_item.strip())
    return _unique(birth_dates), _unique(nationalities), _unique(identifiers), "; ".join(rest)


def parse_ofac(sdn: Path, alt: Path | None = None, add: Path | None = None) -> Iterator[ListedEntity]:
    """Yield the entries of OFAC's legacy ``sdn.csv``, with the aliases of ``alt.csv`` joined.

    ``add.csv`` (addresses) is only checked: an address country says where a listed party
    was seen, not its nationality, so it is not used as one.
    """
    aliases: dict[int, list[tuple[str, str]]] = {}
    if alt is not None:
        for field, ent_num, row in _ofac_rows(alt, 5):
            aliases.setdefault(ent_num, []).append((field, row[3]))
    seen: set[int] = set()
    for field, ent_num, row in _ofac_rows(sdn, 12):
        if ent_num in seen:
            raise InvalidInputError(field, f"duplicate ent_num {ent_num}")
        seen.add(ent_num)
        sdn_type = row[2].lower()
        if sdn_type not in OFAC_KINDS:
            raise InvalidInputError(field, f"unknown SDN_Type {row[2]!r}")
        if not row[1]:
            raise InvalidInputError(field, "SDN_Name is empty")
        birth_dates, nationalities, identifiers, remarks = parse_ofac_remarks(row[11])
        alias_names = [name for _, name in aliases.pop(ent_num, [])]
        yield ListedEntity(
            list_id=f"ofac:{ent_num}",
            source="ofac",
            kind=OFAC_KINDS[sdn_type],
            names=_unique([row[1], *alias_names]),
            birth_dates=birth_dates,
            nationalities=nationalities,
            identifiers=identifiers,
            programs=_unique([program.strip() for program in row[3].split("] [")]),
            legal_basis=row[3],
            remarks=remarks,
        )
    if aliases:
        field = min((entry[0][0] for entry in aliases.values()), key=lambda f: int(f.rsplit(":", 1)[1]))
        raise InvalidInputError(field, "alias for an ent_num that sdn.csv does not list")
    if add is not None:
        for field, ent_num, _ in _ofac_rows(add, 6):
            if ent_num not in seen:
                raise InvalidInputError(field, f"address for unknown ent_num {ent_num}")


def _un_entity(element: ET.Element, field: str) -> ListedEntity:
    dataid = _clean(element.findtext("DATAID"))
    if not dataid:
        raise InvalidInputError(field, "missing DATAID")
    reference = _clean(element.findtext("REFERENCE_NUMBER"))
    is_person = element.tag == "INDIVIDUAL"
    primary = " ".join(
        _clean(element.findtext(part)) for part in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
    )
    alias_tag = "INDIVIDUAL_ALIAS" if is_person else "ENTITY_ALIAS"
    names = [
        " ".join(primary.split()),
        _clean(element.findtext("NAME_ORIGINAL_SCRIPT")),
        *(_clean(alias.text) for alias in element.iterfind(f"{alias_tag}/ALIAS_NAME")),
    ]
    if not any(names):
        raise InvalidInputError(field, f"DATAID {dataid} has no name")
    birth_dates: list[str] = []
    for dob in element.iterfind("INDIVIDUAL_DATE_OF_BIRTH"):
        birth_dates.extend(_clean(dob.findtext(tag)) for tag in ("DATE", "YEAR", "FROM_YEAR", "TO_YEAR"))
    list_type = _clean(element.findtext("UN_LIST_TYPE"))
    return ListedEntity(
        list_id=f"un:{reference or dataid}",
        source="un",
        kind="person" if is_person else "organisation",
        names=_unique(names),
        birth_dates=_unique(birth_dates),
        nationalities=_unique([_clean(v.text) for v in element.iterfind("NATIONALITY/VALUE")]),
        identifiers=_unique([_clean(n.text) for n in element.iterfind("INDIVIDUAL_DOCUMENT/NUMBER")]),
        programs=_unique([list_type]),
        legal_basis=" ".join(filter(None, ("UN Security Council", list_type, reference))),
        remarks=_clean(element.findtext("COMMENTS1")),
    )


def parse_un(path: Path) -> Iterator[ListedEntity]:
    """Yield the individuals and entities of the UN Security Council consolidated list, streaming.

    A document type declaration is refused before the parser sees it: the standard library
    parser would expand its entities (the "billion laughs"), and the list never has one.
    """
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    stack: list[str] = []
    counts: dict[str, int] = {}
    seen: set[str] = set()
    tail = b""
    with path.open("rb") as file:
        while chunk := file.read(XML_CHUNK_BYTES):
            # Keep the previous chunk's end so a declaration split across two reads is seen.
            if b"<!DOCTYPE" in tail + chunk:
                raise InvalidInputError(path.name, "document type declarations are refused (entity expansion)")
            tail = chunk[-16:]
            try:
                parser.feed(chunk)
                yield from _un_events(parser, path.name, stack, counts, seen)
            except ET.ParseError as error:
                line, column = error.position
                raise InvalidInputError(f"{path.name}:{line}", f"column {column}: {error}") from error
        try:
            parser.close()
        except ET.ParseError as error:
            line, column = error.position
            raise InvalidInputError(f"{path.name}:{line}", f"column {column}: {error}") from error
    yield from _un_events(parser, path.name, stack, counts, seen)


def _un_events(
    parser: ET.XMLPullParser[ET.Element], name: str, stack: list[str], counts: dict[str, int], seen: set[str]
) -> Iterator[ListedEntity]:
    # Only start and end events were asked for, and both carry an element.
    events = cast("Iterator[tuple[str, ET.Element]]", parser.read_events())
    for event, element in events:
        if event == "start":
            stack.append(element.tag)
            continue
        path = "/".join(stack)
        stack.pop()
        if path not in ("CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL", "CONSOLIDATED_LIST/ENTITIES/ENTITY"):
            continue
        counts[path] = counts.get(path, 0) + 1
        field = f"{name}:/{path}[{counts[path]}]"
        entity = _un_entity(element, field)
        if entity.list_id in seen:
            raise InvalidInputError(field, f"duplicate listing {entity.list_id}")
        seen.add(entity.list_id)
        # Drop the finished listing so memory stays flat however long the file is.
        element.clear()
        yield entity
