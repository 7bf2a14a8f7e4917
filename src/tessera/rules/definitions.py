"""Event types, record types and legal bases declared in TOML files, and the built-in ones Tessera ships.

A definitions file holds ``[[record_type]]``, ``[[event_type]]``, ``[[legal_basis]]`` and
``[[benefit]]`` tables (see ``builtin/definitions.toml``); benefits are read by
``load_benefits``, the rest by ``load_definitions``. Loading is all or nothing: the registries it
returns hold every declaration of every file, or loading raises the first error, naming
the file and the table (``defs.toml:event_type[3].fields.note``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from tessera.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ProtectedCategoryError,
    TesseraError,
)
from tessera.rules.basis import LegalBases, legal_basis, require_agencies
from tessera.rules.benefits import Benefits, benefit
from tessera.rules.categories import (
    EventTypes,
    FieldSpec,
    FieldType,
    RecordType,
    event_type,
    record_type,
)

SOURCE_BYTES_MAX = 4 << 20  # one definitions or rule file
BUILTIN_DEFINITIONS = "definitions.toml"
EXAMPLE_RULES = "example_rules.toml"
_TABLES = ("record_type", "event_type", "legal_basis", "benefit")
_PRIMITIVE_TYPES = frozenset(t.value for t in FieldType) - {FieldType.record.value}

Source = Path | str
"""A file to read (``Path``) or TOML text (``str``)."""


def builtin_path(name: str) -> Path:
    """A file shipped in ``tessera/rules/builtin`` (``definitions.toml``, ``example_rules.toml``)."""
    return Path(str(resources.files("tessera.rules") / "builtin" / name))


def builtin_definitions() -> tuple[EventTypes, LegalBases]:
    """Fresh registries holding the built-in event types, record types and legal bases."""
    return load_definitions([builtin_path(BUILTIN_DEFINITIONS)])


def builtin_benefits() -> Benefits:
    """A fresh register holding the built-in benefits."""
    return load_benefits([builtin_path(BUILTIN_DEFINITIONS)], builtin_definitions()[1])


def read_toml(source: Source, index: int) -> tuple[str, dict[str, Any]]:
    """The name errors use for ``source`` (its path, or ``<text N>``) and its parsed TOML."""
    if isinstance(source, Path):
        name = str(source)
        try:
            if source.stat().st_size > SOURCE_BYTES_MAX:
                raise InvalidInputError(name, f"larger than {SOURCE_BYTES_MAX} bytes")
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(name, "no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInputError(name, f"cannot be read: {error}") from None
    elif isinstance(source, str):
        name, text = f"<text {index}>", source
        if len(text) > SOURCE_BYTES_MAX:
            raise InvalidInputError(name, f"larger than {SOURCE_BYTES_MAX} characters")
    else:
        raise InvalidInputError(f"sources[{index}]", "must be a Path (a file) or a str (TOML text)")
    try:
        return name, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInputError(name, f"malformed TOML: {error}") from None


def relocated(error: TesseraError, prefix: str) -> TesseraError:
    """The same error with its field placed under ``prefix`` (a file and table), so it says where it came from."""
    if isinstance(error, ProtectedCategoryError):
        return ProtectedCategoryError(prefix, error.field, error.category)
    for cls in (InvalidInputError, NotFoundError, ConflictError):
        if type(error) is cls:
            field = getattr(error, "field", "")
            message = str(error).removeprefix(f"{field}: ")
            return cls(f"{prefix}.{field}" if field else prefix, message)
    return error


def table_list(document: Mapping[str, Any], key: str, name: str) -> list[Any]:
    """``document[key]`` as a list of tables (empty when absent)."""
    found = document.get(key, [])
    if not isinstance(found, list) or not all(isinstance(t, dict) for t in found):
        raise InvalidInputError(f"{name}:{key}", f"must be an array of tables ([[{key}]])")
    return found


def load_definitions(
    sources: Iterable[Source], types: EventTypes | None = None, bases: LegalBases | None = None
) -> tuple[EventTypes, LegalBases]:
    """New registries: those given (left untouched) plus every declaration in ``sources``, all or nothing."""
    out_types = EventTypes(
        [types.get(n) for n in types.names()] if types else (),
        [types.record(n) for n in types.record_names()] if types else (),
        types.codes if types else None,
    )
    out_bases = LegalBases([bases.get(i) for i in bases.ids()] if bases else ())
    for index, source in enumerate(sources):
        name, document = read_toml(source, index)
        for key in document:
            if key not in _TABLES:
                raise InvalidInputError(
                    f"{name}:{key}", f"unknown table; a definitions file holds {', '.join(_TABLES)}"
                )
        _register_records(name, table_list(document, "record_type", name), out_types)
        for i, table in enumerate(table_list(document, "event_type", name)):
            where = f"{name}:event_type[{i}]"
            _keys(table, where, {"name", "purpose", "fields"}, {"description", "reported_by"})
            fields = _field_specs(table["fields"], where, lambda kind, at: _registered(out_types, kind, at))
            try:
                made = event_type(
                    table["name"], table["purpose"], fields, table.get("description", ""), table.get("reported_by", ())
                )
                out_types.register(made)
            except (InvalidInputError, NotFoundError, ConflictError) as error:
                raise relocated(error, where) from None
        for i, table in enumerate(table_list(document, "legal_basis", name)):
            where = f"{name}:legal_basis[{i}]"
            _keys(
                table, where, {"id", "instrument", "article", "kind"}, {"domains", "exercised_by", "covers", "purposes"}
            )
            try:
                args = (table["id"], table["instrument"], table["article"], table["kind"], table.get("domains", ()))
                terms = {k: table.get(k, ()) for k in ("exercised_by", "covers", "purposes")}
                out_bases.register(require_agencies(legal_basis(*args, **terms)))
            except (InvalidInputError, ConflictError) as error:
                raise relocated(error, where) from None
    return out_types, out_bases


def load_benefits(sources: Iterable[Source], bases: LegalBases, benefits: Benefits | None = None) -> Benefits:
    """A new register: ``benefits`` (left untouched) plus every ``[[benefit]]`` of ``sources``, all or nothing.

    Each benefit's bases must be registered in ``bases`` (load the same files with
    ``load_definitions`` first).
    """
    out = Benefits([benefits.get(i) for i in benefits.ids()] if benefits else ())
    for index, source in enumerate(sources):
        name, document = read_toml(source, index)
        for i, table in enumerate(table_list(document, "benefit", name)):
            where = f"{name}:benefit[{i}]"
            _keys(table, where, {"id", "title", "bases"}, {"categories", "description"})
            try:
                made = benefit(
                    table["id"],
                    table["title"],
                    table["bases"],
                    table.get("categories", ()),
                    table.get("description", ""),
                )
                for k, basis_id in enumerate(table["bases"]):
                    if basis_id not in bases:
                        raise NotFoundError(f"benefit.bases[{k}]", f"no legal basis {basis_id!r:.80} is registered")
                out.register(made)
            except (InvalidInputError, NotFoundError, ConflictError) as error:
                raise relocated(error, where) from None
    return out


def _keys(table: Mapping[str, Any], where: str, required: set[str], optional: set[str]) -> None:
    for key in sorted(required - table.keys()):
        raise InvalidInputError(f"{where}.{key}", "is required")
    for key in sorted(table.keys() - required - optional):
        raise InvalidInputError(f"{where}.{key}", f"unknown key; expected {', '.join(sorted(required | optional))}")


def _registered(types: EventTypes, kind: str, at: str) -> RecordType:
    try:
        return types.record(kind)
    except NotFoundError:
        raise NotFoundError(f"{at}.type", f"no field type or record type {kind!r:.40} is declared") from None


def _field_specs(fields: object, where: str, lookup: Callable[[str, str], RecordType]) -> dict[str, FieldSpec]:
    """``{name = {type, category[, codes]}}`` as event_type() takes it; ``lookup(name, field)`` finds a record type.

    ``codes`` names the code table a field's values come from (``codes = "mcc"``, rules/codes.py).
    """
    if not isinstance(fields, dict):
        raise InvalidInputError(f"{where}.fields", "must be a table of {type = ..., category = ...}")
    specs: dict[str, FieldSpec] = {}
    for field_name, spec in fields.items():
        at = f"{where}.fields.{field_name}"
        if not isinstance(spec, dict):
            raise InvalidInputError(at, "must be {type = ..., category = ...}")
        _keys(spec, at, {"type", "category"}, {"codes"})
        kind = spec["type"]
        if isinstance(kind, str) and kind not in _PRIMITIVE_TYPES:
            kind = lookup(kind, at)
        specs[field_name] = (kind, spec["category"]) if "codes" not in spec else (kind, spec["category"], spec["codes"])
    return specs


def _register_records(name: str, tables: list[Any], types: EventTypes) -> None:
    """Register the record types of one file in dependency order; an unknown or cyclic reference is refused."""
    declared: dict[str, tuple[str, dict[str, Any]]] = {}
    for i, table in enumerate(tables):
        where = f"{name}:record_type[{i}]"
        _keys(table, where, {"name", "fields"}, {"description"})
        if not isinstance(table["name"], str) or table["name"] in declared:
            raise InvalidInputError(f"{where}.name", f"must be a name not declared twice, got {table['name']!r:.40}")
        if not isinstance(table["fields"], dict):
            raise InvalidInputError(f"{where}.fields", "must be a table of {type = ..., category = ...}")
        declared[table["name"]] = (where, table)
    done: dict[str, RecordType] = {}

    def resolve(record_name: str, at: str, path: tuple[str, ...]) -> RecordType:
        if record_name in done:
            return done[record_name]
        if record_name not in declared:
            return _registered(types, record_name, at)
        where, table = declared[record_name]
        if record_name in path:
            cycle = " -> ".join((*path[path.index(record_name) :], record_name))
            raise InvalidInputError(f"{where}.fields", f"record types refer to each other in a cycle: {cycle}")
        specs = _field_specs(table["fields"], where, lambda n, field: resolve(n, field, (*path, record_name)))
        try:
            done[record_name] = types.register_record(record_type(record_name, specs, table.get("description", "")))
        except (InvalidInputError, NotFoundError, ConflictError) as error:
            raise relocated(error, where) from None
        return done[record_name]

    for record_name, (where, _) in declared.items():
        resolve(record_name, where, ())
