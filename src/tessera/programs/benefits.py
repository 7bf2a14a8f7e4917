"""Programmes in the register of benefits: a rule's eligibility grant may name a programme (issue 19).

``rules/benefits.py`` keeps the register an eligibility grant opens; a programme joins it under
its own id, granted under its legal basis, revealing what the programme reveals (the health or
disability its ledgers, merchant categories and eligibility carry). A rule may then grant
``rice_ration`` (``effects = [{ kind = "eligibility", benefit = "rice_ration", ... }]``), and a
live grant naming a programme makes its unit eligible whatever the programme's own condition
says: a grant only widens.
"""

from __future__ import annotations

from collections.abc import Iterable

from tessera.programs.programmes import Programme
from tessera.rules import Benefit, Benefits, benefit


def programme_benefit(programme: Programme) -> Benefit:
    """The programme as a benefit of the register; InvalidInputError when the register would refuse it."""
    return benefit(programme.id, programme.name, [programme.basis.id], sorted(programme.categories))


def with_programmes(benefits: Benefits, programmes: Iterable[Programme]) -> Benefits:
    """A new register: ``benefits`` (left untouched) and every programme as a benefit; a clash is a ConflictError."""
    out = Benefits([benefits.get(i) for i in benefits.ids()])
    for programme in programmes:
        out.register(programme_benefit(programme))
    return out
