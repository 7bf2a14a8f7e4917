"""The register of agencies: who "the central bank" and "the courts" are, as facts the service checks.

An officer acts for an agency, and what an agency may do follows from the register: the
ledgers it issues (``tessera.money``), the legal bases it exercises, the event types it
reports. So an agency is a row here, not a spelling typed into ``keys create``; an
officer of an agency that is not registered cannot be created (``Store.create_principal``).
Rows are added, never changed or removed: a decision made under an agency keeps its meaning.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import select

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.limits import PAGE_SIZE_MAX
from tessera.store import AGENCY_TITLE_MAX, Store, agencies
from tessera.text import checked_text, shows_letter_or_digit

AGENCY_ID_MAX = 64
AGENCIES_LIST_MAX = PAGE_SIZE_MAX
_AGENCY_ID = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{AGENCY_ID_MAX - 1}}}")


@dataclass(frozen=True, slots=True)
class Agency:
    """An agency of the state: its short id (what principals name) and its title."""

    id: str  # "central-bank"
    title: str  # "Central Bank"
    registered_at_ns: int
    registered_by: str


def checked_agency_id(value: object, field: str = "agency") -> str:
    """1-64 of lowercase letters, digits and hyphens, starting with a letter or digit."""
    if not isinstance(value, str) or not _AGENCY_ID.fullmatch(value):
        raise InvalidInputError(field, f"must be 1-{AGENCY_ID_MAX} of a-z 0-9 - (starting a-z 0-9), got {value!r:.80}")
    return value


class Agencies:
    """The agencies on record, in the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, agency_id: str, title: str, by: str) -> Agency:
        """Add an agency; ConflictError if the id is taken (a row never changes)."""
        agency_id = checked_agency_id(agency_id, "id")
        title = checked_text(title, "title", AGENCY_TITLE_MAX)  # shown to officers and people: nothing hidden
        if not shows_letter_or_digit(title):
            raise InvalidInputError("title", "must show a letter or digit (invisible characters do not count)")
        agency = Agency(agency_id, title, time.time_ns(), by)
        with self.store.transaction(
            write=True, conflict=lambda: ConflictError("id", f"agency {agency_id!r} is already registered")
        ) as conn:
            conn.execute(
                agencies.insert().values(
                    id=agency.id, title=agency.title, registered_at_ns=agency.registered_at_ns, registered_by=by
                )
            )
        return agency

    def get(self, agency_id: str) -> Agency | None:
        if not isinstance(agency_id, str) or len(agency_id) > AGENCY_ID_MAX * 2:
            return None
        with self.store.transaction() as conn:
            row = conn.execute(select(agencies).where(agencies.c.id == agency_id)).first()
        return None if row is None else Agency(row.id, row.title, row.registered_at_ns, row.registered_by)

    def require(self, agency_id: str, field: str = "agency") -> Agency:
        """The agency, or NotFoundError naming the field."""
        found = self.get(agency_id)
        if found is None:
            raise NotFoundError(field, f"no agency {agency_id!r:.80} is registered")
        return found

    def all(self) -> list[Agency]:
        """Every agency on record, by id (at most ``AGENCIES_LIST_MAX``)."""
        query = select(agencies).order_by(agencies.c.id).limit(AGENCIES_LIST_MAX)
        with self.store.transaction() as conn:
            return [Agency(r.id, r.title, r.registered_at_ns, r.registered_by) for r in conn.execute(query)]
