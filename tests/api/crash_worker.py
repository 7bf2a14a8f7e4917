"""Child process for the access-log crash test: an officer pays a person again and again through the route.

Run as ``python -m tests.api.crash_worker DATA_DIR ACK_FILE MODE``. Every batch is one
issuance from the central bank's reserve to alice's wallet, which owes two access entries
(alice's, and the ledger's issuance record). ``MODE`` is ``run`` (until SIGKILLed) or
``die-before-logging`` (one batch, then exit the moment the ledger has made it durable,
before its entries reach the access log: the window issue 15 measured).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tessera.api.routes.ledger import _create_transfers
from tessera.auth import Action, Role, authorize
from tessera.ledger import Account, AccountFlags
from tessera.money import AccountKind, ledger_unit
from tessera.service import Caller, Services
from tests.api.world import settings_for

ISSUER, ALICE, MONEY = 1, 2, 1


def open_services(data: Path) -> Services:
    """The service over ``data``, made durable as in production (fsync on every batch)."""
    return Services(settings_for(data, ledger_sync=True))


def world(services: Services) -> tuple[Caller, str]:
    """The central bank's officer (as a caller with a purpose) and alice's subject; made on first start."""
    store = services.store
    bank = store.get_principal_by_name("bank")
    if bank is None:
        bank = store.create_principal("bank", Role.officer, agency="central-bank")
        alice = store.create_principal("alice", Role.citizen)
        unit = ledger_unit(MONEY, "currency", "XTS", 2, "central-bank")
        services.ledger_units.register(unit, requested_by="admin 1", approved_by="admin 2")
        store.set_account_holders([(ISSUER, bank.id), (ALICE, alice.id)])
        reserve = Account(ISSUER, MONEY, AccountKind.issuance, AccountFlags.credits_must_not_exceed_debits)
        wallet = Account(ALICE, MONEY, AccountKind.wallet, AccountFlags.debits_must_not_exceed_credits)
        services.ledger.create_accounts([reserve, wallet])
    alice = store.get_principal_by_name("alice")
    assert alice is not None
    caller = Caller(bank, authorize(bank, Action.ledger_transfers_create), "monthly allowance")
    return caller, alice.subject


def pay(services: Services, caller: Caller, transfer_id: int) -> None:
    body = {"transfers": [{"id": transfer_id, "debit_account_id": ISSUER, "credit_account_id": ALICE}]}
    body["transfers"][0].update({"amount": 1, "ledger": MONEY, "code": 1})
    _, results = _create_transfers(services, caller, json.dumps(body).encode(), "application/json")
    assert results.statuses.tolist() == [0], results.statuses


def main() -> None:
    data, acks, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    services = open_services(data)
    caller, _ = world(services)
    next_id = services.ledger.counts["transfers"] + 1
    if mode == "die-before-logging":
        services.deliver = lambda seq: os._exit(0)  # type: ignore[method-assign]
        pay(services, caller, next_id)
        raise AssertionError("the delivery was not reached")
    print("ready", flush=True)
    with open(acks, "a") as ack:
        while True:
            pay(services, caller, next_id)
            ack.write(f"{next_id}\n")
            ack.flush()
            next_id += 1


if __name__ == "__main__":
    main()
