"""Redemptions a crash left ``posting`` are settled when the service starts again, from what the ledger holds."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import insert

from tessera.ledger import Account, Transfer
from tessera.money import AccountKind
from tessera.programs.disbursement import REDEMPTION_CODE
from tessera.programs.redemption import Status
from tessera.store import redemption_transfers, redemptions
from tests.programs.cycle_world import MERCHANT_ACCOUNT, MONEY, RESERVE, open_world

OUTLET = "o_00000000000000a1"


def _posting(redemption_id: str, transfer_id: int) -> tuple[dict[str, object], dict[str, object]]:
    """A redemption's row and its one transfer's, as the till wrote them before the ledger saw the chain."""
    row = {
        "id": redemption_id, "outlet_id": OUTLET, "programme": "adult_cash", "merchant": "p_merchant0000001",
        "idempotency_key": redemption_id, "body_sha256": "0" * 64, "person": "1", "holder": "p_holder00000001",
        "presented_by": "1", "auth": "pin", "status": "posting", "created_at_ns": 1,
        "items": json.dumps({"items": [], "amounts": {}, "drawn": []}),
    }  # fmt: skip
    transfer = {
        "transfer_id": transfer_id, "redemption_id": redemption_id, "kind": "draw", "programme": "adult_cash",
        "cycle_id": 1, "ledger_id": MONEY, "outlet_id": OUTLET, "amount": 100, "debit_account_id": RESERVE,
        "credit_account_id": MERCHANT_ACCOUNT, "code": REDEMPTION_CODE, "flags": 0, "timeout": 0,
    }  # fmt: skip
    return row, transfer


def test_at_start__the_chain_the_ledger_took_completes__the_one_it_never_saw_is_refused(tmp_path: Path) -> None:
    """Both rows were left posting by a crash; the restarted service settles each, before any till is served."""
    world = open_world(tmp_path / "service", persons=2)
    took, lost = "r_00000000000000a1", "r_00000000000000a2"
    try:
        services = world.services
        services.ledger.create_accounts([Account(MERCHANT_ACCOUNT, MONEY, AccountKind.merchant, category=5411)])
        with services.store.transaction(write=True) as conn:
            for redemption_id, transfer_id in ((took, 11), (lost, 12)):
                row, transfer = _posting(redemption_id, transfer_id)
                conn.execute(insert(redemptions).values(**row))
                conn.execute(insert(redemption_transfers).values(**transfer))
        services.ledger.create_transfers([Transfer(11, RESERVE, MERCHANT_ACCOUNT, 100, ledger=MONEY, code=1)])
    finally:
        world.services.close()
    again = open_world(tmp_path / "service", persons=2)
    try:
        services = again.services
        assert services.redemptions.get(took).status is Status.completed
        refused = services.redemptions.get(lost)
        assert refused.status is Status.refused and refused.decided_at_ns is not None
        assert services.ledger.lookup_transfers([12]) == []  # nothing was sent for it at start
    finally:
        again.services.close()
