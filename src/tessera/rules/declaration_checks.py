"""A declarations document checked before it becomes law: the lexicon, relabelled shapes, and what it changes.

``declared(text, ...)`` takes a whole declarations document, in the definitions loader's
format (``[[record_type]]``, ``[[event_type]]``, ``[[legal_basis]]`` and whatever else that
loader reads), and

1. refuses a name the lexicon (``lexicon.py``) says denotes a forbidden category: an event
   type, record type, field or benefit, in any language or script, before anything else
   (so ``посещение_церкви`` is refused as religion, not as a name with the wrong letters);
2. loads it with ``load_definitions`` (every check the loader and ``categories.py`` make);
3. refuses a health or disability word in a name whose field is not declared as that data;
4. refuses a record or event type that re-declares a protected one under another label
   (``same shape``, below), against the versions before it and the document itself.

A refusal names the place (``proposal.toml:event_type[2].name``) and the category. An
exception for one refused name is granted by two data-protection officers with a reason
(``exceptions``, by the name the refusal gives), and waives that refusal only.

**Same shape.** A record or event type has the same shape as another when it has the same
field names with the same types (a record-typed field's shape compared recursively); for
a protected one with three fields or more, also when it has those fields and more. If a
field that is health or disability data there (its own label, a field holding it, or the
event type's purpose) is anything else here, the document is refused: a health record
copied as "reference" is still health data. The same goes for a type re-declared under its
own name with such a field relabelled.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tessera.errors import InvalidInputError, ProtectedCategoryError, TesseraError
from tessera.rules.basis import Domain, LegalBases, LegalBasis
from tessera.rules.categories import FAVOURABLE_ONLY, Category, EventField, EventTypes, FieldType
from tessera.rules.definitions import SOURCE_BYTES_MAX, load_definitions
from tessera.rules.lexicon import Lexicon, builtin_lexicon
from tessera.text import checked_text, checked_visible, shows_letter_or_digit

EXCEPTIONS_MAX = 64
EXCEPTION_KEY_MAX = 200
EXCEPTION_REASON_MAX = 500
SUPERSET_FIELDS_MIN = 3  # a protected shape this wide is also matched by a wider copy of it
_NAMED_TABLES = {"record_type": "name", "event_type": "name", "legal_basis": "id", "benefit": "id"}


@dataclass(frozen=True, slots=True)
class Declared:
    """A declarations document that passed every check: its text, hash, exceptions and the registries it makes."""

    document: str
    sha256: str
    exceptions: Mapping[str, str]  # name -> reason: the lexicon and shape refusals two DPOs waived
    types: EventTypes
    bases: LegalBases
    tables: Mapping[str, Any] = field(repr=False)  # the parsed TOML, for what other loaders read from it
    waived: frozenset[str] = frozenset()  # the exceptions that waived a refusal here
    version: int | None = None  # its number in the store, once it is recorded


@dataclass(frozen=True, slots=True)
class Changes:
    """What a version changes against the one in force, and why it needs a second DPO if it does."""

    added: tuple[str, ...]  # "event_type church.visit", "legal_basis x/1", ...
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    restricting_bases: tuple[str, ...]  # ids of bases with domains, added or changed
    new_exceptions: tuple[str, ...]
    # Those of them that name benefits: restrictions under them can freeze food, fuel and health
    # entitlements, which every other restriction leaves spendable (rules/due_process/freezes.py).
    benefit_bases: tuple[str, ...] = ()

    @property
    def approvals_needed(self) -> int:
        """Two DPOs for a basis that can restrict, or a lexicon exception; one otherwise."""
        return 2 if self.restricting_bases or self.new_exceptions else 1

    def why_two(self) -> list[str]:
        """Why a second DPO must approve, one line each (empty when one is enough)."""
        lines = []
        for b in self.restricting_bases:
            if b in self.benefit_bases:
                lines.append(
                    f"legal basis {b} can restrict (it names domains), benefits among them: restrictions under it "
                    "can freeze a person's food, fuel and health entitlements"
                )
            else:
                lines.append(f"legal basis {b} can restrict (it names domains)")
        return lines + [f"exception for {name!r}" for name in self.new_exceptions]


def document_sha256(document: str) -> str:
    """SHA-256 of the document's UTF-8 bytes, in hex: what a version and an export record."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def checked_document(document: object, field: str = "document") -> str:
    """A declarations document: UTF-8 text of at most ``SOURCE_BYTES_MAX`` bytes, line ends made ``\\n``."""
    if not isinstance(document, str):
        raise InvalidInputError(field, "must be the whole declarations document, as TOML text")
    text = document.replace("\r\n", "\n")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInputError(field, "must be UTF-8 text (a lone surrogate is not)") from None
    if not text.strip() or size > SOURCE_BYTES_MAX:
        raise InvalidInputError(field, f"must be 1-{SOURCE_BYTES_MAX} bytes of TOML")
    return text


def checked_exceptions(value: object, field: str = "exceptions") -> dict[str, str]:
    """``{name: reason}``: at most ``EXCEPTIONS_MAX``, each a refused name and why it is lawful after all."""
    if not isinstance(value, Mapping) or len(value) > EXCEPTIONS_MAX:
        raise InvalidInputError(field, f"must map at most {EXCEPTIONS_MAX} names to the reason each is lawful")
    checked: dict[str, str] = {}
    for name, reason in value.items():
        if not isinstance(name, str) or not 0 < len(name) <= EXCEPTION_KEY_MAX:
            raise InvalidInputError(field, f"a name is 1-{EXCEPTION_KEY_MAX} printable characters, got {name!r:.60}")
        checked_visible(name, f"{field}.{name!r:.60}")
        text = checked_text(reason, f"{field}.{name}", EXCEPTION_REASON_MAX)  # DPOs and auditors read it
        if not shows_letter_or_digit(text):
            raise InvalidInputError(f"{field}.{name}", "the reason says why the name is lawful")
        checked[name] = text
    return dict(sorted(checked.items()))


def declared(
    document: str,
    *,
    name: str = "declarations",
    exceptions: Mapping[str, str] | None = None,
    history: Iterable[tuple[str, Declared]] = (),
    lexicon: Lexicon | None = None,
) -> Declared:
    """The checked declarations of ``document``, or the first refusal naming ``name``, the table and the key.

    ``history`` holds ``(origin, declared)`` pairs of earlier versions ("version 3"), whose
    protected shapes may not be re-declared under another label.
    """
    text = checked_document(document)
    granted = checked_exceptions(exceptions or {})
    waivers = _Waivers(granted)
    words = lexicon or builtin_lexicon()
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInputError(name, f"malformed TOML: {error}") from None
    _forbidden_names(tables, name, words, waivers)
    try:
        types, bases = load_definitions([text])
    except TesseraError as error:
        raise _renamed(error, "<text 0>", name) from None
    _health_names(tables, types, name, words, waivers)
    made = Declared(text, document_sha256(text), granted, types, bases, tables)
    _relabelled_shapes(made, name, history, waivers)
    return Declared(text, made.sha256, granted, types, bases, tables, frozenset(waivers.used))


def loaded(document: str, name: str) -> Declared:
    """An earlier version as the loader reads it, without the lexicon: for history, which was checked when made."""
    try:
        types, bases = load_definitions([document])
    except TesseraError as error:
        raise _renamed(error, "<text 0>", name) from None
    return Declared(document, document_sha256(document), {}, types, bases, tomllib.loads(document))


def changes(old: Declared | None, new: Declared) -> Changes:
    """What ``new`` adds, changes and removes against ``old``; which bases that can restrict are new or changed."""
    before, after = _named_tables(old.tables if old else {}), _named_tables(new.tables)
    added = sorted(k for k in after if k not in before)
    changed = sorted(k for k in after if k in before and after[k] != before[k])
    removed = sorted(k for k in before if k not in after)
    restricting = []
    for basis_id in new.bases.ids():
        basis = new.bases.get(basis_id)
        previous = old.bases.get(basis_id) if old is not None and basis_id in old.bases else None
        if _restricts(basis) and basis != previous:
            restricting.append(basis_id)
    granted_before = old.exceptions if old else {}
    fresh = sorted(k for k in new.exceptions if k not in granted_before)
    benefits = tuple(b for b in restricting if Domain.benefits in new.bases.get(b).domains)
    return Changes(tuple(added), tuple(changed), tuple(removed), tuple(restricting), tuple(fresh), benefits)


def _restricts(basis: LegalBasis) -> bool:
    return bool(basis.domains)


def _named_tables(tables: Mapping[str, Any]) -> dict[str, Any]:
    """Each top-level table by ``"kind name"``: ``event_type loan.repaid``, ``legal_basis x/1``, ``benefit y``."""
    found: dict[str, Any] = {}
    for kind, value in tables.items():
        if not isinstance(value, list):
            found[kind] = value
            continue
        key = _NAMED_TABLES.get(kind, "name")
        for i, table in enumerate(value):
            ident = table.get(key) if isinstance(table, dict) else None
            found[f"{kind} {ident if isinstance(ident, str) else f'[{i}]'}"] = table
    return found


class _Waivers(Collection[str]):
    """The exceptions granted, remembering which of them waived a refusal."""

    def __init__(self, granted: Mapping[str, str]) -> None:
        self.granted = granted
        self.used: set[str] = set()

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str) and key in self.granted:
            self.used.add(key)
            return True
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.granted)

    def __len__(self) -> int:
        return len(self.granted)


# -- 1. forbidden words in any name ------------------------------------------------------------


def _forbidden_names(tables: Mapping[str, Any], name: str, words: Lexicon, waivers: _Waivers) -> None:
    """Every declared name, read before the loader: a forbidden category's word refuses it, whatever its label.

    Health and disability words pass here (labels=FAVOURABLE_ONLY); ``_health_names`` checks
    them against the categories the loader gives.
    """
    lawful_health = FAVOURABLE_ONLY
    for kind in ("record_type", "event_type"):
        for i, table in enumerate(_tables(tables, kind)):
            where, owner = f"{name}:{kind}[{i}]", table.get("name")
            if isinstance(owner, str):
                words.check_name(owner, where, "name", labels=lawful_health, exceptions=waivers)
            fields = table.get("fields")
            for field_name in fields if isinstance(fields, dict) else ():
                key = f"{owner}.{field_name}" if isinstance(owner, str) else field_name
                words.check_name(
                    field_name,
                    where,
                    f"fields.{field_name}",
                    context=[owner] if isinstance(owner, str) else [],
                    labels=lawful_health,
                    exceptions=waivers,
                    exception_key=key,
                )
    for i, table in enumerate(_tables(tables, "benefit")):
        ident = table.get("id")
        if isinstance(ident, str):  # a benefit may be about health (a disability allowance): favourable
            words.check_name(ident, f"{name}:benefit[{i}]", "id", labels=lawful_health, exceptions=waivers)


def _tables(tables: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    found = tables.get(kind, [])
    return [t for t in found if isinstance(t, dict)] if isinstance(found, list) else []


# -- 3. health and disability words under another label ----------------------------------------


def _health_names(tables: Mapping[str, Any], types: EventTypes, name: str, words: Lexicon, waivers: _Waivers) -> None:
    """A health or disability word in a name refuses it unless that data is declared as what it is.

    The event type's name needs a health or disability purpose; a field's or record's name
    (read through each event type that holds it) a health or disability category on the
    way to every field read through it, or such a purpose.
    """
    index = {t.get("name"): i for i, t in enumerate(_tables(tables, "event_type"))}
    for type_name in types.names():
        event = types.get(type_name)
        where = f"{name}:event_type[{index.get(type_name, '?')}]"
        words.check_name(type_name, where, "name", labels={event.purpose}, exceptions=waivers)
        for path, segments, categories in _leaf_paths(event.fields, "", type_name, (), ()):
            labels = {event.purpose, *categories}
            for owner, segment in segments:
                words.check_name(
                    segment,
                    where,
                    f"fields.{path}",
                    context=[type_name, *(s for _, s in segments if s != segment)],
                    labels=labels,
                    exceptions=waivers,
                    exception_key=f"{owner}.{segment}" if owner else segment,
                )


def _leaf_paths(
    fields: tuple[EventField, ...],
    prefix: str,
    owner: str,
    segments: tuple[tuple[str, str], ...],
    cats: tuple[Category, ...],
) -> Iterator[tuple[str, tuple[tuple[str, str], ...], tuple[Category, ...]]]:
    """(path, the names on the way as (owner, name), the categories on the way) for every field a rule can read.

    A field's owner is the event or record type declaring it; a record's own name is a
    segment too, with no owner (its exception key is its name).
    """
    for f in fields:
        here = (*segments, (owner, f.name))
        if f.record is None:
            yield prefix + f.name, here, (*cats, f.category)
        else:
            inner = (*here, ("", f.record.name))
            yield from _leaf_paths(f.record.fields, f"{prefix}{f.name}.", f.record.name, inner, (*cats, f.category))


# -- 4. protected shapes under another label ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Holder:
    """A record or event type as shapes compare it."""

    kind: str  # record_type, event_type
    name: str
    shape: frozenset[tuple[str, object]]
    leaves: Mapping[str, tuple[FieldType, frozenset[Category]]]  # path -> type, categories (purpose included)

    def protected(self) -> dict[str, Category]:
        """Each leaf that is health or disability data, with that category."""
        return {path: min(cats & FAVOURABLE_ONLY) for path, (_, cats) in self.leaves.items() if cats & FAVOURABLE_ONLY}


def _shape(fields: tuple[EventField, ...]) -> frozenset[tuple[str, object]]:
    return frozenset(
        (f.name, f.type.value if f.record is None else ("record", _shape(f.record.fields))) for f in fields
    )


def _leaves(fields: tuple[EventField, ...], prefix: str, outer: frozenset[Category]) -> dict[str, Any]:
    found: dict[str, tuple[FieldType, frozenset[Category]]] = {}
    for f in fields:
        cats = outer | {f.category}
        if f.record is None:
            found[prefix + f.name] = (f.type, cats)
        else:
            found.update(_leaves(f.record.fields, f"{prefix}{f.name}.", cats))
    return found


def _holders(made: Declared) -> list[_Holder]:
    types = made.types
    holders = []
    for record_name in types.record_names():
        record = types.record(record_name)
        holders.append(
            _Holder("record_type", record.name, _shape(record.fields), _leaves(record.fields, "", frozenset()))
        )
    for type_name in types.names():
        event = types.get(type_name)
        leaves = _leaves(event.fields, "", frozenset({event.purpose}))
        holders.append(_Holder("event_type", event.name, _shape(event.fields), leaves))
    return holders


def _relabelled_shapes(made: Declared, name: str, history: Iterable[tuple[str, Declared]], waivers: _Waivers) -> None:
    """Refuse a record or event type with a protected one's shape (or name) whose protected fields lost the label."""
    candidates = _holders(made)
    pool: dict[tuple[str, str, frozenset[tuple[str, object]], str], tuple[str, _Holder]] = {}
    for origin, earlier in [*history, ("this document", made)]:
        for holder in _holders(earlier):
            if holder.protected():
                pool.setdefault(
                    (holder.kind, holder.name, holder.shape, repr(sorted(holder.leaves.items()))), (origin, holder)
                )
    index = {
        (kind, t.get("name")): i
        for kind in ("record_type", "event_type")
        for i, t in enumerate(_tables(made.tables, kind))
    }
    for candidate in candidates:
        where = f"{name}:{candidate.kind}[{index.get((candidate.kind, candidate.name), '?')}]"
        for origin, protected in pool.values():
            if origin == "this document" and (protected.kind, protected.name) == (candidate.kind, candidate.name):
                continue
            same_name = (protected.kind, protected.name) == (candidate.kind, candidate.name)
            wide = len(protected.shape) >= SUPERSET_FIELDS_MIN and candidate.shape > protected.shape
            if not (same_name or candidate.shape == protected.shape or wide):
                continue
            for path, category in protected.protected().items():
                got = candidate.leaves.get(path)
                if got is None or got[0] != protected.leaves[path][0] or got[1] & FAVOURABLE_ONLY:
                    continue
                if candidate.name in waivers:
                    continue
                how = "the same name" if same_name else "the same shape (field names and types)"
                labels = ", ".join(sorted(c.value for c in got[1]))
                raise ProtectedCategoryError(
                    where, f"fields.{path}", category.value, _relabel_reason(candidate, protected, origin, how, labels)
                )


def _relabel_reason(candidate: _Holder, protected: _Holder, origin: str, how: str, labels: str) -> str:
    path_note = ", ".join(f"{p!r} is {c.value}" for p, c in protected.protected().items())
    return (
        f"{candidate.kind.replace('_', ' ')} {candidate.name!r} has {how} as {protected.kind.replace('_', ' ')} "
        f"{protected.name!r} ({origin}), where {path_note}; declared here as {labels}, it would relabel protected "
        f"data. Keep its category, or two data-protection officers grant an exception for {candidate.name!r}"
    )


# -- errors ---------------------------------------------------------------------------------------


def _renamed(error: TesseraError, old: str, new: str) -> TesseraError:
    """The same error with the loader's name for a text source (``<text 0>``) replaced by ``new``."""
    found = getattr(error, "field", None)
    if not isinstance(found, str) or not found.startswith(old):
        return error
    renamed = type(error).__new__(type(error))
    renamed.__dict__.update(error.__dict__)
    renamed.field = new + found[len(old) :]  # type: ignore[attr-defined]
    if isinstance(error, ProtectedCategoryError):
        renamed.where = error.where.replace(old, new, 1)  # type: ignore[attr-defined]
    renamed.args = (str(error).replace(old, new, 1),)
    return renamed
