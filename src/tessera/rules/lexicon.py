"""The backstop lexicon: a name that says it is protected data is refused when it is declared (issue 16).

The guard judges a rule by the category each declared field carries. A declaration that
calls religion data "reference" would pass it; this lexicon reads the *names* instead.
``builtin/lexicon.toml`` lists, per protected category and language (English, Spanish,
French, Portuguese, Arabic, Russian, Chinese, and romanised Russian, Chinese and Arabic),
the words that denote it, with its sources. A name is split into tokens and read as written
and romanised (``docs/rules.md``, "The lexicon"); ambiguous words (``party``, ``union``)
are judged by the other tokens of the name they appear in.

What a match means is for ``refusal`` to say: a forbidden category's word refuses any
name; a health or disability word refuses a name whose field is not declared as health or
disability data (it may be declared, under its own label, so the guard restricts it to
rules that grant a benefit). An exception is never made here: two data-protection officers
grant it, with a reason, per declarations version (``tessera.rules.declarations``).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from tessera.errors import InvalidInputError, ProtectedCategoryError
from tessera.rules.categories import FAVOURABLE_ONLY, FORBIDDEN, Category
from tessera.rules.definitions import builtin_path
from tessera.text import match_key

LEXICON_FILE = "lexicon.toml"
LANGUAGES = ("en", "es", "fr", "pt", "ar", "ru", "zh", "ru_latn", "zh_latn", "ar_latn")
PROTECTED = FORBIDDEN | FAVOURABLE_ONLY | {Category.derived}  # derived: words naming a rule's output
NAME_CHECKED_MAX = 256  # characters of one name; declared names are at most 64
TOKENS_RUN_MAX = 16  # tokens run together (``r_e_l_i_g_i_o_n``) at most this many
WORD_MAX = 64  # characters of one word or phrase in the lexicon
ARABIC_STEM_LETTERS_MIN = 3  # an article is stripped only from a word left with a three-letter root or more
RUN_LETTERS_MIN = 5  # a word matches tokens run together only if it is at least this long
_TOKEN = re.compile(r"[^\W_]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ARABIC_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat, Quranic marks, tatweel
# Arabic letter forms written alike in names: hamza seats, alef maqsura, taa marbuta.
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})  # noqa: RUF001 (Arabic on purpose)
_ARABIC_ARTICLES = ("وال", "بال", "فال", "كال", "لل", "ال")
_SOURCE_KEYS = {"id", "cite", "url"}
_CATEGORY_KEYS = {"category", "sources", *LANGUAGES}
_AMBIGUOUS_KEYS = {"word", "language", "category", "protected", "protected_with", "allowed_with", "note"}


@dataclass(frozen=True, slots=True)
class Denotation:
    """A lexicon word found in a name: the category it denotes, the entry as listed, its language, what matched."""

    category: Category
    entry: str  # as the lexicon writes it: "worship*", "trade union*", "信仰"
    language: str  # the lexicon's key: "en", "ru_latn", ...
    matched: str  # the part of the name that matched, in the form it matched ("worship", "tserkvi")

    def describe(self) -> str:
        """For messages: "religion (lexicon: 'worship*', en, matched 'worship')"."""
        return f"{self.category.value} (lexicon: {self.entry!r}, {self.language}, matched {self.matched!r})"


@dataclass(frozen=True, slots=True)
class _Context:
    protected: bool  # the reading when none of the context words is there
    protected_with: tuple[str, ...]  # normalised patterns; "member*" is a stem
    allowed_with: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str  # normalised: the words run together; for a stem, without the "*"
    stem: bool
    category: Category
    language: str
    written: str
    context: _Context | None = None


class Lexicon:
    """Words that denote protected categories, from a lexicon document (``builtin/lexicon.toml``'s shape)."""

    def __init__(self, document: Mapping[str, Any], name: str = LEXICON_FILE) -> None:
        self.name = name
        self.sources = _sources(document, name)
        self._words: dict[str, list[_Entry]] = {}
        self._stems: dict[str, list[_Entry]] = {}
        self._han: dict[str, _Entry] = {}
        owner: dict[tuple[str, bool], Category] = {}
        for key in document:
            if key not in ("source", "category", "ambiguous"):
                raise InvalidInputError(f"{name}:{key}", "unknown table; a lexicon holds source, category, ambiguous")
        for i, table in enumerate(_tables(document, "category", name)):
            where = f"{name}:category[{i}]"
            _keys(table, where, {"category", "sources"}, _CATEGORY_KEYS)
            category = _protected_category(table["category"], f"{where}.category")
            for source in _strings(table["sources"], f"{where}.sources"):
                if source not in self.sources:
                    raise InvalidInputError(f"{where}.sources", f"no [[source]] has the id {source!r}")
            for language in LANGUAGES:
                for j, written in enumerate(_strings(table.get(language, []), f"{where}.{language}")):
                    self._add(_entry(written, category, language, None, f"{where}.{language}[{j}]"), owner)
        for i, table in enumerate(_tables(document, "ambiguous", name)):
            where = f"{name}:ambiguous[{i}]"
            _keys(table, where, {"word", "language", "category", "protected", "note"}, _AMBIGUOUS_KEYS)
            if table["language"] not in LANGUAGES:
                raise InvalidInputError(f"{where}.language", f"must be one of {', '.join(LANGUAGES)}")
            if not isinstance(table["protected"], bool):
                raise InvalidInputError(f"{where}.protected", "must be true or false")
            context = _Context(
                table["protected"],
                tuple(_pattern(p, f"{where}.protected_with") for p in _strings(table.get("protected_with", []), where)),
                tuple(_pattern(p, f"{where}.allowed_with") for p in _strings(table.get("allowed_with", []), where)),
            )
            if not (context.protected_with if not context.protected else context.allowed_with):
                wanted = "allowed_with" if context.protected else "protected_with"
                raise InvalidInputError(f"{where}.{wanted}", "an ambiguous word names the contexts that decide it")
            category = _protected_category(table["category"], f"{where}.category")
            self._add(_entry(table["word"], category, table["language"], context, f"{where}.word"), owner)
        if not self._words and not self._stems and not self._han:
            raise InvalidInputError(name, "the lexicon lists no word")
        longest_first = sorted(self._han, key=len, reverse=True)
        self._han_pattern = re.compile("|".join(map(re.escape, longest_first))) if longest_first else None

    def _add(self, entry: _Entry, owner: dict[tuple[str, bool], Category]) -> None:
        known = owner.setdefault((entry.key, entry.stem), entry.category)
        if known is not entry.category:
            raise InvalidInputError(
                f"{self.name}:{entry.written}",
                f"listed under {known.value} and {entry.category.value}: one category each",
            )
        if entry.key and _HAN.search(entry.key):
            self._han.setdefault(entry.key, entry)
        else:
            (self._stems if entry.stem else self._words).setdefault(entry.key, []).append(entry)

    def __len__(self) -> int:
        return sum(map(len, self._words.values())) + sum(map(len, self._stems.values())) + len(self._han)

    def denotations(self, name: str, context: Iterable[str] = ()) -> list[Denotation]:
        """Every protected category ``name`` denotes, by the lexicon; ``context``: the names around it (its type's).

        An ambiguous word counts only where the tokens around it (the name's other tokens and
        the context's) make it protected.
        """
        if not isinstance(name, str) or len(name) > NAME_CHECKED_MAX:
            raise InvalidInputError(
                "name", f"a name checked against the lexicon is a text of at most {NAME_CHECKED_MAX}"
            )
        found: dict[str, Denotation] = {}
        around = [t for c in context for form in _forms(c) for t in _tokens(form)]
        for form in _forms(name):
            tokens = _tokens(form)
            if self._han_pattern is not None:
                for hit in self._han_pattern.finditer("".join(tokens)):
                    entry = self._han[hit.group()]
                    found.setdefault(
                        entry.written, Denotation(entry.category, entry.written, entry.language, hit.group())
                    )
            for entry, first, last in self._matches(tokens):
                others = [*tokens[:first], *tokens[last + 1 :], *around]
                if entry.context is None or _protected_in(entry.context, others):
                    matched = "".join(tokens[first : last + 1])
                    found.setdefault(entry.written, Denotation(entry.category, entry.written, entry.language, matched))
        return list(found.values())

    def _matches(self, tokens: list[str]) -> Iterable[tuple[_Entry, int, int]]:
        """(entry, first token, last token) for each word or stem matching a token, or tokens run together."""
        for first in range(len(tokens)):
            run = ""
            for last in range(first, min(len(tokens), first + TOKENS_RUN_MAX)):
                before, run = len(run), run + tokens[last]
                alone = last == first
                for entry in self._words.get(run, ()):
                    if alone or len(run) >= RUN_LETTERS_MIN:
                        yield entry, first, last
                # A stem within the tokens before this one was found by a shorter run already.
                for end in range(before + 1, len(run) + 1):
                    for entry in self._stems.get(run[:end], ()):
                        if alone or end >= RUN_LETTERS_MIN:
                            yield entry, first, last

    def refusal(self, name: str, context: Iterable[str] = (), labels: Collection[Category] = ()) -> Denotation | None:
        """What refuses ``name`` with its field's categories ``labels``, or None.

        A forbidden category's word refuses it whatever the labels; a health or disability
        word unless ``labels`` hold health or disability (the field, or a field or purpose
        around it, declares that data as what it is).
        """
        for denotation in self.denotations(name, context):
            if denotation.category in FORBIDDEN or denotation.category is Category.derived:
                return denotation
            if not FAVOURABLE_ONLY.intersection(labels):
                return denotation
        return None

    def check_name(
        self,
        name: str,
        where: str,
        field: str,
        *,
        context: Iterable[str] = (),
        labels: Collection[Category] = (),
        exceptions: Collection[str] = (),
        exception_key: str | None = None,
    ) -> None:
        """Raise ProtectedCategoryError at ``where``.``field`` if the lexicon refuses ``name``.

        ``exceptions`` holds the keys two DPOs granted; ``exception_key`` (default: ``name``)
        is the key that would waive this one.
        """
        found = self.refusal(name, context, labels)
        if found is None or (exception_key or name) in exceptions:
            return
        raise ProtectedCategoryError(where, field, found.category.value, _reason(name, found, exception_key or name))


def _reason(name: str, found: Denotation, key: str) -> str:
    if found.category in FORBIDDEN:
        why = "which no declaration may hold"
    elif found.category is Category.derived:
        why = "a rule's output, which no rule may read back as input, by any path"
    else:
        why = f"so it must be declared as {found.category.value} data (then only rules that grant a benefit read it)"
    return (
        f"the name {name!r:.80} denotes {found.describe()}, {why}; rename it, or two data-protection officers "
        f"grant an exception for {key!r:.80} with a reason"
    )


def check_benefit_name(benefit: str, where: str, field: str = "benefit", exceptions: Collection[str] = ()) -> None:
    """Refuse a benefit (eligibility) named for a forbidden category; a health or disability benefit is lawful.

    For the rule loader and a register of benefits: a "mosque_upkeep_grant" is a grant on
    religion, a "disability_allowance" a favourable use of disability data.
    """
    builtin_lexicon().check_name(benefit, where, field, labels=FAVOURABLE_ONLY, exceptions=exceptions)


@cache
def builtin_lexicon() -> Lexicon:
    """The lexicon Tessera ships (``builtin/lexicon.toml``), loaded once."""
    path = builtin_path(LEXICON_FILE)
    return Lexicon(tomllib.loads(path.read_text(encoding="utf-8")), str(path))


# -- forms of a name ---------------------------------------------------------------------------


@cache
def _transliterators() -> tuple[Any, Any]:
    import icu  # type: ignore[import-untyped]  # noqa: PLC0415 (ICU loads only for a name that is not ASCII)

    bgn = icu.Transliterator.createInstance("Russian-Latin/BGN; Any-Latin; Latin-ASCII")
    iso = icu.Transliterator.createInstance("Any-Latin; Latin-ASCII")
    return bgn, iso


def _written(text: str) -> str:
    """The matching key (``tessera.text.match_key``) in lower case, Arabic marks dropped and letter forms unified."""
    written = match_key(text).casefold()
    if written.isascii():
        return written
    return _ARABIC_MARKS.sub("", unicodedata.normalize("NFC", written)).translate(_ARABIC_LETTERS)


def _forms(text: str) -> tuple[str, ...]:
    """The name as written and, if not ASCII, romanised two ways (BGN/PCGN; ISO 9 and ICU's Any-Latin), in ASCII."""
    written = _written(text)
    if written.isascii():
        return (written,)
    return tuple(dict.fromkeys((written, *(_romanised(written, t) for t in _transliterators()))))


def _romanised(written: str, transliterator: Any) -> str:
    return str(transliterator.transliterate(written.replace("ё", "йо"))).casefold()


def _tokens(form: str) -> list[str]:
    """Letters and digits between separators; an Arabic token without its article (``المسجد`` is ``مسجد``)."""
    tokens = _TOKEN.findall(form)
    for i, token in enumerate(tokens):
        if "\u0600" <= token[0] <= "\u06ff":
            for article in _ARABIC_ARTICLES:
                if token.startswith(article) and len(token) - len(article) >= ARABIC_STEM_LETTERS_MIN:
                    tokens[i] = token[len(article) :]
                    break
    return tokens


def _normalised(text: str, field: str) -> str:
    """A lexicon word in the form names are matched in: Latin folded to ASCII, others as written; words run together."""
    form = _written(text)
    if not form.isascii() and _is_latin(form):
        form = _romanised(form, _transliterators()[1])  # Any-Latin; Latin-ASCII folds a Latin word's accents
    key = "".join(_tokens(form))
    if not key:
        raise InvalidInputError(field, f"{text!r:.40} has no letter or digit")
    return key


def _is_latin(text: str) -> bool:
    return all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in text if c.isalpha())


def _entry(written: object, category: Category, language: str, context: _Context | None, field: str) -> _Entry:
    if not isinstance(written, str) or not written.strip() or len(written) > WORD_MAX:
        raise InvalidInputError(field, f"a word is 1-{WORD_MAX} characters")
    stem = written.endswith("*")
    return _Entry(_normalised(written.removesuffix("*"), field), stem, category, language, written, context)


def _pattern(written: str, field: str) -> str:
    return _normalised(written.removesuffix("*"), field) + ("*" if written.endswith("*") else "")


def _protected_in(context: _Context, tokens: list[str]) -> bool:
    def any_match(patterns: tuple[str, ...]) -> bool:
        for pattern in patterns:
            stem = pattern.removesuffix("*")
            if any(t.startswith(stem) if pattern.endswith("*") else t == stem for t in tokens):
                return True
        return False

    if any_match(context.protected_with):
        return True
    return context.protected and not any_match(context.allowed_with)


# -- the document's shape ----------------------------------------------------------------------


def _sources(document: Mapping[str, Any], name: str) -> dict[str, str]:
    sources: dict[str, str] = {}
    for i, table in enumerate(_tables(document, "source", name)):
        where = f"{name}:source[{i}]"
        _keys(table, where, {"id", "cite"}, _SOURCE_KEYS)
        if not isinstance(table["cite"], str) or not table["cite"].strip():
            raise InvalidInputError(f"{where}.cite", "says where the words come from")
        sources[str(table["id"])] = table["cite"]
    if not sources:
        raise InvalidInputError(f"{name}:source", "a lexicon cites its sources ([[source]] tables)")
    return sources


def _tables(document: Mapping[str, Any], key: str, name: str) -> list[dict[str, Any]]:
    found = document.get(key, [])
    if not isinstance(found, list) or not all(isinstance(t, dict) for t in found):
        raise InvalidInputError(f"{name}:{key}", f"must be an array of tables ([[{key}]])")
    return found


def _keys(table: Mapping[str, Any], where: str, required: set[str], known: set[str]) -> None:
    for key in sorted(required - table.keys()):
        raise InvalidInputError(f"{where}.{key}", "is required")
    for key in sorted(table.keys() - known):
        raise InvalidInputError(f"{where}.{key}", f"unknown key; expected {', '.join(sorted(known))}")


def _strings(value: object, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(field, "must be a list of strings")
    return value


def _protected_category(value: object, field: str) -> Category:
    if isinstance(value, str) and value in {c.value for c in PROTECTED}:
        return Category(value)
    raise InvalidInputError(field, f"must be a protected category: {', '.join(sorted(c.value for c in PROTECTED))}")
