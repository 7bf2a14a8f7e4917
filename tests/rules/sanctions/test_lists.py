"""The OFAC and UN sanctions list parsers, on the real fixtures and on broken files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tessera.errors import InvalidInputError
from tessera.rules import ListedEntity, parse_eu, parse_ftm, parse_ofac, parse_ofac_remarks, parse_un
from tessera.rules.sanctions.lists import XML_DEPTH_MAX

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "sanctions"
OFAC = FIXTURES / "ofac"
UN_XML = FIXTURES / "un" / "consolidated.xml"
DATA = Path(__file__).resolve().parent / "data"

# Only the tests of the real OFAC and UN files need them; the broken-file, EU and FtM tests use their own data.
NEEDS_FIXTURES = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared sanctions fixtures are not present")

SDN_ROW = '{ent},"NAME {ent}",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="module")
def ofac() -> dict[str, ListedEntity]:
    """The OFAC fixture, parsed once, by list id."""
    parsed = list(parse_ofac(OFAC / "sdn.csv", OFAC / "alt.csv", OFAC / "add.csv"))
    return {entity.list_id: entity for entity in parsed}


@pytest.fixture(scope="module")
def un() -> dict[str, ListedEntity]:
    """The UN fixture, parsed once, by list id."""
    return {entity.list_id: entity for entity in parse_un(UN_XML)}


@NEEDS_FIXTURES
class TestOfacFixture:
    """The full OFAC snapshot parses, one entity per line of sdn.csv."""

    def test_count__matches_lines_without_eof_marker(self, ofac: dict[str, ListedEntity]) -> None:
        """Every line of sdn.csv but the final end-of-file byte is one entity."""
        lines = (OFAC / "sdn.csv").read_text(encoding="utf-8").splitlines()
        assert lines[-1] == "\x1a"
        assert len(ofac) == len(lines) - 1 == 8976

    def test_banco_nacional__has_alias_from_alt(self, ofac: dict[str, ListedEntity]) -> None:
        """Entry 306 carries its primary name first, then the alias from alt.csv."""
        bank = ofac["ofac:306"]
        assert bank.names[:2] == ("BANCO NACIONAL DE CUBA", "NATIONAL BANK OF CUBA")
        assert bank.kind == "organisation"
        assert bank.programs == ("CUBA",)

    def test_kinds__all_known(self, ofac: dict[str, ListedEntity]) -> None:
        """Every SDN_Type maps to a kind, and individuals are the largest group."""
        kinds = {entity.kind for entity in ofac.values()}
        assert kinds == {"person", "organisation", "vessel", "aircraft"}

    def test_remarks__dates_of_birth_extracted(self, ofac: dict[str, ListedEntity]) -> None:
        """Most individuals get a date of birth out of the remarks, and it leaves the remarks."""
        people = [e for e in ofac.values() if e.kind == "person"]
        with_dob = [e for e in people if e.birth_dates]
        assert len(with_dob) > 0.9 * len(people)
        assert all(re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", d) for e in with_dob for d in e.birth_dates)
        assert not any(re.search(r"(^|; )DOB \d", e.remarks) for e in people)

    def test_weak_aliases_in_remarks__become_names(self, ofac: dict[str, ListedEntity]) -> None:
        """Entry 306's remark "a.k.a. 'BNC'" is a name now, after alt.csv's, and left the remarks."""
        bank = ofac["ofac:306"]
        assert bank.names == ("BANCO NACIONAL DE CUBA", "NATIONAL BANK OF CUBA", "BNC")
        assert "a.k.a." not in bank.remarks
        assert not any(re.search(r"(^|; )[afn]\.k\.a\. '[^']*'\.?($|;)", e.remarks) for e in ofac.values())

    def test_multiple_programs__split(self, ofac: dict[str, ListedEntity]) -> None:
        """A Program cell like ``SDGT] [SYRIA`` becomes two programs."""
        assert any(len(e.programs) > 1 and "SDGT" in e.programs for e in ofac.values())


class TestOfacRemarks:
    """Dates, nationalities and documents come out of the free-text remarks."""

    @pytest.mark.parametrize(
        ("remarks", "birth_dates"),
        [
            ("DOB 12 Jan 1960.", ("1960-01-12",)),
            ("DOB 1 Mar 1955; alt. DOB 02 Apr 1956", ("1955-03-01", "1956-04-02")),
            ("DOB circa 1958", ("1958",)),
            ("DOB 1960 to 1962", ("1960", "1962")),
            ("DOB 01 Jan 1960 to 31 Dec 1962", ("1960-01-01", "1962-12-31")),
            ("DOB Sep 1971", ("1971-09",)),
        ],
    )
    def test_dob(self, remarks: str, birth_dates: tuple[str, ...]) -> None:
        """Each OFAC date form becomes ISO text, a range both its ends."""
        assert parse_ofac_remarks(remarks)[0] == birth_dates

    def test_mixed__rest_kept(self) -> None:
        """Extracted items leave the remarks; everything else stays, in order."""
        remarks = (
            "DOB 12 Jan 1960; POB Tehran, Iran; nationality Iran; citizen Korea, North; "
            "Passport A1234 (Iran) issued 01 Jan 2000; alt. Passport B-56/7; Gender Male."
        )
        parsed = parse_ofac_remarks(remarks)
        assert parsed.birth_dates == ("1960-01-12",)
        assert parsed.nationalities == ("Iran", "Korea, North")
        assert parsed.identifiers == ("A1234", "B-56/7")
        assert parsed.rest == "POB Tehran, Iran; Gender Male."
        assert parsed.aliases == ()

    @pytest.mark.parametrize(
        ("remarks", "aliases"),
        [
            ("a.k.a. 'BNC'.", ("BNC",)),
            ("a.k.a. 'PACHO'; a.k.a. 'THE CHESS PLAYER'", ("PACHO", "THE CHESS PLAYER")),
            ("f.k.a. 'ANSAR INSTITUTE'", ("ANSAR INSTITUTE",)),
            ("a.k.a. ''FOOPIE''", ("FOOPIE",)),
            ("a.k.a. 'ABU 'ABDALLAH'", ("ABU 'ABDALLAH",)),
        ],
    )
    def test_quoted_aliases(self, remarks: str, aliases: tuple[str, ...]) -> None:
        """Quoted a.k.a. and f.k.a. items are aliases; doubled quotes go, an inner ayn stays."""
        parsed = parse_ofac_remarks(remarks)
        assert (parsed.aliases, parsed.rest) == (aliases, "")

    def test_unclosed_alias__left_in_remarks(self) -> None:
        """OFAC truncates long remarks; a cut-off alias is not guessed at."""
        assert parse_ofac_remarks("a.k.a. 'snowsjo").aliases == ()

    def test_unrecognised_dob__left_in_remarks(self) -> None:
        """A date form the regex does not know is not guessed at."""
        assert parse_ofac_remarks("DOB circa 1979-1982")[::3] == ((), "DOB circa 1979-1982")


class TestOfacMalformed:
    """Broken OFAC files raise InvalidInputError naming file and line."""

    def test_wrong_column_count__names_line(self, tmp_path: Path) -> None:
        """A short row on line 3 is reported as ``sdn.csv:3``."""
        sdn = _write(tmp_path / "sdn.csv", SDN_ROW.format(ent=1) + SDN_ROW.format(ent=2) + '3,"X",-0-\r\n')
        with pytest.raises(InvalidInputError) as caught:
            list(parse_ofac(sdn))
        assert caught.value.field == "sdn.csv:3"
        assert "columns" in str(caught.value)

    def test_non_integer_ent_num(self, tmp_path: Path) -> None:
        """An ent_num that is not a number is refused."""
        sdn = _write(tmp_path / "sdn.csv", SDN_ROW.format(ent="x7"))
        with pytest.raises(InvalidInputError, match="not an integer") as caught:
            list(parse_ofac(sdn))
        assert caught.value.field == "sdn.csv:1"

    def test_duplicate_ent_num(self, tmp_path: Path) -> None:
        """The same ent_num twice is refused at the second."""
        sdn = _write(tmp_path / "sdn.csv", SDN_ROW.format(ent=5) + SDN_ROW.format(ent=5))
        with pytest.raises(InvalidInputError, match="duplicate") as caught:
            list(parse_ofac(sdn))
        assert caught.value.field == "sdn.csv:2"

    def test_alias_for_unknown_entity(self, tmp_path: Path) -> None:
        """An alias whose ent_num sdn.csv lacks names its alt.csv line."""
        sdn = _write(tmp_path / "sdn.csv", SDN_ROW.format(ent=1) + "\x1a")
        alt = _write(tmp_path / "alt.csv", '1,10,"aka","ONE",-0- \r\n99,11,"aka","GHOST",-0- \r\n')
        with pytest.raises(InvalidInputError, match="alias") as caught:
            list(parse_ofac(sdn, alt))
        assert caught.value.field == "alt.csv:2"

    def test_eof_marker__tolerated(self, tmp_path: Path) -> None:
        """The trailing DOS end-of-file byte is not a row."""
        sdn = _write(tmp_path / "sdn.csv", SDN_ROW.format(ent=1) + "\x1a")
        assert [e.list_id for e in parse_ofac(sdn)] == ["ofac:1"]


@NEEDS_FIXTURES
class TestUnFixture:
    """The full UN consolidated list parses, one entity per INDIVIDUAL or ENTITY."""

    def test_count__matches_elements(self, un: dict[str, ListedEntity]) -> None:
        """The count equals a plain count of the listing elements."""
        text = UN_XML.read_text(encoding="utf-8")
        people = len(re.findall(r"<INDIVIDUAL>", text))
        organisations = len(re.findall(r"<ENTITY>", text))
        assert (people, organisations) == (730, 273)
        kinds = [e.kind for e in un.values()]
        assert (kinds.count("person"), kinds.count("organisation")) == (people, organisations)

    def test_known_individual(self, un: dict[str, ListedEntity]) -> None:
        """KPi.033 has its name, date of birth, nationality, passport and program."""
        ri = un["un:KPi.033"]
        assert ri.names == ("RI WON HO",)
        assert ri.birth_dates == ("1964-07-17",)
        assert ri.nationalities == ("Democratic People's Republic of Korea",)
        assert ri.identifiers == ("381310014",)
        assert ri.programs == ("DPRK",)
        assert "KPi.033" in ri.legal_basis

    def test_year_only_dob(self, un: dict[str, ListedEntity]) -> None:
        """CDi.001 is listed with a birth year only."""
        assert un["un:CDi.001"].names[0] == "ERIC BADEGE"
        assert un["un:CDi.001"].birth_dates == ("1971",)


def _un(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<CONSOLIDATED_LIST>\n{body}\n</CONSOLIDATED_LIST>\n'


class TestUnMalformed:
    """Broken UN files raise InvalidInputError naming the line or element."""

    def test_broken_xml__names_line(self, tmp_path: Path) -> None:
        """A mismatched tag is reported with its line."""
        path = _write(tmp_path / "un.xml", _un("<INDIVIDUALS>\n<INDIVIDUAL><DATAID>1</INDIVIDUALS>"))
        with pytest.raises(InvalidInputError, match="mismatched") as caught:
            list(parse_un(path))
        assert caught.value.field == "un.xml:4"

    def test_missing_dataid__names_element(self, tmp_path: Path) -> None:
        """A listing without DATAID is refused, naming the element."""
        body = "<INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>A</FIRST_NAME></INDIVIDUAL>"
        body += "<INDIVIDUAL><FIRST_NAME>B</FIRST_NAME></INDIVIDUAL></INDIVIDUALS>"
        path = _write(tmp_path / "un.xml", _un(body))
        with pytest.raises(InvalidInputError, match="DATAID") as caught:
            list(parse_un(path))
        assert caught.value.field == "un.xml:/CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[2]"

    def test_doctype__refused(self, tmp_path: Path) -> None:
        """A DOCTYPE (the entity expansion attack's vehicle) is refused before parsing."""
        doctype = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
        text = _un("<ENTITIES><ENTITY><DATAID>1</DATAID><FIRST_NAME>&lol2;</FIRST_NAME></ENTITY></ENTITIES>")
        path = _write(tmp_path / "un.xml", text.replace("\n", "\n" + doctype, 1))
        with pytest.raises(InvalidInputError, match="document type"):
            list(parse_un(path))

    def test_small_entity__parsed(self, tmp_path: Path) -> None:
        """An entity with an alias in a small file comes out whole."""
        body = (
            "<ENTITIES><ENTITY><DATAID>7</DATAID><FIRST_NAME> ACME  </FIRST_NAME>"
            "<UN_LIST_TYPE>Al-Qaida</UN_LIST_TYPE><REFERENCE_NUMBER>QDe.999</REFERENCE_NUMBER>"
            "<ENTITY_ALIAS><ALIAS_NAME>ACME CO</ALIAS_NAME></ENTITY_ALIAS></ENTITY></ENTITIES>"
        )
        (entity,) = parse_un(_write(tmp_path / "un.xml", _un(body)))
        assert (entity.list_id, entity.kind, entity.names) == ("un:QDe.999", "organisation", ("ACME", "ACME CO"))


@pytest.fixture(scope="module")
def eu() -> dict[str, ListedEntity]:
    """The EU extract, parsed once, by list id."""
    return {entity.list_id: entity for entity in parse_eu(DATA / "eu_fsf.xml")}


class TestEu:
    """The EU Financial Sanctions Files export (FSF XML 1.1), on a small extract in its shape."""

    def test_every_sanction_entity__parsed(self, eu: dict[str, ListedEntity]) -> None:
        """Five listings, keyed by their EU reference number."""
        assert sorted(eu) == ["eu:EU.27.28", "eu:EU.2711.19", "eu:EU.3981.72", "eu:EU.4721.11", "eu:EU.6500.85"]
        assert eu["eu:EU.4721.11"].kind == "organisation"

    def test_person__names_dates_citizenship_programme(self, eu: dict[str, ListedEntity]) -> None:
        """Every nameAlias is a name (the Cyrillic one too); citizenship gives the ISO code."""
        putin = eu["eu:EU.6500.85"]
        assert putin.names == ("Vladimir Vladimirovich PUTIN", "Владимир Владимирович ПУТИН")
        assert putin.birth_dates == ("1952-10-07",)
        assert putin.nationalities == ("RU",)
        assert putin.programs == ("UKR",)
        assert "2022/332" in putin.legal_basis
        assert putin.remarks == "President of the Russian Federation."

    def test_name_from_parts__partial_dates__documents(self, eu: dict[str, ListedEntity]) -> None:
        """No wholeName: first, middle and last joined; a date from its parts; number or latinNumber."""
        zawahiri = eu["eu:EU.2711.19"]
        assert zawahiri.names[0] == "Aiman Muhammed Rabi al-Zawahiri"
        assert zawahiri.birth_dates == ("1951-06-19",)
        assert zawahiri.identifiers == ("1084010", "19820")

    def test_year_span_and_month__unknown_country_dropped(self, eu: dict[str, ListedEntity]) -> None:
        """yearRangeFrom/To give both years, year and month give YYYY-MM; country 00 is unknown."""
        baqi = eu["eu:EU.3981.72"]
        assert baqi.birth_dates == ("1962", "1963", "1965-03")
        assert baqi.nationalities == ("AF",)

    def test_no_namespace__same_result(self, tmp_path: Path) -> None:
        """The namespace is optional: a file without it parses the same."""
        text = (
            (DATA / "eu_fsf.xml").read_text(encoding="utf-8").replace(' xmlns="http://eu.europa.ec/fpi/fsd/export"', "")
        )
        plain = list(parse_eu(_write(tmp_path / "eu.xml", text)))
        assert plain == list(parse_eu(DATA / "eu_fsf.xml"))


def _eu(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<export xmlns="http://eu.europa.ec/fpi/fsd/export">\n{body}\n</export>\n'


class TestEuMalformed:
    """Broken EU files raise InvalidInputError naming the line or element."""

    def test_broken_xml__names_line(self, tmp_path: Path) -> None:
        """Truncated EU XML is refused naming the file and the line where parsing stopped."""
        path = _write(tmp_path / "eu.xml", _eu('<sanctionEntity logicalId="1">\n<nameAlias wholeName="A">'))
        with pytest.raises(InvalidInputError) as caught:
            list(parse_eu(path))
        assert caught.value.field.startswith("eu.xml:")

    def test_unknown_subject_type__names_element(self, tmp_path: Path) -> None:
        """A subject type the file format does not have is refused, naming the second listing."""
        good = '<sanctionEntity logicalId="1"><subjectType code="person"/><nameAlias wholeName="A B"/></sanctionEntity>'
        bad = '<sanctionEntity logicalId="2"><subjectType code="robot"/><nameAlias wholeName="C D"/></sanctionEntity>'
        with pytest.raises(InvalidInputError, match="robot") as caught:
            list(parse_eu(_write(tmp_path / "eu.xml", _eu(good + bad))))
        assert caught.value.field == "eu.xml:/export/sanctionEntity[2]/subjectType"

    def test_no_name__refused(self, tmp_path: Path) -> None:
        """An EU entity with only an empty name alias is refused naming its element path."""
        body = '<sanctionEntity logicalId="1"><subjectType code="person"/><nameAlias wholeName=""/></sanctionEntity>'
        with pytest.raises(InvalidInputError, match="no nameAlias") as caught:
            list(parse_eu(_write(tmp_path / "eu.xml", _eu(body))))
        assert caught.value.field == "eu.xml:/export/sanctionEntity[1]"

    def test_doctype__refused(self, tmp_path: Path) -> None:
        """An EU file declaring a document type (the road to entity expansion) is refused."""
        doctype = '<!DOCTYPE export [<!ENTITY x "x">]>\n'
        path = _write(tmp_path / "eu.xml", _eu("").replace("\n", "\n" + doctype, 1))
        with pytest.raises(InvalidInputError, match="document type"):
            list(parse_eu(path))


class TestFtm:
    """FollowTheMoney JSON lines, as OpenSanctions exports them."""

    def test_fixture__screened_schemata_only(self) -> None:
        """Person, Company and Vessel come out; Sanction and Address are skipped, blank lines too."""
        parsed = {e.list_id: e for e in parse_ftm(DATA / "ftm.jsonl")}
        assert sorted(e.kind for e in parsed.values()) == ["organisation", "person", "vessel"]
        bout = parsed["ftm:NK-2fPv8Y3nPTrWwbyKRvHnXq"]
        assert bout.names == ("Viktor Anatolyevich BOUT", "Виктор Анатольевич Бут", "Victor BUTT", "Merchant of Death")
        assert (bout.birth_dates, bout.nationalities, bout.identifiers) == (("1967-01-13",), ("RU",), ("21N0532664",))
        assert bout.programs == ("SDGT",)
        assert parsed["ftm:NK-vessel-1"].nationalities == ("IR",)

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("{not json", "not JSON"),
            ("[1, 2]", "JSON object"),
            ('{"schema": "Person", "properties": {"name": ["A"]}}', "'id'"),
            ('{"id": "x", "schema": "Wizard", "properties": {}}', "unknown FollowTheMoney schema"),
            ('{"id": "x", "schema": "Person", "properties": {"name": "A"}}', "list of strings"),
            ('{"id": "x", "schema": "Person", "properties": {"alias": []}}', "no name"),
        ],
    )
    def test_malformed_line__names_file_and_line(self, tmp_path: Path, line: str, message: str) -> None:
        """The third line is at fault, and the error says so: ``x.jsonl:3``."""
        good = '{"id": "a%d", "schema": "Person", "properties": {"name": ["A B"]}}\n'
        path = _write(tmp_path / "x.jsonl", good % 1 + good % 2 + line + "\n")
        with pytest.raises(InvalidInputError, match=message) as caught:
            list(parse_ftm(path))
        assert caught.value.field == "x.jsonl:3"

    def test_duplicate_id__refused(self, tmp_path: Path) -> None:
        """The same entity id twice in an FtM file is refused at the second line, not silently merged."""
        line = '{"id": "a", "schema": "Company", "properties": {"name": ["A"]}}\n'
        with pytest.raises(InvalidInputError, match="duplicate") as caught:
            list(parse_ftm(_write(tmp_path / "x.jsonl", line + line)))
        assert caught.value.field == "x.jsonl:2"


def _ftm_line(name: str, **properties: object) -> str:
    return json.dumps({"id": "x", "schema": "Person", "properties": {"name": [name], **properties}})


GOOD_FTM = '{"id": "a%d", "schema": "Person", "properties": {"name": ["A B"]}}\n'
# The billion laughs, small: what the DOCTYPE check keeps out, however the file is encoded.
LAUGHS = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
UN_LAUGHS = (
    "<CONSOLIDATED_LIST><ENTITIES><ENTITY><DATAID>1</DATAID><FIRST_NAME>&lol2;</FIRST_NAME>"
    "</ENTITY></ENTITIES></CONSOLIDATED_LIST>\n"
)


class TestHostileFtm:
    """JSON lines built to crash or slow the parser get a clear error naming the line, never a traceback."""

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            (_ftm_line("A", notes=json.loads("[" * 20 + "]" * 20)), "nested more than 16 deep"),
            (
                '{"id": "x", "schema": "Person", "properties": {"notes": ' + "[" * 100_000 + "]" * 100_000 + "}}",
                "nested",
            ),
            ('{"id": "x", "schema": "Person", "properties": {"name": ["A"]}, "n": ' + "9" * 5000 + "}", "digits"),
            ('{"id": "x", "schema": "Person", "properties": {"name": ["A"]}, "n": ' + "9" * 40 + "}", "digits"),
            (_ftm_line("Vladimir\x00Putin"), "control character U+0000"),
            (_ftm_line("Vladimir \x1b[2JPutin"), "control character U+001B"),
            (_ftm_line("Vladimir \x9bPutin"), "control character U+009B"),
            ('{"id": "x", "schema": "Person", "properties": {"name": ["Putin\\ud800"]}}', "U+D800"),
            (_ftm_line("\u200b\u3164"), "no name with a letter"),
        ],
    )
    def test_refused__names_the_line(self, tmp_path: Path, line: str, message: str) -> None:
        """Deep nesting, huge numbers, control characters, lone surrogates and nameless lines are refused by line."""
        path = _write(tmp_path / "x.jsonl", GOOD_FTM % 1 + GOOD_FTM % 2 + line + "\n")
        with pytest.raises(InvalidInputError, match=re.escape(message)) as caught:
            list(parse_ftm(path))
        assert caught.value.field == "x.jsonl:3"

    def test_nesting_up_to_the_limit_and_short_integers__read(self, tmp_path: Path) -> None:
        """Numbers and nesting an entity could have are still read (and ignored)."""
        line = _ftm_line("A", notes=["n"]).replace("{", '{"n": 12345, "f": 1.5, "deep": [[[[[]]]]], ', 1)
        (entity,) = parse_ftm(_write(tmp_path / "x.jsonl", line + "\n"))
        assert entity.names == ("A",)

    def test_whitespace_inside_a_name__one_space(self, tmp_path: Path) -> None:
        """Line breaks and tabs are whitespace, not controls: made one space each run."""
        (entity,) = parse_ftm(_write(tmp_path / "x.jsonl", _ftm_line("Vladimir\n\t Putin") + "\n"))
        assert entity.names == ("Vladimir Putin",)

    def test_invisible_characters__kept_as_given(self, tmp_path: Path) -> None:
        """A zero-width space is stored as the list gives it; screening folds it."""
        (entity,) = parse_ftm(_write(tmp_path / "x.jsonl", _ftm_line("Vladimir Pu\u200btin") + "\n"))
        assert entity.names == ("Vladimir Pu\u200btin",)


class TestHostileXml:
    """XML built to slow the parser or slip an entity declaration past the check is refused."""

    def test_deep_nesting__refused(self, tmp_path: Path) -> None:
        """Elements nested past XML_DEPTH_MAX are refused at once: the work per element stays bounded."""
        body = "<X>" * 100_000 + "</X>" * 100_000
        path = _write(tmp_path / "un.xml", _un(f"<INDIVIDUALS>{body}</INDIVIDUALS>"))
        with pytest.raises(InvalidInputError, match=f"nested more than {XML_DEPTH_MAX} deep") as caught:
            list(parse_un(path))
        assert caught.value.field == "un.xml"

    def test_nesting_up_to_the_limit__read(self, tmp_path: Path) -> None:
        """XML nested just within the depth limit is still read: the bound refuses attacks, not lists."""
        depth = XML_DEPTH_MAX - 5  # CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL/COMMENTS1 and the X's inside
        body = "<COMMENTS1>" + "<X>" * depth + "</X>" * depth + "</COMMENTS1>"
        text = f"<INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>A</FIRST_NAME>{body}</INDIVIDUAL></INDIVIDUALS>"
        (entity,) = parse_un(_write(tmp_path / "un.xml", _un(text)))
        assert entity.names == ("A",)

    @pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
    def test_utf16_and_utf32__refused_before_parsing(self, tmp_path: Path, encoding: str) -> None:
        """With or without a byte-order mark, a DOCTYPE in UTF-16 or UTF-32 never reaches the parser."""
        declaration = f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
        path = tmp_path / "un.xml"
        path.write_bytes((declaration + LAUGHS + UN_LAUGHS).encode(encoding))
        with pytest.raises(InvalidInputError, match="UTF-8") as caught:
            list(parse_un(path))
        assert caught.value.field == "un.xml"

    @pytest.mark.parametrize("encoding", ["cp500", "ISO-8859-1", "UTF-7", "UTF 8"])
    def test_other_declared_encodings__refused(self, tmp_path: Path, encoding: str) -> None:
        """An EBCDIC file spells DOCTYPE in other bytes: any declared encoding but UTF-8 or ASCII is refused."""
        declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n'
        body = LAUGHS + UN_LAUGHS
        path = tmp_path / "un.xml"
        path.write_bytes(declaration.encode("ascii") + (body.encode("cp500") if encoding == "cp500" else body.encode()))
        with pytest.raises(InvalidInputError, match="must be UTF-8: it declares") as caught:
            list(parse_un(path))
        assert caught.value.field == "un.xml"

    @pytest.mark.parametrize("start", ["\ufeff", '<?xml version="1.0" encoding="us-ascii"?>\n', ""])
    def test_utf8_with_a_bom_ascii_or_no_declaration__read(self, tmp_path: Path, start: str) -> None:
        """A UN file with a BOM, an ASCII declaration or no declaration at all reads the same."""
        body = "<INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>A</FIRST_NAME></INDIVIDUAL></INDIVIDUALS>"
        text = _un(body).replace('<?xml version="1.0" encoding="UTF-8"?>\n', start)
        (entity,) = parse_un(_write(tmp_path / "un.xml", text))
        assert entity.names == ("A",)

    @pytest.mark.parametrize(("reference", "code"), [("&#x9b;", "U+009B"), ("&#x7f;", "U+007F")])
    def test_control_character_in_a_name__refused(self, tmp_path: Path, reference: str, code: str) -> None:
        """XML allows the C1 controls and DEL; a list refuses them, naming the element and the field."""
        body = f"<INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>A{reference}B</FIRST_NAME></INDIVIDUAL>"
        path = _write(tmp_path / "un.xml", _un(body + "</INDIVIDUALS>"))
        with pytest.raises(
            InvalidInputError, match=re.escape(f"names of un:1 has the control character {code}")
        ) as caught:
            list(parse_un(path))
        assert caught.value.field == "un.xml:/CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[1]"

    def test_line_breaks_in_a_name__one_space(self, tmp_path: Path) -> None:
        """Line breaks and NEL inside a name fold to single spaces, so screening sees one name."""
        body = "<INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>A\n   B&#x85;C</FIRST_NAME></INDIVIDUAL>"
        (entity,) = parse_un(_write(tmp_path / "un.xml", _un(body + "</INDIVIDUALS>")))
        assert entity.names == ("A B C",)


class TestHostileOfac:
    @pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f"])
    def test_control_character_in_a_name__refused(self, tmp_path: Path, control: str) -> None:
        """A NUL in a listed name is refused with its line, not imported."""
        sdn = _write(
            tmp_path / "sdn.csv", SDN_ROW.format(ent=1) + SDN_ROW.format(ent=2).replace("NAME", f"NA{control}ME")
        )
        with pytest.raises(InvalidInputError, match=f"U\\+{ord(control):04X}") as caught:
            list(parse_ofac(sdn))
        assert caught.value.field == "sdn.csv:2"

    def test_control_character_in_an_alias__names_the_alias_line(self, tmp_path: Path) -> None:
        """A NUL in an OFAC alias is refused naming alt.csv and the alias's line, not the entity's."""
        sdn = _write(tmp_path / "sdn.csv", SDN_ROW.format(ent=1))
        alt = _write(tmp_path / "alt.csv", '1,10,"aka","ONE",-0- \r\n1,11,"aka","T\x00WO",-0- \r\n')
        with pytest.raises(InvalidInputError, match="U\\+0000") as caught:
            list(parse_ofac(sdn, alt))
        assert caught.value.field == "alt.csv:2"
