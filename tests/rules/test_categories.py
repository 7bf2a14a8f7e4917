"""Event types and data categories: a forbidden category cannot get in, by any door."""

from __future__ import annotations

import pytest

from tessera.errors import ConflictError, InvalidInputError, NotFoundError, ProtectedCategoryError
from tessera.rules.categories import (
    FAVOURABLE_ONLY,
    FORBIDDEN,
    Category,
    EventField,
    EventType,
    EventTypes,
    FieldType,
    event_type,
)

LOAN_REPAID = {"amount": ("int", "financial"), "days_late": ("int", "financial"), "loan_id": ("str", "reference")}


def test_an_ordinary_event_type_registers() -> None:
    """An ordinary event type registers with typed, categorised fields and the categories it carries."""
    types = EventTypes()
    registered = types.register(event_type("loan.repaid", "financial", LOAN_REPAID))
    assert types.get("loan.repaid") is registered
    assert registered.field("days_late") == EventField("days_late", FieldType.integer, Category.financial)
    assert registered.categories == {Category.financial, Category.reference}


def test_the_forbidden_list_is_the_one_design_md_names() -> None:
    """Political opinion, protest, voting, religion, ethnicity, unions, sexual life, speech, browsing, location."""
    assert {c.value for c in FORBIDDEN} == {
        "political_opinion",
        "protest_assembly",
        "voting",
        "religion",
        "ethnicity",
        "trade_union",
        "sexual_life",
        "speech_content",
        "browsing_history",
        "location_history",
    }
    assert {c.value for c in FAVOURABLE_ONLY} == {"health", "disability"}


@pytest.mark.parametrize("category", sorted(FORBIDDEN))
def test_a_forbidden_field_is_refused_naming_type_field_and_category(category: Category) -> None:
    """Tucked among ordinary fields, a protected one still refuses the whole type."""
    with pytest.raises(ProtectedCategoryError) as caught:
        event_type("loan.repaid", "financial", {**LOAN_REPAID, "borrower_note": ("str", category.value)})
    assert caught.value.field == "loan.repaid.borrower_note"
    assert caught.value.category == category.value and category.value in str(caught.value)
    assert caught.value.code == "protected_category"


@pytest.mark.parametrize("category", sorted(FORBIDDEN))
def test_a_forbidden_purpose_is_refused(category: Category) -> None:
    """An event type that exists to record, say, protest attendance cannot be registered at all."""
    with pytest.raises(ProtectedCategoryError) as caught:
        event_type("civic.attended", category, {"event_id": ("str", "reference")})
    assert caught.value.field == "civic.attended.purpose"


def test_a_hand_built_type_is_checked_at_registration_too() -> None:
    """Constructing the dataclass directly does not skip the guard: register() checks again."""
    sneaky = EventType(
        "loan.repaid", Category.financial, (EventField("church", FieldType.text, Category.religion),), ""
    )
    types = EventTypes()
    with pytest.raises(ProtectedCategoryError):
        types.register(sneaky)
    assert "loan.repaid" not in types


@pytest.mark.parametrize("spelling", ["Religion", " religion", "religion ", "relig", "political opinion", ""])
def test_a_category_spelled_otherwise_is_unknown_not_let_through(spelling: str) -> None:
    """Aliases and near misses are not mapped to anything: an unknown category is an error of its own."""
    with pytest.raises(InvalidInputError) as caught:
        event_type("loan.repaid", "financial", {"note": ("str", spelling)})
    assert "unknown data category" in str(caught.value)


def test_health_may_be_registered_for_favourable_rules() -> None:
    """Health and disability are registrable; the rule loader decides which rules may read them."""
    t = event_type("clinic.visit_covered", "benefit", {"condition_code": ("str", "health")})
    assert Category.health in t.categories


def test_registering_again() -> None:
    """The same type again is a no-op; the same name with other fields is a conflict."""
    types = EventTypes([event_type("loan.repaid", "financial", LOAN_REPAID)])
    types.register(event_type("loan.repaid", "financial", LOAN_REPAID))
    with pytest.raises(ConflictError):
        types.register(event_type("loan.repaid", "financial", {"amount": ("int", "financial")}))
    assert len(types) == 1 and types.names() == ["loan.repaid"]


@pytest.mark.parametrize(
    ("name", "fields", "field"),
    [
        ("LoanRepaid", LOAN_REPAID, "name"),
        ("loan", LOAN_REPAID, "name"),
        ("loan.repaid", {}, "loan.repaid.fields"),
        ("loan.repaid", {"Amount": ("int", "financial")}, "loan.repaid.Amount"),
        ("loan.repaid", {"amount": ("money", "financial")}, "loan.repaid.amount"),
        ("loan.repaid", {"amount": "int"}, "loan.repaid.amount"),
    ],
)
def test_malformed_event_types_name_the_field(name: str, fields: dict[str, object], field: str) -> None:
    """A bad type name, no fields, a bad field name, an unknown type or a bare type is refused by field."""
    with pytest.raises(InvalidInputError) as caught:
        event_type(name, "financial", fields)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_unknown_event_type_and_field() -> None:
    """An unregistered type, or a field a type does not have, is not found, naming the field."""
    types = EventTypes([event_type("loan.repaid", "financial", LOAN_REPAID)])
    with pytest.raises(NotFoundError):
        types.get("loan.defaulted")
    with pytest.raises(NotFoundError) as caught:
        types.get("loan.repaid").field("religion")
    assert caught.value.field == "loan.repaid.religion"
