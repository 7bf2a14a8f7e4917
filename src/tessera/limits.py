"""Every bound that more than one module keeps to, defined once, each with why it is that value.

A bound one module alone keeps (a passkey's 16 origins, the access log's 200-character
texts) stays beside its code; a bound that two packages, the API's schemas, the benches or
the tests must agree on lives here, and every one of them imports it from here. The C
engine keeps its own copies in C (``INT63_MAX`` in ``ledger/engine.h``);
``tests/test_limits.py`` checks that they agree.
"""

from __future__ import annotations

from tessera.errors import BatchSizeError

# A batch of 128-byte records fills at most one TigerBeetle-sized message: 1 MiB less its
# 256-byte header is 8190 records. A journal entry, a packed request and a store call on a
# batch's account holders all take one batch whole.
RECORD_BYTES = 128
MESSAGE_BYTES_MAX = 1024 * 1024
MESSAGE_HEADER_BYTES = 256
BATCH_SIZE_MAX = (MESSAGE_BYTES_MAX - MESSAGE_HEADER_BYTES) // RECORD_BYTES

# Ids, amounts, balances and nanosecond timestamps are below this: they fit a signed int64
# (SQLite's INTEGER, PostgreSQL's BIGINT), so sums of two never wrap the engine's uint64.
ID_LIMIT = 2**63
U32_LIMIT = 2**32  # a record's u32 fields (ledger, timeout, user_data_32)
U16_LIMIT = 2**16  # a record's u16 fields (code, flags, category)

# One page of a listing: enough for a screen or a script's loop, small enough that a page
# is one quick query and one modest response.
PAGE_SIZE_MAX = 1000


def check_batch_size(count: int, field: str, most: int = BATCH_SIZE_MAX, *, least: int = 1) -> None:
    """The one check on how many items a batch holds: outside ``least..most`` it is a ``BatchSizeError``.

    Every batch, whichever way it comes (JSON, packed records, a Python call), is counted
    here, so a batch too long is the same refusal everywhere: 422 ``batch_size`` over HTTP.
    """
    if count < least:
        raise BatchSizeError(field, "must not be empty" if least == 1 else f"at least {least} items, got {count}")
    if count > most:
        raise BatchSizeError(field, f"at most {most} items, got {count}")


# -- payments a person makes (issue 18): the API's schemas and tessera.money keep to these ---------

# An amount as a person writes it, "12.50": digits, one dot, the currency's decimals at most.
# 40 characters hold any amount below ID_LIMIT (19 digits) at the register's 18 decimals.
AMOUNT_TEXT_MAX = 40
# An alias a payee publishes for a wallet ("corner-grocer"), as UPI's payment addresses are.
ALIAS_MIN = 3
ALIAS_MAX = 64
ALIASES_PER_HOLDER_MAX = 16  # a person or shop rarely needs more; each is a row anyone can resolve
# The client's Idempotency-Key: a UUID is 36 characters; room for a prefix and a counter.
IDEMPOTENCY_KEY_MAX = 128
# What a payment request is for, as the payer reads it before approving.
PAYMENT_DESCRIPTION_MAX = 200
# How long a payment request stays payable: a shop's QR code is for now, not for next year.
PAYMENT_REQUEST_EXPIRY_MAX_S = 30 * 24 * 3600
PAYMENT_REQUEST_EXPIRY_DEFAULT_S = 3600
# How long a long-poll for incoming payments may hold a request open (?wait=): past proxies'
# usual 60 s idle timeout a connection is cut, so half of that.
INCOMING_WAIT_MAX_S = 30
