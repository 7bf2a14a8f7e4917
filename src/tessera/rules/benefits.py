"""The register of benefits: what an eligibility grant may open (issue 16).

A rule's eligibility effect names a benefit, and only a registered one: otherwise a "grant"
of ``extra_scrutiny`` on disability data would be a penalty dressed as a favour, the one
thing health and disability data may never drive (DESIGN.md 1). Benefits are declared like
legal bases (``[[benefit]]`` in a definitions file, ``builtin/definitions.toml``); the
programmes of a later issue join the same register.

A benefit names the legal bases it is granted under: a rule granting it must cite one of
them. It may name the categories a grant of it reveals by itself (whoever draws a disability
allowance is disabled): every grant of it is data of those categories, besides those of
what the rule read (``Rule.categories``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.rules.categories import DERIVED, FORBIDDEN, Category
from tessera.text import checked_text, shows_letter_or_digit

BENEFIT_ID_MAX = 64
BENEFIT_TITLE_MAX = 200
BENEFIT_DESCRIPTION_MAX = 300
BENEFIT_BASES_MAX = 8
BENEFITS_MAX = 10_000
_BENEFIT_ID = re.compile(r"[a-z][a-z0-9_]*")  # as an eligibility effect names it
# Words that name a penalty, not a benefit: a register holding one would let a rule "grant" it on
# health data. A backstop for the declaring officer, English only (the lexicon covers other languages);
# words a relief is often named for ("penalty waiver", "rent freeze", "fraud victims") are left out.
PENALTY_WORDS = frozenset(
    {
        "scrutiny", "audit", "audits", "inspection", "inspections", "investigation", "investigations",
        "surveillance", "monitoring", "suspicion", "suspect", "suspected", "surcharge", "surcharges",
        "debarment", "blacklist", "blacklisted", "watchlist", "watchlisted", "score", "scores", "scoring",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Benefit:
    """A benefit an eligibility grant may open, the bases it is granted under, and what a grant of it reveals."""

    id: str  # what an eligibility effect names: "disability_allowance"
    title: str  # "Disability allowance"
    bases: frozenset[str]  # legal basis ids a rule granting it may cite
    categories: frozenset[Category] = frozenset()  # what a grant of it reveals by itself (disability)
    description: str = ""


def benefit(
    id: str,
    title: str,
    bases: Iterable[str],
    categories: Iterable[Category | str] = (),
    description: str = "",
) -> Benefit:
    """A checked benefit from plain values; the message names the field at fault (``benefit.bases``)."""
    if not isinstance(id, str) or len(id) > BENEFIT_ID_MAX or not _BENEFIT_ID.fullmatch(id):
        raise InvalidInputError("benefit.id", f"one lowercase word with _, at most {BENEFIT_ID_MAX}, got {id!r:.80}")
    title = checked_text(title, "benefit.title", BENEFIT_TITLE_MAX)
    if not shows_letter_or_digit(title):
        raise InvalidInputError(
            "benefit.title", f"must be 1-{BENEFIT_TITLE_MAX} characters, a letter or digit among them"
        )
    for field, text in (("id", id), ("title", title)):
        for word in re.split(r"[\W_]+", text.casefold()):
            if word in PENALTY_WORDS:
                raise InvalidInputError(f"benefit.{field}", f"{word!r} names a penalty, not something a grant opens")
    if isinstance(bases, str) or not isinstance(bases, Iterable):
        raise InvalidInputError("benefit.bases", "must be a list of legal basis ids")
    named = list(bases)
    if not 1 <= len(named) <= BENEFIT_BASES_MAX or not all(isinstance(b, str) and b for b in named):
        raise InvalidInputError("benefit.bases", f"must name the 1-{BENEFIT_BASES_MAX} legal bases it is granted under")
    if isinstance(categories, str) or not isinstance(categories, Iterable):
        raise InvalidInputError("benefit.categories", "must be a list of data categories")
    revealed: set[Category] = set()
    for i, c in enumerate(categories):
        if not isinstance(c, str) or c not in Category.__members__.values():
            raise InvalidInputError(f"benefit.categories[{i}]", f"unknown data category {c!r:.40}")
        if Category(c) in FORBIDDEN or Category(c) is DERIVED:
            raise InvalidInputError(
                f"benefit.categories[{i}]", f"a grant revealing {c} would be data no rule may hold or read"
            )
        revealed.add(Category(c))
    if not isinstance(description, str) or len(description) > BENEFIT_DESCRIPTION_MAX:
        raise InvalidInputError("benefit.description", f"at most {BENEFIT_DESCRIPTION_MAX} characters")
    return Benefit(id, title, frozenset(named), frozenset(revealed), description)


class Benefits:
    """The register of benefits eligibility grants may open; registering is the only way in."""

    def __init__(self, benefits: Iterable[Benefit] = ()) -> None:
        self._benefits: dict[str, Benefit] = {}
        for b in benefits:
            self.register(b)

    def register(self, found: Benefit) -> Benefit:
        """Add a benefit; the identical one again is a no-op, other terms under its id a conflict."""
        if not isinstance(found, Benefit):
            raise InvalidInputError("benefit", "must be a Benefit (see benefit())")
        # Checked again: a Benefit built by hand must not slip past the checks.
        checked = benefit(found.id, found.title, found.bases, found.categories, found.description)
        known = self._benefits.get(checked.id)
        if known is not None:
            if known != checked:
                raise ConflictError("benefit.id", f"benefit {checked.id} is registered with other terms")
            return known
        if len(self._benefits) >= BENEFITS_MAX:
            raise ConflictError("benefit.id", f"at most {BENEFITS_MAX} benefits")
        self._benefits[checked.id] = checked
        return checked

    def get(self, id: str) -> Benefit:
        """The benefit called ``id``, or NotFoundError."""
        found = self._benefits.get(id) if isinstance(id, str) else None
        if found is None:
            raise NotFoundError("benefit", f"no benefit {id!r:.80} is registered")
        return found

    def __contains__(self, id: object) -> bool:
        return id in self._benefits

    def __len__(self) -> int:
        return len(self._benefits)

    def ids(self) -> list[str]:
        """The registered ids, sorted."""
        return sorted(self._benefits)
