"""A restriction's ledger freezes: the accounts the subject holds that it closes, and those opened later.

A ``payments`` restriction freezes every ledger account the person's principal holds, or the
organisation's (the journaled freeze, referenced by the restriction id), except their
entitlements to basic needs: an entitlement account earmarked for food, fuel or health shops
alone (``tessera.money.basic_needs_entitlement``) stays spendable there, as sanctions regimes
exempt basic needs. Only a restriction that closes ``benefits``, which its legal basis must
name, freezes those. An account opened while one is in force opens as it would have been
left. Each change settles every account of the subject to what the restrictions still in
force close (``settle``): the last one to end unfreezes, and an exempt account is never
left frozen. ``Restrictions`` calls here after each commit, under its lock, so the ledger
sees the changes in commit order.

An exempt account is spendable, not a way round the freeze: it pays only the shops of its
earmark (the ledger's rule for every earmarked account), and while its holder's payments are
closed it takes money only from a programme's account (``refused_credits``), never a
wallet's or a shop's: nothing can be paid to a restricted person through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from tessera.auth import organisation_of
from tessera.errors import InvalidInputError
from tessera.ledger import Account, AccountFlags, CreateAccountStatus, Results
from tessera.money import AccountKind, basic_needs_entitlement
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
    """The ledger as restrictions need it: accounts opened, read and frozen (``tessera.ledger.Ledger`` is one)."""

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]: ...


def closes_account(account: Account, payments: bool, benefits: bool) -> bool:
    """Whether restrictions closing ``payments`` and/or ``benefits`` to its holder freeze ``account``.

    An entitlement to basic needs is closed only with ``benefits``; any other entitlement with
    either (it is a programme's balance, but could pay more than basic needs); anything else
    with ``payments``.
    """
    if account.code == AccountKind.entitlement:
        return benefits or (payments and not basic_needs_entitlement(account))
    return payments


def _exempt(account: Account, payments: bool, benefits: bool) -> bool:
    """Left open by a payments restriction only because it is an entitlement to basic needs."""
    return payments and not closes_account(account, payments, benefits)


class Freezes:
    """The ledger freezes that follow the enforcement index (``ledger`` None: the index alone)."""

    def __init__(
        self, store: Store, index: EnforcementIndex, lock: threading.RLock, ledger: AccountLedger | None
    ) -> None:
        self._store = store
        self._index = index
        self.lock = lock
        self._ledger = ledger
        # The exempt accounts of subjects whose payments are closed, changed under the lock; readers
        # take ``_exempt_ids``, replaced whole, so a transfer check never sees a set being changed.
        self._exempt: dict[int, str] = {}
        self._exempt_ids: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)

    def freeze(self, r: Restriction) -> None:
        """After ``r`` took effect: freeze what it closes of the subject's accounts, under its id."""
        self.settle(r.subject, r.id, took_effect=True)

    def release(self, r: Restriction) -> None:
        """After ``r`` ended or narrowed: unfreeze what no restriction still in force closes, citing its id."""
        self.settle(r.subject, r.id, took_effect=False)

    def settle(self, subject: str, reference: str, *, took_effect: bool) -> None:
        """Bring every account of ``subject`` to what the restrictions in force close (``closes_account``).

        ``took_effect``: ``reference`` closes something, and every account it closes gets its
        order (frozen already or not, as a payments restriction always has); otherwise only
        the accounts whose state changes do. Either way an account it leaves open is
        unfrozen, citing ``reference``: an exempt entitlement frozen before the exemption
        (or by a restriction since narrowed) is never left frozen.
        """
        with self.lock:
            payments = not self._index.check(subject, Domain.payments).allowed
            benefits = not self._index.check(subject, Domain.benefits).allowed
            ids = self._accounts_of(subject)
            accounts = self._ledger.lookup_accounts(ids) if ids and self._ledger is not None else []
            freeze, unfreeze = [], []
            for a in accounts:
                frozen = bool(a.flags & AccountFlags.frozen)
                if closes_account(a, payments, benefits):
                    if took_effect or not frozen:
                        freeze.append(a.id)
                elif frozen or not took_effect:
                    unfreeze.append(a.id)
            self._mark_exempt(subject, [a.id for a in accounts if _exempt(a, payments, benefits)], ids)
            if freeze and self._ledger is not None:
                self._ledger.freeze_accounts(freeze, reference=reference)
            if unfreeze and self._ledger is not None:
                self._ledger.unfreeze_accounts(unfreeze, reference=reference)

    def _mark_exempt(self, subject: str, exempt: Sequence[int], held: Sequence[int]) -> None:
        """Record ``exempt`` as the subject's exempt accounts among ``held``; publish the ids if they changed."""
        before = dict(self._exempt)
        for account_id in held:
            if self._exempt.get(account_id) == subject:
                del self._exempt[account_id]
        self._exempt.update(dict.fromkeys(exempt, subject))
        if self._exempt != before:
            self._exempt_ids = np.array(sorted(self._exempt), dtype=np.uint64)

    def exempt_accounts(self) -> dict[int, str]:
        """Exempt account id -> its holder's subject, for the accounts a payments restriction leaves open."""
        with self.lock:
            return dict(self._exempt)

    def refused_credits(
        self, debit_codes: Callable[[npt.NDArray[np.intp]], npt.NDArray[np.integer]], credit: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.intp]:
        """The indices of transfers that credit an exempt account from anything but a programme's account.

        A restricted person's entitlement to basic needs takes its programme's payments (a
        cycle's, a back-pay) and nothing else: money from a wallet or a shop would reach them
        round the freeze. ``debit_codes(indices)`` gives the kinds (``code``) of those
        transfers' debit accounts, 0 where there is none; it is asked only when some transfer
        credits an exempt account, which is rare, so the common batch pays one ``isin``.
        """
        exempt = self._exempt_ids
        if not len(exempt) or not len(credit):
            return np.zeros(0, dtype=np.intp)
        hits: npt.NDArray[np.intp] = np.flatnonzero(np.isin(credit, exempt))
        if not len(hits):
            return hits
        codes = np.asarray(debit_codes(hits))
        refused: npt.NDArray[np.intp] = hits[codes != AccountKind.programme]
        return refused

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

        An account a restriction in force closes to its holder (``closes_account``: payments,
        or for an entitlement to basic needs only benefits) opens frozen under that
        restriction, in the same journaled step (``Ledger.create_accounts(frozen_by=)``): no
        transfer can reach it in between. An exempt one opens open, and takes only a
        programme's payments from then on (``refused_credits``). A citizen's holder is its person; anyone
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
            exempt: dict[str, list[int]] = {}
            for account, holder in zip(accounts, holders, strict=True):
                subject = subject_of.get(holder)
                if subject is None:
                    continue
                payments = self._index.check(subject, Domain.payments)
                benefits = self._index.check(subject, Domain.benefits)
                if closes_account(account, not payments.allowed, not benefits.allowed):
                    # Cite what closes it: benefits for an entitlement to basic needs, else payments.
                    denials = payments.denials or benefits.denials
                    if account.code == AccountKind.entitlement and not benefits.allowed:
                        denials = benefits.denials
                    frozen_by[account.id] = denials[0].restriction_id
                elif _exempt(account, not payments.allowed, not benefits.allowed):
                    exempt.setdefault(subject, []).append(account.id)
            results = self._ledger.create_accounts(accounts, frozen_by=frozen_by or None, note=note)
            opened = {accounts[r.index].id for r in results if r.status is CreateAccountStatus.ok}
            for subject, ids in exempt.items():
                mine = [i for i in ids if i in opened]
                if mine:
                    self._mark_exempt(subject, mine, mine)
            return results

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
