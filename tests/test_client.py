"""tessera.client.Client against a real server: the Ledger API over HTTP, errors as our own classes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.client import Client
from tessera.errors import ForbiddenError, InvalidInputError, PurposeRequiredError, TesseraError, UnauthenticatedError
from tessera.ledger import Account, CreateAccountStatus, CreateTransferStatus, Transfer, TransferFlags
from tessera.ledger.records import encode_transfers
from tests.api.world import ALICE, BOB, ISSUER, MONEY, SHOP, WALLET, LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("client")) as running:
        yield running


def _client(server: LiveServer, name: str, purpose: str | None = None) -> Client:
    return Client(server.url, server.world.tokens[name], purpose=purpose)


def test_transfers_and_lookups_mirror_the_ledger(server: LiveServer) -> None:
    """Results come back per transfer, with the same statuses an in-process ledger gives."""
    with _client(server, "alice") as alice:
        results = alice.create_transfers(
            [Transfer(1000, ALICE, SHOP, 100, MONEY, 2), Transfer(1001, ALICE, SHOP, 10**12, MONEY, 2)]
        )
        assert [r.status for r in results] == [CreateTransferStatus.ok, CreateTransferStatus.exceeds_credits]
        (account,) = alice.lookup_accounts([ALICE, 999_999])
        assert account.id == ALICE and account.debits_posted >= 100
        history = alice.get_account_transfers(ALICE, reverse=True)
        assert history[0].id == 1000 and history[0].flags == TransferFlags.none
        assert [t.id for t in alice.lookup_transfers([1000, 1001, 1])] == [1000, 1]  # 1001 was refused


def test_packed_arrays_go_as_they_are(server: LiveServer) -> None:
    """An already packed transfer array is sent as it is and applies like a list of Transfers."""
    batch = encode_transfers([Transfer(1100, ALICE, SHOP, 1, MONEY, 2, flags=TransferFlags.pending, timeout=30)])
    with _client(server, "alice") as alice:
        assert alice.create_transfers(batch).all_ok


def test_officer_opens_a_citizens_account_with_a_purpose(server: LiveServer) -> None:
    """The client raises PurposeRequiredError without a purpose; with one the account opens and the citizen sees why."""
    bob_id = server.world.principals["bob"].id
    with _client(server, "bank") as bank, pytest.raises(PurposeRequiredError):
        bank.create_accounts([Account(77, MONEY, 2, flags=WALLET)], holders=[bob_id])
    with _client(server, "bank", purpose="a second wallet") as bank:
        results = bank.create_accounts([Account(77, MONEY, 2, flags=WALLET)], holders=[bob_id])
        assert results[0].status is CreateAccountStatus.ok
    with _client(server, "bob") as bob:
        entries = bob.access_log()["entries"]
        assert entries[0]["purpose"] == "a second wallet"


def test_a_non_ascii_purpose_reaches_the_persons_log_as_written(server: LiveServer) -> None:
    """httpx sends a str header only if it is ASCII: the client sends the purpose as UTF-8 bytes."""
    bob_id = server.world.principals["bob"].id
    purpose = "Prüfung der Zahlung, بررسی درخواست\u200cها"  # noqa: RUF001 (Persian letters) a ZWNJ between letters
    with _client(server, "bank", purpose=purpose) as bank:
        results = bank.create_accounts([Account(78, MONEY, 2, flags=WALLET)], holders=[bob_id])
        assert results[0].status is CreateAccountStatus.ok
    with _client(server, "bob") as bob:
        entries = bob.access_log()["entries"]
        assert entries[0]["purpose"] == purpose


def test_errors_come_back_as_tessera_errors(server: LiveServer) -> None:
    """Refusals over HTTP come back as the same TesseraError subclasses the domain raises."""
    with _client(server, "alice") as alice, pytest.raises(ForbiddenError, match="debit_account_id"):
        alice.create_transfers([Transfer(1200, BOB, SHOP, 1, MONEY, 2)])
    with _client(server, "alice") as alice, pytest.raises(InvalidInputError):
        alice.get_account_transfers(ALICE, limit=0)
    with Client(server.url, "tsk_000000000000_" + "A" * 43) as nobody, pytest.raises(UnauthenticatedError):
        nobody.lookup_accounts([ISSUER])


def test_an_unreachable_server_is_a_tessera_error(tmp_path: Path) -> None:
    """A server that cannot be reached is a TesseraError too, so callers catch one root."""
    with Client("http://127.0.0.1:9", "tsk_x", timeout_s=2) as client, pytest.raises(TesseraError):
        client.lookup_accounts([1])
