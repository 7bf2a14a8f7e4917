"""Basic needs stay open: a payments restriction leaves entitlements to food, fuel and health spendable.

Only a restriction that closes ``benefits`` (which its basis must name) freezes them; the
exemption leaves no state behind, and is no way to be paid round the freeze. Run on SQLite
and on a throwaway PostgreSQL database where the store matters (skipped with the reason
where there is no PostgreSQL), with a real ledger on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert

from tessera.errors import InvalidInputError
from tessera.identity.registry import Person, Registry
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Ledger, Transfer
from tessera.money import AccountKind, basic_needs_entitlement
from tessera.rules.basis import LegalBases, legal_basis
from tessera.rules.declaration_checks import changes, declared
from tessera.rules.due_process.appeals import Appeals
from tessera.rules.due_process.notices import NoticeKind, Notices
from tessera.rules.due_process.restriction_notices import BENEFITS_CLOSED, BENEFITS_KEPT
from tessera.rules.due_process.restriction_records import Restriction
from tessera.rules.due_process.restrictions import Restrictions
from tessera.store import REASON_TEXT_MAX, Store
from tessera.store.tables import principals as principals_table

T0 = 1_800_000_000 * 10**9
DAY = 86_400 * 10**9
TAX, TAX_2, FIU, JUDGE = "p_aaaaaaaaaaaaaaaa", "p_bbbbbbbbbbbbbbbb", "p_ffffffffffffffff", "p_cccccccccccccccc"
AGENCIES = {TAX: "tax-office", TAX_2: "tax-office", FIU: "financial-intelligence-unit", JUDGE: "appeals-tribunal"}
BASES = [
    legal_basis(
        "tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["payments", "licensing"], exercised_by=["tax-office"]
    ),
    legal_basis(  # the rare basis that names benefits: a fraud on the programme itself
        "welfare-fraud-act/9",
        "Social Protection (Fraud) Act",
        "s. 9 (suspension of benefits obtained by fraud)",
        "statute",
        ["payments", "benefits"],
        exercised_by=["tax-office"],
    ),
    legal_basis(
        "un-1267",
        "UN Security Council Resolution 1267",
        "para. 4(b)",
        "sanctions_listing",
        ["payments", "travel"],
        exercised_by=["financial-intelligence-unit"],
    ),
]
MONEY, RICE = 1, 7  # the currency, and a rice quota in kilograms
GROCER, FUEL, PHARMACY, ELECTRONICS = 5411, 5542, 5912, 5732
NON_NEGATIVE = AccountFlags.debits_must_not_exceed_credits
WALLET, FOOD, RICE_QUOTA, BARE, GADGETS = 10, 11, 12, 13, 14  # Ada's accounts
BEN_WALLET, BEN_FOOD = 20, 21
PROGRAMME, SHOP, ISSUER = 90, 91, 99


@dataclass
class World:
    store: Store
    ledger: Ledger
    clock: Clock
    notices: Notices
    restrictions: Restrictions
    appeals: Appeals
    ada: Person
    ben: Person


class Clock:
    """A settable clock that ticks a microsecond a reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


def _entitlement(account_id: int, categories: set[int], ledger: int = MONEY) -> Account:
    return Account(
        account_id, ledger, int(AccountKind.entitlement), flags=NON_NEGATIVE, allowed_categories=frozenset(categories)
    )


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:
    clock = Clock()
    registry = Registry(store)
    rows = [
        {"id": i, "name": f"officer {i}", "role": "officer", "agency": a, "created_at_ns": T0, "disabled": False}
        for i, a in AGENCIES.items()
    ]
    with store.transaction(write=True) as conn:
        conn.execute(insert(principals_table), rows)
    ada = registry.create_person({"name": "Ada Obi", "birth_date": "1980-02-01", "sex": "F"}, station=TAX)
    ben = registry.create_person({"name": "Ben Ito", "birth_date": "1975-07-09", "sex": "M"}, station=TAX)
    mine = [WALLET, FOOD, RICE_QUOTA, BARE, GADGETS]
    store.set_account_holders([(i, ada.principal_id) for i in mine] + [(i, ben.principal_id) for i in (20, 21)])
    with Ledger.open(tmp_path / "ledger", sync=False) as ledger:
        accounts = [
            Account(ISSUER, MONEY, int(AccountKind.issuance), flags=AccountFlags.credits_must_not_exceed_debits),
            Account(ISSUER + 1, RICE, int(AccountKind.issuance), flags=AccountFlags.credits_must_not_exceed_debits),
            Account(PROGRAMME, MONEY, int(AccountKind.programme), flags=NON_NEGATIVE),
            Account(SHOP, MONEY, int(AccountKind.merchant), flags=NON_NEGATIVE, category=GROCER),
            Account(SHOP + 1, RICE, int(AccountKind.merchant), flags=NON_NEGATIVE, category=GROCER),
            Account(WALLET, MONEY, int(AccountKind.wallet), flags=NON_NEGATIVE),
            _entitlement(FOOD, {GROCER, FUEL, PHARMACY}),
            _entitlement(RICE_QUOTA, {GROCER}, ledger=RICE),
            _entitlement(BARE, set()),  # no earmark: it could pay anyone
            _entitlement(GADGETS, {GROCER, ELECTRONICS}),  # pays for more than basic needs
            Account(BEN_WALLET, MONEY, int(AccountKind.wallet), flags=NON_NEGATIVE),
            _entitlement(BEN_FOOD, {GROCER}),
        ]
        assert ledger.create_accounts(accounts).all_ok
        funded = ledger.create_transfers(
            [
                Transfer(1, ISSUER, PROGRAMME, 100_000, MONEY, 1),
                Transfer(2, PROGRAMME, FOOD, 5_000, MONEY, 6),
                Transfer(3, ISSUER + 1, RICE_QUOTA, 10, RICE, 6),
                Transfer(4, ISSUER, WALLET, 5_000, MONEY, 1),
                Transfer(5, ISSUER, BEN_WALLET, 5_000, MONEY, 1),
            ]
        )
        assert funded.all_ok
        bases = LegalBases()
        notices = Notices(store, bases, clock)
        restrictions = Restrictions(store, bases, notices, ledger=ledger, clock=clock)
        restrictions.register_bases(BASES)
        yield World(store, ledger, clock, notices, restrictions, Appeals(store, restrictions, clock), ada, ben)


def _active(w: World, domains: list[str], basis_id: str = "tax-act/12", subject: str = "") -> Restriction:
    proposed = w.restrictions.propose(
        subject or w.ada.number,
        domains,
        basis_id,
        authority="Tax Office",
        reason_code="tax.unpaid",
        reason_text="Income tax for 2025 unpaid after three reminders",
        end_ns=T0 + 30 * DAY,
        proposer=TAX,
    )
    return w.restrictions.decide(proposed.id, "activate", officer=TAX_2, reason="reminders verified")


def _listed(w: World) -> Restriction:
    """The financial intelligence unit exercising a UN listing: payments and travel, in force at once."""
    return w.restrictions.propose(
        w.ada.number,
        ["payments", "travel"],
        "un-1267",
        authority="Financial Intelligence Unit",
        reason_code="sanctions.listed",
        reason_text="Listed by the UN Security Council",
        end_ns=T0 + 365 * DAY,
        proposer=FIU,
    )


def _frozen(w: World, *account_ids: int) -> list[bool]:
    return [bool(a.flags & AccountFlags.frozen) for a in w.ledger.lookup_accounts(list(account_ids))]


def _pay(w: World, transfer_id: int, debit: int, credit: int, *, amount: int = 100, ledger: int = MONEY) -> str:
    (result,) = w.ledger.create_transfers([Transfer(transfer_id, debit, credit, amount, ledger, 2)])
    return result.status.name


def _refused(w: World, debits: list[int], credits: list[int]) -> list[int]:
    """``Freezes.refused_credits`` over transfers from ``debits`` to ``credits``, the kinds read from the ledger."""
    debit = np.array(debits, dtype=np.uint64)

    def codes(indices: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        found = {a.id: a.code for a in w.ledger.lookup_accounts([int(debit[i]) for i in indices if debit[i]])}
        return np.array([found.get(int(debit[i]), 0) for i in indices])

    return w.restrictions.freezes.refused_credits(codes, np.array(credits, dtype=np.uint64)).tolist()


class TestWhatIsBasicNeeds:
    def test_an_entitlement_earmarked_for_food_fuel_or_health_alone(self) -> None:
        """Only an entitlement, only with an earmark, and only one within food, fuel and health shops."""
        assert basic_needs_entitlement(_entitlement(1, {GROCER, FUEL, PHARMACY}))
        assert not basic_needs_entitlement(_entitlement(1, set()))
        assert not basic_needs_entitlement(_entitlement(1, {GROCER, ELECTRONICS}))
        earmarked_wallet = Account(1, MONEY, int(AccountKind.wallet), allowed_categories=frozenset({GROCER}))
        assert not basic_needs_entitlement(earmarked_wallet)


class TestPaymentsRestriction:
    def test_a_payments_restriction_freezes_the_wallet_and_leaves_basic_needs_open(self, world: World) -> None:
        """The wallet freezes; the food and rice entitlements stay open; a bare or broad entitlement freezes."""
        active = _active(world, ["payments"])
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA, BARE, GADGETS) == [True, False, False, True, True]
        assert world.restrictions.freezes.exempt_accounts() == {FOOD: world.ada.number, RICE_QUOTA: world.ada.number}
        assert not world.restrictions.check(world.ada.number, "payments").allowed
        assert world.restrictions.check(world.ada.number, "benefits").allowed
        assert world.ledger.lookup_account_orders(WALLET)[-1].reference == active.id
        assert world.ledger.lookup_account_orders(FOOD) == []

    def test_a_sanctions_listing_leaves_basic_needs_open(self, world: World) -> None:
        """A confirmed listing freezes assets but not food, fuel and health: sanctions regimes exempt basic needs."""
        _listed(world)
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA) == [True, False, False]

    def test_the_exempt_entitlement_is_spent_at_its_shops_only(self, world: World) -> None:
        """The restricted person buys food; paying a wallet, another's entitlement or the programme is refused."""
        _active(world, ["payments"])
        assert _pay(world, 100, FOOD, SHOP) == "ok"
        assert _pay(world, 101, RICE_QUOTA, SHOP + 1, amount=2, ledger=RICE) == "ok"
        assert _pay(world, 102, FOOD, BEN_WALLET) == CreateTransferStatus.category_not_allowed.name
        assert _pay(world, 103, FOOD, BEN_FOOD) == CreateTransferStatus.category_not_allowed.name
        assert _pay(world, 104, FOOD, PROGRAMME) == CreateTransferStatus.category_not_allowed.name
        assert _pay(world, 105, WALLET, SHOP) == CreateTransferStatus.account_frozen.name

    def test_the_frozen_wallet_cannot_move_money_into_the_exempt_entitlement(self, world: World) -> None:
        """The person's own frozen wallet pays nothing into their open entitlement."""
        _active(world, ["payments"])
        assert _pay(world, 106, WALLET, FOOD) == CreateTransferStatus.account_frozen.name

    def test_only_a_programme_pays_into_an_exempt_entitlement(self, world: World) -> None:
        """A wallet's or a shop's credit to the exempt account is refused; the programme's and others' are not."""
        _active(world, ["payments"])
        refused = _refused(world, [BEN_WALLET, PROGRAMME, SHOP, BEN_WALLET, 0], [FOOD, FOOD, FOOD, BEN_FOOD, FOOD])
        assert refused == [0, 2, 4]

    def test_no_restriction__nothing_is_exempt_and_nothing_refused(self, world: World) -> None:
        """Without a restriction no account is marked, and no credit is refused."""
        assert world.restrictions.freezes.exempt_accounts() == {}
        assert _refused(world, [BEN_WALLET], [FOOD]) == []


class TestBasisNamingBenefits:
    def test_a_restriction_closing_benefits_freezes_the_entitlements_too(self, world: World) -> None:
        """Under a basis that names benefits, a restriction that closes them freezes every account, entitlements too."""
        active = _active(world, ["payments", "benefits"], "welfare-fraud-act/9")
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA, BARE, GADGETS) == [True] * 5
        assert not world.restrictions.check(world.ada.number, "benefits").allowed
        assert world.ledger.lookup_account_orders(FOOD)[-1].reference == active.id
        assert world.restrictions.freezes.exempt_accounts() == {}
        assert _pay(world, 110, FOOD, SHOP) == CreateTransferStatus.account_frozen.name

    def test_benefits_alone_freezes_the_entitlements_and_leaves_the_wallet(self, world: World) -> None:
        """A restriction closing benefits only freezes the entitlements, not the wallet."""
        _active(world, ["benefits"], "welfare-fraud-act/9")
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA, BARE) == [False, True, True, True]

    def test_the_basis_naming_benefits_is_not_enough__the_restriction_must_close_them(self, world: World) -> None:
        """Payments alone under a basis that names benefits leaves basic needs open."""
        _active(world, ["payments"], "welfare-fraud-act/9")
        assert _frozen(world, WALLET, FOOD) == [True, False]

    def test_a_basis_that_does_not_name_benefits_cannot_close_them(self, world: World) -> None:
        """Closing benefits under the tax act is refused naming the domain, as any domain its basis does not name."""
        with pytest.raises(InvalidInputError) as caught:
            _active(world, ["payments", "benefits"])
        assert caught.value.field == "domains[1]" and "does not allow closing benefits" in str(caught.value)


class TestNothingLeftBehind:
    def test_lifting_unfreezes_the_wallet_and_forgets_the_exemption(self, world: World) -> None:
        """After a lift nothing is frozen and nothing is marked exempt: the next credit is anyone's to make."""
        active = _active(world, ["payments"])
        world.restrictions.lift(active.id, officer=TAX, reason="paid in full")
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA, BARE, GADGETS) == [False] * 5
        assert world.restrictions.freezes.exempt_accounts() == {}
        assert _refused(world, [BEN_WALLET], [FOOD]) == []

    def test_lifting_a_benefits_restriction_unfreezes_the_entitlements(self, world: World) -> None:
        """A restriction that froze the entitlements leaves none frozen once lifted."""
        active = _active(world, ["payments", "benefits"], "welfare-fraud-act/9")
        world.restrictions.lift(active.id, officer=TAX, reason="repaid")
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA, BARE) == [False] * 4

    def test_expiry_unfreezes_everything(self, world: World) -> None:
        """The sweep's expiry leaves no entitlement frozen."""
        _active(world, ["payments", "benefits"], "welfare-fraud-act/9")
        world.clock.now = T0 + 31 * DAY
        assert len(world.restrictions.sweep()) == 1
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA) == [False] * 3

    def test_an_appeal_allowed_unfreezes_everything(self, world: World) -> None:
        """An appeal that lifts the restriction leaves no account frozen, and nothing exempt."""
        active = _active(world, ["payments", "benefits"], "welfare-fraud-act/9")
        appeal = world.appeals.file(
            active.id, appellant=world.ada.number, filed_by=world.ada.principal_id, grounds="I declared everything"
        )
        world.appeals.decide(appeal.id, "lift", officer=JUDGE, reason="the declaration was complete")
        assert _frozen(world, WALLET, FOOD, RICE_QUOTA) == [False] * 3
        assert world.restrictions.freezes.exempt_accounts() == {}

    def test_ending_benefits_while_payments_stay_closed_reopens_basic_needs(self, world: World) -> None:
        """The benefits restriction lifted, a payments one in force: food opens, the wallet stays frozen."""
        benefits = _active(world, ["benefits"], "welfare-fraud-act/9")
        _active(world, ["payments"])
        assert _frozen(world, WALLET, FOOD) == [True, True]
        world.restrictions.lift(benefits.id, officer=TAX, reason="repaid")
        assert _frozen(world, WALLET, FOOD, BARE) == [True, False, True]
        assert FOOD in world.restrictions.freezes.exempt_accounts()

    def test_narrowing_benefits_away_reopens_basic_needs(self, world: World) -> None:
        """An amendment that drops benefits unfreezes the entitlements to basic needs and keeps the wallet frozen."""
        active = _active(world, ["payments", "benefits"], "welfare-fraud-act/9")
        world.restrictions.amend(active.id, officer=TAX, reason="fraud not shown", domains=["payments"])
        assert _frozen(world, WALLET, FOOD, BARE) == [True, False, True]
        assert world.ledger.lookup_account_orders(FOOD)[-1].reference == active.id

    def test_an_entitlement_frozen_before_the_exemption_is_unfrozen_at_start(self, world: World) -> None:
        """A freeze the old rule left on an entitlement to basic needs is undone, and the exemption relearned."""
        active = _active(world, ["payments"])
        world.ledger.freeze_accounts([FOOD], reference=active.id)  # as a payments restriction froze every account
        again = Restrictions(world.store, LegalBases(), world.notices, ledger=world.ledger, clock=world.clock)
        assert again.reconcile_freezes() == 1
        assert _frozen(world, WALLET, FOOD) == [True, False]
        assert again.freezes.exempt_accounts() == {FOOD: world.ada.number, RICE_QUOTA: world.ada.number}


class TestOpening:
    def test_an_entitlement_to_basic_needs_opens_open_and_takes_only_programme_money(self, world: World) -> None:
        """Opened under a payments restriction it is not frozen, and is marked exempt at once."""
        _active(world, ["payments"])
        world.store.set_account_holders([(15, world.ada.principal_id), (16, world.ada.principal_id)])
        opened = world.restrictions.freezes.open_accounts(
            [_entitlement(15, {GROCER}), _entitlement(16, set())], [world.ada.principal_id] * 2
        )
        assert opened.all_ok and _frozen(world, 15, 16) == [False, True]
        assert _refused(world, [BEN_WALLET, PROGRAMME], [15, 15]) == [0]

    def test_an_entitlement_opened_while_benefits_are_closed_opens_frozen_citing_it(self, world: World) -> None:
        """Under a restriction that closes benefits a new entitlement opens frozen under that restriction."""
        active = _active(world, ["benefits"], "welfare-fraud-act/9")
        world.store.set_account_holders([(15, world.ada.principal_id), (17, world.ada.principal_id)])
        wallet = Account(17, MONEY, int(AccountKind.wallet), flags=NON_NEGATIVE)
        opened = world.restrictions.freezes.open_accounts(
            [_entitlement(15, {GROCER}), wallet], [world.ada.principal_id] * 2
        )
        assert opened.all_ok and _frozen(world, 15, 17) == [True, False]
        assert [o.reference for o in world.ledger.lookup_account_orders(15)] == [active.id]


class TestNotice:
    def test_a_payments_restriction_tells_the_person_their_benefits_stay_available(self, world: World) -> None:
        """The activation notice says, in words, that food, fuel and health entitlements stay available."""
        _active(world, ["payments"])
        (notice,) = world.notices.of_subject(world.ada.number)
        assert BENEFITS_KEPT in notice.reason_text and BENEFITS_CLOSED not in notice.reason_text

    def test_a_restriction_closing_benefits_tells_the_person_they_are_frozen(self, world: World) -> None:
        """Under a basis that names benefits the notice says they are frozen too, and why."""
        _active(world, ["payments", "benefits"], "welfare-fraud-act/9")
        (notice,) = world.notices.of_subject(world.ada.number)
        assert BENEFITS_CLOSED in notice.reason_text and "names benefits" in notice.reason_text

    def test_a_restriction_not_touching_money_says_nothing_of_benefits(self, world: World) -> None:
        """A licensing restriction's notice does not mention entitlements."""
        _active(world, ["licensing"])
        (notice,) = world.notices.of_subject(world.ada.number)
        assert "entitlements" not in notice.reason_text

    def test_a_narrowing_that_drops_benefits_says_they_are_available_again(self, world: World) -> None:
        """Dropping benefits from a restriction that still closes payments tells the person food is open again."""
        active = _active(world, ["payments", "benefits"], "welfare-fraud-act/9")
        world.restrictions.amend(active.id, officer=TAX, reason="fraud not shown", domains=["payments"])
        changed = world.notices.of_subject(world.ada.number)[0]
        assert changed.kind is NoticeKind.restriction_changed and BENEFITS_KEPT in changed.reason_text

    @pytest.mark.parametrize("store", ["sqlite"], indirect=True)
    def test_the_longest_reason_still_leaves_room_for_the_benefits_sentence(self, world: World) -> None:
        """A reason at its limit is shortened in the notice, never the sentence about benefits."""
        proposed = world.restrictions.propose(
            world.ada.number,
            ["payments"],
            "tax-act/12",
            authority="Tax Office",
            reason_code="tax.unpaid",
            reason_text="x" * REASON_TEXT_MAX,
            end_ns=T0 + DAY,
            proposer=TAX,
        )
        world.restrictions.decide(proposed.id, "activate", officer=TAX_2, reason="verified")
        (notice,) = world.notices.of_subject(world.ada.number)
        assert len(notice.reason_text) <= REASON_TEXT_MAX and notice.reason_text.endswith(BENEFITS_KEPT)


class TestDeclaringBenefits:
    def test_a_basis_naming_benefits_is_called_out_for_both_dpos(self) -> None:
        """A new basis that names benefits is listed apart, and why_two says it can freeze food, fuel and health."""
        document = (
            '[[legal_basis]]\nid = "fraud-act/9"\ninstrument = "Fraud Act"\narticle = "s. 9"\nkind = "statute"\n'
            'domains = ["payments", "benefits"]\nexercised_by = ["tax-office"]\n\n'
            '[[legal_basis]]\nid = "tax-act/1"\ninstrument = "Tax Act"\narticle = "s. 1"\nkind = "statute"\n'
            'domains = ["payments"]\nexercised_by = ["tax-office"]\n'
        )
        found = changes(None, declared(document))
        assert found.restricting_bases == ("fraud-act/9", "tax-act/1") and found.benefit_bases == ("fraud-act/9",)
        assert found.approvals_needed == 2
        lines = found.why_two()
        assert "food, fuel and health entitlements" in lines[0] and "benefits" not in lines[1]
