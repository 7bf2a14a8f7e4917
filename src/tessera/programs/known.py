"""The programmes outlets and product lists are checked against, through one small interface.

Programme definitions are persisted elsewhere (their registry comes with the programmes'
routes); outlets and product lists only need to ask "which programme is called this?".
``KnownProgrammes`` is that question, a callable; the default answers from the built-in
example programmes (``builtin/example_programmes.toml`` checked against the built-in
declarations and ``builtin/example_ledgers.json``), so the composition root can hand over
the real registry later without touching anything here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

from tessera.errors import NotFoundError
from tessera.money import ledger_unit
from tessera.programs.programme_files import (
    EXAMPLE_LEDGERS,
    EXAMPLE_PROGRAMMES,
    Programmes,
    builtin_programmes_path,
    load_programmes,
)
from tessera.programs.programmes import PROGRAMME_ID_MAX, Programme

# The programme called an id, or None: what outlets and product lists ask.
KnownProgrammes = Callable[[str], Programme | None]


@cache
def example_programmes() -> Programmes:
    """The built-in example programmes (food_cash, rice_ration, fuel_quota), loaded once."""
    from tessera.rules import builtin_definitions  # noqa: PLC0415 (the rules' loader: only when asked)

    types, bases = builtin_definitions()
    rows = json.loads(builtin_programmes_path(EXAMPLE_LEDGERS).read_text(encoding="utf-8"))["ledgers"]
    units = [
        ledger_unit(r["id"], r["name"], r["unit"], r["decimals"], r["issuer"], category=r["category"]) for r in rows
    ]
    return load_programmes([builtin_programmes_path(EXAMPLE_PROGRAMMES)], types, bases, ledgers=units)


def example_programme(programme_id: str) -> Programme | None:
    """The default ``KnownProgrammes``: one of the built-in example programmes, or None."""
    found = example_programmes()
    return found.get(programme_id) if programme_id in found else None


def known_programme(known: KnownProgrammes, programme_id: object, field: str = "programme") -> Programme:
    """The programme ``known`` answers for ``programme_id``, or NotFoundError naming ``field``."""
    found = known(programme_id) if isinstance(programme_id, str) and len(programme_id) <= PROGRAMME_ID_MAX else None
    if found is None:
        raise NotFoundError(field, f"no programme {programme_id!r:.80} is defined")
    return found
