"""Programme files: ``[[programme]]`` tables in TOML, loaded and checked as rule files are.

Loading checks every programme against the declarations in force (event types, legal bases,
benefits: ``tessera.rules``) and the register of ledgers (``tessera.money``), and runs the
rules' guard over its CEL (``formulas.py``). ``load_programmes`` is all or nothing and raises
the first refusal; ``check_programmes`` collects a refusal per programme, for
``tessera programs check``. The format is in ``docs/programs.md`` and
``builtin/example_programmes.toml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from tessera.errors import ConflictError, InvalidInputError, NotFoundError, ProtectedCategoryError, TesseraError
from tessera.money import LedgerUnit
from tessera.programs.benefits import programme_benefit
from tessera.programs.facts import FactSchema, fact_schema
from tessera.programs.formulas import guarded_amount, guarded_eligibility
from tessera.programs.programmes import (
    AMOUNT_MAX,
    COMMODITY_MAX,
    DESCRIPTION_MAX,
    FORMULA_MAX,
    MERCHANT_CATEGORIES_MAX,
    PRODUCT_CODE_MAX,
    PRODUCTS_MAX,
    PROGRAMME_ID_MAX,
    PROGRAMME_NAME_MAX,
    PROGRAMMES_MAX,
    QUOTAS_MAX,
    TOP_UPS_MAX,
    VALID_FOR_MAX_S,
    Kind,
    Line,
    OverBudget,
    Product,
    Programme,
    Schedule,
    TopUp,
    Unit,
)
from tessera.rules import (
    FAVOURABLE_ONLY,
    FORBIDDEN,
    Benefits,
    Category,
    CodeTables,
    EventTypes,
    GuardedCondition,
    LegalBases,
    LegalBasis,
    Rule,
    benefit_table,
    builtin_benefits,
    check_benefit_name,
    read_toml,
)
from tessera.text import checked_text, shows_letter_or_digit

EXAMPLE_PROGRAMMES = "example_programmes.toml"
EXAMPLE_LEDGERS = "example_ledgers.json"
_ID = re.compile(r"[a-z][a-z0-9_]*")  # as the register of benefits spells an id
_COMMODITY = re.compile(r"[a-z][a-z0-9_]*")
_PRODUCT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CURRENCY_UNIT = re.compile(r"[A-Z]{3}")  # an ISO 4217 code: what makes a ledger a currency
_DURATION = re.compile(r"([1-9][0-9]{0,5})([hdw])")
_UNIT_S = {"h": 3600, "d": 86_400, "w": 7 * 86_400}
_DAY_S = 86_400
_E = TypeVar("_E", Unit, Kind, Schedule, OverBudget)
_REQUIRED = {
    "id", "name", "basis", "unit", "kind", "eligibility", "schedule", "valid_for", "over_budget",
    "merchant_categories",
}  # fmt: skip
_OPTIONAL = {"description", "currency", "cash", "quota", "products"}
_LINE_KEYS = {"amount", "budget"}
_QUOTA_KEYS = {"commodity", "ledger", "amount", "budget"}


def builtin_programmes_path(name: str) -> Path:
    """A file shipped in ``tessera/programs/builtin`` (``example_programmes.toml``, ``example_ledgers.json``)."""
    return Path(str(resources.files("tessera.programs") / "builtin" / name))


class Programmes:
    """An immutable set of loaded programmes with unique ids."""

    __slots__ = ("_by_id", "_programmes")

    def __init__(self, programmes: Iterable[Programme] = ()) -> None:
        self._programmes = tuple(programmes)
        self._by_id: dict[str, Programme] = {}
        for p in self._programmes:
            if not isinstance(p, Programme):
                raise InvalidInputError("programmes", "must be Programme values (see load_programmes())")
            if p.id in self._by_id:
                raise ConflictError(f"{p.source}.id", f"programme id {p.id!r} is taken by {self._by_id[p.id].source}")
            self._by_id[p.id] = p

    def get(self, programme_id: str) -> Programme:
        """The programme called ``programme_id``, or NotFoundError."""
        found = self._by_id.get(programme_id)
        if found is None:
            raise NotFoundError("programme", f"no programme {programme_id!r:.80} is loaded")
        return found

    def ids(self) -> list[str]:
        """Every id, sorted."""
        return sorted(self._by_id)

    def __len__(self) -> int:
        return len(self._programmes)

    def __iter__(self) -> Iterator[Programme]:
        return iter(self._programmes)

    def __contains__(self, programme_id: object) -> bool:
        return programme_id in self._by_id


@dataclass(frozen=True, slots=True)
class ProgrammeRefusal:
    """Why one programme (or one whole file) did not load."""

    where: str  # "food.toml:programme[2]", or the file when it could not be read at all
    programme: str | None  # the programme's id, when it got that far
    error: TesseraError

    def line(self) -> str:
        """One line for people, as ``tessera rules check`` writes one: where, programme, field, category, code, why."""
        field = getattr(self.error, "field", "") or self.where
        message = str(self.error).removeprefix(f"{field}: ")
        parts = [
            f"{self.where}:",
            f"programme={self.programme or '-'}",
            f"field={field.removeprefix(self.where + '.')}",
        ]
        if isinstance(self.error, ProtectedCategoryError):
            parts.append(f"category={self.error.category}")
        return " ".join([*parts, f"[{self.error.code}]", message])


@dataclass(frozen=True, slots=True)
class _Context:
    types: EventTypes
    bases: LegalBases
    benefits: Benefits
    ledgers: Mapping[str, LedgerUnit]
    schema: FactSchema
    codes: CodeTables  # the declarations' tables, the register of benefits' among them


def load_programmes(
    sources: Iterable[Path | str],
    types: EventTypes,
    bases: LegalBases,
    *,
    ledgers: Iterable[LedgerUnit],
    benefits: Benefits | None = None,
    rules: Iterable[Rule] = (),
) -> Programmes:
    """Every programme of ``sources`` (files as Path, TOML text as str), or the first refusal raised: all or nothing."""
    programmes, refusals = check_programmes(sources, types, bases, ledgers=ledgers, benefits=benefits, rules=rules)
    if refusals:
        raise refusals[0].error
    return programmes


def check_programmes(
    sources: Iterable[Path | str],
    types: EventTypes,
    bases: LegalBases,
    *,
    ledgers: Iterable[LedgerUnit],
    benefits: Benefits | None = None,
    rules: Iterable[Rule] = (),
) -> tuple[Programmes, list[ProgrammeRefusal]]:
    """The programmes that load, and a refusal for each that does not (or for each file that cannot be read).

    ``benefits`` is the register grants name (None: the built-in one); ``rules``, when given, are
    the rules in force, whose grants carry what they read into ``grants.<benefit>`` (facts.py).
    """
    register = builtin_benefits() if benefits is None else benefits
    by_name = {u.name: u for u in ledgers}
    # A claim's programme means what the register says it funds, as for rules (rulesets.py, check_rules).
    declared = [(b.id, b.title, b.categories) for b in map(register.get, register.ids())]
    codes = types.codes.replaced(benefit_table(declared))
    context = _Context(types, bases, register, by_name, fact_schema(types, register, rules), codes)
    loaded: list[Programme] = []
    refusals: list[ProgrammeRefusal] = []
    seen: dict[str, str] = {}
    for index, source in enumerate(sources):
        try:
            name, document = read_toml(source, index)
            for key in document:
                if key != "programme":
                    raise InvalidInputError(
                        f"{name}:{key}", "unknown table; a programme file holds [[programme]] tables"
                    )
            tables = document.get("programme", [])
            if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
                raise InvalidInputError(f"{name}:programme", "must be an array of tables ([[programme]])")
        except TesseraError as error:
            refusals.append(ProgrammeRefusal(getattr(error, "field", str(source)), None, error))
            continue
        for i, table in enumerate(tables):
            where = f"{name}:programme[{i}]"
            programme_id = table.get("id") if isinstance(table.get("id"), str) else None
            try:
                if len(loaded) + len(refusals) >= PROGRAMMES_MAX:
                    raise InvalidInputError(where, f"at most {PROGRAMMES_MAX} programmes in one load")
                programme = _programme(table, where, context)
                if programme.id in seen:
                    raise ConflictError(
                        f"{where}.id", f"programme id {programme.id!r} is taken by {seen[programme.id]}"
                    )
            except TesseraError as error:
                refusals.append(ProgrammeRefusal(where, programme_id, error))
                continue
            seen[programme.id] = where
            loaded.append(programme)
    return Programmes(loaded), refusals


def _programme(table: Mapping[str, Any], where: str, context: _Context) -> Programme:
    _keys(table, where, _REQUIRED, _OPTIONAL)
    programme_id = table["id"]
    if not isinstance(programme_id, str) or len(programme_id) > PROGRAMME_ID_MAX or not _ID.fullmatch(programme_id):
        raise InvalidInputError(
            f"{where}.id", f"one lowercase word with _ (its benefit id), at most {PROGRAMME_ID_MAX} characters"
        )
    name = _text(table["name"], f"{where}.name", PROGRAMME_NAME_MAX)
    description = checked_text(table.get("description", ""), f"{where}.description", DESCRIPTION_MAX, newlines=True)
    for key, text in (("id", programme_id), ("name", name), ("description", description)):
        # What a programme is called is what a grant of it says: "mosque upkeep" is religion (DESIGN.md 1).
        check_benefit_name(text, where, key)
    basis = _basis(table["basis"], f"{where}.basis", programme_id, context.bases)
    unit = _choice(Unit, table["unit"], f"{where}.unit")
    kind = _choice(Kind, table["kind"], f"{where}.kind")
    schedule = _choice(Schedule, table["schedule"], f"{where}.schedule")
    over_budget = _choice(OverBudget, table["over_budget"], f"{where}.over_budget")
    valid_for_s = _duration(table["valid_for"], f"{where}.valid_for")
    categories: set[Category] = set()
    _check_formula_length(table["eligibility"], f"{where}.eligibility")
    codes = context.codes
    eligibility = table["eligibility"]
    guarded = [guarded_eligibility(where, programme_id, "eligibility", eligibility, schema=context.schema, codes=codes)]
    mccs = _merchant_categories(table["merchant_categories"], where, categories, context)
    currency = _currency(table, where, kind, categories, context)
    lines = _lines(
        table, where, programme_id=programme_id, kind=kind, currency=currency, categories=categories,
        guarded=guarded, context=context,
    )  # fmt: skip
    products = _products(table.get("products", []), f"{where}.products", kind, lines)
    schema_leaves = context.schema.leaves()
    facts = frozenset(p for g in guarded for p in g.paths)
    for path in facts:
        categories.update(c for c in schema_leaves[path].categories if c in FAVOURABLE_ONLY)
    categories.update(c for g in guarded for c in g.value_categories if c in FAVOURABLE_ONLY)
    _require_coverage(basis, facts, where, programme_id, context)
    made = Programme(
        programme_id, name, basis, unit, kind, table["eligibility"].strip(), schedule, valid_for_s, over_budget,
        mccs, tuple(lines), currency.name if currency else None, products, description, facts, where,
        frozenset(categories),
    )  # fmt: skip
    _joins_register(made, where, context.benefits)
    return made


def _lines(
    table: Mapping[str, Any],
    where: str,
    *,
    programme_id: str,
    kind: Kind,
    currency: LedgerUnit | None,
    categories: set[Category],
    guarded: list[GuardedCondition],
    context: _Context,
) -> list[Line]:
    """The cash line on ``currency``, or a line per quota; each amount and top-up guarded into ``guarded``."""
    lines: list[Line] = []
    if kind is Kind.cash:
        if "quota" in table:
            raise InvalidInputError(f"{where}.quota", "a cash programme pays money ([programme.cash]), no quota")
        if not isinstance(table.get("cash"), dict):
            raise InvalidInputError(
                f"{where}.cash", "a cash programme says what it pays: [programme.cash] amount, budget"
            )
        assert currency is not None
        cash = _line(
            table["cash"], f"{where}.cash", programme_id=programme_id, ledger=currency, commodity=None,
            co_payment=None, guarded=guarded, context=context,
        )  # fmt: skip
        lines.append(cash)
    else:
        if "cash" in table:
            raise InvalidInputError(
                f"{where}.cash", f"a {kind.value} programme gives quotas ([[programme.quota]]), no cash"
            )
        quotas = table.get("quota")
        if (
            not isinstance(quotas, list)
            or not 1 <= len(quotas) <= QUOTAS_MAX
            or not all(isinstance(q, dict) for q in quotas)
        ):
            raise InvalidInputError(
                f"{where}.quota", f"a {kind.value} programme lists 1-{QUOTAS_MAX} [[programme.quota]] tables"
            )
        for k, quota in enumerate(quotas):
            at = f"{where}.quota[{k}]"
            _keys(quota, at, _QUOTA_KEYS | ({"co_payment"} if kind is Kind.subsidised_price else set()), {"top_up"})
            commodity = quota["commodity"]
            if not isinstance(commodity, str) or len(commodity) > COMMODITY_MAX or not _COMMODITY.fullmatch(commodity):
                raise InvalidInputError(
                    f"{at}.commodity", f"one lowercase word with _, at most {COMMODITY_MAX} characters"
                )
            check_benefit_name(commodity, at, "commodity")
            if any(line.commodity == commodity for line in lines):
                raise ConflictError(f"{at}.commodity", f"commodity {commodity!r} is listed twice")
            ledger = _quota_ledger(quota["ledger"], f"{at}.ledger", commodity, categories, context)
            if any(line.ledger == ledger.name for line in lines):
                raise ConflictError(f"{at}.ledger", f"ledger {ledger.name!r} holds another commodity's quota already")
            co_payment = None
            if kind is Kind.subsidised_price:
                co_payment = _whole(
                    quota["co_payment"],
                    f"{at}.co_payment",
                    minimum=1,
                    what="minor units of the currency per whole unit",
                )
            lines.append(
                _line(
                    quota,
                    at,
                    programme_id=programme_id,
                    ledger=ledger,
                    commodity=commodity,
                    co_payment=co_payment,
                    guarded=guarded,
                    context=context,
                )
            )
    return lines


def _keys(table: Mapping[str, Any], where: str, required: set[str], optional: set[str]) -> None:
    for key in sorted(required - table.keys()):
        raise InvalidInputError(f"{where}.{key}", "is required")
    for key in sorted(table.keys() - required - optional):
        raise InvalidInputError(f"{where}.{key}", f"unknown key; expected {', '.join(sorted(required | optional))}")


def _text(value: object, field: str, limit: int) -> str:
    text = checked_text(value, field, limit)
    if not shows_letter_or_digit(text):
        raise InvalidInputError(field, f"must be 1-{limit} characters, a letter or digit among them")
    return text


def _check_formula_length(value: object, field: str) -> None:
    if isinstance(value, str) and len(value) > FORMULA_MAX:
        raise InvalidInputError(field, f"a CEL expression of at most {FORMULA_MAX} characters")


def _choice(enum: type[_E], value: object, field: str) -> _E:
    if not isinstance(value, str) or value not in enum.__members__:
        raise InvalidInputError(field, f"must be one of {', '.join(enum.__members__)}, got {value!r:.40}")
    return enum(value)


def _duration(value: object, field: str) -> int:
    """Seconds from "60d" (units h, d, w), from a day to ``VALID_FOR_MAX_S``."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)] if match else 0
    if not _DAY_S <= seconds <= VALID_FOR_MAX_S:
        raise InvalidInputError(
            field, f'how long an entitlement stays valid, like "60d" (units h, d, w), from 1 day to '
            f"{VALID_FOR_MAX_S // _DAY_S} days, got {value!r:.40}",
        )  # fmt: skip
    return seconds


def _whole(value: object, field: str, *, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= AMOUNT_MAX:
        raise InvalidInputError(field, f"a whole number of {what}, {minimum} to {AMOUNT_MAX}, got {value!r:.40}")
    return value


def _basis(value: object, field: str, programme_id: str, bases: LegalBases) -> LegalBasis:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(field, "a programme operates under a registered legal basis: name its id")
    if value not in bases:
        raise NotFoundError(field, f"no legal basis {value!r:.80} is registered")
    basis = bases.get(value)
    if not basis.for_rules:
        raise InvalidInputError(
            field, f"programme {programme_id!r} cites {basis.id} ({basis.cite()}), a "
            f"{basis.kind.value.replace('_', ' ')}: it is exercised by an officer, never the basis of a programme",
        )  # fmt: skip
    return basis


def _require_coverage(
    basis: LegalBasis, facts: Iterable[str], where: str, programme_id: str, context: _Context
) -> None:
    """Reported facts are read only under a basis that covers their event type, as a rule's inputs are."""
    by_key = {n.replace(".", "_"): n for n in context.types.names()}
    for path in sorted(facts):
        parts = path.split(".")
        if parts[0] != "reported":
            continue
        t = context.types.get(by_key[parts[1]])
        if not basis.covers_type(t):
            raise InvalidInputError(
                f"{where}.basis",
                f"programme {programme_id!r} reads {path} (event type {t.name}, purpose {t.purpose}), which its "
                f"basis {basis.id} ({basis.cite()}) does not cover; it covers {basis.coverage_text()}",
            )


def _merchant_categories(value: object, where: str, categories: set[Category], context: _Context) -> frozenset[int]:
    field = f"{where}.merchant_categories"
    if not isinstance(value, list) or not 1 <= len(value) <= MERCHANT_CATEGORIES_MAX:
        raise InvalidInputError(
            field, f"lists the 1-{MERCHANT_CATEGORIES_MAX} merchant categories (MCC) it is spent at"
        )
    table = context.codes.get("mcc")
    found: set[int] = set()
    for i, written in enumerate(value):
        at = f"{field}[{i}]"
        code = int(written) if isinstance(written, str) and written.isdigit() else written
        meaning = table.meaning(code) if isinstance(code, int) and not isinstance(code, bool) and code > 0 else None
        if meaning is None:
            raise NotFoundError(
                at, f"{code!r:.20} is no registered merchant category (ISO 18245, rules/builtin/mcc.csv)"
            )
        assert isinstance(code, int)
        if code in found:
            raise ConflictError(at, f"merchant category {code} is listed twice")
        for category in meaning.categories:
            if category in FORBIDDEN:
                raise ProtectedCategoryError(
                    where, f"merchant_categories[{i}]", category.value,
                    f"which no programme may reveal: spending restricted to {code} ({meaning.label}) makes every "
                    "entitlement of it data of that category",
                )  # fmt: skip
            if category in FAVOURABLE_ONLY:
                categories.add(category)
        found.add(code)
    return frozenset(found)


def _ledger(value: object, field: str, context: _Context) -> LedgerUnit:
    if not isinstance(value, str) or value not in context.ledgers:
        known = ", ".join(sorted(context.ledgers)) or "none"
        raise NotFoundError(field, f"no ledger {value!r:.80} is registered (tessera ledgers list; known: {known})")
    return context.ledgers[value]


def _ledger_categories(ledger: LedgerUnit, field: str, categories: set[Category]) -> None:
    category = Category(ledger.category) if ledger.category in Category.__members__ else None
    if category in FORBIDDEN:
        raise ProtectedCategoryError(field, ledger.name, ledger.category, "which no programme may fund")
    if category in FAVOURABLE_ONLY:
        categories.add(category)


def _currency(
    table: Mapping[str, Any], where: str, kind: Kind, categories: set[Category], context: _Context
) -> LedgerUnit | None:
    field = f"{where}.currency"
    if kind is Kind.in_kind:
        if "currency" in table:
            raise InvalidInputError(field, "an in-kind programme pays no money and takes no co-payment: no currency")
        return None
    if "currency" not in table:
        raise InvalidInputError(field, f"is required: a {kind.value} programme names its currency's ledger")
    ledger = _ledger(table["currency"], field, context)
    if not _CURRENCY_UNIT.fullmatch(ledger.unit):
        raise InvalidInputError(
            field, f"ledger {ledger.name!r} counts {ledger.unit}, not a currency (an ISO 4217 code): a "
            f"{kind.value} programme's money is on a currency ledger",
        )  # fmt: skip
    _ledger_categories(ledger, field, categories)
    return ledger


def _quota_ledger(
    value: object, field: str, commodity: str, categories: set[Category], context: _Context
) -> LedgerUnit:
    ledger = _ledger(value, field, context)
    if _CURRENCY_UNIT.fullmatch(ledger.unit):
        raise InvalidInputError(
            field, f"ledger {ledger.name!r} is a currency ({ledger.unit}): a quota of {commodity} is a ledger of "
            "its own, counted in the commodity's unit (kg, litre, dose)",
        )  # fmt: skip
    _ledger_categories(ledger, field, categories)
    return ledger


def _line(
    table: Mapping[str, Any],
    where: str,
    *,
    programme_id: str,
    ledger: LedgerUnit,
    commodity: str | None,
    co_payment: int | None,
    guarded: list[GuardedCondition],
    context: _Context,
) -> Line:
    if commodity is None:
        _keys(table, where, _LINE_KEYS, {"top_up"})
    _check_formula_length(table["amount"], f"{where}.amount")
    schema, codes = context.schema, context.codes
    guarded.append(guarded_amount(where, programme_id, "amount", table["amount"], schema=schema, codes=codes))
    budget = _whole(table["budget"], f"{where}.budget", minimum=1, what=f"minor units of {ledger.unit} per cycle")
    top_ups: list[TopUp] = []
    found = table.get("top_up", [])
    if not isinstance(found, list) or len(found) > TOP_UPS_MAX or not all(isinstance(t, dict) for t in found):
        raise InvalidInputError(
            f"{where}.top_up", f"at most {TOP_UPS_MAX} [[...top_up]] tables of condition and amount"
        )
    for k, top_up in enumerate(found):
        at = f"{where}.top_up[{k}]"
        _keys(top_up, at, {"condition", "amount"}, set())
        _check_formula_length(top_up["condition"], f"{at}.condition")
        _check_formula_length(top_up["amount"], f"{at}.amount")
        guarded.append(
            guarded_eligibility(at, programme_id, "condition", top_up["condition"], schema=schema, codes=codes)
        )
        guarded.append(guarded_amount(at, programme_id, "amount", top_up["amount"], schema=schema, codes=codes))
        top_ups.append(TopUp(top_up["condition"].strip(), top_up["amount"].strip()))
    return Line(
        ledger.name, ledger.id, ledger.unit, ledger.decimals, table["amount"].strip(), budget, commodity, co_payment,
        tuple(top_ups),
    )  # fmt: skip


def _products(value: object, field: str, kind: Kind, lines: list[Line]) -> tuple[Product, ...]:
    if not isinstance(value, list) or len(value) > PRODUCTS_MAX or not all(isinstance(p, dict) for p in value):
        raise InvalidInputError(field, f"at most {PRODUCTS_MAX} products, each {{ code, commodity, quantity }}")
    commodities = {line.commodity for line in lines if line.commodity is not None}
    found: list[Product] = []
    codes: set[str] = set()
    for i, table in enumerate(value):
        at = f"{field}[{i}]"
        if kind is Kind.cash:
            _keys(table, at, {"code"}, set())
        else:
            _keys(table, at, {"code", "commodity", "quantity"}, set())
        code = table["code"]
        if not isinstance(code, str) or len(code) > PRODUCT_CODE_MAX or not _PRODUCT_CODE.fullmatch(code):
            raise InvalidInputError(f"{at}.code", f"1-{PRODUCT_CODE_MAX} of A-Z a-z 0-9 . _ - (a GTIN, RICE-5KG)")
        if code in codes:
            raise ConflictError(f"{at}.code", f"product {code!r} is listed twice")
        codes.add(code)
        if kind is Kind.cash:
            found.append(Product(code, "", 0))
            continue
        commodity = table["commodity"]
        if commodity not in commodities:
            raise NotFoundError(
                f"{at}.commodity",
                f"no quota of this programme is of {commodity!r:.40}; it has {', '.join(sorted(commodities))}",
            )
        quantity = _whole(
            table["quantity"], f"{at}.quantity", minimum=1, what="the quota's minor units one product draws"
        )
        found.append(Product(code, commodity, quantity))
    return tuple(found)


def _joins_register(made: Programme, where: str, benefits: Benefits) -> None:
    """The programme as a benefit: refused here when the register could not take it (a penalty word, other terms)."""
    try:
        as_benefit = programme_benefit(made)
    except InvalidInputError as error:
        field = error.field.replace("benefit.title", "name").replace("benefit.id", "id")
        raise InvalidInputError(f"{where}.{field}", str(error).removeprefix(f"{error.field}: ")) from None
    if made.id in benefits and benefits.get(made.id) != as_benefit:
        raise ConflictError(
            f"{where}.id", f"{made.id!r} is a registered benefit with other terms: a programme joins the register "
            "of benefits under its id, so it needs an id of its own",
        )  # fmt: skip
