"""The declarations, ledgers and programme texts the programmes' tests load against."""

from __future__ import annotations

import json
from typing import Any

from tessera.money import ledger_unit
from tessera.programs import ProgrammeRefusal, Programmes, check_programmes
from tessera.rules import Benefits, builtin_benefits, builtin_definitions, load_benefits, load_definitions

# A care agency reports health and disability facts; a social-security office reports incomes.
DEFINITIONS = """
[[event_type]]
name = "care.assessed"
purpose = "benefit"
reported_by = ["care-agency"]
fields.grade = { type = "int", category = "disability" }
fields.chronic = { type = "bool", category = "health" }
fields.diagnosis = { type = "str", category = "health" }

[[event_type]]
name = "income.reported"
purpose = "benefit"
reported_by = ["social-security"]
fields.monthly = { type = "int", category = "financial" }

[[legal_basis]]
id = "aid-act/1"
instrument = "Aid Act"
article = "s. 1"
kind = "statute"
covers = ["care.assessed", "income.reported"]

[[legal_basis]]
id = "narrow-act/1"
instrument = "Narrow Act"
article = "s. 1"
kind = "statute"
covers = ["income.reported"]

[[benefit]]
id = "aid"
title = "Aid"
bases = ["aid-act/1"]

[[benefit]]
id = "care_allowance"
title = "Care allowance"
bases = ["aid-act/1"]
categories = ["disability"]
"""
BUILTIN_TYPES, BUILTIN_BASES = builtin_definitions()
TYPES, BASES = load_definitions([DEFINITIONS], BUILTIN_TYPES, BUILTIN_BASES)


def benefits() -> Benefits:
    """The built-in benefits and the two of DEFINITIONS (aid; care_allowance, which reveals disability)."""
    return load_benefits([DEFINITIONS], BASES, builtin_benefits())


LEDGERS = [
    ledger_unit(1, "currency", "XTS", 2, "central-bank"),
    ledger_unit(2, "rice-quota", "kg", 3, "food-ministry", category="benefit"),
    ledger_unit(3, "fuel-quota", "litre", 1, "energy-ministry", category="benefit"),
    ledger_unit(4, "care-doses", "dose", 0, "health-ministry", category="health"),
    ledger_unit(5, "church-tithe", "XTS", 2, "central-bank", category="religion"),
]


def toml(value: Any) -> str:
    """A TOML value from a Python one: strings as JSON writes them (TOML's basic strings agree), lists, numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(value)


def cash(**changes: Any) -> str:
    """A cash programme that loads; ``changes`` replace keys (None removes one), ``cash__key`` those of its cash."""
    top = {
        "id": "food_cash",
        "name": "Food cash",
        "basis": "aid-act/1",
        "unit": "household",
        "kind": "cash",
        "currency": "currency",
        "eligibility": "reported.income_reported.monthly < 300000",
        "schedule": "monthly",
        "valid_for": "60d",
        "over_budget": "pro_rate",
        "merchant_categories": [5411, 5499],
    }
    line = {"amount": "5000 + 2500 * household.members_under_18", "budget": 1_000_000}
    return _programme(top, {"cash": line}, changes)


def ration(**changes: Any) -> str:
    """A subsidised-price rice ration that loads; ``quota__key`` changes its one quota."""
    top = {
        "id": "rice_ration",
        "name": "Rice ration",
        "basis": "aid-act/1",
        "unit": "household",
        "kind": "subsidised_price",
        "currency": "currency",
        "eligibility": "household.size >= 1",
        "schedule": "monthly",
        "valid_for": "45d",
        "over_budget": "refuse",
        "merchant_categories": [5411],
    }
    quota = {
        "commodity": "rice",
        "ledger": "rice-quota",
        "amount": "5000 * household.size",
        "budget": 10_000_000,
        "co_payment": 100,
    }
    return _programme(top, {"quota": quota}, changes)


def _programme(top: dict[str, Any], tables: dict[str, dict[str, Any]], changes: dict[str, Any]) -> str:
    for key, value in changes.items():
        table, _, sub = key.partition("__")
        target = tables[table] if sub else top
        name = sub or key
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    lines = ["[[programme]]", *(f"{k} = {toml(v)}" for k, v in top.items())]
    for name, table in tables.items():
        lines.append(f"[programme.{name}]" if name == "cash" else f"[[programme.{name}]]")
        lines.extend(f"{k} = {toml(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def checked(*texts: str) -> tuple[Programmes, list[ProgrammeRefusal]]:
    """``texts`` checked against TYPES, BASES, LEDGERS and benefits()."""
    return check_programmes(list(texts), TYPES, BASES, ledgers=LEDGERS, benefits=benefits())


def refusal(text: str) -> ProgrammeRefusal:
    """The one refusal of ``text``."""
    programmes, refusals = checked(text)
    assert len(programmes) == 0 and len(refusals) == 1, [r.line() for r in refusals]
    return refusals[0]
