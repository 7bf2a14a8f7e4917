"""Imported sanctions lists in the store: all or nothing, replaced whole, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tessera.errors import InvalidInputError
from tessera.rules import ImportedList, SanctionsLists
from tessera.store import Store

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "sanctions"
DATA = Path(__file__).resolve().parent / "data"
SDN_ROWS = 400  # a slice of the real file: enough for batches, quick on both backends


@pytest.fixture
def ofac_slice(tmp_path: Path) -> Path:
    """The first rows of the OFAC fixture's sdn.csv, with the alt.csv rows that belong to them."""
    if not FIXTURES.is_dir():
        pytest.skip("shared sanctions fixtures are not present")
    folder = tmp_path / "ofac"
    folder.mkdir()
    rows = (FIXTURES / "ofac" / "sdn.csv").read_text(encoding="utf-8").splitlines(keepends=True)[:SDN_ROWS]
    (folder / "sdn.csv").write_text("".join(rows), encoding="utf-8", newline="")
    kept = {row.split(",", 1)[0] for row in rows}
    aliases = (FIXTURES / "ofac" / "alt.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "alt.csv").write_text(
        "".join(a for a in aliases if a.split(",", 1)[0] in kept), encoding="utf-8", newline=""
    )
    return folder / "sdn.csv"


def _count(store: Store, table: str) -> int:
    with store.transaction() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


class TestImport:
    """An import stores every listing of a file, records it, and reads back unchanged."""

    def test_ofac__stored_and_read_back(self, store: Store, ofac_slice: Path) -> None:
        """Entities come back equal to what the parser gave, with the record of the import."""
        lists = SanctionsLists(store)
        seen: list[int] = []
        imported = lists.import_list(ofac_slice, "ofac", progress=seen.append)
        assert imported.entities == SDN_ROWS and imported.names >= SDN_ROWS
        assert seen[-1] == SDN_ROWS
        assert lists.lists() == [imported]
        stored = {e.list_id: e for e in lists.entities()}
        assert len(stored) == SDN_ROWS
        bank = stored["ofac:306"]
        assert bank.names == ("BANCO NACIONAL DE CUBA", "NATIONAL BANK OF CUBA", "BNC")

    def test_every_format(self, store: Store) -> None:
        """EU and FtM files import beside each other, each its own source."""
        lists = SanctionsLists(store)
        lists.import_list(DATA / "eu_fsf.xml", "eu")
        lists.import_list(DATA / "ftm.jsonl", "ftm")
        assert [(i.source, i.entities) for i in lists.lists()] == [("eu", 5), ("ftm", 3)]
        assert [e.source for e in lists.entities(["ftm"])] == ["ftm"] * 3

    def test_reimport__replaces_the_source(self, store: Store, ofac_slice: Path, tmp_path: Path) -> None:
        """A second import of a source leaves exactly its listings, not the union."""
        lists = SanctionsLists(store)
        lists.import_list(ofac_slice, "ofac")
        smaller = tmp_path / "small" / "sdn.csv"
        smaller.parent.mkdir()
        smaller.write_text("".join(ofac_slice.read_text().splitlines(keepends=True)[:10]), newline="")
        imported = lists.import_list(smaller, "ofac")
        assert imported.entities == 10 == _count(store, "sanctions_entities")
        assert lists.lists() == [imported]


class TestAllOrNothing:
    """A bad file changes nothing: not half a list, not an empty one."""

    def test_malformed_line__nothing_changed(self, store: Store, ofac_slice: Path, tmp_path: Path) -> None:
        """A broken row near the end names its line and leaves the previous import whole."""
        lists = SanctionsLists(store)
        before = lists.import_list(ofac_slice, "ofac")
        broken = tmp_path / "broken" / "sdn.csv"
        broken.parent.mkdir()
        broken.write_text(ofac_slice.read_text() + '99999999,"X",-0-\n', newline="")
        with pytest.raises(InvalidInputError) as caught:
            lists.import_list(broken, "ofac")
        assert caught.value.field == f"sdn.csv:{SDN_ROWS + 1}"
        assert lists.lists() == [before]
        assert _count(store, "sanctions_entities") == SDN_ROWS

    @pytest.mark.parametrize(
        ("bad_line", "message"),
        [
            ('{"id": "z", "schema": "Person", "properties": {"name": ["Vladimir\\u0000Putin"]}}', "U+0000"),
            ('{"id": "z", "schema": "Person", "properties": {"notes": ' + "[" * 5000 + "]" * 5000 + "}}", "nested"),
            ('{"id": "z", "schema": "Person", "properties": {"name": ["A"]}, "n": ' + "9" * 5000 + "}", "digits"),
        ],
    )
    def test_hostile_ftm_line__nothing_changed(self, store: Store, tmp_path: Path, bad_line: str, message: str) -> None:
        """A NUL in a name, deep nesting or a huge integer on the last line: a clear error, the old import whole."""
        lists = SanctionsLists(store)
        before = lists.import_list(DATA / "ftm.jsonl", "ftm")
        hostile = tmp_path / "hostile.jsonl"
        hostile.write_text((DATA / "ftm.jsonl").read_text().replace("NK-", "NEW-") + bad_line + "\n")
        with pytest.raises(InvalidInputError, match=re.escape(message)) as caught:
            lists.import_list(hostile, "ftm")
        assert caught.value.field.startswith("hostile.jsonl:")
        assert lists.lists() == [before]
        assert sorted(e.list_id for e in lists.entities()) == sorted(e.list_id for e in lists.entities(["ftm"]))
        assert all(not e.list_id.startswith("ftm:NEW-") for e in lists.entities())

    def test_utf16_xml__refused_nothing_changed(self, store: Store, tmp_path: Path) -> None:
        """The EU extract re-encoded as UTF-16 is refused before parsing; the UTF-8 import stays."""
        lists = SanctionsLists(store)
        before = lists.import_list(DATA / "eu_fsf.xml", "eu")
        text = (DATA / "eu_fsf.xml").read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
        utf16 = tmp_path / "eu16.xml"
        utf16.write_bytes(text.encode("utf-16"))
        with pytest.raises(InvalidInputError, match="UTF-8"):
            lists.import_list(utf16, "eu")
        assert lists.lists() == [before]

    def test_wrong_format__refused_as_empty(self, store: Store) -> None:
        """A UN parse of an EU file finds no listings: refused, not stored as an empty list."""
        with pytest.raises(InvalidInputError, match="no listings"):
            SanctionsLists(store).import_list(DATA / "eu_fsf.xml", "un")
        assert SanctionsLists(store).lists() == []

    @pytest.mark.parametrize(
        ("path", "list_format", "field"),
        [(DATA / "ftm.jsonl", "csv", "format"), (DATA / "missing.xml", "eu", "path")],
    )
    def test_bad_arguments(self, store: Store, path: Path, list_format: str, field: str) -> None:
        """An unknown list format or a missing file is refused by field before anything is read."""
        with pytest.raises(InvalidInputError) as caught:
            SanctionsLists(store).import_list(path, list_format)
        assert caught.value.field == field


def test_imported_list_is_a_record() -> None:
    """ImportedList is a frozen value."""
    record = ImportedList("eu", "x.xml", "0" * 64, 1, 1, 0)
    with pytest.raises(AttributeError):
        record.entities = 2  # type: ignore[misc]
