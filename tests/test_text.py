"""The matching key: invisible characters out, NFKC, look-alikes from another script folded."""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import icu  # type: ignore[import-untyped]
import pytest

from tessera.errors import InvalidInputError
from tessera.text import (
    DEFAULT_IGNORABLE_RANGES,
    checked_text,
    checked_visible,
    is_default_ignorable,
    match_key,
    shows_letter_or_digit,
    without_ignorables,
)

IGNORABLE = frozenset(cp for low, high in DEFAULT_IGNORABLE_RANGES for cp in range(low, high + 1))
# Format characters (Cf) that DerivedCoreProperties.txt takes out of Default_Ignorable_Code_Point:
# the prepended concatenation marks, the interlinear annotation characters, the Egyptian
# hieroglyph format controls (as far as Python's Unicode 14.0 has them).
VISIBLE_FORMATS = frozenset(
    [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD, *range(0xFFF9, 0xFFFC)]
) | frozenset(range(0x13430, 0x13440))


class TestDefaultIgnorables:
    def test_the_ranges_are_icus_default_ignorable_code_points(self) -> None:
        """The ranges written out here are the property as ICU (Unicode 15.0) has it, no more, no less."""
        icu_set = icu.UnicodeSet(icu.UnicodeString("[:Default_Ignorable_Code_Point:]"))
        assert [(ord(a), ord(b)) for a, b in icu_set.ranges()] == list(DEFAULT_IGNORABLE_RANGES)

    def test_every_format_character_is_ignorable_but_the_visible_ones(self) -> None:
        """Python's Cf category, less the derivation's exceptions, lies inside the ranges."""
        formats = {cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Cf"}
        assert formats - VISIBLE_FORMATS <= IGNORABLE
        assert not formats & VISIBLE_FORMATS & IGNORABLE

    def test_the_ignorables_are_formats_marks_fillers_or_reserved(self) -> None:
        """Nothing else slips in: variation selectors and joiners are marks, Hangul fillers letters."""
        assert {unicodedata.category(chr(cp)) for cp in IGNORABLE} == {"Cf", "Mn", "Lo", "Cn"}

    def test_nfkc_makes_an_ignorable_only_of_an_ignorable(self) -> None:
        """Removing the ignorables before NFKC is enough: NFKC brings no new one in."""
        made = [
            cp
            for cp in range(sys.maxunicode + 1)
            if not 0xD800 <= cp <= 0xDFFF
            and cp not in IGNORABLE
            and any(ord(c) in IGNORABLE for c in unicodedata.normalize("NFKC", chr(cp)))
        ]
        assert made == []

    def test_is_default_ignorable(self) -> None:
        """Zero-width and tag characters are default-ignorable and stripped; letters and Arabic number signs are not."""
        assert is_default_ignorable("\u200b") and is_default_ignorable("\U000e0041")
        assert not is_default_ignorable("a") and not is_default_ignorable("\u0600")
        assert without_ignorables("Pu\u200btin\u3164") == "Putin"


class TestMatchKey:
    @pytest.mark.parametrize(
        "written",
        [
            "Vladimir Putin",
            "Vlad\u200bimir Putin",  # zero-width space
            "Vladi\u00admir Pu\u00adtin",  # soft hyphens
            "Vladimir Pu\u2060tin",  # word joiner
            "Vladimir P\U000e0041\U000e007futin",  # tag characters
            "Vla\u3164dimir Pu\u115ftin",  # Hangul fillers
            "Vladimir\ufe0f Putin\u200d",  # a variation selector, a zero-width joiner
            "\u200eVladimir \u202ePutin",  # bidirectional marks and an override
            "\ufeffVladimir Putin",  # a byte-order mark
            "\uff36\uff4c\uff41\uff44\uff49\uff4d\uff49\uff52 \uff30\uff55\uff54\uff49\uff4e",  # fullwidth
            "Vl\u0430dimir \u0420utin",  # Cyrillic a and Er in Latin words
            "Vladimir \u03a1utin",  # a Greek Rho
        ],
    )
    def test_invisible_wide_and_look_alike_letters_fold_away(self, written: str) -> None:
        """Every spelling that shows as the name folds to the name."""
        assert match_key(written) == "Vladimir Putin"

    def test_a_letter_with_no_look_alike_stays(self) -> None:
        """A Cyrillic zhe in a Latin word looks like no Latin letter: it is kept for romanisation."""
        assert match_key("Pu\u0436in") == "Pu\u0436in"

    def test_a_word_in_one_script_is_left_alone(self) -> None:
        """Cyrillic stays Cyrillic, Arabic stays Arabic: screening romanises them later."""
        assert (
            match_key("\u0412\u043b\u0430\u0434\u0438\u043c\u0438\u0440")
            == "\u0412\u043b\u0430\u0434\u0438\u043c\u0438\u0440"
        )
        assert match_key("\u0645\u062d\u0645\u062f") == "\u0645\u062d\u0645\u062f"

    def test_a_mostly_cyrillic_word_takes_cyrillic_look_alikes(self) -> None:
        """Latin B, a and p inside a Cyrillic word become the Cyrillic letters they look like."""
        assert match_key("B\u043ba\u0434\u0438\u043c\u0438p") == "\u0412\u043b\u0430\u0434\u0438\u043c\u0438\u0440"

    def test_joiners_are_kept_in_the_name_and_left_out_of_the_key(self) -> None:
        """A Persian name with its zero-width non-joiner: stored as given, matched without it."""
        written = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647"
        assert match_key(written) == written.replace("\u200c", "")

    def test_combining_marks_stay(self) -> None:
        """Marks tell names apart in many scripts; NFKC composes them, nothing removes them."""
        assert match_key("Zoe\u0301") == "Zo\u00e9"
        assert match_key("\u0905\u092e\u093f\u0924") == "\u0905\u092e\u093f\u0924"

    def test_only_invisible__empty(self) -> None:
        """A name of invisible characters only has an empty match key, so it can match nothing."""
        assert match_key("\u200b\u3164\u00ad") == ""


# What a reader does not see, or not as what it is: one of each kind the checker refuses.
UNSEEN = {
    "C0": "a\x07b",
    "DEL": "a\x7fb",
    "C1": "a\x85b",
    "override": "a\u202eb",
    "embedding": "a\u202ab\u202c",
    "isolate": "a\u2068b\u2069",
    "left-to-right mark": "a\u200e b",
    "zero-width space": "a\u200bb",
    "soft hyphen": "a\u00adb",
    "word joiner": "a\u2060b",
    "byte-order mark": "\ufeffab",
    "tag letter": "ab\U000e0041",
    "Hangul filler": "a\u3164b",
    "Hangul jamo filler": "a\u115fb",
    "halfwidth Hangul filler": "a\uffa0b",
    "variation selector": "a\ufe0f",
    "ideographic variation selector": "\u845b\U000e0100",
    "combining grapheme joiner": "a\u034fb",
    "Mongolian vowel separator": "a\u180eb",
    "interlinear annotation": "a\ufff9b\ufffb",
    "line separator": "a\u2028b",
    "paragraph separator": "a\u2029b",
    "surrogate": "a\ud800b",
    "private use": "a\ue000b",
    "unassigned": "a\u0378b",
    "joiner at the start": "\u200dab",
    "joiner between spaces": "a \u200c b",
    "joiner between digits": "1\u200d2",
}


class TestCheckedVisible:
    @pytest.mark.parametrize("text", list(UNSEEN.values()), ids=list(UNSEEN))
    def test_what_a_reader_cannot_see__refused_naming_the_field_and_the_character(self, text: str) -> None:
        """Each character a reader cannot see is refused, naming the field and its code point."""
        with pytest.raises(InvalidInputError, match=r"^address: must not contain U\+[0-9A-F]{4,5}\b") as caught:
            checked_visible(text, "address")
        assert caught.value.field == "address"

    @pytest.mark.parametrize(
        "text",
        [
            "12 Orchard Lane, Flat 3",
            "Prüfung der Zahlung",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647",  # a Persian plural: ZWNJ between letters
            "\u0915\u094d\u200d\u0937",  # a Devanagari conjunct: ZWJ between a virama and a letter
            "税务\u3000检查",  # an ideographic space
            "a\u00a0b",  # a no-break space
        ],
    )
    def test_text_that_shows_all_it_holds_is_kept_as_written(self, text: str) -> None:
        """Ordinary text, Persian and Devanagari joiners, ideographic and no-break spaces pass as the same object."""
        assert checked_visible(text, "address") is text

    def test_a_newline_only_where_lines_are_allowed(self) -> None:
        """A newline passes only where lines are allowed, and a carriage return never does."""
        assert checked_visible("first\nsecond", "grounds", newlines=True) == "first\nsecond"
        for text in ("first\nsecond", "first\r\nsecond"):
            with pytest.raises(InvalidInputError, match="U\\+000"):
                checked_visible(text, "address")
        with pytest.raises(InvalidInputError, match="U\\+000D"):
            checked_visible("first\r\nsecond", "grounds", newlines=True)

    def test_names_keep_their_ignorables_but_not_what_reorders(self) -> None:
        """Names are compared by their key: variation selectors and zero-width spaces stay; an override does not."""
        assert checked_visible("\u845b\U000e0100 Vlad\u200bimir", "name", ignorables=True)
        for text in ("\u202eNITUP", "Amina \u2067K\u2069", "a\x00b", "\u0600Amina", "a\u2028b"):
            with pytest.raises(InvalidInputError, match="U\\+"):
                checked_visible(text, "name", ignorables=True)


class TestCheckedText:
    def test_nfc_stripped_and_bounded(self) -> None:
        """Text is NFC-normalised and stripped before its length is counted; a non-string is refused."""
        assert checked_text("  Zoe\u0301 ", "reason", 4) == "Zoé"
        with pytest.raises(InvalidInputError, match="at most 4 characters"):
            checked_text("Zoe\u0301s!", "reason", 4)
        with pytest.raises(InvalidInputError, match="must be a string"):
            checked_text(7, "reason", 4)

    def test_shows_a_letter_or_digit__fillers_and_invisibles_do_not_count(self) -> None:
        """Letters and digits in any script show; blanks, fillers and variation selectors do not."""
        assert shows_letter_or_digit("Shop") and shows_letter_or_digit("24") and shows_letter_or_digit("税")
        for text in ("", " ", ". -", "\u3164", "\u115f\u1160", "\uffa0", "\ufe0f\U000e0100", "\u2800"):
            assert not shows_letter_or_digit(text)


def test_one_home__no_other_module_judges_characters_by_their_control_or_format_category() -> None:
    """Every free text a person reads is checked by tessera.text: a second, weaker copy is how holes came back."""
    # OpenID Connect's state and nonce are handed back to the relying party as they came, never shown to anyone.
    not_shown = {("identity/oidc.py", "return 1 <= len(value) <= limit and value.isprintable()")}
    src = Path(__file__).parents[1] / "src" / "tessera"
    copies = [
        (str(path.relative_to(src)), line.strip())
        for path in sorted(src.rglob("*.py"))
        if path.name != "text.py"
        for line in path.read_text().splitlines()
        if re.search(r"""["'](Cc|Cf)["']|isprintable\(\)""", line)
    ]
    assert set(copies) <= not_shown, "check free text with tessera.text.checked_text or checked_visible"
