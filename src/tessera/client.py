"""``tessera.client.Client``: the ledger's Python API over HTTP (httpx).

It mirrors ``tessera.ledger.Ledger``: the same records in, the same ``Results`` out, so
code written against an in-process ledger runs against a server by swapping the object.
Transfer batches travel as packed 128-byte records; errors come back as the same
``TesseraError`` classes, rebuilt from the problem+json ``code``.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from tessera.errors import ERROR_CODES, InvalidInputError, RateLimitedError, TesseraError
from tessera.ledger import (
    TRANSFER_DTYPE,
    Account,
    AccountFlags,
    CreateAccountStatus,
    CreateTransferStatus,
    Results,
    Transfer,
    TransferFlags,
    check_packed,
    encode_transfers,
    flag_names,
    flags_from_names,
)
from tessera.money import AccountKind, kind_of

PACKED = "application/octet-stream"
TIMEOUT_S = 30.0


def _error_from(response: httpx.Response) -> TesseraError:
    """The server's problem+json as the same exception class, carrying its message and field."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    cls = ERROR_CODES.get(str(body.get("code", "")), TesseraError)
    # Constructors differ per class (field, path, retry); the message already says it all.
    error = cls.__new__(cls)
    Exception.__init__(error, str(body.get("detail", response.text[:200] or response.reason_phrase)))
    error.field = body.get("field")  # type: ignore[attr-defined]
    error.status = response.status_code  # type: ignore[attr-defined]
    if isinstance(error, RateLimitedError):
        error.retry_after_s = float(response.headers.get("retry-after", "1"))
    return error


def _account(raw: dict[str, Any]) -> Account:
    return Account(
        id=raw["id"],
        ledger=raw["ledger"],
        code=raw["code"],
        flags=flags_from_names(AccountFlags, raw["flags"]),
        category=raw["category"],
        holding_limit=raw["holding_limit"],
        allowed_categories=frozenset(raw["allowed_categories"]),
        user_data_64=raw["user_data_64"],
        user_data_32=raw["user_data_32"],
        debits_pending=raw["debits_pending"],
        debits_posted=raw["debits_posted"],
        credits_pending=raw["credits_pending"],
        credits_posted=raw["credits_posted"],
        timestamp=raw["timestamp"],
    )


def _transfer(raw: dict[str, Any]) -> Transfer:
    fields = {k: raw[k] for k in Transfer.__slots__ if k != "flags"}
    return Transfer(flags=flags_from_names(TransferFlags, raw["flags"]), **fields)


class Client:
    """A Tessera server, called like a ``Ledger``. ``purpose`` is sent with every call (officers)."""

    def __init__(self, base_url: str, api_key: str, purpose: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        headers = {b"Authorization": f"Bearer {api_key}".encode()}
        if purpose:
            # As UTF-8 bytes: httpx sends a str header only if it is ASCII, and the server
            # reads the header's bytes as UTF-8 (docs/api.md), so "Prüfung" arrives as written.
            headers[b"X-Tessera-Purpose"] = purpose.encode()
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as error:  # the transport failed: no answer to translate
            raise TesseraError(f"{method} {url}: {error}") from error

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, url, **kwargs)
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            raise _error_from(response)
        return response

    def create_accounts(
        self, accounts: Sequence[Account], holders: Sequence[str | None] | None = None
    ) -> Results[CreateAccountStatus]:
        """Open accounts; ``holders[i]`` is the principal id that controls account i (default: the caller)."""
        items = []
        for i, a in enumerate(accounts):
            kind = kind_of(a.code)
            if kind is None:  # over HTTP an account's code is its kind (docs/api.md, "Who may create money")
                raise InvalidInputError(f"accounts[{i}].code", f"must be a kind's code (1-{len(AccountKind)})")
            item: dict[str, Any] = {
                "id": a.id,
                "ledger": a.ledger,
                "kind": kind.name,
                "flags": flag_names(a.flags),
                "category": a.category,
                "holding_limit": a.holding_limit,
                "allowed_categories": sorted(a.allowed_categories),
                "user_data_64": a.user_data_64,
                "user_data_32": a.user_data_32,
            }
            if holders is not None and holders[i] is not None:
                item["holder"] = holders[i]
            items.append(item)
        body = self._call("POST", "/v1/ledger/accounts", json={"accounts": items}).json()
        statuses = np.array([CreateAccountStatus[r["status"]] for r in body["results"]], dtype=np.uint32)
        return Results(statuses, CreateAccountStatus)

    def create_transfers(self, transfers: Sequence[Transfer] | npt.NDArray[np.void]) -> Results[CreateTransferStatus]:
        """Post a batch as packed records; one result per transfer, as ``Ledger.create_transfers``."""
        if isinstance(transfers, np.ndarray):
            batch = check_packed(transfers, TRANSFER_DTYPE, "transfers")
        else:
            batch = encode_transfers(transfers)
        response = self._call("POST", "/v1/ledger/transfers", content=batch.tobytes(), headers={"Content-Type": PACKED})
        statuses = np.frombuffer(response.content, dtype="<u4").astype(np.uint32)
        return Results(statuses, CreateTransferStatus)

    def _lookup(self, path: str, ids: Sequence[int]) -> list[dict[str, Any]]:
        """GET ``path/{id}`` for each id, in order; ids that do not exist are left out."""
        found = []
        for item_id in ids:
            response = self._send("GET", f"{path}/{int(item_id)}")
            if response.status_code == HTTPStatus.NOT_FOUND and response.json().get("code") == "not_found":
                continue
            if response.status_code >= HTTPStatus.BAD_REQUEST:
                raise _error_from(response)
            found.append(response.json())
        return found

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        """The accounts that exist among ``ids``, in the order asked (one request per id)."""
        return [_account(raw) for raw in self._lookup("/v1/ledger/accounts", ids)]

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]:
        """The transfers that exist among ``ids``, in the order asked (one request per id)."""
        return [_transfer(raw) for raw in self._lookup("/v1/ledger/transfers", ids)]

    def get_account_transfers(self, account_id: int, limit: int = 100, reverse: bool = False) -> list[Transfer]:
        params = {"limit": limit, "reverse": "true" if reverse else "false"}
        body = self._call("GET", f"/v1/ledger/accounts/{int(account_id)}/transfers", params=params).json()
        return [_transfer(t) for t in body["transfers"]]

    def access_log(self, limit: int = 100, before: int | None = None) -> dict[str, Any]:
        """The caller's own access log page (citizens): who looked at their data, and why."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        result: dict[str, Any] = self._call("GET", "/v1/me/access-log", params=params).json()
        return result
