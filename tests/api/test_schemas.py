"""Response models read off domain records: each gives the same JSON the hand-written copiers gave (issue 17)."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from tessera.api.schemas import (
    AccessEntryPublic,
    AccountPublic,
    CeremonyPublic,
    EnrolmentPublic,
    HitPublic,
    OidcClientPublic,
    PasskeyPublic,
    PersonPublic,
    PrincipalPublic,
    TransferPublic,
    VirtualIdPublic,
)
from tessera.audit import AccessEntry
from tessera.auth import Principal, Role
from tessera.identity import (
    Candidate,
    Ceremony,
    Demographics,
    Enrolment,
    PasskeyRecord,
    Person,
    Registration,
    RelyingParty,
    StatusChange,
    VirtualId,
)
from tessera.ledger import Account, AccountFlags, Transfer, TransferFlags
from tessera.rules import Hit
from tessera.rules.sanctions.watch import HitContext, HitStatus


class TestLedger:
    def test_account_public__flags_named_categories_sorted_kind_from_code(self) -> None:
        """An account's flags are named, its categories sorted, its kind read from its code, balances computed."""
        account = Account(
            id=7,
            ledger=1,
            code=2,
            flags=AccountFlags.linked | AccountFlags.debits_must_not_exceed_credits,
            category=4,
            holding_limit=900,
            allowed_categories=frozenset({9, 3, 5}),
            user_data_64=64,
            user_data_32=32,
            debits_pending=10,
            debits_posted=20,
            credits_pending=30,
            credits_posted=100,
            timestamp=123,
        )
        assert AccountPublic.of(account).model_dump() == {
            "id": 7,
            "ledger": 1,
            "code": 2,
            "kind": "wallet",
            "flags": ["linked", "debits_must_not_exceed_credits"],
            "category": 4,
            "holding_limit": 900,
            "allowed_categories": [3, 5, 9],
            "user_data_64": 64,
            "user_data_32": 32,
            "debits_pending": 10,
            "debits_posted": 20,
            "credits_pending": 30,
            "credits_posted": 100,
            "balance": 80,
            "available": 70,
            "timestamp": 123,
        }

    def test_account_public__unknown_code_has_no_kind(self) -> None:
        """A code no kind has (an account opened before kinds) gives kind null and no flags."""
        dumped = AccountPublic.of(Account(id=1, ledger=1, code=999)).model_dump()
        assert (dumped["kind"], dumped["flags"], dumped["allowed_categories"]) == (None, [], [])

    def test_transfer_public__flags_named(self) -> None:
        """A transfer's fields are copied and its flags named."""
        transfer = Transfer(
            id=5,
            debit_account_id=1,
            credit_account_id=2,
            amount=300,
            ledger=1,
            code=3,
            flags=TransferFlags.linked | TransferFlags.pending,
            pending_id=0,
            timeout=60,
            user_data_64=64,
            user_data_32=32,
            timestamp=99,
        )
        assert TransferPublic.of(transfer).model_dump() == {
            "id": 5,
            "debit_account_id": 1,
            "credit_account_id": 2,
            "amount": 300,
            "ledger": 1,
            "code": 3,
            "flags": ["linked", "pending"],
            "pending_id": 0,
            "timeout": 60,
            "user_data_64": 64,
            "user_data_32": 32,
            "timestamp": 99,
        }


DEMOGRAPHICS = Demographics(
    name="Amara Okafor",
    other_names=("Ada",),
    birth_date=dt.date(1990, 2, 3),
    sex="F",
    address="1 Main Street",
    household="h1",
)
DEMOGRAPHICS_JSON = {
    "name": "Amara Okafor",
    "other_names": ["Ada"],
    "birth_date": "1990-02-03",
    "sex": "F",
    "address": "1 Main Street",
    "household": "h1",
}


class TestIdentity:
    def test_enrolment_public__candidates_and_demographics_read_off_records(self) -> None:
        """An enrolment's candidates and demographics are read off their records; the station is not shown."""
        enrolment = Enrolment(
            id="e1",
            request_id="req-1",
            state="review",
            number=None,
            candidates=(Candidate(number="123456789012", score=0.91),),
            decision=None,
            decided_by=None,
            reason=None,
            created_at_ns=10,
            decided_at_ns=None,
            station="station-9",
            demographics=DEMOGRAPHICS,
        )
        assert EnrolmentPublic.of(enrolment).model_dump() == {
            "id": "e1",
            "request_id": "req-1",
            "state": "review",
            "number": None,
            "candidates": [{"number": "123456789012", "score": 0.91}],
            "decision": None,
            "decided_by": None,
            "reason": None,
            "created_at_ns": 10,
            "decided_at_ns": None,
            "demographics": DEMOGRAPHICS_JSON,
        }

    def test_person_public__history_given_birth_date_as_iso(self) -> None:
        """A person's record, birth date as YYYY-MM-DD, with the status history passed beside it."""
        person = Person(
            number="123456789012",
            principal_id="p_0123456789abcdef",
            name="Amara Okafor",
            other_names=("Ada",),
            birth_date=dt.date(1990, 2, 3),
            sex="F",
            address="1 Main Street",
            household="h1",
            status="active",
            created_at_ns=5,
        )
        history = [StatusChange(status="suspended", reason="check", actor="p_1", at_ns=6)]
        assert PersonPublic.of(person, history).model_dump() == {
            "number": "123456789012",
            **DEMOGRAPHICS_JSON,
            "status": "active",
            "created_at_ns": 5,
            "status_history": [{"status": "suspended", "reason": "check", "actor": "p_1", "at_ns": 6}],
        }

    def test_virtual_id_public__number_not_shown(self) -> None:
        """A virtual id shows itself and its dates, never the number it stands for."""
        vid = VirtualId(vid="v1", number="123456789012", created_at_ns=1, revoked_at_ns=None)
        assert VirtualIdPublic.of(vid).model_dump() == {"vid": "v1", "created_at_ns": 1, "revoked_at_ns": None}


class TestCredentials:
    def test_ceremony_public__refusal_not_shown(self) -> None:
        """A ceremony's options and expiry are shown; why a login cannot succeed is not."""
        ceremony = Ceremony(id="c1", options={"challenge": "abc"}, expires_at_ns=9, refusal="NO_PASSKEY")
        assert CeremonyPublic.of(ceremony).model_dump() == {
            "id": "c1",
            "options": {"challenge": "abc"},
            "expires_at_ns": 9,
        }

    def test_passkey_public__transports_listed(self) -> None:
        """A passkey's transports become a list; its number is not shown."""
        record = PasskeyRecord(
            credential_id="cred",
            number="123456789012",
            label="phone",
            aaguid="00",
            transports=("internal", "hybrid"),
            sign_count=3,
            created_at_ns=1,
            last_used_at_ns=2,
        )
        assert PasskeyPublic.of(record).model_dump() == {
            "credential_id": "cred",
            "label": "phone",
            "aaguid": "00",
            "transports": ["internal", "hybrid"],
            "sign_count": 3,
            "created_at_ns": 1,
            "last_used_at_ns": 2,
            "revoked_at_ns": None,
        }


class TestSystem:
    def test_principal_public__role_as_its_value(self) -> None:
        """A principal's role is its value; subject and dates are not shown."""
        principal = Principal(
            id="p_1", name="shop", role=Role.merchant, agency="", subject="x", created_at_ns=4, organisation="org:shop"
        )
        assert PrincipalPublic.of(principal).model_dump() == {
            "id": "p_1",
            "name": "shop",
            "role": "merchant",
            "agency": "",
            "organisation": "org:shop",
        }


class TestMe:
    def test_access_entry_public__index_given_subject_not_shown(self) -> None:
        """An access entry carries the index it was given; the subject (the caller) is not repeated."""
        entry = AccessEntry(
            time_ns=1,
            principal="p_1",
            role="officer",
            agency="health",
            purpose="care",
            subject="123456789012",
            fields=("name", "birth_date"),
            outcome="ok",
        )
        assert AccessEntryPublic.of(4, entry).model_dump() == {
            "index": 4,
            "time_ns": 1,
            "principal": "p_1",
            "role": "officer",
            "agency": "health",
            "purpose": "care",
            "fields": ["name", "birth_date"],
            "outcome": "ok",
        }


class TestOidc:
    def test_oidc_client_public__relying_party_and_its_secret(self) -> None:
        """A registration is its relying party's fields plus the secret shown once."""
        party = RelyingParty(
            client_id="c1",
            name="Clinic",
            redirect_uris=("https://clinic.example/cb",),
            sector_id="clinic.example",
            claims=("name", "age_over_18"),
            public=False,
            created_by="p_admin",
            created_at_ns=7,
        )
        assert OidcClientPublic.of(Registration(relying_party=party, client_secret="s3cret")).model_dump() == {
            "client_id": "c1",
            "name": "Clinic",
            "redirect_uris": ["https://clinic.example/cb"],
            "sector_id": "clinic.example",
            "claims": ["name", "age_over_18"],
            "public": False,
            "created_at_ns": 7,
            "client_secret": "s3cret",
        }


class TestSanctions:
    def test_hit_public__enums_as_values_features_as_dict(self) -> None:
        """A hit's context and status are their values and its features a plain object."""
        hit = Hit(
            id="h1",
            subject="123456789012",
            source="un",
            list_id="L1",
            list_version=2,
            listed_name="A. Okafor",
            score=0.93,
            features=MappingProxyType({"name": 0.9}),
            context=HitContext.enrolment,
            reference="e1",
            status=HitStatus.pending,
            decided_by=None,
            reason=None,
            restriction_id=None,
            created_at_ns=3,
            decided_at_ns=None,
        )
        assert HitPublic.of(hit).model_dump() == {
            "id": "h1",
            "subject": "123456789012",
            "source": "un",
            "list_id": "L1",
            "list_version": 2,
            "listed_name": "A. Okafor",
            "score": 0.93,
            "features": {"name": 0.9},
            "context": "enrolment",
            "reference": "e1",
            "status": "pending",
            "decided_by": None,
            "reason": None,
            "restriction_id": None,
            "created_at_ns": 3,
            "decided_at_ns": None,
        }
