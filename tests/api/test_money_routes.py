"""Who may create money, over HTTP: the attacks of issue 15, registers, two admins, issuance on record, supply."""

from __future__ import annotations

import numpy as np

from tessera.api.routes.ledger import _check_transfers
from tessera.api.schemas import AccountPublic
from tessera.auth import Action, authorize
from tessera.cli.seed import issue_key
from tessera.errors import ForbiddenError
from tessera.ledger import Account, Transfer
from tessera.ledger.records import encode_transfers
from tessera.money import AccountKind
from tessera.service import Caller
from tests.api.world import ALICE, BOB, ISSUER, MONEY, SHOP, World

WALLET = {"ledger": MONEY, "kind": "wallet", "flags": ["debits_must_not_exceed_credits"]}
MINT = {"ledger": MONEY, "kind": "issuance", "flags": ["credits_must_not_exceed_debits"]}


def _open(world: World, who: str, account: dict[str, object], purpose: str | None = None) -> dict[str, object]:
    response = world.client.post("/v1/ledger/accounts", json={"accounts": [account]}, headers=world.as_(who, purpose))
    return {"status": response.status_code, **response.json()}


def _pay(world: World, who: str, *transfers: dict[str, object]) -> dict[str, object]:
    body = {"transfers": [{"ledger": MONEY, "code": 1, **t} for t in transfers]}
    response = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_(who))
    return {"status": response.status_code, **response.json()}


def _ledger_entries(world: World, ledger_id: int) -> list[tuple[str, tuple[str, ...], str]]:
    found = world.services.access_log.entries_for_subject(f"ledger:{ledger_id}", limit=100)
    return [(e.principal, tuple(e.fields), e.outcome) for _, e in found]


class TestWhoMayCreateMoney:
    def test_another_agencys_officer_cannot_mint_and_pay_a_citizen(self, world: World) -> None:
        """The attack of issue 15: a tax officer opens an account that can go negative and pays alice from it."""
        assert _open(world, "tax-officer", {"id": 70, **MINT})["status"] == 403
        negative_system = {"id": 71, "ledger": MONEY, "kind": "system"}
        refused = _open(world, "tax-officer", negative_system)
        assert refused["status"] == 400 and refused["field"] == "accounts[0].flags"
        assert not world.services.ledger.lookup_accounts([70, 71])
        paid = _pay(
            world, "tax-officer", {"id": 700, "debit_account_id": 70, "credit_account_id": ALICE, "amount": 10**9}
        )
        assert paid["status"] == 403
        assert world.services.ledger.lookup_accounts([ALICE])[0].balance == 10_000

    def test_an_agencys_own_account_cannot_go_negative(self, world: World) -> None:
        """The tax office may hold a system account, but it carries the non-negative flag: no money from nothing."""
        account = {"id": 72, "ledger": MONEY, "kind": "system", "flags": ["debits_must_not_exceed_credits"]}
        assert _open(world, "tax-officer", account)["results"] == [{"index": 0, "status": "ok"}]
        paid = _pay(world, "tax-officer", {"id": 720, "debit_account_id": 72, "credit_account_id": ALICE, "amount": 5})
        assert paid["results"] == [{"index": 0, "status": "exceeds_credits"}]

    def test_nobody_opens_a_citizens_wallet_that_can_be_overdrawn(self, world: World) -> None:
        """Even the central bank: a person's wallet always carries debits_must_not_exceed_credits."""
        alice = world.principals["alice"].id
        for who in ("bank", "tax-officer"):
            bare = _open(world, who, {"id": 73, "ledger": MONEY, "kind": "wallet", "holder": alice}, "open wallet")
            assert bare["status"] == 400 and bare["field"] == "accounts[0].flags"
        issuance = _open(world, "bank", {"id": 73, **MINT, "holder": alice}, "open wallet")
        assert issuance["status"] == 403 and not world.services.ledger.lookup_accounts([73])

    def test_the_central_bank_opens_a_reserve_and_issuance_is_on_the_record(self, world: World) -> None:
        """Opening an issuance account and paying out of one are logged under the ledger, with the amount."""
        assert _open(world, "bank", {"id": 74, **MINT})["results"] == [{"index": 0, "status": "ok"}]
        bank = world.principals["bank"].id
        assert _ledger_entries(world, MONEY) == [(bank, ("ledger.issuance_account",), "opened")]
        paid = _pay(
            world,
            "bank",
            {"id": 740, "debit_account_id": 74, "credit_account_id": ALICE, "amount": 300},
            {"id": 741, "debit_account_id": 74, "credit_account_id": 999, "amount": 5},
        )
        assert [r["status"] for r in paid["results"]] == ["ok", "account_not_found"]
        assert _ledger_entries(world, MONEY)[0] == (bank, ("ledger.issuance",), "issued 300 in 1 of 2 transfers")

    def test_an_unregistered_ledger_is_refused_naming_the_item(self, world: World) -> None:
        """Opening a minting account on a ledger nobody registered is 404 naming the item's ledger."""
        refused = _open(world, "bank", {"id": 75, **{**MINT, "ledger": 9}})
        assert refused["status"] == 404 and refused["field"] == "accounts[0].ledger"

    def test_json_integers_are_strict(self, world: World) -> None:
        """`true` is not 1 and "5" is not 5: an amount must be an integer."""
        for amount in (True, "5", 5.0):
            paid = _pay(
                world, "alice", {"id": 760, "debit_account_id": ALICE, "credit_account_id": SHOP, "amount": amount}
            )
            assert paid["status"] == 422, amount
        assert not world.services.ledger.lookup_transfers([760])


class TestSettlements:
    def test_a_hold_that_lands_between_check_and_apply_is_judged_as_it_applies(self, world: World) -> None:
        """Alice's void names a hold not yet there; bob places it before her batch applies: refused, hold intact."""
        void = encode_transfers([Transfer(801, pending_id=800, flags=8)])  # void_pending_transfer
        caller = Caller(
            world.principals["alice"], authorize(world.principals["alice"], Action.ledger_transfers_create), ""
        )
        check = _check_transfers(world.services, caller, void)
        assert check.settle_guard is not None  # passed the first check: the hold was unknown
        hold = Transfer(800, BOB, SHOP, 100, MONEY, 2, flags=2, timeout=60)  # pending
        assert world.services.ledger.create_transfers([hold]).all_ok
        try:
            world.services.ledger.create_transfers(void, settle_guard=check.settle_guard)
        except ForbiddenError as error:
            assert "pending_id" in str(error) and str(BOB) not in str(error)
        else:
            raise AssertionError("a stranger voided bob's hold")
        assert not world.services.ledger.lookup_transfers([801])
        assert world.services.ledger.lookup_accounts([BOB])[0].debits_pending == 100

    def test_the_holder_settles_a_hold_that_lands_between_check_and_apply(self, world: World) -> None:
        """The guard refuses strangers only: the shop posts a hold alice placed after the check."""
        post = encode_transfers([Transfer(811, pending_id=810, flags=4)])  # post_pending_transfer
        caller = Caller(
            world.principals["shop"], authorize(world.principals["shop"], Action.ledger_transfers_create), ""
        )
        check = _check_transfers(world.services, caller, post)
        assert world.services.ledger.create_transfers([Transfer(810, ALICE, SHOP, 40, MONEY, 2, flags=2)]).all_ok
        assert world.services.ledger.create_transfers(post, settle_guard=check.settle_guard).all_ok


class TestReadsThroughOwnAccounts:
    def test_the_bank_reading_its_reserve_needs_a_purpose_and_each_person_is_logged(self, world: World) -> None:
        """Issue 15: the issuance account's transfers show citizens' wallets and amounts."""
        refused = world.client.get(f"/v1/ledger/accounts/{ISSUER}/transfers", headers=world.as_("bank"))
        assert refused.status_code == 403 and refused.json()["code"] == "purpose_required"
        read = world.client.get(f"/v1/ledger/accounts/{ISSUER}/transfers", headers=world.as_("bank", "reserve audit"))
        assert read.status_code == 200 and len(read.json()["transfers"]) == 2
        for person in ("alice", "bob"):
            entries = world.client.get("/v1/me/access-log", headers=world.as_(person)).json()["entries"]
            assert (entries[0]["purpose"], entries[0]["outcome"]) == ("reserve audit", "read")
            assert entries[1]["outcome"] == "denied: no purpose"

    def test_a_merchant_reading_its_till_is_logged_for_the_payers(self, world: World) -> None:
        """A merchant reading its till's transfers reads its payers' data, so each payer's log shows it."""
        paid = _pay(
            world, "alice", {"id": 900, "debit_account_id": ALICE, "credit_account_id": SHOP, "amount": 7, "code": 2}
        )
        assert paid["results"] == [{"index": 0, "status": "ok"}]
        read = world.client.get(f"/v1/ledger/accounts/{SHOP}/transfers", headers=world.as_("shop"))
        assert read.status_code == 200
        entries = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"]
        assert entries[0]["principal"] == world.principals["shop"].id and entries[0]["fields"] == ["ledger.transfers"]


class TestSupply:
    def test_the_auditor_sees_issued_equal_to_what_is_held(self, world: World) -> None:
        """15,000 issued: all of it in two wallets, then partly at the shop; reconciled throughout."""
        supply = world.client.get("/v1/ledger/supply", headers=world.as_("auditor"))
        assert supply.status_code == 200, supply.text
        (money,) = supply.json()["ledgers"]
        assert money["issued"] == money["in_circulation"] == 15_000 and money["reconciled"]
        assert money["held"]["wallet"]["balance"] == 15_000 and money["unit"]["issuer"] == "central-bank"
        _pay(
            world,
            "alice",
            {"id": 910, "debit_account_id": ALICE, "credit_account_id": SHOP, "amount": 2_500, "code": 2},
        )
        (money,) = world.client.get("/v1/ledger/supply", headers=world.as_("auditor")).json()["ledgers"]
        assert money["held"]["merchant"]["balance"] == 2_500 and money["reconciled"] and money["problems"] == []

    def test_money_made_outside_issuance_is_a_problem_the_report_names(self, world: World) -> None:
        """An account opened around the API (no flag, wallet code) that went negative: not reconciled."""
        world.services.ledger.create_accounts([Account(60, MONEY, AccountKind.wallet)])
        world.services.ledger.create_transfers([Transfer(600, 60, ALICE, 1, MONEY, 1)])
        (money,) = world.client.get("/v1/ledger/supply", headers=world.as_("auditor")).json()["ledgers"]
        assert not money["reconciled"] and "below zero" in money["problems"][0]

    def test_only_auditors_read_the_supply(self, world: World) -> None:
        """Citizens, the bank, admins and merchants are forbidden the money supply: only auditors read it."""
        for who in ("alice", "bank", "admin", "shop"):
            assert world.client.get("/v1/ledger/supply", headers=world.as_(who)).status_code == 403


class TestRegistersAndTwoAdmins:
    def test_agencies_and_ledgers_are_public_to_every_role(self, world: World) -> None:
        """Any role may list the agencies and the ledgers with their issuer and decimals."""
        agencies = world.client.get("/v1/agencies", headers=world.as_("alice")).json()["agencies"]
        assert {"central-bank", "courts", "civil-registry"} <= {a["id"] for a in agencies}
        (currency,) = world.client.get("/v1/ledgers", headers=world.as_("shop")).json()["ledgers"]
        assert (currency["id"], currency["issuer"], currency["decimals"]) == (MONEY, "central-bank", 2)

    def test_an_admin_registers_an_agency_and_an_officer_may_then_act_for_it(self, world: World) -> None:
        """Only an admin registers an agency, once; an officer may then be made to act for it."""
        made = world.client.post(
            "/v1/agencies", json={"id": "energy-ministry", "title": "Ministry of Energy"}, headers=world.as_("admin")
        )
        assert made.status_code == 201 and made.json()["registered_by"] == world.principals["admin"].id
        again = world.client.post(
            "/v1/agencies", json={"id": "energy-ministry", "title": "x"}, headers=world.as_("admin")
        )
        assert again.status_code == 409
        assert (
            world.client.post("/v1/agencies", json={"id": "x", "title": "x"}, headers=world.as_("bank")).status_code
            == 403
        )
        inspector = world.services.store.create_principal(
            "pump-inspector", world.principals["bank"].role, agency="energy-ministry"
        )
        assert inspector.agency == "energy-ministry"

    def test_a_key_for_a_central_bank_officer_takes_two_admins_and_works_once_approved(self, world: World) -> None:
        """Admin 1 asks, admin 1 cannot approve, admin 2 approves and gets the key: it opens a reserve."""
        second = world.services.store.create_principal("admin-2", world.principals["admin"].role)
        token_2 = issue_key(world.services, second)
        terms = {"kind": "officer_key", "name": "new-banker", "agency": "central-bank"}
        asked = world.client.post("/v1/admin/requests", json={"terms": terms}, headers=world.as_("admin"))
        assert asked.status_code == 201, asked.text
        request_id = asked.json()["id"]
        own = world.client.post(f"/v1/admin/requests/{request_id}/approve", headers=world.as_("admin"))
        assert own.status_code == 403
        pending = world.client.get("/v1/admin/requests", headers={"Authorization": f"Bearer {token_2}"}).json()
        assert [r["id"] for r in pending["requests"]] == [request_id]
        approved = world.client.post(
            f"/v1/admin/requests/{request_id}/approve", headers={"Authorization": f"Bearer {token_2}"}
        )
        assert approved.status_code == 200, approved.text
        token = approved.json()["token"]
        opened = world.client.post(
            "/v1/ledger/accounts", json={"accounts": [{"id": 77, **MINT}]}, headers={"Authorization": f"Bearer {token}"}
        )
        assert opened.json()["results"] == [{"index": 0, "status": "ok"}]

    def test_a_ledger_takes_two_admins(self, world: World) -> None:
        """A new ledger exists only once a second admin approves the first one's request, and both are named."""
        second = world.services.store.create_principal("admin-2", world.principals["admin"].role)
        terms = {"kind": "ledger", "id": 7, "name": "fuel-quota", "unit": "litre", "decimals": 1, "issuer": "courts"}
        asked = world.client.post("/v1/admin/requests", json={"terms": terms}, headers=world.as_("admin")).json()
        assert world.services.ledger_units.get(7) is None
        world.services.admin_requests.approve(asked["id"], second)
        (fuel,) = [
            u for u in world.client.get("/v1/ledgers", headers=world.as_("alice")).json()["ledgers"] if u["id"] == 7
        ]
        assert fuel["approved_by"] == second.id and fuel["requested_by"] == world.principals["admin"].id

    def test_bad_request_terms_name_the_field(self, world: World) -> None:
        """Bad request terms answer 422 naming the field, and an unknown agency 404 naming agency."""
        terms = {"kind": "ledger", "id": 0, "name": "x", "unit": "u", "decimals": 2, "issuer": "courts"}
        refused = world.client.post("/v1/admin/requests", json={"terms": terms}, headers=world.as_("admin"))
        assert refused.status_code == 422 and "id" in refused.json()["field"]
        unknown = {"kind": "officer_key", "name": "n", "agency": "mint-of-mars"}
        missing = world.client.post("/v1/admin/requests", json={"terms": unknown}, headers=world.as_("admin"))
        assert missing.status_code == 404 and missing.json()["field"] == "agency"


def test_an_unknown_kind_code_shows_as_none() -> None:
    """Accounts from before kinds (a code no kind has) read back with kind null, never a 500."""
    assert AccountPublic.of(Account(1, 1, 77)).kind is None
    assert AccountPublic.of(Account(1, 1, 2)).kind == "wallet"
    assert np.uint16(AccountKind.system) == 5
