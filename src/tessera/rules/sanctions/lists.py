"""Parsers for published sanctions lists: OFAC SDN CSV, UN and EU consolidated XML, FollowTheMoney JSON lines.

Each parser is a generator of :class:`ListedEntity` and raises
:class:`~tessera.errors.InvalidInputError` naming the file and line (CSV, JSON lines) or
element (XML) at fault. Entities read before the fault have already been yielded, so an
importer must consume the whole iterator before it stores anything: all-or-nothing is the
importer's job.

Text is read as given, NFC, with each run of whitespace (line breaks included) made one
space. A control character left after that (a NUL, an escape) or a lone surrogate in any
field refuses the file, naming the line or element and the field: it is a broken or a
doctored file, and the list is imported whole or not at all. Invisible format characters
(a zero-width space) are kept as given: screening compares names by their matching key
(``tessera.text.match_key``), which leaves them out. A listing none of whose names has a
letter or digit in that key is refused too, since screening could never find it.

The XML files must be UTF-8 (or ASCII), nest at most ``XML_DEPTH_MAX`` deep and have no
document type declaration; a JSON line nests at most ``FTM_DEPTH_MAX`` deep and holds no
integer longer than ``FTM_INTEGER_DIGITS_MAX`` digits. A listing's name, alias, document or
programme is at most ``LISTED_NAME_MAX`` characters (what a hit records), its remarks and
legal basis ``LONG_TEXT_MAX``, and it has at most ``ENTITY_VALUES_MAX`` of each: a file past
that is refused, naming the listing, rather than stored.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

from tessera.errors import InvalidInputError
from tessera.store import LISTED_NAME_MAX
from tessera.text import match_key

OFAC_EMPTY = "-0-"
OFAC_KINDS = {"individual": "person", "vessel": "vessel", "aircraft": "aircraft", "": "organisation"}
# The legacy files end with a DOS end-of-file byte on a line of its own.
OFAC_EOF_MARKER = "\x1a"
XML_CHUNK_BYTES = 64 * 1024
XML_DECLARATION_MAX = 1024  # the XML declaration, which names the encoding, is the file's first few bytes
FTM_LINE_MAX = 1024 * 1024  # one entity per line; OpenSanctions' largest is far below this
FTM_DEPTH_MAX = 16  # an entity nests three deep ({"properties": {"name": [...]}}); far below the parser's recursion
FTM_INTEGER_DIGITS_MAX = 32  # FtM has no numbers at all; a longer one is converted to no purpose (4,300 raises)
# A listing's texts: a name as long as a hit can record it (the real lists' longest is 158), and
# remarks or a legal basis far past OFAC's 1,000-character remarks; at most this many of each value.
LONG_TEXT_MAX = 8192
_LONG_TEXTS = frozenset({"remarks", "legal_basis"})
ENTITY_VALUES_MAX = 1000
XML_DEPTH_MAX = 32  # the UN list nests five deep and the EU list four; expat has no limit of its own
# The encodings an XML list may declare: the DOCTYPE check reads the bytes as UTF-8 does.
XML_ENCODINGS = ("utf-8", "utf8", "us-ascii", "ascii")
EU_NAMESPACE = "http://eu.europa.ec/fpi/fsd/export"
# The EU's subject types; it lists persons and enterprises, the others are for safety's sake.
EU_KINDS = {"person": "person", "enterprise": "organisation", "vessel": "vessel", "aircraft": "aircraft"}

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
# "a.k.a. 'BNC'", "f.k.a. 'ANSAR INSTITUTE'": the weak aliases OFAC keeps in the remarks.
_OFAC_ALIAS = re.compile(r"[afn]\.k\.a\.,? '(.+)'")
_OFAC_QUOTED_MIN = 3  # 'X': an alias still in quotes, with at least one character inside them


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


# Control characters and lone surrogates: after ``_clean`` made whitespace spaces, none has a place in a list.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_XML_DECLARATION_ENCODING = re.compile(rb"""encoding\s*=\s*(["'])(.*?)\1""")


def _clean(text: str | None) -> str:
    """NFC, each run of whitespace (line breaks, tabs, the Unicode spaces) one space, none at the ends."""
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def _checked(entity: ListedEntity, field: str) -> ListedEntity:
    """The entity, if its texts are bounded, none has a control character and one of its names can be screened."""
    for attribute in dataclasses.fields(entity):
        value = getattr(entity, attribute.name)
        if isinstance(value, tuple) and len(value) > ENTITY_VALUES_MAX:
            raise InvalidInputError(
                field, f"{entity.list_id:.40} has {len(value)} {attribute.name}, more than {ENTITY_VALUES_MAX}"
            )
        most = LONG_TEXT_MAX if attribute.name in _LONG_TEXTS else LISTED_NAME_MAX
        for text in value if isinstance(value, tuple) else (value,):
            if len(text) > most:
                raise InvalidInputError(
                    field, f"{attribute.name} of {entity.list_id:.40} is {len(text)} characters, more than {most}"
                )
            if found := _CONTROL.search(text):
                raise InvalidInputError(
                    field, f"{attribute.name} of {entity.list_id:.40} has the control character U+{ord(found[0]):04X}"
                )
    if not any(char.isalnum() for name in entity.names for char in match_key(name)):
        raise InvalidInputError(field, f"{entity.list_id:.40} has no name with a letter or digit")
    return entity


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
                cells = [_ofac_field(value) for value in row]
                if found := next((c for c in map(_CONTROL.search, cells) if c), None):
                    raise InvalidInputError(field, f"has the control character U+{ord(found[0]):04X}")
                yield field, ent_num, cells
        except (csv.Error, UnicodeDecodeError) as error:
            raise InvalidInputError(f"{path.name}:{line}", str(error)) from error


def _ofac_date(day: str | None, month: str | None, year: str) -> str:
    if month is None:
        return year
    if day is None:
        return f"{year}-{_MONTHS[month]:02d}"
    return f"{year}-{_MONTHS[month]:02d}-{int(day):02d}"


class OfacRemarks(NamedTuple):
    """What :func:`parse_ofac_remarks` takes out of the remarks, and what it leaves."""

    birth_dates: tuple[str, ...]
    nationalities: tuple[str, ...]
    identifiers: tuple[str, ...]
    rest: str
    aliases: tuple[str, ...]


def parse_ofac_remarks(remarks: str) -> OfacRemarks:
    """Split OFAC remarks into ``(birth_dates, nationalities, identifiers, rest, aliases)``.

    The remarks are ``;``-separated items. An item that is wholly a date of birth
    (``DOB 12 Jan 1960``, ``DOB circa 1958``, ``DOB Jan 1960``; a range ``DOB 1960 to 1962``
    gives both ends), a nationality or citizenship (``nationality Iran``, ``citizen Egypt``),
    a personal document (``Passport A1234 (Iran)``, national ID, cedula, CURP) or a quoted
    alias (``a.k.a. 'BNC'``, ``f.k.a. 'ALPHA'``) is taken out, ``alt.`` variants included;
    every other item stays in ``rest``.
    """
    birth_dates: list[str] = []
    nationalities: list[str] = []
    identifiers: list[str] = []
    aliases: list[str] = []
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
        elif match := _OFAC_ALIAS.fullmatch(item):
            alias = match.group(1)
            # ''FOOPIE'': doubled quotes around the alias; a lone leading one is an ayn.
            if len(alias) >= _OFAC_QUOTED_MIN and alias[0] == alias[-1] == "'":
                alias = alias[1:-1]
            aliases.append(alias.strip())
        else:
            rest.append(raw_item.strip())
    return OfacRemarks(
        _unique(birth_dates), _unique(nationalities), _unique(identifiers), "; ".join(rest), _unique(aliases)
    )


def parse_ofac(sdn: Path, alt: Path | None = None, add: Path | None = None) -> Iterator[ListedEntity]:
    """Yield the entries of OFAC's legacy ``sdn.csv``, with the aliases of ``alt.csv`` joined.

    Names are the primary name, then ``alt.csv``'s aliases, then the weak aliases quoted
    in the remarks (``a.k.a. 'BNC'``).

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
        remarks = parse_ofac_remarks(row[11])
        alias_names = [name for _, name in aliases.pop(ent_num, [])]
        yield _checked(
            ListedEntity(
                list_id=f"ofac:{ent_num}",
                source="ofac",
                kind=OFAC_KINDS[sdn_type],
                names=_unique([row[1], *alias_names, *remarks.aliases]),
                birth_dates=remarks.birth_dates,
                nationalities=remarks.nationalities,
                identifiers=remarks.identifiers,
                programs=_unique([program.strip() for program in row[3].split("] [")]),
                legal_basis=row[3],
                remarks=remarks.rest,
            ),
            field,
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
    seen: set[str] = set()
    wanted = ("CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL", "CONSOLIDATED_LIST/ENTITIES/ENTITY")
    for field, element in _xml_listings(path, wanted):
        entity = _checked(_un_entity(element, field), field)
        if entity.list_id in seen:
            raise InvalidInputError(field, f"duplicate listing {entity.list_id}")
        seen.add(entity.list_id)
        yield entity


def _eu_date(birth: ET.Element) -> list[str]:
    """The dates of one ``birthdate`` element: the full date, or its known parts, or a span of years."""
    full = _clean(birth.get("birthdate"))
    if full:
        return [full]
    year = _clean(birth.get("year"))
    month = _clean(birth.get("monthOfYear"))
    day = _clean(birth.get("dayOfMonth"))
    if year and month and day:
        return [f"{year}-{int(month):02d}-{int(day):02d}"]
    if year and month:
        return [f"{year}-{int(month):02d}"]
    span = [_clean(birth.get("yearRangeFrom")), _clean(birth.get("yearRangeTo"))]
    return [year] if year else span


def _eu_entity(element: ET.Element, field: str) -> ListedEntity:
    reference = _clean(element.get("euReferenceNumber")) or _clean(element.get("logicalId"))
    if not reference:
        raise InvalidInputError(field, "has neither euReferenceNumber nor logicalId")
    subject = element.find("subjectType")
    code = _clean(subject.get("code") if subject is not None else "")
    if code not in EU_KINDS:
        raise InvalidInputError(f"{field}/subjectType", f"unknown subject type {code!r}")
    names = []
    for alias in element.iterfind("nameAlias"):
        parts = (alias.get("firstName"), alias.get("middleName"), alias.get("lastName"))
        names.append(_clean(alias.get("wholeName")) or " ".join(" ".join(_clean(p) for p in parts).split()))
    if not any(names):
        raise InvalidInputError(field, f"{reference} has no nameAlias with a name")
    birth_dates: list[str] = []
    for birth in element.iterfind("birthdate"):
        try:
            birth_dates.extend(_eu_date(birth))
        except ValueError:
            raise InvalidInputError(f"{field}/birthdate", "monthOfYear and dayOfMonth must be numbers") from None
    regulations = list(element.iterfind("regulation"))
    programs = _unique([_clean(r.get("programme")) for r in regulations])
    titles = _unique([_clean(r.get("numberTitle")) for r in regulations])
    countries = [_clean(c.get("countryIso2Code")).upper() for c in element.iterfind("citizenship")]
    documents = [_clean(d.get("number")) or _clean(d.get("latinNumber")) for d in element.iterfind("identification")]
    return ListedEntity(
        list_id=f"eu:{reference}",
        source="eu",
        kind=EU_KINDS[code],
        names=_unique(names),
        birth_dates=_unique(birth_dates),
        # "00" is the file's own spelling of an unknown country.
        nationalities=_unique([c for c in countries if c != "00"]),
        identifiers=_unique(documents),
        programs=programs,
        legal_basis=" ".join(filter(None, ("EU", "; ".join(titles or programs), reference))),
        remarks=" ".join(_clean(r.text) for r in element.iterfind("remark")).strip(),
    )


def parse_eu(path: Path) -> Iterator[ListedEntity]:
    """Yield the listings of the EU consolidated financial sanctions list (FSF XML, schema 1.1), streaming.

    Each ``sanctionEntity`` gives its ``nameAlias`` names (``wholeName``, or first, middle
    and last name), ``birthdate`` dates (full, partial or a span of years), ``citizenship``
    country codes, ``identification`` numbers and ``regulation`` programmes. The file's
    namespace is optional; a document type declaration is refused, as in :func:`parse_un`.
    """
    seen: set[str] = set()
    for field, element in _xml_listings(path, ("export/sanctionEntity",)):
        entity = _checked(_eu_entity(element, field), field)
        if entity.list_id in seen:
            raise InvalidInputError(field, f"duplicate listing {entity.list_id}")
        seen.add(entity.list_id)
        yield entity


def _local(tag: str) -> str:
    """``{namespace}name`` without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _xml_listings(path: Path, wanted: tuple[str, ...]) -> Iterator[tuple[str, ET.Element]]:
    """Yield ``(field, element)`` for each element at one of the ``wanted`` paths, namespaces stripped.

    ``field`` names the file and the element (``un.xml:/CONSOLIDATED_LIST/ENTITIES/ENTITY[3]``).
    Each element is cleared once the caller is done with it, and after each chunk every
    finished element outside a wanted one is dropped, so memory stays flat however long the
    file is; elements nested deeper than ``XML_DEPTH_MAX`` are refused, so that the work per
    element stays bounded too.
    """
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    elements: list[ET.Element] = []  # the open elements, the root first
    paths: list[str] = []  # and their paths
    counts: dict[str, int] = {}
    tail = b""
    with path.open("rb") as file:
        _check_xml_encoding(file.read(XML_DECLARATION_MAX), path.name)
        file.seek(0)
        while True:
            chunk = file.read(XML_CHUNK_BYTES)
            # UTF-8 XML has no NUL byte (XML allows no U+0000); UTF-16 and UTF-32 XML always has.
            if b"\x00" in chunk:
                raise InvalidInputError(path.name, "has a NUL byte: a list must be UTF-8, not UTF-16 or UTF-32")
            # Keep the previous chunk's end so a declaration split across two reads is seen.
            if b"<!DOCTYPE" in tail + chunk:
                raise InvalidInputError(path.name, "document type declarations are refused (entity expansion)")
            tail = chunk[-16:]
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
                # Only start and end events were asked for, and both carry an element.
                events = cast("Iterator[tuple[str, ET.Element]]", parser.read_events())
                for event, element in events:
                    element.tag = _local(element.tag)
                    if event == "start":
                        if len(paths) == XML_DEPTH_MAX:
                            raise InvalidInputError(
                                path.name, f"elements nested more than {XML_DEPTH_MAX} deep, in /{paths[-1]:.200}"
                            )
                        paths.append(f"{paths[-1]}/{element.tag}" if paths else element.tag)
                        elements.append(element)
                        continue
                    where = paths.pop()
                    elements.pop()
                    if where in wanted:
                        counts[where] = counts.get(where, 0) + 1
                        yield f"{path.name}:/{where}[{counts[where]}]", element
                        element.clear()
            except ET.ParseError as error:
                line, column = error.position
                raise InvalidInputError(f"{path.name}:{line}", f"column {column}: {error}") from error
            if not chunk:
                return
            # Every event of the chunk is read: each open element's children are finished but
            # its last, the open one below it. Outside a wanted element none is needed again.
            outside = next((i for i, where in enumerate(paths) if where in wanted), len(paths))
            for level in range(outside):
                parent = elements[level]
                if level + 1 < len(elements):
                    if len(parent) and parent[-1] is elements[level + 1]:
                        del parent[:-1]
                else:
                    del parent[:]


def _check_xml_encoding(head: bytes, name: str) -> None:
    """Refuse an XML file that is not UTF-8 or ASCII, by its byte-order mark or its declared encoding.

    The DOCTYPE check looks for the declaration's UTF-8 bytes: in UTF-16, UTF-32 or an
    8-bit code page such as EBCDIC (which the parser would follow) it is spelled otherwise.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        raise InvalidInputError(name, "must be UTF-8: its byte-order mark says UTF-16 or UTF-32")
    head = head.removeprefix(codecs.BOM_UTF8)
    if not head.startswith(b"<?xml"):
        return  # no declaration: XML without one is UTF-8
    declaration = head[: head.find(b"?>")]
    match = _XML_DECLARATION_ENCODING.search(declaration)
    if b"encoding" in declaration and (
        match is None or match[2].decode("ascii", "replace").lower() not in XML_ENCODINGS
    ):
        encoding = match[2].decode("ascii", "replace") if match else "an unreadable one"
        raise InvalidInputError(name, f"must be UTF-8: it declares the encoding {encoding:.20}")


# FollowTheMoney schemata that screening matches on, by the kind they become; the rest
# (Sanction, Address, Ownership, ...) describe listings rather than being listed.
_FTM_KINDS = (("Person", "person"), ("Vessel", "vessel"), ("Airplane", "aircraft"), ("LegalEntity", "organisation"))
_FTM_NAMES = ("name", "alias", "previousName", "weakAlias")
_FTM_NATIONALITIES = ("nationality", "citizenship", "country", "jurisdiction", "flag")
_FTM_IDENTIFIERS = (
    "idNumber",
    "passportNumber",
    "registrationNumber",
    "taxNumber",
    "innCode",
    "ogrnCode",
    "imoNumber",
    "swiftBic",
)


def _ftm_values(properties: dict[str, Any], names: tuple[str, ...], field: str) -> list[str]:
    values: list[str] = []
    for name in names:
        listed = properties.get(name, [])
        if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
            raise InvalidInputError(field, f"property {name!r} must be a list of strings")
        values.extend(_clean(v) for v in listed)
    return values


def _ftm_entity(record: object, field: str, kinds: dict[str, str | None]) -> ListedEntity | None:
    if not isinstance(record, dict):
        raise InvalidInputError(field, "each line must be a JSON object")
    entity_id, schema, properties = record.get("id"), record.get("schema"), record.get("properties", {})
    if not isinstance(entity_id, str) or not entity_id.strip():
        raise InvalidInputError(field, "missing 'id'")
    if not isinstance(schema, str) or not isinstance(properties, dict):
        raise InvalidInputError(field, "'schema' must be a string and 'properties' an object")
    if schema not in kinds:
        kinds[schema] = _ftm_kind(schema, field)
    kind = kinds[schema]
    if kind is None:
        return None
    names = _ftm_values(properties, _FTM_NAMES, field)
    if not any(names):
        raise InvalidInputError(field, f"{schema} {entity_id} has no name")
    programs = _ftm_values(properties, ("program",), field)
    topics = _ftm_values(properties, ("topics",), field)
    datasets = record.get("datasets")
    named = [d for d in datasets if isinstance(d, str)] if isinstance(datasets, list) else []
    return ListedEntity(
        list_id=f"ftm:{_clean(entity_id)}",
        source="ftm",
        kind=kind,
        names=_unique(names),
        birth_dates=_unique(_ftm_values(properties, ("birthDate",), field)),
        nationalities=_unique([c.upper() for c in _ftm_values(properties, _FTM_NATIONALITIES, field)]),
        identifiers=_unique(_ftm_values(properties, _FTM_IDENTIFIERS, field)),
        programs=_unique(programs or topics),
        legal_basis="; ".join(programs) or ", ".join(named),
        remarks=" ".join(_ftm_values(properties, ("notes",), field)).strip(),
    )


def _ftm_kind(schema: str, field: str) -> str | None:
    """The kind an FtM schema's entities become, or None for schemata that are not screened."""
    # Imported here: followthemoney's model takes a second to load, and only this parser needs it.
    from followthemoney import model  # noqa: PLC0415

    found = model.get(schema)
    if found is None:
        raise InvalidInputError(field, f"unknown FollowTheMoney schema {schema!r}")
    return next((kind for parent, kind in _FTM_KINDS if found.is_a(parent)), None)


def _bounded_integer(digits: str) -> int:
    if len(digits.lstrip("-")) > FTM_INTEGER_DIGITS_MAX:
        raise ValueError(f"an integer of more than {FTM_INTEGER_DIGITS_MAX} digits")
    return int(digits)


def _ftm_record(raw: bytes, field: str) -> object:
    """One JSON line, parsed with its depth and its integers bounded."""
    try:
        record = json.loads(raw.decode("utf-8"), parse_int=_bounded_integer)
    except RecursionError:
        # The parser's own bound, at about a thousand levels: linear work, a clear answer.
        raise InvalidInputError(field, f"not JSON an entity can be: nested more than {FTM_DEPTH_MAX} deep") from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise InvalidInputError(field, f"not JSON: {error}") from None
    # Each list or object opens with a bracket: a line with no more of them than the limit nests no deeper.
    if raw.count(b"[") + raw.count(b"{") > FTM_DEPTH_MAX and _depth(record) > FTM_DEPTH_MAX:
        raise InvalidInputError(field, f"not JSON an entity can be: nested more than {FTM_DEPTH_MAX} deep")
    return record


def _depth(value: object) -> int:
    """How deep lists and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > FTM_DEPTH_MAX:
            break
        pending.extend((child, depth + 1) for child in children)
    return deepest


def parse_ftm(path: Path) -> Iterator[ListedEntity]:
    """Yield the persons, organisations, vessels and aircraft of a FollowTheMoney JSON lines file.

    One entity per line (``{"id", "schema", "properties": {name: [values]}}``), as
    OpenSanctions exports them. Names are ``name``, ``alias``, ``previousName`` and
    ``weakAlias``; nationalities come from ``nationality``, ``citizenship``, ``country`` and
    ``jurisdiction`` (codes); identifiers from ``idNumber``, ``passportNumber`` and the
    registry numbers. Entities of other schemata (``Sanction``, ``Address``, ...) are skipped.
    """
    kinds: dict[str, str | None] = {}
    seen: set[str] = set()
    with path.open("rb") as file:
        for line_number, raw in enumerate(iter(lambda: file.readline(FTM_LINE_MAX + 1), b""), start=1):
            field = f"{path.name}:{line_number}"
            if len(raw) > FTM_LINE_MAX:
                raise InvalidInputError(field, f"line longer than {FTM_LINE_MAX} bytes")
            if not raw.strip():
                continue
            record = _ftm_record(raw, field)
            entity = _ftm_entity(record, field, kinds)
            if entity is None:
                continue
            entity = _checked(entity, field)
            if entity.list_id in seen:
                raise InvalidInputError(field, f"duplicate entity id {entity.list_id}")
            seen.add(entity.list_id)
            yield entity
