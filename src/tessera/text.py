"""Names as they are compared (one matching key, built the same way wherever names meet), and text as people read it.

Names are stored as given: Persian and Indic names need the zero-width non-joiner and
joiner, Japanese names their ideographic variation selectors. Screening, the registry's
name checks and the sanctions import compare :func:`match_key` instead, which is the text

1. without its default-ignorable code points (``DEFAULT_IGNORABLE_RANGES``: zero-width
   spaces and joiners, the soft hyphen, word joiners, bidirectional marks, variation
   selectors, tag characters, Hangul fillers): a renderer shows none of them, so a name
   with one inside looks like the name without it and must match like it;
2. in NFKC, so that fullwidth, circled, ligature and other compatibility forms are the
   letters they stand for (a fullwidth ``Putin`` is ``Putin``);
3. with mixed-script look-alikes folded: in a word that mixes Latin, Cyrillic and Greek
   letters, a letter of a minority script is replaced by the letter of the word's main
   script that Unicode's confusables data (UTS #39, through ICU) says it looks like
   (``Putin`` written with a Cyrillic ``Er`` is ``Putin``; ``Vladimir`` in Cyrillic with
   Latin ``a`` and ``p`` inside is ``Vladimir`` in Cyrillic). A word in one script is left
   alone: screening romanises it.

Combining marks stay in the key: they tell names apart in many scripts, and romanisation
drops those Latin letters carry.

Other text a person reads (an address, a reason, grounds of appeal, a stated purpose, a
service's or an agency's name) is kept as written too, but it may not hide anything:
:func:`checked_text` and :func:`checked_visible` refuse what a reader cannot see or that
shows otherwise than it reads, naming the field, and :func:`shows_letter_or_digit` tells a
name that shows something from one of fillers and invisible characters only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

from tessera.errors import InvalidInputError

# Default_Ignorable_Code_Point, from DerivedCoreProperties.txt of Unicode 15.0 (the version
# of the ICU that screening links; Python 3.11's unicodedata is 14.0 and has no such
# property). That file derives it as
#     Other_Default_Ignorable_Code_Point + Cf + Variation_Selector
#     - White_Space - FFF9..FFFB (interlinear annotation format characters)
#     - 13430..1343F (Egyptian hieroglyph format characters) - Prepended_Concatenation_Mark
# and lists these ranges; tests/test_text.py checks them against ICU's own table and
# against unicodedata's Cf category.
DEFAULT_IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG FILLER, HANGUL JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ, AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, MONGOLIAN VOWEL SEPARATOR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE, NON-JOINER, JOINER, LEFT-TO-RIGHT and RIGHT-TO-LEFT MARK
    (0x202A, 0x202E),  # bidirectional embeddings and overrides
    (0x2060, 0x206F),  # WORD JOINER, invisible operators, bidirectional isolates, deprecated formats
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTOR-1..16
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (byte-order mark)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT controls
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN BEAM..END PHRASE
    (0xE0000, 0xE0FFF),  # tag characters, VARIATION SELECTOR-17..256, reserved
)
_IGNORABLE = re.compile("[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in DEFAULT_IGNORABLE_RANGES) + "]")
# Bidirectional embeddings, overrides and isolates: they reorder what is shown around them
# (U+202E + "NITUP" shows as "PUTIN").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# ZERO WIDTH NON-JOINER and JOINER: Persian and Indic writing needs them between letters.
JOINERS = "\u200c\u200d"
# What a reader is not shown as what it is: control characters (C0, DEL, C1), format
# characters, line and paragraph separators, surrogates, private-use and unassigned code points.
_UNSEEN_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "a format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a lone surrogate, not a character",
    "Co": "a private-use character, shown as anything or nothing",
    "Cn": "an unassigned code point",
}
# Runs of letters: the "words" whose scripts the look-alike fold compares.
_LETTERS = re.compile(r"[^\W\d_]+")
# The scripts whose letters are confused with each other, in the order that breaks a tie
# (Latin first: screening romanises to it). Each maps the skeletons of its basic letters to
# the letter: what a look-alike from another script is folded to.
_SCRIPTS = ("Latin", "Cyrillic", "Greek")
_MIXED = 2  # scripts in one word: a word in one script alone has no look-alikes to fold
_BASIC_LETTERS = {
    "Latin": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "Cyrillic": "".join(map(chr, range(0x0400, 0x0460))),
    "Greek": "".join(chr(c) for c in range(0x0391, 0x03CA) if unicodedata.category(chr(c)).startswith("L")),
}


def is_default_ignorable(char: str) -> bool:
    """Whether ``char`` is a default-ignorable code point: one that a renderer shows as nothing."""
    return _IGNORABLE.fullmatch(char) is not None


def without_ignorables(text: str) -> str:
    """``text`` with its default-ignorable code points removed."""
    return _IGNORABLE.sub("", text)


def described(char: str) -> str:
    """How a message names one character: ``U+202E RIGHT-TO-LEFT OVERRIDE``."""
    return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()


def checked_visible(text: str, field: str, *, newlines: bool = False, ignorables: bool = False) -> str:
    """``text``, if a reader sees all of it as it reads; else InvalidInputError naming ``field`` and the character.

    Refused: control characters (``"\\n"`` allowed where ``newlines``), format characters
    (the bidirectional embeddings, overrides, isolates and marks among them), line and
    paragraph separators, surrogates, private-use and unassigned code points, and every
    other default-ignorable code point (Hangul fillers, variation selectors, the combining
    grapheme joiner). The zero-width non-joiner and joiner alone may stand between two
    letters (or a letter and a mark), where Persian and Indic writing needs them.

    With ``ignorables`` (names, which are compared by :func:`match_key`, where they count
    for nothing), every default-ignorable code point but the bidirectional embeddings,
    overrides and isolates is kept: Japanese names need their variation selectors.
    """
    lines = text.split("\n") if newlines else (text,)
    if all(line.isprintable() for line in lines) and (ignorables or not _IGNORABLE.search(text)):
        return text  # the common case, in C: printable leaves out Cc, Cf, Cs, Co, Cn, Zl, Zp
    for i, char in enumerate(text):
        category = unicodedata.category(char)
        ignorable = is_default_ignorable(char)
        if category not in _UNSEEN_CATEGORIES and not ignorable:
            continue
        if char == "\n" and newlines:
            continue
        if ignorable and ignorables and char not in BIDI_CONTROLS:
            continue
        if char in JOINERS and 0 < i < len(text) - 1 and _is_letter(text[i - 1]) and _is_letter(text[i + 1]):
            continue
        if char in BIDI_CONTROLS:
            why = "it reorders what is shown"
        elif ignorable:
            why = "it shows as nothing"
        else:
            why = _UNSEEN_CATEGORIES[category]
        raise InvalidInputError(field, f"must not contain {described(char)}: {why}")
    return text


def checked_text(value: object, field: str, limit: int, *, newlines: bool = False) -> str:
    """Free text a person will read, kept as written: NFC, stripped, at most ``limit`` characters, all of it seen.

    What "seen" means is :func:`checked_visible`'s; whether the text may be empty, or must
    say something (:func:`shows_letter_or_digit`), is the caller's to decide.
    """
    return checked_visible(normalized(value, field, limit), field, newlines=newlines)


def normalized(value: object, field: str, limit: int) -> str:
    """``value``, a string, stripped and in NFC, of at most ``limit`` characters; else InvalidInputError."""
    if not isinstance(value, str):
        raise InvalidInputError(field, "must be a string")
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > limit:
        raise InvalidInputError(field, f"at most {limit} characters")
    return text


def shows_letter_or_digit(text: str) -> bool:
    """Whether ``text`` shows a letter or a digit: fillers and other default-ignorables do not count."""
    return any(unicodedata.category(char)[0] in "LN" for char in without_ignorables(text))


def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


@lru_cache(maxsize=1 << 16)
def match_key(text: str) -> str:
    """The form names are compared in: default-ignorables removed, NFKC, mixed-script look-alikes folded.

    Removing the ignorables first is enough: NFKC makes an ignorable only of another one
    (``U+FFA0`` and ``U+3164`` become ``U+1160``), which tests/test_text.py checks.
    """
    if text.isascii():
        return text
    key = unicodedata.normalize("NFKC", _IGNORABLE.sub("", text))
    if key.isascii():
        return key
    return _LETTERS.sub(_look_alikes_folded, key)


def _look_alikes_folded(word: re.Match[str]) -> str:
    """A word with the letters of its minority scripts replaced by look-alikes of its main script, where any."""
    text = word.group()
    script_of = _script_of()
    counts = dict.fromkeys(_SCRIPTS, 0)
    for char in text:
        script = script_of.get(char)
        if script is not None:
            counts[script] += 1
    if sum(1 for n in counts.values() if n) < _MIXED:
        return text
    main = max(_SCRIPTS, key=lambda s: counts[s])  # the first of the most frequent: Latin wins a tie
    targets = _targets(main)
    return "".join(targets.get(_skeleton(char), char) if script_of.get(char, main) != main else char for char in text)


@cache
def _script_of() -> dict[str, str]:
    """Every letter of the confusable scripts, by its script's name."""
    import icu  # type: ignore[import-untyped]  # noqa: PLC0415 (ICU loads only when a word mixes scripts)

    found: dict[str, str] = {}
    for script in _SCRIPTS:
        letters = icu.UnicodeSet(icu.UnicodeString(f"[[:Script={script}:]&[:L:]]"))
        for first, last in letters.ranges():
            found.update(dict.fromkeys(map(chr, range(ord(first), ord(last) + 1)), script))
    return found


@cache
def _targets(script: str) -> dict[str, str]:
    """The basic letters of ``script`` by their confusables skeleton, the first letter kept where two share one."""
    targets: dict[str, str] = {}
    for letter in _BASIC_LETTERS[script]:
        targets.setdefault(_skeleton(letter), letter)
    return targets


@lru_cache(maxsize=4096)
def _skeleton(char: str) -> str:
    """UTS #39's skeleton of one character: the prototype that its look-alikes share."""
    return str(_spoof_checker().getSkeleton(0, char))


@cache
def _spoof_checker() -> Any:
    import icu  # noqa: PLC0415

    return icu.SpoofChecker()
