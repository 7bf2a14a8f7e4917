"""A person's own entitlements (``GET /v1/me/entitlements``): every programme, why, what is left, where; redemptions.

A person sees every registered programme under which their *unit* was paid in any cycle (an
entitlement account exists) or was previewed in the programme's latest cycle, eligible or not.
The unit is the person for a person programme; for a household programme it is their
household, paid to its head, so every member sees the household's entitlement (marked as the
household's, with who heads it). One not eligible in the latest cycle still sees the programme
and the clauses that did not hold: no silent decisions (DESIGN.md, principle 2). A unit
previewed only in older cycles and never paid is not shown. A nominee who collects for a
household they are not a member of sees that household's programmes too (marked ``nominee``):
what is left, until when and its redemptions are what they need at the till.

Why, in words, is the latest previewed cycle's: the clauses of the eligibility that held (or a
grant that made the unit eligible), or those that did not (``CompiledProgramme.qualified`` and
``reason``). The facts named are the person's own (or their household's). What is left, until
when and what expired unspent are ``Entitlements.standing``'s, per line, in the line's unit.
A household's entitlement is the head's number's: a member whose head changed sees the new
head's, not what the old head was paid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import and_, func, or_, select

from tessera.errors import InvalidInputError
from tessera.ledger import Ledger
from tessera.limits import BATCH_SIZE_MAX, PAGE_SIZE_MAX
from tessera.money import format_amount
from tessera.programs.cycles import Cycles
from tessera.programs.disbursement import entitlement_account_ids
from tessera.programs.entitlements import Entitlements
from tessera.programs.outlets import Outlets
from tessera.programs.programmes import Line, Programme, Unit
from tessera.programs.registered import RegisteredProgrammes
from tessera.rules import builtin_code_tables
from tessera.store import Store, cycle_results, outlets, programme_cycles, redemptions

REDEMPTIONS_PAGE = 50  # redemptions shown when the caller names no limit
_BEFORE = re.compile(r"(?P<ns>[0-9]{1,19})\.(?P<id>[A-Za-z0-9_]{1,32})")  # a page's cursor: "created_at_ns.id"


class HouseholdView(Protocol):
    """What this module reads of a household (``tessera.identity.Household``)."""

    @property
    def id(self) -> str: ...

    @property
    def head(self) -> str | None: ...


HouseholdOf = Callable[[str], HouseholdView | None]  # the household a person is a member of now, or None
Nominating = Callable[[str], Sequence[HouseholdView]]  # the households that name a person a nominee now


@dataclass(frozen=True, slots=True)
class Clause:
    """One top-level clause of a programme's eligibility, as people read it, and whether it held for the unit."""

    text: str
    held: bool


@dataclass(frozen=True, slots=True)
class LatestCycle:
    """The unit in the programme's latest previewed cycle: eligible or not, why in words, and what it gives."""

    cycle_id: int
    cycle_date_ns: int
    status: str
    eligible: bool
    reason: str  # "met: …", "not met: …", "none of these holds: …", "granted: …"
    clauses: tuple[Clause, ...]
    amounts: tuple[str, ...]  # per line, in its unit ("52.30 XTS"), before any pro-rating; "" for the ineligible


@dataclass(frozen=True, slots=True)
class LineLeft:
    """One line of a programme for the unit: what is left, until when, what expired unspent, in the line's unit."""

    ledger: str
    ledger_id: int
    commodity: str | None
    unit: str
    decimals: int
    paid: bool  # an entitlement was ever credited on this line
    left: int  # minor units
    left_text: str  # "12.500 kg"
    until_ns: int | None  # when the last of what is left expires; None when nothing is
    expired: int  # held but no longer spendable: returned to the programme
    expired_text: str
    last_expired_ns: int | None


@dataclass(frozen=True, slots=True)
class SpentAt:
    """A merchant category a programme is spent at, with its name in the MCC table."""

    code: int
    name: str


@dataclass(frozen=True, slots=True)
class MyProgramme:
    """One programme as the person sees it."""

    id: str
    name: str
    kind: str
    unit: str  # person or household
    number: str  # the unit's number: the person's own, or their household's head's
    household_id: str | None  # for a household programme
    head: str | None  # for a household programme: who is paid for it
    yours: bool  # the person is the unit (their own, or they head the household)
    nominee: bool  # the person collects for this household as its nominee, not as a member
    latest: LatestCycle | None  # None: not in the latest previewed cycle (paid before)
    lines: tuple[LineLeft, ...]
    merchant_categories: tuple[SpentAt, ...]
    outlets: int  # outlets authorised for it now


@dataclass(frozen=True, slots=True)
class MyRedemption:
    """One redemption of the unit's entitlement at an outlet."""

    id: str
    programme: str
    created_at_ns: int
    outlet_id: str
    outlet_name: str | None  # None: an outlet no longer registered
    status: str
    items: Any  # the redemption's items, as recorded (JSON)
    outcome: Any  # a refusal's reason and words (JSON), None when there is none


@dataclass(frozen=True, slots=True)
class MyEntitlements:
    """Everything ``/v1/me/entitlements`` shows, and whose data beyond the person's own it shows."""

    number: str
    household_id: str | None
    programmes: tuple[MyProgramme, ...]
    redemptions: tuple[MyRedemption, ...]  # newest first, a page
    next_before: str | None  # the cursor of the next page, when this one is full
    others: tuple[str, ...]  # numbers of others whose data is shown (the household's head): logged for them


class MyEntitlementsReader:
    """A person's entitlements, read from the register, the cycles' results, the ledger and the redemptions."""

    def __init__(
        self,
        store: Store,
        *,
        programmes: RegisteredProgrammes,
        cycles: Cycles,
        entitlements: Entitlements,
        shops: Outlets,
        ledger: Ledger,
        household_of: HouseholdOf,
        nominating: Nominating,
    ) -> None:
        self._store = store
        self._programmes = programmes
        self._cycles = cycles
        self._entitlements = entitlements
        self._shops = shops
        self._ledger = ledger
        self._household_of = household_of
        self._nominating = nominating

    def of(
        self, number: str, *, limit: int = REDEMPTIONS_PAGE, before: str | None = None, now_ns: int | None = None
    ) -> MyEntitlements:
        """What ``number`` sees: their programmes and a page of redemptions, newest first, before ``before``.

        ``now_ns`` (default: the entitlements' clock) is when what is left is judged live or expired.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE_MAX:
            raise InvalidInputError("limit", f"must be 1-{PAGE_SIZE_MAX}")
        cursor = _cursor(before)
        household = self._household_of(number)
        head = household.head if household is not None and household.head is not None else number
        registered = self._programmes.all()
        own = household.id if household is not None else None
        units = [_Unit(r.programme, number, None, False) if r.programme.unit is Unit.person
                 else _Unit(r.programme, head, own, False) for r in registered]  # fmt: skip
        for collected in self._nominating(number):
            if collected.head is not None and collected.id != own:  # a member sees it as a member already
                units += [_Unit(r.programme, collected.head, collected.id, True)
                          for r in registered if r.programme.unit is Unit.household]  # fmt: skip
        paid = self._paid(units)
        latest = self._latest(units)
        shown = []
        for u in units:
            p, was = u.programme, latest.get((u.programme.id, u.number))
            ever = {line.ledger_id: paid[p.id, line.ledger_id, u.number] for line in p.lines}
            if was is None and not any(ever.values()):
                continue
            household_unit = p.unit is Unit.household
            shown.append(
                MyProgramme(
                    p.id, p.name, p.kind.value, p.unit.value, u.number, u.household_id,
                    u.number if household_unit else None, u.number == number, u.nominee, was,
                    tuple(self._line(p, line, u.number, ever[line.ledger_id], now_ns) for line in p.lines),
                    _spent_at(p), self._shops.authorised_count(p.id),
                )
            )  # fmt: skip
        found = self._redemptions([(m.number, m.id) for m in shown], limit, cursor)
        more = f"{found[-1].created_at_ns}.{found[-1].id}" if len(found) == limit else None
        others = sorted({m.number for m in shown} - {number})
        return MyEntitlements(number, own, tuple(shown), tuple(found), more, tuple(others))

    def _paid(self, units: Sequence[_Unit]) -> dict[tuple[str, int, str], bool]:
        """(programme, ledger, unit) -> whether the unit's entitlement account on it exists: a ledger lookup a batch."""
        keys = [(u.programme.id, line.ledger_id, u.number) for u in units for line in u.programme.lines]
        ids = [_account_id(*key) for key in keys]
        found: set[int] = set()
        for start in range(0, len(ids), BATCH_SIZE_MAX):  # 1000 programmes of 16 lines exceed one lookup
            found.update(a.id for a in self._ledger.lookup_accounts(ids[start : start + BATCH_SIZE_MAX]))
        return {key: account_id in found for key, account_id in zip(keys, ids, strict=True)}

    def _latest(self, units: Sequence[_Unit]) -> dict[tuple[str, str], LatestCycle]:
        """(programme, unit) -> the unit's result in its programme's latest previewed cycle, where it was in it."""
        c, res = programme_cycles, cycle_results
        newest = (
            select(func.max(c.c.id))
            .where(c.c.programme.in_(sorted({u.programme.id for u in units})), c.c.status != "draft")
            .group_by(c.c.programme)
            .scalar_subquery()
        )
        query = (
            select(c.c.id, c.c.programme, c.c.version, c.c.cycle_date_ns, c.c.status, res.c.person,
                   res.c.eligible, res.c.failed, res.c.unreported, res.c.amounts)
            .select_from(c.join(res, res.c.cycle_id == c.c.id))
            .where(c.c.id.in_(newest), res.c.person.in_(sorted({u.number for u in units})))
        )  # fmt: skip
        wanted = {(u.programme.id, u.number) for u in units}
        with self._store.transaction() as conn:
            rows = [row for row in conn.execute(query) if (row.programme, row.person) in wanted]
        out = {}
        for row in rows:
            compiled = self._cycles.compiled(row.programme, row.version)
            failed, eligible = int(row.failed), bool(row.eligible)
            clauses = tuple(Clause(text, not failed >> i & 1) for i, text in enumerate(compiled.clauses))
            reason = compiled.qualified(failed) if eligible else compiled.reason(failed, int(row.unreported))
            lines = compiled.programme.lines
            amounts = [int(a) for a in row.amounts.split(",") if a]
            said = tuple(_in_unit(a, line) if eligible else "" for a, line in zip(amounts, lines, strict=False))
            out[row.programme, row.person] = LatestCycle(
                int(row.id), int(row.cycle_date_ns), str(row.status), eligible, reason, clauses, said
            )
        return out

    def _line(self, programme: Programme, line: Line, number: str, paid: bool, now_ns: int | None) -> LineLeft:
        if not paid:
            return LineLeft(line.ledger, line.ledger_id, line.commodity, line.unit, line.decimals, False,
                            0, _in_unit(0, line), None, 0, _in_unit(0, line), None)  # fmt: skip
        standing = self._entitlements.standing(programme, line.ledger_id, number, now_ns=now_ns)
        return LineLeft(
            line.ledger, line.ledger_id, line.commodity, line.unit, line.decimals, True,
            standing.left, _in_unit(standing.left, line), standing.until_ns,
            standing.expired, _in_unit(standing.expired, line), standing.last_expired_ns,
        )  # fmt: skip

    def _redemptions(
        self, units: Sequence[tuple[str, str]], limit: int, cursor: tuple[int, str] | None
    ) -> list[MyRedemption]:
        """A page of the units' redemptions under the programmes shown, newest first."""
        if not units:
            return []
        r = redemptions
        by_number: dict[str, list[str]] = {}
        for number, programme_id in units:
            by_number.setdefault(number, []).append(programme_id)
        whose = or_(*(and_(r.c.person == n, r.c.programme.in_(ps)) for n, ps in sorted(by_number.items())))
        query = (
            select(
                r.c.id,
                r.c.programme,
                r.c.created_at_ns,
                r.c.outlet_id,
                r.c.status,
                r.c["items"],
                r.c.outcome,
                outlets.c.name,
            )
            .select_from(r.outerjoin(outlets, outlets.c.id == r.c.outlet_id))
            .where(whose)
        )
        if cursor is not None:
            ns, last = cursor
            query = query.where(or_(r.c.created_at_ns < ns, and_(r.c.created_at_ns == ns, r.c.id < last)))
        query = query.order_by(r.c.created_at_ns.desc(), r.c.id.desc()).limit(limit)
        with self._store.transaction() as conn:
            rows = conn.execute(query).all()
        return [
            MyRedemption(str(x.id), str(x.programme), int(x.created_at_ns), str(x.outlet_id),
                         None if x.name is None else str(x.name), str(x.status), _items(x.items),
                         None if x.outcome is None else _items(x.outcome))
            for x in rows
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Unit:
    """A programme and the unit whose entitlement the caller sees: theirs, their household's, or one collected for."""

    programme: Programme
    number: str  # the unit's number: the person's own, or the household's head's
    household_id: str | None  # for a household programme: the household
    nominee: bool  # seen as the household's nominee, not as a member


def _account_id(programme_id: str, ledger_id: int, number: str) -> int:
    return int(entitlement_account_ids(programme_id, ledger_id, np.array([number]))[0])


def _in_unit(minor: int, line: Line) -> str:
    return f"{format_amount(minor, line.decimals)} {line.unit}"


def _spent_at(programme: Programme) -> tuple[SpentAt, ...]:
    table = builtin_code_tables().get("mcc")
    out = []
    for code in sorted(programme.merchant_categories):
        meaning = table.meaning(code)
        out.append(SpentAt(code, meaning.label if meaning is not None else f"merchant category {code}"))
    return tuple(out)


def _items(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # recorded as it came; shown as it is rather than hidden


def _cursor(before: object) -> tuple[int, str] | None:
    if before is None:
        return None
    match = _BEFORE.fullmatch(before) if isinstance(before, str) else None
    if match is None:
        raise InvalidInputError("before", "the next_before of the previous page: created_at_ns.id")
    return int(match["ns"]), match["id"]
