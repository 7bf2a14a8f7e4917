"""Ledger over HTTP: open accounts, post transfer batches (JSON or packed records), read balances.

Who may debit what is decided per request, not per transfer (DESIGN.md): the whole batch
is checked against the caller's accounts before the ledger sees it, and a batch with one
transfer the caller may not make is refused whole, so nothing is half-written.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from tessera.api.deps import CallerDep, ServicesDep, declare
from tessera.api.schemas import (
    AccountPublic,
    AccountsCreate,
    ResultPublic,
    ResultsPublic,
    TransferPublic,
    TransfersCreate,
    TransfersPublic,
)
from tessera.api.services import Caller, Services
from tessera.auth import Action, Role, Scope
from tessera.errors import ForbiddenError, InvalidInputError, NotFoundError, PurposeRequiredError
from tessera.ledger import BATCH_SIZE_MAX, TRANSFER_DTYPE, CreateAccountStatus, CreateTransferStatus, Results
from tessera.ledger.records import encode_transfers

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
PACKED = "application/octet-stream"
BODY_BYTES_MAX = BATCH_SIZE_MAX * 256 + 4096  # generous for JSON, bounded all the same
Packed = npt.NDArray[np.void]
AccountId = Annotated[int, Path(ge=1, lt=2**63, description="The account's id")]
TransferId = Annotated[int, Path(ge=1, lt=2**63, description="The transfer's id")]

TRANSFERS_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/TransfersCreate"}},
        PACKED: {
            "schema": {"type": "string", "format": "binary"},
            "description": "N x 128-byte little-endian transfer records (docs/ledger.md); the reply is N u32 statuses",
        },
    },
}


def _results(results: Results[CreateAccountStatus] | Results[CreateTransferStatus]) -> ResultsPublic:
    return ResultsPublic(results=[ResultPublic(index=r.index, status=r.status.name) for r in results])


@router.post("/accounts", openapi_extra=declare(Action.ledger_accounts_create))
def create_accounts(body: AccountsCreate, caller: CallerDep, services: ServicesDep) -> ResultsPublic:
    """Open accounts; each is held by ``holder`` (a principal id) or, when left out, by the caller."""
    holders = [(a.id, a.holder or caller.principal.id) for a in body.accounts]
    for i, (_, holder_id) in enumerate(holders):
        if services.principal(holder_id) is None:
            raise NotFoundError(f"accounts[{i}].holder", f"no principal {holder_id}")
    subjects = services.person_subjects([h for _, h in holders], caller.principal)
    if subjects and not caller.purpose:
        raise PurposeRequiredError("opening a citizen's account needs a purpose (X-Tessera-Purpose)")
    accounts = [a.to_domain() for a in body.accounts]
    # Holders first: an account id taken by another holder is refused before the ledger is touched.
    services.store.set_account_holders(holders)
    # A restricted holder's account opens frozen, in the same journaled step.
    results = services.restrictions.open_accounts(services.ledger, accounts, [h for _, h in holders])
    services.record_access(caller, subjects, ("ledger.account",), "opened")
    return _results(results)


def _decode_body(body: bytes, content_type: str) -> Packed:
    if len(body) > BODY_BYTES_MAX:
        raise InvalidInputError("body", f"at most {BODY_BYTES_MAX} bytes")
    if content_type == PACKED:
        if not body or len(body) % TRANSFER_DTYPE.itemsize:
            raise InvalidInputError("body", f"must be a whole number of {TRANSFER_DTYPE.itemsize}-byte records")
        if len(body) // TRANSFER_DTYPE.itemsize > BATCH_SIZE_MAX:
            raise InvalidInputError("body", f"at most {BATCH_SIZE_MAX} records")
        return np.frombuffer(body, dtype=TRANSFER_DTYPE)
    if content_type not in ("application/json", ""):
        raise InvalidInputError("Content-Type", f"must be application/json or {PACKED}, got {content_type}")
    try:
        parsed = TransfersCreate.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None
    return encode_transfers([t.to_domain() for t in parsed.transfers])


def _check_transfers(services: Services, caller: Caller, batch: Packed) -> list[str]:
    """Refuse the batch if any transfer debits an account the caller does not control; return subjects touched."""
    debit, credit, settles, unknown = services.settled_accounts(batch)
    ids = np.unique(np.concatenate([debit, credit]))
    holders = services.holders(ids[(ids > 0) & (ids < 2**63)].tolist())
    # Decide per holder, not per account: a batch touches many accounts but few holders.
    allowed_holders = {h for h in set(holders.values()) if services.controls(caller, h)}
    controlled = np.fromiter((i for i, h in holders.items() if h in allowed_holders), dtype=np.uint64)
    # A payment needs its debit account; settling a hold needs either side of it (payer or payee).
    either_side = np.isin(debit, controlled) | np.isin(credit, controlled) | unknown
    allowed = np.where(settles, either_side, np.isin(debit, controlled))
    if not allowed.all():
        i = int(np.flatnonzero(~allowed)[0])
        field = "pending_id" if settles[i] else "debit_account_id"
        raise ForbiddenError(f"transfers[{i}].{field}: the caller does not control account {int(debit[i])}")
    if caller.principal.role is Role.citizen:
        return []  # a person paying someone is their own act, not a look at the payee's data
    return services.person_subjects(holders.values(), caller.principal)


def _create_transfers(
    services: Services, caller: Caller, body: bytes, content_type: str
) -> Results[CreateTransferStatus]:
    batch = _decode_body(body, content_type)  # off the event loop: parsing 8190 JSON items takes a while
    subjects = _check_transfers(services, caller, batch)
    results = services.ledger.create_transfers(batch)
    services.record_access(caller, subjects, ("ledger.transfer",), "written")
    return results


@router.post(
    "/transfers",
    openapi_extra={**declare(Action.ledger_transfers_create), "requestBody": TRANSFERS_BODY},
    response_model=ResultsPublic,
    responses={200: {"content": {PACKED: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def create_transfers(request: Request, caller: CallerDep, services: ServicesDep) -> Response | ResultsPublic:
    """Post up to 8190 transfers as one batch; each gets a result, applied in order."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    results = await run_in_threadpool(_create_transfers, services, caller, body, content_type)
    if content_type == PACKED:
        return Response(results.statuses.astype("<u4").tobytes(), media_type=PACKED)
    return _results(results)


def _readable(services: Services, caller: Caller, account_ids: list[int], what: str) -> None:
    """Refuse a read the grant does not allow; log it for the holders when it is someone else's.

    The caller may read what touches any account it controls (a transfer has two).
    """
    holders = services.holders(account_ids)
    if any(services.controls(caller, holders.get(i)) for i in account_ids):
        return
    subjects = services.person_subjects(holders.values(), caller.principal)
    if caller.grant.scope is not Scope.purpose:
        services.record_access(caller, subjects, (what,), "denied")
        raise ForbiddenError(f"the caller holds none of accounts {account_ids}")
    services.require_purpose(caller, subjects, (what,), doing="reading someone else's account")
    services.record_access(caller, subjects, (what,), "read")


@router.get("/accounts/{account_id}", openapi_extra=declare(Action.ledger_accounts_read))
def get_account(account_id: AccountId, caller: CallerDep, services: ServicesDep) -> AccountPublic:
    """An account with its balances."""
    found = services.ledger.lookup_accounts([account_id])
    if not found:
        raise NotFoundError("account_id", f"no account {account_id}")
    _readable(services, caller, [account_id], "ledger.account")
    return AccountPublic.of(found[0])


@router.get("/accounts/{account_id}/transfers", openapi_extra=declare(Action.ledger_account_transfers_read))
def get_account_transfers(
    account_id: AccountId,
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=BATCH_SIZE_MAX)] = 100,
    reverse: bool = False,
) -> TransfersPublic:
    """Transfers touching an account, oldest first (newest first with ``reverse=true``)."""
    if not services.ledger.lookup_accounts([account_id]):
        raise NotFoundError("account_id", f"no account {account_id}")
    _readable(services, caller, [account_id], "ledger.transfers")
    transfers = services.ledger.get_account_transfers(account_id, limit=limit, reverse=reverse)
    return TransfersPublic(transfers=[TransferPublic.of(t) for t in transfers])


@router.get("/transfers/{transfer_id}", openapi_extra=declare(Action.ledger_transfers_read))
def get_transfer(transfer_id: TransferId, caller: CallerDep, services: ServicesDep) -> TransferPublic:
    """One transfer, for a caller who holds its debit or credit account."""
    found = services.ledger.lookup_transfers([transfer_id])
    if not found:
        raise NotFoundError("transfer_id", f"no transfer {transfer_id}")
    transfer = found[0]
    accounts = [i for i in (transfer.debit_account_id, transfer.credit_account_id) if i]
    _readable(services, caller, accounts, "ledger.transfer")
    return TransferPublic.of(transfer)
