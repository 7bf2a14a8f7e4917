"""The sanctions list parsers as properties: generated listings written in each published format parse back
to the same entities, and mutated, truncated or hostile files parse or are refused with a code."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError, TesseraError
from tessera.rules import XML_CHUNK_BYTES, ListedEntity, parse_eu, parse_ftm, parse_ofac, parse_un
from tessera.rules.sanctions.lists import EU_NAMESPACE
from tessera.store import LISTED_NAME_MAX

# Letters of several scripts, and two decomposed ones that NFC composes (e + U+0301 is é).
UNITS = [*"abcxyzABCXYZ0189éüßñçøłĞİджлфшЖЩЯЮمحدعلي李王张ḤṢ", "e\u0301", "A\u030a"]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FORMATS = ("ofac", "un", "eu", "ftm")


def clean(text: str) -> str:
    """What a parser makes of a text: NFC, each run of whitespace one space, none at the ends."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def messy(text: str) -> str:
    """``text`` as a careless file has it: padded, with tabs and line breaks where it has spaces."""
    return " " + text.replace(" ", " \t\n ") + "\n "


def unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


@dataclass(frozen=True)
class Listing:
    """One generated listing, before any format spells it."""

    ref: str
    kind: str  # person, organisation, vessel, aircraft
    names: tuple[str, ...]
    birth_dates: tuple[str, ...]  # 1960-01-31, 1960-01 or 1960
    nationalities: tuple[str, ...]  # ISO codes
    identifiers: tuple[str, ...]
    programs: tuple[str, ...]
    remarks: str


words = st.lists(st.sampled_from(UNITS), min_size=1, max_size=6).map("".join)
texts = st.lists(words, min_size=1, max_size=3).map(" ".join)
dates = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2010, 12, 31))
birth_dates = st.one_of(dates.map(str), dates.map(lambda d: str(d)[:7]), dates.map(lambda d: str(d.year)))
listings = st.builds(
    Listing,
    ref=st.from_regex(r"[A-Z]{2}[a-z]?\.[0-9]{1,4}", fullmatch=True),
    kind=st.sampled_from(["person", "organisation", "vessel", "aircraft"]),
    names=st.lists(texts, min_size=1, max_size=4).map(tuple),
    birth_dates=st.lists(birth_dates, max_size=3).map(tuple),
    nationalities=st.lists(st.sampled_from(["RU", "IR", "KP", "SY", "CU", "AF"]), max_size=2, unique=True).map(tuple),
    identifiers=st.lists(st.from_regex(r"[A-Z0-9]{1,10}", fullmatch=True), max_size=2).map(tuple),
    programs=st.lists(st.from_regex(r"[A-Z][A-Z0-9-]{1,8}", fullmatch=True), max_size=2, unique=True).map(tuple),
    remarks=st.one_of(st.just(""), texts),
)
files = st.lists(listings, min_size=1, max_size=4, unique_by=lambda listing: listing.ref)


def _xml(root: ET.Element) -> bytes:
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def expected_entity(listing: Listing, source: str, legal_basis: str, **changes: object) -> ListedEntity:
    """The entity ``listing`` becomes in ``source``'s format; ``changes`` for what that format reads otherwise."""
    entity = ListedEntity(
        list_id=f"{source}:{listing.ref}",
        source=source,
        kind=listing.kind,
        names=unique([clean(n) for n in listing.names]),
        birth_dates=unique(list(listing.birth_dates)),
        nationalities=listing.nationalities,
        identifiers=unique(list(listing.identifiers)),
        programs=listing.programs,
        legal_basis=legal_basis,
        remarks=clean(listing.remarks),
    )
    return dataclasses.replace(entity, **changes)  # type: ignore[arg-type]


# -- OFAC SDN CSV: sdn.csv, with aliases in alt.csv and in the remarks ---------------------------------------------

OFAC_TYPES = {"person": "individual", "vessel": "vessel", "aircraft": "aircraft", "organisation": "-0- "}


def _ofac_date(date: str) -> str:
    parts = date.split("-")
    spelled = [str(int(parts[2])) if len(parts) == 3 else None, MONTHS[int(parts[1]) - 1] if len(parts) > 1 else None]
    return "DOB " + " ".join(p for p in (*spelled, parts[0]) if p)


def _ofac_remarks(listing: Listing) -> tuple[str, str]:
    """The Remarks cell, and the part of it the parser leaves in ``remarks``."""
    items = [messy(listing.remarks).rstrip()] if listing.remarks else []  # OFAC ends the cell with "."
    items += [_ofac_date(d) for d in listing.birth_dates]
    items += [f"nationality {c}" for c in listing.nationalities]
    items += [f"Passport {i}" for i in listing.identifiers]
    items += [f"a.k.a. '{messy(a)}'" for a in listing.names[1::2]]  # every other alias is a weak one
    rest = clean(listing.remarks) + ("." if len(items) == 1 else "") if listing.remarks else ""
    return ("; ".join(items) + "." if items else "-0- "), rest


def write_ofac(listings: list[Listing], folder: Path) -> Path:
    sdn, alt = io.StringIO(), io.StringIO()
    sdn_rows, alt_rows = csv.writer(sdn, lineterminator="\r\n"), csv.writer(alt, lineterminator="\r\n")
    for number, listing in enumerate(listings, start=1):
        program = "] [".join(listing.programs) or "-0- "
        remarks = _ofac_remarks(listing)[0]
        sdn_rows.writerow([number, messy(listing.names[0]), OFAC_TYPES[listing.kind], program, *["-0- "] * 7, remarks])
        for k, alias in enumerate(listing.names[2::2]):
            alt_rows.writerow([number, 100 * number + k, "aka", messy(alias), "-0- "])
    (folder / "alt.csv").write_text(alt.getvalue(), encoding="utf-8")
    (folder / "sdn.csv").write_text(sdn.getvalue() + "\x1a\r\n", encoding="utf-8")
    return folder / "sdn.csv"


def expected_ofac(listing: Listing, number: int) -> ListedEntity:
    names = [listing.names[0], *listing.names[2::2], *listing.names[1::2]]
    return expected_entity(
        listing,
        "ofac",
        "] [".join(listing.programs),
        list_id=f"ofac:{number}",
        names=unique([clean(n) for n in names]),
        remarks=_ofac_remarks(listing)[1],
    )


def parse_ofac_folder(path: Path) -> Iterator[ListedEntity]:
    alt = path.parent / "alt.csv"
    return parse_ofac(path, alt if alt.exists() else None)


# -- UN consolidated XML --------------------------------------------------------------------------------------------


def write_un(listings: list[Listing], folder: Path) -> Path:
    root = ET.Element("CONSOLIDATED_LIST")
    groups = {"person": ET.SubElement(root, "INDIVIDUALS"), "other": ET.SubElement(root, "ENTITIES")}
    for number, listing in enumerate(listings, start=1):
        person = listing.kind == "person"
        element = ET.SubElement(groups["person" if person else "other"], "INDIVIDUAL" if person else "ENTITY")
        ET.SubElement(element, "DATAID").text = str(number)
        ET.SubElement(element, "FIRST_NAME").text = messy(listing.names[0])
        if listing.programs:
            ET.SubElement(element, "UN_LIST_TYPE").text = listing.programs[0]
        ET.SubElement(element, "REFERENCE_NUMBER").text = listing.ref
        if listing.remarks:
            ET.SubElement(element, "COMMENTS1").text = messy(listing.remarks)
        for code in listing.nationalities:
            ET.SubElement(ET.SubElement(element, "NATIONALITY"), "VALUE").text = code
        for alias in listing.names[1:]:
            tag = "INDIVIDUAL_ALIAS" if person else "ENTITY_ALIAS"
            ET.SubElement(ET.SubElement(element, tag), "ALIAS_NAME").text = messy(alias)
        for date in listing.birth_dates:
            birth = ET.SubElement(element, "INDIVIDUAL_DATE_OF_BIRTH")
            ET.SubElement(birth, "YEAR" if len(date) == 4 else "DATE").text = date
        for number_text in listing.identifiers:
            ET.SubElement(ET.SubElement(element, "INDIVIDUAL_DOCUMENT"), "NUMBER").text = number_text
    path = folder / "un.xml"
    path.write_bytes(_xml(root))
    return path


def expected_un(listing: Listing, number: int) -> ListedEntity:
    list_type = listing.programs[0] if listing.programs else ""
    return expected_entity(
        listing,
        "un",
        " ".join(filter(None, ("UN Security Council", list_type, listing.ref))),
        kind="person" if listing.kind == "person" else "organisation",
        programs=unique([list_type]),
    )


def sorted_un(listings: list[Listing]) -> list[Listing]:
    """The UN file lists individuals first, then entities."""
    return sorted(listings, key=lambda listing: listing.kind != "person")


# -- EU financial sanctions file (FSF XML) ----------------------------------------------------------------------

EU_CODES = {"person": "person", "organisation": "enterprise", "vessel": "vessel", "aircraft": "aircraft"}


def write_eu(listings: list[Listing], folder: Path, namespace: bool = True) -> Path:
    root = ET.Element("export", {"xmlns": EU_NAMESPACE} if namespace else {})
    for number, listing in enumerate(listings, start=1):
        element = ET.SubElement(root, "sanctionEntity", euReferenceNumber=listing.ref, logicalId=str(number))
        if listing.remarks:
            ET.SubElement(element, "remark").text = messy(listing.remarks)
        for k, program in enumerate(listing.programs):
            ET.SubElement(element, "regulation", programme=program, numberTitle=f"2022/{k + 1}")
        ET.SubElement(element, "subjectType", code=EU_CODES[listing.kind])
        for k, name in enumerate(listing.names):
            first, _, last = name.partition(" ")
            parts = {"wholeName": messy(name)} if k % 2 == 0 or not last else {"firstName": first, "lastName": last}
            ET.SubElement(element, "nameAlias", parts)
        for date in listing.birth_dates:
            year, *rest = date.split("-")
            if len(rest) == 2:
                ET.SubElement(element, "birthdate", birthdate=date)
            else:
                ET.SubElement(element, "birthdate", dict(zip(("year", "monthOfYear"), [year, *rest], strict=False)))
        for code in listing.nationalities:
            ET.SubElement(element, "citizenship", countryIso2Code=code.lower())
        for k, identifier in enumerate(listing.identifiers):
            ET.SubElement(element, "identification", {"number" if k % 2 == 0 else "latinNumber": identifier})
    path = folder / "eu.xml"
    path.write_bytes(_xml(root))
    return path


def expected_eu(listing: Listing, number: int) -> ListedEntity:
    titles = "; ".join(f"2022/{k + 1}" for k in range(len(listing.programs)))
    return expected_entity(listing, "eu", " ".join(filter(None, ("EU", titles, listing.ref))))


# -- FollowTheMoney JSON lines ------------------------------------------------------------------------------------

FTM_SCHEMATA = {"person": "Person", "organisation": "Company", "vessel": "Vessel", "aircraft": "Airplane"}


def write_ftm(listings: list[Listing], folder: Path) -> Path:
    lines: list[str] = []
    for listing in listings:
        properties = {
            "name": [messy(listing.names[0])],
            "alias": [messy(n) for n in listing.names[1:]],
            "birthDate": list(listing.birth_dates),
            "nationality": [c.lower() for c in listing.nationalities],
            "passportNumber": list(listing.identifiers),
            "program": list(listing.programs),
            "notes": [messy(listing.remarks)] if listing.remarks else [],
        }
        record = {"id": listing.ref, "schema": FTM_SCHEMATA[listing.kind], "properties": properties}
        lines.append(json.dumps(record, ensure_ascii=len(lines) % 2 == 0) + "\n")
        lines.append(json.dumps({"id": f"{listing.ref}-s", "schema": "Sanction", "properties": {}}) + "\n\n")
    path = folder / "x.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def expected_ftm(listing: Listing, number: int) -> ListedEntity:
    return expected_entity(listing, "ftm", "; ".join(listing.programs))


Writer = Callable[[list[Listing], Path], Path]
Parser = Callable[[Path], Iterator[ListedEntity]]
SPELLINGS: dict[str, tuple[Writer, Parser, Callable[[Listing, int], ListedEntity]]] = {
    "ofac": (write_ofac, parse_ofac_folder, expected_ofac),
    "un": (write_un, parse_un, expected_un),
    "eu": (write_eu, parse_eu, expected_eu),
    "ftm": (write_ftm, parse_ftm, expected_ftm),
}


class TestRoundTrip:
    """Listings written as each publisher writes them come back as the same entities."""

    @pytest.mark.parametrize("list_format", FORMATS)
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(listings=files)
    def test_written_listings_parse_back_equal(self, list_format: str, listings: list[Listing]) -> None:
        """Non-ASCII names and aliases, partial dates, countries, documents and programmes survive a round trip."""
        write, parse, expected = SPELLINGS[list_format]
        ordered = sorted_un(listings) if list_format == "un" else listings
        with tempfile.TemporaryDirectory() as folder:
            parsed = list(parse(write(listings, Path(folder))))
        assert parsed == [expected(listing, number) for number, listing in enumerate(ordered, start=1)]

    @settings(max_examples=5, deadline=None)
    @given(listings=files)
    def test_an_eu_file_without_its_namespace__parses_the_same(self, listings: list[Listing]) -> None:
        """The EU namespace is optional: a file without it gives the same entities."""
        with tempfile.TemporaryDirectory() as folder:
            plain = list(parse_eu(write_eu(listings, Path(folder), namespace=False)))
        assert plain == [expected_eu(listing, n) for n, listing in enumerate(listings, start=1)]


# -- fuzzing: a traceback is never an answer ----------------------------------------------------------------------


def parses_or_is_refused(list_format: str, data: bytes) -> None:
    """A file of ``data`` parses whole, or is refused with a TesseraError that has a code."""
    parse = SPELLINGS[list_format][1]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / {"ofac": "sdn.csv", "un": "un.xml", "eu": "eu.xml", "ftm": "x.jsonl"}[list_format]
        path.write_bytes(data)
        try:
            entities = list(parse(path))
        except TesseraError as error:
            assert error.code != "tessera", error
        else:
            assert all(isinstance(e, ListedEntity) and e.names for e in entities)


@st.composite
def mutated_files(draw: st.DrawFn, list_format: str) -> bytes:
    """A valid file's bytes with pieces deleted, repeated, overwritten with garbage, or cut off."""
    with tempfile.TemporaryDirectory() as folder:
        data = SPELLINGS[list_format][0](draw(files), Path(folder)).read_bytes()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        size = draw(st.integers(1, 40))
        how = draw(st.sampled_from(["delete", "repeat", "garbage", "truncate", "byte"]))
        if how == "delete":
            data = data[:at] + data[at + size :]
        elif how == "repeat":
            data = data[:at] + data[at : at + size] * draw(st.integers(2, 50)) + data[at:]
        elif how == "garbage":
            data = data[:at] + draw(st.binary(min_size=1, max_size=size)) + data[at + size :]
        elif how == "byte":
            data = data[:at] + bytes([draw(st.sampled_from(b"\x00\x1a\x80\xc3\xff\"'<>&;,\n\r[]{}"))]) + data[at + 1 :]
        else:
            data = data[:at]
    return data


class TestFuzzing:
    """Whatever the bytes, each parser yields entities or raises a coded TesseraError."""

    @pytest.mark.parametrize("list_format", FORMATS)
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_mutated_files__parse_or_are_refused_with_a_code(self, list_format: str, data: st.DataObject) -> None:
        """A generated file with bytes deleted, repeated, replaced by garbage or cut off never raises a traceback."""
        mutated = data.draw(mutated_files(list_format))
        parses_or_is_refused(list_format, mutated)

    @pytest.mark.parametrize("list_format", FORMATS)
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(garbage=st.binary(max_size=300))
    def test_garbage__parses_or_is_refused_with_a_code(self, list_format: str, garbage: bytes) -> None:
        """Random bytes, with or without a plausible start, are entities or a coded refusal."""
        start = {"ofac": b"1,", "un": b"<CONSOLIDATED_LIST>", "eu": b"<export>", "ftm": b'{"id": '}[list_format]
        parses_or_is_refused(list_format, garbage)
        parses_or_is_refused(list_format, start + garbage)


EU_ONE = '<sanctionEntity logicalId="1"><subjectType code="person"/><nameAlias wholeName="{name}"/></sanctionEntity>'


def _eu_file(body: str, prolog: str = "") -> bytes:
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return (declaration + prolog + f'<export xmlns="{EU_NAMESPACE}">{body}</export>\n').encode()


class TestHostile:
    """Hostile files the hand-written tests in test_lists.py do not cover, each refused or read, never a crash."""

    @pytest.mark.parametrize(
        "name",
        [
            "&#0;",  # XML forbids U+0000 even as a reference
            "&#xD800;",  # a surrogate by reference
            "&#x110000;",  # past Unicode
            "&undefined;",  # an entity never declared
            "A&#x1b;[2J",  # an escape sequence by reference
            "A&#xFFFE;",  # a non-character XML forbids
        ],
    )
    def test_character_and_entity_references__refused_with_a_code(self, name: str) -> None:
        """References to characters XML or a list forbids, and undeclared entities, are refused naming the file."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "eu.xml"
            path.write_bytes(_eu_file(EU_ONE.format(name=name)))
            with pytest.raises(TesseraError) as caught:
                list(parse_eu(path))
        assert caught.value.code == "invalid_input"

    @pytest.mark.parametrize("split", range(1, 9))
    def test_a_doctype_across_two_reads__refused(self, split: int) -> None:
        """A DOCTYPE whose bytes straddle the boundary between two XML_CHUNK_BYTES reads is still seen and refused."""
        declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
        padding = b"<!--" + b"x" * (XML_CHUNK_BYTES - split - len(declaration) - 7) + b"-->"
        doctype = b'<!DOCTYPE export [<!ENTITY lol "lol">]>\n'
        data = declaration + padding + doctype + _eu_file(EU_ONE.format(name="&lol;"))[len(declaration) :]
        assert data[XML_CHUNK_BYTES - split : XML_CHUNK_BYTES - split + 9] == b"<!DOCTYPE"
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "eu.xml"
            path.write_bytes(data)
            with pytest.raises(TesseraError, match="document type"):
                list(parse_eu(path))

    def test_a_huge_attribute__read_whole_then_refused_by_its_length(self) -> None:
        """A 1 MiB name in one attribute spans many reads and is refused by length, naming the field and bound."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "eu.xml"
            path.write_bytes(_eu_file(EU_ONE.format(name="A" * (1024 * 1024))))
            with pytest.raises(
                InvalidInputError, match=f"names of .* is 1048576 characters, more than {LISTED_NAME_MAX}"
            ):
                list(parse_eu(path))
            path.write_bytes(_eu_file(EU_ONE.format(name="A" * LISTED_NAME_MAX)))
            (entity,) = parse_eu(path)
        assert entity.names == ("A" * LISTED_NAME_MAX,)

    @pytest.mark.parametrize(
        "cell",
        [
            b'"' + b"A" * 200_000 + b'"',  # past the csv module's field limit
            b'"NAME, A',  # a quote never closed
            b'"NA"ME"',  # a quote inside a quoted field
            b'"NA\xffME"',  # a byte that is not UTF-8
            b'"NA\xed\xa0\x80ME"',  # a surrogate spelled in UTF-8
        ],
    )
    def test_broken_csv_cells__parse_or_are_refused_with_a_code(self, cell: bytes) -> None:
        """An OFAC name past the csv field limit, an unclosed or stray quote, a byte not UTF-8: coded, never raised."""
        row = b"1," + cell + b',-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
        parses_or_is_refused("ofac", row)
