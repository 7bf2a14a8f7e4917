"""The person registry: demographics checked, numbers unique, status history kept, virtual IDs revocable."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.identity.numbers import check_digit, is_valid
from tessera.identity.registry import MARKS_PER_LETTER_MAX, Registry, checked_demographics
from tessera.store import Store

OFFICER = "p_00000000000000aa"


def facts(**changes: object) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Амина Қасымқызы",
        "other_names": ["Amina Kassymkyzy"],
        "birth_date": "1990-04-01",
        "sex": "F",
        "address": "12 Orchard Lane",
    }
    return {**base, **changes}


class TestDemographics:
    def test_names_in_any_script_are_kept_nfc(self) -> None:
        """Names keep their script; composed and decomposed forms come out the same."""
        a = checked_demographics(facts(name="Zoe\u0301"))
        b = checked_demographics(facts(name="Zoé"))
        assert a.name == b.name == "Zoé"
        assert checked_demographics(facts(name="अमित शर्मा")).name == "अमित शर्मा"

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"name": ""}, "demographics.name"),
            ({"name": "a\x00b"}, "demographics.name"),
            ({"name": "x" * 301}, "demographics.name"),
            ({"birth_date": "1990-02-30"}, "demographics.birth_date"),
            ({"birth_date": "2999-01-01"}, "demographics.birth_date"),
            ({"birth_date": "19900101"}, "demographics.birth_date"),
            ({"sex": "female"}, "demographics.sex"),
            ({"other_names": "Amina"}, "demographics.other_names"),
            ({"other_names": [""]}, "demographics.other_names[0]"),
            ({"religion": "any"}, "demographics.religion"),
        ],
    )
    def test_bad_demographics_name_the_field(self, changes: dict[str, object], field: str) -> None:
        """Each malformed or unknown field is refused by name (no protected categories slip in)."""
        with pytest.raises(InvalidInputError) as caught:
            checked_demographics(facts(**changes))
        assert caught.value.field == field

    def test_invisible_characters_are_kept_as_given(self) -> None:
        """A Persian name keeps its zero-width non-joiner; a zero-width space is kept too (screening folds it)."""
        persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647"
        assert checked_demographics(facts(name=persian)).name == persian
        assert checked_demographics(facts(other_names=["Vlad\u200bimir"])).other_names == ("Vlad\u200bimir",)

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"name": "\u200b\u200b"}, "demographics.name", "no letters"),
            ({"name": "\u3164"}, "demographics.name", "no letters"),
            ({"name": "\u115f\u00ad\U000e0041"}, "demographics.name", "no letters"),
            ({"name": ". -"}, "demographics.name", "no letters"),
            ({"other_names": ["Amina", "\ufeff\u2060"]}, "demographics.other_names[1]", "no letters"),
            ({"name": "\u202eNITUP"}, "demographics.name", "U+202E RIGHT-TO-LEFT OVERRIDE"),
            ({"name": "Amina \u2067Kassym\u2069"}, "demographics.name", "U+2067"),
            ({"other_names": ["Am\ufff9ina"]}, "demographics.other_names[0]", "U+FFF9"),
            ({"name": "\u0600Amina"}, "demographics.name", "U+0600"),
            ({"name": "Ami" + "\u0336" * 9 + "na"}, "demographics.name", "combining marks"),
        ],
    )
    def test_names_that_show_otherwise_or_nothing_are_refused(
        self, changes: dict[str, object], field: str, message: str
    ) -> None:
        """A name of invisible characters only, one that reorders itself, or a stack of marks names its field."""
        with pytest.raises(InvalidInputError, match=re.escape(message)) as caught:
            checked_demographics(facts(**changes))
        assert caught.value.field == field

    def test_marks_up_to_the_limit_are_kept(self) -> None:
        """Vietnamese, Hebrew and Tibetan stack a few marks: a letter may carry up to MARKS_PER_LETTER_MAX."""
        name = "Ami" + "\u0336" * MARKS_PER_LETTER_MAX + "na"
        assert checked_demographics(facts(name=name)).name == name
        assert checked_demographics(facts(name="Nguy\u1ec5n V\u0103n")).name == "Nguy\u1ec5n V\u0103n"

    def test_a_household_in_demographics__refused_pointing_to_the_households(self) -> None:
        """A free-text household is refused by name, the message saying where households went (migration 0016)."""
        with pytest.raises(InvalidInputError, match="POST /v1/identity/households") as caught:
            checked_demographics(facts(household="h-17"))
        assert caught.value.field == "demographics.household"

    def test_an_empty_household_in_demographics__taken_as_none(self) -> None:
        """A station that still sends household "" (no household, as it always meant) is not refused."""
        assert checked_demographics(facts(household="")) == checked_demographics(facts())

    def test_missing_required_field(self) -> None:
        """Demographics without a birth date are refused naming demographics.birth_date."""
        raw = facts()
        del raw["birth_date"]
        with pytest.raises(InvalidInputError) as caught:
            checked_demographics(raw)
        assert caught.value.field == "demographics.birth_date"


# Text an officer reads beside the name: each hides something or shows otherwise than it reads.
HIDDEN = {
    "right-to-left override": ("address", "12 Orchard \u202eenaL", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    "left-to-right embedding": ("address", "\u202a12 Orchard Lane", "U+202A"),
    "first-strong isolate": ("address", "12 \u2068Orchard\u2069 Lane", "U+2068"),
    "zero-width space": ("address", "12 Orch\u200bard Lane", "U+200B"),
    "soft hyphen": ("address", "12 Orch\u00adard Lane", "U+00AD"),
    "tag letter": ("address", "12 Orchard Lane\U000e0041", "U+E0041"),
    "Hangul filler": ("address", "12 Orchard\u3164Lane", "U+3164"),
    "variation selector": ("address", "12\ufe0f Orchard Lane", "U+FE0F"),
    "line separator": ("address", "12 Orchard\u2028Lane", "U+2028"),
    "joiner at the end": ("address", "12 Orchard Lane\u200d", "U+200D"),
}


class TestDemographicText:
    @pytest.mark.parametrize(("key", "value", "message"), list(HIDDEN.values()), ids=list(HIDDEN))
    def test_hidden_or_reordering_characters__refused_naming_the_field(
        self, key: str, value: str, message: str
    ) -> None:
        """An address shows an officer all it holds, in the order it reads."""
        with pytest.raises(InvalidInputError, match=re.escape(message)) as caught:
            checked_demographics(facts(**{key: value}))
        assert caught.value.field == f"demographics.{key}"

    def test_joiners_between_letters_are_kept(self) -> None:
        """A Persian street name keeps its zero-width non-joiner, as a name does."""
        address = "\u062e\u06cc\u0627\u0628\u0627\u0646 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647 \u06f1\u06f2"
        assert checked_demographics(facts(address=address)).address == address


class TestPersons:
    def test_create_person_gives_a_valid_number_and_a_citizen_principal(self, store: Store) -> None:
        """A new person is active, has a checked number and a principal of their own."""
        registry = Registry(store)
        person = registry.create_person(facts(), station=OFFICER)
        assert is_valid(person.number) and len(person.number) == 12
        assert person.status == "active"
        assert registry.get_person(person.number) == person
        principal = store.get_principal(person.principal_id)
        assert principal is not None and principal.role.value == "citizen"
        assert person.number not in principal.name  # the number never becomes a principal's name
        assert registry.subject_of(person.number) == principal.subject
        assert registry.person_of_principal(person.principal_id) == person

    def test_numbers_are_unique(self, store: Store) -> None:
        """Fifty people enrolled with the same facts get fifty different numbers, and all are counted."""
        registry = Registry(store)
        numbers = {registry.create_person(facts(), station=OFFICER).number for _ in range(50)}
        assert len(numbers) == 50
        assert registry.count() == 50

    def test_unknown_person(self, store: Store) -> None:
        """A well-formed number nobody holds is not found; a mistyped one is refused first."""
        registry = Registry(store)
        number = "10000000000" + check_digit("10000000000")
        assert registry.get_person(number) is None
        with pytest.raises(NotFoundError):
            registry.person(number)
        with pytest.raises(InvalidInputError, match="check digit"):
            registry.person(number[:-1] + str((int(number[-1]) + 1) % 10))

    def test_age(self, store: Store) -> None:
        """Age turns on the birthday itself, not the day after: 17 the day before, 18 on it."""
        person = Registry(store).create_person(facts(birth_date="2008-06-15"), station=OFFICER)
        assert person.age_on(dt.date(2026, 6, 14)) == 17
        assert person.age_on(dt.date(2026, 6, 15)) == 18


class TestPages:
    def test_persons_after__number_order_with_subjects_leaving_out_the_excluded(self, store: Store) -> None:
        """A page of persons comes in number order with their log subjects, the deceased left out when asked."""
        registry = Registry(store)
        made = sorted((registry.create_person(facts(), station=OFFICER) for _ in range(5)), key=lambda p: p.number)
        registry.set_status(made[2].number, "deceased", reason="certificate", actor=OFFICER)
        first = registry.persons_after(None, 2, excluding={"deceased"})
        rest = registry.persons_after(first[-1][0].number, 10, excluding={"deceased"})
        assert [p.number for p, _ in first + rest] == [p.number for k, p in enumerate(made) if k != 2]
        assert all(subject == registry.subject_of(p.number) for p, subject in first + rest)
        assert registry.count(excluding={"deceased"}) == 4 and registry.count(after=made[3].number) == 1
        with pytest.raises(InvalidInputError):
            registry.persons_after(None, 0)


class TestStatus:
    def test_history_records_every_change_with_reason_and_actor(self, store: Store) -> None:
        """Every status change is kept in order with its reason and who made it, enrolment included."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        registry.set_status(number, "suspended", reason="document fraud inquiry", actor=OFFICER)
        person = registry.set_status(number, "active", reason="inquiry closed", actor=OFFICER)
        assert person.status == "active"
        history = registry.status_history(number)
        assert [(h.status, h.reason) for h in history] == [
            ("active", "enrolled"),
            ("suspended", "document fraud inquiry"),
            ("active", "inquiry closed"),
        ]
        assert all(h.actor == OFFICER for h in history)

    def test_deceased_is_final(self, store: Store) -> None:
        """Once deceased, a person cannot be made active again, and the refused change leaves no trace."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        registry.set_status(number, "deceased", reason="death certificate 4411", actor=OFFICER)
        with pytest.raises(ConflictError, match="final"):
            registry.set_status(number, "active", reason="oops", actor=OFFICER)
        assert len(registry.status_history(number)) == 2

    @pytest.mark.parametrize(("status", "reason", "field"), [("gone", "x", "status"), ("suspended", " ", "reason")])
    def test_bad_status_change_changes_nothing(self, store: Store, status: str, reason: str, field: str) -> None:
        """An unknown status or a blank reason is refused by field and adds nothing to the history."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        with pytest.raises(InvalidInputError) as caught:
            registry.set_status(number, status, reason=reason, actor=OFFICER)
        assert caught.value.field == field
        assert len(registry.status_history(number)) == 1

    @pytest.mark.parametrize("reason", ["court order \u202e811 ESAC", "\u3164", "ok\u200b"])
    def test_a_reason_that_hides_something__refused_and_nothing_changes(self, store: Store, reason: str) -> None:
        """The reason joins the history the person and officers read: an override or a filler cannot hide in it."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        with pytest.raises(InvalidInputError) as caught:
            registry.set_status(number, "suspended", reason=reason, actor=OFFICER)
        assert caught.value.field == "reason"
        assert len(registry.status_history(number)) == 1

    def test_same_status_again_is_a_conflict(self, store: Store) -> None:
        """Setting the status a person already has is a conflict, not a silent duplicate in the history."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        with pytest.raises(ConflictError):
            registry.set_status(number, "active", reason="again", actor=OFFICER)

    def test_listeners_hear_each_change_once_it_is_committed__not_a_refused_one(self, store: Store) -> None:
        """What was granted under the old status (sessions, tokens) ends there: the listener sees the new status."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        heard: list[tuple[str, str]] = []
        registry.on_status_change(lambda p: heard.append((p.number, registry.person(p.number).status)))
        registry.set_status(number, "revoked", reason="identity fraud", actor=OFFICER)
        with pytest.raises(ConflictError):
            registry.set_status(number, "revoked", reason="again", actor=OFFICER)
        assert heard == [(number, "revoked")]

    def test_a_failing_listener_does_not_keep_the_others_from_hearing(self, store: Store) -> None:
        """Ending sessions must not depend on revoking tokens going well; the failure still surfaces."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        heard: list[str] = []

        def broken(_: object) -> None:
            raise RuntimeError("the token store is down")

        registry.on_status_change(broken)
        registry.on_status_change(lambda p: heard.append(p.status))
        with pytest.raises(RuntimeError, match="token store"):
            registry.set_status(number, "deceased", reason="certificate 12", actor=OFFICER)
        assert heard == ["deceased"] and registry.person(number).status == "deceased"


class TestVirtualIds:
    def test_issue_resolve_revoke(self, store: Store) -> None:
        """A virtual ID resolves to its person until revoked, then never again."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        vid = registry.issue_virtual_id(number)
        assert is_valid(vid.vid) and len(vid.vid) == 16
        assert registry.resolve_virtual_id(vid.vid) == number
        registry.revoke_virtual_id(vid.vid, number=number)
        with pytest.raises(NotFoundError):
            registry.resolve_virtual_id(vid.vid)
        assert registry.virtual_ids_of(number)[0].revoked_at_ns is not None

    def test_only_the_owner_revokes(self, store: Store) -> None:
        """Someone else revoking a person's virtual id is not found, and the id still resolves to its owner."""
        registry = Registry(store)
        a = registry.create_person(facts(), station=OFFICER).number
        b = registry.create_person(facts(name="Bo"), station=OFFICER).number
        vid = registry.issue_virtual_id(a)
        with pytest.raises(NotFoundError):
            registry.revoke_virtual_id(vid.vid, number=b)
        assert registry.resolve_virtual_id(vid.vid) == a

    def test_live_limit_and_inactive_person(self, store: Store) -> None:
        """At most ten live virtual ids per person, and a suspended person is issued none."""
        registry = Registry(store)
        number = registry.create_person(facts(), station=OFFICER).number
        for _ in range(10):
            registry.issue_virtual_id(number)
        with pytest.raises(ConflictError, match="revoke one"):
            registry.issue_virtual_id(number)
        registry.set_status(number, "suspended", reason="inquiry", actor=OFFICER)
        with pytest.raises(ConflictError, match="suspended"):
            registry.issue_virtual_id(number)

    def test_a_mistyped_virtual_id_is_refused_before_lookup(self, store: Store) -> None:
        """A virtual id with swapped or changed digits fails its check digit before any lookup."""
        registry = Registry(store)
        vid = registry.issue_virtual_id(registry.create_person(facts(), station=OFFICER).number).vid
        wrong = vid[:-2] + vid[-1] + vid[-2] if vid[-1] != vid[-2] else vid[:-1] + str((int(vid[-1]) + 1) % 10)
        with pytest.raises(InvalidInputError, match="check digit"):
            registry.resolve_virtual_id(wrong)
