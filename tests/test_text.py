"""The matching key: invisible characters out, NFKC, look-alikes from another script folded."""

from __future__ import annotations

import sys
import unicodedata

import icu  # type: ignore[import-untyped]
import pytest

from tessera.text import DEFAULT_IGNORABLE_RANGES, is_default_ignorable, match_key, without_ignorables

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
        assert match_key("\u200b\u3164\u00ad") == ""
