"""The opening table: only an issuer's officers open and hold accounts that can go negative."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.auth import Principal, Role
from tessera.errors import ForbiddenError, InvalidInputError, TesseraError
from tessera.ledger import Account, AccountFlags
from tessera.money import OPENING, AccountKind, check_opening, ledger_unit
from tessera.money.kinds import render_markdown

CURRENCY = ledger_unit(1, "currency", "XTS", 2, "central-bank")
NON_NEGATIVE = AccountFlags.debits_must_not_exceed_credits
NON_POSITIVE = AccountFlags.credits_must_not_exceed_debits
BANKER = Principal("p_00000000000000b1", "banker", Role.officer, "central-bank")
CLERK = Principal("p_00000000000000c1", "clerk", Role.officer, "civil-registry")
ALICE = Principal("p_00000000000000a1", "alice", Role.citizen, subject="p_00000000000000a1")
SHOP = Principal("p_00000000000000d1", "shop", Role.merchant)
PEOPLE = (BANKER, CLERK, ALICE, SHOP, Principal("p_00000000000000e1", "admin", Role.admin))


def _opens(opener: Principal, holder: Principal, account: Account) -> bool:
    try:
        check_opening("accounts[0]", opener, holder, account, CURRENCY)
    except (ForbiddenError, InvalidInputError):
        return False
    return True


@given(
    opener=st.sampled_from(PEOPLE),
    holder=st.sampled_from(PEOPLE),
    code=st.integers(0, 7),
    flags=st.sampled_from([AccountFlags(f) for f in range(8)]),
    category=st.sampled_from([0, 5411]),
)
def test_only_the_issuers_officers_hold_what_can_go_negative(
    opener: Principal, holder: Principal, code: int, flags: AccountFlags, category: int
) -> None:
    """Whatever opens: an account without the non-negative flag is issuance, by and for the central bank."""
    account = Account(10, 1, code, flags=flags, category=category)
    if not _opens(opener, holder, account):
        return
    if not flags & NON_NEGATIVE:
        assert code == AccountKind.issuance and opener.agency == holder.agency == "central-bank"
        assert holder.role is Role.officer and flags & NON_POSITIVE
    if holder.role is Role.citizen:  # a wallet: never overdrawn, no shop (entitlements are the programmes' to open)
        assert flags & NON_NEGATIVE and code == AccountKind.wallet and category == 0
    assert opener.role is Role.officer


class TestRefusals:
    def test_civil_registry_cannot_open_a_minting_account(self) -> None:
        """The attack of issue 15: any officer opened an account that could go negative, then paid from it."""
        with pytest.raises(ForbiddenError, match="central-bank"):
            check_opening("accounts[0]", CLERK, CLERK, Account(9, 1, AccountKind.issuance, NON_POSITIVE), CURRENCY)
        with pytest.raises(InvalidInputError, match=r"accounts\[0\]\.flags"):
            check_opening("accounts[0]", CLERK, CLERK, Account(9, 1, AccountKind.system), CURRENCY)

    def test_a_citizens_wallet_always_carries_the_non_negative_flag(self) -> None:
        """Not even the central bank can open an overdrawable wallet for a person."""
        with pytest.raises(InvalidInputError, match="debits_must_not_exceed_credits"):
            check_opening("accounts[3]", BANKER, ALICE, Account(9, 1, AccountKind.wallet), CURRENCY)

    def test_a_wallet_takes_no_merchant_category(self) -> None:
        """A wallet with a grocer's category could take money earmarked for groceries."""
        with pytest.raises(InvalidInputError, match="category"):
            check_opening("a", CLERK, ALICE, Account(9, 1, AccountKind.wallet, NON_NEGATIVE, category=5411), CURRENCY)

    def test_no_one_opens_an_entitlement_by_hand(self) -> None:
        """A food-earmarked entitlement by an officer would escape a payments freeze: programmes alone open them."""
        food = Account(9, 1, AccountKind.entitlement, NON_NEGATIVE, allowed_categories=frozenset({5411}))
        for opener in (BANKER, CLERK):
            with pytest.raises(ForbiddenError, match=r"accounts\[2\]\.kind: an entitlement account is opened by"):
                check_opening("accounts[2]", opener, ALICE, food, CURRENCY)

    def test_an_unknown_code_names_the_kinds(self) -> None:
        """An account code that is no kind is refused, listing the kinds there are."""
        with pytest.raises(InvalidInputError, match=r"a\.kind: must be one of 1 \(issuance\)"):
            check_opening("a", CLERK, ALICE, Account(9, 1, 77, NON_NEGATIVE), CURRENCY)

    def test_a_programme_account_is_held_by_the_openers_agency(self) -> None:
        """A programme account may be held only by the opener's own agency, not another's."""
        with pytest.raises(ForbiddenError, match="civil-registry"):
            check_opening("a", CLERK, BANKER, Account(9, 1, AccountKind.programme, NON_NEGATIVE), CURRENCY)
        check_opening("a", CLERK, CLERK, Account(9, 1, AccountKind.programme, NON_NEGATIVE), CURRENCY)

    def test_every_refusal_is_a_tessera_error_naming_the_field(self) -> None:
        """A refusal is a TesseraError whose message starts with the caller's field, here the holder."""
        with pytest.raises(TesseraError, match=r"^a\.holder"):
            check_opening("a", CLERK, SHOP, Account(9, 1, AccountKind.wallet, NON_NEGATIVE), CURRENCY)


def test_the_table_has_one_rule_per_kind_and_the_docs_show_it() -> None:
    """docs/api.md carries the opening table exactly as the code has it."""
    assert sorted(r.kind for r in OPENING) == list(AccountKind)
    with open("docs/api.md", encoding="utf-8") as docs:
        assert render_markdown() in docs.read()
