"""A household's ration: any member on their PIN, a nominee on theirs, a virtual ID; the co-payment from a wallet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tessera.errors import RedemptionRefusedError
from tessera.ledger import Account, AccountFlags, Transfer
from tessera.money import AccountKind
from tessera.programs.redemption import Auth, Item, Order, Status
from tests.programs.cycle_world import RESERVE
from tests.programs.redemption_world import MONEY, PIN, RICE, Shops, balance, family_ration, open_shops, redeem

WALLET = 880_001


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Shops, dict[str, str]]]:
    """Head, member and nominee (each with a PIN), an outsider with one; the family's ration paid (20 kg)."""
    shops = open_shops(tmp_path_factory.mktemp("family"), pins=6)
    head, member, nominee, outsider = shops.beneficiaries[:4]
    family_ration(shops, head=head, members=[member], nominee=nominee)
    services = shops.world.services
    member_principal = services.registry.person(member).principal_id
    services.store.set_account_holders([(WALLET, member_principal)])
    services.ledger.create_accounts(
        [Account(WALLET, MONEY, AccountKind.wallet, AccountFlags.debits_must_not_exceed_credits)]
    )
    services.ledger.create_transfers([Transfer(10**12 + 99, RESERVE, WALLET, 10_000, ledger=MONEY, code=1)])
    yield shops, {"head": head, "member": member, "nominee": nominee, "outsider": outsider}
    services.close()


def _household_account(shops: Shops, head: str) -> int:
    services = shops.world.services
    return services.entitlements.account_id(services.programmes.get("family_rice").programme, RICE, head)


def test_a_member_draws_on_the_households_ration_and_pays_from_their_wallet(
    family: tuple[Shops, dict[str, str]],
) -> None:
    """The member's PIN; the head's account is drawn; 5.00 co-payment leaves the member's wallet for the till."""
    shops, who = family
    account = _household_account(shops, who["head"])
    before, till = balance(shops, account), balance(shops, shops.grocery.accounts[0])
    done = redeem(
        shops, shops.grocery, Order("family_rice", number=who["member"], pin=PIN, items=(Item("RICE-5KG", 1),))
    )
    assert done.status is Status.completed and done.person == who["head"] and done.presented_by == who["member"]
    assert balance(shops, account) == before - 5000
    assert balance(shops, WALLET) == 10_000 - 500 and balance(shops, shops.grocery.accounts[0]) == till + 500


def test_a_nominee_collects_on_their_own_pin(family: tuple[Shops, dict[str, str]]) -> None:
    """The nominee is known by their PIN, for the household of the person named."""
    shops, who = family
    order = Order(
        "family_rice", number=who["head"], auth=Auth.nominee, nominee_number=who["nominee"], pin=PIN,
        items=(Item("RICE-1KG", 1),), co_payment="cash",
    )  # fmt: skip
    done = redeem(shops, shops.grocery, order)
    assert done.auth is Auth.nominee and done.presented_by == who["nominee"]


def test_someone_not_a_nominee_is_refused(family: tuple[Shops, dict[str, str]]) -> None:
    """An outsider with a PIN of their own cannot collect for the household."""
    shops, who = family
    order = Order(
        "family_rice", number=who["head"], auth=Auth.nominee, nominee_number=who["outsider"], pin=PIN,
        items=(Item("RICE-1KG", 1),), co_payment="cash",
    )  # fmt: skip
    with pytest.raises(RedemptionRefusedError) as refused:
        redeem(shops, shops.grocery, order)
    assert refused.value.reason == "not_a_nominee" and refused.value.field == "nominee"


def test_a_person_in_no_household_is_told_so(family: tuple[Shops, dict[str, str]]) -> None:
    """A household programme redeemed for someone in none names why."""
    shops, who = family
    order = Order("family_rice", number=who["outsider"], pin=PIN, items=(Item("RICE-1KG", 1),), co_payment="cash")
    with pytest.raises(RedemptionRefusedError) as refused:
        redeem(shops, shops.grocery, order)
    assert refused.value.reason == "not_in_household"


def test_a_virtual_id_stands_for_the_number(family: tuple[Shops, dict[str, str]]) -> None:
    """The head gives a virtual ID instead of their number; a revoked one is a person not found."""
    shops, who = family
    registry = shops.world.services.registry
    vid = registry.issue_virtual_id(who["head"]).vid
    order = Order("family_rice", virtual_id=vid, pin=PIN, items=(Item("RICE-1KG", 1),), co_payment="cash")
    assert redeem(shops, shops.grocery, order).person == who["head"]
    registry.revoke_virtual_id(vid)
    with pytest.raises(RedemptionRefusedError) as refused:
        redeem(shops, shops.grocery, order)
    assert refused.value.reason == "person_not_found"


def test_a_frozen_entitlement_is_refused_in_words_and_nothing_moves(family: tuple[Shops, dict[str, str]]) -> None:
    """A restriction whose basis names benefits freezes it: the till hears why, and the ledger moves nothing."""
    shops, who = family
    services = shops.world.services
    account = _household_account(shops, who["head"])
    before = balance(shops, account)
    services.ledger.freeze_accounts([account], "restriction r_test: benefits")
    try:
        order = Order("family_rice", number=who["head"], pin=PIN, items=(Item("RICE-1KG", 1),), co_payment="cash")
        with pytest.raises(RedemptionRefusedError) as refused:
            redeem(shops, shops.grocery, order)
        assert refused.value.reason == "frozen" and "restriction" in refused.value.words
        assert balance(shops, account) == before
    finally:
        services.ledger.unfreeze_accounts([account], "restriction r_test: lifted")
