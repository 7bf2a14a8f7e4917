"""The OFAC and UN sanctions list parsers, on the real fixtures and on broken files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tessera.errors import InvalidInputError
from tessera.rules import ListedEntity, parse_ofac, parse_ofac_remarks, parse_un

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "sanctions"
OFAC = FIXTURES / "ofac"
UN_XML = FIXTURES / "un" / "consolidated.xml"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared sanctions fixtures are not present")

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
        birth_dates, nationalities, identifiers, rest = parse_ofac_remarks(remarks)
        assert birth_dates == ("1960-01-12",)
        assert nationalities == ("Iran", "Korea, North")
        assert identifiers == ("A1234", "B-56/7")
        assert rest == "POB Tehran, Iran; Gender Male."

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
