"""Response models read off domain records: each gives the same JSON the hand-written copiers gave (issue 17)."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import get_args

from tessera.api.schemas import (
    AccessEntryPublic,
    AccountKindName,
    AccountPublic,
    CeremonyPublic,
    CheckPublic,
    DeclarationProposalPublic,
    DeclarationVersionPublic,
    EnrolmentPublic,
    HitPublic,
    LegalBasisPublic,
    Looker,
    NoticeAppealPublic,
    NoticePublic,
    OidcClientPublic,
    PasskeyPublic,
    PersonPublic,
    PrincipalPublic,
    RestrictionPublic,
    ScorePublic,
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
from tessera.money import AccountKind
from tessera.rules import (
    BasisKind,
    Category,
    CourtOrder,
    Decision,
    DeclarationProposal,
    DeclarationStatus,
    DeclarationVersion,
    Denial,
    Domain,
    Factor,
    Hit,
    LegalBasis,
    Notice,
    NoticeAppeal,
    NoticeKind,
    Restriction,
    RestrictionEvent,
    RestrictionStatus,
    Score,
)
from tessera.rules.declaration_checks import Changes
from tessera.rules.declarations import DeclarationDecision
from tessera.rules.due_process.notice_appeals import NoticeAppealStatus
from tessera.rules.due_process.restriction_records import AppealState
from tessera.rules.sanctions.watch import HitContext, HitStatus


class TestLedger:
    def test_every_kind_of_account_can_be_named(self) -> None:
        """The API's kinds are the opening table's: an entitlement is opened like any other kind."""
        assert set(get_args(AccountKindName)) == {k.name for k in AccountKind}

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
            "created_at": "1970-01-01T00:00:00.000000123Z",
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
            "created_at": "1970-01-01T00:00:00.000000099Z",
        }


DEMOGRAPHICS = Demographics(
    name="Amara Okafor",
    other_names=("Ada",),
    birth_date=dt.date(1990, 2, 3),
    sex="F",
    address="1 Main Street",
)
DEMOGRAPHICS_JSON = {
    "name": "Amara Okafor",
    "other_names": ["Ada"],
    "birth_date": "1990-02-03",
    "sex": "F",
    "address": "1 Main Street",
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
            "created_at": "1970-01-01T00:00:00.000000010Z",
            "decided_at_ns": None,
            "decided_at": None,
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
            household="h_0123456789abcdef",
            status="active",
            created_at_ns=5,
        )
        history = [StatusChange(status="suspended", reason="check", actor="p_1", at_ns=6)]
        assert PersonPublic.of(person, history).model_dump() == {
            "number": "123456789012",
            **DEMOGRAPHICS_JSON,
            "household": "h_0123456789abcdef",
            "status": "active",
            "created_at_ns": 5,
            "created_at": "1970-01-01T00:00:00.000000005Z",
            "status_history": [
                {
                    "status": "suspended",
                    "reason": "check",
                    "actor": "p_1",
                    "at_ns": 6,
                    "at": "1970-01-01T00:00:00.000000006Z",
                }
            ],
        }

    def test_virtual_id_public__number_not_shown(self) -> None:
        """A virtual id shows itself and its dates, never the number it stands for."""
        vid = VirtualId(vid="v1", number="123456789012", created_at_ns=1, revoked_at_ns=None)
        assert VirtualIdPublic.of(vid).model_dump() == {
            "vid": "v1",
            "created_at_ns": 1,
            "created_at": "1970-01-01T00:00:00.000000001Z",
            "revoked_at_ns": None,
            "revoked_at": None,
        }


class TestCredentials:
    def test_ceremony_public__refusal_not_shown(self) -> None:
        """A ceremony's options and expiry are shown; why a login cannot succeed is not."""
        ceremony = Ceremony(id="c1", options={"challenge": "abc"}, expires_at_ns=9, refusal="NO_PASSKEY")
        assert CeremonyPublic.of(ceremony).model_dump() == {
            "id": "c1",
            "options": {"challenge": "abc"},
            "expires_at_ns": 9,
            "expires_at": "1970-01-01T00:00:00.000000009Z",
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
            "created_at": "1970-01-01T00:00:00.000000001Z",
            "last_used_at_ns": 2,
            "last_used_at": "1970-01-01T00:00:00.000000002Z",
            "revoked_at_ns": None,
            "revoked_at": None,
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
            "display_name": "",
        }


class TestMe:
    def test_access_entry_public__index_given_subject_not_shown(self) -> None:
        """An access entry carries the index it was given and who looked in words; the subject is not repeated."""
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
        assert AccessEntryPublic.of(4, entry, Looker("Nurse 5", "Health Service")).model_dump() == {
            "index": 4,
            "time_ns": 1,
            "time": "1970-01-01T00:00:00.000000001Z",
            "principal": "p_1",
            "display_name": "Nurse 5",
            "role": "officer",
            "role_title": "officer",
            "agency": "health",
            "agency_name": "Health Service",
            "who": "Nurse 5 (officer, Health Service)",
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
            "created_at": "1970-01-01T00:00:00.000000007Z",
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
            "created_at": "1970-01-01T00:00:00.000000003Z",
            "decided_at_ns": None,
            "decided_at": None,
        }


RESTRICTION = Restriction(
    id="r_0123456789abcdef",
    subject="123456789012",
    domains=frozenset({Domain.travel, Domain.payments}),
    basis_id="court/1",
    authority="High Court",
    reason_code="ORDER",
    reason_text="by order",
    rule_id=None,
    event_ref=None,
    proposed_by="p_1",
    proposed_at_ns=1,
    start_ns=2,
    end_ns=None,
    status=RestrictionStatus.active,
    appeal_state=AppealState.none,
    decided_by="p_2",
    decision_reason="ok",
    decided_at_ns=2,
    court_order=CourtOrder("High Court", "HC/2026/118", dt.date(2026, 1, 5)),
)
RESTRICTION_JSON = {
    "id": "r_0123456789abcdef",
    "subject": "123456789012",
    "domains": ["payments", "travel"],
    "basis_id": "court/1",
    "authority": "High Court",
    "reason_code": "ORDER",
    "reason_text": "by order",
    "rule_id": None,
    "event_ref": None,
    "proposed_by": "p_1",
    "proposed_at_ns": 1,
    "proposed_at": "1970-01-01T00:00:00.000000001Z",
    "start_ns": 2,
    "start": "1970-01-01T00:00:00.000000002Z",
    "end_ns": None,
    "end": None,
    "status": "active",
    "appeal_state": "none",
    "decided_by": "p_2",
    "decision_reason": "ok",
    "decided_at_ns": 2,
    "decided_at": "1970-01-01T00:00:00.000000002Z",
    "ended_by": None,
    "end_reason": None,
    "ended_at_ns": None,
    "ended_at": None,
    "court_order": {"court": "High Court", "case_number": "HC/2026/118", "issued_on": "2026-01-05"},
}


class TestPolicy:
    def test_check_public__denials_as_reasons(self) -> None:
        """The enforcement answer lists its denials as reasons, without their start."""
        denial = Denial(
            restriction_id="r_1", reason_code="X", reason_text="why", basis_id="b/1", start_ns=1, end_ns=None
        )
        assert CheckPublic.of("123456789012", "travel", Decision(allowed=False, denials=(denial,))).model_dump() == {
            "subject": "123456789012",
            "domain": "travel",
            "allowed": False,
            "restriction_ids": ["r_1"],
            "reasons": [
                {
                    "restriction_id": "r_1",
                    "reason_code": "X",
                    "reason_text": "why",
                    "basis_id": "b/1",
                    "end_ns": None,
                    "end": None,
                }
            ],
        }

    def test_legal_basis_public__sets_sorted_purposes_as_values(self) -> None:
        """A basis's sets are sorted lists and its kind and purposes their values."""
        basis = LegalBasis(
            id="tax/1",
            instrument="Tax Act",
            article="s. 1",
            kind=BasisKind.statute,
            domains=frozenset({Domain.credit, Domain.benefits}),
            exercised_by=frozenset({"tax", "audit"}),
            covers=frozenset({"tax.filed", "loan.repaid"}),
            purposes=frozenset({Category.tax, Category.financial}),
        )
        assert LegalBasisPublic.of(basis).model_dump() == {
            "id": "tax/1",
            "instrument": "Tax Act",
            "article": "s. 1",
            "kind": "statute",
            "domains": ["benefits", "credit"],
            "exercised_by": ["audit", "tax"],
            "covers": ["loan.repaid", "tax.filed"],
            "purposes": ["financial", "tax"],
            "self_executing": basis.self_executing,
            "allows_open_end": basis.allows_open_end,
        }

    def test_restriction_public__court_order_and_history(self) -> None:
        """A restriction's domains are sorted, its court order's date ISO, its history given or left null."""
        event = RestrictionEvent(action="activated", actor="p_2", reason="ok", detail={"x": 1}, at_ns=2)
        assert RestrictionPublic.of(RESTRICTION).model_dump() == {**RESTRICTION_JSON, "history": None}
        assert RestrictionPublic.of(RESTRICTION, [event]).model_dump() == {
            **RESTRICTION_JSON,
            "history": [
                {
                    "action": "activated",
                    "actor": "p_2",
                    "reason": "ok",
                    "at_ns": 2,
                    "at": "1970-01-01T00:00:00.000000002Z",
                }
            ],
        }

    def test_notice_public__basis_cited_domains_sorted(self) -> None:
        """A notice's basis is the citation it was made with; its subject is not shown."""
        notice = Notice(
            id="n1",
            subject="123456789012",
            kind=NoticeKind.restriction,
            reference="r_1",
            rule_id="rule-1",
            basis_id="court/1",
            basis_cite="Courts Act, s. 3",
            reason_code="ORDER",
            reason_text="by order",
            domains=frozenset({Domain.travel, Domain.credit}),
            expires_at_ns=9,
            appeal="/v1/me/appeals",
            created_at_ns=3,
        )
        assert NoticePublic.of(notice).model_dump() == {
            "id": "n1",
            "kind": "restriction",
            "reference": "r_1",
            "rule_id": "rule-1",
            "basis_id": "court/1",
            "basis": "Courts Act, s. 3",
            "reason_code": "ORDER",
            "reason_text": "by order",
            "domains": ["credit", "travel"],
            "expires_at_ns": 9,
            "expires_at": "1970-01-01T00:00:00.000000009Z",
            "appeal": "/v1/me/appeals",
            "created_at_ns": 3,
            "created_at": "1970-01-01T00:00:00.000000003Z",
        }

    def test_notice_appeal_public__status_as_value(self) -> None:
        """A notice appeal's status is its value; who filed it is not shown."""
        appeal = NoticeAppeal(
            id="a1",
            notice_id="n1",
            subject="123456789012",
            filed_by="p_1",
            grounds="wrong",
            status=NoticeAppealStatus.withdrawn,
            filed_at_ns=1,
            decided_by="p_2",
            decision_reason="agreed",
            decided_at_ns=2,
            withdrawn=3,
        )
        assert NoticeAppealPublic.of(appeal).model_dump() == {
            "id": "a1",
            "notice_id": "n1",
            "subject": "123456789012",
            "grounds": "wrong",
            "status": "withdrawn",
            "filed_at_ns": 1,
            "filed_at": "1970-01-01T00:00:00.000000001Z",
            "decided_by": "p_2",
            "decision_reason": "agreed",
            "decided_at_ns": 2,
            "decided_at": "1970-01-01T00:00:00.000000002Z",
            "withdrawn": 3,
        }

    def test_score_public__factors_read_off_records(self) -> None:
        """A score and its factors are copied; its subject is not shown."""
        score = Score(
            subject="123456789012",
            scheme="credit",
            value=640,
            minimum=300,
            maximum=850,
            factors=(Factor(rule_id="late", reason_code="LATE", text="paid late", points=-20.5, events=2),),
            live_contributions=2,
            as_of_ns=8,
        )
        assert ScorePublic.of(score).model_dump() == {
            "scheme": "credit",
            "value": 640,
            "minimum": 300,
            "maximum": 850,
            "factors": [{"rule_id": "late", "reason_code": "LATE", "text": "paid late", "points": -20.5, "events": 2}],
            "live_contributions": 2,
            "as_of_ns": 8,
            "as_of": "1970-01-01T00:00:00.000000008Z",
        }


VERSION = DeclarationVersion(
    version=2,
    base_version=1,
    document="[[event_type]]",
    sha256="ab" * 32,
    exceptions=MappingProxyType({"church": "needed"}),
    note="why",
    approvals_needed=2,
    proposed_by="p_dpo",
    proposed_at_ns=4,
    status=DeclarationStatus.pending,
    decided_at_ns=None,
    decisions=(DeclarationDecision(principal_id="p_dpo2", decision="approve", reason="fine", at_ns=5),),
)
VERSION_JSON = {
    "version": 2,
    "base_version": 1,
    "status": "pending",
    "sha256": "ab" * 32,
    "note": "why",
    "approvals_needed": 2,
    "proposed_by": "p_dpo",
    "proposed_at_ns": 4,
    "proposed_at": "1970-01-01T00:00:00.000000004Z",
    "decided_at_ns": None,
    "decided_at": None,
    "exceptions": {"church": "needed"},
    "decisions": [
        {
            "principal_id": "p_dpo2",
            "decision": "approve",
            "reason": "fine",
            "at_ns": 5,
            "at": "1970-01-01T00:00:00.000000005Z",
        }
    ],
}


class TestDeclarations:
    def test_declaration_version_public__document_only_when_asked(self) -> None:
        """A version's document is shown only in a single version's answer."""
        assert DeclarationVersionPublic.of(VERSION).model_dump() == {**VERSION_JSON, "document": None}
        assert DeclarationVersionPublic.of(VERSION, document=True).model_dump() == {
            **VERSION_JSON,
            "document": "[[event_type]]",
        }

    def test_declaration_proposal_public__changes_say_why_two(self) -> None:
        """A proposal's changes are listed, with why a second DPO must approve."""
        changes = Changes(
            added=("legal_basis x/1",),
            changed=(),
            removed=("event_type a",),
            restricting_bases=("x/1",),
            new_exceptions=(),
        )
        assert DeclarationProposalPublic.of(DeclarationProposal(version=VERSION, changes=changes)).model_dump() == {
            "version": {**VERSION_JSON, "document": None},
            "changes": {
                "added": ["legal_basis x/1"],
                "changed": [],
                "removed": ["event_type a"],
                "restricting_bases": ["x/1"],
                "new_exceptions": [],
                "benefit_bases": [],
                "why_two": ["legal basis x/1 can restrict (it names domains)"],
            },
        }
