"""A batch too long is one refusal, 422 batch_size, however it arrives; a body too many bytes is 413 body_size."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tessera.ledger import TRANSFER_DTYPE
from tessera.limits import BATCH_SIZE_MAX
from tests.api.world import ALICE, BOB, MONEY, World

PACKED = {"Content-Type": "application/octet-stream"}


def _transfer(i: int) -> dict[str, Any]:
    return {
        "id": 10_000 + i,
        "debit_account_id": ALICE,
        "credit_account_id": BOB,
        "amount": 1,
        "ledger": MONEY,
        "code": 1,
    }


def _account(i: int) -> dict[str, Any]:
    return {"id": 10_000 + i, "ledger": MONEY, "kind": "wallet"}


def _refused(response: Any, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["status"], body["field"]) == (code, status, field), body


class TestOneAnswerForTooMany:
    @pytest.mark.parametrize("count", [0, BATCH_SIZE_MAX + 1])
    def test_json_transfers(self, world: World, count: int) -> None:
        """A JSON transfers list that is empty or one over the limit is 422 batch_size naming transfers."""
        body = {"transfers": [_transfer(i) for i in range(count)]}
        response = world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("alice"))
        _refused(response, 422, "batch_size", "transfers")

    @pytest.mark.parametrize("count", [0, BATCH_SIZE_MAX + 1])
    def test_packed_transfers(self, world: World, count: int) -> None:
        """Packed records, empty or one over the limit, get the same 422 batch_size as JSON (once 400)."""
        batch = np.zeros(count, dtype=TRANSFER_DTYPE)
        headers = {**world.as_("alice"), **PACKED}
        response = world.client.post("/v1/ledger/transfers", content=batch.tobytes(), headers=headers)
        _refused(response, 422, "batch_size", "transfers")

    @pytest.mark.parametrize("count", [0, BATCH_SIZE_MAX + 1])
    def test_json_accounts(self, world: World, count: int) -> None:
        """An accounts list empty or one over the limit is 422 batch_size before any holder is looked up."""
        body = {"accounts": [_account(i) for i in range(count)]}
        response = world.client.post("/v1/ledger/accounts", json=body, headers=world.as_("bank"))
        _refused(response, 422, "batch_size", "accounts")

    def test_enrolment_submissions(self, world: World) -> None:
        """An empty enrolment batch is the same 422 batch_size (once 422 invalid_input from the schema)."""
        response = world.client.post("/v1/identity/enrolments", json={"submissions": []}, headers=world.as_("bank"))
        _refused(response, 422, "batch_size", "submissions")

    def test_rule_events(self, world: World) -> None:
        """An empty events batch is 422 batch_size, counted before any event is looked at."""
        body = {"type": "loan.repaid", "events": []}
        response = world.client.post("/v1/events", json=body, headers=world.as_("bank", "credit reporting"))
        _refused(response, 422, "batch_size", "events")


def test_too_many_bytes_is_413_body_size(world: World) -> None:
    """Bytes are a separate limit from items: a body over its bytes is 413 body_size, unread."""
    response = world.client.post(
        "/v1/ledger/transfers", content=b"x" * (5 * 1024 * 1024), headers={**world.as_("alice"), **PACKED}
    )
    _refused(response, 413, "body_size", "body")


def test_the_schema_still_documents_the_bounds(world: World) -> None:
    """The OpenAPI document keeps minItems and maxItems though pydantic no longer counts the list."""
    schemas = world.client.get("/openapi.json").json()["components"]["schemas"]
    transfers = schemas["TransfersCreate"]["properties"]["transfers"]
    assert (transfers["minItems"], transfers["maxItems"]) == (1, BATCH_SIZE_MAX)
