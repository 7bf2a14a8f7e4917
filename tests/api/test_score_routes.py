"""GET /v1/me/scores: a refused payment, scored by the rules the service runs, seen by the person it is about."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tessera.api import create_app
from tessera.auth import Role
from tessera.cli.seed import issue_key
from tessera.identity.registry import Person
from tessera.ledger import Account, CreateTransferStatus, Transfer
from tessera.rules import EXAMPLE_RULES, builtin_path
from tessera.store.tables import rule_events
from tests.api.world import ISSUER, MONEY, WALLET, World, make_world, settings_for

WALLET_ID = 60
RULES = """
[[rule]]
id = "test.refused-for-funds"
title = "A payment refused for lack of funds"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.refused && event.status == EXCEEDS"
reason_code = "payment_refused_funds"
reason_text = "A payment was refused because the wallet did not hold enough."
effects = [{ kind = "score", scheme = "credit", points = -5, expires_after = "30d" }]
""".replace("EXCEEDS", str(int(CreateTransferStatus.exceeds_credits)))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    settings = settings_for(tmp_path / "data", rules=(rules, builtin_path(EXAMPLE_RULES)))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        world = make_world(client)
        # Loan events are reported by the credit bureau only (definitions.toml: reported_by).
        lender = world.services.store.create_principal("lender", Role.officer, agency="credit-bureau")
        world.principals["lender"], world.tokens["lender"] = lender, issue_key(world.services, lender)
        yield world


def _ada(world: World, who: str = "ada", name: str = "Ada Obi") -> Person:
    """A registered person with an API key (Ada unless told otherwise)."""
    services = world.services
    person = services.registry.create_person({"name": name, "birth_date": "1980-02-01", "sex": "F"}, station="x")
    principal = services.store.get_principal(person.principal_id)
    assert principal is not None
    world.tokens[who] = issue_key(services, principal, for_person=True)
    return person


def test_refused_payment__in_my_scores_with_its_reason(world: World) -> None:
    """A payment refused for funds shows in the payer's own scores with the rule's text, and a notice."""
    services = world.services
    person = _ada(world)
    services.store.set_account_holders([(WALLET_ID, person.principal_id)])
    services.ledger.create_accounts([Account(WALLET_ID, MONEY, code=2, flags=WALLET)])
    empty = world.client.get("/v1/me/scores", headers=world.as_("ada"))
    assert empty.status_code == 200 and empty.json() == {"scores": []}

    refused = services.ledger.create_transfers([Transfer(900, WALLET_ID, ISSUER, 10, MONEY, 1)])
    assert refused[0].status == CreateTransferStatus.exceeds_credits
    assert services.ledger.feed.wait_idle(5)

    [score] = world.client.get("/v1/me/scores", headers=world.as_("ada")).json()["scores"]
    assert score["scheme"] == "credit" and score["value"] == -5
    assert (score["minimum"], score["maximum"]) == (-1000, 1000)
    [factor] = score["factors"]
    assert factor["text"] == "A payment was refused because the wallet did not hold enough." and factor["events"] == 1
    notices = world.client.get("/v1/me/notices", headers=world.as_("ada")).json()["notices"]
    assert [(n["kind"], n["rule_id"]) for n in notices] == [("score", "test.refused-for-funds")]


def test_someone_without_a_registry_record__404(world: World) -> None:
    """A citizen key without a registry record has no scores: 404, not an empty list."""
    answer = world.client.get("/v1/me/scores", headers=world.as_("alice"))
    assert answer.status_code == 404


def test_an_officer__403(world: World) -> None:
    """An officer has no scores of their own to read: /v1/me/scores is forbidden."""
    assert world.client.get("/v1/me/scores", headers=world.as_("bank")).status_code == 403


def test_a_lenders_late_repayment_event__in_my_scores_and_logged_for_me(world: World) -> None:
    """POST /v1/events: an agency's event about a person is scored at once, logged for them, and kept once."""
    number = _ada(world).number
    event = {
        "id": "loan-77/instalment-3",
        "subject": number,
        "at_ns": time.time_ns() - 10**9,
        "fields": {"amount": 25_000, "days_late": 45, "lender": "First Bank"},
    }
    body = {"type": "loan.repaid", "events": [event]}
    headers = world.as_("lender", "credit reporting under the Consumer Credit Act")
    sent = world.client.post("/v1/events", json=body, headers=headers)
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"results": [{"index": 0, "id": "loan-77/instalment-3", "status": "accepted"}], "firings": 1}
    retry = world.client.post("/v1/events", json=body, headers=headers).json()
    assert retry["results"][0]["status"] == "duplicate" and retry["firings"] == 0

    [score] = world.client.get("/v1/me/scores", headers=world.as_("ada")).json()["scores"]
    assert score["value"] == -40 and score["factors"][0]["rule_id"] == "credit.repaid-late"
    log = world.client.get("/v1/me/access-log", headers=world.as_("ada")).json()["entries"]
    lender = world.principals["lender"].id
    mine = [(e["principal"], e["purpose"], e["outcome"]) for e in log if e["principal"] == lender]
    assert mine == [(lender, "credit reporting under the Consumer Credit Act", "event submitted")] * 2


def test_an_event_timed_in_rfc3339__kept_at_that_instant(world: World) -> None:
    """POST /v1/events with ``at`` (RFC 3339, any offset) instead of ``at_ns``: accepted, kept at the same instant."""
    number = _ada(world).number
    event = {"id": "loan-78/1", "subject": number, "at": "2026-12-07T12:00:00.000000001+02:00"}
    event["fields"] = {"amount": 25_000, "days_late": 45, "lender": "First Bank"}
    headers = world.as_("lender", "credit reporting under the Consumer Credit Act")
    sent = world.client.post("/v1/events", json={"type": "loan.repaid", "events": [event]}, headers=headers)
    assert sent.status_code == 200 and sent.json()["results"][0]["status"] == "accepted", sent.text
    with world.services.store.transaction() as conn:
        assert conn.scalar(select(rule_events.c.at_ns)) == 1_796_637_600_000_000_001


@pytest.mark.parametrize(
    ("who", "purpose", "body", "refusal"),
    [
        ("ada", "x", None, (403, "forbidden")),  # a citizen cannot report events
        ("tax-officer", "x", None, (403, "forbidden")),  # nor an agency the type does not name
        ("tax-officer", "x", {"type": "court.judgment_unpaid"}, (403, "forbidden")),
        ("lender", None, None, (403, "purpose_required")),
        ("lender", "p", {"type": "ledger.transfer"}, (400, "invalid_input")),
        ("lender", "p", {"type": "loan.forgiven"}, (404, "not_found")),
        ("lender", "p", {"fields": {"amount": 1}}, (400, "invalid_input")),
    ],
)
def test_events_refused__a_specific_error_and_nothing_kept(
    world: World, who: str, purpose: str | None, body: dict[str, object] | None, refusal: tuple[int, str]
) -> None:
    """Each refused submission gets its own status and code, and nothing is kept, scored or logged."""
    number = _ada(world).number
    event = {
        "id": "e-1",
        "subject": number,
        "at_ns": time.time_ns(),
        "fields": {"amount": 1, "days_late": 45, "lender": "x"},
    }
    request: dict[str, object] = {"type": "loan.repaid", "events": [event]}
    if body is not None and "fields" in body:
        event["fields"] = body["fields"]
    elif body is not None:
        request.update(body)
    answer = world.client.post("/v1/events", json=request, headers=world.as_(who, purpose))
    assert (answer.status_code, answer.json()["code"]) == refusal, answer.text
    assert world.client.get("/v1/me/scores", headers=world.as_("ada")).json() == {"scores": []}
    with world.services.store.transaction() as conn:
        assert conn.scalar(select(func.count()).select_from(rule_events)) == 0
    log = world.client.get("/v1/me/access-log", headers=world.as_("ada")).json()["entries"]
    assert not [e for e in log if e["outcome"] == "event submitted"]


def test_an_event_with_text_that_cannot_be_stored__400_and_no_log_entry(world: World) -> None:
    """JSON may carry a lone surrogate (\\ud800); UTF-8 storage cannot: refused before anything is logged."""
    number = _ada(world).number
    fields = '{"amount": 1, "days_late": 45, "lender": "\\ud800"}'
    event = f'{{"id": "e-1", "subject": "{number}", "at_ns": {time.time_ns()}, "fields": {fields}}}'
    raw = f'{{"type": "loan.repaid", "events": [{event}]}}'
    headers = {**world.as_("lender", "credit reporting"), "Content-Type": "application/json"}
    answer = world.client.post("/v1/events", content=raw, headers=headers)
    assert (answer.status_code, answer.json()["field"]) == (400, "events[0].fields.lender"), answer.text
    log = world.client.get("/v1/me/access-log", headers=world.as_("ada")).json()["entries"]
    assert not [e for e in log if e["outcome"] == "event submitted"]


def test_appealing_a_lowered_score_through_its_notice__withdrawn_by_an_officer(world: World) -> None:
    """POST /v1/me/notices/{id}/appeal, then GET /v1/notice-appeals and a decision: the score is restored."""
    number = _ada(world).number
    event = {
        "id": "L-1",
        "subject": number,
        "at_ns": time.time_ns(),
        "fields": {"amount": 1, "days_late": 45, "lender": "x"},
    }
    officer = world.as_("lender", "credit reporting")
    world.client.post("/v1/events", json={"type": "loan.repaid", "events": [event]}, headers=officer)
    [notice] = world.client.get("/v1/me/notices", headers=world.as_("ada")).json()["notices"]
    assert "/v1/me/notices/{id}/appeal" in notice["appeal"]

    _ada(world, "ben", "Ben Ito")
    someone = world.client.post(
        f"/v1/me/notices/{notice['id']}/appeal", json={"grounds": "x"}, headers=world.as_("ben")
    )
    assert (someone.status_code, someone.json()["code"]) == (403, "forbidden")
    filed = world.client.post(
        f"/v1/me/notices/{notice['id']}/appeal", json={"grounds": "I paid on the due date"}, headers=world.as_("ada")
    )
    assert filed.status_code == 201 and filed.json()["status"] == "pending", filed.text
    mine = world.client.get("/v1/me/notice-appeals", headers=world.as_("ada")).json()["appeals"]
    assert [(a["id"], a["status"]) for a in mine] == [(filed.json()["id"], "pending")]
    assert world.client.get("/v1/me/notice-appeals", headers=world.as_("ben")).json() == {"appeals": []}

    queue = world.client.get("/v1/notice-appeals", headers=world.as_("tax-officer", "appeals desk")).json()["appeals"]
    assert [(q["appeal"]["id"], q["notice"]["id"]) for q in queue] == [(filed.json()["id"], notice["id"])]
    decided = world.client.post(
        f"/v1/notice-appeals/{filed.json()['id']}/decision",
        json={"outcome": "withdraw", "reason": "the lender confirmed its error"},
        headers=world.as_("tax-officer", "appeals desk"),
    )
    assert decided.status_code == 200 and decided.json()["withdrawn"] == 1, decided.text
    assert world.client.get("/v1/me/scores", headers=world.as_("ada")).json() == {"scores": []}
    [answered] = world.client.get("/v1/me/notice-appeals", headers=world.as_("ada")).json()["appeals"]
    assert answered["status"] == "withdrawn" and answered["decision_reason"] == "the lender confirmed its error"
    tax = world.principals["tax-officer"].id
    log = world.client.get("/v1/me/access-log", headers=world.as_("ada")).json()["entries"]
    assert {e["outcome"] for e in log if e["principal"] == tax} == {"read", "appeal withdraw"}
    again = world.client.post(
        f"/v1/notice-appeals/{filed.json()['id']}/decision",
        json={"outcome": "uphold", "reason": "x"},
        headers=world.as_("tax-officer", "appeals desk"),
    )
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
