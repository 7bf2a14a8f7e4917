"""The internet ID credential: passkey ceremonies, sessions, PINs, rebinding at an officer's desk."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from tessera.api.schemas.common import FromRecord, Rfc3339, Rfc3339OrNone, StrictModel, beside
from tessera.api.schemas.identity import FingerCreate, Number, TemplateData


class CeremonyPublic(FromRecord):
    """A begun WebAuthn ceremony: hand ``options`` to ``navigator.credentials``, send the answer to ``id``."""

    id: str
    options: dict[str, Any]
    expires_at_ns: int
    expires_at: Rfc3339 = beside("expires_at_ns")


class LoginCreate(StrictModel):
    number: Number | None = Field(default=None, description="omit to let the authenticator offer its passkeys")


class SessionPublic(BaseModel):
    """A session token for the person's own routes: send it as ``Authorization: Bearer tss_...``."""

    token: str
    expires_in_s: int


class PasskeyPublic(FromRecord):
    credential_id: str
    label: str
    aaguid: str
    transports: list[str]
    sign_count: int
    created_at_ns: int
    created_at: Rfc3339 = beside("created_at_ns")
    last_used_at_ns: int | None
    last_used_at: Rfc3339OrNone = beside("last_used_at_ns")
    revoked_at_ns: int | None
    revoked_at: Rfc3339OrNone = beside("revoked_at_ns")


class PasskeysPublic(BaseModel):
    passkeys: list[PasskeyPublic]


class PasskeyRegistrationCreate(StrictModel):
    label: Annotated[str, Field(max_length=64, description="the person's name for the device")] = ""


PinDigits = Annotated[str, Field(min_length=6, max_length=12, pattern=r"^[0-9]+$")]


class PinCreate(StrictModel):
    pin: PinDigits
    current_pin: PinDigits | None = None


class RebindCreate(StrictModel):
    """At an officer's desk: a fresh capture for the 1:1 check, and optionally a new PIN typed by the person."""

    face: TemplateData
    fingers: list[FingerCreate] = Field(default_factory=list, max_length=10)
    label: Annotated[str, Field(max_length=64)] = ""
    pin: PinDigits | None = None
