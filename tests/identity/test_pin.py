"""The Tessera PIN: trivial ones refused, wrong guesses counted (in parallel too), lockout, officer reset."""

from __future__ import annotations

import threading
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from tessera.auth.principals import Role
from tessera.errors import (
    ConflictError,
    CredentialLockedError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from tessera.identity.pin import Pins, checked_pin, default_hasher
from tessera.identity.registry import Registry
from tessera.store import Store
from tessera.store.tables import pins as pins_table

PIN = "274915"
OTHER_PIN = "608243"
WRONG = "999123"
STATION = "p_00000000000000aa"
S = 1_000_000_000


class FakeClock:
    """Nanoseconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000 * S

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * S)


class CountingHasher(PasswordHasher):
    """Cheap argon2id parameters for tests, and a count of the hashes checked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, **kwargs)
        self.checked = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.checked += 1
        return super().verify(hash, password)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def pins(store: Store, clock: FakeClock, hasher: CountingHasher) -> Pins:
    return Pins(store, attempts_max=5, lockout_s=60, lockout_max_s=600, hasher=hasher, clock=clock)


@pytest.fixture
def officer(store: Store) -> str:
    return store.create_principal("officer 7", Role.officer, agency="civil-registry").id


@pytest.fixture
def number(store: Store) -> str:
    facts = {"name": "Amina Qasym", "birth_date": "1990-04-01", "sex": "F"}
    return Registry(store).create_person(facts, station=STATION).number


@pytest.fixture
def with_pin(pins: Pins, number: str) -> str:
    pins.set_pin(number, PIN)
    return number


def fail(pins: Pins, number: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(UnauthenticatedError):
            pins.verify_pin(number, WRONG)


class TestChoosing:
    @pytest.mark.parametrize(
        "pin",
        ["000000", "777777777", "123456", "456789", "890123", "987654", "3210987", "121212", "123123", "9090909090"],
    )
    def test_trivial_pins_refused(self, pin: str) -> None:
        """One digit repeated, a run up or down, a short block repeated: InvalidInputError naming pin."""
        with pytest.raises(InvalidInputError, match="easy") as caught:
            checked_pin(pin)
        assert caught.value.field == "pin"

    @pytest.mark.parametrize("pin", ["12345", "1234567890123", "12345a", "١٢٣٤٥٦٧", " 274915", 274915, None])
    def test_malformed_pins_refused(self, pin: object) -> None:
        """6-12 ASCII digits, as a string, nothing else."""
        with pytest.raises(InvalidInputError) as caught:
            checked_pin(pin)
        assert caught.value.field == "pin"

    @pytest.mark.parametrize("pin", [PIN, "000137", "112358", "135792468024"])
    def test_ordinary_pins_accepted(self, pin: str) -> None:
        """Digits without an obvious pattern pass."""
        assert checked_pin(pin) == pin

    def test_set_and_verify(self, store: Store, pins: Pins, number: str) -> None:
        """The first PIN needs nothing more; it is stored as an argon2id hash only."""
        assert not pins.has_pin(number)
        pins.set_pin(number, PIN)
        assert pins.has_pin(number)
        pins.verify_pin(number, PIN)
        with store.transaction() as conn:
            stored = str(conn.scalar(select(pins_table.c.pin_hash)))
        assert stored.startswith("$argon2id$") and PIN not in stored

    def test_unknown_person__not_found(self, pins: Pins) -> None:
        """A PIN for a number nobody holds is NotFoundError; so is checking one never set."""
        with pytest.raises(NotFoundError):
            pins.set_pin("234567890124", PIN)
        with pytest.raises(NotFoundError):
            pins.verify_pin("234567890124", PIN)

    def test_change_needs_the_current_pin(self, pins: Pins, with_pin: str) -> None:
        """Changing a PIN needs the current one; a wrong current PIN counts as a failed attempt."""
        with pytest.raises(ForbiddenError):
            pins.set_pin(with_pin, OTHER_PIN)
        with pytest.raises(UnauthenticatedError, match="4 attempts left"):
            pins.set_pin(with_pin, OTHER_PIN, current_pin=WRONG)
        pins.set_pin(with_pin, OTHER_PIN, current_pin=PIN)
        pins.verify_pin(with_pin, OTHER_PIN)
        with pytest.raises(UnauthenticatedError):
            pins.verify_pin(with_pin, PIN)

    def test_first_pin_with_a_current_pin__invalid_input(self, pins: Pins, number: str) -> None:
        """There is no current PIN to give before the first is set."""
        with pytest.raises(InvalidInputError) as caught:
            pins.set_pin(number, PIN, current_pin=OTHER_PIN)
        assert caught.value.field == "current_pin"

    def test_rehashed_when_the_parameters_change(self, store: Store, number: str, clock: FakeClock) -> None:
        """A right PIN checked under newer parameters is stored again under them."""
        Pins(store, hasher=CountingHasher(), clock=clock).set_pin(number, PIN)
        stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
        Pins(store, hasher=stronger, clock=clock).verify_pin(number, PIN)
        with store.transaction() as conn:
            assert "m=16,t=2" in str(conn.scalar(select(pins_table.c.pin_hash)))

    def test_default_parameters_are_argon2id(self) -> None:
        """The production hasher is argon2id with real memory hardness."""
        hasher = default_hasher()
        assert hasher.type.name == "ID" and hasher.memory_cost >= 19 * 1024


class TestLockout:
    def test_wrong_pins_count_down_then_lock(self, pins: Pins, with_pin: str, clock: FakeClock) -> None:
        """Each wrong PIN says what is left; the fifth locks, and even the right PIN waits out the lockout."""
        for left in (4, 3, 2):
            with pytest.raises(UnauthenticatedError, match=f"{left} attempts left"):
                pins.verify_pin(with_pin, WRONG)
        with pytest.raises(UnauthenticatedError, match="1 attempt left"):
            pins.verify_pin(with_pin, WRONG)
        with pytest.raises(CredentialLockedError, match="wrong PIN") as caught:
            pins.verify_pin(with_pin, WRONG)
        assert caught.value.retry_after_s == 60
        clock.advance(59)
        with pytest.raises(CredentialLockedError):
            pins.verify_pin(with_pin, PIN)
        clock.advance(1)
        pins.verify_pin(with_pin, PIN)

    def test_a_right_pin_clears_the_count(self, pins: Pins, with_pin: str) -> None:
        """Failures before a right PIN are forgotten."""
        fail(pins, with_pin, 4)
        pins.verify_pin(with_pin, PIN)
        with pytest.raises(UnauthenticatedError, match="4 attempts left"):
            pins.verify_pin(with_pin, WRONG)

    def test_lockouts_in_a_row_double(self, pins: Pins, with_pin: str, clock: FakeClock) -> None:
        """The second lockout without a right PIN between lasts twice as long, up to the cap."""
        for expected in (60, 120, 240, 480, 600, 600):
            fail(pins, with_pin, 4)
            with pytest.raises(CredentialLockedError) as caught:
                pins.verify_pin(with_pin, WRONG)
            assert caught.value.retry_after_s == expected
            clock.advance(expected)

    def test_locked_pin_checks_no_hash(self, pins: Pins, with_pin: str, hasher: CountingHasher) -> None:
        """While locked, guesses are refused before any hash is computed."""
        fail(pins, with_pin, 4)
        with pytest.raises(CredentialLockedError):
            pins.verify_pin(with_pin, WRONG)
        checked = hasher.checked
        for _ in range(3):
            with pytest.raises(CredentialLockedError):
                pins.verify_pin(with_pin, PIN)
        assert hasher.checked == checked

    def test_officer_reset_lifts_the_lockout(self, store: Store, pins: Pins, with_pin: str, officer: str) -> None:
        """After an in-person check an officer sets a new PIN, which works at once."""
        fail(pins, with_pin, 4)
        with pytest.raises(CredentialLockedError):
            pins.verify_pin(with_pin, WRONG)
        pins.set_pin(with_pin, OTHER_PIN, reset_by=officer)
        pins.verify_pin(with_pin, OTHER_PIN)
        with store.transaction() as conn:
            assert conn.scalar(select(pins_table.c.reset_by)) == officer

    def test_only_an_enabled_officer_resets(self, store: Store, pins: Pins, with_pin: str, officer: str) -> None:
        """A citizen cannot reset; an unknown or malformed officer id is refused."""
        citizen = store.create_principal("carol", Role.citizen).id
        with pytest.raises(ForbiddenError):
            pins.set_pin(with_pin, OTHER_PIN, reset_by=citizen)
        with pytest.raises(NotFoundError):
            pins.set_pin(with_pin, OTHER_PIN, reset_by="p_0123456789abcdef")
        with pytest.raises(InvalidInputError) as caught:
            pins.set_pin(with_pin, OTHER_PIN, reset_by="officer")
        assert caught.value.field == "reset_by"
        with pytest.raises(InvalidInputError):
            pins.set_pin(with_pin, OTHER_PIN, current_pin=PIN, reset_by=officer)
        pins.verify_pin(with_pin, PIN)

    def test_parallel_wrong_pins_all_count(self, store: Store, clock: FakeClock, with_pin: str) -> None:
        """Guesses sent at once each count, and no more than attempts_max hashes are checked per lockout."""
        hasher = CountingHasher()
        pins = Pins(store, attempts_max=5, lockout_s=60, hasher=hasher, clock=clock)
        barrier = threading.Barrier(12)
        outcomes: list[type[Exception]] = []

        def guess() -> None:
            barrier.wait()
            try:
                pins.verify_pin(with_pin, WRONG)
            except (UnauthenticatedError, CredentialLockedError) as exc:
                outcomes.append(type(exc))

        threads = [threading.Thread(target=guess) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == 12
        assert hasher.checked == 5
        # At most four hear "attempts left": the fifth locks, or a guess beyond the allowance
        # locks first and the guesses still being checked then hear "locked".
        assert outcomes.count(UnauthenticatedError) <= 4
        with pytest.raises(CredentialLockedError):
            pins.verify_pin(with_pin, PIN)

    def test_two_parallel_wrong_pins_both_count(self, store: Store, clock: FakeClock, with_pin: str) -> None:
        """Two guesses at once leave three attempts, not four."""
        pins = Pins(store, attempts_max=5, hasher=CountingHasher(), clock=clock)
        barrier = threading.Barrier(2)

        def guess() -> None:
            barrier.wait()
            with pytest.raises(UnauthenticatedError):
                pins.verify_pin(with_pin, WRONG)

        threads = [threading.Thread(target=guess) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with pytest.raises(UnauthenticatedError, match="2 attempts left"):
            pins.verify_pin(with_pin, WRONG)

    def test_set_twice_at_once__one_conflict(self, store: Store, clock: FakeClock, number: str) -> None:
        """Two first PINs set together: one wins, the other hears it was set meanwhile."""
        pins = Pins(store, hasher=CountingHasher(), clock=clock)
        pins.set_pin(number, PIN)
        with pytest.raises(ForbiddenError):
            pins.set_pin(number, OTHER_PIN)
        # The race itself: has_pin said no, then the insert found the other's row.
        answers = iter([False, True])
        pins.has_pin = lambda number: next(answers)  # type: ignore[method-assign]
        with pytest.raises(ConflictError, match="meanwhile"):
            pins.set_pin(number, OTHER_PIN)
        pins.verify_pin(number, PIN)


class TestConstructor:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"attempts_max": 0}, "attempts_max"),
            ({"attempts_max": True}, "attempts_max"),
            ({"lockout_s": 0}, "lockout_s"),
            ({"lockout_s": 60, "lockout_max_s": 30}, "lockout_max_s"),
        ],
    )
    def test_limits_are_checked(self, store: Store, kwargs: dict[str, Any], field: str) -> None:
        """Nonsense limits are InvalidInputError naming the argument."""
        with pytest.raises(InvalidInputError) as caught:
            Pins(store, **kwargs)
        assert caught.value.field == field
