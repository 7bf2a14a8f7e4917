"""The expiry sweep: a daemon thread that persists restrictions' ends soon after they fall due."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tessera.rules.due_process.restrictions import Restrictions

log = logging.getLogger(__name__)


class Sweeper:
    """A daemon thread that persists expiries soon after they fall due (within ``interval_s``)."""

    def __init__(self, restrictions: Restrictions, interval_s: float = 1.0) -> None:
        self._restrictions = restrictions
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tessera-restriction-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                if self._restrictions.due():
                    self._restrictions.sweep()
            except Exception:  # a store or ledger fault: the next tick tries again
                log.exception("restriction expiry sweep failed")
