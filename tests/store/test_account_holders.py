"""Account holders: set in batches, all or nothing, and never changed once set."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from tessera.auth.principals import Principal, Role
from tessera.errors import BatchSizeError, ConflictError, InvalidInputError, NotFoundError
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT
from tessera.store import ACCOUNTS_LIST_MAX, Store
from tessera.store import holders as holders_module

BIG = ID_LIMIT - 1
Setter = Callable[[Sequence[tuple[int, str]]], None]


@pytest.fixture(params=["pairs", "columns", "cycle"])
def set_holders(request: pytest.FixtureRequest, store: Store) -> Setter:
    """``set_account_holders`` on pairs, or ``set_account_holder_columns`` (or its cycle form) on columns."""
    if request.param == "pairs":
        return store.set_account_holders
    setter = {
        "columns": store.set_account_holder_columns,
        "cycle": store.set_cycle_account_holder_columns,
    }[request.param]
    return lambda pairs: setter(np.array([a for a, _ in pairs], np.uint64), np.array([p for _, p in pairs]))


def test_holders_round_trip(store: Store, set_holders: Setter, citizen: Principal, officer: Principal) -> None:
    """Set holders are read back by account and by principal; unknown accounts are absent."""
    set_holders([(2, citizen.id), (BIG, citizen.id), (2**31 + 1, officer.id)])
    assert store.account_holders([2, BIG, 2**31 + 1, 99]) == {2: citizen.id, BIG: citizen.id, 2**31 + 1: officer.id}
    assert store.accounts_held_by(citizen.id) == [2, BIG]
    assert store.accounts_held_by(officer.id) == [2**31 + 1]


def test_empty_lookups(store: Store, citizen: Principal) -> None:
    """No ids, no holders; a principal with no accounts holds none."""
    assert store.account_holders([]) == {}
    assert store.accounts_held_by(citizen.id) == []
    assert store.accounts_held_by("p_0123456789abcdef") == []


def test_setting_the_same_holder_again_is_harmless(store: Store, set_holders: Setter, citizen: Principal) -> None:
    """Repeating a batch, or an account within one, changes nothing."""
    set_holders([(5, citizen.id), (5, citizen.id)])
    set_holders([(5, citizen.id), (6, citizen.id)])
    assert store.account_holders([5, 6]) == {5: citizen.id, 6: citizen.id}


def test_holder_never_changes__conflict_and_nothing_written(
    store: Store, set_holders: Setter, citizen: Principal, officer: Principal
) -> None:
    """A batch that would change one holder is refused whole, naming that entry."""
    set_holders([(5, citizen.id)])
    with pytest.raises(ConflictError) as caught:
        set_holders([(6, officer.id), (5, officer.id)])
    assert caught.value.field == "holders[1].account_id"
    assert store.account_holders([5, 6]) == {5: citizen.id}
    assert store.accounts_held_by(officer.id) == []  # nor by principal: the refused pair is rolled back there too


def test_unknown_holder__not_found_and_nothing_written(store: Store, set_holders: Setter, citizen: Principal) -> None:
    """Every holder must be a principal; the first unknown one is named."""
    with pytest.raises(NotFoundError) as caught:
        set_holders([(1, citizen.id), (2, "p_0123456789abcdef")])
    assert caught.value.field == "holders[1].principal_id"
    assert store.account_holders([1, 2]) == {}


def test_full_batch_round_trips(store: Store, set_holders: Setter, citizen: Principal) -> None:
    """A batch of the largest size is written and read back in one call each."""
    ids = [2**40 + i for i in range(BATCH_SIZE_MAX)]
    set_holders([(i, citizen.id) for i in ids])
    assert store.account_holders(ids) == dict.fromkeys(ids, citizen.id)
    assert store.accounts_held_by(citizen.id, limit=BATCH_SIZE_MAX) == ids
    assert store.accounts_held_by(citizen.id, limit=3) == ids[:3]


def test_pairs_in_no_order_are_read_back_each_with_its_own_holder(store: Store, set_holders: Setter) -> None:
    """Many holders, ids and principals shuffled: each table sorts them its own way, and no pair is crossed."""
    people = [store.create_principal(f"person {i}", Role.citizen) for i in range(7)]
    rng = np.random.default_rng(3)
    ids = rng.choice(np.arange(1, 2**62, 2**52), 300, replace=False).tolist()
    pairs = [(a, people[int(rng.integers(len(people)))].id) for a in ids]
    set_holders(pairs)
    assert store.account_holders(ids) == dict(pairs)
    for person in people:
        assert store.accounts_held_by(person.id) == sorted(a for a, p in pairs if p == person.id)


def test_store_list_limit_is_a_ledger_batch() -> None:
    """One ledger batch's accounts always fit one listing call."""
    assert ACCOUNTS_LIST_MAX == BATCH_SIZE_MAX


def test_an_organisations_accounts_are_its_merchants(store: Store, citizen: Principal) -> None:
    """Linked merchants' accounts; ``org:<id>`` of a merchant acting for none reaches its own; never a citizen's."""
    acme = [store.create_principal(f"till {i}", Role.merchant, organisation="org:acme") for i in (1, 2)]
    kiosk = store.create_principal("kiosk", Role.merchant)
    store.set_account_holders([(7, acme[1].id), (3, acme[0].id), (5, kiosk.id), (9, citizen.id)])
    assert store.accounts_of_organisation("org:acme") == [3, 7]
    assert store.accounts_of_organisation("org:acme", limit=1) == [3]
    assert store.accounts_of_organisation("org:" + kiosk.id) == [5]
    assert store.accounts_of_organisation("org:" + acme[0].id) == []  # it acts for acme, not for itself
    assert store.accounts_of_organisation("org:" + citizen.id) == []
    assert store.accounts_of_organisation("org:nobody") == []


@pytest.mark.parametrize(
    "case",
    [
        ([1, 2], ["P"], "holders"),
        ([], [], "holders"),
        ([1.0], ["P"], "holders"),
        ([1], [7], "holders"),
        ([1, 0], ["P", "P"], "holders[1].account_id"),
        ([1, -5], ["P", "P"], "holders[1].account_id"),
        ([1, 2], ["P", "p_0123456789ABCDEF"], "holders[1].principal_id"),
        ([1, 2], ["P", "p_0123456789abcdef0"], "holders[1].principal_id"),
        ([1, 2], ["P", "p_0123"], "holders[1].principal_id"),
        ([4, 2, 4], ["P", "P", "O"], "holders[2].principal_id"),
    ],
)
def test_columns__refused_as_the_pairs_are(
    store: Store, citizen: Principal, officer: Principal, case: tuple[list[float], list[object], str]
) -> None:
    """Columns of another shape or type, ids out of range, bad or clashing holders: the field named, nothing set."""
    account_ids, principal_ids, field = case
    named = {"P": citizen.id, "O": officer.id}
    holders = np.array([named.get(p, p) if isinstance(p, str) else p for p in principal_ids])
    with pytest.raises((InvalidInputError, BatchSizeError)) as caught:
        store.set_account_holder_columns(np.array(account_ids), holders)
    assert caught.value.field == field
    assert store.accounts_held_by(citizen.id) == []


def test_columns__a_batch_too_long_is_refused(store: Store, citizen: Principal) -> None:
    """More than a batch of holders is a BatchSizeError, as for pairs."""
    ids = np.arange(1, BATCH_SIZE_MAX + 2, dtype=np.int64)
    with pytest.raises(BatchSizeError):
        store.set_account_holder_columns(ids, np.full(len(ids), citizen.id))


def test_cycle__a_transaction_a_part_those_before_a_refusal_stay(
    store: Store, citizen: Principal, officer: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In parts of two (principal, then account order): a clash in the second keeps the first, writes no later one."""
    monkeypatch.setattr(holders_module, "PASS_PART_ROWS", 2)
    store.set_account_holders([(4, officer.id)])
    with pytest.raises(ConflictError) as caught:
        store.set_cycle_account_holder_columns(np.array([5, 4, 3, 2, 1]), np.full(5, citizen.id))
    assert caught.value.field == "holders[1].account_id"
    assert store.account_holders([1, 2, 3, 4, 5]) == {1: citizen.id, 2: citizen.id, 4: officer.id}
    assert (store.accounts_held_by(citizen.id), store.accounts_held_by(officer.id)) == ([1, 2], [4])


def test_cycle__in_principal_order_whatever_the_callers(citizen: Principal, officer: Principal) -> None:
    """The order the pass records in: by principal id as text; equal ones in the order given (account order)."""
    holders = np.array([officer.id, citizen.id, officer.id, "p_ffffffffffffffff", "p_0000000000000000"])
    order = holders_module.by_principal(holders).tolist()
    assert holders[order].tolist() == sorted(holders.tolist())
    assert order.index(0) < order.index(2)
