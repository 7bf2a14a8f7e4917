"""Child process for the lock test: takes a store's lock, says ``held``, and keeps it until it is killed.

Run as ``python -m tests.store.lock_holder DATABASE_URL NAME``.
"""

from __future__ import annotations

import sys

from tessera.errors import ConflictError
from tessera.store import Store


def main() -> None:
    with Store.open(sys.argv[1]) as store, store.exclusive(sys.argv[2], lambda: ConflictError("name", "taken")):
        print("held", flush=True)
        sys.stdin.read()  # until the test kills us (or closes our stdin)


if __name__ == "__main__":
    main()
