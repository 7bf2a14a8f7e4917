"""The Tessera PIN: the second factor a person types for high-assurance actions.

A PIN is 6-12 digits, stored only as an argon2id hash. Wrong guesses are counted and,
after ``attempts_max`` of them, the PIN locks for ``lockout_s``, doubling with each
lockout in a row (capped at ``lockout_max_s``) until a right PIN or an officer's reset
clears the slate. Six digits are a small space: the lockout, not the hash, is what keeps
a guesser out.

An attempt is counted *before* its hash is checked, in a short write transaction, and
cleared again if the PIN was right. Parallel guesses therefore all count, and no more than
``attempts_max`` of them are ever checked per lockout: counting after the check would
let a burst of guesses all pass the "not locked yet" test together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any, NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Row, select, update

from tessera.auth import Role
from tessera.errors import (
    ConflictError,
    CredentialLockedError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    UnauthenticatedError,
)
from tessera.identity.numbers import checked_number
from tessera.store import Store, persons, pins

Clock = Callable[[], int]

PIN_DIGITS_MIN = 6
PIN_DIGITS_MAX = 12
ATTEMPTS_MAX_LIMIT = 20
LOCKOUT_S_DEFAULT = 15 * 60
LOCKOUT_MAX_S_DEFAULT = 24 * 60 * 60  # after a few lockouts in a row, five guesses a day
_NS = 1_000_000_000


def default_hasher() -> PasswordHasher:
    """argon2id at about 50 ms a check on one server core: RFC 9106's second choice, OWASP's minimum.

    19 MiB and two passes; a PIN check runs on a request thread, so it must stay cheap to
    serve while costing an offline guesser as much as a server can afford.
    """
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def checked_pin(value: object, field: str = "pin") -> str:
    """``value`` if it is a PIN a person may choose: 6-12 ASCII digits, not a trivial pattern."""
    pin = _checked_digits(value, field)
    if _is_trivial(pin):
        raise InvalidInputError(
            field, "is too easy to guess: no repeated digit, run (123456) or repeated block (121212)"
        )
    return pin


class Pins:
    """Each person's PIN, its attempt counter and lockout, in the store's database."""

    def __init__(
        self,
        store: Store,
        *,
        attempts_max: int = 5,
        lockout_s: float = LOCKOUT_S_DEFAULT,
        lockout_max_s: float = LOCKOUT_MAX_S_DEFAULT,
        hasher: PasswordHasher | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        if isinstance(attempts_max, bool) or not isinstance(attempts_max, int):
            raise InvalidInputError("attempts_max", f"must be an integer, got {attempts_max!r:.20}")
        if not 1 <= attempts_max <= ATTEMPTS_MAX_LIMIT:
            raise InvalidInputError("attempts_max", f"must be from 1 to {ATTEMPTS_MAX_LIMIT}, got {attempts_max}")
        if isinstance(lockout_s, bool) or not isinstance(lockout_s, int | float) or not lockout_s > 0:
            raise InvalidInputError("lockout_s", f"must be a positive number of seconds, got {lockout_s!r:.20}")
        if isinstance(lockout_max_s, bool) or not isinstance(lockout_max_s, int | float) or lockout_max_s < lockout_s:
            raise InvalidInputError("lockout_max_s", f"must be at least lockout_s, got {lockout_max_s!r:.20}")
        self._store = store
        self._attempts_max = attempts_max
        self._lockout_ns = int(lockout_s * _NS)
        self._lockout_max_ns = int(lockout_max_s * _NS)
        self._hasher = hasher or default_hasher()
        self._clock = clock

    def has_pin(self, number: str) -> bool:
        """Whether the person has set a PIN."""
        number = checked_number(number)
        with self._store.transaction() as conn:
            return conn.scalar(select(pins.c.number).where(pins.c.number == number)) is not None

    def set_pin(self, number: str, pin: str, *, current_pin: str | None = None, reset_by: str | None = None) -> None:
        """Set the person's PIN. The first needs nothing more; a change needs ``current_pin``,
        or ``reset_by``: the officer who checked the person in person (this also lifts a lockout).

        A wrong ``current_pin`` counts as a failed attempt, as in ``verify_pin``.
        """
        number = checked_number(number)
        pin = checked_pin(pin)
        if current_pin is not None and reset_by is not None:
            raise InvalidInputError("reset_by", "pass current_pin or reset_by, not both")
        if current_pin is not None:
            _checked_digits(current_pin, "current_pin")
        if reset_by is not None:
            checked_officer(self._store, reset_by, "reset_by")
        if not self.has_pin(number):
            if current_pin is not None:
                raise InvalidInputError("current_pin", "no PIN is set yet")
            self._insert(number, self._hasher.hash(pin), reset_by)
            return
        if current_pin is None and reset_by is None:
            raise ForbiddenError("changing a PIN needs the current PIN, or an officer's reset after an in-person check")
        if current_pin is not None:
            self.verify_pin(number, current_pin)
        pin_hash = self._hasher.hash(pin)
        with self._store.transaction(write=True) as conn:
            conn.execute(
                update(pins)
                .where(pins.c.number == number)
                .values(
                    pin_hash=pin_hash,
                    failed_attempts=0,
                    lockouts=0,
                    locked_until_ns=None,
                    reset_by=reset_by,
                    updated_at_ns=self._clock(),
                )
            )

    def verify_pin(self, number: str, pin: str) -> None:
        """Return if ``pin`` is the person's PIN.

        Raises ``UnauthenticatedError`` (saying how many attempts are left) for a wrong PIN,
        ``CredentialLockedError`` while locked and for the wrong PIN that locks it, and
        ``NotFoundError`` when the person has no PIN.
        """
        number = checked_number(number)
        pin = _checked_digits(pin, "pin")
        pin_hash = self._count_attempt(number)
        try:
            self._hasher.verify(pin_hash, pin)
        except VerifyMismatchError:
            self._failed(number)  # raises
        except (InvalidHashError, VerificationError) as exc:
            raise StoreError(f"the stored PIN hash of {number} is unreadable: {exc}") from exc
        self._clear_attempts(number, pin_hash, pin)

    # --- plumbing -------------------------------------------------------------------------------

    def _insert(self, number: str, pin_hash: str, reset_by: str | None) -> None:
        with self._store.transaction(
            write=True,
            conflict=lambda: (
                ConflictError("number", "a PIN was set meanwhile; pass current_pin to change it")
                if self.has_pin(number)
                else None
            ),
        ) as conn:
            if conn.scalar(select(persons.c.number).where(persons.c.number == number)) is None:
                raise NotFoundError("number", f"no person {number}")
            conn.execute(
                pins.insert().values(
                    number=number,
                    pin_hash=pin_hash,
                    failed_attempts=0,
                    lockouts=0,
                    locked_until_ns=None,
                    reset_by=reset_by,
                    updated_at_ns=self._clock(),
                )
            )

    def _count_attempt(self, number: str) -> str:
        """Count one attempt against the PIN before it is checked; its hash, or the lockout error."""
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            row = _pin_row(conn, number)
            if row.locked_until_ns is not None and now < row.locked_until_ns:
                locked_until_ns = row.locked_until_ns
            elif row.failed_attempts < self._attempts_max:
                # A lockout, once served, is cleared here; locking zeroed the count already.
                conn.execute(
                    update(pins)
                    .where(pins.c.number == number)
                    .values(failed_attempts=row.failed_attempts + 1, locked_until_ns=None)
                )
                return str(row.pin_hash)
            else:
                # Attempts counted but never settled (their process died, or they are still
                # being checked) have used the allowance: lock, as if they all failed.
                values = self._lock_values(row.lockouts, now)
                conn.execute(update(pins).where(pins.c.number == number).values(**values))
                locked_until_ns = values["locked_until_ns"]
        raise _locked_error(locked_until_ns, now)

    def _failed(self, number: str) -> NoReturn:
        """The attempt already counted was wrong: lock if it used up the allowance, and say so."""
        now = self._clock()
        with self._store.transaction(write=True) as conn:
            row = _pin_row(conn, number)
            if row.locked_until_ns is not None and now < row.locked_until_ns:
                locked_until_ns = row.locked_until_ns  # a parallel attempt locked it already
            elif row.failed_attempts >= self._attempts_max:
                values = self._lock_values(row.lockouts, now)
                conn.execute(update(pins).where(pins.c.number == number).values(**values))
                locked_until_ns = values["locked_until_ns"]
            else:
                left = self._attempts_max - row.failed_attempts
                raise UnauthenticatedError(f"wrong PIN; {left} attempt{'s' if left != 1 else ''} left before it locks")
        error = _locked_error(locked_until_ns, now)
        raise CredentialLockedError(f"wrong PIN; {error}", error.retry_after_s)

    def _clear_attempts(self, number: str, pin_hash: str, pin: str) -> None:
        """The PIN was right: forget the failures and lockouts, and rehash if the parameters moved on."""
        values: dict[str, Any] = {"failed_attempts": 0, "lockouts": 0, "locked_until_ns": None}
        if self._hasher.check_needs_rehash(pin_hash):
            values["pin_hash"] = self._hasher.hash(pin)
        with self._store.transaction(write=True) as conn:
            # Only if the PIN was not changed meanwhile: a new PIN's slate is its own.
            conn.execute(update(pins).where(pins.c.number == number, pins.c.pin_hash == pin_hash).values(**values))

    def _lock_values(self, lockouts: int, now: int) -> dict[str, Any]:
        lockout_ns = min(self._lockout_ns << min(lockouts, 32), self._lockout_max_ns)
        return {"failed_attempts": 0, "lockouts": lockouts + 1, "locked_until_ns": now + lockout_ns}


def _pin_row(conn: Connection, number: str) -> Row[Any]:
    row = conn.execute(select(pins).where(pins.c.number == number).with_for_update()).first()
    if row is None:
        raise NotFoundError("number", f"{number} has no PIN")
    return row


def _locked_error(locked_until_ns: int, now: int) -> CredentialLockedError:
    retry_after_s = max(0.0, (locked_until_ns - now) / _NS)
    return CredentialLockedError(
        f"the PIN is locked after too many wrong attempts; try again in {retry_after_s:.0f} s, "
        "or ask an officer to reset it after an in-person check",
        retry_after_s,
    )


def _checked_digits(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise InvalidInputError(field, "a PIN is ASCII digits only")
    if not PIN_DIGITS_MIN <= len(value) <= PIN_DIGITS_MAX:
        raise InvalidInputError(field, f"a PIN is {PIN_DIGITS_MIN}-{PIN_DIGITS_MAX} digits, got {len(value)}")
    return value


def _is_trivial(pin: str) -> bool:
    """One digit repeated, a run up or down (wrapping 9 to 0, as on a keypad), or a block of up to 3 repeated."""
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    if steps in ({0}, {1}, {9}):
        return True
    return any(len(pin) % size == 0 and pin == pin[:size] * (len(pin) // size) for size in (2, 3))


def checked_officer(store: Store, principal_id: object, field: str) -> str:
    """``principal_id`` if it names an enabled officer: only officers check people in person.

    Shared with ``passkeys``: a PIN reset and a passkey rebind rest on the same in-person check.
    """
    if not isinstance(principal_id, str):
        raise InvalidInputError(field, "must be a principal id")
    try:
        principal = store.get_principal(principal_id)
    except InvalidInputError as exc:
        raise InvalidInputError(field, str(exc).split(": ", 1)[-1]) from None
    if principal is None:
        raise NotFoundError(field, f"no principal {principal_id}")
    if principal.role is not Role.officer or principal.disabled:
        raise ForbiddenError(f"{field}: only an enabled officer may do this after an in-person check")
    return principal_id
