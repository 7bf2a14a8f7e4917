"""Approved product lists: imported whole from CSV as versions, every line checked, nothing half-written."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tessera.auth import Principal, Role
from tessera.errors import ConflictError, InvalidInputError, NotFoundError, TesseraError
from tessera.programs import COLUMNS, ApprovedProduct, ProductLists, example_programmes, parse_product_list
from tessera.store import Store, product_list_items, product_lists

HEADER = ",".join(COLUMNS) + "\n"
RICE = HEADER + "RICE-5KG,Rice 5 kg bag,bag,rice,5000\nRICE-1KG,Rice 1 kg bag,bag,rice,1000\n"


@pytest.fixture
def officer(store: Store) -> Principal:
    return store.create_principal("officer", Role.officer, agency="central-bank")


@pytest.fixture
def lists(store: Store) -> ProductLists:
    return ProductLists(store)


def _counts(store: Store) -> list[int]:
    with store.transaction() as conn:
        return [conn.scalar(select(func.count()).select_from(t)) or 0 for t in (product_lists, product_list_items)]


class TestImport:
    def test_a_list_is_imported_as_version_one_with_its_digest(
        self, lists: ProductLists, officer: Principal, store: Store
    ) -> None:
        """An import records who, when, how many and the file's SHA-256; its products read back by code."""
        made = lists.import_list("rice_ration", RICE.encode(), officer)
        assert (made.version, made.products, made.imported_by) == (1, 2, officer.id)
        assert made.digest == hashlib.sha256(RICE.encode()).hexdigest()
        assert lists.version("rice_ration") == made
        assert lists.products("rice_ration") == [
            ApprovedProduct("RICE-1KG", "Rice 1 kg bag", "bag", "rice", 1000),
            ApprovedProduct("RICE-5KG", "Rice 5 kg bag", "bag", "rice", 5000),
        ]

    def test_a_new_import_replaces_the_list_whole_and_the_old_stays_readable(
        self, lists: ProductLists, officer: Principal
    ) -> None:
        """Version 2 is in force alone: a product only version 1 had is off the list, yet version 1 reads back."""
        lists.import_list("rice_ration", RICE.encode(), officer)
        lists.import_list("rice_ration", (HEADER + "RICE-2KG,Rice 2 kg,bag,rice,2000\n").encode(), officer)
        assert [v.version for v in lists.versions("rice_ration")] == [2, 1]
        assert lists.lookup("rice_ration", "RICE-5KG") is None
        assert lists.lookup("rice_ration", "RICE-2KG") == ApprovedProduct("RICE-2KG", "Rice 2 kg", "bag", "rice", 2000)
        assert [p.code for p in lists.products("rice_ration", 1)] == ["RICE-1KG", "RICE-5KG"]

    def test_a_product_looked_up_is_not_served_once_a_new_list_drops_it(
        self, lists: ProductLists, officer: Principal
    ) -> None:
        """Lookups are cached by the list's version: an import changes what the very next lookup finds, both ways."""
        lists.import_list("rice_ration", RICE.encode(), officer)
        assert lists.lookup("rice_ration", "RICE-5KG") is not None
        assert lists.lookup("rice_ration", "RICE-2KG") is None
        lists.import_list("rice_ration", (HEADER + "RICE-2KG,Rice 2 kg,bag,rice,2000\n").encode(), officer)
        assert lists.lookup("rice_ration", "RICE-5KG") is None
        assert lists.lookup("rice_ration", "RICE-2KG") == ApprovedProduct("RICE-2KG", "Rice 2 kg", "bag", "rice", 2000)

    def test_before_any_import_the_definitions_products_are_the_list(self, lists: ProductLists) -> None:
        """rice_ration's definition names RICE-5KG and RICE-1KG: they are on its list until one is imported."""
        assert lists.version("rice_ration") is None
        found = lists.lookup("rice_ration", "RICE-5KG")
        assert found is not None and (found.commodity, found.quantity) == ("rice", 5000)
        assert lists.lookup("fuel_quota", "DIESEL") is None

    def test_a_cash_programmes_products_draw_no_quota(self, lists: ProductLists, officer: Principal) -> None:
        """On food_cash a product has no commodity and no quantity: it is paid for in money."""
        lists.import_list("food_cash", (HEADER + "MILK-1L,Milk 1 litre,each,,\n").encode(), officer)
        assert lists.lookup("food_cash", "MILK-1L") == ApprovedProduct("MILK-1L", "Milk 1 litre", "each", None, 0)

    def test_two_imports_racing__the_key_makes_the_second_a_conflict(
        self, lists: ProductLists, officer: Principal, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With the newest version read blind (both imports read before either wrote), the second is refused whole."""
        lists.import_list("rice_ration", RICE.encode(), officer)
        monkeypatch.setattr("tessera.programs.products._newest", lambda *_: None)
        with pytest.raises(ConflictError) as caught:
            lists.import_list("rice_ration", RICE.encode(), officer)
        assert caught.value.field == "programme"
        assert _counts(store) == [1, 2]

    def test_an_unknown_programme__not_found(self, lists: ProductLists, officer: Principal, store: Store) -> None:
        """Importing for, or reading, a programme no one defined is not_found naming programme."""
        with pytest.raises(NotFoundError) as caught:
            lists.import_list("free_beer", RICE.encode(), officer)
        assert caught.value.field == "programme"
        with pytest.raises(NotFoundError):
            lists.lookup("free_beer", "RICE-5KG")
        assert _counts(store) == [0, 0]

    def test_a_version_never_imported__not_found(self, lists: ProductLists, officer: Principal) -> None:
        """Asking for version 7 of a list with one version is not_found naming version."""
        lists.import_list("rice_ration", RICE.encode(), officer)
        with pytest.raises(NotFoundError) as caught:
            lists.version("rice_ration", 7)
        assert caught.value.field == "version"


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ("RICE-5KG,Rice,bag,rice,5000\nRICE-5KG,Rice again,bag,rice,5000\n", ConflictError, "line 3, product_code"),
        ("RICE-5KG,Rice,bag,rice,-5\n", InvalidInputError, "line 2, quantity"),
        ("RICE-5KG,Rice,bag,rice,0\n", InvalidInputError, "line 2, quantity"),
        ("RICE-5KG,Rice,bag,rice,2.5\n", InvalidInputError, "line 2, quantity"),
        ("RICE-5KG,Rice,bag,rice,\n", InvalidInputError, "line 2, quantity"),
        ("RICE-5KG,Rice,bag,rice,5000\nBEANS,Beans,bag,beans,1000\n", NotFoundError, "line 3, commodity"),
        ("RICE-5KG,Rice,bag,,\n", InvalidInputError, "line 2, commodity"),
        ("RICE 5KG,Rice,bag,rice,5000\n", InvalidInputError, "line 2, product_code"),
        (",Rice,bag,rice,5000\n", InvalidInputError, "line 2, product_code"),
        ("RICE-5KG,,bag,rice,5000\n", InvalidInputError, "line 2, description"),
        ("RICE-5KG,Rice\u202e,bag,rice,5000\n", InvalidInputError, "line 2, description"),
        ("RICE-5KG,Rice,Bag of 5,rice,5000\n", InvalidInputError, "line 2, unit"),
        ("RICE-5KG,Rice,bag,rice\n", InvalidInputError, "line 2"),
        ('RICE-5KG,"Rice,bag,rice,5000\n', InvalidInputError, "line 2"),
        ("", InvalidInputError, "file"),
    ],
    ids=[
        "duplicate", "negative", "zero", "fraction", "no-quantity", "unknown-commodity", "cash-on-quota", "code-space",
        "no-code", "no-description", "hidden-description", "unit", "columns", "quote", "empty",
    ],
)  # fmt: skip
def test_a_bad_line__refused_naming_line_and_column(
    lists: ProductLists, officer: Principal, store: Store, *, body: str, error: type[TesseraError], field: str
) -> None:
    """Each bad line is refused with its code, line and column, and not one row of the list is written."""
    with pytest.raises(error) as caught:
        lists.import_list("rice_ration", (HEADER + body).encode(), officer)
    assert getattr(caught.value, "field", None) == field
    assert _counts(store) == [0, 0]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"code,description,unit,commodity,quantity\n", "line 1"),
        (HEADER.encode() + b"RICE-5KG,Ri\xffce,bag,rice,5000\n", "line 2"),
        (HEADER.encode() + b"MILK,Milk,each,,\n", "line 2, commodity"),
    ],
    ids=["header", "not-utf8", "cash-product-on-a-ration"],
)
def test_a_bad_file__refused_naming_where(lists: ProductLists, officer: Principal, data: bytes, field: str) -> None:
    """A wrong header, bytes that are not UTF-8, a cash product on a ration: each names where it is."""
    with pytest.raises(InvalidInputError) as caught:
        lists.import_list("rice_ration", data, officer)
    assert caught.value.field == field


def test_a_quantity_on_a_cash_product__refused(lists: ProductLists, officer: Principal) -> None:
    """A cash programme's product draws no quota: a quantity on it is invalid_input naming line and quantity."""
    with pytest.raises(InvalidInputError) as caught:
        lists.import_list("food_cash", (HEADER + "MILK-1L,Milk,each,,3\n").encode(), officer)
    assert caught.value.field == "line 2, quantity"


def test_a_commodity_on_a_cash_programme__not_found(lists: ProductLists, officer: Principal) -> None:
    """food_cash has no quotas: a product drawing on rice is not_found naming line and commodity."""
    with pytest.raises(NotFoundError) as caught:
        lists.import_list("food_cash", (HEADER + "RICE-5KG,Rice,bag,rice,5000\n").encode(), officer)
    assert caught.value.field == "line 2, commodity"


CODES = st.sampled_from(["RICE-5KG", "RICE-1KG", "R1", "BAD CODE", "", "x" * 33, "0012345678905"])
COMMODITIES = st.sampled_from(["rice", "rice", "", "beans", "Rice"])
QUANTITIES = st.one_of(st.integers(-10, 10**6).map(str), st.sampled_from(["", "1.5", "abc", "99999999999999999999"]))
TEXTS = st.one_of(st.sampled_from(["Rice", "Riz étuvé", ""]), st.text(max_size=8))
UNITS = st.sampled_from(["bag", "kg", "", "Bag", "litre"])
ROWS = st.lists(st.tuples(CODES, TEXTS, UNITS, COMMODITIES, QUANTITIES), max_size=6)


def _csv(rows: list[tuple[str, ...]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


@pytest.fixture
def sqlite_lists(tmp_path: Path) -> Iterator[tuple[ProductLists, Principal, Store]]:
    with Store.open(f"sqlite:///{tmp_path / 'products.db'}") as store:
        officer = store.create_principal("officer", Role.officer, agency="central-bank")
        yield ProductLists(store), officer, store


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, cut=st.one_of(st.none(), st.integers(0, 400)))
def test_any_csv_imports_whole_or_is_refused_with_a_line_and_writes_nothing(
    sqlite_lists: tuple[ProductLists, Principal, Store], rows: list[tuple[str, ...]], cut: int | None
) -> None:
    """Random files (some cut short mid-line): either every product is the new version, or a refusal names where."""
    lists, officer, store = sqlite_lists
    data = _csv(rows)[:cut] if cut is not None else _csv(rows)
    before = _counts(store)
    try:
        made = lists.import_list("rice_ration", data, officer)
    except (InvalidInputError, NotFoundError, ConflictError) as error:
        assert error.field == "file" or error.field.startswith("line ")
        assert _counts(store) == before
        return
    parsed = parse_product_list(data, example_programmes().get("rice_ration"))
    assert _counts(store) == [before[0] + 1, before[1] + made.products]
    assert lists.products("rice_ration") == sorted(parsed, key=lambda p: p.code)
