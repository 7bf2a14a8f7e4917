"""Payment requests: a shop asks, the payer reads and pays once, never after expiry; incoming payments; restarts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tessera.api import create_app
from tests.api.world import ALICE, BOB, SHOP, World, make_world, settings_for

REQUEST = {"amount": "12.50", "currency": "XTS", "description": "two loaves and milk", "wallet": SHOP}


def ask(world: World, body: dict[str, Any] | None = None, who: str = "shop") -> httpx.Response:
    return world.client.post("/v1/payment-requests", json=body or REQUEST, headers=world.as_(who))


def pay(world: World, who: str, body: dict[str, Any], key: str = "key-1") -> httpx.Response:
    return world.client.post("/v1/me/payments", json=body, headers={**world.as_(who), "Idempotency-Key": key})


def balance(world: World, account_id: int) -> int:
    return world.services.ledger.lookup_accounts([account_id])[0].balance


class TestPaymentRequests:
    def test_a_shop_asks__an_id_and_a_qr_payload(self, world: World) -> None:
        """The answer has the request's id, its QR text with amount and currency, and its expiry in RFC 3339."""
        response = ask(world, {**REQUEST, "expires_in": "15m"})
        assert response.status_code == 201, response.text
        asked = response.json()
        assert asked["payload"] == f"tessera:pay?request={asked['id']}&amount=12.50&currency=XTS"
        assert (asked["status"], asked["amount_minor"], asked["payee_wallet"]) == ("open", 1250, SHOP)
        assert asked["expires_at_ns"] - asked["created_at_ns"] == 900 * 10**9
        assert asked["expires_at"].endswith("Z") and asked["transfer_id"] is None

    def test_the_payer_reads_it_then_pays_it_once(self, world: World) -> None:
        """Alice reads the request, pays it without restating the amount; it shows paid with the transfer."""
        world.client.post("/v1/me/aliases", json={"alias": "corner-grocer", "wallet": SHOP}, headers=world.as_("shop"))
        asked = ask(world, {**REQUEST, "wallet": None, "alias": "corner-grocer"}).json()
        read = world.client.get(f"/v1/payment-requests/{asked['id']}", headers=world.as_("alice")).json()
        assert (read["payee_alias"], read["payee_wallet"], read["description"]) == (
            "corner-grocer",
            SHOP,
            "two loaves and milk",
        )
        assert world.principals["shop"].id not in str(read)
        paid = pay(world, "alice", {"to": {"request": asked["id"]}})
        assert paid.status_code == 200, paid.text
        assert (paid.json()["amount"], paid.json()["request_id"]) == ("12.50", asked["id"])
        after = world.client.get(f"/v1/payment-requests/{asked['id']}", headers=world.as_("bob")).json()
        assert (after["status"], after["transfer_id"]) == ("paid", paid.json()["transfer_id"])
        assert after["paid_at"] is not None and balance(world, SHOP) == 1250

    def test_a_paid_request_is_not_paid_again(self, world: World) -> None:
        """A second payer, or the first with a new key, meets 409 payment_request_closed; nothing moves."""
        asked = ask(world).json()
        pay(world, "alice", {"to": {"request": asked["id"]}})
        for who, key in (("bob", "key-1"), ("alice", "key-2")):
            response = pay(world, who, {"to": {"request": asked["id"]}}, key=key)
            assert response.status_code == 409 and response.json()["code"] == "payment_request_closed"
        assert (balance(world, ALICE), balance(world, BOB), balance(world, SHOP)) == (8750, 5000, 1250)

    def test_an_expired_request_is_not_paid(self, world: World) -> None:
        """Past its expiry a request shows expired and refuses payment."""
        expired = world.services.payment_requests.create(
            world.principals["shop"].id,
            account_id=SHOP,
            ledger=1,
            amount=100,
            description="yesterday's bread",
            alias=None,
            expires_at_ns=time.time_ns() - 1,
        )
        read = world.client.get(f"/v1/payment-requests/{expired.id}", headers=world.as_("alice")).json()
        assert read["status"] == "expired"
        response = pay(world, "alice", {"to": {"request": expired.id}})
        assert response.status_code == 409 and "expired" in response.json()["detail"]

    def test_a_refused_payment_leaves_the_request_open(self, world: World) -> None:
        """Bob cannot afford 80.00: refused, and the request stays open for Alice to pay."""
        asked = ask(world, {**REQUEST, "amount": "80.00"}).json()
        refused = pay(world, "bob", {"to": {"request": asked["id"]}})
        assert refused.status_code == 422 and refused.json()["code"] == "payment_refused"
        assert pay(world, "alice", {"to": {"request": asked["id"]}}).status_code == 200

    def test_an_amount_sent_must_match_the_request(self, world: World) -> None:
        """Restating the amount is allowed only if it is the request's."""
        asked = ask(world).json()
        response = pay(world, "alice", {"amount": "1.00", "currency": "XTS", "to": {"request": asked["id"]}})
        assert response.status_code == 400 and response.json()["field"] == "amount"
        same = pay(world, "alice", {"amount": "12.5", "currency": "XTS", "to": {"request": asked["id"]}}, key="k2")
        assert same.status_code == 200

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"amount": "1.234"}, "amount"),
            ({"amount": "0"}, "amount"),
            ({"expires_in": "forever"}, "expires_in"),
            ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
            ({"currency": "EUR"}, "wallet"),
            ({"wallet": ALICE}, "wallet"),
            ({"description": "\u202e"}, "description"),
        ],
    )
    def test_refusals_name_the_field(self, world: World, change: dict[str, Any], field: str) -> None:
        """A bad amount, expiry, currency, someone else's wallet or a hidden character is refused, naming it."""
        response = ask(world, {**REQUEST, **change})
        assert response.status_code in (400, 403, 404), response.text
        assert response.json().get("field", response.json()["detail"].split(":")[0]) == field

    def test_an_unknown_request__404(self, world: World) -> None:
        """A request id no one made is not found, to read or to pay."""
        missing = "pr_0000000000000000"
        assert world.client.get(f"/v1/payment-requests/{missing}", headers=world.as_("alice")).status_code == 404
        assert pay(world, "alice", {"to": {"request": missing}}).status_code == 404


class TestIncoming:
    def test_newest_first_a_page_at_a_time(self, world: World) -> None:
        """The shop lists what came in, newest first; the cursor pages back to the oldest."""
        for i, who in enumerate(("alice", "bob", "alice")):
            body = {"amount": f"{i + 1}.00", "currency": "XTS", "to": {"wallet": SHOP}}
            assert pay(world, who, body, key=f"k{i}").status_code == 200
        first = world.client.get("/v1/me/payments/incoming?limit=2", headers=world.as_("shop")).json()
        assert [p["amount"] for p in first["payments"]] == ["3.00", "2.00"]
        assert first["payments"][0]["received_at"].endswith("Z") and first["payments"][1]["from_wallet"] == BOB
        rest = world.client.get(
            f"/v1/me/payments/incoming?limit=2&cursor={first['next_cursor']}", headers=world.as_("shop")
        ).json()
        assert [p["amount"] for p in rest["payments"]] == ["1.00"] and rest["next_cursor"] is None

    def test_only_payments_into_ones_own_accounts(self, world: World) -> None:
        """Alice's incoming list has her issuance, not the shop's takings."""
        pay(world, "alice", {"amount": "1.00", "currency": "XTS", "to": {"wallet": SHOP}})
        listed = world.client.get("/v1/me/payments/incoming", headers=world.as_("alice")).json()["payments"]
        assert [(p["to_wallet"], p["amount"]) for p in listed] == [(ALICE, "100.00")]

    def test_a_bad_cursor__400(self, world: World) -> None:
        """A cursor that no answer gave is refused, naming it."""
        response = world.client.get("/v1/me/payments/incoming?cursor=yesterday", headers=world.as_("shop"))
        assert response.status_code == 400 and response.json()["field"] == "cursor"

    def test_waiting_with_nothing_new__an_empty_answer_with_the_same_cursor(self, world: World) -> None:
        """A long-poll that meets nothing ends empty (the wait is cut to the server's bound) and keeps the cursor."""
        latest = world.client.get("/v1/me/payments/incoming", headers=world.as_("alice")).json()["latest_cursor"]
        response = world.client.get(f"/v1/me/payments/incoming?after={latest}&wait=30", headers=world.as_("alice"))
        assert response.json() == {"payments": [], "next_cursor": None, "latest_cursor": latest}


@pytest.fixture
def following(tmp_path: Path) -> Iterator[World]:
    """A world whose long-polls may wait the full 30 seconds."""
    app = create_app(settings_for(tmp_path, incoming_wait_max_s=30.0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield make_world(client)


def test_a_long_poll_answers_when_a_payment_arrives(following: World) -> None:
    """A shop waiting on ?after=&wait= gets Alice's payment as it lands, not only after the wait."""
    world = following
    results: list[dict[str, Any]] = []

    def follow() -> None:
        url = "/v1/me/payments/incoming?after=t1&wait=30"
        results.append(world.client.get(url, headers=world.as_("shop")).json())

    waiter = threading.Thread(target=follow)
    waiter.start()
    assert pay(world, "alice", {"amount": "4.20", "currency": "XTS", "to": {"wallet": SHOP}}).status_code == 200
    waiter.join(60)
    (answer,) = results
    assert [p["amount"] for p in answer["payments"]] == ["4.20"]
    assert answer["latest_cursor"] == f"t{answer['payments'][0]['received_at_ns']}"


def test_aliases_requests_and_keys_survive_a_restart(tmp_path: Path) -> None:
    """After a restart the alias still resolves, the request is still paid, and a retried key still pays once."""
    with TestClient(create_app(settings_for(tmp_path)), raise_server_exceptions=False) as client:
        world = make_world(client)
        world.client.post("/v1/me/aliases", json={"alias": "corner-grocer", "wallet": SHOP}, headers=world.as_("shop"))
        asked = ask(world).json()
        paid = pay(world, "alice", {"to": {"request": asked["id"]}}).json()
        tokens = world.tokens
    with TestClient(create_app(settings_for(tmp_path)), raise_server_exceptions=False) as client:
        alice = {"Authorization": f"Bearer {tokens['alice']}"}
        again = client.post(
            "/v1/me/payments", json={"to": {"request": asked["id"]}}, headers={**alice, "Idempotency-Key": "key-1"}
        )
        assert again.status_code == 200 and again.json() == {**paid, "replayed": True}
        read = client.get(f"/v1/payment-requests/{asked['id']}", headers=alice).json()
        assert (read["status"], read["transfer_id"]) == ("paid", paid["transfer_id"])
        listed = client.get("/v1/me/aliases", headers={"Authorization": f"Bearer {tokens['shop']}"}).json()
        assert [a["alias"] for a in listed["aliases"]] == ["corner-grocer"]
        body = {"amount": "1.00", "currency": "XTS", "to": {"alias": "corner-grocer"}}
        assert (
            client.post("/v1/me/payments", json=body, headers={**alice, "Idempotency-Key": "key-2"}).status_code == 200
        )
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.ledger.lookup_accounts([SHOP])[0].balance == 1350


def _events(text: str) -> list[tuple[str, str]]:
    """(id, data) of each event in a server-sent event stream."""
    found = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == "payment":
            found.append((lines["id"], lines["data"]))
    return found


class TestEvents:
    def test_events_after_a_cursor__each_payment_oldest_first(self, world: World) -> None:
        """From a cursor, the stream sends what came after it, oldest first, each with its cursor as id."""
        pay(world, "alice", {"amount": "1.00", "currency": "XTS", "to": {"wallet": SHOP}})
        pay(world, "bob", {"amount": "2.00", "currency": "XTS", "to": {"wallet": SHOP}})
        response = world.client.get("/v1/me/payments/incoming/events?after=t1", headers=world.as_("shop"))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        assert response.text.startswith("retry: ")
        events = _events(response.text)
        assert [json.loads(data)["amount"] for _, data in events] == ["1.00", "2.00"]
        assert events[0][0] == f"t{json.loads(events[0][1])['received_at_ns']}"

    def test_last_event_id__a_reconnection_misses_nothing_and_repeats_nothing(self, world: World) -> None:
        """Reconnecting with the last id it saw, a follower gets only what came after."""
        pay(world, "alice", {"amount": "1.00", "currency": "XTS", "to": {"wallet": SHOP}})
        first = _events(world.client.get("/v1/me/payments/incoming/events?after=t1", headers=world.as_("shop")).text)
        pay(world, "bob", {"amount": "2.00", "currency": "XTS", "to": {"wallet": SHOP}})
        headers = {**world.as_("shop"), "Last-Event-ID": first[-1][0]}
        again = _events(world.client.get("/v1/me/payments/incoming/events", headers=headers).text)
        assert [json.loads(data)["amount"] for _, data in again] == ["2.00"]

    def test_without_a_cursor__only_what_arrives_from_now(self, world: World) -> None:
        """A new follower is not sent the history: Alice's issuance is not an event."""
        response = world.client.get("/v1/me/payments/incoming/events", headers=world.as_("alice"))
        assert response.status_code == 200 and _events(response.text) == []


def test_a_fault_after_the_ledger_took_a_request_payment__the_request_stays_taken(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault after the transfer landed leaves the request claimed: it reads paid, and no one pays it again."""
    asked = ask(world).json()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("the access log's disk is gone")

    monkeypatch.setattr(world.services, "deliver", crash)  # runs just after the ledger took the transfer
    assert pay(world, "alice", {"to": {"request": asked["id"]}}).status_code == 500
    monkeypatch.undo()
    read = world.client.get(f"/v1/payment-requests/{asked['id']}", headers=world.as_("bob")).json()
    assert read["status"] == "paid"
    assert pay(world, "bob", {"to": {"request": asked["id"]}}).status_code == 409
    assert balance(world, SHOP) == 1250
