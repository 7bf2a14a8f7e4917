"""Ledger over HTTP: open accounts, post transfer batches (JSON or packed records), read balances.

Who may debit what is decided per request, not per transfer (DESIGN.md): the whole batch
is checked against the caller's accounts before the ledger sees it, and a batch with one
transfer the caller may not make is refused whole, so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

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
    LedgerSupplyPublic,
    ResultPublic,
    ResultsPublic,
    SupplyPublic,
    TransferPublic,
    TransfersCreate,
    TransfersPublic,
)
from tessera.auth import Action, Principal, Role, Scope, transfers_allowed
from tessera.errors import BodySizeError, ForbiddenError, InvalidInputError, NotFoundError, PurposeRequiredError
from tessera.ledger import (
    TRANSFER_DTYPE,
    CreateAccountStatus,
    CreateTransferStatus,
    Results,
    SettleGuard,
    TransferFlags,
    encode_transfers,
)
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT, check_batch_size
from tessera.money import AccountKind, LedgerUnit, check_opening, supply_report
from tessera.service import OWN_ACCOUNT_PURPOSE, PAYMENT_PURPOSE, Caller, Owed, Services, access_note

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
PACKED = "application/octet-stream"
BODY_BYTES_MAX = BATCH_SIZE_MAX * 256 + 4096  # generous for JSON, bounded all the same
Packed = npt.NDArray[np.void]
AccountId = Annotated[int, Path(ge=1, lt=ID_LIMIT, description="The account's id")]
TransferId = Annotated[int, Path(ge=1, lt=ID_LIMIT, description="The transfer's id")]

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


def _registered(units: Sequence[LedgerUnit]) -> str:
    """The ledgers a transfer may name, as a newcomer reads them: ``1 (XTS, currency)``."""
    listed = ", ".join(f"{u.id} ({u.unit}, {u.name})" for u in units) or "none yet"
    return f"registered ledgers: {listed} (GET /v1/ledgers)"


def _transfer_message(units: Sequence[LedgerUnit], batch: Packed, i: int, status: CreateTransferStatus) -> str | None:
    """What to send instead, in words, for the refusals a newcomer's JSON body causes; None for the rest."""
    ledger_id = int(batch["ledger"][i])
    if status is CreateTransferStatus.ledger_must_not_be_zero:
        return f"send `ledger`: the id of the ledger both accounts are on; {_registered(units)}"
    if status is CreateTransferStatus.ledger_mismatch:
        if ledger_id not in {u.id for u in units}:
            return f"ledger {ledger_id} is not registered; {_registered(units)}"
        return f"the debit and credit accounts are not both on ledger {ledger_id}; send the ledger they are on"
    if status is CreateTransferStatus.account_not_found:
        return "the debit or credit account does not exist; open it first (POST /v1/ledger/accounts)"
    if status is CreateTransferStatus.code_must_not_be_zero:
        return "send `code`: a non-zero number saying what the transfer is for (docs/ledger.md)"
    if status is CreateTransferStatus.amount_must_not_be_zero:
        return "send `amount`: a positive whole number of the ledger's smallest unit"
    return None


def _transfer_results(services: Services, batch: Packed, results: Results[CreateTransferStatus]) -> ResultsPublic:
    """Every result by index; a refusal carries its stable status and, where it helps, a message."""
    answered = _results(results)
    if results.all_ok:
        return answered
    units = services.ledger_units.all()  # once per batch, and only for a batch with a refusal
    for r in answered.results:
        if r.status != "ok":
            r.message = _transfer_message(units, batch, r.index, CreateTransferStatus[r.status])
    return answered


@router.post("/accounts", openapi_extra=declare(Action.ledger_accounts_create), response_model_exclude_none=True)
def create_accounts(body: AccountsCreate, caller: CallerDep, services: ServicesDep) -> ResultsPublic:
    """Open accounts of a kind the opening table allows; each is held by ``holder`` (default: the caller).

    A person's wallet always carries ``debits_must_not_exceed_credits``; only officers of the
    agency that issues a ledger may open an issuance account on it (docs/api.md, "Who may create money").
    """
    check_batch_size(len(body.accounts), "accounts")
    holders: list[Principal] = []
    for i, a in enumerate(body.accounts):
        holder_id = a.holder or caller.principal.id
        holder = services.principal(holder_id)
        if holder is None:
            raise NotFoundError(f"accounts[{i}].holder", f"no principal {holder_id}")
        holders.append(holder)
    accounts = [a.to_domain() for a in body.accounts]
    for i, (account, holder) in enumerate(zip(accounts, holders, strict=True)):
        unit = services.ledger_unit(account.ledger, f"accounts[{i}].ledger")
        check_opening(f"accounts[{i}]", caller.principal, holder, account, unit)
    subjects = services.person_subjects([h.id for h in holders], caller.principal)
    if subjects and not caller.purpose:
        raise PurposeRequiredError("opening a citizen's account needs a purpose (X-Tessera-Purpose)")
    # Holders first: an account id taken by another holder is refused before the ledger is touched.
    services.store.set_account_holders([(a.id, h.id) for a, h in zip(accounts, holders, strict=True)])
    owed: Owed = []  # each person given an account, and each ledger given an issuance account
    rows: dict[str, list[int]] = {}
    logged = set(subjects)
    for i, h in enumerate(holders):
        if h.role is Role.citizen and h.subject in logged:
            rows.setdefault(h.subject, []).append(i)
    owed += [(subject, "ledger.account", mine, None) for subject, mine in rows.items()]
    issuance: dict[int, list[int]] = {}
    for i, account in enumerate(accounts):
        if account.code == AccountKind.issuance:  # where money can be created is on the record, under the ledger
            issuance.setdefault(account.ledger, []).append(i)
    owed += [(f"ledger:{n}", "ledger.issuance_account", mine, None) for n, mine in sorted(issuance.items())]
    note = access_note(caller, "accounts", owed)
    # A restricted holder's account opens frozen, in the same journaled step; what the log is owed rides along.
    results = services.restrictions.freezes.open_accounts(accounts, [h.id for h in holders], note)
    services.deliver(results.note_seq)
    return _results(results)


def _decode_body(services: Services, body: bytes, content_type: str) -> Packed:
    if len(body) > BODY_BYTES_MAX:
        raise BodySizeError("body", f"at most {BODY_BYTES_MAX} bytes")
    if content_type == PACKED:
        if len(body) % TRANSFER_DTYPE.itemsize:
            raise InvalidInputError("body", f"must be a whole number of {TRANSFER_DTYPE.itemsize}-byte records")
        check_batch_size(len(body) // TRANSFER_DTYPE.itemsize, "transfers")
        return np.frombuffer(body, dtype=TRANSFER_DTYPE)
    if content_type not in ("application/json", ""):
        raise InvalidInputError("Content-Type", f"must be application/json or {PACKED}, got {content_type}")
    try:
        parsed = TransfersCreate.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None
    check_batch_size(len(parsed.transfers), "transfers")
    missing = parsed.missing_ledgers()
    if missing:  # a newcomer's first transfer: say what to send, not only ledger_must_not_be_zero
        units = services.ledger_units.all()
        msg = f"Field required: the id of the ledger both accounts are on; {_registered(units)}"
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body", "transfers", i, "ledger"), "msg": msg} for i in missing]
        )
    return encode_transfers([t.to_domain() for t in parsed.transfers])


def _refusal(batch: Packed, i: int, settles: bool) -> ForbiddenError:
    """The same answer whether an account or a hold is someone else's or does not exist at all."""
    if settles:
        pending_id = int(batch["pending_id"][i])
        return ForbiddenError(f"transfers[{i}].pending_id: no pending transfer {pending_id} the caller may settle")
    debit = int(batch["debit_account_id"][i])
    return ForbiddenError(f"transfers[{i}].debit_account_id: no account {debit} the caller may debit")


@dataclass
class _Check:
    """What checking a batch found: whose data each transfer touches, and the holds to judge as it applies."""

    debit: npt.NDArray[np.uint64]  # each transfer's accounts; a settlement's are its hold's
    credit: npt.NDArray[np.uint64]
    people: dict[int, str]  # account -> the person holding it, where the look is logged for them
    settle_guard: tuple[Sequence[int], SettleGuard] | None
    issuance_accounts: dict[int, int]  # issuance account id -> its ledger


def _people(services: Services, caller: Caller, holders: dict[int, str]) -> dict[int, str]:
    """Accounts held by persons other than the caller, to their subjects; none when a citizen pays (their own act)."""
    if caller.principal.role is Role.citizen:
        return {}
    subject_of = {h: s for h in set(holders.values()) for s in services.person_subjects([h], caller.principal)}
    return {account: subject_of[h] for account, h in holders.items() if h in subject_of}


def _check_transfers(services: Services, caller: Caller, batch: Packed) -> _Check:
    """Refuse the batch if any transfer debits an account the caller does not control; say who it touches."""
    debit, credit, settles, unknown = services.settled_accounts(batch)
    ids = np.unique(np.concatenate([debit, credit]))
    holders = services.holders(ids[(ids > 0) & (ids < ID_LIMIT)].tolist())
    acts_for = partial(services.controls, caller)  # who may debit or settle what is auth's to say
    allowed = transfers_allowed(debit, credit, settles, unknown, holders=holders, acts_for=acts_for)
    if not allowed.all():
        i = int(np.flatnonzero(~allowed)[0])
        refused = {holders[int(a)] for a in debit[~allowed].tolist() if int(a) in holders}
        touched = services.person_subjects(refused, caller.principal)
        services.record_access(
            caller, touched, ("ledger.transfer",), "refused: not the caller's to debit", unstated=PAYMENT_PURPOSE
        )
        raise _refusal(batch, i, bool(settles[i]))
    _refuse_entitlement_credits(services, caller, batch, debit=debit, credit=credit, holders=holders)
    people = _people(services, caller, holders)
    # A hold not there yet may land before the batch applies: judge it then, under the ledger's lock.
    pending_ids = batch["pending_id"]
    later = np.flatnonzero(unknown & (pending_ids > 0) & (pending_ids < ID_LIMIT))
    guard = None
    if len(later):

        def judge_settles(indices: npt.NDArray[np.intp], debits: npt.NDArray[Any], credits: npt.NDArray[Any]) -> None:
            found = services.holders([int(a) for a in np.concatenate([debits, credits]) if a])
            for k, i in enumerate(indices):
                sides = (found.get(int(debits[k])), found.get(int(credits[k])))
                if not any(services.controls(caller, h) for h in sides):
                    raise _refusal(batch, int(i), True)
            # Under the ledger's lock its accounts cannot be read: a post into an exempt account is refused
            # whoever placed the hold (a programme pays an entitlement outright, never through a hold).
            posts = (batch["flags"][indices] & TransferFlags.void_pending_transfer) == 0
            no_kind = lambda hits: np.zeros(len(hits), dtype=np.int64)  # noqa: E731
            into = services.restrictions.freezes.refused_credits(no_kind, np.asarray(credits, dtype=np.uint64))
            into = into[posts[into]]
            if len(into):
                raise _exempt_refusal(int(indices[into[0]]), int(credits[into[0]]))
            debit[indices], credit[indices] = debits, credits  # the hold's accounts, for the log
            people.update(_people(services, caller, found))

        guard = (later.tolist(), judge_settles)
    issuance: dict[int, int] = {}
    if caller.principal.role is Role.officer:  # only an issuer's officers hold issuance accounts
        payers = np.unique(debit[~settles])
        found = services.ledger.lookup_account_records(payers[(payers > 0) & (payers < ID_LIMIT)])
        mine = found["code"] == AccountKind.issuance
        issuance = dict(zip(found["id"][mine].tolist(), found["ledger"][mine].tolist(), strict=True))
    return _Check(debit, credit, people, guard, issuance)


def _refuse_entitlement_credits(
    services: Services,
    caller: Caller,
    batch: Packed,
    *,
    debit: npt.NDArray[np.uint64],
    credit: npt.NDArray[np.uint64],
    holders: dict[int, str],
) -> None:
    """Refuse the batch if it pays an entitlement from anything but a programme's account.

    A payments restriction leaves a basic-needs entitlement open so the person can buy food,
    fuel and medicine (``tessera.rules.due_process.freezes``): money from a wallet or a shop
    paid into one would reach them round the freeze, and money parked there before a
    restriction would stay spendable under it. So an entitlement takes its programme's
    payments alone, restricted or not. A void pays no one: it is never refused here.
    """

    def debit_codes(indices: npt.NDArray[np.intp]) -> npt.NDArray[np.integer]:
        payers = debit[indices]
        found = services.ledger.lookup_account_records(payers[(payers > 0) & (payers < ID_LIMIT)])
        code_of = dict(zip(found["id"].tolist(), found["code"].tolist(), strict=True))
        return np.array([code_of.get(int(a), 0) for a in payers.tolist()], dtype=np.int64)

    pays = (batch["flags"] & TransferFlags.void_pending_transfer) == 0
    payees = np.unique(credit[pays & (credit > 0) & (credit < ID_LIMIT)])
    found = services.ledger.lookup_account_records(payees)
    entitlements = found["id"][found["code"] == AccountKind.entitlement]
    if not len(entitlements):
        return
    hits = np.flatnonzero(pays & np.isin(credit, entitlements))
    refused = hits[np.asarray(debit_codes(hits)) != AccountKind.programme]
    if not len(refused):
        return
    i = int(refused[0])
    account = int(credit[i])
    touched = services.person_subjects([holders[account]] if account in holders else [], caller.principal)
    services.record_access(caller, touched, ("ledger.transfer",), "refused: an entitlement takes its programme's alone")
    raise _exempt_refusal(i, account)


def _exempt_refusal(i: int, account: int) -> ForbiddenError:
    field = f"transfers[{i}].credit_account_id"
    return ForbiddenError(f"{field}: account {account} is an entitlement: it takes only its programme's payments")


def _owed(batch: Packed, check: _Check) -> Owed:
    """Before the write: the rows that touch each person, and the issuance rows with their amounts, per ledger."""
    owed: Owed = []
    if check.people:
        accounts = np.fromiter(check.people, dtype=np.uint64, count=len(check.people))
        names = list(check.people.values())
        order = np.argsort(accounts)
        rows, whose = [], []
        for side in (check.debit, check.credit):  # each row to the person on each side, vectorised
            at = order[np.minimum(np.searchsorted(accounts, side, sorter=order), len(accounts) - 1)]
            hit = accounts[at] == side
            rows.append(np.flatnonzero(hit))
            whose.append(at[hit])
        row, person = np.concatenate(rows), np.concatenate(whose)
        by = np.lexsort((row, person))  # grouped by person, rows ascending
        row, person = row[by], person[by]
        starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
        for k, mine in zip(person[starts].tolist(), np.split(row, starts[1:]), strict=True):
            owed.append((names[k], "ledger.transfer", sorted(set(mine.tolist())), None))
    if check.issuance_accounts:
        debits = check.debit.tolist()
        by_ledger: dict[int, list[int]] = {}
        for i in np.flatnonzero(np.isin(check.debit, list(check.issuance_accounts))).tolist():
            by_ledger.setdefault(check.issuance_accounts[debits[i]], []).append(i)
        for ledger_id, issued in sorted(by_ledger.items()):
            amounts = [int(a) for a in batch["amount"][issued]]
            owed.append((f"ledger:{ledger_id}", "ledger.issuance", issued, amounts))
    return owed


def _create_transfers(
    services: Services, caller: Caller, body: bytes, content_type: str
) -> tuple[Packed, Results[CreateTransferStatus]]:
    batch = _decode_body(services, body, content_type)  # off the event loop: parsing 8190 JSON items takes a while
    return batch, post_transfers(services, caller, batch)


def post_transfers(services: Services, caller: Caller, batch: Packed) -> Results[CreateTransferStatus]:
    """The one path every transfer takes, raw or a person's payment (``/v1/me/payments``): who may debit what
    (the whole batch refused if one is not the caller's), the access log's note, then the ledger, whose
    freezes enforce restrictions and whose feed reaches the rules and sanctions screening."""
    check = _check_transfers(services, caller, batch)
    note: bytes | Callable[[], bytes | None] | None = access_note(caller, "transfers", _owed(batch, check))
    if check.settle_guard is not None:  # whom a hold found under the lock touches is known only there
        note = lambda: access_note(caller, "transfers", _owed(batch, check))  # noqa: E731
    results = services.ledger.create_transfers(batch, settle_guard=check.settle_guard, note=note)
    services.deliver(results.note_seq)
    return results


@router.post(
    "/transfers",
    openapi_extra={**declare(Action.ledger_transfers_create), "requestBody": TRANSFERS_BODY},
    response_model=ResultsPublic,
    response_model_exclude_none=True,
    responses={200: {"content": {PACKED: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def create_transfers(request: Request, caller: CallerDep, services: ServicesDep) -> Response | ResultsPublic:
    """Post up to 8190 transfers as one batch; each gets a result, applied in order."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    batch, results = await run_in_threadpool(_create_transfers, services, caller, body, content_type)
    if content_type == PACKED:
        return Response(results.statuses.astype("<u4").tobytes(), media_type=PACKED)
    return _transfer_results(services, batch, results)


def _reveal(
    services: Services, caller: Caller, named: list[int], shown: list[int], *, what: str, missing: NotFoundError
) -> None:
    """Refuse a read the grant does not allow; log it for every person whose data the answer shows.

    ``named`` are the accounts the request names: the caller may read what touches one it
    controls, or, with a purpose-scoped grant, anyone's. ``shown`` are all the accounts the
    answer shows (a transfer's other side, an account's counterparties): a person among their
    holders other than the caller is logged, and an officer needs a purpose to see them, even
    through an account its agency holds. "Not yours" reads exactly as "not there" (``missing``).
    """
    holders = services.holders(sorted(set(named) | set(shown)))
    controls = any(services.controls(caller, holders.get(i)) for i in named)
    if not controls and caller.grant.scope is not Scope.purpose:
        touched = services.person_subjects([holders[i] for i in named if i in holders], caller.principal)
        services.record_access(caller, touched, (what,), "denied")
        raise missing
    if controls and caller.principal.role is Role.citizen:
        return  # a person's own payments: paying or being paid by someone is their own act
    subjects = services.person_subjects([holders[i] for i in set(shown) if i in holders], caller.principal)
    if caller.principal.role is Role.officer:
        services.require_purpose(caller, subjects, (what,), doing="reading someone else's account")
    services.record_access(caller, subjects, (what,), "read", unstated=OWN_ACCOUNT_PURPOSE)


@router.get("/accounts/{account_id}", openapi_extra=declare(Action.ledger_accounts_read))
def get_account(account_id: AccountId, caller: CallerDep, services: ServicesDep) -> AccountPublic:
    """An account with its balances."""
    missing = NotFoundError("account_id", f"no account {account_id} the caller may read")
    found = services.ledger.lookup_accounts([account_id])
    if not found:
        raise missing
    _reveal(services, caller, [account_id], [account_id], what="ledger.account", missing=missing)
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
    missing = NotFoundError("account_id", f"no account {account_id} the caller may read")
    if not services.ledger.lookup_accounts([account_id]):
        raise missing
    transfers = services.ledger.get_account_transfers(account_id, limit=limit, reverse=reverse)
    sides = {i for t in transfers for i in (t.debit_account_id, t.credit_account_id) if i}
    _reveal(services, caller, [account_id], sorted(sides | {account_id}), what="ledger.transfers", missing=missing)
    return TransfersPublic.of(transfers)


@router.get("/transfers/{transfer_id}", openapi_extra=declare(Action.ledger_transfers_read))
def get_transfer(transfer_id: TransferId, caller: CallerDep, services: ServicesDep) -> TransferPublic:
    """One transfer, for a caller who holds its debit or credit account."""
    missing = NotFoundError("transfer_id", f"no transfer {transfer_id} the caller may read")
    found = services.ledger.lookup_transfers([transfer_id])
    if not found:
        raise missing
    transfer = found[0]
    accounts = [i for i in (transfer.debit_account_id, transfer.credit_account_id) if i]
    _reveal(services, caller, accounts, accounts, what="ledger.transfer", missing=missing)
    return TransferPublic.of(transfer)


@router.get("/supply", openapi_extra=declare(Action.ledger_supply_read))
def get_supply(caller: CallerDep, services: ServicesDep) -> SupplyPublic:
    """Per ledger: what its issuer created, where it sits by kind of account, and whether it all reconciles."""
    report = supply_report(services.ledger, services.ledger_units.all())
    return SupplyPublic(ledgers=[LedgerSupplyPublic.of(s) for s in report])
