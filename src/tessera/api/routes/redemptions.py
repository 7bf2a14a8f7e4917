"""Redemption at a shop's till, over HTTP (``tessera.programs.redemption``).

A till (a merchant operating the outlet) redeems a person's entitlement; the person is known
by PIN, a nominee's PIN, their own approval in their app, or an officer's attestation. What
the till learns of the person (that they hold the entitlement, what is left) is logged for
the person: in the ledger's note of the chain when anything moves, and here when a refusal
told the till what is left or that it expired.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Header, Path, Response, status

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas.redemptions import (
    AttestationCreate,
    AttestationPublic,
    HoldPost,
    RedemptionCreate,
    RedemptionPublic,
)
from tessera.auth import Action
from tessera.errors import RedemptionRefusedError
from tessera.limits import IDEMPOTENCY_KEY_MAX
from tessera.money import parse_amount
from tessera.programs import Redemption
from tessera.service import Caller, Owed, Services, access_note

router = APIRouter(tags=["programmes"])
OutletIdPath = Annotated[str, Path(pattern=r"^o_[0-9a-f]{16}$")]
RedemptionIdPath = Annotated[str, Path(pattern=r"^r_[0-9a-f]{16}$")]
ProgrammeIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        description="a fresh random value (a UUID) per redemption: a retry with it never draws twice",
    ),
]
FIELD = "programs.redemption"
_ZERO = re.compile(r"0+(\.0+)?")


def _post(
    services: Services, caller: Caller
) -> Callable[[npt.NDArray[np.void], tuple[str, ...]], npt.NDArray[np.uint32]]:
    """The domain's ``Post``: the chain through the ledger with the note naming every person it touches."""

    def post(batch: npt.NDArray[np.void], holders: tuple[str, ...]) -> npt.NDArray[np.uint32]:
        rows = list(range(len(batch)))
        owed: Owed = [(s, FIELD, rows, None) for s in services.person_subjects(holders, caller.principal)]
        results = services.ledger.create_transfers(batch, note=access_note(caller, "transfers", owed))
        services.deliver(results.note_seq)
        return results.statuses

    return post


def _public(services: Services, redemption: Redemption) -> RedemptionPublic:
    if redemption.co_payment is None:  # the currency's decimals format the co-payment alone
        return RedemptionPublic.of(redemption)
    currency = services.programmes.get(redemption.programme).programme.currency
    unit = None if currency is None else services.ledger_unit_named(currency)
    return RedemptionPublic.of(redemption, unit.decimals if unit else 2)


def _answer(public: RedemptionPublic, status_code: int = status.HTTP_200_OK) -> Response:
    """A hot route's answer, serialised here: FastAPI would validate it again, on another trip through the pool."""
    return Response(public.model_dump_json(by_alias=True), status_code, media_type="application/json")


def _logging_refusals(services: Services, caller: Caller, do: Callable[[], Redemption]) -> Redemption:
    """Run ``do``; a refusal that told the till about a person's entitlement is logged for that person."""
    try:
        return do()
    except RedemptionRefusedError as refused:
        if refused.holder:
            subjects = services.person_subjects([refused.holder], caller.principal)
            services.record_access(caller, subjects, (FIELD,), f"refused: {refused.reason}", unstated="redemption")
        raise


@router.post(
    "/v1/outlets/{outlet_id}/redemptions",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionPublic,
    openapi_extra=declare(Action.redemptions_create),
)
def create_redemption(
    outlet_id: OutletIdPath,
    body: RedemptionCreate,
    idempotency_key: IdempotencyKey,
    caller: CallerDep,
    services: ServicesDep,
) -> Response:
    """Redeem an entitlement at the till, once per ``Idempotency-Key``; refusals are 422 ``redemption_refused``.

    With ``auth: app`` nothing is drawn yet: the answer is ``awaiting_approval`` until the
    person approves it in their app (``POST /v1/me/redemptions/{id}/approve``).
    """
    return _answer(redeem_at_till(services, caller, outlet_id, body, idempotency_key), status.HTTP_201_CREATED)


def redeem_at_till(
    services: Services, caller: Caller, outlet_id: str, body: RedemptionCreate, idempotency_key: str
) -> RedemptionPublic:
    """What ``POST /v1/outlets/{outlet_id}/redemptions`` answers (the route's, and ``fast_redeem``'s)."""
    # The outlet is part of what the key names: the same key at another outlet is another request.
    asked = {"outlet": outlet_id, **body.model_dump(mode="json")}
    canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    with services.store.reading():  # the request's reads in one transaction on one connection
        done = _logging_refusals(
            services,
            caller,
            lambda: services.redemptions.redeem(
                caller.principal, outlet_id, body.to_domain(), key=idempotency_key, body_sha256=digest,
                post=_post(services, caller),
            ),
        )  # fmt: skip
        return _public(services, done)


@router.get("/v1/outlets/{outlet_id}/redemptions/{redemption_id}", openapi_extra=declare(Action.redemptions_read))
def get_redemption(
    outlet_id: OutletIdPath, redemption_id: RedemptionIdPath, caller: CallerDep, services: ServicesDep
) -> RedemptionPublic:
    """A redemption of the till's outlet as it stands (a till polls one awaiting the person's approval)."""
    return _public(services, services.redemptions.get_at(caller.principal, outlet_id, redemption_id))


@router.post(
    "/v1/outlets/{outlet_id}/redemptions/{redemption_id}/post", openapi_extra=declare(Action.redemptions_settle)
)
def post_hold(
    outlet_id: OutletIdPath, redemption_id: RedemptionIdPath, body: HoldPost, caller: CallerDep, services: ServicesDep
) -> RedemptionPublic:
    """Settle a hold for what was poured (``amount``, in the quota's unit); the rest is released."""
    held = services.redemptions.get_at(caller.principal, outlet_id, redemption_id)
    decimals = held.lines[0].decimals if held.lines else 0
    # Nothing poured is a zero written as one ("0", "0.0"); parse_amount takes only amounts above zero.
    poured = 0 if _ZERO.fullmatch(body.amount) else parse_amount(body.amount, decimals)
    done = services.redemptions.post_hold(caller.principal, outlet_id, redemption_id, poured, _post(services, caller))
    return _public(services, done)


@router.post(
    "/v1/outlets/{outlet_id}/redemptions/{redemption_id}/void", openapi_extra=declare(Action.redemptions_settle)
)
def void_hold(
    outlet_id: OutletIdPath, redemption_id: RedemptionIdPath, caller: CallerDep, services: ServicesDep
) -> RedemptionPublic:
    """Release a hold whole: nothing was poured."""
    done = services.redemptions.void_hold(caller.principal, outlet_id, redemption_id, _post(services, caller))
    return _public(services, done)


@router.get("/v1/me/redemptions/{redemption_id}", openapi_extra=declare(Action.me_redemptions_approve))
def my_redemption(redemption_id: RedemptionIdPath, caller: CallerDep, services: ServicesDep) -> RedemptionPublic:
    """A redemption a till asked me to approve (or one I made): what, where, how much."""
    return _public(services, services.redemptions.get_mine(caller.principal, redemption_id))


@router.post(
    "/v1/me/redemptions/{redemption_id}/approve",
    response_model=RedemptionPublic,
    openapi_extra=declare(Action.me_redemptions_approve),
)
def approve_redemption(redemption_id: RedemptionIdPath, caller: CallerDep, services: ServicesDep) -> Response:
    """Approve, logged in with my passkey, a redemption the till asked: it is drawn now."""
    return _answer(approve_mine(services, caller, redemption_id))


def approve_mine(services: Services, caller: Caller, redemption_id: str) -> RedemptionPublic:
    """What ``POST /v1/me/redemptions/{redemption_id}/approve`` answers (the route's, and ``fast_redeem``'s)."""
    with services.store.reading():
        done = services.redemptions.approve(caller.principal, redemption_id, _post(services, caller))
        return _public(services, done)


@router.post("/v1/me/redemptions/{redemption_id}/decline", openapi_extra=declare(Action.me_redemptions_approve))
def decline_redemption(redemption_id: RedemptionIdPath, caller: CallerDep, services: ServicesDep) -> RedemptionPublic:
    """Decline a redemption the till asked: nothing is drawn."""
    return _public(services, services.redemptions.decline(caller.principal, redemption_id))


@router.post(
    "/v1/programs/{programme_id}/attestations",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=declare(Action.redemptions_attest),
)
def attest(
    programme_id: ProgrammeIdPath, body: AttestationCreate, caller: CallerDep, services: ServicesDep
) -> AttestationPublic:
    """An officer vouches, with a reason, for one person at one outlet: one redemption, for a short while (logged)."""
    subject = services.subject_of_person(body.person)
    services.require_purpose(caller, [subject], ("programs.attestation",), doing="vouching for who a person is")
    made = services.attestations.attest(
        caller.principal, number=body.person, programme_id=programme_id, outlet_id=body.outlet, reason=body.reason,
        valid_s=body.valid_for_s,
    )  # fmt: skip
    services.record_access(caller, [subject], ("programs.attestation",), "attested")
    return AttestationPublic.of(made)
