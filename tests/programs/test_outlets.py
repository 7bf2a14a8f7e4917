"""Outlets: registered with a category, a location code and tills; authorised for programmes, revocations kept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tessera.auth import Principal, Role
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.ledger import Account, AccountFlags, Ledger
from tessera.programs import (
    LOCATION_CODE,
    Outlets,
    Programme,
    checked_location,
    example_programme,
    example_programmes,
)
from tessera.store import Store, outlet_accounts, outlet_authorisations, outlet_revocations, outlets

TILL = AccountFlags.debits_must_not_exceed_credits


@dataclass
class Shops:
    """A store and ledger with a grocer (merchant), a chain's two merchants, an officer and tills."""

    store: Store
    ledger: Ledger
    outlets: Outlets
    grocer: Principal
    chain_a: Principal
    chain_b: Principal
    officer: Principal

    def register(self, **changes: Any) -> Any:
        terms: dict[str, Any] = {
            "name": "Corner grocer",
            "operator": self.grocer.id,
            "category": 5411,
            "location": "KE-047-0012",
        }
        return self.outlets.register(self.officer.id, **{**terms, **changes})


@pytest.fixture
def shops(store: Store, tmp_path: Path) -> Iterator[Shops]:
    with Ledger.open(tmp_path / "shops-ledger") as ledger:
        grocer = store.create_principal("grocer", Role.merchant)
        chain_a = store.create_principal("chain-a", Role.merchant, organisation="org:chain")
        chain_b = store.create_principal("chain-b", Role.merchant, organisation="org:chain")
        officer = store.create_principal("officer", Role.officer, agency="central-bank")
        assert ledger.create_accounts(
            [
                Account(10, 1, 3, flags=TILL, category=5411),  # the grocer's money till
                Account(11, 2, 3, flags=TILL, category=5411),  # the grocer's rice till
                Account(12, 1, 3, flags=TILL, category=5411),  # a second money till
                Account(13, 1, 3, flags=TILL, category=5541),  # a fuel station's till
                Account(14, 1, 2, flags=TILL),  # a wallet
                Account(20, 1, 3, flags=TILL, category=5411),  # chain-b's till
            ]
        ).all_ok
        store.set_account_holders([(10, grocer.id), (11, grocer.id), (12, grocer.id), (13, grocer.id), (14, grocer.id)])
        store.set_account_holders([(20, chain_b.id)])
        yield Shops(store, ledger, Outlets(store, accounts=ledger.lookup_accounts), grocer, chain_a, chain_b, officer)


def _rows(store: Store, *tables: Any) -> list[int]:
    with store.transaction() as conn:
        return [conn.scalar(select(func.count()).select_from(t)) or 0 for t in tables]


class TestRegister:
    def test_an_outlet_is_registered_and_read_back(self, shops: Shops) -> None:
        """An outlet keeps its operator, category, location and tills, and reads back as registered."""
        made = shops.register(accounts=[11, 10])
        assert made.id.startswith("o_") and made.accounts == (10, 11)
        assert shops.outlets.get(made.id) == made
        assert made.registered_by == shops.officer.id

    def test_an_organisations_outlet_takes_any_of_its_merchants_tills(self, shops: Shops) -> None:
        """An outlet operated by org:chain is paid into a till chain-b holds, and each merchant of it sees it."""
        made = shops.register(operator="org:chain", accounts=[20])
        assert shops.outlets.operated_by(shops.chain_a) == [made] == shops.outlets.operated_by(shops.chain_b)
        assert shops.outlets.operated_by(shops.grocer) == []

    def test_outlets_are_found_by_operator_and_by_area(self, shops: Shops) -> None:
        """Outlets are listed by id, of one operator, or in an area by a prefix of their location code."""
        here = shops.register()
        there = shops.register(location="KE-030-0001")
        assert shops.outlets.find() == sorted([here, there], key=lambda o: o.id)
        assert shops.outlets.find(location="KE-047") == [here]
        assert shops.outlets.find(location="KE") == shops.outlets.find()
        assert shops.outlets.find(operator="org:chain") == []

    @pytest.mark.parametrize("category", [0, 9999, -1, "abc", True, None, 12345])
    def test_a_category_no_mcc_names__refused(self, shops: Shops, category: object) -> None:
        """A merchant category not in the built-in MCC list is not_found, naming category; nothing written."""
        with pytest.raises(NotFoundError) as caught:
            shops.register(category=category)
        assert caught.value.field == "category"
        assert _rows(shops.store, outlets) == [0]

    @pytest.mark.parametrize(
        "location",
        ["", "KE", "KE-047", "ke-047-0012", "KE-0477-0012", "KE-047-12", "KE-047-0012\n", "KEN-047-0012", 47],
    )
    def test_a_bad_location_code__refused(self, shops: Shops, location: object) -> None:
        """A location code not CC-AAA-LLLL is invalid_input naming location; nothing written."""
        with pytest.raises(InvalidInputError) as caught:
            shops.register(location=location)
        assert caught.value.field == "location"
        assert _rows(shops.store, outlets) == [0]

    @pytest.mark.parametrize(
        ("changes", "error", "field"),
        [
            ({"name": ""}, InvalidInputError, "name"),
            ({"name": "Shop\u202e"}, InvalidInputError, "name"),
            ({"operator": "grocer"}, InvalidInputError, "operator"),
            ({"operator": "p_0123456789abcdef"}, NotFoundError, "operator"),
            ({"operator": "org:nobody"}, NotFoundError, "operator"),
            ({"accounts": [99]}, NotFoundError, "accounts[0]"),
            ({"accounts": [14]}, InvalidInputError, "accounts[0]"),  # a wallet
            ({"accounts": [13]}, InvalidInputError, "accounts[0]"),  # another category
            ({"accounts": [10, 12]}, ConflictError, "accounts[1]"),  # two on one ledger
            ({"accounts": [10, 10]}, ConflictError, "accounts[1]"),
            ({"accounts": [0]}, InvalidInputError, "accounts[0]"),
            ({"accounts": list(range(1, 10))}, InvalidInputError, "accounts"),
        ],
    )
    def test_bad_terms__refused_naming_the_field(
        self, shops: Shops, changes: dict[str, Any], error: type[Exception], field: str
    ) -> None:
        """Each bad term is refused with its code and field, and no outlet or till row is written."""
        with pytest.raises(error) as caught:
            shops.register(**changes)
        assert getattr(caught.value, "field", None) == field
        assert _rows(shops.store, outlets, outlet_accounts) == [0, 0]

    def test_an_officers_own_principal_is_no_operator(self, shops: Shops) -> None:
        """Only a merchant operates an outlet: an officer's id is not_found as operator."""
        with pytest.raises(NotFoundError, match="no merchant"):
            shops.register(operator=shops.officer.id)

    def test_a_till_another_merchant_holds__forbidden(self, shops: Shops) -> None:
        """An outlet is paid only into tills its operator holds."""
        with pytest.raises(ForbiddenError, match=r"accounts\[0\]"):
            shops.register(accounts=[20])
        assert _rows(shops.store, outlets) == [0]

    def test_an_unknown_outlet__not_found(self, shops: Shops) -> None:
        """Reading an outlet that does not exist, or an id that cannot exist, is not_found naming outlet."""
        for outlet_id in ("o_0123456789abcdef", "nonsense"):
            with pytest.raises(NotFoundError) as caught:
                shops.outlets.get(outlet_id)
            assert caught.value.field == "outlet"


@given(st.text(max_size=16))
def test_a_location_code_is_accepted_exactly_when_it_matches_the_format(text: str) -> None:
    """checked_location accepts a text exactly when it is CC-AAA-LLLL, and returns it unchanged."""
    if LOCATION_CODE.fullmatch(text):
        assert checked_location(text) == text
    else:
        with pytest.raises(InvalidInputError):
            checked_location(text)


class TestAuthorise:
    def test_authorised_revoked_and_authorised_again__the_history_is_kept(self, shops: Shops) -> None:
        """Each authorisation and revocation is kept with who, when, basis and reason; none is rewritten."""
        shop = shops.register()
        first = shops.outlets.authorise(shop.id, "food_cash", shops.officer, "licensed food retailer")
        assert first.live and first.basis == "social-protection-act/food" and first.seq == 1
        assert shops.outlets.authorised(shop.id, "food_cash") == first
        revoked = shops.outlets.revoke(shop.id, "food_cash", shops.officer, "failed inspection")
        assert not revoked.live and revoked.revocation_reason == "failed inspection"
        assert shops.outlets.authorised(shop.id, "food_cash") is None
        again = shops.outlets.authorise(shop.id, "food_cash", shops.officer, "passed re-inspection")
        assert shops.outlets.authorisations(shop.id) == [revoked, again]
        assert again.seq == 2 and again.live

    def test_an_outlet_is_authorised_per_programme(self, shops: Shops) -> None:
        """A grocer may hold food_cash and rice_ration at once; each stands on its own."""
        shop = shops.register()
        shops.outlets.authorise(shop.id, "food_cash", shops.officer, "licensed")
        shops.outlets.authorise(shop.id, "rice_ration", shops.officer, "licensed")
        assert [a.programme_id for a in shops.outlets.authorisations(shop.id)] == ["food_cash", "rice_ration"]

    def test_an_unknown_programme__not_found(self, shops: Shops) -> None:
        """Authorising for a programme no one defined is not_found naming programme; nothing written."""
        shop = shops.register()
        with pytest.raises(NotFoundError) as caught:
            shops.outlets.authorise(shop.id, "free_beer", shops.officer, "licensed")
        assert caught.value.field == "programme"
        assert _rows(shops.store, outlet_authorisations) == [0]

    def test_a_category_the_programme_is_not_spent_at__refused(self, shops: Shops) -> None:
        """A fuel station cannot be authorised for food cash: invalid_input naming programme and both categories."""
        station = shops.register(name="Fuel stop", category=5541)
        with pytest.raises(InvalidInputError, match=r"5541.*5411") as caught:
            shops.outlets.authorise(station.id, "food_cash", shops.officer, "licensed")
        assert caught.value.field == "programme"
        assert _rows(shops.store, outlet_authorisations) == [0]

    def test_authorised_twice__conflict(self, shops: Shops) -> None:
        """A second authorisation while one stands is a conflict naming programme; the first is kept alone."""
        shop = shops.register()
        shops.outlets.authorise(shop.id, "food_cash", shops.officer, "licensed")
        with pytest.raises(ConflictError) as caught:
            shops.outlets.authorise(shop.id, "food_cash", shops.officer, "again")
        assert caught.value.field == "programme"
        assert _rows(shops.store, outlet_authorisations) == [1]

    def test_two_officers_racing_to_authorise__the_key_makes_the_second_a_conflict(
        self, shops: Shops, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With the check made blind (as if both read before either wrote), the table's key refuses the second."""
        shop = shops.register()
        shops.outlets.authorise(shop.id, "food_cash", shops.officer, "licensed")
        monkeypatch.setattr("tessera.programs.outlets._latest", lambda *_: None)
        with pytest.raises(ConflictError) as caught:
            shops.outlets.authorise(shop.id, "food_cash", shops.officer, "raced")
        assert caught.value.field == "programme"
        assert _rows(shops.store, outlet_authorisations) == [1]

    def test_revoking_what_is_not_authorised__not_found(self, shops: Shops) -> None:
        """Revoking an authorisation never made, or already revoked, is not_found naming programme."""
        shop = shops.register()
        with pytest.raises(NotFoundError) as caught:
            shops.outlets.revoke(shop.id, "food_cash", shops.officer, "closing")
        assert caught.value.field == "programme"
        shops.outlets.authorise(shop.id, "food_cash", shops.officer, "licensed")
        shops.outlets.revoke(shop.id, "food_cash", shops.officer, "closing")
        with pytest.raises(NotFoundError):
            shops.outlets.revoke(shop.id, "food_cash", shops.officer, "closing again")
        assert _rows(shops.store, outlet_revocations) == [1]

    @pytest.mark.parametrize("reason", ["", "   ", "x" * 501, "why\u202e"])
    def test_a_reason_that_says_nothing__refused(self, shops: Shops, reason: str) -> None:
        """An authorisation or revocation needs a reason a reader can see: invalid_input naming reason."""
        shop = shops.register()
        with pytest.raises(InvalidInputError) as caught:
            shops.outlets.authorise(shop.id, "food_cash", shops.officer, reason)
        assert caught.value.field == "reason"

    def test_an_officer_outside_the_programmes_agencies__forbidden(self, shops: Shops) -> None:
        """When a programme's basis names the agencies that run it, an officer of another one may not authorise."""
        food = example_programmes().get("food_cash")
        basis = replace(food.basis, exercised_by=frozenset({"social-security"}))
        run_by_ministry = replace(food, basis=basis)

        def known(programme_id: str) -> Programme | None:
            return run_by_ministry if programme_id == "food_cash" else example_programme(programme_id)

        ministry = Outlets(shops.store, known=known)
        shop = shops.register()
        with pytest.raises(ForbiddenError, match="social-security"):
            ministry.authorise(shop.id, "food_cash", shops.officer, "licensed")
        minister = shops.store.create_principal("minister", Role.officer, agency="social-security")
        assert ministry.authorise(shop.id, "food_cash", minister, "licensed").live

    def test_programmes_come_from_the_injected_registry(self, shops: Shops) -> None:
        """Outlets know only the programmes their KnownProgrammes answers for."""
        only_fuel = Outlets(shops.store, known=lambda p: example_programme(p) if p == "fuel_quota" else None)
        shop = shops.register()
        with pytest.raises(NotFoundError):
            only_fuel.authorise(shop.id, "food_cash", shops.officer, "licensed")
