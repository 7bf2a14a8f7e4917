"""The internet ID credential over HTTP: passkey logins, a person's passkeys and PIN, re-binding.

A person logs in with a passkey (``POST /v1/sessions`` then ``/v1/sessions/{ceremony}``) and
gets a session token for their ``/v1/me`` routes. Their first passkey, and any after a
lost device, is bound at an officer's desk: the officer checks them in person (a 1:1
match of a fresh face capture against the gallery) and the new device binds in its place.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, status

from tessera.api.deps import CallerDep, CeremonyLimit, ProbesDep, ServicesDep, client_address, declare
from tessera.api.schemas import (
    CeremonyPublic,
    LoginCreate,
    PasskeyPublic,
    PasskeyRegistrationCreate,
    PasskeysPublic,
    PinCreate,
    RebindCreate,
    SessionPublic,
)
from tessera.auth import Action
from tessera.errors import ForbiddenError
from tessera.identity import DUPLICATE_THRESHOLD, checked_number, checked_pin, checked_templates

router = APIRouter(tags=["credentials"])

CeremonyIdPath = Annotated[str, Path(pattern=r"^c_[0-9a-f]{32}$")]
Credential = Annotated[dict[str, Any], Body(description="the authenticator's answer, as WebAuthn's toJSON() writes it")]


@router.post("/v1/sessions", status_code=status.HTTP_201_CREATED, dependencies=[CeremonyLimit])
def begin_login(body: LoginCreate, request: Request, services: ServicesDep, probes: ProbesDep) -> CeremonyPublic:
    """Start a passkey login: the authenticator offers its discoverable passkeys; with a number only that person's
    finishes it.

    Every number gets the same answer, registered or not: a login that cannot succeed fails
    at the finish, and is written to the service's own log (``tessera.probes``), not to
    anyone's access log.
    """
    ceremony = services.passkeys.begin_login(body.number)
    if ceremony.refusal is not None:
        probes.record(client_address(request), ceremony.refusal)
    return CeremonyPublic.of(ceremony)


@router.post("/v1/sessions/{ceremony_id}", status_code=status.HTTP_201_CREATED, dependencies=[CeremonyLimit])
def finish_login(ceremony_id: CeremonyIdPath, credential: Credential, services: ServicesDep) -> SessionPublic:
    """Check the passkey's answer and open a session for the person's own routes."""
    # Passkeys refuse revoked and deceased persons; a suspended one may still read and appeal.
    number = services.passkeys.finish_login(ceremony_id, credential)
    person = services.registry.person(number)
    session = services.sessions.issue(person.principal_id)
    return SessionPublic(token=session.token, expires_in_s=int(services.sessions.ttl_s))


@router.post(
    "/v1/passkeys/registrations/{ceremony_id}", status_code=status.HTTP_201_CREATED, dependencies=[CeremonyLimit]
)
def finish_registration(ceremony_id: CeremonyIdPath, credential: Credential, services: ServicesDep) -> PasskeyPublic:
    """Bind the new passkey the authenticator made for a registration begun by the person or an officer."""
    record = services.passkeys.finish_registration(ceremony_id, credential)
    return PasskeyPublic.of(record)


@router.get("/v1/me/passkeys", openapi_extra=declare(Action.me_passkeys_read))
def my_passkeys(caller: CallerDep, services: ServicesDep) -> PasskeysPublic:
    """The caller's passkeys, newest first, revoked ones included."""
    person = services.person_of(caller)
    return PasskeysPublic(passkeys=[PasskeyPublic.of(r) for r in services.passkeys.list_passkeys(person.number)])


@router.post(
    "/v1/me/passkeys/registrations",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=declare(Action.me_passkeys_write),
)
def add_my_passkey(body: PasskeyRegistrationCreate, caller: CallerDep, services: ServicesDep) -> CeremonyPublic:
    """Start binding another device, from a session opened with an existing passkey."""
    person = services.person_of(caller)
    return CeremonyPublic.of(services.passkeys.begin_registration(person.number, label=body.label))


@router.delete(
    "/v1/me/passkeys/{credential_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra=declare(Action.me_passkeys_write),
)
def revoke_my_passkey(credential_id: str, caller: CallerDep, services: ServicesDep) -> None:
    """Revoke one of the caller's passkeys (a lost phone); it never logs in again."""
    services.passkeys.revoke_passkey(services.person_of(caller).number, credential_id)


@router.put("/v1/me/pin", status_code=status.HTTP_204_NO_CONTENT, openapi_extra=declare(Action.me_pin_write))
def set_my_pin(body: PinCreate, caller: CallerDep, services: ServicesDep) -> None:
    """Set the PIN (the second factor for high-assurance logins); changing it needs the current one."""
    services.pins.set_pin(services.person_of(caller).number, body.pin, current_pin=body.current_pin)


@router.post(
    "/v1/identity/persons/{number}/rebind",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=declare(Action.identity_persons_rebind),
)
def rebind(number: str, body: RebindCreate, caller: CallerDep, services: ServicesDep) -> CeremonyPublic:
    """At the officer's desk: a fresh capture must match the person 1:1; then a new device replaces the old ones.

    With ``pin`` the person also sets a new PIN, which lifts a lockout.
    """
    number = checked_number(number)
    person = services.registry.person(number)
    subject = services.registry.subject_of(number)
    fields = ("face_template", "passkeys")
    services.require_purpose(caller, [subject], fields, doing="re-binding a person's credential")
    templates = checked_templates(body.face, [(f.position, f.template) for f in body.fingers])
    if body.pin is not None:
        checked_pin(body.pin)  # a trivial PIN is refused before anything is granted
    score = services.gallery.verify(number, templates)
    if score < DUPLICATE_THRESHOLD:
        services.record_access(caller, [subject], fields, "in-person check failed")
        raise ForbiddenError(f"the capture does not match the person (score {score:.2f})")
    token = services.passkeys.grant_rebind(number, caller.principal.id)
    ceremony = services.passkeys.begin_registration(number, label=body.label, rebind_token=token)
    if body.pin is not None:
        services.pins.set_pin(number, body.pin, reset_by=caller.principal.id)
    services.sessions.end_all(person.principal_id)
    services.record_access(caller, [subject], fields, "in-person check passed; credential re-bound")
    return CeremonyPublic.of(ceremony)
