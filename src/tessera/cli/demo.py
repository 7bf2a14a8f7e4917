"""A short ledger walk-through for newcomers: ``tessera demo``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tessera.ledger import Account, AccountFlags, Ledger, Transfer, TransferFlags

MONEY = 1  # the ledger number of the currency, in cents
ISSUER, ALICE, BOB, GROCER = 1, 2, 3, 4
FOOD = 5411  # merchant category: grocery stores


def run_demo(data: Path, say: Callable[[str], None]) -> None:
    wallet = AccountFlags.debits_must_not_exceed_credits
    with Ledger.open(data) as ledger:
        say(f"ledger at {data} (recovered {ledger.recovery.entries_replayed} journal entries)")
        created = ledger.create_accounts(
            [
                Account(ISSUER, MONEY, code=1),
                Account(ALICE, MONEY, code=2, flags=wallet),
                Account(BOB, MONEY, code=2, flags=wallet, allowed_categories=frozenset({FOOD})),
                Account(GROCER, MONEY, code=3, flags=wallet, category=FOOD),
            ]
        )
        say("create accounts: " + ", ".join(r.status.name for r in created))
        steps = [
            ("issue 100.00 to Alice", Transfer(101, ISSUER, ALICE, 10_000, MONEY, code=1)),
            ("issue 50.00 food subsidy to Bob", Transfer(102, ISSUER, BOB, 5_000, MONEY, code=1)),
            ("Alice pays Bob 30.00", Transfer(103, ALICE, BOB, 3_000, MONEY, code=2)),
            (
                "Bob reserves 20.00 at the grocer",
                Transfer(104, BOB, GROCER, 2_000, MONEY, code=2, flags=TransferFlags.pending, timeout=60),
            ),
            (
                "the grocer settles 15.00 of it",
                Transfer(105, pending_id=104, amount=1_500, flags=TransferFlags.post_pending_transfer),
            ),
            ("Bob's food money pays Alice", Transfer(106, BOB, ALICE, 100, MONEY, code=2)),
            ("Alice overdraws", Transfer(107, ALICE, GROCER, 1_000_000, MONEY, code=2)),
        ]
        for (label, _), result in zip(steps, ledger.create_transfers([t for _, t in steps]), strict=True):
            say(f"  {label:<36} {result.status.name}")
        for account in ledger.lookup_accounts([ALICE, BOB, GROCER]):
            say(f"account {account.id}: balance {account.balance / 100:>8.2f}")
