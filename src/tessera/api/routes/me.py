"""The caller's own view: who they are, and who looked at their data and why."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, status

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    AccessEntryPublic,
    AccessLogPublic,
    HouseholdPublic,
    Looker,
    MyEntitlementsPublic,
    MyIdentityPublic,
    PersonPublic,
    PrincipalPublic,
    VirtualIdPublic,
)
from tessera.audit import AccessEntry
from tessera.auth import Action, published_name
from tessera.errors import NotFoundError
from tessera.limits import ID_LIMIT, PAGE_SIZE_MAX
from tessera.programs import REDEMPTIONS_PAGE
from tessera.service import NOMINEE_PURPOSE, OWN_HOUSEHOLD_PURPOSE, Services

RELYING_PARTY_PREFIX = "rp:"  # how tessera.identity's OIDC provider names a relying party in the log
PRINCIPAL_ID = re.compile(r"p_[0-9a-f]{16}")
AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("", openapi_extra=declare(Action.me_read))
def whoami(caller: CallerDep) -> PrincipalPublic:
    """The authenticated principal."""
    return PrincipalPublic.of(caller.principal)


@router.get("/access-log", openapi_extra=declare(Action.me_access_log_read))
def my_access_log(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
    before: Annotated[int | None, Query(ge=1, lt=ID_LIMIT, description="only entries older than this index")] = None,
) -> AccessLogPublic:
    """Every look at the caller's data by someone else, newest first: who, role, agency, purpose, what."""
    found = services.access_log.entries_for_subject(caller.principal.subject, limit=limit, before=before)
    lookers: dict[tuple[str, str], Looker] = {}
    for _, e in found:
        if (e.principal, e.agency) not in lookers:
            lookers[e.principal, e.agency] = _looker(services, e)
    entries = [AccessEntryPublic.of(index, e, lookers[e.principal, e.agency]) for index, e in found]
    return AccessLogPublic(entries=entries, next_before=found[-1][0] if len(found) == limit and found else None)


def _looker(services: Services, e: AccessEntry) -> Looker:
    """Who looked, as the person is told: the published name, never the login name (docs/audit.md).

    A relying party is named as the person saw it at login, and its sector is its agency; an
    agency is named by its registered title. The entry's own agency is used, not the
    principal's today: the look was made for the agency it names.
    """
    if e.principal.startswith(RELYING_PARTY_PREFIX):
        party = services.oidc.clients.get(e.principal.removeprefix(RELYING_PARTY_PREFIX))
        return Looker(party.name if party is not None else e.principal, e.agency)
    principal = services.principal(e.principal) if PRINCIPAL_ID.fullmatch(e.principal) else None
    name = published_name(principal) if principal is not None else e.principal
    agency = services.agencies.get(e.agency) if AGENCY_ID.fullmatch(e.agency) else None
    return Looker(name, agency.title if agency is not None else None)


@router.get("/identity", openapi_extra=declare(Action.me_identity_read))
def my_identity(caller: CallerDep, services: ServicesDep) -> MyIdentityPublic:
    """The caller's own registry record, status history and virtual IDs."""
    person = services.person_of(caller)
    return MyIdentityPublic(
        person=PersonPublic.of(person, services.registry.status_history(person.number)),
        virtual_ids=[VirtualIdPublic.of(v) for v in services.registry.virtual_ids_of(person.number)],
    )


@router.get("/household", openapi_extra=declare(Action.me_household_read))
def my_household(caller: CallerDep, services: ServicesDep) -> HouseholdPublic:
    """The household the caller is in: its members, head, nominees and history.

    The caller's own look is not logged, as none of theirs is here; what it shows of the
    other members and the nominees is, for each of them: their data, seen by someone else.
    """
    person = services.person_of(caller)
    household = services.households.household_of(person.number)
    if household is None:
        raise NotFoundError("household", "you are in no household: an officer adds you to one")
    others = services.registry.subjects_of([n for n in household.persons() if n != person.number])
    services.record_access(
        caller,
        sorted(set(others.values())),
        ("household",),
        f"read household {household.id}",
        unstated=OWN_HOUSEHOLD_PURPOSE,
    )
    return HouseholdPublic.of(household)


@router.get("/entitlements", openapi_extra=declare(Action.me_entitlements_read))
def my_entitlements(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX, description="redemptions on a page")] = REDEMPTIONS_PAGE,
    before: Annotated[
        str | None, Query(max_length=64, description="the next_before of the previous page of redemptions")
    ] = None,
) -> MyEntitlementsPublic:
    """Every programme the caller's unit is in: why (in words), what is left until when, where; their redemptions.

    A household programme is the household's, paid to its head: a member sees it too, and so
    does a nominee who collects for the household. That look is logged for the head (as
    /v1/me/household's is), whose number and balance it shows, one entry a household. The
    caller's own look is not logged.
    """
    person = services.person_of(caller)
    mine = services.my_entitlements.of(person.number, limit=limit, before=before)
    if mine.others:
        heads = services.registry.subjects_of(list(mine.others))
        seen = {(p.household_id, p.number, p.nominee) for p in mine.programmes if p.number in heads and p.household_id}
        for household_id, head, nominee in sorted(seen):
            services.record_access(
                caller,
                [heads[head]],
                ("entitlements",),
                f"read entitlements of household {household_id}",
                unstated=NOMINEE_PURPOSE if nominee else OWN_HOUSEHOLD_PURPOSE,
            )
    return MyEntitlementsPublic.of(mine)


@router.post("/virtual-ids", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.me_virtual_ids_write))
def issue_my_virtual_id(caller: CallerDep, services: ServicesDep) -> VirtualIdPublic:
    """A new virtual ID to give a service instead of the Tessera number."""
    return VirtualIdPublic.of(services.registry.issue_virtual_id(services.person_of(caller).number))


@router.delete(
    "/virtual-ids/{vid}", status_code=status.HTTP_204_NO_CONTENT, openapi_extra=declare(Action.me_virtual_ids_write)
)
def revoke_my_virtual_id(vid: str, caller: CallerDep, services: ServicesDep) -> None:
    """Revoke one of the caller's virtual IDs for good."""
    services.registry.revoke_virtual_id(vid, number=services.person_of(caller).number)
