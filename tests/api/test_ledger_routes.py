"""Contract tests for the ledger routes: shapes, ownership, batches refused whole, logged looks."""

from __future__ import annotations

import numpy as np

from tessera.ledger import TRANSFER_DTYPE, CreateTransferStatus, Transfer
from tessera.ledger.records import encode_transfers
from tessera.limits import BATCH_SIZE_MAX
from tests.api.world import ALICE, BOB, ISSUER, MONEY, SHOP, World

PACKED = {"Content-Type": "application/octet-stream"}
WALLET = {"ledger": MONEY, "kind": "wallet", "flags": ["debits_must_not_exceed_credits"]}


def _pay(id_: int, debit: int, credit: int, amount: int, **extra: object) -> dict[str, object]:
    return {
        "id": id_,
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": amount,
        "ledger": MONEY,
        "code": 2,
        **extra,
    }


class TestAccounts:
    def test_officer_opens_accounts_for_itself_and_results_come_per_item(self, world: World) -> None:
        """Each account gets a result at its index; an existing id is a status, not an error."""
        reserve = {"ledger": 1, "kind": "issuance", "flags": ["credits_must_not_exceed_debits"]}
        body = {"accounts": [{"id": 10, **reserve}, {"id": ISSUER, **reserve}]}
        response = world.client.post("/v1/ledger/accounts", json=body, headers=world.as_("bank"))
        assert response.status_code == 200, response.text
        assert response.json() == {"results": [{"index": 0, "status": "ok"}, {"index": 1, "status": "exists"}]}

    def test_opening_a_citizens_wallet_needs_a_purpose_and_is_logged_for_them(self, world: World) -> None:
        """Without X-Tessera-Purpose: 403 purpose_required and nothing opened; with it, alice sees it."""
        body = {"accounts": [{"id": 20, **WALLET, "holder": world.principals["alice"].id}]}
        refused = world.client.post("/v1/ledger/accounts", json=body, headers=world.as_("bank"))
        assert refused.status_code == 403 and refused.json()["code"] == "purpose_required"
        assert not world.services.ledger.lookup_accounts([20])
        opened = world.client.post("/v1/ledger/accounts", json=body, headers=world.as_("bank", "second wallet"))
        assert opened.json()["results"][0]["status"] == "ok"
        log = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"]
        assert log[0]["purpose"] == "second wallet" and log[0]["fields"] == ["ledger.account"]

    def test_an_account_held_by_someone_else_cannot_be_taken_over(self, world: World) -> None:
        """Re-opening alice's account id for another holder is a conflict; the holder stays alice."""
        body = {"accounts": [{"id": ALICE, **WALLET, "holder": world.principals["bob"].id}]}
        response = world.client.post("/v1/ledger/accounts", json=body, headers=world.as_("bank", "bob's wallet"))
        assert response.status_code == 409 and response.json()["code"] == "conflict"
        assert world.services.holders([ALICE]) == {ALICE: world.principals["alice"].id}

    def test_unknown_holder_is_not_found_naming_the_item(self, world: World) -> None:
        """Opening an account for a holder nobody registered is 404 naming the account's item in the batch."""
        body = {"accounts": [{"id": 30, **WALLET, "holder": "p_0000000000000000"}]}
        response = world.client.post("/v1/ledger/accounts", json=body, headers=world.as_("bank"))
        assert response.status_code == 404 and response.json()["field"] == "accounts[0].holder"


class TestTransfers:
    def test_citizen_pays_from_own_wallet_in_json(self, world: World) -> None:
        """Alice pays the shop; the reply lists one result per transfer."""
        body = {"transfers": [_pay(100, ALICE, SHOP, 300), _pay(101, ALICE, SHOP, 10**9)]}
        response = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("alice"))
        assert response.status_code == 200, response.text
        assert [r["status"] for r in response.json()["results"]] == ["ok", "exceeds_credits"]
        shop = world.client.get(f"/v1/ledger/accounts/{SHOP}", headers=world.as_("shop")).json()
        assert shop["balance"] == 300

    def test_packed_records_in_give_packed_statuses_out(self, world: World) -> None:
        """128-byte records in, one little-endian u32 status per record out."""
        batch = encode_transfers([Transfer(200, ALICE, SHOP, 5, MONEY, 2), Transfer(200, ALICE, SHOP, 5, MONEY, 2)])
        response = world.client.post(
            "/v1/ledger/transfers", content=batch.tobytes(), headers={**world.as_("alice"), **PACKED}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert np.frombuffer(response.content, "<u4").tolist() == [CreateTransferStatus.ok, CreateTransferStatus.exists]

    def test_a_batch_with_one_foreign_debit_is_refused_whole(self, world: World) -> None:
        """Alice may not debit Bob: 403 naming the item, and her own transfer in the batch is not made."""
        body = {"transfers": [_pay(300, ALICE, SHOP, 1), _pay(301, BOB, SHOP, 1)]}
        response = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("alice"))
        assert response.status_code == 403
        assert response.json()["detail"].startswith("transfers[1].debit_account_id")
        assert not world.services.ledger.lookup_transfers([300, 301])

    def test_officer_debits_only_its_agencys_accounts(self, world: World) -> None:
        """The bank issues from its reserve; the tax officer (another agency) may not."""
        body = {"transfers": [_pay(400, ISSUER, ALICE, 50, code=1)]}
        assert world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("tax-officer")).status_code == 403
        issued = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("bank"))
        assert issued.json()["results"] == [{"index": 0, "status": "ok"}]
        log = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"]
        assert log[0]["fields"] == ["ledger.transfer"] and log[0]["role"] == "officer"

    def test_merchant_settles_a_hold_the_customer_placed(self, world: World) -> None:
        """Alice reserves at the shop; the shop posts part of it; Bob may not void it."""
        hold = _pay(500, ALICE, SHOP, 2_000, flags=["pending"], timeout=60)
        assert (
            world.client.post(
                "/v1/ledger/transfers", json={"transfers": [hold]}, headers=world.as_("alice")
            ).status_code
            == 200
        )
        void = {"transfers": [{"id": 501, "pending_id": 500, "flags": ["void_pending_transfer"]}]}
        assert world.client.post("/v1/ledger/transfers", json=void, headers=world.as_("bob")).status_code == 403
        post = {"transfers": [{"id": 502, "pending_id": 500, "amount": 1_500, "flags": ["post_pending_transfer"]}]}
        response = world.client.post("/v1/ledger/transfers", json=post, headers=world.as_("shop"))
        assert response.json()["results"] == [{"index": 0, "status": "ok"}]
        assert world.services.ledger.lookup_accounts([SHOP])[0].balance == 1_500

    def test_settling_an_unknown_hold_reads_as_settling_someone_elses(self, world: World) -> None:
        """A hold that does not exist and a hold of someone else's get the same 403: ids do not leak."""
        hold = _pay(505, BOB, SHOP, 100, flags=["pending"], timeout=60)
        assert world.client.post("/v1/ledger/transfers", json={"transfers": [hold]}, headers=world.as_("bob"))
        answers = []
        for pending_id in (9999, 505):
            post = {"transfers": [{"id": 510, "pending_id": pending_id, "flags": ["post_pending_transfer"]}]}
            response = world.client.post("/v1/ledger/transfers", json=post, headers=world.as_("alice"))
            answers.append((response.status_code, response.json()["detail"].replace(str(pending_id), "N")))
        assert answers[0] == answers[1] and answers[0][0] == 403
        assert not world.services.ledger.lookup_transfers([510])

    def test_a_hold_placed_earlier_in_the_batch_can_be_settled_in_it(self, world: World) -> None:
        """The payer's own hold and its post in one batch: the post is checked against the hold's accounts."""
        hold = _pay(520, ALICE, SHOP, 700, flags=["pending"], timeout=60)
        post = {"id": 521, "pending_id": 520, "flags": ["post_pending_transfer"]}
        response = world.client.post(
            "/v1/ledger/transfers", json={"transfers": [hold, post]}, headers=world.as_("alice")
        )
        assert [r["status"] for r in response.json()["results"]] == ["ok", "ok"]
        steal = {
            "transfers": [
                _pay(530, BOB, SHOP, 1, flags=["pending"]),
                {"id": 531, "pending_id": 530, "flags": ["post_pending_transfer"]},
            ]
        }
        refused = world.client.post("/v1/ledger/transfers", json=steal, headers=world.as_("alice"))
        assert refused.status_code == 403 and not world.services.ledger.lookup_transfers([530, 531])

    def test_bad_packed_body_is_400_naming_the_body(self, world: World) -> None:
        """A packed body that is not whole transfer records is 400 naming the body."""
        response = world.client.post(
            "/v1/ledger/transfers", content=b"x" * 100, headers={**world.as_("alice"), **PACKED}
        )
        assert response.status_code == 400 and response.json()["field"] == "body"

    def test_bad_json_item_is_422_naming_the_field(self, world: World) -> None:
        """A negative amount in a JSON transfer is 422 problem+json naming the item's field."""
        body = {"transfers": [_pay(600, ALICE, SHOP, -5)]}
        response = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("alice"))
        assert response.status_code == 422
        assert response.json()["field"] == "body.transfers[0].amount"
        assert response.headers["content-type"] == "application/problem+json"

    def test_a_transfer_without_a_ledger_is_422_listing_the_ledgers_to_choose_from(self, world: World) -> None:
        """Leaving ``ledger`` out is 422 naming the field, with the registered ledgers and where to list them."""
        pay = _pay(610, ALICE, SHOP, 5)
        del pay["ledger"]
        response = world.client.post("/v1/ledger/transfers", json={"transfers": [pay]}, headers=world.as_("alice"))
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["field"] == "body.transfers[0].ledger" and problem["code"] == "invalid_input"
        assert "1 (XTS, currency)" in problem["detail"] and "GET /v1/ledgers" in problem["detail"]
        assert not world.services.ledger.lookup_transfers([610])

    def test_ledger_zero_keeps_its_status_and_says_what_to_send(self, world: World) -> None:
        """An explicit ledger 0 is the ledger's own ``ledger_must_not_be_zero``, with a message naming the choices."""
        body = {"transfers": [_pay(611, ALICE, SHOP, 5, ledger=0)]}
        result = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("alice")).json()["results"][0]
        assert result["status"] == "ledger_must_not_be_zero"
        assert "send `ledger`" in result["message"] and "1 (XTS, currency)" in result["message"]

    def test_an_unknown_ledger_says_it_is_not_registered(self, world: World) -> None:
        """A ledger nobody registered is refused by status, with a message listing the registered ones."""
        body = {"transfers": [_pay(612, ALICE, SHOP, 5, ledger=99), _pay(613, ALICE, SHOP, 5)]}
        results = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("alice")).json()["results"]
        assert results[0]["status"] == "ledger_mismatch"
        assert results[0]["message"].startswith("ledger 99 is not registered; registered ledgers: 1 (XTS, currency)")
        assert results[1] == {"index": 1, "status": "ok"}

    def test_an_unsupported_content_type_is_refused(self, world: World) -> None:
        """A body in a content type the route does not take is refused naming Content-Type."""
        response = world.client.post(
            "/v1/ledger/transfers", content=b"{}", headers={**world.as_("alice"), "Content-Type": "text/plain"}
        )
        assert response.status_code == 400 and response.json()["field"] == "Content-Type"

    def test_oversized_batches_are_refused(self, world: World) -> None:
        """A packed batch one record over the limit is 422 batch_size naming transfers, before the ledger sees it."""
        batch = np.zeros(BATCH_SIZE_MAX + 1, dtype=TRANSFER_DTYPE)
        response = world.client.post(
            "/v1/ledger/transfers", content=batch.tobytes(), headers={**world.as_("alice"), **PACKED}
        )
        assert response.status_code == 422 and response.json()["field"] == "transfers"


class TestReads:
    def test_citizen_reads_own_account_and_its_transfers(self, world: World) -> None:
        """A citizen reads their own balance and transfers without stating a purpose."""
        account = world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=world.as_("alice"))
        assert account.status_code == 200 and account.json()["balance"] == 10_000
        transfers = world.client.get(f"/v1/ledger/accounts/{ALICE}/transfers", headers=world.as_("alice")).json()
        assert [t["id"] for t in transfers["transfers"]] == [1]

    def test_citizen_may_not_read_another_and_the_attempt_is_shown_to_the_holder(self, world: World) -> None:
        """Bob's account reads to alice as one that does not exist; bob sees she tried."""
        response = world.client.get(f"/v1/ledger/accounts/{BOB}", headers=world.as_("alice"))
        missing = world.client.get("/v1/ledger/accounts/999", headers=world.as_("alice"))
        assert response.status_code == missing.status_code == 404
        assert response.json()["detail"].replace(str(BOB), "N") == missing.json()["detail"].replace("999", "N")
        log = world.client.get("/v1/me/access-log", headers=world.as_("bob")).json()["entries"]
        assert log[0]["outcome"] == "denied" and log[0]["principal"] == world.principals["alice"].id

    def test_officer_reads_with_a_purpose_and_the_person_sees_who_and_why(self, world: World) -> None:
        """An officer must state a purpose; the person's log shows the read with purpose and agency, and the refusal."""
        refused = world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=world.as_("tax-officer"))
        assert refused.status_code == 403 and refused.json()["code"] == "purpose_required"
        ok = world.client.get(
            f"/v1/ledger/accounts/{ALICE}/transfers", headers=world.as_("tax-officer", "audit 2026/17")
        )
        assert ok.status_code == 200
        entries = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"]
        assert entries[0]["purpose"] == "audit 2026/17" and entries[0]["agency"] == "tax-office"
        assert entries[0]["outcome"] == "read" and entries[1]["outcome"] == "denied: no purpose"

    def test_a_transfer_is_readable_by_either_side_and_logged_for_an_officer(self, world: World) -> None:
        """Transfer 1 (bank to alice): alice may read it; bob may not; an officer needs a purpose, even the bank."""
        assert world.client.get("/v1/ledger/transfers/1", headers=world.as_("alice")).json()["amount"] == 10_000
        bank = world.client.get("/v1/ledger/transfers/1", headers=world.as_("bank"))
        assert bank.status_code == 403 and bank.json()["code"] == "purpose_required"
        audited = world.client.get("/v1/ledger/transfers/1", headers=world.as_("bank", "issuance audit"))
        assert audited.status_code == 200
        assert world.client.get("/v1/ledger/transfers/1", headers=world.as_("bob")).status_code == 404
        refused = world.client.get("/v1/ledger/transfers/1", headers=world.as_("tax-officer"))
        assert refused.json()["code"] == "purpose_required"
        read = world.client.get("/v1/ledger/transfers/1", headers=world.as_("tax-officer", "refund check"))
        assert read.status_code == 200
        entry = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"][0]
        assert entry["fields"] == ["ledger.transfer"] and entry["purpose"] == "refund check"
        assert world.client.get("/v1/ledger/transfers/424242", headers=world.as_("alice")).status_code == 404

    def test_unknown_account_is_404(self, world: World) -> None:
        """Reading an account that does not exist is 404 naming account_id."""
        response = world.client.get("/v1/ledger/accounts/999", headers=world.as_("alice"))
        assert response.status_code == 404 and response.json()["field"] == "account_id"

    def test_a_citizen_reading_own_data_leaves_no_entry(self, world: World) -> None:
        """A citizen reading their own account adds nothing to the access log, which records others' reads."""
        before = world.services.access_log.size
        world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=world.as_("alice"))
        assert world.services.access_log.size == before
