"""What a person reads about themselves: their record, their virtual ids, who looked at their data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas.common import FromRecord, Rfc3339, Rfc3339OrNone, beside, vars_of
from tessera.api.schemas.identity import PersonPublic, VirtualIdPublic
from tessera.audit import AccessEntry
from tessera.auth import role_title


class MyIdentityPublic(BaseModel):
    person: PersonPublic
    virtual_ids: list[VirtualIdPublic]


class AccessEntryPublic(BaseModel):
    """One look at the caller's data, in words: who (name, role, agency), when, why, what they saw, what happened.

    ``principal``, ``role``, ``agency`` and ``time_ns`` are the entry as the log holds it (what
    its leaf hash covers); ``display_name``, ``role_title``, ``agency_name`` and ``who`` say
    the same in words. ``display_name`` is the one the looker's agency publishes, or a
    pseudonym made from the principal id: never the principal's login name (docs/audit.md).
    """

    index: int
    time_ns: int
    time: Rfc3339 = beside("time_ns")
    principal: str
    display_name: str = Field(description="the name the agency publishes for whoever looked, or a pseudonym")
    role: str
    role_title: str = Field(description="the role in words")
    agency: str
    agency_name: str | None = Field(description="the agency's registered title; null for none")
    who: str = Field(description="display name, role and agency in one line")
    purpose: str
    fields: list[str]
    outcome: str

    @classmethod
    def of(cls, index: int, e: AccessEntry, looker: Looker) -> AccessEntryPublic:
        role_words = role_title(e.role)
        where = ", ".join(w for w in (role_words, looker.agency_name) if w)
        return cls.model_validate(
            {
                **vars_of(e),
                "index": index,
                "display_name": looker.display_name,
                "role_title": role_words,
                "agency_name": looker.agency_name,
                "who": f"{looker.display_name} ({where})",
            }
        )


@dataclass(frozen=True, slots=True)
class Looker:
    """Who an entry's principal is, as a person reading their log is told: a published name and an agency's title."""

    display_name: str
    agency_name: str | None


class AccessLogPublic(BaseModel):
    entries: list[AccessEntryPublic]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page; null at the end")


class ClausePublic(FromRecord):
    text: str = Field(description="one condition of the programme's eligibility, as written")
    held: bool = Field(description="whether it held for the caller's unit in the latest cycle")


class LatestCyclePublic(FromRecord):
    cycle_id: int
    cycle_date_ns: int
    cycle_date: Rfc3339 = beside("cycle_date_ns")
    status: str = Field(description="previewed, approved, disbursing, disbursed or closed")
    eligible: bool
    reason: str = Field(description="why, in words: the conditions that held (met), or those that did not")
    clauses: list[ClausePublic]
    amounts: list[str] = Field(description="per line, what this cycle gives the unit, in its unit; empty if nothing")


class LineLeftPublic(FromRecord):
    ledger: str
    ledger_id: int
    commodity: str | None
    unit: str = Field(description="the line's unit: the currency's code, kg, litre")
    decimals: int
    paid: bool = Field(description="whether anything was ever credited on this line")
    left: int = Field(description="what may still be spent, in minor units")
    left_text: str = Field(description='what may still be spent, as people write it: "12.500 kg"')
    until_ns: int | None = Field(description="when the last of what is left expires; null when nothing is left")
    until: Rfc3339OrNone = beside("until_ns")
    expired: int = Field(description="expired unspent, in minor units: returned to the programme")
    expired_text: str
    last_expired_ns: int | None
    last_expired: Rfc3339OrNone = beside("last_expired_ns")


class SpentAtPublic(FromRecord):
    code: int = Field(description="ISO 18245 merchant category code")
    name: str


class MyProgrammePublic(FromRecord):
    id: str
    name: str
    kind: str = Field(description="cash, in_kind or subsidised_price")
    unit: str = Field(description="person, or household: paid to the household's head for every member")
    number: str = Field(description="the unit's number: the caller's own, or their household's head's")
    household_id: str | None
    head: str | None = Field(description="a household programme's head, who is paid for the household")
    yours: bool = Field(description="true when the caller is the unit (themselves, or the household's head)")
    nominee: bool = Field(description="true when the caller collects for this household as its nominee, not a member")
    latest: LatestCyclePublic | None = Field(description="the latest previewed cycle; null if the unit was not in it")
    lines: list[LineLeftPublic]
    merchant_categories: list[SpentAtPublic] = Field(description="where it may be spent")
    outlets: int = Field(description="outlets authorised for the programme now")


class MyRedemptionPublic(FromRecord):
    id: str
    programme: str
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    outlet_id: str
    outlet_name: str | None
    status: str
    items: Any = Field(description="what was redeemed, as the outlet recorded it")
    outcome: Any = Field(description="a refusal's reason and its words; null when there is none")


class MyEntitlementsPublic(FromRecord):
    number: str
    household_id: str | None
    programmes: list[MyProgrammePublic]
    redemptions: list[MyRedemptionPublic] = Field(description="a page, newest first")
    next_before: str | None = Field(description="pass as before for the next page; null on the last")
