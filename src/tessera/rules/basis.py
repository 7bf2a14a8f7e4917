"""Legal bases: the instruments that allow a rule or a restriction, and exactly which domains they close.

DESIGN.md's third principle lives here: a restriction names the domains it closes and the
legal instrument that allows exactly those. Rules and restrictions never carry a free-text
basis; they cite one registered here, so "which law allows this?" always has one answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tessera.errors import ConflictError, InvalidInputError, NotFoundError


class Domain(StrEnum):
    """A part of life a restriction can close; nothing closes a domain its basis does not name."""

    payments = "payments"  # the person's wallets are frozen in the ledger
    travel = "travel"
    procurement = "procurement"  # bidding for public contracts
    licensing = "licensing"  # being granted a licence or permit
    benefits = "benefits"  # drawing a programme's subsidised balance
    credit = "credit"  # being granted a loan by a regulated lender


class BasisKind(StrEnum):
    """What sort of instrument it is; only the first two may act without a human decision."""

    court_order = "court_order"
    sanctions_listing = "sanctions_listing"
    statute = "statute"
    regulation = "regulation"


SELF_EXECUTING = frozenset({BasisKind.court_order, BasisKind.sanctions_listing})
BASIS_ID_MAX = 64
INSTRUMENT_MAX = 200
ARTICLE_MAX = 64
_BASIS_ID = re.compile(r"[a-z0-9][a-z0-9._/-]*")


@dataclass(frozen=True, slots=True)
class LegalBasis:
    """A legal instrument and article, and the domains it allows to be closed.

    ``domains`` may be empty: such a basis allows scores and eligibility, never a restriction.
    """

    id: str  # stable short name rules cite: "consumer-credit-act/12"
    instrument: str  # "Consumer Credit Act 2024"
    article: str  # "s. 12(3)"
    kind: BasisKind
    domains: frozenset[Domain] = frozenset()

    @property
    def self_executing(self) -> bool:
        """Whether a restriction under it takes effect without an officer's decision."""
        return self.kind in SELF_EXECUTING

    @property
    def allows_open_end(self) -> bool:
        """Only a court may close a domain with no end date."""
        return self.kind is BasisKind.court_order

    def cite(self) -> str:
        """How notices name it: instrument and article."""
        return f"{self.instrument}, {self.article}"


def legal_basis(
    id: str, instrument: str, article: str, kind: BasisKind | str, domains: Iterable[Domain | str] = ()
) -> LegalBasis:
    """A checked legal basis from plain values; the message names the field at fault."""
    if not isinstance(id, str) or len(id) > BASIS_ID_MAX or not _BASIS_ID.fullmatch(id):
        raise InvalidInputError("basis.id", f"must be lowercase letters, digits and . _ / -, got {id!r:.80}")
    for field, value, limit in (("instrument", instrument, INSTRUMENT_MAX), ("article", article, ARTICLE_MAX)):
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise InvalidInputError(f"basis.{field}", f"must be 1-{limit} characters")
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
    return LegalBasis(id, instrument.strip(), article.strip(), BasisKind(kind), frozenset(checked))


class LegalBases:
    """The registry of legal bases that rules and restrictions may cite."""

    def __init__(self, bases: Iterable[LegalBasis] = ()) -> None:
        self._bases: dict[str, LegalBasis] = {}
        for b in bases:
            self.register(b)

    def register(self, basis: LegalBasis) -> LegalBasis:
        """Add a basis; re-registering the identical one is a no-op, a different one a conflict."""
        if not isinstance(basis, LegalBasis):
            raise InvalidInputError("basis", "must be a LegalBasis (see legal_basis())")
        checked = legal_basis(basis.id, basis.instrument, basis.article, basis.kind, basis.domains)
        known = self._bases.get(checked.id)
        if known is not None:
            if known != checked:
                raise ConflictError("basis.id", f"legal basis {checked.id} is registered with other terms")
            return known
        self._bases[checked.id] = checked
        return checked

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
