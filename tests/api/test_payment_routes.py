"""Payments a person makes: my wallets, paying an alias or a wallet once per Idempotency-Key, and every refusal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tessera.ledger import Account, Transfer
from tessera.money import PAYMENT_CODE
from tests.api.policy_world import PERSON_WALLET, policy_world
from tests.api.world import ALICE, BOB, ISSUER, MONEY, SHOP, WALLET, World

GROCERY = 5411
TO_SHOP = {"amount": "12.50", "currency": "XTS", "to": {"wallet": SHOP}}


def pay(world: World, who: str, body: dict[str, Any], key: str = "key-1") -> httpx.Response:
    return world.client.post("/v1/me/payments", json=body, headers={**world.as_(who), "Idempotency-Key": key})


def balance(world: World, account_id: int) -> int:
    return world.services.ledger.lookup_accounts([account_id])[0].balance


def publish(world: World, who: str, alias: str, wallet: int) -> httpx.Response:
    return world.client.post("/v1/me/aliases", json={"alias": alias, "wallet": wallet}, headers=world.as_(who))


class TestMyAccounts:
    def test_my_accounts__balance_as_a_string_and_in_minor_units(self, world: World) -> None:
        """A citizen sees their wallet: "100.00" XTS beside 10000, spendable anywhere, no limit."""
        response = world.client.get("/v1/me/accounts", headers=world.as_("alice"))
        assert response.status_code == 200
        (wallet,) = response.json()["accounts"]
        assert wallet["id"] == ALICE and wallet["kind"] == "wallet" and wallet["currency"] == "XTS"
        assert (wallet["balance"], wallet["balance_minor"], wallet["available"]) == ("100.00", 10_000, "100.00")
        assert (wallet["may_pay"], wallet["allowed_categories"], wallet["holding_limit"]) == ("any payee", [], None)
        assert wallet["frozen"] is False and wallet["aliases"] == []

    def test_my_accounts__earmarked_wallet_says_what_it_may_buy_and_its_limit(self, world: World) -> None:
        """A food wallet names its merchant categories in words, and its holding limit as a decimal string."""
        world.services.store.set_account_holders([(9, world.principals["alice"].id)])
        world.services.ledger.create_accounts(
            [Account(9, MONEY, code=2, flags=WALLET, allowed_categories=frozenset({GROCERY}), holding_limit=50_000)]
        )
        accounts = world.client.get("/v1/me/accounts", headers=world.as_("alice")).json()["accounts"]
        food = next(a for a in accounts if a["id"] == 9)
        assert food["allowed_categories"] == [{"code": GROCERY, "label": "Grocery Stores, Supermarkets"}]
        assert food["may_pay"].startswith("only merchants of these categories: 5411 Grocery")
        assert (food["holding_limit"], food["holding_limit_minor"]) == ("500.00", 50_000)

    def test_my_accounts__a_shop_sees_its_till(self, world: World) -> None:
        """A merchant's own accounts are its tills, with their aliases."""
        publish(world, "shop", "corner-grocer", SHOP)
        (till,) = world.client.get("/v1/me/accounts", headers=world.as_("shop")).json()["accounts"]
        assert (till["id"], till["kind"], till["aliases"]) == (SHOP, "merchant", ["corner-grocer"])


class TestPay:
    def test_pay_a_wallet__the_server_picks_ledger_code_and_a_time_sorted_id(self, world: World) -> None:
        """12.50 XTS moves 1250 cents; the transfer is on ledger 1 with the payment code, its id sorting by time."""
        response = pay(world, "alice", TO_SHOP)
        assert response.status_code == 200, response.text
        paid = response.json()
        assert (paid["amount"], paid["amount_minor"], paid["currency"], paid["status"]) == (
            "12.50",
            1250,
            "XTS",
            "posted",
        )
        assert (paid["from_wallet"], paid["to_wallet"], paid["ledger"], paid["code"]) == (ALICE, SHOP, MONEY, 2)
        assert paid["posted_at"].endswith("Z") and paid["replayed"] is False
        (transfer,) = world.services.ledger.lookup_transfers([paid["transfer_id"]])
        assert (transfer.amount, transfer.code, transfer.ledger) == (1250, PAYMENT_CODE, MONEY)
        assert paid["transfer_id"] >> 21 > 1_700_000_000_000  # milliseconds since the epoch, in the high bits
        assert (balance(world, ALICE), balance(world, SHOP)) == (8750, 1250)
        second = pay(world, "alice", TO_SHOP, key="key-2").json()
        assert second["transfer_id"] > paid["transfer_id"]  # later ids sort after earlier ones

    def test_pay_an_alias__resolves_to_the_wallet_never_to_its_holder(self, world: World) -> None:
        """A payer pays the alias a shop published; the answer names the alias and the wallet, not who holds it."""
        assert publish(world, "shop", "Corner-Grocer", SHOP).status_code == 201
        response = pay(world, "alice", {"amount": "2.5", "currency": "XTS", "to": {"alias": "corner-grocer"}})
        assert response.status_code == 200, response.text
        assert (response.json()["to_alias"], response.json()["to_wallet"]) == ("corner-grocer", SHOP)
        assert world.principals["shop"].id not in response.text and "shop" not in response.text
        assert balance(world, SHOP) == 250

    def test_same_key_same_body__the_same_answer_and_one_transfer(self, world: World) -> None:
        """A retried payment answers as the first time did, marked replayed, and moves the money once."""
        first = pay(world, "alice", TO_SHOP).json()
        again = pay(world, "alice", TO_SHOP)
        assert again.status_code == 200
        assert again.json() == {**first, "replayed": True}
        assert (balance(world, ALICE), balance(world, SHOP)) == (8750, 1250)

    def test_same_key_another_body__409_and_nothing_moves(self, world: World) -> None:
        """A key sent again with another amount is refused, naming the header; no second transfer."""
        pay(world, "alice", TO_SHOP)
        response = pay(world, "alice", {**TO_SHOP, "amount": "13.00"})
        assert response.status_code == 409
        assert (response.json()["code"], response.json()["field"]) == ("idempotency_key_reused", "Idempotency-Key")
        assert balance(world, ALICE) == 8750

    def test_keys_are_each_callers_own(self, world: World) -> None:
        """Two people may use the same key: each pays once."""
        pay(world, "alice", TO_SHOP)
        assert pay(world, "bob", TO_SHOP).json()["from_wallet"] == BOB
        assert balance(world, SHOP) == 2500

    def test_no_idempotency_key__422_naming_the_header(self, world: World) -> None:
        """The header is required."""
        response = world.client.post("/v1/me/payments", json=TO_SHOP, headers=world.as_("alice"))
        assert response.status_code == 422 and "Idempotency-Key" in response.json()["field"]

    @pytest.mark.parametrize("amount", ["1.234", "1e3", "-1", "0", "NaN", "0.00", "1,5", "92233720368547758.08"])
    def test_bad_amount_strings__400_naming_amount(self, world: World, amount: str) -> None:
        """Too many decimals, exponents, signs, zero, NaN and more than the ledger holds are refused; nothing moves."""
        response = pay(world, "alice", {**TO_SHOP, "amount": amount})
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json()["field"]) == ("invalid_input", "amount")
        assert balance(world, ALICE) == 10_000

    @pytest.mark.parametrize("amount", [12.5, 1250, True])
    def test_a_json_number_is_not_an_amount(self, world: World, amount: object) -> None:
        """Amounts travel as strings: a number (float or int) is 422, never read as money."""
        response = pay(world, "alice", {**TO_SHOP, "amount": amount})
        assert response.status_code == 422 and response.json()["field"] == "body.amount"

    def test_unknown_alias__404_naming_it(self, world: World) -> None:
        """An alias no one published is not found; the field says where."""
        response = pay(world, "alice", {"amount": "1.00", "currency": "XTS", "to": {"alias": "nobody-here"}})
        assert response.status_code == 404 and response.json()["field"] == "to.alias"

    def test_wrong_currency__400_naming_it(self, world: World) -> None:
        """A currency the payee's wallet does not take is refused, saying which it takes."""
        response = pay(world, "alice", {**TO_SHOP, "currency": "EUR"})
        assert response.status_code == 400 and response.json()["field"] == "currency"
        assert "XTS" in response.json()["detail"]

    def test_two_payees_named__422(self, world: World) -> None:
        """Exactly one of alias, wallet or request."""
        response = pay(world, "alice", {**TO_SHOP, "to": {"wallet": SHOP, "alias": "corner-grocer"}})
        assert response.status_code == 422

    def test_paying_from_someone_elses_wallet__403_and_nothing_moves(self, world: World) -> None:
        """Only the payer's own wallet is debited: bob's is refused in the transfer route's words."""
        response = pay(world, "alice", {**TO_SHOP, "from_wallet": BOB})
        assert response.status_code == 403
        assert response.json()["detail"] == f"from_wallet: no account {BOB} the caller may debit"
        assert balance(world, BOB) == 5_000

    def test_paying_from_an_issuance_account__403(self, world: World) -> None:
        """A person never pays out of (or into) an issuance account, and an officer has no payment grant at all."""
        assert pay(world, "alice", {**TO_SHOP, "from_wallet": ISSUER}).status_code == 403
        assert pay(world, "bank", TO_SHOP).status_code == 403
        assert pay(world, "alice", {**TO_SHOP, "to": {"wallet": ISSUER}}, key="key-2").status_code == 403
        assert balance(world, ISSUER) == -15_000

    def test_insufficient_funds__422_saying_what_is_there_and_what_is_needed(self, world: World) -> None:
        """More than the wallet holds is refused by the ledger with the amounts in words."""
        response = pay(world, "alice", {**TO_SHOP, "amount": "150.00"})
        assert response.status_code == 422
        problem = response.json()
        assert (problem["code"], problem["field"]) == ("payment_refused", "amount")
        assert (
            "insufficient funds: wallet 2 has 100.00 XTS available, the payment needs 150.00 XTS" in problem["detail"]
        )
        assert "exceeds_credits" in problem["detail"]
        assert pay(world, "alice", {**TO_SHOP, "amount": "150.00"}).json() == problem  # the key keeps its answer

    def test_a_restricted_payer__refused_pointing_to_their_restrictions(self, world: World) -> None:
        """A wallet frozen under a restriction pays nothing; the refusal says where to read why and appeal."""
        world.services.ledger.freeze_accounts([ALICE], "court-order:HC/2026/1")
        response = pay(world, "alice", TO_SHOP)
        assert response.status_code == 422
        assert (response.json()["field"], response.json()["code"]) == ("from_wallet", "payment_refused")
        assert "account_frozen" in response.json()["detail"] and "/v1/me/restrictions" in response.json()["detail"]
        assert balance(world, SHOP) == 0

    def test_earmarked_money__refused_at_a_shop_of_another_category(self, world: World) -> None:
        """Food money cannot pay a merchant without the food category: the ledger's purpose rule holds here too."""
        world.services.store.set_account_holders([(9, world.principals["bob"].id)])
        world.services.ledger.create_accounts(
            [Account(9, MONEY, code=2, flags=WALLET, allowed_categories=frozenset({GROCERY}))]
        )
        world.services.ledger.create_transfers([_issue(90, 9, 1_000)])
        response = pay(world, "bob", {**TO_SHOP, "from_wallet": 9})
        assert response.status_code == 422 and "category_not_allowed" in response.json()["detail"]

    def test_several_wallets__the_payer_names_one(self, world: World) -> None:
        """With two wallets in the currency, the payer is asked which."""
        world.services.store.set_account_holders([(9, world.principals["alice"].id)])
        world.services.ledger.create_accounts([Account(9, MONEY, code=2, flags=WALLET)])
        response = pay(world, "alice", TO_SHOP)
        assert response.status_code == 400 and response.json()["field"] == "from_wallet"
        assert pay(world, "alice", {**TO_SHOP, "from_wallet": ALICE}, key="key-2").status_code == 200

    def test_a_payment_reaches_the_ledgers_feed_like_any_transfer(self, world: World) -> None:
        """The payment takes the transfer route's path: the feed carries it, sanctions screening meets the new pair."""
        assert world.services.ledger.feed.wait_idle(10)
        before = world.services.counterparties.new_pairs
        assert pay(world, "alice", TO_SHOP).status_code == 200
        assert world.services.ledger.feed.wait_idle(10)
        assert world.services.arrivals.count([SHOP]) == 1
        assert world.services.counterparties.new_pairs == before + 1


def _issue(transfer_id: int, account_id: int, amount: int) -> Transfer:
    return Transfer(transfer_id, ISSUER, account_id, amount, MONEY, 1)


class TestAliases:
    def test_publish_list_and_delete(self, world: World) -> None:
        """A payee publishes an alias, lists it, deletes it; the name is free again."""
        created = publish(world, "shop", "corner-grocer", SHOP)
        assert created.status_code == 201 and created.json()["wallet"] == SHOP
        assert created.json()["created_at"].endswith("Z")
        listed = world.client.get("/v1/me/aliases", headers=world.as_("shop")).json()["aliases"]
        assert [a["alias"] for a in listed] == ["corner-grocer"]
        gone = world.client.delete("/v1/me/aliases/corner-grocer", headers=world.as_("shop"))
        assert gone.status_code == 204
        assert world.client.get("/v1/me/aliases", headers=world.as_("shop")).json()["aliases"] == []
        assert publish(world, "alice", "corner-grocer", ALICE).status_code == 201

    def test_an_alias_is_unique(self, world: World) -> None:
        """A taken alias, in any case, is 409."""
        publish(world, "shop", "corner-grocer", SHOP)
        response = publish(world, "alice", "CORNER-GROCER", ALICE)
        assert response.status_code == 409 and response.json()["field"] == "alias"

    def test_only_for_ones_own_wallet(self, world: World) -> None:
        """An alias for someone else's wallet, or the issuer's account, is refused."""
        assert publish(world, "alice", "not-mine", BOB).status_code == 403
        assert publish(world, "alice", "no-such", 999).status_code == 403

    @pytest.mark.parametrize("alias", ["ab", "-abc", "a b c", "\u0430lice", "a@b@cd"])
    def test_bad_aliases_are_refused(self, world: World, alias: str) -> None:
        """Too short, a hyphen at an end, blanks, look-alike letters or two @ are 400 or 422, naming the alias."""
        response = publish(world, "alice", alias, ALICE)
        assert response.status_code in (400, 422) and response.json()["field"].endswith("alias")

    def test_deleting_anothers_alias__404(self, world: World) -> None:
        """Deleting an alias one does not hold reads as not there."""
        publish(world, "shop", "corner-grocer", SHOP)
        assert world.client.delete("/v1/me/aliases/corner-grocer", headers=world.as_("alice")).status_code == 404


def test_a_crash_after_the_ledger_took_it__the_retry_pays_nothing_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the answer is lost after the ledger took the transfer, a retry posts the same id: no second payment."""
    keys = world.services.payments.keys
    answer = keys.answer

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("the process died here")

    monkeypatch.setattr(keys, "answer", crash)
    assert pay(world, "alice", TO_SHOP).status_code == 500
    monkeypatch.setattr(keys, "answer", answer)
    retried = pay(world, "alice", TO_SHOP)
    assert retried.status_code == 200 and retried.json()["replayed"] is True
    assert (balance(world, ALICE), balance(world, SHOP)) == (8750, 1250)


def test_a_person_whose_payments_a_restriction_closed__refused_until_it_is_lifted(world: World) -> None:
    """A restriction closing Ada's payments freezes her wallet: her payment is refused and her wallet shows frozen."""
    policy = policy_world(world)
    world.services.ledger.create_transfers([_issue(91, PERSON_WALLET, 2_000)])
    restriction_id = policy.activate()
    refused = pay(world, "ada", TO_SHOP)
    assert refused.status_code == 422 and "account_frozen" in refused.json()["detail"]
    (wallet,) = world.client.get("/v1/me/accounts", headers=world.as_("ada")).json()["accounts"]
    assert wallet["frozen"] is True
    policy.post(f"/v1/restrictions/{restriction_id}/lift", "tax-officer", {"reason": "paid in full"})
    assert pay(world, "ada", TO_SHOP, key="key-2").status_code == 200
    assert balance(world, PERSON_WALLET) == 750
