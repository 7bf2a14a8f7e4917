"""Officers' attestations: an officer's word that a person is who they say, for one redemption at one outlet.

The way in for the people a PIN or an app fails (worn fingerprints, no phone, a forgotten
PIN): an officer of an agency the programme's basis names vouches, with a reason, for one
person at one outlet under one programme, for a short while. A redemption spends it once
(``redemption.py`` marks it used in the redemption's own transaction), and the person's
access log shows who vouched for them and why.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from tessera.auth import Principal, Role
from tessera.errors import ForbiddenError, InvalidInputError, NotFoundError
from tessera.identity import Registry, checked_number
from tessera.programs.outlets import Outlets, check_programme_officer
from tessera.programs.registered import RegisteredProgrammes
from tessera.store import ATTESTATION_REASON_MAX, Store, redemption_attestations
from tessera.text import checked_text, shows_letter_or_digit

ATTESTATION_VALID_S = 3600
ATTESTATION_VALID_MIN_S = 60
ATTESTATION_VALID_MAX_S = 86_400
_ATTESTATION_ID = re.compile(r"a_[0-9a-f]{16}")
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Attestation:
    """An officer's word for one person at one outlet and programme."""

    id: str
    officer: str
    person: str
    programme: str
    outlet_id: str
    reason: str
    created_at_ns: int
    expires_at_ns: int
    used_by: str | None


class Attestations:
    """Officers' attestations, in the store."""

    def __init__(
        self,
        store: Store,
        *,
        programmes: RegisteredProgrammes,
        outlets: Outlets,
        registry: Registry,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._programmes = programmes
        self._outlets = outlets
        self._registry = registry
        self._clock = clock

    def attest(
        self, officer: Principal, *, number: str, programme_id: str, outlet_id: str, reason: str, valid_s: int
    ) -> Attestation:
        """An officer's word that ``number`` is who they say, for one redemption at one outlet, with a reason."""
        if officer.role is not Role.officer:
            raise ForbiddenError("attestation: only an officer attests who a person is")
        person = self._registry.get_person(checked_number(number))
        if person is None or person.status != "active":
            raise NotFoundError("person", f"no active person {number}")
        if not isinstance(programme_id, str):
            raise InvalidInputError("programme", "must be a programme's id")
        programme = self._programmes.get(programme_id).programme
        check_programme_officer(officer, programme)
        outlet = self._outlets.get(outlet_id)
        reason = checked_text(reason, "reason", ATTESTATION_REASON_MAX)
        if not shows_letter_or_digit(reason):
            raise InvalidInputError("reason", "must say why the person cannot be known by a PIN or their app")
        if (
            isinstance(valid_s, bool)
            or not isinstance(valid_s, int)
            or not ATTESTATION_VALID_MIN_S <= valid_s <= ATTESTATION_VALID_MAX_S
        ):
            raise InvalidInputError(
                "valid_for", f"must be {ATTESTATION_VALID_MIN_S} to {ATTESTATION_VALID_MAX_S} seconds"
            )
        now = self._clock()
        made = Attestation(
            f"a_{secrets.token_hex(8)}", officer.id, person.number, programme.id, outlet.id, reason, now,
            now + valid_s * _NS, None,
        )  # fmt: skip
        with self._store.transaction(write=True) as conn:
            conn.execute(
                redemption_attestations.insert().values(
                    id=made.id, officer=made.officer, person=made.person, programme=made.programme,
                    outlet_id=made.outlet_id, reason=made.reason, created_at_ns=now, expires_at_ns=made.expires_at_ns,
                )
            )  # fmt: skip
        return made

    def get(self, attestation_id: str) -> Attestation | None:
        if not _ATTESTATION_ID.fullmatch(attestation_id):
            return None
        with self._store.transaction() as conn:
            r = conn.execute(
                select(redemption_attestations).where(redemption_attestations.c.id == attestation_id)
            ).first()
        if r is None:
            return None
        return Attestation(
            r.id, r.officer, r.person, r.programme, r.outlet_id, r.reason, r.created_at_ns, r.expires_at_ns, r.used_by
        )
