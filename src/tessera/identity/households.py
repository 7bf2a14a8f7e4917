"""Households: who lives together, who heads them, who may collect for them, and every change since.

A household has members, one of them its head, and up to ``NOMINEES_MAX`` nominees: registered
persons, members or not, who may collect on its behalf (for the elderly, the sick, people
whose fingerprints fail). A person is in at most one household at a time; the store's key on
``household_members`` holds that, whatever the code above it does. Every change is one
transaction by a named actor with a stated reason, and adds to the household's history,
which is never rewritten: replayed from its first entry (``replayed``) it gives the members,
head and nominees the household has now. A household whose last member leaves is closed and
keeps its history; nothing changes it after.

Programmes (issue 19) pay households through their head or a nominee; this module only
keeps who they are.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.identity.household_columns import MembershipColumns, read_membership_columns
from tessera.identity.numbers import checked_number
from tessera.identity.registry import Clock
from tessera.limits import PAGE_SIZE_MAX, check_batch_size
from tessera.store import (
    ACTOR_MAX,
    NOMINEE_SLOTS,
    REASON_MAX,
    Store,
    household_changes,
    household_members,
    household_nominees,
    households,
    persons,
)
from tessera.text import checked_text, shows_letter_or_digit

# A joint family of three generations is a few dozen people; past this it is an institution
# (a care home, a boarding school), which is not one household.
MEMBERS_MAX = 100
NOMINEES_MAX = NOMINEE_SLOTS  # two, as public distribution systems allow: the store has two slots
HISTORY_MAX = PAGE_SIZE_MAX  # changes read with a household; a household changes a few times a year
# A person who is deceased, or whose number was revoked, joins nothing and collects for no one.
STATUSES_EXCLUDED = frozenset({"deceased", "revoked"})
_HOUSEHOLD_ID = re.compile(r"h_[0-9a-f]{16}")

MEMBER_JOINED = "member_joined"
MEMBER_LEFT = "member_left"
HEAD_CHANGED = "head_changed"
NOMINEE_ADDED = "nominee_added"
NOMINEE_REMOVED = "nominee_removed"


@dataclass(frozen=True, slots=True)
class HouseholdChange:
    """One entry of a household's history: what changed, for whom, who changed it, why, when."""

    change: str
    number: str
    actor: str
    reason: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class Household:
    """A household now, with its whole history; ``head`` is None once it is closed (no members left)."""

    id: str
    head: str | None
    members: tuple[str, ...]  # numbers, in the order they joined (by number among those who joined at once)
    nominees: tuple[str, ...]  # numbers, in the order they were added
    created_at_ns: int
    created_by: str
    closed_at_ns: int | None
    history: tuple[HouseholdChange, ...]

    def persons(self) -> tuple[str, ...]:
        """Everyone this household shows: its members, then nominees who are not members."""
        return (*self.members, *(n for n in self.nominees if n not in self.members))


@dataclass(frozen=True, slots=True)
class Replayed:
    """What a history adds up to: the members, head and nominees it leaves."""

    members: frozenset[str]
    head: str | None
    nominees: frozenset[str]


def replayed(history: Iterable[HouseholdChange]) -> Replayed:
    """The state a history leads to, from nothing; a change that could not have happened is a ValueError."""
    members: set[str] = set()
    nominees: set[str] = set()
    head: str | None = None
    for c in history:
        if c.change == MEMBER_JOINED and c.number not in members:
            members.add(c.number)
        elif c.change == MEMBER_LEFT and c.number in members and (c.number != head or members == {c.number}):
            members.discard(c.number)
            head = None if c.number == head else head
        elif c.change == HEAD_CHANGED and c.number in members:
            head = c.number
        elif c.change == NOMINEE_ADDED and c.number not in nominees and len(nominees) < NOMINEES_MAX:
            nominees.add(c.number)
        elif c.change == NOMINEE_REMOVED and c.number in nominees:
            nominees.discard(c.number)
        else:
            raise ValueError(f"{c.change} of {c.number} cannot follow the changes before it")
    return Replayed(frozenset(members), head, frozenset(nominees))


class Households:
    """The registry's households, in the store's database."""

    def __init__(self, store: Store, clock: Clock = time.time_ns) -> None:
        self._store = store
        self._clock = clock

    # --- changes ------------------------------------------------------------------------------

    def create_household(
        self,
        members: Sequence[str],
        *,
        head: str,
        nominees: Sequence[str] = (),
        actor: str,
        reason: str,
    ) -> Household:
        """A new household of ``members`` (at least one, ``head`` among them), with any nominees."""
        if isinstance(members, str) or not isinstance(members, Sequence):
            raise InvalidInputError("members", "must be a list of Tessera numbers")
        check_batch_size(len(members), "members", MEMBERS_MAX)
        if isinstance(nominees, str) or not isinstance(nominees, Sequence) or len(nominees) > NOMINEES_MAX:
            raise InvalidInputError("nominees", f"must be a list of at most {NOMINEES_MAX} Tessera numbers")
        numbers = _distinct([checked_number(n, f"members[{i}]") for i, n in enumerate(members)], "members")
        head = checked_number(head, "head")
        if head not in numbers:
            raise InvalidInputError("head", f"{head} must be one of the members")
        chosen = _distinct([checked_number(n, f"nominees[{i}]") for i, n in enumerate(nominees)], "nominees")
        actor, reason = _checked_actor(actor), _checked_reason(reason)
        now = self._clock()
        household_id = "h_" + secrets.token_hex(8)
        with self._store.transaction(write=True, conflict=_joined_meanwhile("members")) as conn:
            _check_persons(conn, {f"members[{i}]": n for i, n in enumerate(numbers)})
            _check_persons(conn, {f"nominees[{i}]": n for i, n in enumerate(chosen)})
            _check_in_none(conn, numbers)
            conn.execute(
                households.insert().values(id=household_id, created_at_ns=now, created_by=actor, closed_at_ns=None)
            )
            ordered = [head, *(n for n in numbers if n != head)]  # the head joins first
            conn.execute(
                household_members.insert(),
                [
                    {"number": n, "household_id": household_id, "is_head": n == head, "joined_at_ns": now}
                    for n in ordered
                ],
            )
            changes = [(MEMBER_JOINED, n) for n in ordered] + [(HEAD_CHANGED, head)]
            if chosen:
                conn.execute(
                    household_nominees.insert(),
                    [
                        {"household_id": household_id, "slot": slot, "number": n, "added_at_ns": now}
                        for slot, n in enumerate(chosen, start=1)
                    ],
                )
                changes += [(NOMINEE_ADDED, n) for n in chosen]
            _record(conn, household_id, changes, actor=actor, reason=reason, at_ns=now)
            return _read(conn, household_id)

    def add_member(self, household_id: str, number: str, *, actor: str, reason: str) -> Household:
        """``number`` joins the household; refused while they are in another (or this) one."""
        household_id, number = _checked_id(household_id), checked_number(number)
        actor, reason = _checked_actor(actor), _checked_reason(reason)
        now = self._clock()
        with self._store.transaction(write=True, conflict=_joined_meanwhile("number")) as conn:
            members = _open_household(conn, household_id)
            _check_persons(conn, {"number": number})
            _check_in_none(conn, [number], field="number")
            if len(members) >= MEMBERS_MAX:
                raise ConflictError("members", f"household {household_id} already has {MEMBERS_MAX} members")
            conn.execute(
                household_members.insert().values(
                    number=number, household_id=household_id, is_head=False, joined_at_ns=now
                )
            )
            _record(conn, household_id, [(MEMBER_JOINED, number)], actor=actor, reason=reason, at_ns=now)
            return _read(conn, household_id)

    def remove_member(
        self, household_id: str, number: str, *, actor: str, reason: str, new_head: str | None = None
    ) -> Household:
        """``number`` leaves. The head leaves only naming ``new_head``, another member; the last member
        leaves alone, and the household closes (its nominees removed with the same reason)."""
        household_id, number = _checked_id(household_id), checked_number(number)
        successor = None if new_head is None else checked_number(new_head, "new_head")
        actor, reason = _checked_actor(actor), _checked_reason(reason)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            members = _open_household(conn, household_id)
            if number not in members:
                raise NotFoundError("number", f"{number} is not a member of household {household_id}")
            is_head = members[number]
            changes: list[tuple[str, str]] = []
            if is_head and len(members) > 1:
                if successor is None:
                    raise InvalidInputError(
                        "new_head", f"{number} heads household {household_id}: name another member as the new head"
                    )
                if successor == number or successor not in members:
                    raise InvalidInputError("new_head", f"{successor} must be another member of {household_id}")
                _check_persons(conn, {"new_head": successor})
                _set_head(conn, household_id, successor)
                changes.append((HEAD_CHANGED, successor))
            elif successor is not None:
                raise InvalidInputError(
                    "new_head",
                    "only when the head leaves (and others stay); change the head on its own otherwise",
                )
            conn.execute(household_members.delete().where(household_members.c.number == number))
            changes.append((MEMBER_LEFT, number))
            if len(members) == 1:
                nominees = list(
                    conn.scalars(
                        select(household_nominees.c.number)
                        .where(household_nominees.c.household_id == household_id)
                        .order_by(household_nominees.c.slot)
                    )
                )
                conn.execute(household_nominees.delete().where(household_nominees.c.household_id == household_id))
                changes += [(NOMINEE_REMOVED, n) for n in nominees]
                conn.execute(update(households).where(households.c.id == household_id).values(closed_at_ns=now))
            _record(conn, household_id, changes, actor=actor, reason=reason, at_ns=now)
            return _read(conn, household_id)

    def change_head(self, household_id: str, number: str, *, actor: str, reason: str) -> Household:
        """``number``, a member, heads the household from now on."""
        household_id, number = _checked_id(household_id), checked_number(number)
        actor, reason = _checked_actor(actor), _checked_reason(reason)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            members = _open_household(conn, household_id)
            if number not in members:
                raise InvalidInputError("number", f"{number} is not a member of {household_id}: add them first")
            if members[number]:
                raise ConflictError("number", f"{number} already heads household {household_id}")
            _check_persons(conn, {"number": number})
            _set_head(conn, household_id, number)
            _record(conn, household_id, [(HEAD_CHANGED, number)], actor=actor, reason=reason, at_ns=now)
            return _read(conn, household_id)

    def add_nominee(self, household_id: str, number: str, *, actor: str, reason: str) -> Household:
        """``number``, a registered person, may collect for the household (at most ``NOMINEES_MAX``)."""
        household_id, number = _checked_id(household_id), checked_number(number)
        actor, reason = _checked_actor(actor), _checked_reason(reason)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            _open_household(conn, household_id)
            _check_persons(conn, {"number": number})
            query = select(household_nominees.c.number, household_nominees.c.slot).where(
                household_nominees.c.household_id == household_id
            )
            slots = {nominee: slot for nominee, slot in conn.execute(query)}
            if number in slots:
                raise ConflictError("number", f"{number} is already a nominee of household {household_id}")
            free = sorted(set(range(1, NOMINEES_MAX + 1)) - set(slots.values()))
            if not free:
                raise ConflictError(
                    "nominees",
                    f"household {household_id} already has {NOMINEES_MAX} nominees "
                    f"({', '.join(sorted(slots))}): remove one first",
                )
            conn.execute(
                household_nominees.insert().values(
                    household_id=household_id, slot=free[0], number=number, added_at_ns=now
                )
            )
            _record(conn, household_id, [(NOMINEE_ADDED, number)], actor=actor, reason=reason, at_ns=now)
            return _read(conn, household_id)

    def remove_nominee(self, household_id: str, number: str, *, actor: str, reason: str) -> Household:
        """``number`` no longer collects for the household."""
        household_id, number = _checked_id(household_id), checked_number(number)
        actor, reason = _checked_actor(actor), _checked_reason(reason)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            _open_household(conn, household_id)
            removed = conn.execute(
                household_nominees.delete().where(
                    household_nominees.c.household_id == household_id, household_nominees.c.number == number
                )
            )
            if removed.rowcount != 1:
                raise NotFoundError("number", f"{number} is not a nominee of household {household_id}")
            _record(conn, household_id, [(NOMINEE_REMOVED, number)], actor=actor, reason=reason, at_ns=now)
            return _read(conn, household_id)

    # --- reading ------------------------------------------------------------------------------

    def household(self, household_id: str) -> Household:
        """The household with its history (its first ``HISTORY_MAX`` changes), or NotFoundError."""
        household_id = _checked_id(household_id)
        with self._store.transaction() as conn:
            return _read(conn, household_id)

    def household_of(self, number: str) -> Household | None:
        """The household ``number`` is a member of now; None if none (NotFoundError if no such person)."""
        number = checked_number(number)
        with self._store.transaction() as conn:
            household_id = conn.scalar(
                select(household_members.c.household_id).where(household_members.c.number == number)
            )
            if household_id is None:
                if conn.scalar(select(persons.c.number).where(persons.c.number == number)) is None:
                    raise NotFoundError("number", f"no person {number}")
                return None
            return _read(conn, household_id)

    def nominating(self, number: str) -> list[Household]:
        """The households naming ``number`` a nominee now, by id (``HISTORY_MAX`` at most); NotFoundError: no person."""
        number = checked_number(number)
        with self._store.transaction() as conn:
            ids = list(
                conn.scalars(
                    select(household_nominees.c.household_id)
                    .where(household_nominees.c.number == number)
                    .order_by(household_nominees.c.household_id)
                    .limit(HISTORY_MAX)
                )
            )
            if not ids and conn.scalar(select(persons.c.number).where(persons.c.number == number)) is None:
                raise NotFoundError("number", f"no person {number}")
            return [_read(conn, household_id) for household_id in ids]

    def memberships(self) -> list[tuple[str, str, bool]]:
        """(number, household id, heads it) of every person in a household now, in number order: one scan."""
        query = select(
            household_members.c.number, household_members.c.household_id, household_members.c.is_head
        ).order_by(household_members.c.number)
        with self._store.transaction() as conn:
            return [(str(n), str(h), bool(head)) for n, h, head in conn.execute(query)]

    def membership_columns(self) -> MembershipColumns:
        """What ``memberships`` says, as numpy columns read in one block: no Python object per member."""
        return read_membership_columns(self._store)


# --- in a transaction -------------------------------------------------------------------------


def _open_household(conn: Connection, household_id: str) -> dict[str, bool]:
    """The household's members (number: is head), its row locked for this change; refused if closed."""
    row = conn.execute(
        select(households.c.closed_at_ns).where(households.c.id == household_id).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError("household_id", f"no household {household_id}")
    if row.closed_at_ns is not None:
        raise ConflictError("household_id", f"household {household_id} is closed: its last member left")
    found = conn.execute(
        select(household_members.c.number, household_members.c.is_head).where(
            household_members.c.household_id == household_id
        )
    )
    return {number: bool(is_head) for number, is_head in found}


def _check_persons(conn: Connection, numbers: dict[str, str]) -> None:
    """Each number (by the field that named it) is a registered person who may join or collect."""
    if not numbers:
        return
    query = select(persons.c.number, persons.c.status).where(persons.c.number.in_(list(numbers.values())))
    statuses = {number: status for number, status in conn.execute(query)}
    for field, number in numbers.items():
        status = statuses.get(number)
        if status is None:
            raise NotFoundError(field, f"no registered person {number}")
        if status in STATUSES_EXCLUDED:
            raise ConflictError(field, f"{number} is {status}")


def _check_in_none(conn: Connection, numbers: Sequence[str], field: str = "members") -> None:
    """None of ``numbers`` is in a household now."""
    query = select(household_members.c.number, household_members.c.household_id).where(
        household_members.c.number.in_(list(numbers))
    )
    found = {number: household_id for number, household_id in conn.execute(query)}
    for i, number in enumerate(numbers):
        if number in found:
            at = field if field != "members" else f"members[{i}]"
            raise ConflictError(at, f"{number} is already in household {found[number]}: remove them from it first")


def _set_head(conn: Connection, household_id: str, number: str) -> None:
    # Unflag the old head first: the store allows one head per household at every statement.
    conn.execute(
        update(household_members)
        .where(household_members.c.household_id == household_id, household_members.c.is_head.is_(True))
        .values(is_head=False)
    )
    conn.execute(update(household_members).where(household_members.c.number == number).values(is_head=True))


def _record(
    conn: Connection, household_id: str, changes: Sequence[tuple[str, str]], *, actor: str, reason: str, at_ns: int
) -> None:
    conn.execute(
        household_changes.insert(),
        [
            {"household_id": household_id, "change": c, "number": n, "actor": actor, "reason": reason, "at_ns": at_ns}
            for c, n in changes
        ],
    )


def _read(conn: Connection, household_id: str) -> Household:
    row = conn.execute(select(households).where(households.c.id == household_id)).first()
    if row is None:
        raise NotFoundError("household_id", f"no household {household_id}")
    members = list(
        conn.execute(
            select(household_members.c.number, household_members.c.is_head)
            .where(household_members.c.household_id == household_id)
            .order_by(household_members.c.joined_at_ns, household_members.c.number)
        )
    )
    nominees = conn.scalars(
        select(household_nominees.c.number)
        .where(household_nominees.c.household_id == household_id)
        .order_by(household_nominees.c.added_at_ns, household_nominees.c.slot)
    )
    history = conn.execute(
        select(household_changes)
        .where(household_changes.c.household_id == household_id)
        .order_by(household_changes.c.id)
        .limit(HISTORY_MAX)
    )
    return Household(
        id=row.id,
        head=next((m.number for m in members if m.is_head), None),
        members=tuple(m.number for m in members),
        nominees=tuple(nominees),
        created_at_ns=row.created_at_ns,
        created_by=row.created_by,
        closed_at_ns=row.closed_at_ns,
        history=tuple(HouseholdChange(h.change, h.number, h.actor, h.reason, h.at_ns) for h in history),
    )


def _joined_meanwhile(field: str) -> Callable[[], ConflictError]:
    """The store's key refused a membership: another transaction put the person in a household after this one looked."""
    return lambda: ConflictError(field, "a person named here joined a household meanwhile: nothing was written")


# --- checks -----------------------------------------------------------------------------------


def _checked_id(value: object) -> str:
    if not isinstance(value, str) or not _HOUSEHOLD_ID.fullmatch(value):
        raise InvalidInputError("household_id", f"must be 'h_' and 16 hex digits, got {value!r:.40}")
    return value


def _checked_actor(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > ACTOR_MAX:
        raise InvalidInputError("actor", f"must be the principal making the change (1-{ACTOR_MAX} characters)")
    return value


def _checked_reason(value: object) -> str:
    """A stated reason: text the person and officers read, nothing hidden in it, something shown."""
    reason = checked_text(value, "reason", REASON_MAX)
    if not shows_letter_or_digit(reason):
        raise InvalidInputError("reason", "every change to a household needs a written reason")
    return reason


def _distinct(numbers: list[str], field: str) -> tuple[str, ...]:
    first: dict[str, int] = {}
    for i, number in enumerate(numbers):
        if number in first:
            raise InvalidInputError(f"{field}[{i}]", f"repeats {field}[{first[number]}]")
        first[number] = i
    return tuple(numbers)
