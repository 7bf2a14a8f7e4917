"""Code tables: what the values of a coded field mean (DESIGN.md 1: the guard judges meaning, not labels).

A payment's merchant category says whether it went to a grocer, a pharmacy or a place of
worship; a quota's ledger says what programme funds it. A field is *coded* when its
declaration names the table its values come from (``codes = "mcc"``); each value of the
table has a registered meaning: a label and the data categories it reveals. The guard
(``values.py``) reads a condition's comparisons through these tables, and the feed shows a
rule only the values it may read (``CodeTable.masked``): any other value, and any value
the table does not list, reaches the rule as ``withheld`` (-1, or ``""`` for text codes).

Tables Tessera knows:

- ``mcc``: the ISO 18245 merchant categories (``builtin/mcc.csv``, with its source), each
  with the categories a payment to such a merchant reveals; 0 is "no merchant category"
  (a wallet, an agency), financial. The transfer's ``merchant_category`` is the payee
  account's ``category``.
- ``transfer_code``: Tessera's chart of transfer codes (``builtin/transfer_codes.csv``).
- ``ledger``: the register of ledgers (``money.ledgers``): each ledger carries the category
  of what it funds (``ledgers.category``; none recorded: financial). Built from the store
  by ``ledger_codes_in``; empty when no store is at hand, so a rule comparing a ledger
  number then reads nothing it can name and is refused unless purely favourable.
- ``benefit``: the register of benefits (``rules/benefits.py``), declared by data-protection
  officers: each benefit's id means a benefit, and what a grant of it reveals (a disability
  allowance: disability). ``benefit.claimed.programme`` names it, so a claim's programme is
  read for what it funds; ``check_rules`` puts the register in force as it loads rules, and
  the programmes of a later issue join the same register.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from tessera.errors import InvalidInputError, NotFoundError
from tessera.rules.categories import CODE_TABLE_NAME_MAX, FAVOURABLE_ONLY, FORBIDDEN, Category, FieldType
from tessera.store import ledgers
from tessera.text import checked_visible

CodeValue = int | str

WITHHELD_INT = -1  # what a rule sees instead of a code it may not read, or one with no registered meaning
WITHHELD_TEXT = ""
NO_MERCHANT_CATEGORY = 0  # the ledger's "none": a wallet or an agency is paid, not a merchant
CODES_MAX = 10_000  # values in one table
CODE_INT_MAX = 2**32 - 1  # ledgers are u32, merchant categories and transfer codes u16
CODE_TEXT_MAX = 64
LABEL_MAX = 200
SOURCE_MAX = 500
TABLES_MAX = 64
_LOOKUP_SIZE_MAX = 1 << 17  # int tables up to this value mask through one lookup array; larger ones by search
_TABLE_NAME = re.compile(rf"[a-z][a-z0-9_]{{0,{CODE_TABLE_NAME_MAX - 1}}}")
# Most severe first: the category an error names when a comparison could match anything in a table.
SEVERITY = (*(c for c in Category if c in FORBIDDEN), *(c for c in Category if c in FAVOURABLE_ONLY))

MCC = "mcc"
TRANSFER_CODE = "transfer_code"
LEDGER = "ledger"
BENEFIT = "benefit"
BENEFIT_SOURCE = "the register of benefits (rules/benefits.py), declared by the data-protection officers"


@dataclass(frozen=True, slots=True)
class Code:
    """One registered value of a table: what it is called and the data categories it reveals."""

    value: CodeValue
    label: str
    categories: frozenset[Category]


@dataclass(frozen=True, slots=True)
class CodeTable:
    """A table of codes: the values a coded field takes and what each means. Build one with ``code_table``."""

    name: str
    type: FieldType  # int or str
    codes: tuple[Code, ...]  # ordered by value
    source: str
    fingerprint: str = field(default="", compare=False)  # sha256 of the contents: keys the guard's cache
    _by_value: dict[CodeValue, Code] = field(default_factory=dict, init=False, repr=False, compare=False)
    _masks: dict[bool, _Mask] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_value.update((c.value, c) for c in self.codes)

    @property
    def withheld(self) -> CodeValue:
        """The value a rule sees in place of a code it may not read or one the table does not list."""
        return WITHHELD_INT if self.type is FieldType.integer else WITHHELD_TEXT

    def meaning(self, value: object) -> Code | None:
        """The registered meaning of ``value``, or None (the withheld value and unlisted values have none)."""
        return self._by_value.get(value) if isinstance(value, int | str) and not isinstance(value, bool) else None

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def most_severe(self, benefits_only: bool) -> Category | None:
        """The most protected category some value of the table reveals that a rule may not read, or None.

        ``benefits_only``: the rule's every effect grants a benefit, so health and disability are readable.
        """
        present = {c for code in self.codes for c in code.categories}
        for category in SEVERITY:
            if category in present and (category in FORBIDDEN or not benefits_only):
                return category
        return None

    def readable(self, benefits_only: bool) -> frozenset[CodeValue]:
        """The values a rule may see as they are: none of their categories forbidden, nor favourable-only
        unless ``benefits_only``."""
        return frozenset(
            c.value
            for c in self.codes
            if not c.categories & FORBIDDEN and (benefits_only or not c.categories & FAVOURABLE_ONLY)
        )

    def masked(self, column: npt.NDArray[Any], benefits_only: bool) -> npt.NDArray[Any]:
        """``column`` as a rule may see it: each value it may not read, or that the table does not list, withheld.

        Whole-array work: a column wholly inside a run of readable values is returned as it is
        (one min and max), else one lookup for int tables of small values, one search otherwise.
        """
        mask = self._masks.get(benefits_only)
        if mask is None:
            mask = self._masks[benefits_only] = self._mask(benefits_only)
        if self.type is not FieldType.integer:
            values = np.asarray(column)
            return np.where(np.isin(values, mask.values), values, WITHHELD_TEXT)
        values = np.asarray(column).astype(np.int64, copy=False)
        if mask.run is not None and len(values) and mask.run[0] <= values.min() and values.max() <= mask.run[1]:
            return values
        if mask.lookup:  # slot v + 1 holds what v reads as; the first and last the withheld value, for all out of range
            return np.take(mask.values, values + 1, mode="clip")
        return np.where(np.isin(values, mask.values), values, np.int64(WITHHELD_INT))

    def _mask(self, benefits_only: bool) -> _Mask:
        readable = sorted(self.readable(benefits_only), key=lambda v: (isinstance(v, str), v))
        if self.type is not FieldType.integer:
            return _Mask(np.array(readable, dtype=np.str_) if readable else np.array([], dtype="<U1"), False, None)
        numbers = np.array(readable, dtype=np.int64)
        run = None
        if len(numbers) and int(numbers[-1]) - int(numbers[0]) == len(numbers) - 1:  # every value from first to last
            run = (int(numbers[0]), int(numbers[-1]))
        top = int(numbers[-1]) if len(numbers) else -1
        if top < _LOOKUP_SIZE_MAX:
            lookup = np.full(top + 3, WITHHELD_INT, dtype=np.int64)
            lookup[numbers + 1] = numbers
            return _Mask(lookup, True, run)
        return _Mask(numbers, False, run)


@dataclass(frozen=True, slots=True)
class _Mask:
    """How one view of a table withholds values: a lookup array, or the readable values to search."""

    values: npt.NDArray[Any]
    lookup: bool
    run: tuple[int, int] | None  # when the readable values are every whole number from one to another


def code_table(
    name: str, type: FieldType | str, entries: Iterable[tuple[object, object, object]], source: str
) -> CodeTable:
    """A checked table: ``entries`` are (value, label, categories), categories a set of Category or their names.

    Values are whole numbers 0-2**32-1 (``int``) or 1-64 visible characters (``str``), each once.
    """
    if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
        raise InvalidInputError("codes.name", f"a code table's name is one lowercase word, got {name!r:.40}")
    where = f"codes.{name}"
    if type not in (FieldType.integer, FieldType.text, FieldType.integer.value, FieldType.text.value):
        raise InvalidInputError(f"{where}.type", "a code table holds int or str values")
    value_type = FieldType(type)
    if not isinstance(source, str) or not source.strip() or len(source) > SOURCE_MAX:
        raise InvalidInputError(f"{where}.source", f"say where the table comes from, in 1-{SOURCE_MAX} characters")
    codes: dict[CodeValue, Code] = {}
    for k, entry in enumerate(entries):
        at = f"{where}[{k}]"
        if len(codes) >= CODES_MAX:
            raise InvalidInputError(where, f"at most {CODES_MAX} codes in one table")
        value, label, categories = entry
        codes_value = _checked_value(value, value_type, at)
        if codes_value in codes:
            raise InvalidInputError(f"{at}.value", f"{codes_value!r} is listed twice")
        if not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX:
            raise InvalidInputError(f"{at}.label", f"1-{LABEL_MAX} characters")
        codes[codes_value] = Code(codes_value, label, _checked_categories(categories, f"{at}.categories"))
    ordered = tuple(sorted(codes.values(), key=lambda c: (isinstance(c.value, str), c.value)))
    digest = hashlib.sha256(repr((name, value_type.value, [(c.value, sorted(c.categories)) for c in ordered])).encode())
    return CodeTable(name, value_type, ordered, source, digest.hexdigest())


def _checked_value(value: object, value_type: FieldType, at: str) -> CodeValue:
    if value_type is FieldType.integer:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= CODE_INT_MAX:
            raise InvalidInputError(f"{at}.value", f"a whole number from 0 to {CODE_INT_MAX}, got {value!r:.40}")
        return value
    if not isinstance(value, str) or not 0 < len(value) <= CODE_TEXT_MAX:
        raise InvalidInputError(f"{at}.value", f"1-{CODE_TEXT_MAX} visible characters, got {value!r:.40}")
    return checked_visible(value, f"{at}.value")  # compared exactly, so kept exactly: nothing a reader cannot see


def _checked_categories(categories: object, at: str) -> frozenset[Category]:
    if isinstance(categories, str):
        categories = categories.split()
    if not isinstance(categories, Iterable):
        raise InvalidInputError(at, "a set of data categories")
    found: set[Category] = set()
    for c in categories:
        if not isinstance(c, str) or c not in Category.__members__.values():
            raise InvalidInputError(at, f"unknown data category {c!r:.40}")
        found.add(Category(c))
    if not found:
        raise InvalidInputError(at, "name at least one data category")
    return frozenset(found)


class CodeTables:
    """The code tables in force, by name: the meaning a coded field's values carry."""

    def __init__(self, tables: Iterable[CodeTable] = ()) -> None:
        self._tables: dict[str, CodeTable] = {}
        for t in tables:
            if not isinstance(t, CodeTable):
                raise InvalidInputError("codes", "must be CodeTable (see code_table())")
            if len(self._tables) >= TABLES_MAX and t.name not in self._tables:
                raise InvalidInputError("codes", f"at most {TABLES_MAX} code tables")
            self._tables[t.name] = t

    def get(self, name: str) -> CodeTable:
        """The table called ``name``, or NotFoundError."""
        found = self._tables.get(name)
        if found is None:
            raise NotFoundError("codes", f"no code table {name!r:.40} is registered")
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def names(self) -> list[str]:
        """The tables' names, sorted."""
        return sorted(self._tables)

    def replaced(self, table: CodeTable) -> CodeTables:
        """New tables: these, with ``table`` in place of the one of its name (or added)."""
        taken = self._tables.get(table.name)
        if taken is not None and taken.type is not table.type:
            raise InvalidInputError(f"codes.{table.name}.type", f"the table holds {taken.type.value} values")
        return CodeTables([*(t for n, t in self._tables.items() if n != table.name), table])


def _builtin_csv(name: str) -> str:
    return (resources.files("tessera.rules") / "builtin" / name).read_text(encoding="utf-8")


def read_code_csv(text: str, name: str, value_type: FieldType, value_column: str) -> CodeTable:
    """A table from CSV text: ``#`` comment lines first (the source), then ``value_column,description,categories``."""
    lines = text.splitlines(keepends=True)
    comments = [ln[1:].strip() for ln in lines if ln.startswith("#")]
    rows = csv.DictReader(io.StringIO("".join(ln for ln in lines if not ln.startswith("#"))))
    if rows.fieldnames != [value_column, "description", "categories"]:
        raise InvalidInputError(f"codes.{name}", f"columns must be {value_column},description,categories")
    entries = (
        (
            int(r[value_column]) if value_type is FieldType.integer else r[value_column],
            r["description"],
            r["categories"],
        )
        for r in rows
    )
    return code_table(name, value_type, entries, " ".join(comments)[:SOURCE_MAX])


@functools.cache
def mcc_table() -> CodeTable:
    """The ISO 18245 merchant categories, with "no merchant category" (0), and the data category each reveals."""
    shipped = read_code_csv(_builtin_csv("mcc.csv"), MCC, FieldType.integer, "mcc")
    none = (NO_MERCHANT_CATEGORY, "No merchant category (a wallet, an agency)", "financial")
    entries = [none, *((c.value, c.label, c.categories) for c in shipped)]
    return code_table(MCC, FieldType.integer, entries, shipped.source)


@functools.cache
def transfer_code_table() -> CodeTable:
    """Tessera's chart of transfer codes."""
    return read_code_csv(_builtin_csv("transfer_codes.csv"), TRANSFER_CODE, FieldType.integer, "code")


LEDGER_SOURCE = "the register of ledgers (money.ledgers): each ledger's category, financial where none is recorded"


def ledger_table(ledgers: Iterable[tuple[int, str, str | None]]) -> CodeTable:
    """The ``ledger`` table from (id, name, category) rows of the register; a category of None is financial."""
    entries = ((i, name, category or Category.financial.value) for i, name, category in ledgers)
    return code_table(LEDGER, FieldType.integer, entries, LEDGER_SOURCE)


def ledger_codes_in(conn: Connection) -> CodeTable:
    """The ``ledger`` table as the store's register holds it (before ``ledgers.category`` exists: all financial)."""
    category = ledgers.c.get("category")
    wanted = [ledgers.c.id, ledgers.c.name] + ([category] if category is not None else [])
    rows = conn.execute(select(*wanted).order_by(ledgers.c.id)).all()
    return ledger_table((int(r[0]), str(r[1]), r[2] if category is not None else None) for r in rows)


def benefit_table(benefits: Iterable[tuple[str, str, Iterable[Category]]]) -> CodeTable:
    """The ``benefit`` table from (id, title, what a grant of it reveals) of the register; each is benefit data too."""
    entries = ((i, title, {Category.benefit, *revealed}) for i, title, revealed in benefits)
    return code_table(BENEFIT, FieldType.text, entries, BENEFIT_SOURCE)


def builtin_code_tables() -> CodeTables:
    """The tables Tessera ships (``mcc``, ``transfer_code``) and empty ``ledger`` and ``benefit`` registers."""
    return CodeTables([mcc_table(), transfer_code_table(), ledger_table(()), benefit_table(())])
