"""Over the API: a payments restriction leaves a person's food entitlement spendable and closed to other money.

``/v1/check`` answers payments and benefits apart; the transfer routes and ``/v1/me/payments``
refuse every way of paying a restricted person through the exempt account; a basis that
names benefits freezes it; lifting leaves nothing behind; the notice says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tessera.ledger import Account, AccountFlags, Transfer, TransferFlags
from tessera.money import AccountKind
from tessera.rules import legal_basis
from tessera.rules.due_process.restriction_notices import BENEFITS_CLOSED, BENEFITS_KEPT
from tests.api.policy_world import PERSON_WALLET, Policy, policy_world
from tests.api.world import BOB, ISSUER, MONEY, WALLET, World

GROCER_CODE = 5411
FOOD, GROCER, PROGRAMME = 60, 61, 62  # Ada's food entitlement, a grocer's till, the food programme's account
FRAUD_ACT = legal_basis(
    "welfare-fraud-act/9",
    "Social Protection (Fraud) Act",
    "s. 9 (suspension of benefits obtained by fraud)",
    "statute",
    ["payments", "benefits"],
    exercised_by=["tax-office"],
)


@pytest.fixture
def policy(world: World) -> Iterator[Policy]:
    """The policy world, with Ada's food entitlement funded by the programme and a grocer's till."""
    made = policy_world(world)
    services = world.services
    services.restrictions.register_bases([FRAUD_ACT])
    services.store.set_account_holders(
        [(FOOD, made.ada.principal_id), (GROCER, world.principals["shop"].id), (PROGRAMME, world.principals["bank"].id)]
    )
    non_negative = AccountFlags.debits_must_not_exceed_credits
    opened = services.ledger.create_accounts(
        [
            Account(
                FOOD, MONEY, int(AccountKind.entitlement), flags=WALLET, allowed_categories=frozenset({GROCER_CODE})
            ),
            Account(GROCER, MONEY, int(AccountKind.merchant), flags=non_negative, category=GROCER_CODE),
            Account(PROGRAMME, MONEY, int(AccountKind.programme), flags=non_negative),
        ]
    )
    assert opened.all_ok
    funded = services.ledger.create_transfers(
        [
            Transfer(90, ISSUER, PROGRAMME, 50_000, MONEY, 1),
            Transfer(91, PROGRAMME, FOOD, 3_000, MONEY, 6),
            Transfer(92, ISSUER, PERSON_WALLET, 2_000, MONEY, 1),
        ]
    )
    assert funded.all_ok
    yield made


def _transfer(policy: Policy, who: str, id_: int, debit: int, credit: int, *, amount: int = 100) -> httpx.Response:
    body = {"transfers": [{"id": id_, "debit_account_id": debit, "credit_account_id": credit, "amount": amount}]}
    body["transfers"][0] |= {"ledger": MONEY, "code": 2}
    return policy.world.client.post("/v1/ledger/transfers", json=body, headers=policy.world.as_(who))


def _statuses(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def _names_credit(response: httpx.Response) -> bool:
    """A 403 naming the transfer's credit account: the entitlement takes only its programme's payments."""
    detail = response.json()["detail"]
    return response.status_code == 403 and detail.startswith("transfers[0].credit_account_id") and "programme" in detail


def _balance(policy: Policy, account_id: int) -> int:
    return policy.world.services.ledger.lookup_accounts([account_id])[0].balance


def _check(policy: Policy, domain: str) -> dict[str, Any]:
    return policy.get("/v1/check", "tax-officer", subject=policy.ada.number, domain=domain)


class TestPaymentsRestriction:
    def test_check_denies_payments_and_allows_benefits(self, policy: Policy) -> None:
        """``/v1/check`` closes payments and leaves benefits open under a payments restriction."""
        policy.activate()
        assert _check(policy, "payments")["allowed"] is False
        assert _check(policy, "benefits")["allowed"] is True

    def test_the_person_buys_food_with_the_entitlement_and_nothing_else(self, policy: Policy) -> None:
        """Ada pays the grocer from her entitlement; paying Bob from it, or anyone from her wallet, is refused."""
        policy.activate()
        assert not policy.frozen(FOOD) and policy.frozen(PERSON_WALLET)
        assert _statuses(_transfer(policy, "ada", 100, FOOD, GROCER)) == ["ok"]
        assert _statuses(_transfer(policy, "ada", 101, FOOD, BOB)) == ["category_not_allowed"]
        assert _names_credit(_transfer(policy, "ada", 102, PERSON_WALLET, FOOD))  # frozen too: never reaches it
        assert _balance(policy, GROCER) == 100

    def test_a_friend_paying_into_the_entitlement__403_and_nothing_moves(self, policy: Policy) -> None:
        """Bob's wallet paying Ada's exempt entitlement is refused whole, naming the credit account."""
        policy.activate()
        refused = _transfer(policy, "bob", 103, BOB, FOOD)
        assert refused.status_code == 403 and _names_credit(refused)
        assert _balance(policy, FOOD) == 3_000

    def test_a_shop_paying_into_the_entitlement__403(self, policy: Policy) -> None:
        """A till "refunding" money into the exempt entitlement is refused: a refund goes through the programme."""
        policy.activate()
        assert _statuses(_transfer(policy, "ada", 104, FOOD, GROCER, amount=500)) == ["ok"]
        refused = _transfer(policy, "shop", 105, GROCER, FOOD, amount=500)
        assert refused.status_code == 403 and _names_credit(refused)

    def test_paying_the_entitlement_through_my_payments__403(self, policy: Policy) -> None:
        """``POST /v1/me/payments`` naming the entitlement as the payee takes the same path and is refused."""
        policy.activate()
        body = {"amount": "5.00", "currency": "XTS", "to": {"wallet": FOOD}}
        headers = {**policy.world.as_("bob"), "Idempotency-Key": "gift-1"}
        refused = policy.world.client.post("/v1/me/payments", json=body, headers=headers)
        assert refused.status_code == 403 and _balance(policy, FOOD) == 3_000

    def test_a_hold_placed_before_the_restriction__posting_refused_voiding_allowed(self, policy: Policy) -> None:
        """A hold of Bob's paying the entitlement (from before entitlements refused them) is never posted; it voids."""
        hold = Transfer(120, BOB, FOOD, 200, MONEY, 2, flags=TransferFlags.pending)
        assert policy.world.services.ledger.create_transfers([hold]).all_ok
        policy.activate()
        post = {"id": 121, "pending_id": 120, "flags": ["post_pending_transfer"]}
        response = policy.world.client.post(
            "/v1/ledger/transfers", json={"transfers": [post]}, headers=policy.world.as_("bob")
        )
        assert _names_credit(response) and _balance(policy, FOOD) == 3_000
        void = {"id": 122, "pending_id": 120, "flags": ["void_pending_transfer"]}
        voided = policy.post("/v1/ledger/transfers", "bob", {"transfers": [void]})
        assert voided["results"] == [{"index": 0, "status": "ok"}]

    def test_a_hold_landing_between_check_and_apply__posting_into_it_refused(
        self, policy: Policy, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A post whose hold appears only as the batch applies is judged then, and refused into the entitlement."""
        policy.activate()
        ledger = policy.world.services.ledger
        original = ledger.create_transfers
        hold = Transfer(130, BOB, FOOD, 200, MONEY, 2, flags=TransferFlags.pending)

        def placing_the_hold_first(batch: Any, **options: Any) -> Any:
            monkeypatch.setattr(ledger, "create_transfers", original)
            assert original([hold]).all_ok  # lands after the route's check, before the post applies
            return original(batch, **options)

        monkeypatch.setattr(ledger, "create_transfers", placing_the_hold_first)
        post = {"id": 131, "pending_id": 130, "flags": ["post_pending_transfer"]}
        response = policy.world.client.post(
            "/v1/ledger/transfers", json={"transfers": [post]}, headers=policy.world.as_("bob")
        )
        assert _names_credit(response) and _balance(policy, FOOD) == 3_000

    def test_the_programme_still_pays_into_it(self, policy: Policy) -> None:
        """The programme's next payment reaches the restricted person's entitlement."""
        policy.activate()
        assert _statuses(_transfer(policy, "bank", 106, PROGRAMME, FOOD, amount=1_000)) == ["ok"]
        assert _balance(policy, FOOD) == 4_000

    def test_no_entitlement_is_opened_by_hand_during_the_restriction(self, policy: Policy) -> None:
        """An officer's food-earmarked entitlement would stay open under the freeze: programmes alone open them."""
        policy.activate()
        holder = policy.ada.principal_id
        kind = {"ledger": MONEY, "kind": "entitlement", "flags": ["debits_must_not_exceed_credits"], "holder": holder}
        body = {"accounts": [{"id": 63, **kind, "allowed_categories": [GROCER_CODE]}]}
        opened = policy.post("/v1/ledger/accounts", "bank", body, purpose="food programme enrolment")
        assert opened["http"] == 403
        assert "accounts[0].kind: an entitlement account is opened by" in str(opened["detail"])
        assert not policy.world.services.ledger.lookup_accounts([63])

    def test_lifting_leaves_nothing_behind(self, policy: Policy) -> None:
        """After the lift nothing is frozen: Ada pays from her wallet again, and Bob may pay her wallet."""
        restriction_id = policy.activate()
        lifted = policy.post(f"/v1/restrictions/{restriction_id}/lift", "tax-officer", {"reason": "paid in full"})
        assert lifted["http"] == 200
        assert not policy.frozen(FOOD) and not policy.frozen(PERSON_WALLET)
        assert _statuses(_transfer(policy, "bob", 108, BOB, PERSON_WALLET)) == ["ok"]
        assert _statuses(_transfer(policy, "ada", 109, PERSON_WALLET, BOB)) == ["ok"]


class TestNoParking:
    def test_an_unrestricted_entitlement_takes_no_wallet_money(self, policy: Policy) -> None:
        """Money parked in a food entitlement before a freeze would stay spendable under it: refused, hold or not."""
        assert _names_credit(_transfer(policy, "ada", 140, PERSON_WALLET, FOOD))
        assert _names_credit(_transfer(policy, "bob", 141, BOB, FOOD))
        hold = {"id": 142, "debit_account_id": BOB, "credit_account_id": FOOD, "amount": 200, "ledger": MONEY}
        placed = policy.world.client.post(
            "/v1/ledger/transfers",
            json={"transfers": [{**hold, "code": 2, "flags": ["pending"]}]},
            headers=policy.world.as_("bob"),
        )
        assert _names_credit(placed) and _balance(policy, FOOD) == 3_000

    def test_the_programme_pays_it_and_the_person_spends_it(self, policy: Policy) -> None:
        """What an entitlement is for still works without any restriction."""
        assert _statuses(_transfer(policy, "bank", 143, PROGRAMME, FOOD, amount=1_000)) == ["ok"]
        assert _statuses(_transfer(policy, "ada", 144, FOOD, GROCER)) == ["ok"]
        assert _balance(policy, FOOD) == 3_900

    def test_the_notice_says_benefits_stay_available(self, policy: Policy) -> None:
        """Ada's notice tells her, in words, that her food, fuel and health entitlements stay available."""
        policy.activate()
        notices = policy.world.client.get("/v1/me/notices", headers=policy.world.as_("ada")).json()["notices"]
        assert BENEFITS_KEPT in notices[0]["reason_text"]


class TestBasisNamingBenefits:
    def test_a_restriction_closing_benefits_freezes_the_entitlement(self, policy: Policy) -> None:
        """Under the fraud act closing benefits: check denies benefits, the entitlement freezes, the notice says so."""
        restriction_id = policy.activate(domains=["payments", "benefits"], basis_id=FRAUD_ACT.id)
        assert _check(policy, "benefits")["allowed"] is False
        assert policy.frozen(FOOD) and policy.frozen(PERSON_WALLET)
        assert _statuses(_transfer(policy, "ada", 110, FOOD, GROCER)) == ["account_frozen"]
        notices = policy.world.client.get("/v1/me/notices", headers=policy.world.as_("ada")).json()["notices"]
        assert BENEFITS_CLOSED in notices[0]["reason_text"]
        policy.post(f"/v1/restrictions/{restriction_id}/lift", "tax-officer", {"reason": "repaid"})
        assert not policy.frozen(FOOD)
        assert _statuses(_transfer(policy, "ada", 111, FOOD, GROCER)) == ["ok"]

    def test_benefits_under_a_basis_that_does_not_name_them__400(self, policy: Policy) -> None:
        """The tax act does not name benefits: a proposal closing them is refused naming the domain."""
        refused = policy.propose(domains=["payments", "benefits"])
        assert refused["http"] == 400 and refused["field"] == "domains[1]"
        assert not policy.frozen(FOOD)
