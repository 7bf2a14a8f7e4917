"""The person registry: who exists, their demographics, their status and its history, virtual IDs.

Each person is created with a citizen principal that speaks for them (their passkey sessions
and OIDC logins map to it; an API key only in the demo); its subject keys the person's
access log. The registry never deletes a person, so a Tessera number, once issued, is never
issued again.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, select, update

from tessera.auth import Role
from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.identity.numbers import checked_number, checked_virtual_id, new_number, new_virtual_id
from tessera.limits import PAGE_SIZE_MAX
from tessera.store import (
    ADDRESS_MAX,
    PERSON_NAME_MAX,
    PERSON_STATUSES,
    REASON_MAX,
    Store,
    household_members,
    inserted,
    person_status_history,
    persons,
    principals,
    virtual_ids,
)
from tessera.text import (
    checked_text,
    checked_visible,
    is_default_ignorable,
    match_key,
    normalized,
    shows_letter_or_digit,
)

OTHER_NAMES_MAX = 10
# Real names stack a few marks on a letter (Vietnamese two, Hebrew with cantillation four,
# Tibetan stacks a little more); "Zalgo" text stacks dozens to spill over the lines around it.
MARKS_PER_LETTER_MAX = 8
VIRTUAL_IDS_LIVE_MAX = 10  # per person; a person needs a few, a leak needs many
NUMBER_ATTEMPTS_MAX = 8  # a clash among 10^11 numbers is rare; eight in a row is a broken generator
HISTORY_MAX = PAGE_SIZE_MAX
SUBJECTS_CHUNK = 1000  # numbers per IN list: well under SQLite's and PostgreSQL's parameter limits
OLDEST_BIRTH = dt.date(1880, 1, 1)
# fromisoformat also reads 20240101 and week dates (2024-W01-1); a birth date is YYYY-MM-DD only.
_ISO_DATE_CHARS = len("YYYY-MM-DD")
SEXES = ("F", "M", "X")
FINAL_STATUSES = frozenset({"deceased"})
DEMOGRAPHIC_KEYS = frozenset({"name", "other_names", "birth_date", "sex", "address"})
# Demographics once carried a free-text household; households are the registry's own records
# now (tessera.identity.households, migration 0019). The key is still read, so that a station
# that sends it is told so instead of having it dropped: empty is taken, anything else refused.
FORMER_HOUSEHOLD_KEY = "household"
FORMER_HOUSEHOLD_REFUSAL = (
    "households are no longer free text in demographics: enrol the person without it, then add them to a "
    "household (POST /v1/identity/households, or .../households/{id}/members; docs/identity.md, Households)"
)

Clock = Callable[[], int]


@dataclass(frozen=True, slots=True)
class Demographics:
    """What a person tells the enrolment station about themselves, checked and NFC-normalised."""

    name: str
    other_names: tuple[str, ...]
    birth_date: dt.date
    sex: str
    address: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "other_names": list(self.other_names),
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "address": self.address,
        }


@dataclass(frozen=True, slots=True)
class Person:
    """A registered person. ``principal_id`` is the citizen principal that speaks for them.

    ``household`` is the id of the household they are a member of now, "" for none.
    """

    number: str
    principal_id: str
    name: str
    other_names: tuple[str, ...]
    birth_date: dt.date
    sex: str
    address: str
    household: str
    status: str
    created_at_ns: int

    def age_on(self, day: dt.date) -> int:
        """Whole years of age on ``day``."""
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


StatusListener = Callable[[Person], None]


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One entry of a person's status history: what it became, why, who, when."""

    status: str
    reason: str
    actor: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class VirtualId:
    """A revocable stand-in for the Tessera number, for services that need a number to key on."""

    vid: str
    number: str
    created_at_ns: int
    revoked_at_ns: int | None


def checked_demographics(raw: object, field: str = "demographics", *, today: dt.date | None = None) -> Demographics:
    """Demographics from a mapping with the keys of ``DEMOGRAPHIC_KEYS``; names in any script.

    A ``household`` key is refused unless empty (``FORMER_HOUSEHOLD_REFUSAL`` says where
    households went); an empty one is taken as no household, as it always meant.
    """
    if not isinstance(raw, Mapping):
        raise InvalidInputError(field, "must be an object with " + ", ".join(sorted(DEMOGRAPHIC_KEYS)))
    if raw.get(FORMER_HOUSEHOLD_KEY, "") != "":
        raise InvalidInputError(f"{field}.{FORMER_HOUSEHOLD_KEY}", FORMER_HOUSEHOLD_REFUSAL)
    unknown = set(raw) - DEMOGRAPHIC_KEYS - {FORMER_HOUSEHOLD_KEY}
    if unknown:
        raise InvalidInputError(f"{field}.{sorted(map(str, unknown))[0]}", "is not a demographic field")
    missing = {"name", "birth_date", "sex"} - set(raw)
    if missing:
        raise InvalidInputError(f"{field}.{sorted(missing)[0]}", "is required")
    name = _checked_name(raw["name"], f"{field}.name")
    others_raw = raw.get("other_names", [])
    if not isinstance(others_raw, Sequence) or isinstance(others_raw, str | bytes):
        raise InvalidInputError(f"{field}.other_names", "must be a list of names")
    if len(others_raw) > OTHER_NAMES_MAX:
        raise InvalidInputError(f"{field}.other_names", f"at most {OTHER_NAMES_MAX} names")
    other_names = tuple(_checked_name(v, f"{field}.other_names[{i}]") for i, v in enumerate(others_raw))
    birth_date = _checked_birth_date(raw["birth_date"], f"{field}.birth_date", today or dt.date.today())
    sex = raw["sex"]
    if sex not in SEXES:
        raise InvalidInputError(f"{field}.sex", f"must be one of {', '.join(SEXES)}, got {sex!r:.20}")
    address = _checked_text(raw.get("address", ""), f"{field}.address", ADDRESS_MAX)
    return Demographics(name, other_names, birth_date, str(sex), address)


def stored_demographics(raw: Mapping[str, object]) -> Demographics:
    """Demographics as an enrolment kept them: checked again, the free text of a household stated before
    migration 0016 left out (the submission keeps it), and a birth date any "today" since allowed."""
    return checked_demographics({k: v for k, v in raw.items() if k != FORMER_HOUSEHOLD_KEY}, today=dt.date.max)


class Registry:
    """Persons, their status history and virtual IDs, in the store's database."""

    def __init__(self, store: Store, clock: Clock = time.time_ns) -> None:
        self._store = store
        self._clock = clock
        self._status_listeners: list[StatusListener] = []

    def on_status_change(self, listener: StatusListener) -> None:
        """Call ``listener`` with the person after each status change commits.

        What was granted under the old status ends there: sessions, cached keys, OIDC tokens.
        """
        self._status_listeners.append(listener)

    # --- persons ------------------------------------------------------------------------------

    def create_person(
        self, demographics: Demographics | Mapping[str, object], *, station: str, enrolment_id: str | None = None
    ) -> Person:
        """Register a person with a fresh number and a citizen principal; status ``active``.

        Enrolment calls this once 1:N de-duplication found no one, or an officer decided the
        applicant is a distinct person. ``station`` is the principal id that submitted them.
        """
        facts = demographics if isinstance(demographics, Demographics) else checked_demographics(demographics)
        with self._store.transaction(write=True) as conn:
            return self.create_person_in(conn, facts, station=station, enrolment_id=enrolment_id)

    def create_person_in(
        self, conn: Connection, facts: Demographics, *, station: str, enrolment_id: str | None = None
    ) -> Person:
        """``create_person`` inside the caller's transaction, so enrolment commits it with its own row."""
        now = self._clock()
        principal_id = "p_" + secrets.token_hex(8)
        conn.execute(
            principals.insert().values(
                id=principal_id,
                name="person-" + principal_id[2:],  # never the number: principal names are shown to admins
                role=Role.citizen.value,
                agency="",
                subject=principal_id,
                created_at_ns=now,
                disabled=False,
            )
        )
        for _ in range(NUMBER_ATTEMPTS_MAX):
            number = new_number()
            # A savepoint: a clash rolls back this insert only, and the next number is tried.
            person = persons.insert().values(
                number=number,
                principal_id=principal_id,
                name=facts.name,
                other_names=json.dumps(list(facts.other_names), ensure_ascii=False),
                birth_date=facts.birth_date.isoformat(),
                sex=facts.sex,
                address=facts.address,
                status="active",
                enrolment_id=enrolment_id or "e_" + secrets.token_hex(8),
                created_at_ns=now,
            )
            if not inserted(conn, person):
                if (
                    enrolment_id is not None
                    and conn.execute(select(persons.c.number).where(persons.c.enrolment_id == enrolment_id)).first()
                ):
                    raise ConflictError("enrolment_id", f"{enrolment_id} already made a person")
                continue
            conn.execute(
                person_status_history.insert().values(
                    number=number, status="active", reason="enrolled", actor=station, at_ns=now
                )
            )
            return Person(
                number,
                principal_id,
                facts.name,
                facts.other_names,
                facts.birth_date,
                facts.sex,
                facts.address,
                "",
                "active",
                now,
            )
        raise ConflictError("number", f"no free number after {NUMBER_ATTEMPTS_MAX} draws")

    def get_person(self, number: str) -> Person | None:
        """The person with this number, whatever their status; None if there is none."""
        number = checked_number(number)
        with self._store.transaction() as conn:
            row = conn.execute(_person_by("number"), {"key": number}).first()
        return None if row is None else _person_of(row)

    def person(self, number: str) -> Person:
        """The person with this number, or NotFoundError."""
        found = self.get_person(number)
        if found is None:
            raise NotFoundError("number", f"no person {number}")
        return found

    def person_of_principal(self, principal_id: str) -> Person | None:
        """The person a citizen principal speaks for, if any."""
        with self._store.transaction() as conn:
            row = conn.execute(_person_by("principal_id"), {"key": principal_id}).first()
        return None if row is None else _person_of(row)

    def subject_of(self, number: str) -> str:
        """The access-log subject of a person: their principal's subject."""
        number = checked_number(number)
        with self._store.transaction() as conn:
            subject = conn.scalar(
                select(principals.c.subject)
                .select_from(persons.join(principals, persons.c.principal_id == principals.c.id))
                .where(persons.c.number == number)
            )
        if subject is None:
            raise NotFoundError("number", f"no person {number}")
        return str(subject)

    def subjects_of(self, numbers: Sequence[str], *, known_only: bool = False) -> dict[str, str]:
        """The access-log subject of each of ``numbers`` (all must be registered), in one query.

        ``known_only``: of those that are registered persons, the others (malformed or unknown
        numbers, which the caller refuses later by their own field) left out.
        """
        if known_only:
            numbers = [n for n in numbers if _is_number(n)]
        wanted = sorted({checked_number(n, f"numbers[{i}]") for i, n in enumerate(numbers)})
        found: dict[str, str] = {}
        with self._store.transaction() as conn:
            for start in range(0, len(wanted), SUBJECTS_CHUNK):
                rows = conn.execute(
                    select(persons.c.number, principals.c.subject)
                    .select_from(persons.join(principals, persons.c.principal_id == principals.c.id))
                    .where(persons.c.number.in_(wanted[start : start + SUBJECTS_CHUNK]))
                )
                found.update({row.number: row.subject for row in rows})
        missing = [n for n in wanted if n not in found]
        if missing and not known_only:
            raise NotFoundError("numbers", f"no person {missing[0]}")
        return found

    def count(self, *, after: str | None = None, excluding: Collection[str] = ()) -> int:
        """How many persons are registered (numbered after ``after``, and in none of the statuses ``excluding``)."""
        query = select(func.count()).select_from(persons)
        if after is not None:
            query = query.where(persons.c.number > after)
        if excluding:
            query = query.where(persons.c.status.not_in(sorted(excluding)))
        with self._store.transaction() as conn:
            return int(conn.scalar(query) or 0)

    def persons_after(
        self, after: str | None, limit: int, *, excluding: Collection[str] = ()
    ) -> list[tuple[Person, str]]:
        """Persons in number order with their access-log subjects, a page at a time, but those in ``excluding``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE_MAX:
            raise InvalidInputError("limit", f"must be 1-{PAGE_SIZE_MAX}")
        query = (
            _persons_query()
            .add_columns(principals.c.subject)
            .join(principals, persons.c.principal_id == principals.c.id)
            .order_by(persons.c.number)
            .limit(limit)
        )
        if after is not None:
            query = query.where(persons.c.number > after)
        if excluding:
            query = query.where(persons.c.status.not_in(sorted(excluding)))
        with self._store.transaction() as conn:
            return [(_person_of(row), str(row.subject)) for row in conn.execute(query)]

    def numbers_after(self, after: str | None, limit: int) -> list[str]:
        """Registered numbers in order, a page at a time (for reconciling the gallery)."""
        query = select(persons.c.number).order_by(persons.c.number).limit(limit)
        if after is not None:
            query = query.where(persons.c.number > after)
        with self._store.transaction() as conn:
            return list(conn.scalars(query))

    # --- status -------------------------------------------------------------------------------

    def set_status(self, number: str, status: str, *, reason: str, actor: str) -> Person:
        """Change a person's status with a reason; ``deceased`` is final. The change joins the history."""
        number = checked_number(number)
        if status not in PERSON_STATUSES:
            raise InvalidInputError("status", f"must be one of {', '.join(PERSON_STATUSES)}, got {status!r:.20}")
        reason = _checked_text(reason, "reason", REASON_MAX, required=True)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            current = conn.scalar(select(persons.c.status).where(persons.c.number == number).with_for_update())
            if current is None:
                raise NotFoundError("number", f"no person {number}")
            if current in FINAL_STATUSES:
                raise ConflictError("status", f"the person is {current}; that status is final")
            if current == status:
                raise ConflictError("status", f"the person is already {status}")
            conn.execute(update(persons).where(persons.c.number == number).values(status=status))
            conn.execute(
                person_status_history.insert().values(
                    number=number, status=status, reason=reason, actor=actor, at_ns=now
                )
            )
            row = conn.execute(_persons_query().where(persons.c.number == number)).one()
        person = _person_of(row)
        failed: Exception | None = None
        for listener in self._status_listeners:
            try:
                listener(person)
            except Exception as exc:  # the others still run: one failure must not keep a session alive
                failed = failed or exc
        if failed is not None:
            raise failed
        return person

    def status_history(self, number: str) -> list[StatusChange]:
        """Every status the person has had, oldest first (at most ``HISTORY_MAX``)."""
        number = checked_number(number)
        query = (
            select(person_status_history)
            .where(person_status_history.c.number == number)
            .order_by(person_status_history.c.id)
            .limit(HISTORY_MAX)
        )
        with self._store.transaction() as conn:
            rows = list(conn.execute(query))
        if not rows and self.get_person(number) is None:
            raise NotFoundError("number", f"no person {number}")
        return [StatusChange(r.status, r.reason, r.actor, r.at_ns) for r in rows]

    # --- virtual IDs --------------------------------------------------------------------------

    def issue_virtual_id(self, number: str) -> VirtualId:
        """A new virtual ID for an active person (at most ``VIRTUAL_IDS_LIVE_MAX`` live at once)."""
        number = checked_number(number)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            status = conn.scalar(select(persons.c.status).where(persons.c.number == number).with_for_update())
            if status is None:
                raise NotFoundError("number", f"no person {number}")
            if status != "active":
                raise ConflictError("number", f"the person is {status}: no new virtual IDs")
            live = conn.scalar(
                select(func.count())
                .select_from(virtual_ids)
                .where(virtual_ids.c.number == number, virtual_ids.c.revoked_at_ns.is_(None))
            )
            if live is not None and live >= VIRTUAL_IDS_LIVE_MAX:
                raise ConflictError("number", f"already {VIRTUAL_IDS_LIVE_MAX} live virtual IDs: revoke one first")
            for _ in range(NUMBER_ATTEMPTS_MAX):
                vid = new_virtual_id()
                if inserted(
                    conn, virtual_ids.insert().values(vid=vid, number=number, created_at_ns=now, revoked_at_ns=None)
                ):
                    return VirtualId(vid, number, now, None)
        raise ConflictError("virtual_id", f"no free virtual ID after {NUMBER_ATTEMPTS_MAX} draws")

    def revoke_virtual_id(self, vid: str, *, number: str | None = None) -> None:
        """Revoke a virtual ID for good; with ``number``, only if it is that person's."""
        vid = checked_virtual_id(vid)
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            owner = conn.scalar(select(virtual_ids.c.number).where(virtual_ids.c.vid == vid))
            if owner is None or (number is not None and owner != number):
                raise NotFoundError("virtual_id", f"no virtual ID {vid}")
            conn.execute(
                update(virtual_ids)
                .where(virtual_ids.c.vid == vid, virtual_ids.c.revoked_at_ns.is_(None))
                .values(revoked_at_ns=now)
            )

    def resolve_virtual_id(self, vid: str) -> str:
        """The number behind a live virtual ID; a revoked or unknown one is NotFoundError."""
        vid = checked_virtual_id(vid)
        with self._store.transaction() as conn:
            row = conn.execute(select(virtual_ids).where(virtual_ids.c.vid == vid)).first()
        if row is None or row.revoked_at_ns is not None:
            raise NotFoundError("virtual_id", f"no live virtual ID {vid}")
        return str(row.number)

    def virtual_ids_of(self, number: str) -> list[VirtualId]:
        """A person's virtual IDs, newest first, revoked ones included."""
        number = checked_number(number)
        query = (
            select(virtual_ids)
            .where(virtual_ids.c.number == number)
            .order_by(virtual_ids.c.created_at_ns.desc(), virtual_ids.c.vid)
        )
        with self._store.transaction() as conn:
            return [VirtualId(r.vid, r.number, r.created_at_ns, r.revoked_at_ns) for r in conn.execute(query)]


# --- helpers ---------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    try:
        checked_number(value)
    except InvalidInputError:
        return False
    return True


def _persons_query() -> Select[Any]:
    """Persons with the household each is a member of now ("" for none)."""
    return select(persons, func.coalesce(household_members.c.household_id, "").label("household")).select_from(
        persons.outerjoin(household_members, household_members.c.number == persons.c.number)
    )


@cache
def _person_by(column: str) -> Select[Any]:
    """A person by one column (``key``), built once: a till's every request reads one."""
    return _persons_query().where(persons.c[column] == bindparam("key"))


def _person_of(row: Row[Any]) -> Person:
    return Person(
        number=row.number,
        principal_id=row.principal_id,
        name=row.name,
        other_names=tuple(json.loads(row.other_names)),
        birth_date=dt.date.fromisoformat(row.birth_date),
        sex=row.sex,
        address=row.address,
        household=row.household,
        status=row.status,
        created_at_ns=row.created_at_ns,
    )


def _checked_text(value: object, field: str, limit: int, *, required: bool = False) -> str:
    """Text an officer reads (an address, a household, a reason): ``tessera.text.checked_text``.

    Nothing in it may be hidden or reorder what is shown (a right-to-left override in an
    address, a zero-width space in a reason); a required one must show a letter or digit.
    """
    text = checked_text(value, field, limit)
    if required and not shows_letter_or_digit(text):
        raise InvalidInputError(field, "must not be empty (invisible characters do not count)")
    return text


def _checked_name(value: object, field: str) -> str:
    """A person's name as given (NFC), that shows what screening matches and has letters of its own.

    Kept: every character a script needs, the zero-width non-joiner and joiner and the
    other default-ignorable characters included; screening compares the name's matching
    key (``tessera.text.match_key``), which leaves those out. Refused: characters that make
    a name show otherwise than it reads (bidirectional embeddings, overrides and isolates:
    ``U+202E`` + ``NITUP`` shows as ``PUTIN``), the other format characters (no name has
    any use for them), more than ``MARKS_PER_LETTER_MAX`` combining marks on one letter,
    and a name that has no letter once its invisible characters are left out.
    """
    name = checked_visible(normalized(value, field, PERSON_NAME_MAX), field, ignorables=True)
    if not name:
        raise InvalidInputError(field, "must not be empty")
    marks = 0
    for char in name:
        category = unicodedata.category(char)
        marks = marks + 1 if category.startswith("M") and not is_default_ignorable(char) else 0
        if marks > MARKS_PER_LETTER_MAX:
            raise InvalidInputError(field, f"at most {MARKS_PER_LETTER_MAX} combining marks on one letter")
    if not any(unicodedata.category(char).startswith("L") for char in match_key(name)):
        raise InvalidInputError(field, "has no letters once invisible characters are left out")
    return name


def _checked_birth_date(value: object, field: str, today: dt.date) -> dt.date:
    if not isinstance(value, str | dt.date):
        raise InvalidInputError(field, "must be a date YYYY-MM-DD")
    if isinstance(value, str):
        try:
            if len(value) != _ISO_DATE_CHARS:
                raise ValueError(value)
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(field, f"must be a date YYYY-MM-DD, got {value!r:.20}") from None
    if not OLDEST_BIRTH <= value <= today:
        raise InvalidInputError(field, f"must be between {OLDEST_BIRTH} and today")
    return value
