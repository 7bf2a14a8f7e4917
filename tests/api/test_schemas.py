"""Response models read off domain records: each gives the same JSON the hand-written copiers gave (issue 17)."""

from __future__ import annotations

from tessera.api.schemas import AccountPublic, TransferPublic
from tessera.ledger import Account, AccountFlags, Transfer, TransferFlags


class TestLedger:
    def test_account_public__flags_named_categories_sorted_kind_from_code(self) -> None:
        """An account's flags are named, its categories sorted, its kind read from its code, balances computed."""
        account = Account(
            id=7,
            ledger=1,
            code=2,
            flags=AccountFlags.linked | AccountFlags.debits_must_not_exceed_credits,
            category=4,
            holding_limit=900,
            allowed_categories=frozenset({9, 3, 5}),
            user_data_64=64,
            user_data_32=32,
            debits_pending=10,
            debits_posted=20,
            credits_pending=30,
            credits_posted=100,
            timestamp=123,
        )
        assert AccountPublic.of(account).model_dump() == {
            "id": 7,
            "ledger": 1,
            "code": 2,
            "kind": "wallet",
            "flags": ["linked", "debits_must_not_exceed_credits"],
            "category": 4,
            "holding_limit": 900,
            "allowed_categories": [3, 5, 9],
            "user_data_64": 64,
            "user_data_32": 32,
            "debits_pending": 10,
            "debits_posted": 20,
            "credits_pending": 30,
            "credits_posted": 100,
            "balance": 80,
            "available": 70,
            "timestamp": 123,
        }

    def test_account_public__unknown_code_has_no_kind(self) -> None:
        """A code no kind has (an account opened before kinds) gives kind null and no flags."""
        dumped = AccountPublic.of(Account(id=1, ledger=1, code=999)).model_dump()
        assert (dumped["kind"], dumped["flags"], dumped["allowed_categories"]) == (None, [], [])

    def test_transfer_public__flags_named(self) -> None:
        """A transfer's fields are copied and its flags named."""
        transfer = Transfer(
            id=5,
            debit_account_id=1,
            credit_account_id=2,
            amount=300,
            ledger=1,
            code=3,
            flags=TransferFlags.linked | TransferFlags.pending,
            pending_id=0,
            timeout=60,
            user_data_64=64,
            user_data_32=32,
            timestamp=99,
        )
        assert TransferPublic.of(transfer).model_dump() == {
            "id": 5,
            "debit_account_id": 1,
            "credit_account_id": 2,
            "amount": 300,
            "ledger": 1,
            "code": 3,
            "flags": ["linked", "pending"],
            "pending_id": 0,
            "timeout": 60,
            "user_data_64": 64,
            "user_data_32": 32,
            "timestamp": 99,
        }
