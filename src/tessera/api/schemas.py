"""Request (``*Create``) and response (``*Public``) shapes of the HTTP API.

Pydantic lives here and nowhere else: routes turn these into the domain's frozen
dataclasses (``tessera.ledger.Account``) before anything else sees them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, Strict

from tessera.audit import AccessEntry
from tessera.auth import Principal
from tessera.identity.enrolment import Enrolment
from tessera.identity.oidc import AuthorizationRequest, Registration
from tessera.identity.passkeys import Ceremony, PasskeyRecord
from tessera.identity.registry import Person, StatusChange, VirtualId
from tessera.ledger import BATCH_SIZE_MAX, Account, AccountFlags, Transfer, TransferFlags
from tessera.ledger.records import flag_names, flags_from_names
from tessera.money import AGENCY_ID_MAX, AccountKind, kind_of
from tessera.rules.appeals import Appeal
from tessera.rules.basis import CASE_NUMBER_MAX, COURT_MAX, CourtOrder, LegalBasis
from tessera.rules.declarations import DeclarationVersion, Proposal
from tessera.rules.enforcement import Decision
from tessera.rules.intake import EVENTS_BATCH_MAX
from tessera.rules.notice_appeals import NoticeAppeal
from tessera.rules.notices import Notice
from tessera.rules.restrictions import Restriction, RestrictionEvent
from tessera.rules.scores import Factor, Score
from tessera.rules.watch import Hit

# Strict: JSON true is not 1 and "5" is not 5; an amount is an integer or the request is refused.
U63 = Annotated[int, Strict(), Field(ge=0, lt=2**63)]
Id = Annotated[int, Strict(), Field(ge=1, lt=2**63)]
U32 = Annotated[int, Strict(), Field(ge=0, lt=2**32)]
U16 = Annotated[int, Strict(), Field(ge=0, lt=2**16)]
LedgerId = Annotated[int, Strict(), Field(ge=1, lt=2**32)]
AccountFlagName = Literal["linked", "debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
TransferFlagName = Literal["linked", "pending", "post_pending_transfer", "void_pending_transfer"]
AccountKindName = Literal["issuance", "wallet", "merchant", "programme", "system"]
PrincipalId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^p_[0-9a-f]{16}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountCreate(_Strict):
    """One account to open; ``holder`` is the principal who controls it (default: the caller)."""

    id: Id
    ledger: LedgerId
    kind: AccountKindName = Field(description="What the account is for; its code in the ledger (docs/api.md)")
    flags: list[AccountFlagName] = Field(default_factory=list, max_length=3)
    category: U16 = 0
    holding_limit: U63 = 0
    allowed_categories: list[U16] = Field(default_factory=list, max_length=8)
    user_data_64: U63 = 0
    user_data_32: U32 = 0
    holder: PrincipalId | None = None

    def to_domain(self) -> Account:
        return Account(
            id=self.id,
            ledger=self.ledger,
            code=AccountKind[self.kind].value,
            flags=flags_from_names(AccountFlags, self.flags),
            category=self.category,
            holding_limit=self.holding_limit,
            allowed_categories=frozenset(self.allowed_categories),
            user_data_64=self.user_data_64,
            user_data_32=self.user_data_32,
        )


class AccountsCreate(_Strict):
    accounts: list[AccountCreate] = Field(min_length=1, max_length=BATCH_SIZE_MAX)


class TransferCreate(_Strict):
    """One transfer; a post or void names ``pending_id`` and may leave the accounts at 0."""

    id: Id
    debit_account_id: U63 = 0
    credit_account_id: U63 = 0
    amount: U63 = 0
    ledger: U32 = 0
    code: U16 = 0
    flags: list[TransferFlagName] = Field(default_factory=list, max_length=4)
    pending_id: U63 = 0
    timeout: U32 = 0
    user_data_64: U63 = 0
    user_data_32: U32 = 0

    def to_domain(self) -> Transfer:
        return Transfer(
            id=self.id,
            debit_account_id=self.debit_account_id,
            credit_account_id=self.credit_account_id,
            amount=self.amount,
            ledger=self.ledger,
            code=self.code,
            flags=flags_from_names(TransferFlags, self.flags),
            pending_id=self.pending_id,
            timeout=self.timeout,
            user_data_64=self.user_data_64,
            user_data_32=self.user_data_32,
        )


class TransfersCreate(_Strict):
    transfers: list[TransferCreate] = Field(min_length=1, max_length=BATCH_SIZE_MAX)


class ResultPublic(BaseModel):
    """The outcome of the item at ``index``: ``ok`` or a refusal listed in docs/ledger.md."""

    index: int
    status: str


class ResultsPublic(BaseModel):
    results: list[ResultPublic]


class AccountPublic(BaseModel):
    id: int
    ledger: int
    code: int
    kind: AccountKindName | None  # None: a code no kind has (an account opened before kinds)
    flags: list[str]
    category: int
    holding_limit: int
    allowed_categories: list[int]
    user_data_64: int
    user_data_32: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    balance: int
    available: int
    timestamp: int

    @classmethod
    def of(cls, a: Account) -> AccountPublic:
        return cls(
            id=a.id,
            ledger=a.ledger,
            code=a.code,
            kind=_kind_name(a.code),
            flags=flag_names(a.flags),
            category=a.category,
            holding_limit=a.holding_limit,
            allowed_categories=sorted(a.allowed_categories),
            user_data_64=a.user_data_64,
            user_data_32=a.user_data_32,
            debits_pending=a.debits_pending,
            debits_posted=a.debits_posted,
            credits_pending=a.credits_pending,
            credits_posted=a.credits_posted,
            balance=a.balance,
            available=a.available,
            timestamp=a.timestamp,
        )


def _kind_name(code: int) -> AccountKindName | None:
    kind = kind_of(code)
    return None if kind is None else cast(AccountKindName, kind.name)


class TransferPublic(BaseModel):
    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    ledger: int
    code: int
    flags: list[str]
    pending_id: int
    timeout: int
    user_data_64: int
    user_data_32: int
    timestamp: int

    @classmethod
    def of(cls, t: Transfer) -> TransferPublic:
        return cls(
            id=t.id,
            debit_account_id=t.debit_account_id,
            credit_account_id=t.credit_account_id,
            amount=t.amount,
            ledger=t.ledger,
            code=t.code,
            flags=flag_names(t.flags),
            pending_id=t.pending_id,
            timeout=t.timeout,
            user_data_64=t.user_data_64,
            user_data_32=t.user_data_32,
            timestamp=t.timestamp,
        )


class TransfersPublic(BaseModel):
    transfers: list[TransferPublic]


class PrincipalPublic(BaseModel):
    id: str
    name: str
    role: str
    agency: str
    organisation: str = Field("", description="org:<id> a merchant acts for; empty for none")

    @classmethod
    def of(cls, p: Principal) -> PrincipalPublic:
        return cls(id=p.id, name=p.name, role=p.role.value, agency=p.agency, organisation=p.organisation)


class PrincipalsPublic(BaseModel):
    principals: list[PrincipalPublic]


class AccessEntryPublic(BaseModel):
    """One look at the caller's data: who, in what role and agency, why, and what they saw."""

    index: int
    time_ns: int
    principal: str
    role: str
    agency: str
    purpose: str
    fields: list[str]
    outcome: str

    @classmethod
    def of(cls, index: int, e: AccessEntry) -> AccessEntryPublic:
        return cls(
            index=index,
            time_ns=e.time_ns,
            principal=e.principal,
            role=e.role,
            agency=e.agency,
            purpose=e.purpose,
            fields=list(e.fields),
            outcome=e.outcome,
        )


class AccessLogPublic(BaseModel):
    entries: list[AccessEntryPublic]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page; null at the end")


class TreeHeadPublic(BaseModel):
    """A signed tree head: Ed25519 over ``u64le size || u64le timestamp || root``."""

    size: int
    timestamp: int
    root: str
    signature: str
    public_key: str


class InclusionProofPublic(BaseModel):
    index: int
    size: int
    leaf_hash: str
    root: str
    path: list[str]


class ConsistencyProofPublic(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    path: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    accounts: int
    transfers: int
    access_log_size: int


class Problem(BaseModel):
    """RFC 9457 problem details, plus Tessera's stable ``code`` and the ``field`` at fault."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    instance: str | None = None


# --- identity ----------------------------------------------------------------------------------

Number = Annotated[str, Field(min_length=12, max_length=12, pattern=r"^[0-9]{12}$", description="a Tessera number")]
# Templates arrive as JSON numbers or as base64 of little-endian float32; the domain checks
# sizes, NaN and zero vectors and names the element at fault.
TemplateData = Annotated[list[float], Field(max_length=4096)] | Annotated[str, Field(max_length=32_768)]


class DemographicsCreate(_Strict):
    """What the applicant states; names in any script."""

    name: Annotated[str, Field(min_length=1, max_length=300)]
    other_names: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=10)
    birth_date: Annotated[str, Field(min_length=10, max_length=10, description="YYYY-MM-DD")]
    sex: Literal["F", "M", "X"]
    address: Annotated[str, Field(max_length=500)] = ""
    household: Annotated[str, Field(max_length=64)] = ""


class FingerCreate(_Strict):
    position: Annotated[
        int, Strict(), Field(description="ISO/IEC 19794 finger position, 1 (right thumb) to 10 (left little)")
    ]
    template: TemplateData


class EnrolmentCreate(_Strict):
    """One applicant from a capture station: demographics and templates, never images."""

    request_id: Annotated[
        str, Field(min_length=1, max_length=64, description="the station's own id for this submission")
    ]
    demographics: DemographicsCreate
    face: TemplateData
    fingers: list[FingerCreate] = Field(default_factory=list, max_length=10)


class EnrolmentsCreate(_Strict):
    submissions: list[EnrolmentCreate] = Field(min_length=1, max_length=1000)


class DemographicsPublic(BaseModel):
    name: str
    other_names: list[str]
    birth_date: str
    sex: str
    address: str
    household: str


class CandidatePublic(BaseModel):
    number: str
    score: float


class EnrolmentPublic(BaseModel):
    """What became of a submission: ``enrolled`` (a new number), ``review``, ``merged`` or ``rejected``."""

    id: str
    request_id: str
    state: str
    number: str | None
    candidates: list[CandidatePublic]
    decision: str | None
    decided_by: str | None
    reason: str | None
    created_at_ns: int
    decided_at_ns: int | None
    demographics: DemographicsPublic = Field(description="as the applicant stated them")

    @classmethod
    def of(cls, e: Enrolment) -> EnrolmentPublic:
        return cls(
            id=e.id,
            request_id=e.request_id,
            state=e.state,
            number=e.number,
            candidates=[CandidatePublic(number=c.number, score=c.score) for c in e.candidates],
            decision=e.decision,
            decided_by=e.decided_by,
            reason=e.reason,
            created_at_ns=e.created_at_ns,
            decided_at_ns=e.decided_at_ns,
            demographics=DemographicsPublic(**e.demographics.to_json()),
        )


class EnrolmentsPublic(BaseModel):
    enrolments: list[EnrolmentPublic]


class AdjudicationCreate(_Strict):
    """An officer's decision on a probable duplicate, with the reason written down."""

    decision: Literal["distinct", "same", "fraud"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    number: Number | None = Field(default=None, description="for same or fraud: which candidate (default: the best)")


class StatusChangeCreate(_Strict):
    status: Literal["active", "suspended", "revoked", "deceased"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class StatusChangePublic(BaseModel):
    status: str
    reason: str
    actor: str
    at_ns: int


class VirtualIdPublic(BaseModel):
    vid: str
    created_at_ns: int
    revoked_at_ns: int | None

    @classmethod
    def of(cls, v: VirtualId) -> VirtualIdPublic:
        return cls(vid=v.vid, created_at_ns=v.created_at_ns, revoked_at_ns=v.revoked_at_ns)


class PersonPublic(BaseModel):
    """A person's registry record, with their status history."""

    number: str
    name: str
    other_names: list[str]
    birth_date: str
    sex: str
    address: str
    household: str
    status: str
    created_at_ns: int
    status_history: list[StatusChangePublic]

    @classmethod
    def of(cls, p: Person, history: list[StatusChange]) -> PersonPublic:
        return cls(
            number=p.number,
            name=p.name,
            other_names=list(p.other_names),
            birth_date=p.birth_date.isoformat(),
            sex=p.sex,
            address=p.address,
            household=p.household,
            status=p.status,
            created_at_ns=p.created_at_ns,
            status_history=[
                StatusChangePublic(status=h.status, reason=h.reason, actor=h.actor, at_ns=h.at_ns) for h in history
            ],
        )


class MyIdentityPublic(BaseModel):
    person: PersonPublic
    virtual_ids: list[VirtualIdPublic]


# --- the internet ID credential ------------------------------------------------------------------


class CeremonyPublic(BaseModel):
    """A begun WebAuthn ceremony: hand ``options`` to ``navigator.credentials``, send the answer to ``id``."""

    id: str
    options: dict[str, Any]
    expires_at_ns: int

    @classmethod
    def of(cls, c: Ceremony) -> CeremonyPublic:
        return cls(id=c.id, options=c.options, expires_at_ns=c.expires_at_ns)


class LoginCreate(_Strict):
    number: Number | None = Field(default=None, description="omit to let the authenticator offer its passkeys")


class SessionPublic(BaseModel):
    """A session token for the person's own routes: send it as ``Authorization: Bearer tss_...``."""

    token: str
    expires_in_s: int


class PasskeyPublic(BaseModel):
    credential_id: str
    label: str
    aaguid: str
    transports: list[str]
    sign_count: int
    created_at_ns: int
    last_used_at_ns: int | None
    revoked_at_ns: int | None

    @classmethod
    def of(cls, r: PasskeyRecord) -> PasskeyPublic:
        return cls(
            credential_id=r.credential_id,
            label=r.label,
            aaguid=r.aaguid,
            transports=list(r.transports),
            sign_count=r.sign_count,
            created_at_ns=r.created_at_ns,
            last_used_at_ns=r.last_used_at_ns,
            revoked_at_ns=r.revoked_at_ns,
        )


class PasskeysPublic(BaseModel):
    passkeys: list[PasskeyPublic]


class PasskeyRegistrationCreate(_Strict):
    label: Annotated[str, Field(max_length=64, description="the person's name for the device")] = ""


PinDigits = Annotated[str, Field(min_length=6, max_length=12, pattern=r"^[0-9]+$")]


class PinCreate(_Strict):
    pin: PinDigits
    current_pin: PinDigits | None = None


class RebindCreate(_Strict):
    """At an officer's desk: a fresh capture for the 1:1 check, and optionally a new PIN typed by the person."""

    face: TemplateData
    fingers: list[FingerCreate] = Field(default_factory=list, max_length=10)
    label: Annotated[str, Field(max_length=64)] = ""
    pin: PinDigits | None = None


# --- the OpenID Connect provider ---------------------------------------------------------------------

ClaimName = Literal["name", "age_over_18", "resident"]


class OidcClientCreate(_Strict):
    """A relying party to register: redirect URIs are matched exactly; https only (http on localhost)."""

    name: Annotated[str, Field(min_length=1, max_length=200, description="shown to people on the consent page")]
    redirect_uris: list[Annotated[str, Field(max_length=2048)]] = Field(min_length=1, max_length=10)
    claims: list[ClaimName] = Field(default_factory=list, max_length=3, description="the claims it may ask for")
    public: Annotated[bool, Strict()] = Field(
        False, description="a client without a secret (an app): PKCE alone proves it"
    )
    sector_id: Annotated[str | None, Field(max_length=253, description="default: the redirect URIs' host")] = None


class OidcClientPublic(BaseModel):
    client_id: str
    name: str
    redirect_uris: list[str]
    sector_id: str
    claims: list[str]
    public: bool
    created_at_ns: int
    client_secret: str | None = Field(description="shown this once; only its hash is kept (null for a public client)")

    @classmethod
    def of(cls, r: Registration) -> OidcClientPublic:
        p = r.relying_party
        return cls(
            client_id=p.client_id,
            name=p.name,
            redirect_uris=list(p.redirect_uris),
            sector_id=p.sector_id,
            claims=list(p.claims),
            public=p.public,
            created_at_ns=p.created_at_ns,
            client_secret=r.client_secret,
        )


class ClaimRequestedPublic(BaseModel):
    name: str
    description: str


class AuthorizationPagePublic(BaseModel):
    """The consent page as data: who asks, for what, and the passkey challenge to answer it with."""

    request_id: str
    action: str = Field(description="where to POST the answer (ConsentCreate)")
    client_id: str
    client_name: str
    claims: list[ClaimRequestedPublic]
    acr: str
    pin_required: bool
    webauthn: dict[str, Any] = Field(description="PublicKeyCredentialRequestOptions, binary values in base64url")
    expires_at_ns: int

    @classmethod
    def of(cls, r: AuthorizationRequest, descriptions: dict[str, str]) -> AuthorizationPagePublic:
        return cls(
            request_id=r.id,
            action=f"/oidc/authorize/{r.id}",
            client_id=r.relying_party.client_id,
            client_name=r.relying_party.name,
            claims=[ClaimRequestedPublic(name=c, description=descriptions[c]) for c in r.claims],
            acr=r.acr,
            pin_required=r.pin_required,
            webauthn=dict(r.webauthn_options),
            expires_at_ns=r.expires_at_ns,
        )


class ConsentCreate(_Strict):
    """The person's answer: ``allow`` with their passkey's assertion and the claims they agree to share, or ``deny``."""

    decision: Literal["allow", "deny"] = "allow"
    credential: dict[str, Any] | Annotated[str, Field(max_length=65536)] | None = Field(
        None, description="AuthenticationResponseJSON from navigator.credentials.get()"
    )
    claims: list[ClaimName] = Field(default_factory=list, max_length=3, description="a subset of those asked for")
    pin: PinDigits | None = None


class TokenPublic(BaseModel):
    """The token endpoint's answer (RFC 6749 §5.1); errors are ``{"error", "error_description"}`` (§5.2)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    id_token: str
    scope: str


# --- restrictions, notices and appeals (tessera.rules) ---------------------------------------------

DomainName = Literal["payments", "travel", "procurement", "licensing", "benefits", "credit"]
PolicySubject = Annotated[
    str,
    Field(
        min_length=5,
        max_length=68,
        pattern=r"^([1-9][0-9]{11}|org:[a-z0-9][a-z0-9._-]{0,63})$",
        description="a Tessera number (check digit last), or org:<id> for an organisation",
    ),
]
RestrictionIdText = Annotated[str, Field(pattern=r"^r_[0-9a-f]{16}$", description="a restriction id")]
ReasonText = Annotated[str, Field(min_length=1, max_length=1000)]
ReasonCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
EndNs = Annotated[int, Strict(), Field(ge=1, lt=2**63, description="when it ends, in nanoseconds since 1970")]


class DenialPublic(BaseModel):
    restriction_id: str
    reason_code: str
    reason_text: str
    basis_id: str
    end_ns: int | None


class CheckPublic(BaseModel):
    """The enforcement point's answer: allowed, or denied with the restrictions and their reasons."""

    subject: str
    domain: str
    allowed: bool
    restriction_ids: list[str]
    reasons: list[DenialPublic]

    @classmethod
    def of(cls, subject: str, domain: str, d: Decision) -> CheckPublic:
        reasons = [
            DenialPublic(
                restriction_id=x.restriction_id,
                reason_code=x.reason_code,
                reason_text=x.reason_text,
                basis_id=x.basis_id,
                end_ns=x.end_ns,
            )
            for x in d.denials
        ]
        return cls(
            subject=subject, domain=domain, allowed=d.allowed, restriction_ids=list(d.restriction_ids), reasons=reasons
        )


class LegalBasisPublic(BaseModel):
    id: str
    instrument: str
    article: str
    kind: str
    domains: list[str]
    exercised_by: list[str]
    covers: list[str] = Field(description="the event types a rule citing it may read")
    purposes: list[str] = Field(description="or every event type of these purposes")
    self_executing: bool
    allows_open_end: bool

    @classmethod
    def of(cls, b: LegalBasis) -> LegalBasisPublic:
        return cls(
            id=b.id,
            instrument=b.instrument,
            article=b.article,
            kind=b.kind.value,
            domains=sorted(b.domains),
            exercised_by=sorted(b.exercised_by),
            covers=sorted(b.covers),
            purposes=sorted(p.value for p in b.purposes),
            self_executing=b.self_executing,
            allows_open_end=b.allows_open_end,
        )


class LegalBasesPublic(BaseModel):
    bases: list[LegalBasisPublic]


class CourtOrderCreate(_Strict):
    """The order a court-order restriction carries out; a court's officer exercises one only with it."""

    court: Annotated[str, Field(min_length=1, max_length=COURT_MAX)]
    case_number: Annotated[str, Field(min_length=1, max_length=CASE_NUMBER_MAX, description="the docket number")]
    issued_on: dt.date = Field(description="the order's date, YYYY-MM-DD")

    def order(self) -> CourtOrder:
        """The domain's record (checked there again, against its clock)."""
        return CourtOrder(self.court, self.case_number, self.issued_on)


class CourtOrderPublic(BaseModel):
    court: str
    case_number: str
    issued_on: str

    @classmethod
    def of(cls, o: CourtOrder) -> CourtOrderPublic:
        return cls(court=o.court, case_number=o.case_number, issued_on=o.issued_on.isoformat())


class RestrictionCreate(_Strict):
    """A proposal; under a court order or a sanctions listing, sent by an officer of its agency, in force at once."""

    subject: PolicySubject
    domains: list[DomainName] = Field(min_length=1, max_length=6)
    basis_id: Annotated[str, Field(min_length=1, max_length=64)]
    authority: Annotated[str, Field(min_length=1, max_length=200)]
    reason_code: ReasonCode
    reason_text: ReasonText
    end_ns: EndNs | None = Field(default=None, description="required unless the basis is a court order")
    court_order: CourtOrderCreate | None = Field(
        default=None, description="the order's reference; required for a court's officer exercising a court order"
    )


class RestrictionDecisionCreate(_Strict):
    decision: Literal["activate", "reject"]
    reason: ReasonText
    court_order: CourtOrderCreate | None = Field(
        default=None, description="activating a court order: its reference, where the proposal carries none"
    )


class RestrictionAmendmentCreate(_Strict):
    """Omit a field to keep it; ``end_ns: null`` asks for an open end (court orders only)."""

    domains: list[DomainName] | None = Field(default=None, min_length=1, max_length=6)
    end_ns: EndNs | None = None
    reason: ReasonText


class RestrictionLiftCreate(_Strict):
    reason: ReasonText


class RestrictionEventPublic(BaseModel):
    action: str
    actor: str
    reason: str
    at_ns: int


class RestrictionPublic(BaseModel):
    id: str
    subject: str
    domains: list[str]
    basis_id: str
    authority: str
    reason_code: str
    reason_text: str
    rule_id: str | None
    event_ref: str | None
    proposed_by: str
    proposed_at_ns: int
    start_ns: int | None
    end_ns: int | None
    status: str
    appeal_state: str
    decided_by: str | None
    decision_reason: str | None
    decided_at_ns: int | None
    ended_by: str | None
    end_reason: str | None
    ended_at_ns: int | None
    court_order: CourtOrderPublic | None = None
    history: list[RestrictionEventPublic] | None = None

    @classmethod
    def of(cls, r: Restriction, history: list[RestrictionEvent] | None = None) -> RestrictionPublic:
        return cls(
            id=r.id,
            subject=r.subject,
            domains=sorted(r.domains),
            basis_id=r.basis_id,
            authority=r.authority,
            reason_code=r.reason_code,
            reason_text=r.reason_text,
            rule_id=r.rule_id,
            event_ref=r.event_ref,
            proposed_by=r.proposed_by,
            proposed_at_ns=r.proposed_at_ns,
            start_ns=r.start_ns,
            end_ns=r.end_ns,
            status=r.status.value,
            appeal_state=r.appeal_state.value,
            decided_by=r.decided_by,
            decision_reason=r.decision_reason,
            decided_at_ns=r.decided_at_ns,
            ended_by=r.ended_by,
            end_reason=r.end_reason,
            ended_at_ns=r.ended_at_ns,
            court_order=None if r.court_order is None else CourtOrderPublic.of(r.court_order),
            history=None
            if history is None
            else [
                RestrictionEventPublic(action=e.action, actor=e.actor, reason=e.reason, at_ns=e.at_ns) for e in history
            ],
        )


class RestrictionsPublic(BaseModel):
    restrictions: list[RestrictionPublic]


class NoticePublic(BaseModel):
    """What a person is told: the decision, its rule and basis, the reasons, until when, and how to appeal."""

    id: str
    kind: str
    reference: str
    rule_id: str | None
    basis_id: str
    basis: str
    reason_code: str
    reason_text: str
    domains: list[str]
    expires_at_ns: int | None
    appeal: str
    created_at_ns: int

    @classmethod
    def of(cls, n: Notice) -> NoticePublic:
        return cls(
            id=n.id,
            kind=n.kind.value,
            reference=n.reference,
            rule_id=n.rule_id,
            basis_id=n.basis_id,
            basis=n.basis_cite,
            reason_code=n.reason_code,
            reason_text=n.reason_text,
            domains=sorted(n.domains),
            expires_at_ns=n.expires_at_ns,
            appeal=n.appeal,
            created_at_ns=n.created_at_ns,
        )


class NoticesPublic(BaseModel):
    notices: list[NoticePublic]
    next_before: str | None = Field(description="pass as ?before= for the next (older) page")


class AppealCreate(_Strict):
    restriction_id: RestrictionIdText
    grounds: Annotated[str, Field(min_length=1, max_length=2000)]


class AppealDecisionCreate(_Strict):
    outcome: Literal["uphold", "lift"]
    reason: ReasonText


class AppealPublic(BaseModel):
    id: str
    restriction_id: str
    subject: str
    grounds: str
    status: str
    filed_at_ns: int
    decided_by: str | None
    decision_reason: str | None
    decided_at_ns: int | None

    @classmethod
    def of(cls, a: Appeal) -> AppealPublic:
        return cls(
            id=a.id,
            restriction_id=a.restriction_id,
            subject=a.subject,
            grounds=a.grounds,
            status=a.status.value,
            filed_at_ns=a.filed_at_ns,
            decided_by=a.decided_by,
            decision_reason=a.decision_reason,
            decided_at_ns=a.decided_at_ns,
        )


class AppealQueueItemPublic(BaseModel):
    appeal: AppealPublic
    restriction: RestrictionPublic


class AppealQueuePublic(BaseModel):
    appeals: list[AppealQueueItemPublic]


class NoticeAppealCreate(_Strict):
    grounds: Annotated[str, Field(min_length=1, max_length=2000)]


class NoticeAppealDecisionCreate(_Strict):
    outcome: Literal["uphold", "withdraw"]
    reason: ReasonText


class NoticeAppealPublic(BaseModel):
    """An appeal on a score or denial notice; ``withdrawn``: score contributions a withdrawal stopped."""

    id: str
    notice_id: str
    subject: str
    grounds: str
    status: str
    filed_at_ns: int
    decided_by: str | None
    decision_reason: str | None
    decided_at_ns: int | None
    withdrawn: int | None

    @classmethod
    def of(cls, a: NoticeAppeal) -> NoticeAppealPublic:
        return cls(
            id=a.id,
            notice_id=a.notice_id,
            subject=a.subject,
            grounds=a.grounds,
            status=a.status.value,
            filed_at_ns=a.filed_at_ns,
            decided_by=a.decided_by,
            decision_reason=a.decision_reason,
            decided_at_ns=a.decided_at_ns,
            withdrawn=a.withdrawn,
        )


class NoticeAppealsPublic(BaseModel):
    appeals: list[NoticeAppealPublic]


class NoticeAppealQueueItemPublic(BaseModel):
    appeal: NoticeAppealPublic
    notice: NoticePublic


class NoticeAppealQueuePublic(BaseModel):
    appeals: list[NoticeAppealQueueItemPublic]


class MyRestrictionsPublic(BaseModel):
    """The caller's restrictions, every status, and their appeals."""

    restrictions: list[RestrictionPublic]
    appeals: list[AppealPublic]


class ScoreFactorPublic(BaseModel):
    """One reason a score is lower, in the rule's own words: how much it takes off, from how many events."""

    rule_id: str
    reason_code: str
    text: str
    points: float
    events: int

    @classmethod
    def of(cls, f: Factor) -> ScoreFactorPublic:
        return cls(rule_id=f.rule_id, reason_code=f.reason_code, text=f.text, points=f.points, events=f.events)


class ScorePublic(BaseModel):
    """A score in one scheme, the range it lies in, and at most four factors that lowered it most."""

    scheme: str
    value: int
    minimum: int
    maximum: int
    factors: list[ScoreFactorPublic]
    live_contributions: int
    as_of_ns: int

    @classmethod
    def of(cls, s: Score) -> ScorePublic:
        return cls(
            scheme=s.scheme,
            value=s.value,
            minimum=s.minimum,
            maximum=s.maximum,
            factors=[ScoreFactorPublic.of(f) for f in s.factors],
            live_contributions=s.live_contributions,
            as_of_ns=s.as_of_ns,
        )


class ScoresPublic(BaseModel):
    """Every scheme the caller has a live score in; a scheme with nothing live is not listed (it would be 0)."""

    scores: list[ScorePublic]


class RuleEventCreate(_Strict):
    """One lawful event: the source's own id for it (its retry key), whom it is about, when, and its fields."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
    subject: PolicySubject
    at_ns: Annotated[
        int, Strict(), Field(ge=1, lt=2**63, description="when it happened, in nanoseconds since 1970 (UTC)")
    ]
    fields: dict[str, Any] = Field(description="exactly the fields the type declares; a record as an object")


class RuleEventsCreate(_Strict):
    """A batch of one event type (``GET /v1/legal-bases`` lists the law; docs/rules.md the built-in types)."""

    type: Annotated[str, Field(min_length=1, max_length=64, description="a registered event type: loan.repaid")]
    events: list[RuleEventCreate] = Field(min_length=1, max_length=EVENTS_BATCH_MAX)


class RuleEventResultPublic(BaseModel):
    index: int
    id: str
    status: Literal["accepted", "duplicate"]  # duplicate: this source sent this id before; not scored again


class RuleEventsPublic(BaseModel):
    results: list[RuleEventResultPublic]
    firings: int  # rule firings the accepted events caused


class HitPublic(BaseModel):
    """A sanctions screening match for an officer: who, which listing, how close and why, and what was decided."""

    id: str
    subject: str
    source: str
    list_id: str
    list_version: int
    listed_name: str
    score: float
    features: dict[str, float]
    context: str
    reference: str
    status: str
    decided_by: str | None
    reason: str | None
    restriction_id: str | None
    created_at_ns: int
    decided_at_ns: int | None

    @classmethod
    def of(cls, h: Hit) -> HitPublic:
        return cls(
            id=h.id,
            subject=h.subject,
            source=h.source,
            list_id=h.list_id,
            list_version=h.list_version,
            listed_name=h.listed_name,
            score=h.score,
            features=dict(h.features),
            context=h.context.value,
            reference=h.reference,
            status=h.status.value,
            decided_by=h.decided_by,
            reason=h.reason,
            restriction_id=h.restriction_id,
            created_at_ns=h.created_at_ns,
            decided_at_ns=h.decided_at_ns,
        )


class HitsPublic(BaseModel):
    hits: list[HitPublic]
    threshold: float


class HitDecisionCreate(_Strict):
    decision: Literal["confirm", "dismiss"]
    reason: ReasonText


class HitDecisionPublic(BaseModel):
    """The decided hit and, when confirmed, the restriction now in force."""

    hit: HitPublic
    restriction: RestrictionPublic | None


# -- money: registers, two-admin requests, supply (issue 15) --


class _FromRecord(BaseModel):
    """A response read straight off a domain record's attributes (and properties) of the same names."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, record: object) -> Self:
        return cls.model_validate(record)


class HoldingPublic(_FromRecord):
    accounts: int
    balance: int = Field(description="posted credits less posted debits, summed")
    pending_debits: int
    pending_credits: int
    negative: int = Field(description="accounts below zero (only issuance accounts may be)")


class LedgerUnitPublic(_FromRecord):
    id: int
    name: str
    unit: str
    decimals: int
    issuer: str = Field(description="the one agency whose officers may create money on this ledger")
    category: str = Field(description="the data category of what it funds; rules reading the ledger read it")
    registered_at_ns: int
    requested_by: str
    approved_by: str


class LedgerUnitsPublic(BaseModel):
    ledgers: list[LedgerUnitPublic]


class LedgerSupplyPublic(_FromRecord):
    ledger: int
    unit: LedgerUnitPublic | None = Field(description="null: money on a ledger nobody registered")
    issued: int = Field(description="what the issuance accounts created, less what came back to them")
    in_circulation: int = Field(description="what every other account holds")
    held: dict[str, HoldingPublic] = Field(description="by kind of account, issuance included")
    reconciled: bool
    problems: list[str]


class SupplyPublic(BaseModel):
    ledgers: list[LedgerSupplyPublic]


AgencyIdText = Annotated[str, Field(min_length=1, max_length=AGENCY_ID_MAX, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class AgencyCreate(_Strict):
    id: AgencyIdText
    title: str = Field(min_length=1, max_length=200)


class AgencyPublic(_FromRecord):
    id: str
    title: str
    registered_at_ns: int
    registered_by: str


class AgenciesPublic(BaseModel):
    agencies: list[AgencyPublic]


class OfficerKeyTerms(_Strict):
    kind: Literal["officer_key"]
    name: str = Field(min_length=1, max_length=100, description="the officer's principal name; created if new")
    agency: AgencyIdText


class LedgerTerms(_Strict):
    kind: Literal["ledger"]
    id: LedgerId
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    unit: str = Field(min_length=1, max_length=16, description="an ISO 4217 code, or 'litre'")
    decimals: Annotated[int, Strict(), Field(ge=0, le=18)]
    issuer: AgencyIdText
    category: str = Field("financial", max_length=32, description="the data category of what the ledger funds")


class AdminRequestCreate(_Strict):
    terms: Annotated[OfficerKeyTerms | LedgerTerms, Field(discriminator="kind")]


class AdminRefusalCreate(_Strict):
    reason: str = Field(min_length=1, max_length=500)


class AdminRequestPublic(_FromRecord):
    id: str
    kind: str
    terms: dict[str, Any]
    requested_by: str
    requested_at_ns: int
    status: str
    decided_by: str | None
    decided_at_ns: int | None
    outcome: dict[str, Any] | None


class AdminRequestsPublic(BaseModel):
    requests: list[AdminRequestPublic]


class ApprovalPublic(BaseModel):
    request: AdminRequestPublic
    token: str | None = Field(description="the officer's API key, shown this once and never stored")
    ledger: LedgerUnitPublic | None


# -- declarations: what data means, made law by data-protection officers (issue 16) --------------

BODY_DOCUMENT_MAX = 1 << 20  # characters of a declarations document over HTTP; the CLI takes up to 4 MiB


class DeclarationsCreate(_Strict):
    """A proposed version: the whole declarations document, why, and any exceptions to the lexicon."""

    document: str = Field(
        min_length=1,
        max_length=BODY_DOCUMENT_MAX,
        description="the whole declarations document (TOML: [[record_type]], [[event_type]], [[legal_basis]], ...), "
        "as it will be law; GET /v1/declarations/{version} gives the one in force to start from",
    )
    note: str = Field(min_length=1, max_length=500, description="why, for the DPOs who approve it")
    exceptions: (
        dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[str, Field(max_length=500)]] | None
    ) = Field(
        default=None,
        max_length=64,
        description="name -> reason: lexicon refusals to waive (two DPOs approve); absent: those in force, "
        "where still needed",
    )


class DeclarationDecisionCreate(_Strict):
    reason: str = Field(default="", max_length=500)


class DeclarationRefusalCreate(_Strict):
    reason: str = Field(min_length=1, max_length=500)


class DeclarationDecisionPublic(BaseModel):
    principal_id: str
    decision: str
    reason: str
    at_ns: int


class DeclarationVersionPublic(BaseModel):
    version: int
    base_version: int | None
    status: str
    sha256: str
    note: str
    approvals_needed: int
    proposed_by: str | None = Field(description="a DPO's principal id; null: the built-in definitions")
    proposed_at_ns: int
    decided_at_ns: int | None
    exceptions: dict[str, str]
    decisions: list[DeclarationDecisionPublic]
    document: str | None = Field(default=None, description="the whole document (in a single version's answer)")

    @classmethod
    def of(cls, v: DeclarationVersion, *, document: bool = False) -> Self:
        return cls(
            version=v.version,
            base_version=v.base_version,
            status=v.status.value,
            sha256=v.sha256,
            note=v.note,
            approvals_needed=v.approvals_needed,
            proposed_by=v.proposed_by,
            proposed_at_ns=v.proposed_at_ns,
            decided_at_ns=v.decided_at_ns,
            exceptions=dict(v.exceptions),
            decisions=[DeclarationDecisionPublic(**vars_of(d)) for d in v.decisions],
            document=v.document if document else None,
        )


class DeclarationChangesPublic(BaseModel):
    added: list[str]
    changed: list[str]
    removed: list[str]
    restricting_bases: list[str]
    new_exceptions: list[str]
    why_two: list[str] = Field(description="why a second DPO must approve; empty when one is enough")


class DeclarationProposalPublic(BaseModel):
    version: DeclarationVersionPublic
    changes: DeclarationChangesPublic

    @classmethod
    def of(cls, p: Proposal) -> Self:
        c = p.changes
        changes = DeclarationChangesPublic(
            added=list(c.added),
            changed=list(c.changed),
            removed=list(c.removed),
            restricting_bases=list(c.restricting_bases),
            new_exceptions=list(c.new_exceptions),
            why_two=c.why_two(),
        )
        return cls(version=DeclarationVersionPublic.of(p.version), changes=changes)


class DeclarationVersionsPublic(BaseModel):
    in_force: int | None = Field(description="the approved version with the highest number")
    loaded: int | None = Field(description="the version this service runs: an approved one loads at the next start")
    versions: list[DeclarationVersionPublic]


def vars_of(record: object) -> dict[str, Any]:
    """A slotted dataclass's fields, by name."""
    return {name: getattr(record, name) for name in getattr(record, "__slots__", ())}
