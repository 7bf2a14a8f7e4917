"""The service's own record of logins begun for numbers that cannot log in: probes, most likely.

``POST /v1/sessions`` answers every number alike, so that nobody learns from it whether a
number is registered, revoked or without a passkey. The service still wants to see someone
walking through numbers: each such login is written to the ``tessera.probes`` logger, with
the client's address and the reason, never the number (this log is the operator's, not a
person's, and a number in it would be a look at someone's data that no access log shows).
A client gets at most ``LINES_BURST`` lines at once and one more every
``LINE_INTERVAL_S`` after; the lines it was not given are counted in its next one, so a
flood costs the log a few lines rather than filling the disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

LINES_BURST = 5
LINE_INTERVAL_S = 60.0
CLIENTS_MAX = 10_000  # past it the longest-quiet client is forgotten: it starts again with a full allowance

log = logging.getLogger("tessera.probes")


class ProbeLog:
    """Writes probe lines to ``tessera.probes``, a few per client address."""

    def __init__(
        self,
        *,
        burst: int = LINES_BURST,
        interval_s: float = LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = burst
        self._interval_s = interval_s
        self._clock = clock
        # client -> (lines it may still write, when that was counted, lines held back since its last one)
        self._clients: OrderedDict[str, tuple[float, float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, client: str, reason: str) -> None:
        """Note a login from ``client`` that cannot succeed, and why; written if the client has lines left."""
        now = self._clock()
        with self._lock:
            allowance, then, held = self._clients.pop(client, (float(self._burst), now, 0))
            allowance = min(float(self._burst), allowance + (now - then) / self._interval_s)
            write = allowance >= 1
            self._clients[client] = (allowance - 1, now, 0) if write else (allowance, now, held + 1)
            if len(self._clients) > CLIENTS_MAX:
                self._clients.popitem(last=False)
        if write:
            more = f" ({held} more from this client not written)" if held else ""
            log.warning("login begun for a number that cannot log in, from %s: %s%s", client, reason, more)
