"""Passkeys: bound with a grant or a live key, logged in with, refused when cloned, revoked or replayed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tessera.auth.principals import Role
from tessera.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from tessera.identity.numbers import new_number
from tessera.identity.passkeys import (
    CEREMONY_KEEP_S,
    NO_PASSKEY,
    NOT_LOGGING_IN,
    PASSKEYS_LIVE_MAX,
    UNKNOWN_NUMBER,
    PasskeyRecord,
    Passkeys,
)
from tessera.identity.registry import Registry
from tessera.store import Store
from tessera.store.tables import passkeys as passkeys_table
from tessera.store.tables import rebind_grants
from tests.identity.softauthn import SOFT_AAGUID, AuthenticatorError, SoftAuthenticator

RP_ID = "tessera.test"
ORIGIN = "https://id.tessera.test"
PHISHING = "https://id.tessera-login.test"
STATION = "p_00000000000000aa"
S = 1_000_000_000


class FakeClock:
    """Nanoseconds that tick a microsecond a reading, so events keep their order, and jump when told."""

    def __init__(self) -> None:
        self.now = 1_800_000_000 * S

    def __call__(self) -> int:
        self.now += 1000
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * S)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def passkeys(store: Store, clock: FakeClock) -> Passkeys:
    return Passkeys(store, RP_ID, "Tessera", [ORIGIN], clock=clock)


@pytest.fixture
def officer(store: Store) -> str:
    return store.create_principal("officer 7", Role.officer, agency="civil-registry").id


def new_person(store: Store, name: str = "Amina Qasym") -> str:
    return Registry(store).create_person({"name": name, "birth_date": "1990-04-01", "sex": "F"}, station=STATION).number


@pytest.fixture
def number(store: Store) -> str:
    return new_person(store)


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator()


def bind(passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str, label: str = "") -> PasskeyRecord:
    """Bind a passkey the way an enrolment desk does: a grant, then the ceremony."""
    token = passkeys.grant_rebind(number, officer)
    ceremony = passkeys.begin_registration(number, label=label, rebind_token=token)
    return passkeys.finish_registration(ceremony.id, device.create(ceremony.options, ORIGIN))


def add(passkeys: Passkeys, number: str, device: SoftAuthenticator, label: str = "") -> PasskeyRecord:
    """Bind another passkey, as a person logged in with a live one does."""
    ceremony = passkeys.begin_registration(number, label=label)
    return passkeys.finish_registration(ceremony.id, device.create(ceremony.options, ORIGIN))


def login(passkeys: Passkeys, device: SoftAuthenticator, number: str | None = None, **kwargs: Any) -> str:
    ceremony = passkeys.begin_login(number)
    return passkeys.finish_login(ceremony.id, device.get(ceremony.options, ORIGIN, **kwargs))


def stored_count(store: Store, credential_id: str) -> int:
    query = select(passkeys_table.c.sign_count).where(passkeys_table.c.credential_id == credential_id)
    with store.transaction() as conn:
        return int(conn.execute(query).scalar_one())


class TestRegistration:
    def test_bound_passkey_logs_in(
        self, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str
    ) -> None:
        """A passkey bound with a grant logs the person in, by number and discoverably."""
        record = bind(passkeys, number, device, officer, label="my phone")
        assert record.number == number and record.label == "my phone" and not record.revoked
        assert record.aaguid == str(SOFT_AAGUID)
        assert record.transports == ("hybrid", "internal")
        assert login(passkeys, device, number) == number
        assert login(passkeys, device) == number

    def test_options_require_a_discoverable_user_verified_key(
        self, passkeys: Passkeys, number: str, officer: str
    ) -> None:
        """Registration asks for a resident key, user verification, no attestation, ES256 first."""
        options = passkeys.begin_registration(number, rebind_token=passkeys.grant_rebind(number, officer)).options
        assert options["authenticatorSelection"]["residentKey"] == "required"
        assert options["authenticatorSelection"]["userVerification"] == "required"
        assert options["attestation"] == "none"
        assert options["pubKeyCredParams"][0] == {"type": "public-key", "alg": -7}
        assert options["rp"] == {"id": RP_ID, "name": "Tessera"}

    def test_the_number_never_reaches_the_authenticator(self, passkeys: Passkeys, number: str, officer: str) -> None:
        """The user handle is random and stable; the number is nowhere in the options."""
        first = passkeys.begin_registration(number, rebind_token=passkeys.grant_rebind(number, officer)).options
        second = passkeys.begin_registration(number, rebind_token=passkeys.grant_rebind(number, officer)).options
        assert number not in json.dumps(first)
        assert first["user"]["id"] == second["user"]["id"]
        assert first["user"]["name"] == "Amina Qasym"

    @pytest.mark.parametrize("label", ["my\u200b phone", "\u3164", "phone \u202eenohp", "phone\ufe0f"])
    def test_a_label_that_hides_something__refused(
        self, passkeys: Passkeys, number: str, officer: str, label: str
    ) -> None:
        """An officer may name the device at a re-binding, and the person reads it: nothing in it hidden."""
        token = passkeys.grant_rebind(number, officer)
        with pytest.raises(InvalidInputError) as caught:
            passkeys.begin_registration(number, label=label, rebind_token=token)
        assert caught.value.field == "label"

    def test_first_passkey_needs_a_grant(self, passkeys: Passkeys, number: str) -> None:
        """Without a live passkey, only an officer's grant lets one be bound."""
        with pytest.raises(ForbiddenError, match="rebind grant"):
            passkeys.begin_registration(number)

    def test_second_passkey_with_a_live_one(
        self, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str
    ) -> None:
        """A person with a live passkey adds another; the device holding the first is excluded."""
        first = bind(passkeys, number, device, officer)
        ceremony = passkeys.begin_registration(number, label="laptop")
        assert [c["id"] for c in ceremony.options["excludeCredentials"]] == [first.credential_id]
        with pytest.raises(AuthenticatorError, match="excluded"):
            device.create(ceremony.options, ORIGIN)
        laptop = SoftAuthenticator()
        second = passkeys.finish_registration(ceremony.id, laptop.create(ceremony.options, ORIGIN))
        assert [p.credential_id for p in passkeys.list_passkeys(number)] == [second.credential_id, first.credential_id]
        assert login(passkeys, laptop, number) == login(passkeys, device, number) == number

    def test_not_user_verified__unauthenticated(self, passkeys: Passkeys, number: str, officer: str) -> None:
        """A device that skipped its biometric binds nothing; the ceremony stays open for one that did not."""
        ceremony = passkeys.begin_registration(number, rebind_token=passkeys.grant_rebind(number, officer))
        with pytest.raises(UnauthenticatedError, match="User verification"):
            passkeys.finish_registration(
                ceremony.id, SoftAuthenticator(user_verified=False).create(ceremony.options, ORIGIN)
            )
        assert passkeys.list_passkeys(number) == []
        bound = passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, ORIGIN))
        assert [p.credential_id for p in passkeys.list_passkeys(number)] == [bound.credential_id]

    def test_wrong_origin__unauthenticated(self, passkeys: Passkeys, number: str, officer: str) -> None:
        """A registration made on another site is refused."""
        ceremony = passkeys.begin_registration(number, rebind_token=passkeys.grant_rebind(number, officer))
        with pytest.raises(UnauthenticatedError, match="origin"):
            passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, PHISHING))
        assert passkeys.list_passkeys(number) == []

    def test_key_for_another_rp__unauthenticated(self, passkeys: Passkeys, number: str, officer: str) -> None:
        """A key scoped to another relying party is refused."""
        ceremony = passkeys.begin_registration(number, rebind_token=passkeys.grant_rebind(number, officer))
        answer = SoftAuthenticator().create(ceremony.options, ORIGIN, rp_id="evil.test")
        with pytest.raises(UnauthenticatedError, match="RP ID"):
            passkeys.finish_registration(ceremony.id, answer)

    def test_revoked_meanwhile__forbidden(
        self, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str
    ) -> None:
        """A registration begun with a key that is revoked before it finishes binds nothing (a stolen phone)."""
        stolen = bind(passkeys, number, device, officer)
        ceremony = passkeys.begin_registration(number)
        passkeys.revoke_passkey(number, stolen.credential_id)
        with pytest.raises(ForbiddenError):
            passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, ORIGIN))
        assert len(passkeys.list_passkeys(number)) == 1

    def test_live_passkeys_are_limited(self, passkeys: Passkeys, number: str, officer: str) -> None:
        """At most PASSKEYS_LIVE_MAX live passkeys; a revoked one frees a place."""
        first = bind(passkeys, number, SoftAuthenticator(), officer)
        for _ in range(PASSKEYS_LIVE_MAX - 1):
            add(passkeys, number, SoftAuthenticator())
        with pytest.raises(ConflictError, match="revoke one"):
            passkeys.begin_registration(number)
        passkeys.revoke_passkey(number, first.credential_id)
        last = add(passkeys, number, SoftAuthenticator())
        assert sum(not p.revoked for p in passkeys.list_passkeys(number)) == PASSKEYS_LIVE_MAX and not last.revoked

    def test_suspended_person__forbidden(self, store: Store, passkeys: Passkeys, number: str, officer: str) -> None:
        """No passkey is bound for a person who is not active, grant or not."""
        token = passkeys.grant_rebind(number, officer)
        Registry(store).set_status(number, "suspended", reason="fraud inquiry", actor=officer)
        with pytest.raises(ForbiddenError, match="suspended"):
            passkeys.begin_registration(number, rebind_token=token)

    def test_unknown_person__not_found(self, passkeys: Passkeys, officer: str) -> None:
        """A well-formed number nobody holds is NotFoundError."""
        with pytest.raises(NotFoundError):
            passkeys.grant_rebind("234567890124", officer)


class TestLogin:
    @pytest.fixture
    def bound(self, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str) -> PasskeyRecord:
        return bind(passkeys, number, device, officer)

    def test_login_moves_the_counter_and_last_use(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator, clock: FakeClock
    ) -> None:
        """Each login stores the authenticator's counter and the time."""
        login(passkeys, device)
        clock.advance(10)
        login(passkeys, device)
        (record,) = passkeys.list_passkeys(bound.number)
        assert record.sign_count == 2 and record.last_used_at_ns == clock.now

    def test_wrong_origin__unauthenticated_and_nothing_changes(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """An answer made on a phishing site is refused; the ceremony stays open for the real one."""
        ceremony = passkeys.begin_login(bound.number)
        with pytest.raises(UnauthenticatedError, match="origin"):
            passkeys.finish_login(ceremony.id, device.get(ceremony.options, PHISHING))
        assert stored_count(store, bound.credential_id) == 0
        assert passkeys.finish_login(ceremony.id, device.get(ceremony.options, ORIGIN)) == bound.number

    def test_wrong_challenge__unauthenticated(
        self, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """An answer to one ceremony does not finish another."""
        first, second = passkeys.begin_login(), passkeys.begin_login()
        with pytest.raises(UnauthenticatedError, match="challenge"):
            passkeys.finish_login(second.id, device.get(first.options, ORIGIN))

    def test_replayed_ceremony__conflict(
        self, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """A ceremony finishes once; the same answer again is a ConflictError."""
        ceremony = passkeys.begin_login()
        answer = device.get(ceremony.options, ORIGIN)
        passkeys.finish_login(ceremony.id, answer)
        with pytest.raises(ConflictError) as caught:
            passkeys.finish_login(ceremony.id, answer)
        assert caught.value.field == "ceremony_id"

    def test_expired_ceremony__unauthenticated(
        self, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator, clock: FakeClock
    ) -> None:
        """A ceremony older than its five minutes is refused as expired, and later forgotten."""
        ceremony = passkeys.begin_login()
        answer = device.get(ceremony.options, ORIGIN)
        clock.advance(5 * 60)
        with pytest.raises(UnauthenticatedError, match="expired"):
            passkeys.finish_login(ceremony.id, answer)
        clock.advance(CEREMONY_KEEP_S + 1)
        passkeys.begin_login()  # purges
        with pytest.raises(NotFoundError):
            passkeys.finish_login(ceremony.id, answer)

    def test_unknown_or_other_kind_of_ceremony__not_found(
        self, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """A ceremony id nobody issued, or a login's id given to finish a registration, is NotFoundError."""
        ceremony = passkeys.begin_login()
        answer = device.get(ceremony.options, ORIGIN)
        with pytest.raises(NotFoundError):
            passkeys.finish_login("c_" + "0" * 32, answer)
        with pytest.raises(NotFoundError):
            passkeys.finish_registration(ceremony.id, answer)
        with pytest.raises(InvalidInputError) as caught:
            passkeys.finish_login("c_nope", answer)
        assert caught.value.field == "ceremony_id"

    def test_revoked_passkey__unauthenticated(
        self, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """A revoked passkey never logs in again."""
        passkeys.revoke_passkey(bound.number, bound.credential_id)
        with pytest.raises(UnauthenticatedError, match="revoked"):
            login(passkeys, device)

    def test_cloned_key__unauthenticated(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """A copy used after the original shows a counter that went back, and is refused."""
        clone = device.clone()
        login(passkeys, device)
        login(passkeys, device)
        with pytest.raises(UnauthenticatedError, match="cloned"):
            login(passkeys, clone)
        device.set_counter(bound.credential_id, 1)
        with pytest.raises(UnauthenticatedError, match="cloned"):
            login(passkeys, device)  # reports 2 again: a counter that stands still is refused too
        assert stored_count(store, bound.credential_id) == 2

    def test_counterless_authenticator_logs_in_again_and_again(
        self, passkeys: Passkeys, number: str, officer: str
    ) -> None:
        """A device that always reports 0 (a synced passkey) is not taken for a clone."""
        device = SoftAuthenticator(counter=False)
        bind(passkeys, number, device, officer)
        assert [login(passkeys, device) for _ in range(3)] == [number] * 3

    def test_someone_elses_passkey__unauthenticated(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator, officer: str
    ) -> None:
        """A login begun for one person is not finished with another person's passkey."""
        other = new_person(store, "Bob")
        bind(passkeys, other, SoftAuthenticator(), officer)
        ceremony = passkeys.begin_login(other)
        with pytest.raises(UnauthenticatedError, match="not this person's"):
            passkeys.finish_login(ceremony.id, device.get(ceremony.options, ORIGIN, credential_id=bound.credential_id))

    def test_discoverable_login_picks_the_person(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator, officer: str
    ) -> None:
        """With no number, the passkey the person picks on a shared device says who they are."""
        other = new_person(store, "Bob")
        theirs = bind(passkeys, other, device, officer)
        assert login(passkeys, device, credential_id=theirs.credential_id) == other
        assert login(passkeys, device, credential_id=bound.credential_id) == bound.number

    def test_not_user_verified__unauthenticated(
        self, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """A login without the device's biometric or PIN is refused."""
        device.user_verified = False
        with pytest.raises(UnauthenticatedError, match="User verification"):
            login(passkeys, device)

    def test_unknown_passkey__unauthenticated(
        self, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """A key whose registration never finished is refused."""
        stranger = SoftAuthenticator()
        stranger.create(passkeys.begin_registration(bound.number).options, ORIGIN)
        with pytest.raises(UnauthenticatedError, match="not bound"):
            login(passkeys, stranger)

    def test_malformed_answer__unauthenticated(self, passkeys: Passkeys, bound: PasskeyRecord) -> None:
        """Garbage from the browser is UnauthenticatedError; a non-JSON argument is InvalidInputError."""
        ceremony = passkeys.begin_login()
        garbage_answers: list[Any] = [
            "{",
            {"id": "x"},
            {"id": "!!", "rawId": "!!", "type": "public-key", "response": {}},
            {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": 1}},
        ]
        for garbage in garbage_answers:
            with pytest.raises(UnauthenticatedError):
                passkeys.finish_login(ceremony.id, garbage)
        with pytest.raises(InvalidInputError) as caught:
            passkeys.finish_login(ceremony.id, 5)  # type: ignore[arg-type]
        assert caught.value.field == "credential"

    def test_revoked_person__unauthenticated(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator, officer: str
    ) -> None:
        """A revoked identity's passkeys are refused at the finish; the begin says so only to the service."""
        ceremony = passkeys.begin_login()
        Registry(store).set_status(bound.number, "revoked", reason="identity fraud", actor=officer)
        with pytest.raises(UnauthenticatedError, match="revoked"):
            passkeys.finish_login(ceremony.id, device.get(ceremony.options, ORIGIN))
        by_number = passkeys.begin_login(bound.number)
        assert by_number.refusal == NOT_LOGGING_IN
        with pytest.raises(UnauthenticatedError, match="revoked"):
            passkeys.finish_login(by_number.id, device.get(by_number.options, ORIGIN))

    def test_suspended_person_still_logs_in(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator, officer: str
    ) -> None:
        """A suspended person logs in to Tessera, to read the notice and appeal."""
        Registry(store).set_status(bound.number, "suspended", reason="fraud inquiry", actor=officer)
        ceremony = passkeys.begin_login(bound.number)
        assert passkeys.finish_login(ceremony.id, device.get(ceremony.options, ORIGIN)) == bound.number

    def test_numbers_that_cannot_log_in_are_begun_like_any_other(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord
    ) -> None:
        """No passkey, no such person: the options are those of a real login, no credential listed;
        only ``refusal`` (for the service's own log) says why it cannot succeed."""
        keyless = new_person(store, "Bob")
        nobody = next(n for n in (new_number() for _ in range(3)) if n not in (keyless, bound.number))
        ceremonies = {
            None: passkeys.begin_login(bound.number),
            NO_PASSKEY: passkeys.begin_login(keyless),
            UNKNOWN_NUMBER: passkeys.begin_login(nobody),
        }
        for refusal, ceremony in ceremonies.items():
            assert ceremony.refusal == refusal
            assert ceremony.options["allowCredentials"] == []
            assert {k: v for k, v in ceremony.options.items() if k != "challenge"} == {
                k: v for k, v in ceremonies[None].options.items() if k != "challenge"
            }

    def test_a_login_for_a_number_nobody_holds_takes_no_passkey(
        self, store: Store, passkeys: Passkeys, bound: PasskeyRecord, device: SoftAuthenticator
    ) -> None:
        """It fails as a login begun for someone else would: a real passkey does not turn it into a discoverable one."""
        nobody = next(n for n in (new_number() for _ in range(3)) if n != bound.number)
        ceremony = passkeys.begin_login(nobody)
        with pytest.raises(UnauthenticatedError, match="not this person's"):
            passkeys.finish_login(ceremony.id, device.get(ceremony.options, ORIGIN))

    def test_an_answer_nested_deep__invalid_input_not_a_recursion_error(self, passkeys: Passkeys) -> None:
        """Nested a thousand deep, as a dict or as JSON text, the answer is refused before anything parses it."""
        ceremony = passkeys.begin_login()
        nested: dict[str, Any] = {}
        for _ in range(1000):
            nested = {"x": nested}
        text = '{"id": "' + '\\"[' * 10 + '", "x": ' + "[" * 30_000 + "]" * 30_000 + "}"
        for answer in (nested, text, {"id": "AA", "response": {"x": [[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}}):
            with pytest.raises(InvalidInputError, match="deeper than") as caught:
                passkeys.finish_login(ceremony.id, answer)
            assert caught.value.field == "credential"


class TestRebind:
    def test_lost_device__rebind_replaces_every_passkey(
        self, store: Store, passkeys: Passkeys, number: str, officer: str
    ) -> None:
        """After an in-person check a new device is bound, and the lost ones stop working at once."""
        phone, laptop, new_phone = SoftAuthenticator(), SoftAuthenticator(), SoftAuthenticator()
        bind(passkeys, number, phone, officer, label="phone")
        add(passkeys, number, laptop, label="laptop")
        token = passkeys.grant_rebind(number, officer)
        ceremony = passkeys.begin_registration(number, label="new phone", rebind_token=token)
        assert ceremony.options["excludeCredentials"] == []
        passkeys.finish_registration(ceremony.id, new_phone.create(ceremony.options, ORIGIN))
        listed = passkeys.list_passkeys(number)
        assert [(p.label, p.revoked) for p in listed] == [("new phone", False), ("laptop", True), ("phone", True)]
        for lost in (phone, laptop):
            with pytest.raises(UnauthenticatedError, match="revoked"):
                login(passkeys, lost)
        assert login(passkeys, new_phone, number) == number
        with store.transaction() as conn:
            assert conn.scalar(select(rebind_grants.c.officer_id)) == officer

    def test_grant_is_single_use(self, passkeys: Passkeys, number: str, officer: str) -> None:
        """A used rebind token is refused."""
        token = passkeys.grant_rebind(number, officer)
        ceremony = passkeys.begin_registration(number, rebind_token=token)
        again = passkeys.begin_registration(number, rebind_token=token)
        passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, ORIGIN))
        with pytest.raises(UnauthenticatedError, match="used"):
            passkeys.begin_registration(number, rebind_token=token)
        with pytest.raises(UnauthenticatedError, match="rebind_token"):
            passkeys.finish_registration(again.id, SoftAuthenticator().create(again.options, ORIGIN))

    def test_grant_expires(
        self, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str, clock: FakeClock
    ) -> None:
        """A grant past its ttl binds nothing and revokes nothing, at begin or at finish."""
        kept = bind(passkeys, number, device, officer)
        token = passkeys.grant_rebind(number, officer, ttl_s=60)
        ceremony = passkeys.begin_registration(number, rebind_token=token)
        clock.advance(60)
        with pytest.raises(UnauthenticatedError, match="rebind_token"):
            passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, ORIGIN))
        with pytest.raises(UnauthenticatedError, match="expired"):
            passkeys.begin_registration(number, rebind_token=token)
        assert [p.credential_id for p in passkeys.list_passkeys(number) if not p.revoked] == [kept.credential_id]

    def test_failed_rebind_changes_nothing(
        self, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str
    ) -> None:
        """A rebind whose answer does not verify keeps the old passkeys and the grant."""
        bind(passkeys, number, device, officer)
        token = passkeys.grant_rebind(number, officer)
        ceremony = passkeys.begin_registration(number, rebind_token=token)
        with pytest.raises(UnauthenticatedError):
            passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, PHISHING))
        assert login(passkeys, device) == number
        rebound = passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, ORIGIN))
        assert rebound.number == number and not rebound.revoked

    def test_newer_grant_cuts_the_older_short(self, passkeys: Passkeys, number: str, officer: str) -> None:
        """Only the newest grant works."""
        older = passkeys.grant_rebind(number, officer)
        newer = passkeys.grant_rebind(number, officer)
        with pytest.raises(UnauthenticatedError, match="newer"):
            passkeys.begin_registration(number, rebind_token=older)
        ceremony = passkeys.begin_registration(number, rebind_token=newer)
        assert (
            passkeys.finish_registration(ceremony.id, SoftAuthenticator().create(ceremony.options, ORIGIN)).number
            == number
        )

    def test_another_persons_grant__unauthenticated(
        self, store: Store, passkeys: Passkeys, number: str, officer: str
    ) -> None:
        """A token works for the person it was granted to only."""
        token = passkeys.grant_rebind(new_person(store, "Bob"), officer)
        with pytest.raises(UnauthenticatedError, match="no such grant"):
            passkeys.begin_registration(number, rebind_token=token)
        with pytest.raises(InvalidInputError) as caught:
            passkeys.begin_registration(number, rebind_token="trb_short")
        assert caught.value.field == "rebind_token"

    def test_only_an_enabled_officer_grants(self, store: Store, passkeys: Passkeys, number: str, officer: str) -> None:
        """A citizen or a disabled officer may not grant; an unknown id is NotFoundError."""
        citizen = store.create_principal("carol", Role.citizen).id
        with pytest.raises(ForbiddenError):
            passkeys.grant_rebind(number, citizen)
        store.disable_principal(officer)
        with pytest.raises(ForbiddenError):
            passkeys.grant_rebind(number, officer)
        with pytest.raises(NotFoundError):
            passkeys.grant_rebind(number, "p_0123456789abcdef")
        with pytest.raises(InvalidInputError) as caught:
            passkeys.grant_rebind(number, "officer")
        assert caught.value.field == "officer_principal_id"


class TestManaging:
    def test_revoke_someone_elses__not_found(
        self, store: Store, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str
    ) -> None:
        """A person revokes only their own passkeys."""
        record = bind(passkeys, number, device, officer)
        with pytest.raises(NotFoundError) as caught:
            passkeys.revoke_passkey(new_person(store, "Bob"), record.credential_id)
        assert caught.value.field == "credential_id"
        assert login(passkeys, device) == number

    def test_revoke_twice_keeps_the_first_time(
        self, passkeys: Passkeys, number: str, device: SoftAuthenticator, officer: str, clock: FakeClock
    ) -> None:
        """Revoking is idempotent; the record says when it first happened."""
        record = bind(passkeys, number, device, officer)
        passkeys.revoke_passkey(number, record.credential_id)
        first = clock.now
        clock.advance(5)
        passkeys.revoke_passkey(number, record.credential_id)
        assert passkeys.list_passkeys(number)[0].revoked_at_ns == first

    def test_arguments_are_checked(self, passkeys: Passkeys, number: str) -> None:
        """Malformed ids and labels are InvalidInputError naming the field."""
        cases: list[tuple[Callable[[], object], str]] = [
            (lambda: passkeys.revoke_passkey(number, "not base64!"), "credential_id"),
            (lambda: passkeys.begin_registration(number, label="x" * 65), "label"),
            (lambda: passkeys.begin_registration(number, label="tab\there"), "label"),
            (lambda: passkeys.list_passkeys("12345"), "number"),
        ]
        for call, field in cases:
            with pytest.raises(InvalidInputError) as caught:
                call()
            assert caught.value.field == field

    def test_list_unknown_person__not_found(self, passkeys: Passkeys) -> None:
        """Listing a well-formed number nobody holds is NotFoundError."""
        with pytest.raises(NotFoundError):
            passkeys.list_passkeys("234567890124")


class TestRelyingParty:
    @pytest.mark.parametrize(
        ("origins", "field"),
        [
            ([], "origins"),
            ("https://id.tessera.test", "origins"),
            (["http://id.tessera.test"], "origins[0]"),
            (["https://tessera.test.evil.test"], "origins[0]"),
            (["https://id.tessera.test/login"], "origins[0]"),
        ],
    )
    def test_origins_must_be_https_within_the_rp_id(self, store: Store, origins: object, field: str) -> None:
        """Each origin is https (http for localhost only) on the RP id or a subdomain of it."""
        with pytest.raises(InvalidInputError) as caught:
            Passkeys(store, RP_ID, "Tessera", origins)  # type: ignore[arg-type]
        assert caught.value.field == field

    def test_localhost_for_development(self, store: Store, number: str, officer: str) -> None:
        """http://localhost:8000 is a valid origin for rp_id localhost."""
        dev = Passkeys(store, "localhost", "Tessera dev", ["http://localhost:8000"])
        ceremony = dev.begin_registration(number, rebind_token=dev.grant_rebind(number, officer))
        assert ceremony.options["rp"] == {"id": "localhost", "name": "Tessera dev"}
        answer = SoftAuthenticator().create(ceremony.options, "http://localhost:8000")
        assert dev.finish_registration(ceremony.id, answer).number == number
