"""A payments restriction's ledger freezes: every account the subject holds, and those opened later.

A ``payments`` restriction freezes every ledger account the person's principal holds, or the
organisation's (the journaled freeze, referenced by the restriction id); the last one to end
unfreezes them. An account opened while one is in force opens frozen. ``Restrictions`` calls
here after each commit, under its lock, so the ledger sees the changes in commit order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from sqlalchemy import select

from tessera.auth import organisation_of
from tessera.errors import InvalidInputError
from tessera.ledger import Account, CreateAccountStatus, Results
from tessera.rules.basis import Domain
from tessera.rules.due_process.enforcement import EnforcementIndex
from tessera.rules.due_process.restriction_records import Restriction
from tessera.rules.subjects import is_person
from tessera.store import ACCOUNTS_LIST_MAX, Store, persons


class Opener(Protocol):
    """The ledger's account opening, as ``open_accounts`` needs it (``tessera.ledger.Ledger`` is one)."""

    def create_accounts(
        self,
        accounts: Sequence[Account],
        *,
        frozen_by: Mapping[int, str] | None = None,
        note: bytes | Callable[[], bytes | None] | None = None,
    ) -> Results[CreateAccountStatus]: ...


class Freezer(Protocol):
    """The ledger's journaled freeze, as restrictions need it (``tessera.ledger.Ledger`` is one)."""

    def freeze_accounts(self, account_ids: Sequence[int], reference: str) -> object: ...

    def unfreeze_accounts(self, account_ids: Sequence[int], reference: str) -> object: ...


class AccountLedger(Opener, Freezer, Protocol):
    """The ledger as restrictions need it: accounts opened and frozen (``tessera.ledger.Ledger`` is one)."""


class Freezes:
    """The ledger freezes that follow the enforcement index (``ledger`` None: the index alone)."""

    def __init__(
        self, store: Store, index: EnforcementIndex, lock: threading.RLock, ledger: AccountLedger | None
    ) -> None:
        self._store = store
        self._index = index
        self.lock = lock
        self._ledger = ledger

    def freeze(self, r: Restriction) -> None:
        """Freeze every account the subject holds, under the restriction's id."""
        accounts = self._accounts_of(r.subject)
        if accounts and self._ledger is not None:
            self._ledger.freeze_accounts(accounts, reference=r.id)

    def release(self, r: Restriction) -> None:
        """Unfreeze the subject's accounts unless another restriction in force still closes payments."""
        if not self._index.check(r.subject, Domain.payments).allowed:
            return
        accounts = self._accounts_of(r.subject)
        if accounts and self._ledger is not None:
            self._ledger.unfreeze_accounts(accounts, reference=r.id)

    def _accounts_of(self, subject: str) -> list[int]:
        """Every ledger account the person's principal holds, or the organisation's (``organisation_of``)."""
        if not is_person(subject):
            return self._store.accounts_of_organisation(subject, limit=ACCOUNTS_LIST_MAX)
        with self._store.transaction() as conn:
            principal_id = conn.scalar(select(persons.c.principal_id).where(persons.c.number == subject))
        if principal_id is None:
            return []
        return self._store.accounts_held_by(principal_id, limit=ACCOUNTS_LIST_MAX)

    def open_accounts(
        self,
        accounts: Sequence[Account],
        holders: Sequence[str],
        note: bytes | Callable[[], bytes | None] | None = None,
    ) -> Results[CreateAccountStatus]:
        """Open accounts on the ledger, each held by ``holders[i]`` (a principal id), frozen at once where closed.

        An account whose holder's payments a restriction in force closes opens frozen under
        that restriction, in the same journaled step (``Ledger.create_accounts(frozen_by=)``):
        no transfer can reach it in between. A citizen's holder is its person; anyone
        else's, its organisation (``organisation_of``). ``note`` is journaled with the batch
        (``Ledger.create_transfers`` says how).
        """
        if self._ledger is None:
            raise RuntimeError("accounts are opened on the ledger these restrictions were built with, and none was")
        if len(accounts) != len(holders):
            raise InvalidInputError("holders", f"one per account ({len(accounts)}), got {len(holders)}")
        subject_of = self._subjects_of_holders(set(holders))
        # Held across the opening, so no activation or lift interleaves (same lock order as activation).
        with self.lock:
            frozen_by: dict[int, str] = {}
            for account, holder in zip(accounts, holders, strict=True):
                subject = subject_of.get(holder)
                decision = self._index.check(subject, Domain.payments) if subject is not None else None
                if decision is not None and not decision.allowed:
                    frozen_by[account.id] = decision.denials[0].restriction_id
            return self._ledger.create_accounts(accounts, frozen_by=frozen_by or None, note=note)

    def _subjects_of_holders(self, holders: set[str]) -> dict[str, str]:
        """Principal id -> the subject a restriction names: its person's number, else its organisation."""
        if not holders:
            return {}
        with self._store.transaction() as conn:
            query = select(persons.c.principal_id, persons.c.number).where(persons.c.principal_id.in_(holders))
            subject_of = {principal_id: number for principal_id, number in conn.execute(query)}
        for holder in holders - subject_of.keys():
            principal = self._store.get_principal(holder)
            if principal is not None and organisation_of(principal):
                subject_of[holder] = organisation_of(principal)
        return subject_of
