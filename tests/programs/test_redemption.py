"""Redemption at a shop: known by PIN, nominee, app or officer; drawn first-to-expire; refusals a shopkeeper reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tessera.auth import Principal, Role
from tessera.errors import (
    CredentialLockedError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    RedemptionRefusedError,
    UnauthenticatedError,
)
from tessera.ledger import Account, AccountFlags
from tessera.money import RETURNS_CATEGORY, AccountKind, check_opening, ledger_unit
from tessera.programs.disbursement import returns_account_id
from tessera.programs.redemption import Auth, Item, Order, Post, Status
from tests.programs.cycle_world import CYCLE_DATE_NS
from tests.programs.redemption_world import (
    FUEL,
    MONEY,
    PIN,
    RICE,
    Shops,
    balance,
    open_shops,
    post_direct,
    redeem,
)

DAY_NS = 86_400 * 10**9


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shops]:
    """The three programmes paid once, the shops open (module-wide: tests draw on different people)."""
    made = open_shops(tmp_path_factory.mktemp("shops"), pins=10)
    yield made
    made.world.services.close()


def _account(shops: Shops, programme_id: str, ledger_id: int, number: str) -> int:
    services = shops.world.services
    return services.entitlements.account_id(services.programmes.get(programme_id).programme, ledger_id, number)


def _rice(number: str, *items: tuple[str, int], **more: object) -> Order:
    return Order("rice_test", number=number, pin=PIN, items=tuple(Item(p, q) for p, q in items), **more)  # type: ignore[arg-type]


class TestRedeem:
    def test_rice_and_its_co_payment_in_one_chain(self, shops: Shops) -> None:
        """5 kg drawn from the quota to the grocery's rice till, 5.00 paid in cash: the quota falls by exactly 5 kg."""
        number = shops.beneficiaries[0]
        account = _account(shops, "rice_test", RICE, number)
        before = balance(shops, account)
        done = redeem(shops, shops.grocery, _rice(number, ("RICE-5KG", 1), co_payment="cash"))
        assert done.status is Status.completed and done.auth is Auth.pin
        assert balance(shops, account) == before - 5000
        assert done.lines[0].amount == 5000 and done.lines[0].left == before - 5000
        assert done.co_payment == 500 and done.co_payment_method == "cash"
        assert balance(shops, shops.grocery.accounts[1]) >= 5000

    def test_partial_redemptions_until_the_quota_is_used_up(self, shops: Shops) -> None:
        """10 kg a month: 5 kg, then 4 kg, then 5 kg asked with 1 kg left is refused, saying what is left."""
        number = shops.beneficiaries[1]
        redeem(shops, shops.grocery, _rice(number, ("RICE-5KG", 1), co_payment="cash"))
        redeem(shops, shops.grocery, _rice(number, ("RICE-1KG", 4), co_payment="cash"))
        with pytest.raises(RedemptionRefusedError) as refused:
            redeem(shops, shops.grocery, _rice(number, ("RICE-5KG", 1), co_payment="cash"))
        assert refused.value.reason == "quota_used_up"
        assert refused.value.params["left"] == "1.000" and "1.000 kg left" in refused.value.words
        assert balance(shops, _account(shops, "rice_test", RICE, number)) == 1000

    def test_cash_is_drawn_by_amount(self, shops: Shops) -> None:
        """A cash programme is redeemed by an amount in the currency, at the grocery's money till."""
        number = shops.beneficiaries[2]
        account = _account(shops, "adult_cash", MONEY, number)
        before = balance(shops, account)
        redeem(shops, shops.grocery, Order("adult_cash", number=number, pin=PIN, amount="12.50"))
        assert balance(shops, account) == before - 1250

    def test_a_retry_under_the_same_key_draws_once(self, shops: Shops) -> None:
        """The same Idempotency-Key and body answer the first redemption again; another body is refused."""
        number = shops.beneficiaries[3]
        account = _account(shops, "rice_test", RICE, number)
        order = _rice(number, ("RICE-1KG", 1), co_payment="cash")
        first = redeem(shops, shops.grocery, order, key="same-key")
        again = redeem(shops, shops.grocery, order, key="same-key")
        assert again.id == first.id and again.replayed
        assert balance(shops, account) == 10000 - 1000
        with pytest.raises(IdempotencyKeyReusedError):
            redeem(shops, shops.grocery, _rice(number, ("RICE-1KG", 2), co_payment="cash"), key="same-key")

    def test_a_crash_before_the_ledger_answered_is_finished_by_the_retry(self, shops: Shops) -> None:
        """The row and chain are written first: a retry sends the same chain, and the ledger applies it once."""
        number = shops.beneficiaries[4]
        account = _account(shops, "rice_test", RICE, number)
        order = _rice(number, ("RICE-1KG", 2), co_payment="cash")

        def crash(batch: object, holders: object) -> object:
            post_direct(shops)(batch, holders)  # type: ignore[arg-type]
            raise OSError("the till lost its connection")

        services = shops.world.services
        with pytest.raises(OSError, match="connection"):
            services.redemptions.redeem(shops.grocer, shops.grocery.id, order, key="crash", body_sha256="x", post=crash)  # type: ignore[arg-type]
        again = services.redemptions.redeem(
            shops.grocer, shops.grocery.id, order, key="crash", body_sha256="x", post=post_direct(shops)
        )
        assert again.status is Status.completed
        assert balance(shops, account) == 10000 - 2000

    def test_left_posting_by_a_crash__the_sweep_completes_what_the_ledger_took_and_refuses_the_rest(
        self, shops: Shops
    ) -> None:
        """At start: the chain the ledger took completes; the one it never saw is refused, and nothing is drawn."""
        services = shops.world.services
        took, lost = shops.beneficiaries[8:10]
        accounts = {n: _account(shops, "rice_test", RICE, n) for n in (took, lost)}

        def died(ledger_took_it: bool) -> Post:
            def post(batch: npt.NDArray[np.void], holders: tuple[str, ...]) -> npt.NDArray[np.uint32]:
                if ledger_took_it:
                    post_direct(shops)(batch, holders)
                raise OSError("the process died")

            return post

        for number, ledger_took_it in ((took, True), (lost, False)):
            with pytest.raises(OSError, match="died"):
                redeem(shops, shops.grocery, _rice(number, ("RICE-1KG", 2), co_payment="cash"), key=number,
                       post=died(ledger_took_it))  # fmt: skip
        settled = {r.presented_by: r for r in services.redemptions.finish_interrupted()}
        assert settled[took].status is Status.completed and settled[lost].status is Status.refused
        assert balance(shops, accounts[took]) == 10000 - 2000 and balance(shops, accounts[lost]) == 10000
        again = redeem(shops, shops.grocery, _rice(took, ("RICE-1KG", 2), co_payment="cash"), key=took)
        assert again.id == settled[took].id and again.replayed and again.status is Status.completed
        with pytest.raises(RedemptionRefusedError) as refused:  # the same key hears what became of it
            redeem(shops, shops.grocery, _rice(lost, ("RICE-1KG", 2), co_payment="cash"), key=lost)
        assert refused.value.reason == "interrupted" and "nothing was drawn" in refused.value.words
        redeem(shops, shops.grocery, _rice(lost, ("RICE-1KG", 2), co_payment="cash"))  # asked again, a new key
        assert balance(shops, accounts[lost]) == 10000 - 2000
        assert services.redemptions.finish_interrupted() == []  # nothing is left posting


class TestRefusals:
    def test_person_not_found(self, shops: Shops) -> None:
        """An unknown number is refused in words, not a traceback."""
        with pytest.raises(RedemptionRefusedError) as refused:
            redeem(shops, shops.grocery, _rice("999999999999", ("RICE-1KG", 1)))
        assert refused.value.reason == "person_not_found" and refused.value.field == "person"

    def test_shop_not_authorised_for_the_programme(self, shops: Shops) -> None:
        """The fuel station may not redeem rice."""
        order = _rice(shops.beneficiaries[0], ("RICE-1KG", 1))
        with pytest.raises(RedemptionRefusedError) as refused:
            redeem(shops, shops.station, order)
        assert refused.value.reason == "not_authorised" and "not authorised for Rice ration" in refused.value.words

    def test_product_not_on_the_list(self, shops: Shops) -> None:
        """A product the programme's list does not carry is refused, naming the item."""
        with pytest.raises(RedemptionRefusedError) as refused:
            redeem(shops, shops.grocery, _rice(shops.beneficiaries[0], ("RICE-1KG", 1), ("WHISKY-1L", 1)))
        assert refused.value.reason == "not_on_list" and refused.value.field == "items[1].product"

    def test_wrong_pin_says_how_many_tries_are_left(self, shops: Shops) -> None:
        """A wrong PIN is the PIN's own refusal; nothing is drawn."""
        number = shops.beneficiaries[5]
        account = _account(shops, "rice_test", RICE, number)
        order = Order("rice_test", number=number, pin="000000", items=(Item("RICE-1KG", 1),))
        with pytest.raises((UnauthenticatedError, CredentialLockedError)):
            redeem(shops, shops.grocery, order)
        assert balance(shops, account) == 10000

    def test_another_shops_till_is_forbidden(self, shops: Shops) -> None:
        """A merchant redeems only at an outlet it operates."""
        services = shops.world.services
        with pytest.raises(ForbiddenError):
            services.redemptions.redeem(
                shops.station_keeper, shops.grocery.id, _rice(shops.beneficiaries[0], ("RICE-1KG", 1)),
                key="k", body_sha256="x", post=post_direct(shops),
            )  # fmt: skip

    def test_a_cash_programme_takes_an_amount_and_a_quota_takes_items(self, shops: Shops) -> None:
        """Mixing them up names the field."""
        number = shops.beneficiaries[0]
        with pytest.raises(InvalidInputError, match="amount"):
            redeem(shops, shops.grocery, Order("rice_test", number=number, pin=PIN, amount="5"))
        with pytest.raises(InvalidInputError, match="items"):
            redeem(shops, shops.grocery, Order("adult_cash", number=number, pin=PIN, items=(Item("RICE-1KG", 1),)))

    def test_expired_entitlement(self, shops: Shops, monkeypatch: pytest.MonkeyPatch) -> None:
        """After its validity nothing is drawn, and the refusal says when it expired."""
        services = shops.world.services
        standing = services.entitlements.standing(
            services.programmes.get("fuel_test").programme, FUEL, shops.beneficiaries[6]
        )
        later = (standing.until_ns or 0) + 1
        monkeypatch.setattr(services.redemptions, "_clock", lambda: later)
        order = Order("fuel_test", number=shops.beneficiaries[6], pin=PIN, items=(Item("FUEL-1L", 5),))
        with pytest.raises(RedemptionRefusedError) as refused:
            redeem(shops, shops.station, order)
        assert refused.value.reason == "expired" and "expired on" in refused.value.words


class TestNothingStaleIsServed:
    """Outlets are cached (never rewritten); their authorisations are read on every request."""

    def test_a_revoked_authorisation_refuses_the_next_redemption(self, shops: Shops) -> None:
        """The grocery redeems rice, loses its authorisation, and the very next redemption is refused."""
        services, admin = shops.world.services, shops.world.admin
        number = shops.beneficiaries[6]
        assert (
            redeem(shops, shops.grocery, _rice(number, ("RICE-1KG", 1), co_payment="cash")).status is Status.completed
        )
        services.outlets.revoke(shops.grocery.id, "rice_test", admin, "licence suspended")
        try:
            with pytest.raises(RedemptionRefusedError) as refused:
                redeem(shops, shops.grocery, _rice(number, ("RICE-1KG", 1), co_payment="cash"))
            assert refused.value.reason == "not_authorised"
        finally:
            services.outlets.authorise(shops.grocery.id, "rice_test", admin, "licence restored")
        assert (
            redeem(shops, shops.grocery, _rice(number, ("RICE-1KG", 1), co_payment="cash")).status is Status.completed
        )

    def test_a_revocation_while_the_person_is_asked_refuses_the_approval(self, shops: Shops) -> None:
        """auth app: revoked between the till's request and the approval, nothing is drawn and it reads refused."""
        services, admin = shops.world.services, shops.world.admin
        number = shops.beneficiaries[7]
        account = _account(shops, "rice_test", RICE, number)
        before = balance(shops, account)
        asked = redeem(
            shops, shops.grocery, Order("rice_test", number=number, auth=Auth.app, items=(Item("RICE-1KG", 1),))
        )
        assert asked.status is Status.awaiting_approval
        person = services.store.get_principal(services.registry.person(number).principal_id)
        assert person is not None
        services.outlets.revoke(shops.grocery.id, "rice_test", admin, "licence suspended")
        try:
            with pytest.raises(RedemptionRefusedError) as refused:
                services.redemptions.approve(person, asked.id, post_direct(shops))
            assert refused.value.reason == "not_authorised"
        finally:
            services.outlets.authorise(shops.grocery.id, "rice_test", admin, "licence restored")
        assert services.redemptions.get(asked.id).status is Status.refused
        assert balance(shops, account) == before


class TestFuelHold:
    def test_hold_then_post_what_was_poured(self, shops: Shops) -> None:
        """40 litres reserved, 32.5 poured: 32.5 leave the quota, the rest is released."""
        services = shops.world.services
        number = shops.beneficiaries[7]
        account = _account(shops, "fuel_test", FUEL, number)
        held = redeem(
            shops, shops.station, Order("fuel_test", number=number, pin=PIN, items=(Item("FUEL-1L", 40),), hold=True)
        )
        assert held.status is Status.held and balance(shops, account) == 0
        posted = services.redemptions.post_hold(
            shops.station_keeper, shops.station.id, held.id, 325, post_direct(shops)
        )
        assert posted.status is Status.posted
        assert balance(shops, account) == 400 - 325

    def test_hold_then_void(self, shops: Shops) -> None:
        """A hold released whole leaves the quota as it was."""
        services = shops.world.services
        number = shops.beneficiaries[6]
        account = _account(shops, "fuel_test", FUEL, number)
        held = redeem(
            shops, shops.station, Order("fuel_test", number=number, pin=PIN, items=(Item("FUEL-1L", 10),), hold=True)
        )
        assert balance(shops, account) == 300
        voided = services.redemptions.void_hold(shops.station_keeper, shops.station.id, held.id, post_direct(shops))
        assert voided.status is Status.voided and balance(shops, account) == 400


class TestExpiredRemainders:
    def test_a_cash_remainder_expired_goes_back_before_the_new_cycle_is_drawn(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Cycle 1 expired unspent, cycle 2 live: a redemption returns cycle 1's money to the returns account first."""
        shops = open_shops(tmp_path, pins=1)
        services = shops.world.services
        try:
            number = shops.beneficiaries[0]
            programme = services.programmes.get("adult_cash").programme
            first = services.entitlements.standing(programme, MONEY, number)
            later = CYCLE_DATE_NS + 70 * DAY_NS
            cycles = services.cycles
            cycle = cycles.create("adult_cash", later, by=shops.world.maker)
            cycles.preview(cycle.id, by=shops.world.maker)
            cycles.approve(cycle.id, by=shops.world.checker)
            cycles.disburse(cycle.id, by=shops.world.maker)
            monkeypatch.setattr(services.redemptions, "_clock", lambda: later + DAY_NS)
            redeem(shops, shops.grocery, Order("adult_cash", number=number, pin=PIN, amount="1.00"))
            returns = returns_account_id("adult_cash", MONEY)
            assert balance(shops, returns) == first.balance
            account = _account(shops, "adult_cash", MONEY, number)
            assert balance(shops, account) == first.balance - 100  # cycle 2 paid the same amount, less 1.00
        finally:
            services.close()


def test_nobody_opens_an_account_of_the_returns_category() -> None:
    """A merchant account of the returns category could take what entitlements return: refused at opening."""
    officer = Principal("p_0000000000000001", "bank", Role.officer, agency="central-bank")
    merchant = Principal("p_0000000000000002", "shop", Role.merchant)
    unit = ledger_unit(MONEY, "currency", "XTS", 2, "central-bank")
    till = Account(
        5, MONEY, AccountKind.merchant, AccountFlags.debits_must_not_exceed_credits, category=RETURNS_CATEGORY
    )
    with pytest.raises(InvalidInputError, match="reserved for programmes' returns"):
        check_opening("accounts[0]", officer, merchant, till, unit)
