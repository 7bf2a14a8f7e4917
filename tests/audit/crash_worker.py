"""Child process for the crash test: append from threads, print each acknowledged batch, until killed.

Usage: python crash_worker.py DIRECTORY ROUND. Prints ``ready`` once open, then one line
``END ROUND WORKER K`` per acknowledged batch (entries ``END - size .. END - 1``).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tessera.audit import AccessEntry, AccessLog
from tessera.audit import log as log_module
from tests.audit.entries import make_entries

WORKERS = 3


def batch(round_: int, worker: int, k: int) -> list[AccessEntry]:
    """The batch worker ``worker`` appends as its ``k``-th in round ``round_``: 1 to 7 entries."""
    return make_entries(10_000_000 * round_ + 100_000 * worker + 10 * k, 1 + (round_ + worker + k) % 7)


def main() -> None:
    directory, round_ = Path(sys.argv[1]), int(sys.argv[2])
    log_module.CHECKPOINT_ENTRIES = 16  # checkpoints all the time, so kills land inside them too
    log_module.FLUSH_ENTRIES = 8
    log_module.MERGE_ENTRIES_MIN = 8
    log = AccessLog.open(directory)
    print("ready", flush=True)
    lock = threading.Lock()

    def appender(worker: int) -> None:
        k = 0
        while True:
            end = log.append(batch(round_, worker, k))
            with lock:
                # One string, so one write: print() with several arguments writes each
                # separately when stdout is unbuffered, and a kill between them tears the line.
                sys.stdout.write(f"{end} {round_} {worker} {k}\n")
                sys.stdout.flush()
            k += 1

    for worker in range(WORKERS):
        threading.Thread(target=appender, args=(worker,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
