"""Households over HTTP, for officers: create one, read it, change its members, head and nominees.

A household shows each of its members and nominees (their numbers, their place in it), so
every route that answers with one needs a stated purpose and is logged for each of them:
for a change, everyone in the household before or after it and the person it names. A
change refused (a person in another household, a third nominee, ...) is logged as refused
for the same people, with why. Each change carries the officer's reason into the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Path, status

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    HouseholdCreate,
    HouseholdMemberRemoval,
    HouseholdNomineeRemoval,
    HouseholdPersonCreate,
    HouseholdPublic,
)
from tessera.auth import Action
from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.identity import Household, checked_number
from tessera.service import Caller, Services

router = APIRouter(prefix="/v1/identity", tags=["identity"])

HouseholdIdPath = Annotated[str, Path(pattern=r"^h_[0-9a-f]{16}$", description="'h_' and 16 hex digits")]
NumberPath = Annotated[str, Path(description="a Tessera number: 12 digits, the last a Verhoeff check digit")]
HOUSEHOLD_FIELDS = ("household",)  # what a household shows of a person: that they are in it, and as what
OUTCOME_MAX = 200  # an access entry's outcome text
REFUSED = (ConflictError, InvalidInputError, NotFoundError)


@router.post(
    "/households", status_code=status.HTTP_201_CREATED, openapi_extra=declare(Action.identity_households_create)
)
def create_household(body: HouseholdCreate, caller: CallerDep, services: ServicesDep) -> HouseholdPublic:
    """A new household of ``members``, ``head`` among them, with up to two ``nominees``; logged for each."""
    named = [*body.members, *body.nominees]
    subjects = _subjects(services, named)
    services.require_purpose(caller, subjects, HOUSEHOLD_FIELDS, doing="creating a household")
    try:
        household = services.households.create_household(
            body.members, head=body.head, nominees=body.nominees, actor=caller.principal.id, reason=body.reason
        )
    except REFUSED as exc:
        _log(services, caller, subjects, f"household creation refused: {exc}")
        raise
    _log(services, caller, _subjects(services, household.persons()), f"household {household.id} created")
    return HouseholdPublic.of(household)


@router.get("/households/{household_id}", openapi_extra=declare(Action.identity_households_read))
def get_household(household_id: HouseholdIdPath, caller: CallerDep, services: ServicesDep) -> HouseholdPublic:
    """A household, its members, head, nominees and history; logged for each member and nominee."""
    household = services.households.household(household_id)
    return _shown(services, caller, household, doing="reading a household")


@router.get("/persons/{number}/household", openapi_extra=declare(Action.identity_households_read))
def get_household_of_person(number: NumberPath, caller: CallerDep, services: ServicesDep) -> HouseholdPublic:
    """The household a person is in now; logged for each member and nominee (for them alone if none).

    Without a purpose the attempt is logged for everyone the household would have shown.
    """
    number = checked_number(number)
    household = services.households.household_of(number)
    if household is not None:
        return _shown(services, caller, household, doing="finding a person's household")
    subjects = [services.subject_of_person(number)]
    services.require_purpose(caller, subjects, HOUSEHOLD_FIELDS, doing="finding a person's household")
    _log(services, caller, subjects, "read: in no household")
    raise NotFoundError("number", f"{number} is in no household")


@router.post("/households/{household_id}/members", openapi_extra=declare(Action.identity_households_update))
def add_household_member(
    household_id: HouseholdIdPath, body: HouseholdPersonCreate, caller: CallerDep, services: ServicesDep
) -> HouseholdPublic:
    """``number`` joins the household; refused while they are in another one."""
    return _changed(
        services,
        caller,
        household_id,
        body.number,
        what=f"{body.number} joins",
        change=lambda: services.households.add_member(
            household_id, body.number, actor=caller.principal.id, reason=body.reason
        ),
    )


@router.post(
    "/households/{household_id}/members/{number}/remove", openapi_extra=declare(Action.identity_households_update)
)
def remove_household_member(
    household_id: HouseholdIdPath,
    number: NumberPath,
    body: HouseholdMemberRemoval,
    caller: CallerDep,
    services: ServicesDep,
) -> HouseholdPublic:
    """``number`` leaves; the head only naming ``new_head``. The last member's leaving closes the household."""
    return _changed(
        services,
        caller,
        household_id,
        number,
        what=f"{number} leaves",
        change=lambda: services.households.remove_member(
            household_id, number, new_head=body.new_head, actor=caller.principal.id, reason=body.reason
        ),
    )


@router.post("/households/{household_id}/head", openapi_extra=declare(Action.identity_households_update))
def change_household_head(
    household_id: HouseholdIdPath, body: HouseholdPersonCreate, caller: CallerDep, services: ServicesDep
) -> HouseholdPublic:
    """``number``, a member, heads the household from now on."""
    return _changed(
        services,
        caller,
        household_id,
        body.number,
        what=f"{body.number} heads it",
        change=lambda: services.households.change_head(
            household_id, body.number, actor=caller.principal.id, reason=body.reason
        ),
    )


@router.post("/households/{household_id}/nominees", openapi_extra=declare(Action.identity_households_update))
def add_household_nominee(
    household_id: HouseholdIdPath, body: HouseholdPersonCreate, caller: CallerDep, services: ServicesDep
) -> HouseholdPublic:
    """``number``, a registered person, may collect on the household's behalf (two nominees at most)."""
    return _changed(
        services,
        caller,
        household_id,
        body.number,
        what=f"{body.number} nominated",
        change=lambda: services.households.add_nominee(
            household_id, body.number, actor=caller.principal.id, reason=body.reason
        ),
    )


@router.post(
    "/households/{household_id}/nominees/{number}/remove", openapi_extra=declare(Action.identity_households_update)
)
def remove_household_nominee(
    household_id: HouseholdIdPath,
    number: NumberPath,
    body: HouseholdNomineeRemoval,
    caller: CallerDep,
    services: ServicesDep,
) -> HouseholdPublic:
    """``number`` no longer collects for the household."""
    return _changed(
        services,
        caller,
        household_id,
        number,
        what=f"{number} no longer nominated",
        change=lambda: services.households.remove_nominee(
            household_id, number, actor=caller.principal.id, reason=body.reason
        ),
    )


def _changed(
    services: Services,
    caller: Caller,
    household_id: str,
    number: str,
    *,
    what: str,
    change: Callable[[], Household],
) -> HouseholdPublic:
    """One change: refused without a purpose, logged (as done or refused) for everyone it concerns."""
    before = services.households.household(household_id)
    subjects = _subjects(services, [*before.persons(), number])
    services.require_purpose(caller, subjects, HOUSEHOLD_FIELDS, doing="changing a household")
    try:
        after = change()
    except REFUSED as exc:
        _log(services, caller, subjects, f"household {household_id}: {what} refused: {exc}")
        raise
    everyone = _subjects(services, [*before.persons(), *after.persons(), number])
    _log(services, caller, everyone, f"household {household_id}: {what}")
    return HouseholdPublic.of(after)


def _shown(services: Services, caller: Caller, household: Household, *, doing: str) -> HouseholdPublic:
    subjects = _subjects(services, household.persons())
    services.require_purpose(caller, subjects, HOUSEHOLD_FIELDS, doing=doing)
    _log(services, caller, subjects, f"read household {household.id}")
    return HouseholdPublic.of(household)


def _subjects(services: Services, numbers: Iterable[str]) -> list[str]:
    """The access-log subjects of the registered persons among ``numbers``, each once."""
    return sorted(set(services.registry.subjects_of(list(numbers), known_only=True).values()))


def _log(services: Services, caller: Caller, subjects: list[str], outcome: str) -> None:
    services.record_access(caller, subjects, HOUSEHOLD_FIELDS, outcome[:OUTCOME_MAX])
