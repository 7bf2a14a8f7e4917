"""Times as people write them: RFC 3339 in UTC, beside the nanoseconds since 1970 the records keep.

One converter each way, for the API's schemas and the domain alike (a payment request's
expiry, an event's time), so that every route reads and writes a time the same way.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from functools import lru_cache

_NS = 1_000_000_000
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])([01]\d|2[0-3]):([0-5]\d))?"
)


@lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def ns_to_rfc3339(ns: int) -> str:
    """Nanoseconds since 1970 (UTC) as RFC 3339 in UTC: ``2026-12-07T10:00:00.123456789Z``.

    The fraction has nine digits where the value has one, none where it falls on a second,
    so ``rfc3339_to_ns`` reads back the same integer. A batch of ledger records shares a few
    seconds: those are formatted once (the cache), the fraction per record.
    """
    seconds, fraction = divmod(ns, _NS)
    head = _utc_second(seconds)
    return f"{head}.{fraction:09d}Z" if fraction else f"{head}Z"


def rfc3339_to_ns(text: object) -> int:
    """An RFC 3339 time with an offset (``Z`` or ``+02:00``) as nanoseconds since 1970; ValueError otherwise.

    Up to nine fraction digits are kept exactly. A time without an offset is refused, not
    guessed: the server's zone is not the sender's. Leap seconds (``:60``) are refused too.
    """
    found = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError("must be an RFC 3339 time with an offset, such as 2026-12-07T10:00:00Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = found.groups()
    if zulu is None and sign is None:
        raise ValueError("must say its offset, Z or +hh:mm: a time without one is ambiguous (2026-12-07T10:00:00Z)")
    try:
        moment = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=dt.UTC)
    except ValueError as error:
        raise ValueError(f"must be an RFC 3339 time: {error}") from None
    offset_s = 0 if sign is None else (int(off_h) * 3600 + int(off_m) * 60) * (1 if sign == "+" else -1)
    return (calendar.timegm(moment.timetuple()) - offset_s) * _NS + int((fraction or "").ljust(9, "0"))
