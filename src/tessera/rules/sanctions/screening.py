"""Sanctions screening: match names (in any script), birth dates, nationalities and documents against listings.

A :class:`Screener` is built once from the listings (``SanctionsLists.entities()``) and then
answers many queries. For each query it:

1. normalises the name: its matching key (``tessera.text.match_key``: invisible characters
   dropped, NFKC, look-alikes from another script folded), romanised (Cyrillic by BGN/PCGN,
   as the US and UN lists spell it; other scripts by ICU's Any-Latin), ASCII, lower case,
   apostrophes dropped, split into tokens, and romanisation variants folded (``kh``/``h``,
   ``dzh``/``j``, ``w``/``u``...);
2. relates each query token to the list's vocabulary: the same token, a token one edit
   away (typos: an index of single-character deletions), or a token with the same
   metaphone key (``mohammed`` ~ ``muhammad``); a token not on the list is also compared
   as written, unfolded, with the list's written spellings (``kahdim`` ~ ``khadim``);
3. takes candidates from an inverted index, heaviest query tokens first, only as far as a
   name could still reach ``SCORE_FLOOR`` (a max-score bound), then drops those whose
   score bound falls short: the pre-filter never drops a name that could score that much;
   a batch's candidates are scored together in numpy arrays;
4. scores a name by weighted token coverage in both directions (weights are inverse
   document frequencies, so a shared ``muhammad`` counts for little and a shared rare
   surname for much), in any order, less a penalty when the listed person's given names
   all go unmatched while the query has names of its own (another of the family);
5. adjusts for the other facts: a conflicting birth date or nationality lowers the score,
   a matching one raises it slightly, a matching document number raises it much.

Scores lie in 0..1; a match at or above ``SCREEN_THRESHOLD`` is an alert for an officer
to confirm. Every match carries the features that made its score.
"""

from __future__ import annotations

import copy
import datetime
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

import icu  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA
from rigour.territories.lookup import _load_territory_names
from rigour.text import metaphone

from tessera.errors import BatchSizeError, InvalidInputError
from tessera.rules.sanctions.lists import ListedEntity
from tessera.text import match_key

SCREEN_THRESHOLD = 0.72  # calibrated on seeded labelled sets (docs/rules.md); alerts start here
SCORE_FLOOR = 0.7  # weaker candidates are not reported, nor looked for: the pre-filter prunes by it
MATCHES_LIMIT_MAX = 100
SCREEN_BATCH_MAX = 100_000
QUERY_NAME_MAX = 500
IDENTIFIERS_MAX = 20
IDENTIFIER_CHARS_MAX = 100  # a passport, identity card or registry number, with room to spare
ENTITIES_MAX = 2_000_000

# Weights of the score. The query side counts more: people leave out middle names far
# more often than they add ones that are not on the list.
QUERY_SIDE_WEIGHT = 0.7
FUZZY_TOKEN_LENGTH_MIN = 4  # shorter tokens match one letter lost or replaced at most ("won" ~ "von")
SHORT_TOKEN_LENGTH = 3
FUZZY_CREDIT_POWER = 1.0  # one edit in five letters earns 0.8; a higher power makes near names count for less
PHONETIC_SIMILARITY = 0.85  # the credit for a token that sounds the same but is spelled otherwise
HITS_CACHE_MAX = 20_000  # query tokens whose index hits are kept
BOUND_MARGIN = 1e-9  # far above float rounding, far below the 4 decimals scores are given in
SCREEN_CHUNK = 1024  # queries scored together: large enough to share array work, small enough to bound memory
GIVEN_NAMES_CONFLICT_PENALTY = 0.1  # calibrated like the threshold: the family name alone is not the person
BIRTH_DATE_MATCH_BONUS = 0.05
BIRTH_YEAR_NEAR_PENALTY = 0.08  # one year off: lists often give a year or two, people misremember
BIRTH_DATE_CONFLICT_PENALTY = 0.3  # a perfect name born years apart falls below the threshold
NATIONALITY_MATCH_BONUS = 0.03
NATIONALITY_CONFLICT_PENALTY = 0.12
IDENTIFIER_MATCH_BONUS = 0.3

_ROMANISE = icu.Transliterator.createInstance("Russian-Latin/BGN; Any-Latin; Latin-ASCII")
_APOSTROPHES = str.maketrans("", "", "'`\u00b4\u2018\u2019\u02b9\u02bb\u02bc\u02bf\u02be\u02c8")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
# Spellings that romanisations of one name disagree on, folded to one: BGN's "Dzharamillo",
# "Khenao", "Yelektroniks" and the list's "Jaramillo", "Henao", "Electronics" meet here.
# Longer spellings first; single letters last, in one translation.
_ROMANISATION_VARIANTS = (
    ("dzh", "j"), ("dj", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"), ("dh", "d"),
    ("ck", "k"), ("ou", "u"), ("oo", "u"), ("ee", "i"), ("ye", "e"), ("yu", "u"), ("ya", "a"), ("yo", "o"),
)  # fmt: skip
_ROMANISATION_LETTERS = str.maketrans({"w": "u", "q": "k", "c": "k", "x": "ks", "y": "i"})
_DOUBLED = re.compile(r"([a-z])\1+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")
_NO_NAMES: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
_NO_SCORES: npt.NDArray[np.float64] = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ScreeningQuery:
    """A person or organisation to screen: a name in any script, and what else is known."""

    name: str
    birth_date: str | None = None  # YYYY-MM-DD
    country: str | None = None  # ISO 3166-1 alpha-2: nationality, or an organisation's country
    identifiers: tuple[str, ...] = ()  # passport, national ID or registration numbers


@dataclass(frozen=True, slots=True)
class _TokenHits:
    """One query token's reach: related list tokens, its weight, and the names it reaches with their best similarity."""

    related: dict[int, float]
    weight: float
    names: npt.NDArray[np.int64]  # ascending name ids
    similarity: npt.NDArray[np.float64]  # per name, its best related token's similarity ...
    listed: npt.NDArray[np.float64]  # ... and that times the token's weight in the name
    listed_max: float  # the most it adds to a name's listed coverage


@dataclass(frozen=True, slots=True)
class _Plan:
    """One query's hits and the max-score bound that decides which of them feed the pre-filter."""

    query: ScreeningQuery
    hits: list[_TokenHits]
    total: float  # the query's weight: its tokens' weights summed
    floor: float  # the name score a match needs, the query's possible bonuses taken off
    taken: list[_TokenHits]  # the hits whose names are candidates


@dataclass(frozen=True, slots=True)
class Match:
    """A listing that resembles the query: its best-matching name, the score and why."""

    list_id: str
    name: str
    score: float
    features: Mapping[str, float]
    entity: ListedEntity = field(repr=False, compare=False)


@lru_cache(maxsize=1 << 16)
def romanised(text: str) -> str:
    """``text`` in ASCII Latin letters: Cyrillic by BGN/PCGN, other scripts by ICU's Any-Latin."""
    if text.isascii():
        return text
    # BGN writes ё as "yë", which ASCII folding makes "ye"; every other system, and people, write "yo".
    return str(_ROMANISE.transliterate(text.replace("ё", "йо").replace("Ё", "Йо")))


@lru_cache(maxsize=1 << 17)
def _folded(token: str) -> str:
    """A token with romanisation variants folded (``kh`` to ``h``, ``dzh`` to ``j``, ...) and doubled letters single."""
    for spelling, folded in _ROMANISATION_VARIANTS:
        if spelling in token:
            token = token.replace(spelling, folded)
    return _DOUBLED.sub(r"\1", token.translate(_ROMANISATION_LETTERS))


@lru_cache(maxsize=1 << 16)
def _spellings(name: str) -> tuple[tuple[str, str], ...]:
    """(as written, folded) for each matching token of a name, one per folded token, in order.

    The name is read in its matching key first (``tessera.text.match_key``): a zero-width
    space, a soft hyphen or a Cyrillic look-alike inside a Latin word changes nothing.
    """
    text = romanised(match_key(name)).lower().translate(_APOSTROPHES)
    if not text.isascii():
        # Marks romanisation left (an enclosing circle, a Cyrillic millions sign) belong to
        # the letter before them: dropped, they do not split its word in two.
        text = "".join(c for c in text if not unicodedata.category(c).startswith("M"))
    found: dict[str, str] = {}
    for token in _SEPARATORS.split(text):
        if token:
            found.setdefault(_folded(token), token)
    return tuple((written, folded) for folded, written in found.items())


def clear_caches() -> None:
    """Empty the module's per-token caches, so that a bench can measure a cold start."""
    for cached in (match_key, romanised, _folded, _spellings, _metaphone):
        cached.cache_clear()


def name_tokens(name: str) -> tuple[str, ...]:
    """The matching tokens of a name: romanised, lower case, apostrophes dropped, split at the rest, folded."""
    return tuple(folded for _, folded in _spellings(name))


@lru_cache(maxsize=1 << 16)
def _metaphone(token: str) -> str:
    return str(metaphone(token))


def _deletes(token: str) -> list[str]:
    """The token without each one of its characters: two tokens one edit apart share one of these."""
    return [token[:i] + token[i + 1 :] for i in range(len(token))]


def _edit_keys(token: str) -> list[str]:
    """Keys two tokens one edit apart share: the token and its deletions; three letters, one replaced or lost."""
    if len(token) < SHORT_TOKEN_LENGTH or not token.isalpha():
        return []
    if len(token) == SHORT_TOKEN_LENGTH:
        return [token, *(token[:i] + "?" + token[i + 1 :] for i in range(SHORT_TOKEN_LENGTH))]
    return [token, *_deletes(token)]


def _edit_index(tokens: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Tokens by the keys that find them one edit away (``_edit_keys``)."""
    index: dict[str, list[int]] = {}
    for token_id, token in enumerate(tokens):
        if len(token) == SHORT_TOKEN_LENGTH and token.isalpha():
            # Three letters: one letter replaced ("won" ~ "von"), never one more or less.
            for i in range(SHORT_TOKEN_LENGTH):
                index.setdefault(token[:i] + "?" + token[i + 1 :], []).append(token_id)
        if len(token) >= FUZZY_TOKEN_LENGTH_MIN and token.isalpha():
            for key in (token, *_deletes(token)):
                index.setdefault(key, []).append(token_id)
    return _untracked(index)


def _untracked(index: dict[str, list[int]]) -> dict[str, tuple[int, ...]]:
    """The index with tuples for lists: the garbage collector stops walking tuples of ints, never lists.

    A full collection walks every list; hundreds of thousands of them made each one take
    ~0.3 s, and halved the screening rate of a process that had collected once.
    """
    return {key: tuple(ids) for key, ids in index.items()}


def _territory_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(_SEPARATORS.split("".join(c for c in decomposed if not unicodedata.combining(c)))).strip()


@cache
def _territory_codes() -> dict[str, str]:
    """Country names (strong, then weak) and codes to ISO alpha-2 codes, a region to its country's.

    Built here rather than through ``rigour.territories.lookup_territory``: that one romanises
    its 28,000 names with rigour's transliterator first, ~3 s at every start of a process.
    """
    strong: dict[str, str] = {}
    weak: dict[str, str] = {}
    for territory, strongs, weaks, _places in _load_territory_names():
        code = str(territory.code).split("-")[0].upper()
        for name in (territory.code, territory.alpha3 or "", *territory.other_codes, *strongs):
            strong.setdefault(_territory_key(name), code)
        for name in weaks:
            weak.setdefault(_territory_key(name), code)
    merged = weak | strong
    merged.pop("", None)  # names in scripts the key does not keep
    return merged


@lru_cache(maxsize=4096)
def _country_code(text: str) -> str | None:
    """The ISO alpha-2 code of a country named or coded in any common way (``Korea, North``: ``KP``)."""
    return _territory_codes().get(_territory_key(match_key(text))) if text else None


def _identifier_key(text: str) -> str:
    return _NOT_ALNUM.sub("", match_key(text).upper())


def checked_query(query: object, at: str = "query", fields: Mapping[str, str] | None = None) -> ScreeningQuery:
    """``query`` if it is a well-formed ``ScreeningQuery``; else ``InvalidInputError`` naming ``at`` and the field.

    ``fields`` renames the fields in the error (``{"birth_date": "--birth-date"}`` for a command line).
    """
    named = {f: f"{at}.{f}" for f in ("name", "birth_date", "country", "identifiers")} | dict(fields or {})
    if not isinstance(query, ScreeningQuery):
        raise InvalidInputError(at, "must be a ScreeningQuery")
    if not isinstance(query.name, str) or not query.name.strip() or len(query.name) > QUERY_NAME_MAX:
        raise InvalidInputError(named["name"], f"must be a name of 1-{QUERY_NAME_MAX} characters")
    if not name_tokens(query.name):
        raise InvalidInputError(named["name"], "has no letters or digits")
    if query.birth_date is not None:
        try:
            if not isinstance(query.birth_date, str) or not _ISO_DATE.fullmatch(query.birth_date):
                raise ValueError
            datetime.date.fromisoformat(query.birth_date)
        except ValueError:
            raise InvalidInputError(
                named["birth_date"], f"must be a date YYYY-MM-DD, got {query.birth_date!r}"
            ) from None
    if query.country is not None and (not isinstance(query.country, str) or not _COUNTRY_CODE.fullmatch(query.country)):
        raise InvalidInputError(named["country"], f"must be a two-letter country code, got {query.country!r}")
    if not isinstance(query.identifiers, tuple) or len(query.identifiers) > IDENTIFIERS_MAX:
        raise InvalidInputError(named["identifiers"], f"must be a tuple of at most {IDENTIFIERS_MAX} strings")
    if not all(isinstance(i, str) and 0 < len(i) <= IDENTIFIER_CHARS_MAX for i in query.identifiers):
        raise InvalidInputError(named["identifiers"], f"each must be a string of 1-{IDENTIFIER_CHARS_MAX} characters")
    return query


class Screener:
    """An in-memory index of listings, built once, that screens queries against them."""

    def __init__(self, entities: Iterable[ListedEntity]) -> None:
        self._entities: list[ListedEntity] = []
        # Tuples rather than sets here and below: sets stay on the garbage collector's books (_untracked).
        self._countries: list[tuple[str, ...]] = []
        self._documents: list[tuple[str, ...]] = []
        self._name_entity: list[int] = []
        self._name_text: list[str] = []
        self._name_tokens: list[tuple[int, ...]] = []
        self._given_names: list[tuple[int, ...]] = []  # after the comma of "FAMILY, Given Names"
        self._vocabulary: dict[str, int] = {}
        self._tokens: list[str] = []
        self._postings: list[list[int]] = []
        self._written: dict[str, int] = {}  # spellings as written (romanised, not folded): their folded token
        for entity in entities:
            if not isinstance(entity, ListedEntity):
                raise InvalidInputError("entities", "must be ListedEntity records")
            self._add(entity)
            if len(self._entities) > ENTITIES_MAX:
                raise BatchSizeError("entities", f"at most {ENTITIES_MAX} listings")
        names = len(self._name_text)
        # Inverse document frequency: a token in every name weighs ~0, one in a single name the most.
        self._idf = [math.log(1 + names / len(p)) for p in self._postings]
        self._idf_unseen = math.log(1 + names) if names else 1.0
        self._idf_array = np.array(self._idf, dtype=np.float64)
        self._name_weight = np.array([sum(self._idf[t] for t in tokens) for tokens in self._name_tokens])
        self._name_stride = max(1, names)  # (row, name) pairs travel as one int64 key: row x stride + name
        self._posting_arrays = [np.array(p, dtype=np.int64) for p in self._postings]  # ascending, as added
        self._postings = []  # the arrays hold them now, out of the garbage collector's way
        phonetic: dict[str, list[int]] = {}
        for token_id, token in enumerate(self._tokens):
            if len(token) >= FUZZY_TOKEN_LENGTH_MIN and token.isalpha():
                phonetic.setdefault(_metaphone(token), []).append(token_id)
        self._phonetic = _untracked(phonetic)
        self._edits = _edit_index(self._tokens)
        # A typo next to a folded spelling ("kahdim" for "khadim", folded "hadim"; "unliited" for
        # "unlimited", folded "unlited") is two edits from the folded token but one from the written one.
        self._written_tokens = list(self._written)
        self._written_of = [self._written[w] for w in self._written_tokens]
        self._written_edits = _edit_index(self._written_tokens)
        self._hits_cache: dict[str, _TokenHits] = {}
        self._restricted_count: int | None = None

    def _add(self, entity: ListedEntity) -> None:
        index = len(self._entities)
        self._entities.append(entity)
        self._countries.append(tuple(sorted(set(filter(None, (_country_code(c) for c in entity.nationalities))))))
        self._documents.append(tuple(sorted(set(filter(None, (_identifier_key(i) for i in entity.identifiers))))))
        for name in entity.names:
            spellings = _spellings(name)
            if not spellings:
                continue
            ids = []
            for written, token in spellings:
                token_id = self._vocabulary.setdefault(token, len(self._tokens))
                if token_id == len(self._tokens):
                    self._tokens.append(token)
                    self._postings.append([])
                self._postings[token_id].append(len(self._name_text))
                ids.append(token_id)
                self._written.setdefault(written, token_id)
            self._name_entity.append(index)
            self._name_text.append(name)
            self._name_tokens.append(tuple(ids))
            family, comma, given = match_key(name).partition(",")
            given_tokens = name_tokens(given) if comma and entity.kind == "person" and family.strip() else ()
            given_ids = {self._vocabulary[t] for t in given_tokens if t in self._vocabulary}
            self._given_names.append(tuple(sorted(given_ids)))

    def restricted(self, keys: Collection[tuple[str, str]]) -> Screener:
        """This index answering for only the listings named by (source, list id): the others are never candidates.

        Everything that weighs a token (the vocabulary and its inverse document frequencies,
        each name's weight) stays the whole list's, so a listing scores exactly as it does in
        the whole index; only the postings are cut down, so a query costs what the few
        listings' names cost. Cheap to make: one pass over the postings, no new tokens.
        """
        kept = np.fromiter(
            ((e.source, e.list_id) in keys for e in self._entities), dtype=np.bool_, count=len(self._entities)
        )
        names_kept = kept[np.asarray(self._name_entity, dtype=np.int64)] if self._name_entity else kept[:0]
        view = copy.copy(self)
        view._posting_arrays = [p[names_kept[p]] for p in self._posting_arrays]
        view._hits_cache = {}
        view._restricted_count = int(kept.sum())
        return view

    @property
    def entity_count(self) -> int:
        """How many listings the index answers for (those it was restricted to, if it was)."""
        return len(self._entities) if self._restricted_count is None else self._restricted_count

    @property
    def name_count(self) -> int:
        """How many names (primary names and aliases) the index holds."""
        return len(self._name_text)

    def screen_names(self, queries: Sequence[ScreeningQuery], limit: int = 10) -> list[list[Match]]:
        """Screen each query; for each, up to ``limit`` matches scoring ``SCORE_FLOOR`` or more, best first."""
        if isinstance(queries, str | bytes) or not isinstance(queries, Sequence):
            raise InvalidInputError("queries", "must be a list of ScreeningQuery")
        if len(queries) > SCREEN_BATCH_MAX:
            raise BatchSizeError("queries", f"at most {SCREEN_BATCH_MAX} per call, got {len(queries)}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MATCHES_LIMIT_MAX:
            raise InvalidInputError("limit", f"must be an integer from 1 to {MATCHES_LIMIT_MAX}")
        plans = [self._plan(checked_query(q, f"queries[{i}]")) for i, q in enumerate(queries)]
        results: list[list[Match]] = []
        for start in range(0, len(plans), SCREEN_CHUNK):
            results += self._screen_chunk(plans[start : start + SCREEN_CHUNK], limit)
        return results

    # --- query tokens ------------------------------------------------------------------------

    def _hits(self, written: str, token: str) -> _TokenHits:
        """What one query token reaches in the index; cached, since names share their tokens."""
        found = self._hits_cache.get(written)
        if found is not None:
            return found
        related = self._related(token, written)
        idf = self._idf
        top = max(related.values(), default=0.0)
        # A token weighs what the list token it resembles most weighs, or "rare" if there is none.
        weight = max((idf[t] for t, s in related.items() if s == top), default=self._idf_unseen)
        # Ascending similarity (stable), so that a name's entry ends as its best token's: the last one kept.
        ordered = sorted(related.items(), key=lambda item: item[1])
        if len(ordered) == 1:
            ((token_id, similarity),) = ordered
            names = self._posting_arrays[token_id]
            similarities = np.full(len(names), similarity)
            listed = np.full(len(names), similarity * idf[token_id])
        elif ordered:
            postings = [self._posting_arrays[t] for t, _ in ordered]
            every = np.concatenate(postings)
            # Stable: a name's entries stay in similarity order, and the last of each run is its best.
            order = np.argsort(every, kind="stable")
            every = every[order]
            last = np.empty(len(every), dtype=bool)
            np.not_equal(every[1:], every[:-1], out=last[:-1])
            last[-1:] = True  # a slice: a restricted screener's postings may all be empty
            names = every[last]
            source = np.repeat(np.arange(len(ordered)), [len(p) for p in postings])[order[last]]
            related_similarity = np.array([s for _, s in ordered])
            similarities = related_similarity[source]
            listed = (related_similarity * self._idf_array[[t for t, _ in ordered]])[source]
        else:
            names, similarities, listed = _NO_NAMES, _NO_SCORES, _NO_SCORES
        found = _TokenHits(related, weight, names, similarities, listed, float(listed.max(initial=0.0)))
        if len(self._hits_cache) >= HITS_CACHE_MAX:
            self._hits_cache.clear()  # a bound on memory; the common tokens come back at once
        self._hits_cache[written] = found
        return found

    def _related(self, token: str, written: str) -> dict[int, float]:
        """Vocabulary tokens like ``token``, with their similarity: 1 the same, less one edit away or alike in sound.

        One edit away as folded, or, for a token not on the list, as written (against the list's spellings).
        """
        found: dict[int, float] = {}
        exact = self._vocabulary.get(token)
        if exact is not None:
            found[exact] = 1.0
        passes: list[tuple[str, list[str], list[int] | None]] = [(token, self._tokens, None)]
        if exact is None:
            # A token on the list as it is is rarely a typo: the second look is for those that are not.
            passes.append((written, self._written_tokens, self._written_of))
        for edited, others, of in passes:
            edits = self._edits if of is None else self._written_edits
            for key in _edit_keys(edited):
                for other in edits.get(key, ()):
                    token_id = other if of is None else of[other]
                    if token_id not in found and OSA.distance(edited, others[other], score_cutoff=1) <= 1:
                        found[token_id] = (1.0 - 1.0 / max(len(edited), len(others[other]))) ** FUZZY_CREDIT_POWER
        if len(token) >= FUZZY_TOKEN_LENGTH_MIN and token.isalpha():
            for other in self._phonetic.get(_metaphone(token), ()):
                if found.get(other, 0.0) < PHONETIC_SIMILARITY:
                    found[other] = PHONETIC_SIMILARITY
        return found

    def _plan(self, query: ScreeningQuery) -> _Plan:
        """The query's token hits, and which of them a name must be reached by to possibly score the floor.

        Query tokens are taken heaviest first until the tokens left could not lift a name
        that none of the taken ones reached to the floor, even if they matched exactly and
        the name had nothing else (the "max-score" bound): only names the taken tokens reach
        are scored, and no other name can score the floor.
        """
        hits = [self._hits(written, token) for written, token in _spellings(query.name)]
        total = sum(h.weight for h in hits)
        # Only a query with a birth date, country or documents can move a score up, and only so far.
        reach_up = (
            (BIRTH_DATE_MATCH_BONUS if query.birth_date else 0.0)
            + (NATIONALITY_MATCH_BONUS if query.country else 0.0)
            + (IDENTIFIER_MATCH_BONUS if query.identifiers else 0.0)
        )
        floor = SCORE_FLOOR - reach_up
        needed = (floor - (1.0 - QUERY_SIDE_WEIGHT)) / QUERY_SIDE_WEIGHT * total
        remaining = sum(h.weight for h in hits if len(h.names))
        taken = []
        for hit in sorted((h for h in hits if len(h.names)), key=lambda h: -h.weight):
            if remaining < needed:
                break
            taken.append(hit)
            remaining -= hit.weight
        return _Plan(query, hits, total, floor, taken)

    # --- many queries at once ----------------------------------------------------------------

    def _candidates(
        self, plans: Sequence[_Plan]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(row, name) pairs, ascending, of the names each plan's taken hits reach, and a bound on their name score.

        No other name can score the floor (the max-score bound of ``_plan``); the bound counts
        what the taken hits give a name and supposes that every other token matched it fully.
        """
        stride = self._name_stride
        reached = [(row, hit) for row, plan in enumerate(plans) for hit in plan.taken]
        if not reached:
            return _NO_NAMES, _NO_NAMES, _NO_SCORES
        lengths = [len(hit.names) for _, hit in reached]
        keys = np.repeat(np.array([row for row, _ in reached], dtype=np.int64), lengths) * stride
        keys += np.concatenate([hit.names for _, hit in reached])
        query_got = np.concatenate([hit.similarity for _, hit in reached])
        query_got *= np.repeat([hit.weight for _, hit in reached], lengths)
        listed_got = np.concatenate([hit.listed for _, hit in reached])
        order = np.argsort(keys)
        keys = keys[order]
        firsts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        keys = keys[firsts]
        rows, names = keys // stride, keys % stride
        query_left = np.zeros(len(plans))
        listed_left = np.zeros(len(plans))
        for row, plan in enumerate(plans):
            for hit in plan.hits:
                if len(hit.names) and not any(hit is taken for taken in plan.taken):
                    query_left[row] += hit.weight
                    listed_left[row] += hit.listed_max
        totals = np.array([plan.total for plan in plans])
        query_bound = np.add.reduceat(query_got[order], firsts) + query_left[rows]
        listed_bound = np.minimum(
            1.0, (np.add.reduceat(listed_got[order], firsts) + listed_left[rows]) / self._name_weight[names]
        )
        bounds = QUERY_SIDE_WEIGHT / totals[rows] * query_bound + (1.0 - QUERY_SIDE_WEIGHT) * listed_bound
        return rows, names, bounds

    def _screen_chunk(self, plans: Sequence[_Plan], limit: int) -> list[list[Match]]:
        """Score every candidate of every plan in a few array operations, then rank each plan's survivors."""
        stride = self._name_stride
        pair_rows, pair_names, bounds = self._candidates(plans)
        floors = np.array([plan.floor for plan in plans] or [0.0])
        # Summed in another order than the exact scores below: a margin for rounding keeps the bound safe.
        kept = bounds >= floors[pair_rows] - BOUND_MARGIN
        pair_rows, pair_names = pair_rows[kept], pair_names[kept]
        # The hits of the chunk, each once, as one ascending array of (hit, name) keys.
        slot_of: dict[int, int] = {}
        unique: list[_TokenHits] = []
        slot_hit: list[int] = []
        slot_weight: list[float] = []
        slot_start = np.zeros(len(plans) + 1, dtype=np.int64)
        for row, plan in enumerate(plans):
            for hit in plan.hits:
                index = slot_of.setdefault(id(hit), len(unique))
                if index == len(unique):
                    unique.append(hit)
                slot_hit.append(index)
                slot_weight.append(hit.weight)
            slot_start[row + 1] = len(slot_hit)
        hit_names = np.concatenate([_NO_NAMES, *(h.names for h in unique)])
        hit_keys = np.repeat(np.arange(len(unique), dtype=np.int64), [len(h.names) for h in unique]) * stride
        hit_keys += hit_names
        hit_similarity = np.concatenate([_NO_SCORES, *(h.similarity for h in unique)])
        hit_listed = np.concatenate([_NO_SCORES, *(h.listed for h in unique)])
        # Every candidate pair against every token of its query, in query order: one lookup each.
        counts = (slot_start[1:] - slot_start[:-1])[pair_rows]
        pair_of = np.repeat(np.arange(len(pair_rows)), counts)
        firsts = np.cumsum(counts) - counts
        slots = np.repeat(slot_start[:-1][pair_rows] - firsts, counts) + np.arange(len(pair_of))
        wanted = np.asarray(slot_hit, dtype=np.int64)[slots] * stride + pair_names[pair_of]
        at = np.minimum(np.searchsorted(hit_keys, wanted), max(0, len(hit_keys) - 1))
        reached = hit_keys[at] == wanted if len(hit_keys) else np.zeros(len(wanted), dtype=bool)
        similarity = np.where(reached, hit_similarity[at] if len(hit_keys) else 0.0, 0.0)
        weighted = similarity * np.asarray(slot_weight, dtype=np.float64)[slots]
        query_got = np.bincount(pair_of, weights=weighted, minlength=len(pair_rows))
        listed_got = np.bincount(
            pair_of, weights=np.where(reached, hit_listed[at] if len(hit_keys) else 0.0, 0.0), minlength=len(pair_rows)
        )
        totals = np.array([plan.total for plan in plans] or [1.0])
        # Two query tokens matching one name token could count it twice: cap at the whole name.
        listed_coverage = np.minimum(1.0, listed_got / self._name_weight[pair_names])
        name_scores = QUERY_SIDE_WEIGHT / totals[pair_rows] * query_got + (1.0 - QUERY_SIDE_WEIGHT) * listed_coverage
        # The given-names penalty only lowers a score: names under the floor without it are out.
        survivors = np.flatnonzero(name_scores >= floors[pair_rows])
        best: list[dict[int, tuple[float, int, float, float, bool, list[float]]]] = [{} for _ in plans]
        given_names, name_entity = self._given_names, self._name_entity
        for pair in survivors.tolist():
            row, name_id = int(pair_rows[pair]), int(pair_names[pair])
            plan, name_score, got = plans[row], float(name_scores[pair]), float(query_got[pair])
            given = given_names[name_id]
            conflict = bool(given) and got < plan.total and all(h.related.keys().isdisjoint(given) for h in plan.hits)
            if conflict:
                # The family name matches but none of the listed given names does, and the
                # query has names of its own: most likely another member of the family.
                name_score -= GIVEN_NAMES_CONFLICT_PENALTY
                if name_score < plan.floor:
                    continue
            entity_index = name_entity[name_id]
            known = best[row].get(entity_index)
            if known is None or name_score > known[0]:
                first = int(firsts[pair])
                similarities = similarity[first : first + int(counts[pair])][reached[first : first + int(counts[pair])]]
                best[row][entity_index] = (
                    name_score,
                    name_id,
                    got / plan.total,
                    float(listed_coverage[pair]),
                    conflict,
                    similarities.tolist(),
                )
        return [self._ranked(plan, found, limit) for plan, found in zip(plans, best, strict=True)]

    def _ranked(
        self, plan: _Plan, best: Mapping[int, tuple[float, int, float, float, bool, list[float]]], limit: int
    ) -> list[Match]:
        """One query's listings at the floor or above, after the other facts, best first, with their features."""
        query = plan.query
        reach_up = plan.floor < SCORE_FLOOR
        scored = []
        for entity_index, found in best.items():
            name_score, name_id, query_coverage, listed_coverage, conflict, similarities = found
            adjustments = self._adjustments(entity_index, query) if reach_up else {}
            score = round(min(1.0, max(0.0, name_score + sum(adjustments.values()))), 4)
            if score >= SCORE_FLOOR:
                features = {
                    "name": round(name_score, 4),
                    "query_coverage": round(query_coverage, 4),
                    "listed_coverage": round(listed_coverage, 4),
                    **({"given_names": -GIVEN_NAMES_CONFLICT_PENALTY} if conflict else {}),
                    **adjustments,
                    "tokens_exact": float(sum(s == 1.0 for s in similarities)),
                    "tokens_similar": float(sum(s < 1.0 for s in similarities)),
                }
                scored.append((score, self._entities[entity_index].list_id, entity_index, name_id, features))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [
            Match(list_id, self._name_text[name_id], score, features, self._entities[entity_index])
            for score, list_id, entity_index, name_id, features in scored[:limit]
        ]

    def _adjustments(self, entity_index: int, query: ScreeningQuery) -> dict[str, float]:
        """How birth date, nationality and documents move the name score, by the feature that moves it."""
        adjustments: dict[str, float] = {}
        entity = self._entities[entity_index]
        if query.birth_date is not None and entity.birth_dates:
            adjustments["birth_date"] = _birth_date_effect(query.birth_date, entity.birth_dates)
        countries = self._countries[entity_index]
        if query.country is not None and countries:
            matched = query.country.upper() in countries
            adjustments["nationality"] = NATIONALITY_MATCH_BONUS if matched else -NATIONALITY_CONFLICT_PENALTY
        documents = self._documents[entity_index]
        if query.identifiers and documents and any(_identifier_key(i) in documents for i in query.identifiers):
            adjustments["identifier"] = IDENTIFIER_MATCH_BONUS
        return adjustments


def _birth_date_effect(wanted: str, listed: Sequence[str]) -> float:
    """Bonus for a listed date the query's fits (at the listed precision); penalty when none is near."""
    if any(wanted.startswith(date) for date in listed if date):
        return BIRTH_DATE_MATCH_BONUS
    year = int(wanted[:4])
    years = [int(date[:4]) for date in listed if date[:4].isdigit()]
    if not years:
        return 0.0
    if min(years) < year < max(years):
        return 0.0  # inside a listed span ("DOB 1960 to 1962"): neither for nor against
    if any(abs(year - y) <= 1 for y in years):
        return -BIRTH_YEAR_NEAR_PENALTY
    return -BIRTH_DATE_CONFLICT_PENALTY
