"""Legal bases: the instruments that allow a rule or a restriction, and exactly which domains they close.

DESIGN.md's third principle lives here: a restriction names the domains it closes and the
legal instrument that allows exactly those. Rules and restrictions never carry a free-text
basis; they cite one registered here, so "which law allows this?" always has one answer.

A basis also names the agencies that exercise it (``exercised_by``): the courts for a court
order, the financial intelligence unit for a sanctions listing, the agency that administers
a statute. Only their officers put a restriction under it into effect, amend or lift it;
anyone else may only propose one. A court order is exercised with the order's reference
(``CourtOrder``: court, case number, date), never with free text alone.

A basis also names what it *covers* (issue 16): the event types (``covers``) or the purposes
of event types (``purposes``) a rule citing it may read. A rule citing it over anything
else is refused when it loads (``require_coverage``). Bases that only a judge or a listing
exercise (a court order, a sanctions listing) cover no rule at all: their restrictions come
only from an officer entering the order or confirming the match.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from tessera.auth import AGENCY_MAX, checked_name
from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.rules.categories import EVENT_TYPE_NAME_MAX, Category, EventType
from tessera.text import checked_text, shows_letter_or_digit


class Domain(StrEnum):
    """A part of life a restriction can close; nothing closes a domain its basis does not name."""

    payments = "payments"  # the person's accounts are frozen in the ledger, but not their entitlements to basic needs
    travel = "travel"
    procurement = "procurement"  # bidding for public contracts
    licensing = "licensing"  # being granted a licence or permit
    # Drawing a programme's balance: only a restriction closing it freezes entitlements to basic
    # needs, so a basis naming it is rare and called out to both DPOs (declaration_checks.Changes).
    benefits = "benefits"
    credit = "credit"  # being granted a loan by a regulated lender


class BasisKind(StrEnum):
    """What sort of instrument it is; only the first two may act without a human decision."""

    court_order = "court_order"
    sanctions_listing = "sanctions_listing"
    statute = "statute"
    regulation = "regulation"


SELF_EXECUTING = frozenset({BasisKind.court_order, BasisKind.sanctions_listing})
# Exercised only by a judge's order or a listing, through an officer: never cited by an automated rule.
NOT_FOR_RULES = frozenset({BasisKind.court_order, BasisKind.sanctions_listing})
BASIS_ID_MAX = 64
INSTRUMENT_MAX = 200
ARTICLE_MAX = 64
AGENCIES_PER_BASIS_MAX = 8
COVERS_MAX = 64  # event types one basis covers
COURT_MAX = 120
CASE_NUMBER_MAX = 64
ORDER_DATE_MIN = dt.date(1900, 1, 1)
_BASIS_ID = re.compile(r"[a-z0-9][a-z0-9._/-]*")
_EVENT_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")  # as categories.py spells one
# A docket or case number: "HC/2026/118", "CV 12-2026", "2026:KB:0042"; words of these, single spaces between.
_CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9./:_-]*(?: [A-Za-z0-9./:_-]+)*")


@dataclass(frozen=True, slots=True)
class LegalBasis:
    """A legal instrument and article, and the domains it allows to be closed.

    ``domains`` may be empty: such a basis allows scores and eligibility, never a restriction.
    ``covers`` and ``purposes`` say which events a rule citing it may read: none, no rule.
    """

    id: str  # stable short name rules cite: "consumer-credit-act/12"
    instrument: str  # "Consumer Credit Act 2024"
    article: str  # "s. 12(3)"
    kind: BasisKind
    domains: frozenset[Domain] = frozenset()
    exercised_by: frozenset[str] = frozenset()  # agencies (a principal's agency); none: no one may
    covers: frozenset[str] = frozenset()  # event types a rule citing it may read: "loan.repaid"
    purposes: frozenset[Category] = frozenset()  # or every event type of these purposes: "tax"

    def exercisable_by(self, agency: str) -> bool:
        """Whether an officer of ``agency`` may put a restriction under it into effect, amend or lift it."""
        return bool(agency) and agency in self.exercised_by

    def agencies_text(self) -> str:
        """The agencies that exercise it, for messages: "courts", or "no agency" when it names none."""
        return ", ".join(sorted(self.exercised_by)) or "no agency"

    @property
    def self_executing(self) -> bool:
        """Whether a restriction under it takes effect without an officer's decision."""
        return self.kind in SELF_EXECUTING

    @property
    def for_rules(self) -> bool:
        """Whether an automated rule may cite it: never a court order or a listing, which only an officer exercises."""
        return self.kind not in NOT_FOR_RULES

    def covers_type(self, t: EventType) -> bool:
        """Whether a rule citing it may read events of type ``t``: named, or of a purpose it names."""
        return t.name in self.covers or t.purpose in self.purposes

    def coverage_text(self) -> str:
        """What it covers, for messages: "loan.repaid, purpose tax", or "nothing"."""
        named = [*sorted(self.covers), *(f"purpose {p}" for p in sorted(self.purposes))]
        return ", ".join(named) or "nothing"

    @property
    def allows_open_end(self) -> bool:
        """Only a court may close a domain with no end date."""
        return self.kind is BasisKind.court_order

    def cite(self) -> str:
        """How notices name it: instrument and article."""
        return f"{self.instrument}, {self.article}"


def legal_basis(
    id: str,
    instrument: str,
    article: str,
    kind: BasisKind | str,
    domains: Iterable[Domain | str] = (),
    *,
    exercised_by: Iterable[str] = (),
    covers: Iterable[str] = (),
    purposes: Iterable[Category | str] = (),
) -> LegalBasis:
    """A checked legal basis from plain values; the message names the field at fault.

    ``exercised_by`` may be empty here (a basis kept from before agencies were recorded):
    then no officer can put a restriction under it into effect. New law names them
    (``require_agencies``). ``covers`` names event types and ``purposes`` their purposes:
    what a rule citing the basis may read; with neither, no rule may cite it.
    """
    if not isinstance(id, str) or len(id) > BASIS_ID_MAX or not _BASIS_ID.fullmatch(id):
        raise InvalidInputError("basis.id", f"must be lowercase letters, digits and . _ / -, got {id!r:.80}")
    cited = []  # every notice made under the basis cites them to the person: nothing in them hidden
    for field, value, limit in (("instrument", instrument, INSTRUMENT_MAX), ("article", article, ARTICLE_MAX)):
        text = checked_text(value, f"basis.{field}", limit)
        if not shows_letter_or_digit(text):
            raise InvalidInputError(f"basis.{field}", f"must be 1-{limit} characters, a letter or digit among them")
        cited.append(text)
    if not isinstance(kind, str) or kind not in BasisKind.__members__.values():
        known = ", ".join(k.value for k in BasisKind)
        raise InvalidInputError("basis.kind", f"unknown kind {kind!r:.40}; known: {known}")
    if isinstance(domains, str) or not isinstance(domains, Iterable):
        raise InvalidInputError("basis.domains", "must be a list of domains")
    checked: set[Domain] = set()
    for i, d in enumerate(domains):
        if not isinstance(d, str) or d not in Domain.__members__.values():
            known = ", ".join(x.value for x in Domain)
            raise InvalidInputError(f"basis.domains[{i}]", f"unknown domain {d!r:.40}; known: {known}")
        checked.add(Domain(d))
    agencies = _checked_agencies(exercised_by)
    named, kinds = _checked_coverage(covers, purposes)
    return LegalBasis(id, cited[0], cited[1], BasisKind(kind), frozenset(checked), agencies, named, kinds)


def _checked_coverage(covers: object, purposes: object) -> tuple[frozenset[str], frozenset[Category]]:
    if isinstance(covers, str) or not isinstance(covers, Iterable):
        raise InvalidInputError("basis.covers", "must be a list of event types")
    if isinstance(purposes, str) or not isinstance(purposes, Iterable):
        raise InvalidInputError("basis.purposes", "must be a list of purposes (data categories)")
    names = list(covers)
    kinds = list(purposes)
    if len(names) + len(kinds) > COVERS_MAX:
        raise InvalidInputError("basis.covers", f"at most {COVERS_MAX} event types and purposes")
    for i, name in enumerate(names):
        if not isinstance(name, str) or len(name) > EVENT_TYPE_NAME_MAX or not _EVENT_TYPE_NAME.fullmatch(name):
            raise InvalidInputError(f"basis.covers[{i}]", f"an event type's name like loan.repaid, got {name!r:.80}")
    for i, kind in enumerate(kinds):
        if not isinstance(kind, str) or kind not in Category.__members__.values():
            raise InvalidInputError(f"basis.purposes[{i}]", f"unknown purpose (a data category) {kind!r:.40}")
    return frozenset(names), frozenset(Category(k) for k in kinds)


def _checked_agencies(exercised_by: object) -> frozenset[str]:
    if isinstance(exercised_by, str) or not isinstance(exercised_by, Iterable):
        raise InvalidInputError("basis.exercised_by", "must be a list of agencies")
    agencies = list(exercised_by)
    if len(agencies) > AGENCIES_PER_BASIS_MAX:
        raise InvalidInputError("basis.exercised_by", f"at most {AGENCIES_PER_BASIS_MAX} agencies")
    for i, agency in enumerate(agencies):
        checked_name(agency, f"basis.exercised_by[{i}]", AGENCY_MAX)
    return frozenset(agencies)


def require_agencies(basis: LegalBasis, field: str = "basis.exercised_by") -> LegalBasis:
    """``basis``, if it names who exercises it or closes nothing; a basis that closes domains must name them."""
    if basis.domains and not basis.exercised_by:
        raise InvalidInputError(
            field, "is required: a basis that closes domains names the agencies that exercise it (e.g. courts)"
        )
    return basis


@dataclass(frozen=True, slots=True)
class CourtOrder:
    """The order a court-order restriction carries out: the court, its case (docket) number, the day it was made."""

    court: str  # "High Court of Justice, Commercial Division"
    case_number: str  # "HC/2026/118"
    issued_on: dt.date

    def cite(self) -> str:
        """How notices name it: "order of 2026-03-02 in HC/2026/118, High Court of Justice"."""
        return f"order of {self.issued_on.isoformat()} in {self.case_number}, {self.court}"


def court_order(
    court: object, case_number: object, issued_on: object, *, today: dt.date, field: str = "court_order"
) -> CourtOrder:
    """A checked order reference; the message names the field at fault (``court_order.case_number``).

    ``issued_on`` is a date or ``YYYY-MM-DD``, not after ``today`` (with a day's grace for a
    court east of UTC).
    """
    court = checked_text(court, f"{field}.court", COURT_MAX)  # cited to the person: nothing in it hidden
    if not shows_letter_or_digit(court):
        raise InvalidInputError(f"{field}.court", f"the court that made the order: 1-{COURT_MAX} characters")
    if "  " in court:
        raise InvalidInputError(f"{field}.court", "single spaces")
    if (
        not isinstance(case_number, str)
        or len(case_number) > CASE_NUMBER_MAX
        or not _CASE_NUMBER.fullmatch(case_number)
    ):
        raise InvalidInputError(
            f"{field}.case_number",
            f"the case (docket) number: 1-{CASE_NUMBER_MAX} of letters, digits and . / : _ -, single spaces between",
        )
    if isinstance(issued_on, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", issued_on):
        with contextlib.suppress(ValueError):  # a date that does not exist is refused below
            issued_on = dt.date.fromisoformat(issued_on)
    if isinstance(issued_on, dt.datetime) or not isinstance(issued_on, dt.date):
        raise InvalidInputError(f"{field}.issued_on", "the order's date, YYYY-MM-DD")
    if not ORDER_DATE_MIN <= issued_on <= today + dt.timedelta(days=1):
        raise InvalidInputError(f"{field}.issued_on", f"must be from {ORDER_DATE_MIN} to today, got {issued_on}")
    return CourtOrder(court, case_number, issued_on)


class LegalBases:
    """The registry of legal bases that rules and restrictions may cite."""

    def __init__(self, bases: Iterable[LegalBasis] = ()) -> None:
        self._bases: dict[str, LegalBasis] = {}
        for b in bases:
            self.register(b)

    def register(self, basis: LegalBasis) -> LegalBasis:
        """Add a basis; re-registering the identical one is a no-op, a different one a conflict.

        One exception, for bases kept from before agencies were recorded: the same terms
        with agencies fill in a basis that names none (``with_agencies_of``).
        """
        resolved = self.resolved(basis)
        self._bases[resolved.id] = resolved
        return resolved

    def resolved(self, basis: LegalBasis) -> LegalBasis:
        """What ``register(basis)`` would hold, or its error, leaving the registry as it is."""
        if not isinstance(basis, LegalBasis):
            raise InvalidInputError("basis", "must be a LegalBasis (see legal_basis())")
        checked = legal_basis(
            basis.id,
            basis.instrument,
            basis.article,
            basis.kind,
            basis.domains,
            exercised_by=basis.exercised_by,
            covers=basis.covers,
            purposes=basis.purposes,
        )
        known = self._bases.get(checked.id)
        if known is None:
            return checked
        merged = with_agencies_of(known, checked)
        if merged is None:
            raise ConflictError("basis.id", f"legal basis {checked.id} is registered with other terms")
        return merged

    def get(self, id: str) -> LegalBasis:
        """The basis called ``id``, or NotFoundError."""
        found = self._bases.get(id) if isinstance(id, str) else None
        if found is None:
            raise NotFoundError("basis", f"no legal basis {id!r:.80} is registered")
        return found

    def __contains__(self, id: object) -> bool:
        return id in self._bases

    def __len__(self) -> int:
        return len(self._bases)

    def ids(self) -> list[str]:
        """The registered ids, sorted."""
        return sorted(self._bases)


def with_agencies_of(known: LegalBasis, other: LegalBasis) -> LegalBasis | None:
    """``known`` if ``other`` has the same terms, or ``known`` completed by ``other``; else None.

    A basis recorded before bases named their agencies (migration 0013) names none, and
    one recorded before they named what they cover (the store does not keep that yet)
    covers nothing; the first registration of the same terms that names them completes
    it, once. Any other difference is other terms.
    """
    if replace(other, exercised_by=known.exercised_by, covers=known.covers, purposes=known.purposes) != known:
        return None
    merged = known
    if other.exercised_by not in (known.exercised_by, frozenset()):
        if known.exercised_by:
            return None
        merged = replace(merged, exercised_by=other.exercised_by)
    coverage, theirs = (known.covers, known.purposes), (other.covers, other.purposes)
    if theirs not in (coverage, (frozenset(), frozenset())):
        if any(coverage):
            return None
        merged = replace(merged, covers=other.covers, purposes=other.purposes)
    return merged


def require_coverage(basis: LegalBasis, rule_id: str, inputs: Sequence[EventType], where: str) -> None:
    """Refuse a rule citing ``basis`` over anything it does not cover, naming the rule, the basis and the input.

    A court order or a sanctions listing covers no rule: only an officer exercises it,
    entering the order or confirming the match (issue 16).
    """
    if not basis.for_rules:
        raise InvalidInputError(
            f"{where}.basis",
            f"rule {rule_id!r} cites {basis.id} ({basis.cite()}), a {basis.kind.value.replace('_', ' ')}: only "
            f"an officer of {basis.agencies_text()} exercises it, entering the order or confirming the match; "
            "no automated rule may cite it",
        )
    for k, t in enumerate(inputs):
        if not basis.covers_type(t):
            raise InvalidInputError(
                f"{where}.inputs[{k}]",
                f"rule {rule_id!r} reads {t.name} (purpose {t.purpose}), which its basis {basis.id} "
                f"({basis.cite()}) does not cover; it covers {basis.coverage_text()}",
            )


def checked_domains(basis: LegalBasis, domains: Iterable[Domain | str], field: str = "domains") -> frozenset[Domain]:
    """The domains a restriction closes, each one named by its basis; anything else is refused by name."""
    if isinstance(domains, str) or not isinstance(domains, Iterable):
        raise InvalidInputError(field, "must be a list of domains")
    checked: set[Domain] = set()
    for i, d in enumerate(domains):
        if not isinstance(d, str) or d not in Domain.__members__.values():
            known = ", ".join(x.value for x in Domain)
            raise InvalidInputError(f"{field}[{i}]", f"unknown domain {d!r:.40}; known: {known}")
        if Domain(d) not in basis.domains:
            allowed = ", ".join(sorted(basis.domains)) or "no domain at all"
            raise InvalidInputError(f"{field}[{i}]", f"{basis.cite()} does not allow closing {d}; it allows {allowed}")
        checked.add(Domain(d))
    if not checked:
        raise InvalidInputError(field, "a restriction closes at least one domain")
    return frozenset(checked)


def domains_text(domains: Iterable[Domain]) -> str:
    """Domains as the store keeps them: their values, sorted, comma-separated."""
    return ",".join(sorted(d.value for d in domains))


def domains_of(text: str) -> frozenset[Domain]:
    """Domains back from the store's text (``domains_text``)."""
    return frozenset(Domain(d) for d in text.split(",") if d)
