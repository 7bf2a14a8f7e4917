"""Approved product lists: what a programme's entitlement may buy, imported whole from CSV, each import a version.

As WIC's approved product lists are, a programme's list is replaced whole by an import:
the new version is written in one transaction or not at all, older versions stay readable,
and each records who imported it, when, and the SHA-256 of the file. The CSV has a header
and one product a line::

    product_code,description,unit,commodity,quantity
    RICE-5KG,Rice, 5 kg bag,bag,rice,5000
    RICE-1KG,Rice, 1 kg bag,bag,rice,1000

``commodity`` is the quota the product draws on (one of the programme's), and ``quantity``
how much one item draws, in that quota's ledger's minor units (5000 is 5 kg on a ledger of 3
decimals); for a cash programme both are empty and the product is paid for in money.
Every line is checked before anything is written; a refusal names the line and column
(``line 3, quantity``). Until a list is imported, the products named in the programme's
definition are its list.

**Cached**: a product as ``lookup_in`` found it (or found it missing), keyed by the programme,
the list's **version** and the code, for the process's life. A version is written whole in one
transaction and never changed, and every lookup first reads which version is newest (one
indexed read), so an import takes effect at the very next lookup; nothing cached is served
for a version that is no longer the newest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from tessera.auth import Principal
from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX
from tessera.programs.known import KnownProgrammes, example_programme, known_programme
from tessera.programs.outlets import check_programme_officer
from tessera.programs.programmes import AMOUNT_MAX, PRODUCT_CODE_MAX, Kind, Programme
from tessera.store import Store, product_list_items, product_lists
from tessera.text import checked_text, shows_letter_or_digit

COLUMNS = ("product_code", "description", "unit", "commodity", "quantity")
PRODUCT_LIST_BYTES_MAX = 4 * 1024 * 1024  # the API's request body limit (api/bodies.py)
PRODUCT_LIST_MAX = 50_000  # products in one list: a national catalogue of staples, with room
PRODUCT_DESCRIPTION_MAX = 200
PRODUCT_UNIT_MAX = 16
PRODUCTS_PAGE_MAX = PAGE_SIZE_MAX
VERSIONS_LIST_MAX = PAGE_SIZE_MAX
LOOKUPS_CACHED_MAX = 100_000  # products looked up, kept in memory (a few hundred bytes each)
_PRODUCT_CODE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{PRODUCT_CODE_MAX - 1}}}")  # a GTIN, RICE-5KG
_UNIT = re.compile(rf"[a-z][a-z0-9_-]{{0,{PRODUCT_UNIT_MAX - 1}}}")  # bag, kg, litre, each
_WHOLE = re.compile(r"[+-]?[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class ApprovedProduct:
    """A product on a programme's list: what it is, and what one item draws."""

    code: str
    description: str
    unit: str  # how it is sold: bag, litre, each
    commodity: str | None  # the quota it draws on; None: paid in cash
    quantity: int  # of the commodity's ledger's minor units per item; 0 for cash


@dataclass(frozen=True, slots=True)
class ProductList:
    """One imported version of a programme's list (its products are read apart: there may be many)."""

    programme_id: str
    version: int
    digest: str  # SHA-256 of the file, hex
    products: int
    imported_by: str
    imported_at_ns: int


def parse_product_list(data: bytes, programme: Programme) -> tuple[ApprovedProduct, ...]:
    """Every product of a CSV file (module docstring) for ``programme``, or the first error, naming line and column."""
    if not isinstance(data, bytes):
        raise InvalidInputError("file", "must be the file's bytes")
    if len(data) > PRODUCT_LIST_BYTES_MAX:
        raise InvalidInputError("file", f"at most {PRODUCT_LIST_BYTES_MAX} bytes, got {len(data)}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvalidInputError(f"line {line}", f"is not UTF-8 (byte {error.start})") from None
    commodities = {line.commodity for line in programme.lines if line.commodity is not None}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    found: list[ApprovedProduct] = []
    first_on: dict[str, int] = {}
    try:
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise InvalidInputError("line 1", f"the header must be {','.join(COLUMNS)}")
        for row in reader:
            n = reader.line_num
            if not row:
                continue
            if len(row) != len(COLUMNS):
                raise InvalidInputError(f"line {n}", f"has {len(row)} columns; {','.join(COLUMNS)} are {len(COLUMNS)}")
            if len(found) >= PRODUCT_LIST_MAX:
                raise InvalidInputError(f"line {n}", f"a list holds at most {PRODUCT_LIST_MAX} products")
            product = _product(row, n, programme, commodities)
            if product.code in first_on:
                raise ConflictError(
                    f"line {n}, product_code",
                    f"{product.code!r} is listed twice (first on line {first_on[product.code]})",
                )
            first_on[product.code] = n
            found.append(product)
    except csv.Error as error:
        raise InvalidInputError(f"line {reader.line_num}", f"is not well-formed CSV: {error}") from None
    if not found:
        raise InvalidInputError(
            "file", "lists no product: a list replaces the previous one whole, so it names at least one"
        )
    return tuple(found)


def _product(row: list[str], n: int, programme: Programme, commodities: set[str]) -> ApprovedProduct:
    code, description, unit, commodity, quantity = row
    if not _PRODUCT_CODE.fullmatch(code):
        raise InvalidInputError(
            f"line {n}, product_code", f"1-{PRODUCT_CODE_MAX} of A-Z a-z 0-9 . _ - (a GTIN, RICE-5KG), got {code!r:.40}"
        )
    description = checked_text(description, f"line {n}, description", PRODUCT_DESCRIPTION_MAX)
    if not shows_letter_or_digit(description):
        raise InvalidInputError(
            f"line {n}, description", f"says what the product is, in 1-{PRODUCT_DESCRIPTION_MAX} characters"
        )
    if not _UNIT.fullmatch(unit):
        raise InvalidInputError(
            f"line {n}, unit",
            f"how it is sold (bag, kg, litre, each): 1-{PRODUCT_UNIT_MAX} of a-z 0-9 _ -, got {unit!r:.40}",
        )
    if not commodity:
        if programme.kind is not Kind.cash:
            raise InvalidInputError(
                f"line {n}, commodity", f"programme {programme.id!r} gives quotas: name the one the product draws on "
                f"({', '.join(sorted(commodities))})",
            )  # fmt: skip
        if quantity:
            raise InvalidInputError(f"line {n}, quantity", "a product paid in cash draws no quota: leave it empty")
        return ApprovedProduct(code, description, unit, None, 0)
    if commodity not in commodities:
        has = ", ".join(sorted(commodities)) or "none: it pays cash (leave commodity empty)"
        raise NotFoundError(
            f"line {n}, commodity", f"programme {programme.id!r} has no quota of {commodity!r:.40}; it has {has}"
        )
    if not _WHOLE.fullmatch(quantity) or not 1 <= int(quantity) <= AMOUNT_MAX:
        raise InvalidInputError(
            f"line {n}, quantity", f"a whole number of the {commodity} quota's minor units one item draws, 1 to "
            f"{AMOUNT_MAX}, got {quantity!r:.40}",
        )  # fmt: skip
    return ApprovedProduct(code, description, unit, commodity, int(quantity))


class ProductLists:
    """Programmes' approved product lists, every version of each, in the registry database."""

    def __init__(self, store: Store, *, known: KnownProgrammes = example_programme) -> None:
        self.store = store
        self.known = known
        # (programme, list version, code) -> the product, or None: not on that version (module docstring)
        self._looked_up: dict[tuple[str, int, str], ApprovedProduct | None] = {}

    def import_list(self, programme_id: str, data: bytes, by: Principal) -> ProductList:
        """Replace the programme's list with the file's, as a new version: whole, or not at all."""
        programme = known_programme(self.known, programme_id)
        check_programme_officer(by, programme)
        products = parse_product_list(data, programme)
        digest = hashlib.sha256(data).hexdigest()
        raced = ConflictError("programme", f"another import of {programme.id!r}'s list came first: import again")
        with self.store.transaction(write=True, conflict=lambda: raced) as conn:
            version = (_newest(conn, programme.id) or 0) + 1
            made = ProductList(programme.id, version, digest, len(products), by.id, time.time_ns())
            conn.execute(
                product_lists.insert().values(
                    programme_id=programme.id, version=version, digest=digest, products=len(products),
                    imported_by=by.id, imported_at_ns=made.imported_at_ns,
                )
            )  # fmt: skip
            conn.execute(product_list_items.insert(), [_item_values(programme.id, version, p) for p in products])
        return made

    def versions(self, programme_id: str) -> list[ProductList]:
        """Every imported version of the programme's list, newest first."""
        programme = known_programme(self.known, programme_id)
        query = (
            select(product_lists)
            .where(product_lists.c.programme_id == programme.id)
            .order_by(product_lists.c.version.desc())
            .limit(VERSIONS_LIST_MAX)
        )
        with self.store.transaction() as conn:
            return [_list_of(r) for r in conn.execute(query)]

    def version(self, programme_id: str, version: int | None = None) -> ProductList | None:
        """One version (None: the one in force), or None when none was imported; NotFoundError for a missing one."""
        programme = known_programme(self.known, programme_id)
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31
        ):
            raise InvalidInputError("version", f"a version number, 1 or more, got {version!r:.20}")
        with self.store.transaction() as conn:
            wanted = _newest(conn, programme.id) if version is None else version
            if wanted is None:
                return None
            row = conn.execute(
                select(product_lists).where(
                    product_lists.c.programme_id == programme.id, product_lists.c.version == wanted
                )
            ).first()
        if row is None:
            raise NotFoundError("version", f"programme {programme.id!r} has no product list version {version}")
        return _list_of(row)

    def products(
        self, programme_id: str, version: int | None = None, *, after: str = "", limit: int = PRODUCTS_PAGE_MAX
    ) -> list[ApprovedProduct]:
        """A page of a version's products by code, after ``after`` (None: the list in force, or the definition's)."""
        if not isinstance(limit, int) or not 1 <= limit <= PRODUCTS_PAGE_MAX:
            raise InvalidInputError("limit", f"must be 1-{PRODUCTS_PAGE_MAX}")
        programme = known_programme(self.known, programme_id)
        found = self.version(programme.id, version)
        if found is None:
            return [p for p in _defined(programme) if p.code > after][:limit]
        i = product_list_items.c
        query = (
            select(product_list_items)
            .where(i.programme_id == programme.id, i.version == found.version, i.code > after)
            .order_by(i.code)
            .limit(limit)
        )
        with self.store.transaction() as conn:
            return [_product_of(r) for r in conn.execute(query)]

    def lookup(self, programme_id: str, code: str) -> ApprovedProduct | None:
        """Product ``code`` on the programme's list in force (before any import, the definition's); None: not on it."""
        return self.lookup_in(known_programme(self.known, programme_id), code)

    def lookup_in(self, programme: Programme, code: str) -> ApprovedProduct | None:
        """As ``lookup``, for a programme already read (a till's request reads it once)."""
        if not isinstance(code, str) or not _PRODUCT_CODE.fullmatch(code):
            return None
        with self.store.transaction() as conn:
            version = _newest(conn, programme.id)
            if version is None:
                return next((p for p in _defined(programme) if p.code == code), None)
            key = (programme.id, version, code)
            if key in self._looked_up:
                return self._looked_up[key]
            row = conn.execute(_ITEM, {"programme_id": programme.id, "version": version, "code": code}).first()
        found = None if row is None else _product_of(row)
        if len(self._looked_up) >= LOOKUPS_CACHED_MAX:  # bounded all the same; a miss only costs a read
            self._looked_up.clear()
        self._looked_up[key] = found
        return found


def _newest(conn: Connection, programme_id: str) -> int | None:
    newest: int | None = conn.scalar(_NEWEST, {"programme_id": programme_id})
    return newest


# What a till's every redemption asks, built once (building a statement costs about what running it does).
_NEWEST = select(func.max(product_lists.c.version)).where(product_lists.c.programme_id == bindparam("programme_id"))
_ITEM = select(product_list_items).where(
    product_list_items.c.programme_id == bindparam("programme_id"),
    product_list_items.c.version == bindparam("version"),
    product_list_items.c.code == bindparam("code"),
)


def _defined(programme: Programme) -> Iterable[ApprovedProduct]:
    """The products a programme's definition names, as a list before any import, by code."""
    for p in sorted(programme.products, key=lambda p: p.code):
        yield ApprovedProduct(p.code, "", "", p.commodity or None, p.quantity)


def _item_values(programme_id: str, version: int, p: ApprovedProduct) -> dict[str, Any]:
    return {
        "programme_id": programme_id, "version": version, "code": p.code, "description": p.description,
        "unit": p.unit, "commodity": p.commodity or "", "quantity": p.quantity,
    }  # fmt: skip


def _product_of(row: Any) -> ApprovedProduct:
    return ApprovedProduct(row.code, row.description, row.unit, row.commodity or None, row.quantity)


def _list_of(row: Any) -> ProductList:
    return ProductList(row.programme_id, row.version, row.digest, row.products, row.imported_by, row.imported_at_ns)
