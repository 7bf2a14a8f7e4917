"""Who may debit or settle what: per holder, then per transfer of a batch, without a service or a route."""

from __future__ import annotations

import numpy as np

from tessera.auth import Action, Principal, Role, grant_for, may_act_for, transfers_allowed

ALICE = Principal("p-alice", "alice", Role.citizen)
BOB = Principal("p-bob", "bob", Role.citizen)
BANK = Principal("p-bank", "bank", Role.officer, agency="central-bank")
BANK_2 = Principal("p-bank-2", "bank-2", Role.officer, agency="central-bank")
TAX = Principal("p-tax", "tax", Role.officer, agency="tax-office")
PRINCIPALS = {p.id: p for p in (ALICE, BOB, BANK, BANK_2, TAX)}
WALLET_A, WALLET_B, RESERVE = 2, 3, 1
HOLDERS = {WALLET_A: ALICE.id, WALLET_B: BOB.id, RESERVE: BANK_2.id}


def _may(caller: Principal, holder_id: str | None) -> bool:
    grant = grant_for(caller.role, Action.ledger_transfers_create)
    assert grant is not None
    return may_act_for(caller, grant, holder_id, PRINCIPALS.get)


def _allowed(caller: Principal, *rows: tuple[int, int, bool, bool]) -> list[bool]:
    """Each row: debit account, credit account, whether it settles a hold, whether that hold is unknown."""
    debit, credit, settles, unknown = (np.array(column) for column in zip(*rows, strict=True))
    accounts = debit.astype(np.uint64), credit.astype(np.uint64)
    allowed = transfers_allowed(*accounts, settles, unknown, holders=HOLDERS, acts_for=lambda h: _may(caller, h))
    return [bool(a) for a in allowed]


class TestMayActFor:
    """Whose accounts a caller acts on."""

    def test_allowed__its_own_account(self) -> None:
        """A citizen acts on the accounts it holds."""
        assert _may(ALICE, ALICE.id)

    def test_refused__another_persons_account(self) -> None:
        """A citizen may not act on someone else's account."""
        assert not _may(ALICE, BOB.id)

    def test_refused__an_account_no_one_holds(self) -> None:
        """An account with no holder is no one's to act on."""
        assert not _may(BANK, None)

    def test_allowed__an_officer_of_the_same_agency(self) -> None:
        """An officer's agency-scoped grant reaches the accounts its agency's officers hold."""
        assert _may(BANK, BANK_2.id)

    def test_refused__an_officer_of_another_agency_or_a_citizen(self) -> None:
        """The agency scope reaches neither another agency's officers nor the people."""
        assert not _may(TAX, BANK_2.id) and not _may(BANK, ALICE.id)

    def test_the_holder_is_looked_up_only_when_it_matters(self) -> None:
        """A caller's own account, or a grant that is not agency-scoped, needs no look-up."""
        grant = grant_for(Role.citizen, Action.ledger_transfers_create)
        assert grant is not None

        def no_lookup(principal_id: str) -> Principal | None:
            raise AssertionError(f"looked up {principal_id}")

        assert may_act_for(ALICE, grant, ALICE.id, no_lookup) and not may_act_for(ALICE, grant, BOB.id, no_lookup)


class TestTransfersAllowed:
    """Which transfers of a batch the caller may make."""

    def test_allowed__a_payment_from_its_own_account(self) -> None:
        """A payment needs its debit account, whoever holds the credit side."""
        assert _allowed(ALICE, (WALLET_A, WALLET_B, False, False)) == [True]

    def test_refused__a_payment_from_someone_elses_account(self) -> None:
        """Being paid does not let the payee debit the payer."""
        assert _allowed(BOB, (WALLET_A, WALLET_B, False, False)) == [False]

    def test_refused__a_payment_from_an_account_no_one_holds(self) -> None:
        """An unknown debit account refuses the transfer, as someone else's does."""
        assert _allowed(ALICE, (99, WALLET_A, False, False)) == [False]

    def test_allowed__settling_a_hold_from_either_side(self) -> None:
        """The payer or the payee may post or void a hold between them."""
        assert _allowed(ALICE, (WALLET_A, WALLET_B, True, False)) == [True]
        assert _allowed(BOB, (WALLET_A, WALLET_B, True, False)) == [True]

    def test_refused__settling_someone_elses_hold(self) -> None:
        """A third party may not post or void a hold it is on neither side of."""
        assert _allowed(TAX, (WALLET_A, WALLET_B, True, False)) == [False]

    def test_allowed__settling_an_unknown_hold_is_left_to_the_ledger(self) -> None:
        """A settlement naming no pending transfer yet moves nothing now: the ledger decides."""
        assert _allowed(TAX, (0, 0, True, True)) == [True]

    def test_each_row_alone__an_agency_officer_pays_from_its_agencys_reserve(self) -> None:
        """Rows are judged one by one: the agency's reserve is the bank's to debit, a wallet is not."""
        rows = [(RESERVE, WALLET_A, False, False), (WALLET_A, RESERVE, False, False), (RESERVE, WALLET_B, True, False)]
        assert _allowed(BANK, *rows) == [True, False, True]
        assert _allowed(TAX, *rows) == [False, False, False]

    def test_each_holder_is_asked_once(self) -> None:
        """A batch touching many accounts of few holders asks about each holder once."""
        asked: list[str] = []

        def acts_for(holder_id: str) -> bool:
            asked.append(holder_id)
            return True

        many = {account: ALICE.id for account in range(10, 1010)}
        debit = np.arange(10, 1010, dtype=np.uint64)
        none = np.zeros(len(debit), dtype=np.bool_)
        allowed = transfers_allowed(debit, debit[::-1].copy(), none, none, holders=many, acts_for=acts_for)
        assert allowed.all() and asked == [ALICE.id]
