"""The terms of a payment a person reads and types: aliases, keys, expiries and time-sorted transfer ids."""

from __future__ import annotations

import pytest

from tessera.errors import InvalidInputError
from tessera.limits import ID_LIMIT, PAYMENT_REQUEST_EXPIRY_MAX_S
from tessera.money import checked_alias, checked_key, expiry_ns, transfer_id_now
from tessera.money.payment_requests import parse_duration_s, parse_rfc3339

NOW = 1_796_648_700_000_000_000  # 2026-12-07T13:05:00Z


@pytest.mark.parametrize("alias", ["corner-grocer", "alice@tessera", "a.b_c", "abc", "x" * 64])
def test_checked_alias__accepts_plain_names(alias: str) -> None:
    """Lower-case letters, digits, . _ - and one @, a letter or digit at each end."""
    assert checked_alias(alias) == alias


def test_checked_alias__folds_ascii_case() -> None:
    """Corner-Grocer and corner-grocer are one alias."""
    assert checked_alias("Corner-Grocer") == "corner-grocer"


@pytest.mark.parametrize("alias", ["ab", "x" * 65, "-abc", "abc-", "a b", "a@b@c", "\u0430bc", "ab\u200bc", "a/b"])
def test_checked_alias__refuses_what_could_mislead(alias: str) -> None:
    """Too short or long, blanks, look-alike letters, invisible characters and two @ are refused."""
    with pytest.raises(InvalidInputError) as caught:
        checked_alias(alias)
    assert caught.value.field == "alias"


@pytest.mark.parametrize("key", ["", "a" * 129, "has space", "ключ"])
def test_checked_key__refuses_what_is_not_a_key(key: str) -> None:
    """An Idempotency-Key is 1-128 of letters, digits and _ . : -."""
    with pytest.raises(InvalidInputError, match="Idempotency-Key"):
        checked_key(key)


def test_transfer_ids_sort_by_time_and_fit_the_ledger() -> None:
    """Ids drawn a millisecond apart sort in time order, and stay below 2**63."""
    earlier, later = transfer_id_now(NOW), transfer_id_now(NOW + 1_000_000)
    assert earlier < later < ID_LIMIT
    assert transfer_id_now(4_102_444_800 * 10**9) < ID_LIMIT  # the year 2100


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800)])
def test_parse_duration_s__short_forms(text: str, seconds: int) -> None:
    """90s, 15m, 2h and 7d are what they say."""
    assert parse_duration_s(text, "expires_in") == seconds


@pytest.mark.parametrize(("text", "seconds"), [("PT15M", 900), ("P1DT2H", 93600), ("PT30S", 30)])
def test_parse_duration_s__iso_8601(text: str, seconds: int) -> None:
    """ISO 8601 durations of days, hours, minutes and seconds."""
    assert parse_duration_s(text, "expires_in") == seconds


@pytest.mark.parametrize("text", ["P", "PT", "15", "1w", "-5m", "P1Y"])
def test_parse_duration_s__refusals(text: str) -> None:
    """What is not one of those forms is refused, naming the field."""
    with pytest.raises(InvalidInputError, match="expires_in"):
        parse_duration_s(text, "expires_in")


def test_parse_rfc3339__needs_an_offset() -> None:
    """A date-time with Z or an offset is read; one without, or a bare date, is refused."""
    assert parse_rfc3339("2026-12-07T13:05:00Z", "expires_at") == NOW
    assert parse_rfc3339("2026-12-07T14:05:00+01:00", "expires_at") == NOW
    for text in ("2026-12-07T13:05:00", "2026-12-07", "tomorrow"):
        with pytest.raises(InvalidInputError, match="expires_at"):
            parse_rfc3339(text, "expires_at")


def test_expiry_ns__default_bounds_and_one_form_only() -> None:
    """An hour by default; in the past, past 30 days, or both forms at once is refused."""
    assert expiry_ns(None, None, NOW) == NOW + 3600 * 10**9
    assert expiry_ns(None, "15m", NOW) == NOW + 900 * 10**9
    with pytest.raises(InvalidInputError, match="future"):
        expiry_ns("2020-01-01T00:00:00Z", None, NOW)
    with pytest.raises(InvalidInputError, match="within 30 days"):
        expiry_ns(None, f"{PAYMENT_REQUEST_EXPIRY_MAX_S + 1}s", NOW)
    with pytest.raises(InvalidInputError, match="not both"):
        expiry_ns("2026-12-07T15:00:00Z", "15m", NOW)
