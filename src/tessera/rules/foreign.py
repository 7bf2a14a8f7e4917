"""Foreign exceptions translated into ours, in one place for the rules package.

The store's driver speaks SQLAlchemy: a write that breaks a unique or foreign key raises its
``IntegrityError``. Rules code never catches that itself; it writes inside ``translated_writes``,
which turns it into a ``ConflictError`` where the caller knows what the race means (two
proposals took the same number) and otherwise into the store's ``StoreError`` (a fault).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from tessera.errors import ConflictError
from tessera.store import Store


@contextmanager
def translated_writes(store: Store, conflict: ConflictError | None = None) -> Iterator[None]:
    """Run writes; a broken key becomes ``conflict`` when one is given, else ``store.failed``'s ``StoreError``."""
    try:
        yield
    except IntegrityError as exc:
        if conflict is None:
            raise store.failed(exc) from exc
        # The conflict says what happened; the driver's message would only repeat the key.
        raise conflict from None
