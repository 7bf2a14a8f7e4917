"""tessera sanctions: import lists from files, screen names, and refuse bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tessera.audit import AccessLog
from tessera.cli.main import app
from tessera.identity import Registry
from tessera.rules import SCREEN_THRESHOLD, SanctionsLists
from tessera.store import Store, screening_hits

runner = CliRunner()
DATA = Path(__file__).resolve().parents[1] / "rules" / "sanctions" / "data"
UN_XML = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "sanctions" / "un" / "consolidated.xml"


def _import(data: Path, file: Path, list_format: str) -> None:
    result = runner.invoke(app, ["sanctions", "import", str(file), "--format", list_format, "--data", str(data)])
    assert result.exit_code == 0, result.output


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory with the EU extract and the FtM sample imported."""
    _import(tmp_path, DATA / "eu_fsf.xml", "eu")
    _import(tmp_path, DATA / "ftm.jsonl", "ftm")
    return tmp_path


def test_import__counts_on_stdout_progress_on_stderr(tmp_path: Path) -> None:
    """An import prints its counts as JSON on stdout and its progress on stderr, so scripts can parse one."""
    result = runner.invoke(
        app, ["sanctions", "import", str(DATA / "eu_fsf.xml"), "--format", "eu", "--data", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["source"], report["entities"], report["names"]) == ("eu", 5, 9)
    assert "importing eu_fsf.xml" in result.stderr and "imported 5 listings" in result.stderr


@pytest.mark.skipif(not UN_XML.is_file(), reason="shared sanctions fixtures are not present")
def test_import__real_un_list(tmp_path: Path) -> None:
    """The real UN consolidated list imports whole: all 1003 listings are on record."""
    _import(tmp_path, UN_XML, "un")
    with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
        assert [(i.source, i.entities) for i in SanctionsLists(store).lists()] == [("un", 1003)]


def test_import__malformed_file_names_the_line_and_imports_nothing(data: Path, tmp_path: Path) -> None:
    """A broken third line fails the import; the earlier FtM import is still there, whole."""
    broken = tmp_path / "broken.jsonl"
    good = '{"id": "a%d", "schema": "Person", "properties": {"name": ["A B"]}}\n'
    broken.write_text(good % 1 + good % 2 + "{oops\n")
    result = runner.invoke(app, ["sanctions", "import", str(broken), "--format", "ftm", "--data", str(data)])
    assert result.exit_code == 1
    assert "broken.jsonl:3" in result.stderr and "Traceback" not in result.output
    with Store.open(f"sqlite:///{data / 'registry.db'}") as store:
        assert {i.source: i.entities for i in SanctionsLists(store).lists()} == {"eu": 5, "ftm": 3}


def test_import__unknown_format_is_refused(tmp_path: Path) -> None:
    """An unknown --format is a usage error (exit 2), not a guess at the file's shape."""
    result = runner.invoke(app, ["sanctions", "import", str(DATA / "ftm.jsonl"), "--format", "csv"])
    assert result.exit_code == 2


def test_screen__json_contract(data: Path) -> None:
    """A Cyrillic spelling finds the listing; scores in 0..1, alerts first, the threshold given."""
    result = runner.invoke(
        app,
        ["sanctions", "screen", "--name", "Виктор Бут", "--birth-date", "1967-01-13", "--data", str(data), "--json"],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["threshold"] == SCREEN_THRESHOLD
    first = answer["matches"][0]
    assert set(answer) == {"query", "matches", "threshold"} and answer["query"] == "Виктор Бут"
    assert set(first) == {"list_id", "name", "score", "programmes", "features"}
    assert first["list_id"] == "ftm:NK-2fPv8Y3nPTrWwbyKRvHnXq" and first["score"] >= SCREEN_THRESHOLD
    assert first["features"]["birth_date"] > 0
    scores = [m["score"] for m in answer["matches"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_screen__file_one_line_per_row_in_order(data: Path, tmp_path: Path) -> None:
    """Screening a CSV prints one JSON line per row, in order, with the listing each one matched."""
    names = tmp_path / "names.csv"
    names.write_text("name,birth_date,country\nVladimir Putin,1952-10-07,RU\nJohn Smith,,\nSaddam Hussein,,IQ\n")
    result = runner.invoke(app, ["sanctions", "screen", "--file", str(names), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [bool(line["matches"]) for line in lines] == [True, False, True]
    assert lines[0]["matches"][0]["list_id"] == "eu:EU.6500.85"
    assert lines[2]["matches"][0]["list_id"] == "eu:EU.27.28"


def test_screen__file_json_echoes_each_line_and_name_with_the_programme(data: Path, tmp_path: Path) -> None:
    """Each JSON line says which file line and name it answers, and each match names its listing's programmes."""
    names = tmp_path / "names.csv"
    names.write_text("name,birth_date,country\nVladimir Putin,1952-10-07,RU\n\nJohn Smith,,\n")
    result = runner.invoke(app, ["sanctions", "screen", "--file", str(names), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["line"], line["query"]) for line in lines] == [(2, "Vladimir Putin"), (4, "John Smith")]
    assert lines[0]["matches"][0]["programmes"] == ["UKR"]


def test_screen__file_without_json_is_a_table_echoing_each_query(data: Path, tmp_path: Path) -> None:
    """Without --json: a header row, then per query its line, name, score, listing, listed name and programme."""
    names = tmp_path / "names.csv"
    names.write_text("name,birth_date,country\nVladimir Putin,1952-10-07,RU\nJohn Smith,,\n")
    result = runner.invoke(app, ["sanctions", "screen", "--file", str(names), "--data", str(data), "--limit", "1"])
    assert result.exit_code == 0, result.output
    header, putin, smith = result.stdout.splitlines()
    assert header.split() == ["line", "query", "score", "listing", "listed", "name", "programme"]
    assert putin.split()[:4] == ["2", "Vladimir", "Putin", "0.98*"]
    assert "eu:EU.6500.85" in putin and "Vladimir Vladimirovich PUTIN" in putin and putin.endswith("UKR")
    assert smith.split() == ["3", "John", "Smith", "no", "match"]
    assert "alert threshold" in result.stderr and "{" not in result.stdout


# The listed name as an evader writes it: each shows as "Vladimir Putin".
DISGUISED_PUTIN = [
    "Vladimir Pu\u200btin",  # a zero-width space
    "Vladi\u00admir Pu\u00adtin",  # soft hyphens
    "Vladimir P\U000e0041\U000e007futin",  # tag characters
    "Vla\u3164dimir Pu\u115ftin",  # Hangul fillers
    "Vladimir Pu\u2060tin\ufe0f",  # a word joiner, a variation selector
    "Vladimir \u0420u\u0442in",  # a Cyrillic Er and Te in a Latin word
]


@pytest.mark.parametrize("name", DISGUISED_PUTIN)
def test_screen__name_with_invisible_characters_or_look_alikes_is_found(data: Path, name: str) -> None:
    """A listed name disguised with invisible characters or look-alike letters is still found above threshold."""
    result = runner.invoke(app, ["sanctions", "screen", "--name", name, "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)["matches"][0]
    assert first["list_id"] == "eu:EU.6500.85" and first["score"] >= SCREEN_THRESHOLD


def test_screen__file_with_invisible_characters_finds_every_line(data: Path, tmp_path: Path) -> None:
    """Every disguised name in a file is found, line by line, as on the command line."""
    names = tmp_path / "names.csv"
    names.write_text("name\n" + "".join(f"{name}\n" for name in DISGUISED_PUTIN), encoding="utf-8")
    result = runner.invoke(app, ["sanctions", "screen", "--file", str(names), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["matches"][0]["list_id"] for line in lines] == ["eu:EU.6500.85"] * len(DISGUISED_PUTIN)


def test_screen__a_listing_imported_with_a_zero_width_space_is_found_by_its_plain_name(tmp_path: Path) -> None:
    """A listing whose name hides a zero-width space and soft hyphen is found under its plain spelling."""
    listed = tmp_path / "listed.jsonl"
    listing = {"id": "x1", "schema": "Person", "properties": {"name": ["Cyprian Pe\u200bcher\u00adsky"]}}
    listed.write_text(json.dumps(listing) + "\n")
    _import(tmp_path, listed, "ftm")
    result = runner.invoke(
        app, ["sanctions", "screen", "--name", "Cyprian Pechersky", "--data", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matches"][0]["list_id"] == "ftm:x1"


@pytest.mark.parametrize(
    "text",
    [
        "Vladimir Putin,1952-10-07,RU\nJohn Smith,,\nSaddam Hussein,,IQ\n",  # no header: the columns in order
        "\ufeffcountry,name\nRU,Vladimir Putin\n\n,John Smith\nIQ,Saddam Hussein\n",  # a BOM, any order, a blank line
    ],
)
def test_screen__file_without_a_header_or_with_its_columns_reordered(data: Path, tmp_path: Path, text: str) -> None:
    """A file without a header, or with a BOM, reordered columns and a blank line, screens the same."""
    names = tmp_path / "names.csv"
    names.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["sanctions", "screen", "--file", str(names), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["matches"][0]["list_id"] if line["matches"] else None for line in lines] == [
        "eu:EU.6500.85",
        None,
        "eu:EU.27.28",
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name,birth_date,country\n\nVladimir Putin,,\nJohn Smith,1980-02-31,\n", "names.csv:4.birth_date"),
        ("name,nickname\nVladimir Putin,Vova\n", "names.csv:1"),
        ("\nname,nickname\nVladimir Putin,Vova\n", "names.csv:2"),  # the header may follow a blank line
        ("name,name\nVladimir Putin,Vova\n", "names.csv:1"),
        ("Vladimir Putin,1952-10-07,RU,extra\n", "names.csv:1"),
    ],
)
def test_screen__bad_file_names_its_line_even_after_a_blank_one(
    data: Path, tmp_path: Path, text: str, where: str
) -> None:
    """A bad date, unknown or repeated column, or extra field fails naming the file's line, blanks counted."""
    names = tmp_path / "names.csv"
    names.write_text(text)
    result = runner.invoke(app, ["sanctions", "screen", "--file", str(names), "--data", str(data)])
    assert result.exit_code == 1 and where in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--name", "Putin", "--birth-date", "1952-13-07"], "--birth-date"),
        (["--name", "Putin", "--country", "Russia"], "--country"),
        (["--name", "   "], "--name"),
        (["--name", "\u200b\u3164\u2060"], "--name"),  # invisible characters only
        ([], "name"),
    ],
)
def test_screen__bad_input_is_one_line(data: Path, args: list[str], field: str) -> None:
    """Bad options print one error line naming the option, no traceback and nothing on stdout."""
    result = runner.invoke(app, ["sanctions", "screen", *args, "--data", str(data), "--json"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error [invalid_input]: " + field) and "Traceback" not in result.output
    assert result.stdout == ""


def test_screen__bad_row_in_file_names_its_line(data: Path, tmp_path: Path) -> None:
    """An impossible birth date in a file fails naming the line and column, and prints no partial results."""
    names = tmp_path / "names.csv"
    names.write_text("name,birth_date,country\nVladimir Putin,,\nJohn Smith,1980-02-31,\n")
    result = runner.invoke(app, ["sanctions", "screen", "--file", str(names), "--data", str(data)])
    assert result.exit_code == 1 and "names.csv:3.birth_date" in result.stderr and result.stdout == ""


def test_screen__no_list_imported(tmp_path: Path) -> None:
    """Screening before any list is imported fails as not found rather than matching nothing."""
    result = runner.invoke(app, ["sanctions", "screen", "--name", "Anyone", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "error [not_found]" in result.stderr


class TestImportScreensRegisteredPeople:
    """An import screens the people already registered against its new and changed listings, with progress."""

    @staticmethod
    def _register(data: Path, *people: tuple[str, str]) -> list[str]:
        with Store.open(f"sqlite:///{data / 'registry.db'}") as store:
            registry = Registry(store)
            return [
                registry.create_person({"name": name, "birth_date": born, "sex": "M"}, station="x").number
                for name, born in people
            ]

    def test_progress_and_summary_on_stderr_counts_on_stdout(self, tmp_path: Path) -> None:
        """Viktor Bout, registered before the list, is a hit; stderr shows the count of people, percent and summary."""
        (bout, _) = self._register(tmp_path, ("Viktor Bout", "1967-01-13"), ("Amara Tindall", "1980-01-01"))
        args = ["sanctions", "import", str(DATA / "ftm.jsonl"), "--format", "ftm", "--data", str(tmp_path)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "3 new, 0 changed, 0 removed" in result.stderr
        assert "screening 2 registered people against 3 new or changed ftm listings" in result.stderr
        assert "2 of 2 people (100%), 1 hit" in result.stderr
        assert "screened 2 people against 3 ftm listings (3 new, 0 changed, 0 removed): 1 hit recorded" in result.stderr
        report = json.loads(result.stdout)
        assert report["listings"] == {"new": 3, "changed": 0, "removed": 0}
        assert report["screening"]["lists"] == [
            {"source": "ftm", "listings": 3, "people": 2, "hits": 1, "finished": True}
        ]
        with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store, store.transaction() as conn:
            hits = conn.execute(select(screening_hits.c.subject, screening_hits.c.list_id, screening_hits.c.context))
            assert hits.all() == [(bout, "ftm:NK-2fPv8Y3nPTrWwbyKRvHnXq", "import")]

    def test_the_same_file_again__nobody_screened(self, tmp_path: Path) -> None:
        """A re-import of an unchanged list says there is nothing to screen and records nothing."""
        self._register(tmp_path, ("Viktor Bout", "1967-01-13"))
        args = ["sanctions", "import", str(DATA / "ftm.jsonl"), "--format", "ftm", "--data", str(tmp_path)]
        assert runner.invoke(app, args).exit_code == 0
        again = runner.invoke(app, args)
        assert again.exit_code == 0, again.output
        assert "no new or changed listings to screen" in again.stderr
        assert json.loads(again.stdout)["screening"] == {"lists": []}

    def test_no_screen_then_rescreen(self, tmp_path: Path) -> None:
        """--no-screen leaves the screening owed; tessera sanctions rescreen does it."""
        self._register(tmp_path, ("Viktor Bout", "1967-01-13"))
        args = ["sanctions", "import", str(DATA / "ftm.jsonl"), "--format", "ftm", "--data", str(tmp_path)]
        imported = runner.invoke(app, [*args, "--no-screen"])
        assert imported.exit_code == 0 and "screening" not in json.loads(imported.stdout)
        result = runner.invoke(app, ["sanctions", "rescreen", "--data", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["lists"][0]["hits"] == 1

    def test_while_a_server_holds_the_access_log__the_server_screens(self, tmp_path: Path) -> None:
        """The CLI never writes the log behind its holder's back: it imports, says so, and leaves the screening owed."""
        self._register(tmp_path, ("Viktor Bout", "1967-01-13"))
        args = ["sanctions", "import", str(DATA / "ftm.jsonl"), "--format", "ftm", "--data", str(tmp_path)]
        with AccessLog.open(tmp_path / "audit"):
            result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "a running tessera serve holds" in result.stderr
        assert json.loads(result.stdout)["screening"] == {"by": "server"}
        with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as store:
            assert [i.owed for i in SanctionsLists(store).lists()] == [3]
