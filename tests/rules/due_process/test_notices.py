"""A notice's text, and every reason and grounds the rules keep, shows the person all it says."""

from __future__ import annotations

import re

import pytest

from tessera.errors import InvalidInputError
from tessera.rules.due_process.notice_appeals import NoticeAppeals
from tessera.rules.due_process.notices import NoticeDraft, NoticeKind, checked_text
from tests.rules.intake_world import LENDER, NOW, Intake, repaid

# Each would make a reason read otherwise than it shows, or hide something in it.
HIDDEN = {
    "right-to-left override": ("paid \u202e54 days late", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    "right-to-left embedding": ("paid \u202b45\u202c days late", "U+202B"),
    "left-to-right isolate": ("paid \u206645\u2069 days late", "U+2066"),
    "zero-width space": ("paid\u200b late", "U+200B"),
    "word joiner": ("paid\u2060 late", "U+2060"),
    "tag letter": ("paid late\U000e0069\U000e0067", "U+E0069"),
    "Hangul filler": ("paid\u3164late", "U+3164"),
    "variation selector": ("paid late\ufe0e", "U+FE0E"),
    "interlinear annotation": ("paid \ufff9late\ufffa", "U+FFF9"),
    "paragraph separator": ("paid\u2029late", "U+2029"),
    "carriage return": ("paid\rlate", "U+000D"),
}


class TestCheckedText:
    @pytest.mark.parametrize(("text", "message"), list(HIDDEN.values()), ids=list(HIDDEN))
    def test_hidden_or_reordering_characters__refused_naming_the_field(self, text: str, message: str) -> None:
        """Each hidden or reordering character in a reason is refused, naming the field and the code point."""
        with pytest.raises(InvalidInputError, match=re.escape(message)) as caught:
            checked_text(text, "reason_text", 500)
        assert caught.value.field == "reason_text"

    def test_lines_and_joiners_between_letters_are_kept(self) -> None:
        """Grounds may run over lines; Persian and Indic text keeps the joiners it needs."""
        text = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645\nजाँच क्\u200dष"
        assert checked_text(f"  {text} ", "grounds", 500) == text

    @pytest.mark.parametrize("text", ["", "   ", "\u2800\u2800", "- -"])
    def test_a_required_text_that_says_nothing__refused(self, text: str) -> None:
        """Blanks, braille blanks (printable, not ignorable) or dashes are no reason: a letter or digit is needed."""
        with pytest.raises(InvalidInputError, match="is required"):
            checked_text(text, "reason", 500)
        assert checked_text("", "appeal", 500, required=False) == ""


class TestWhereItIsRead:
    def test_a_notice_with_an_override_in_its_reason__refused_and_none_made(self, world: Intake) -> None:
        """A notice whose reason holds a right-to-left override is refused and no notice is made."""
        draft = NoticeDraft(
            world.ada.number, NoticeKind.denial, "consumer-credit-act/12", "credit_denied",
            "Credit is refused for \u202e1 month\u202c.", "events:9:9", NOW,
        )  # fmt: skip
        with pytest.raises(InvalidInputError, match="U\\+202E") as caught:
            world.notices.create_many([draft])
        assert caught.value.field.endswith(".reason_text")
        assert world.notices.of_subject(world.ada.number, limit=10) == []

    def test_grounds_of_a_notice_appeal_with_a_hidden_character__refused(self, world: Intake) -> None:
        """The officer deciding reads the grounds: an isolate cannot reorder them."""
        world.intake.submit(LENDER, "loan.repaid", [repaid("L-1", world.ada.number, 45)])
        notice = world.notices.of_subject(world.ada.number, limit=1)[0]
        appeals = NoticeAppeals(world.store, world.notices)
        ada = world.ada
        with pytest.raises(InvalidInputError) as caught:
            appeals.file(notice.id, appellant=ada.number, filed_by=ada.principal_id, grounds="\u2067x\u2069")
        assert caught.value.field == "grounds" and appeals.pending() == []
