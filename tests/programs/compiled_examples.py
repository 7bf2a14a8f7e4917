"""The built-in example programmes, loaded and compiled once, and random fact columns for them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tessera.money import ledger_unit
from tessera.programs import (
    EXAMPLE_LEDGERS,
    EXAMPLE_PROGRAMMES,
    CompiledProgramme,
    builtin_programmes_path,
    fact_schema,
    load_programmes,
)
from tessera.rules import FieldType, builtin_benefits, builtin_definitions

TYPES, BASES = builtin_definitions()
ROWS = json.loads(builtin_programmes_path(EXAMPLE_LEDGERS).read_text(encoding="utf-8"))["ledgers"]
LEDGERS = [ledger_unit(r["id"], r["name"], r["unit"], r["decimals"], r["issuer"], category=r["category"]) for r in ROWS]
PROGRAMMES = load_programmes([builtin_programmes_path(EXAMPLE_PROGRAMMES)], TYPES, BASES, ledgers=LEDGERS)
COMPILED = [CompiledProgramme(p, TYPES, builtin_benefits()) for p in PROGRAMMES]
SCHEMA = fact_schema(TYPES, builtin_benefits())
UNITS = 12  # units in a drawn population


def column(field_type: FieldType, draw: Any) -> Any:
    """One fact's values for ``UNITS`` units, drawn: booleans, or integers up to 10,000,000."""
    if field_type is FieldType.boolean:
        return np.array(draw(st.lists(st.booleans(), min_size=UNITS, max_size=UNITS)))
    return np.array(draw(st.lists(st.integers(0, 10_000_000), min_size=UNITS, max_size=UNITS)), np.int64)
