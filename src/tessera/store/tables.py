"""The registries' tables, in SQLAlchemy Core: the schema that migrations must produce.

``tests/store/test_migrations.py`` compares a freshly migrated database with this
metadata; a change here without a migration in ``migrations/versions/`` fails there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tessera.auth import AGENCY_MAX, DISPLAY_NAME_MAX, NAME_MAX, ORGANISATION_MAX, Role
from tessera.store.metadata import ACTOR_MAX, PRINCIPAL_ID_LENGTH, metadata

ROLE_LENGTH_MAX = 16
SUBJECT_MAX = 64
KEY_ID_MAX = 64
SECRET_HASH_MAX = 256  # room for an encoded scrypt or argon2 hash, not only a raw digest


_ROLES_SQL = ", ".join(f"'{role.value}'" for role in Role)

principals = Table(
    "principals",
    metadata,
    Column("id", String(PRINCIPAL_ID_LENGTH), primary_key=True),
    Column("name", String(NAME_MAX), nullable=False, unique=True),
    Column("role", String(ROLE_LENGTH_MAX), nullable=False),
    Column("agency", String(AGENCY_MAX), nullable=False),
    # NULL for everyone but citizens: two principals must never speak for the same person.
    Column("subject", String(SUBJECT_MAX), nullable=True, unique=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False),
    # NULL but for merchants that act for an organisation (migration 0009); several may.
    Column("organisation", String(ORGANISATION_MAX), nullable=True),
    # NULL for none: people are shown a pseudonym made from the id instead (migration 0017).
    Column("display_name", String(DISPLAY_NAME_MAX), nullable=True),
    CheckConstraint(f"role IN ({_ROLES_SQL})", name="role"),
    Index(None, "role", "id"),  # list_principals(role=...) pages through one role by id
    Index(None, "organisation"),  # accounts_of_organisation
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(KEY_ID_MAX), primary_key=True),
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=False, index=True),
    Column("secret_hash", LargeBinary(SECRET_HASH_MAX), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("revoked_at_ns", BigInteger, nullable=True),
)

# Which principal holds a ledger account. The ledger itself knows only account ids. Two tables
# of the same pairs, written together (migration 0032): each B-tree is filled in its own key
# order, so a cycle's million new holders are appended, not inserted at random (4 µs a row).
account_holders = Table(
    "account_holders",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), nullable=False),  # a principal: see holder_accounts
    sqlite_with_rowid=False,  # one B-tree, keyed by account
)
# The same pairs by principal (accounts_held_by, in account order); its foreign key checks each holder.
holder_accounts = Table(
    "holder_accounts",
    metadata,
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), primary_key=True),
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# --- identity: the person registry and enrolment (migration 0002) ------------------------------

NUMBER_LENGTH = 12  # a Tessera number, Verhoeff check digit last
VIRTUAL_ID_LENGTH = 16
ENROLMENT_ID_LENGTH = 18  # "e_" and 16 hex digits
PERSON_NAME_MAX = 300
ADDRESS_MAX = 500
REQUEST_ID_MAX = 64
REASON_MAX = 500
PERSON_STATUSES = ("active", "suspended", "revoked", "deceased")
ENROLMENT_STATES = ("enrolled", "review", "merged", "rejected")
DECISIONS = ("distinct", "same", "fraud")

persons = Table(
    "persons",
    metadata,
    Column("number", String(NUMBER_LENGTH), primary_key=True),
    # The citizen principal that speaks for this person; its subject keys their access log.
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=False, unique=True),
    Column("name", String(PERSON_NAME_MAX), nullable=False),
    Column("other_names", Text, nullable=False),  # JSON list: the same name in other scripts, former names
    Column("birth_date", String(10), nullable=False),  # ISO 8601
    Column("sex", String(1), nullable=False),
    Column("address", String(ADDRESS_MAX), nullable=False),
    # The free-text household column went in migration 0019: households are their own tables below.
    Column("status", String(16), nullable=False),
    Column("enrolment_id", String(ENROLMENT_ID_LENGTH), nullable=False, unique=True),
    Column("created_at_ns", BigInteger, nullable=False),
    CheckConstraint("sex IN ('F', 'M', 'X')", name="sex"),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in PERSON_STATUSES)), name="status"),
)

person_status_history = Table(
    "person_status_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(REASON_MAX), nullable=False),
    Column("actor", String(PRINCIPAL_ID_LENGTH), nullable=False),  # the principal who changed it
    Column("at_ns", BigInteger, nullable=False),
    Index(None, "number", "id"),
)

# Every write to a person's facts a cycle reads (number, principal, birth date, sex, status) and to
# a principal's subject, one row per person touched, written by the database's own triggers
# (migration 0028) so that no writer can bypass it: the change sequence a snapshot of the active
# persons (tessera.programs.active_persons) is brought up to date from. Migration 0029 logs each
# household member written too (tessera.programs.KeptHouseholds).
person_changes = Table(
    "person_changes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("number", String(NUMBER_LENGTH), nullable=False),
    Column("kind", String(1), nullable=True),  # p: the person's row, s: its principal's subject, h: its membership
    sqlite_autoincrement=True,  # a sequence number is never issued twice, even once the newest rows are gone
)

virtual_ids = Table(
    "virtual_ids",
    metadata,
    Column("vid", String(VIRTUAL_ID_LENGTH), primary_key=True),
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("revoked_at_ns", BigInteger, nullable=True),
    Index(None, "number"),
)

# Every submission from a capture station, kept whatever became of it: the record of why a
# person exists, or why they do not.
enrolments = Table(
    "enrolments",
    metadata,
    Column("id", String(ENROLMENT_ID_LENGTH), primary_key=True),
    Column("request_id", String(REQUEST_ID_MAX), nullable=False, unique=True),  # the station's own id
    Column("digest", LargeBinary(32), nullable=False, unique=True),  # SHA-256 of demographics and templates
    Column("station", String(PRINCIPAL_ID_LENGTH), nullable=False),  # the principal who submitted it
    Column("demographics", Text, nullable=False),  # canonical JSON
    Column("templates", LargeBinary, nullable=False),  # Templates.to_bytes(): float32, no images
    Column("state", String(16), nullable=False),
    Column("number", String(NUMBER_LENGTH), nullable=True),  # the person made, or matched
    Column("candidates", Text, nullable=False),  # JSON [[number, score], ...] that sent it to review
    Column("decision", String(16), nullable=True),
    Column("decided_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("reason", String(REASON_MAX), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("decided_at_ns", BigInteger, nullable=True),
    CheckConstraint("state IN ({})".format(", ".join(f"'{s}'" for s in ENROLMENT_STATES)), name="state"),
    CheckConstraint("decision IN ({})".format(", ".join(f"'{s}'" for s in DECISIONS)), name="decision"),
    Index(None, "state", "created_at_ns"),  # the adjudication queue, oldest first
)

# --- identity: credentials (migration 0003) ------------------------------------------------------

CREDENTIAL_ID_MAX = 1366  # base64url of WebAuthn's 1023-byte limit on a credential id
COSE_KEY_MAX = 2048  # a COSE public key; RSA-4096 needs about 550 bytes
AAGUID_LENGTH = 36  # the authenticator model, as a UUID string
TRANSPORTS_MAX = 128  # comma-separated hints: "internal,hybrid"
PASSKEY_LABEL_MAX = 64
USER_HANDLE_LENGTH = 32  # WebAuthn allows 64; 32 random bytes never collide
CEREMONY_ID_LENGTH = 34  # "c_" and 32 hex digits
CHALLENGE_LENGTH = 32
TOKEN_HASH_LENGTH = 32  # SHA-256
CEREMONY_KINDS = ("register", "login")

# The WebAuthn user handle of each person who has bound a passkey: random, so that neither
# the authenticator nor anyone who reads it learns the Tessera number.
passkey_users = Table(
    "passkey_users",
    metadata,
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), primary_key=True),
    Column("user_handle", LargeBinary(USER_HANDLE_LENGTH), nullable=False, unique=True),
    Column("created_at_ns", BigInteger, nullable=False),
)

passkeys = Table(
    "passkeys",
    metadata,
    Column("credential_id", String(CREDENTIAL_ID_MAX), primary_key=True),  # base64url, as WebAuthn's JSON has it
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),
    Column("public_key", LargeBinary(COSE_KEY_MAX), nullable=False),
    Column("sign_count", BigInteger, nullable=False),
    Column("aaguid", String(AAGUID_LENGTH), nullable=False),
    Column("transports", String(TRANSPORTS_MAX), nullable=False),
    Column("label", String(PASSKEY_LABEL_MAX), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("last_used_at_ns", BigInteger, nullable=True),
    Column("revoked_at_ns", BigInteger, nullable=True),  # kept, not deleted: a revoked key stays refused
    CheckConstraint("sign_count >= 0", name="sign_count"),
    Index(None, "number", "created_at_ns"),  # list_passkeys, newest first
)

# One-time permissions, granted by an officer after an in-person check, to bind a passkey
# without holding one: the way back for a person who lost every device.
rebind_grants = Table(
    "rebind_grants",
    metadata,
    Column("token_hash", LargeBinary(TOKEN_HASH_LENGTH), primary_key=True),  # the token itself is never stored
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),
    Column("officer_id", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("used_at_ns", BigInteger, nullable=True),
    Index(None, "number"),
)

# A challenge is single-use and short-lived; expired rows are purged as new ones are made.
webauthn_ceremonies = Table(
    "webauthn_ceremonies",
    metadata,
    Column("id", String(CEREMONY_ID_LENGTH), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=True),  # NULL: discoverable login
    Column("challenge", LargeBinary(CHALLENGE_LENGTH), nullable=False),
    Column("label", String(PASSKEY_LABEL_MAX), nullable=False),  # the passkey's label, for a registration
    Column("rebind_grant", LargeBinary(TOKEN_HASH_LENGTH), ForeignKey(rebind_grants.c.token_hash), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("used_at_ns", BigInteger, nullable=True),
    CheckConstraint("kind IN ({})".format(", ".join(f"'{k}'" for k in CEREMONY_KINDS)), name="kind"),
    Index(None, "expires_at_ns"),
)

pins = Table(
    "pins",
    metadata,
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), primary_key=True),
    Column("pin_hash", String(SECRET_HASH_MAX), nullable=False),  # argon2id, encoded with its parameters
    Column("failed_attempts", Integer, nullable=False),  # counted before the hash is checked: see pin.py
    Column("lockouts", Integer, nullable=False),  # in a row; each doubles the next lockout
    Column("locked_until_ns", BigInteger, nullable=True),
    Column("reset_by", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=True),
    Column("updated_at_ns", BigInteger, nullable=False),
    CheckConstraint("failed_attempts >= 0 AND lockouts >= 0", name="counters"),
)

# --- identity: the OpenID Connect provider (migration 0004) ---------------------------------------

CLIENT_ID_LENGTH = 19  # "rp_" and 16 hex digits
RP_NAME_MAX = 200
REDIRECT_URI_MAX = 2048
SECTOR_ID_MAX = 253  # a DNS name
OIDC_REQUEST_ID_LENGTH = 43  # 32 random bytes, base64url
OIDC_STATE_MAX = 512  # the relying party's state and nonce, carried back verbatim
PKCE_CHALLENGE_LENGTH = 43  # base64url of a SHA-256 digest (S256)
OIDC_SCOPES_MAX = 500
ACR_MAX = 64
OIDC_CEREMONY_ID_MAX = 64
OIDC_HASH_LENGTH = 32  # SHA-256 of a code or an access token: the secrets themselves are never stored

# A relying party: a service people log in to with their internet ID.
relying_parties = Table(
    "relying_parties",
    metadata,
    Column("client_id", String(CLIENT_ID_LENGTH), primary_key=True),
    Column("name", String(RP_NAME_MAX), nullable=False, unique=True),  # shown on the consent page
    Column("secret_hash", LargeBinary(OIDC_HASH_LENGTH), nullable=True),  # NULL: a public client (PKCE only)
    Column("redirect_uris", Text, nullable=False),  # JSON list, matched exactly
    # Pairwise subjects are derived per sector: relying parties of one sector share a sub.
    Column("sector_id", String(SECTOR_ID_MAX), nullable=False),
    Column("claims", Text, nullable=False),  # JSON list of the claims it may ask for
    Column("created_by", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False),
)

# An authorization request waiting for the person to log in and consent; single use.
oidc_requests = Table(
    "oidc_requests",
    metadata,
    Column("id", String(OIDC_REQUEST_ID_LENGTH), primary_key=True),
    Column("client_id", String(CLIENT_ID_LENGTH), ForeignKey(relying_parties.c.client_id), nullable=False),
    Column("redirect_uri", String(REDIRECT_URI_MAX), nullable=False),
    Column("scopes", String(OIDC_SCOPES_MAX), nullable=False),  # space-separated, as OAuth writes them
    Column("state", String(OIDC_STATE_MAX), nullable=True),
    Column("nonce", String(OIDC_STATE_MAX), nullable=True),
    Column("code_challenge", String(PKCE_CHALLENGE_LENGTH), nullable=False),
    Column("acr", String(ACR_MAX), nullable=False),
    Column("ceremony_id", String(OIDC_CEREMONY_ID_MAX), nullable=False),  # the passkey login it waits on
    Column("created_at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("closed_at_ns", BigInteger, nullable=True),
    Index(None, "expires_at_ns"),
)

# An authorization code. Used ones are kept until well past expiry, so that a replay is
# recognised (and the tokens issued from the code revoked) rather than called unknown.
oidc_codes = Table(
    "oidc_codes",
    metadata,
    Column("code_hash", LargeBinary(OIDC_HASH_LENGTH), primary_key=True),
    Column("client_id", String(CLIENT_ID_LENGTH), ForeignKey(relying_parties.c.client_id), nullable=False),
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),
    Column("redirect_uri", String(REDIRECT_URI_MAX), nullable=False),
    Column("code_challenge", String(PKCE_CHALLENGE_LENGTH), nullable=False),
    Column("nonce", String(OIDC_STATE_MAX), nullable=True),
    Column("scopes", String(OIDC_SCOPES_MAX), nullable=False),  # openid and the claims the person consented to
    Column("acr", String(ACR_MAX), nullable=False),
    Column("amr", String(ACR_MAX), nullable=False),  # space-separated methods (RFC 8176)
    Column("auth_time_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("used_at_ns", BigInteger, nullable=True),
    Index(None, "expires_at_ns"),
)

oidc_tokens = Table(
    "oidc_tokens",
    metadata,
    Column("token_hash", LargeBinary(OIDC_HASH_LENGTH), primary_key=True),
    Column("code_hash", LargeBinary(OIDC_HASH_LENGTH), ForeignKey(oidc_codes.c.code_hash), nullable=False),
    Column("client_id", String(CLIENT_ID_LENGTH), ForeignKey(relying_parties.c.client_id), nullable=False),
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),
    Column("scopes", String(OIDC_SCOPES_MAX), nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("revoked_at_ns", BigInteger, nullable=True),
    Index(None, "code_hash"),  # a replayed code revokes its tokens
    Index(None, "expires_at_ns"),
)


# -- sanctions lists (migration 0005) --

SANCTIONS_SOURCE_MAX = 16  # the list's format names its source: eu, ofac, un, ftm
SANCTIONS_FILE_NAME_MAX = 255
LIST_ID_MAX = 200  # "ftm:" and an OpenSanctions id, the longest kind
SANCTIONS_FORMATS = ("eu", "ofac", "un", "ftm")
SANCTIONS_KINDS = ("person", "organisation", "vessel", "aircraft")

# One row per imported list: what was imported, from which file, when, and how much.
sanctions_lists = Table(
    "sanctions_lists",
    metadata,
    Column("source", String(SANCTIONS_SOURCE_MAX), primary_key=True),
    Column("file_name", String(SANCTIONS_FILE_NAME_MAX), nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 (hex) of the file, and of alt.csv and add.csv for OFAC
    Column("entities", Integer, nullable=False),
    Column("names", Integer, nullable=False),
    Column("imported_at_ns", BigInteger, nullable=False),
    # What this import changed against the previous one of its source (NULL for imports before 0017).
    Column("listings_new", Integer, nullable=True),
    Column("listings_changed", Integer, nullable=True),
    Column("listings_removed", Integer, nullable=True),
    # The screening of registered people this import owes (migration 0017): every person against
    # the listings changed at or after screen_since_ns, in number order; screened_through is the
    # last number done, screened_at_ns is set when it is finished. NULL since: nothing owed.
    Column("screen_since_ns", BigInteger, nullable=True),
    Column("screened_through", String(NUMBER_LENGTH), nullable=True),
    Column("screened_people", Integer, nullable=True),
    Column("screened_hits", Integer, nullable=True),
    Column("screened_at_ns", BigInteger, nullable=True),
    CheckConstraint("source IN ({})".format(", ".join(f"'{f}'" for f in SANCTIONS_FORMATS)), name="source"),
)

# The listings of each list; a re-import replaces a source's rows in one transaction.
sanctions_entities = Table(
    "sanctions_entities",
    metadata,
    Column("source", String(SANCTIONS_SOURCE_MAX), ForeignKey(sanctions_lists.c.source), primary_key=True),
    Column("list_id", String(LIST_ID_MAX), primary_key=True),
    Column("kind", String(16), nullable=False),
    # JSON lists of strings, as the parsers give them: screening reads them all into memory.
    Column("names", Text, nullable=False),
    Column("birth_dates", Text, nullable=False),
    Column("nationalities", Text, nullable=False),
    Column("identifiers", Text, nullable=False),
    Column("programs", Text, nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("remarks", Text, nullable=False),
    # SHA-256 of the listing's content as stored (migration 0017; NULL for rows imported before it,
    # whose hash is then computed from the row), and the import at which that content first appeared.
    Column("content_hash", String(64), nullable=True),
    Column("changed_at_ns", BigInteger, nullable=True),
    CheckConstraint("kind IN ({})".format(", ".join(f"'{k}'" for k in SANCTIONS_KINDS)), name="kind"),
)


# -- restrictions, notices and appeals (migration 0006) --

POLICY_ID_LENGTH = 18  # "r_", "n_" or "a_" and 16 hex digits
POLICY_SUBJECT_MAX = 68  # a Tessera number, or "org:" and up to 64 characters
LEGAL_BASIS_ID_MAX = 64  # tessera.rules.basis.BASIS_ID_MAX
INSTRUMENT_MAX = 200
ARTICLE_MAX = 64
DOMAINS_TEXT_MAX = 200  # the domains, sorted and comma-separated
EXERCISED_BY_TEXT_MAX = 8 * (AGENCY_MAX + 1)  # tessera.rules.basis.AGENCIES_PER_BASIS_MAX, sorted, comma-separated
ORDER_COURT_MAX = 120  # tessera.rules.basis.COURT_MAX
ORDER_CASE_NUMBER_MAX = 64  # tessera.rules.basis.CASE_NUMBER_MAX
AUTHORITY_MAX = 200
REASON_CODE_MAX = 64
REASON_TEXT_MAX = 1000
POLICY_REFERENCE_MAX = 200
APPEAL_TEXT_MAX = 500
GROUNDS_MAX = 2000
RESTRICTION_STATUSES = ("proposed", "active", "lifted", "expired", "rejected")
APPEAL_STATES = ("none", "pending", "upheld", "lifted")
APPEAL_STATUSES = ("pending", "upheld", "lifted")

# The exact terms of every legal basis a restriction was decided under, kept for the record.
legal_bases = Table(
    "legal_bases",
    metadata,
    Column("id", String(LEGAL_BASIS_ID_MAX), primary_key=True),
    Column("instrument", String(INSTRUMENT_MAX), nullable=False),
    Column("article", String(ARTICLE_MAX), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("domains", String(DOMAINS_TEXT_MAX), nullable=False),
    Column("registered_at_ns", BigInteger, nullable=False),
    # The agencies that exercise it (migration 0013); NULL on a basis recorded before: none may.
    Column("exercised_by", String(EXERCISED_BY_TEXT_MAX), nullable=True),
)

restrictions = Table(
    "restrictions",
    metadata,
    Column("id", String(POLICY_ID_LENGTH), primary_key=True),
    Column("subject", String(POLICY_SUBJECT_MAX), nullable=False),
    Column("domains", String(DOMAINS_TEXT_MAX), nullable=False),
    Column("basis_id", String(LEGAL_BASIS_ID_MAX), ForeignKey(legal_bases.c.id), nullable=False),
    Column("authority", String(AUTHORITY_MAX), nullable=False),
    Column("reason_code", String(REASON_CODE_MAX), nullable=False),
    Column("reason_text", String(REASON_TEXT_MAX), nullable=False),
    Column("rule_id", String(ACTOR_MAX), nullable=True),  # set when a rule proposed it
    Column("event_ref", String(POLICY_REFERENCE_MAX), nullable=True),  # the event that triggered the rule
    Column("proposed_by", String(ACTOR_MAX), nullable=False),
    Column("proposed_at_ns", BigInteger, nullable=False),
    Column("start_ns", BigInteger, nullable=True),  # when it took effect; NULL until then
    Column("end_ns", BigInteger, nullable=True),  # NULL: open-ended, court orders only
    Column("status", String(16), nullable=False),
    Column("appeal_state", String(16), nullable=False),
    Column("decided_by", String(ACTOR_MAX), nullable=True),
    Column("decision_reason", String(REASON_TEXT_MAX), nullable=True),
    Column("decided_at_ns", BigInteger, nullable=True),
    Column("ended_by", String(ACTOR_MAX), nullable=True),
    Column("end_reason", String(REASON_TEXT_MAX), nullable=True),
    Column("ended_at_ns", BigInteger, nullable=True),
    # The court order it carries out (migration 0013): court, case number, date (YYYY-MM-DD).
    Column("order_court", String(ORDER_COURT_MAX), nullable=True),
    Column("order_case_number", String(ORDER_CASE_NUMBER_MAX), nullable=True),
    Column("order_issued_on", String(10), nullable=True),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in RESTRICTION_STATUSES)), name="status"),
    CheckConstraint("appeal_state IN ({})".format(", ".join(f"'{s}'" for s in APPEAL_STATES)), name="appeal_state"),
    Index(None, "subject", "status"),
    Index(None, "status", "end_ns"),  # the expiry sweep
)

# Every step of a restriction's life, with who and why: the record an appeal or an audit reads.
restriction_events = Table(
    "restriction_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("restriction_id", String(POLICY_ID_LENGTH), ForeignKey(restrictions.c.id), nullable=False),
    Column("action", String(24), nullable=False),
    Column("actor", String(ACTOR_MAX), nullable=False),
    Column("reason", String(REASON_TEXT_MAX), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: what changed
    Column("at_ns", BigInteger, nullable=False),
    Index(None, "restriction_id", "id"),
)

# What a person is told about every decision that touches them; the basis is copied in, as cited then.
notices = Table(
    "notices",
    metadata,
    Column("id", String(POLICY_ID_LENGTH), primary_key=True),
    Column("subject", String(POLICY_SUBJECT_MAX), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("reference", String(POLICY_REFERENCE_MAX), nullable=False),  # a restriction id, a score contribution...
    Column("rule_id", String(ACTOR_MAX), nullable=True),
    Column("basis_id", String(LEGAL_BASIS_ID_MAX), nullable=False),
    Column("basis_cite", String(INSTRUMENT_MAX + ARTICLE_MAX + 2), nullable=False),
    Column("reason_code", String(REASON_CODE_MAX), nullable=False),
    Column("reason_text", String(REASON_TEXT_MAX), nullable=False),
    Column("domains", String(DOMAINS_TEXT_MAX), nullable=False),
    Column("expires_at_ns", BigInteger, nullable=True),
    Column("appeal", String(APPEAL_TEXT_MAX), nullable=False),  # how to appeal, in plain words
    Column("created_at_ns", BigInteger, nullable=False),
    Index(None, "subject", "created_at_ns", "id"),  # a person's notices, newest first
)

appeals = Table(
    "appeals",
    metadata,
    Column("id", String(POLICY_ID_LENGTH), primary_key=True),
    Column("restriction_id", String(POLICY_ID_LENGTH), ForeignKey(restrictions.c.id), nullable=False),
    Column("subject", String(POLICY_SUBJECT_MAX), nullable=False),
    Column("filed_by", String(ACTOR_MAX), nullable=False),
    Column("grounds", String(GROUNDS_MAX), nullable=False),
    Column("status", String(16), nullable=False),
    Column("filed_at_ns", BigInteger, nullable=False),
    Column("decided_by", String(ACTOR_MAX), nullable=True),
    Column("decision_reason", String(REASON_TEXT_MAX), nullable=True),
    Column("decided_at_ns", BigInteger, nullable=True),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in APPEAL_STATUSES)), name="status"),
    Index(None, "status", "filed_at_ns"),  # the officers' queue, oldest first
    Index(None, "restriction_id"),
    Index(None, "subject", "filed_at_ns"),
)


# -- scores (migration 0007) --

RULE_ID_MAX = 64
SCHEME_MAX = 64
EVENT_REF_MAX = 80  # "ledger:<seq>:<row>" or a domain event's id
SCORE_SUBJECT_MAX = 68  # the same subjects as restrictions: a Tessera number or "org:<id>"
CURSOR_NAME_MAX = 64

# One row per rule effect on one event: a score is the sum of its live rows, each traceable.
score_contributions = Table(
    "score_contributions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(SCORE_SUBJECT_MAX), nullable=False),
    Column("scheme", String(SCHEME_MAX), nullable=False),
    Column("points", Integer, nullable=False),
    Column("half_life_s", BigInteger, nullable=True),
    Column("rule_id", String(RULE_ID_MAX), nullable=False),
    Column("reason_code", String(64), nullable=False),
    Column("reason_text", String(1000), nullable=False),
    Column("event_ref", String(EVENT_REF_MAX), nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Index(None, "subject", "scheme"),  # the only index: each more one costs the engine's inserts dearly
)

# Eligibility a rule granted (a favourable effect): which benefit, until when, and why.
GRANT_CATEGORIES_MAX = 400  # every category's name, comma-separated, fits

eligibility_grants = Table(
    "eligibility_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(SCORE_SUBJECT_MAX), nullable=False),
    Column("benefit", String(SCHEME_MAX), nullable=False),
    Column("rule_id", String(RULE_ID_MAX), nullable=False),
    Column("event_ref", String(EVENT_REF_MAX), nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    # The data categories the grant was derived from, comma-separated (migration 0015): a grant that
    # came from disability data is disability data wherever it is read next. NULL: granted before.
    Column("categories", String(GRANT_CATEGORIES_MAX), nullable=True),
    Index(None, "subject"),
)

# How far each event source has been scored, written in the same transaction as the rows it caused.
rule_cursors = Table(
    "rule_cursors",
    metadata,
    Column("source", String(CURSOR_NAME_MAX), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


# -- sanctions screening hits (migration 0008) --

HIT_ID_LENGTH = 18  # "h_" and 16 hex digits
LISTED_NAME_MAX = 500
HIT_REFERENCE_MAX = 200
HIT_CONTEXTS = ("enrolment", "counterparty", "import")
HIT_STATUSES = ("pending", "confirmed", "dismissed")

# A screening match at or above the threshold, waiting for (or decided by) an officer.
screening_hits = Table(
    "screening_hits",
    metadata,
    Column("id", String(HIT_ID_LENGTH), primary_key=True),
    Column("subject", String(POLICY_SUBJECT_MAX), nullable=False),
    Column("source", String(SANCTIONS_SOURCE_MAX), nullable=False),
    Column("list_id", String(LIST_ID_MAX), nullable=False),
    Column("list_version", BigInteger, nullable=False),  # the list's imported_at_ns when it matched
    Column("listed_name", String(LISTED_NAME_MAX), nullable=False),
    Column("score_ppm", Integer, nullable=False),  # millionths: exact on both backends
    Column("features", Text, nullable=False),  # JSON object of feature: amount
    Column("context", String(16), nullable=False),
    Column("reference", String(HIT_REFERENCE_MAX), nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("reason", String(REASON_TEXT_MAX), nullable=True),
    Column("restriction_id", String(POLICY_ID_LENGTH), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("decided_at_ns", BigInteger, nullable=True),
    CheckConstraint("context IN ({})".format(", ".join(f"'{c}'" for c in HIT_CONTEXTS)), name="context"),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in HIT_STATUSES)), name="status"),
    Index(None, "subject", "source", "list_id"),  # is this listing already raised for this subject?
    Index(None, "status", "created_at_ns"),  # the officers' queue, oldest first
)


# -- events submitted by agencies (migration 0010) --

EVENT_ID_MAX = 64  # the submitting source's own id for the event: its retry key
EVENT_TYPE_MAX = 64
SUBMISSION_ID_LENGTH = 16  # hex digits

# Lawful events an agency submitted for the rules (``loan.repaid``, ``tax.filed_late``), kept as
# received: a retry is known by (source, event_id), and ``seq`` orders the engine's cursor over them.
rule_events = Table(
    "rule_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("source", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("event_id", String(EVENT_ID_MAX), nullable=False),
    Column("type", String(EVENT_TYPE_MAX), nullable=False),
    Column("subject", String(POLICY_SUBJECT_MAX), nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    Column("fields", Text, nullable=False),  # JSON object, as checked against the type
    Column("received_at_ns", BigInteger, nullable=False),
    Column("submission", String(SUBMISSION_ID_LENGTH), nullable=False),  # the batch it came in: scored together
    Index(None, "source", "event_id", unique=True),
    Index(None, "subject"),
)


# -- appeals on score and denial notices (migration 0011) --

NOTICE_APPEAL_ID_LENGTH = 19  # "na_" and 16 hex digits
NOTICE_APPEAL_STATUSES = ("pending", "upheld", "withdrawn")

# A person's appeal on a rule's lowered score or denial, as told in a notice; one per notice.
notice_appeals = Table(
    "notice_appeals",
    metadata,
    Column("id", String(NOTICE_APPEAL_ID_LENGTH), primary_key=True),
    Column("notice_id", String(POLICY_ID_LENGTH), ForeignKey(notices.c.id), nullable=False),
    Column("subject", String(POLICY_SUBJECT_MAX), nullable=False),
    Column("filed_by", String(ACTOR_MAX), nullable=False),
    Column("grounds", String(GROUNDS_MAX), nullable=False),
    Column("status", String(16), nullable=False),
    Column("filed_at_ns", BigInteger, nullable=False),
    Column("decided_by", String(ACTOR_MAX), nullable=True),
    Column("decision_reason", String(REASON_TEXT_MAX), nullable=True),
    Column("decided_at_ns", BigInteger, nullable=True),
    Column("withdrawn", Integer, nullable=True),  # score contributions a withdrawal stopped
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in NOTICE_APPEAL_STATUSES)), name="status"),
    Index(None, "notice_id", unique=True),
    Index(None, "status", "filed_at_ns"),  # the officers' queue, oldest first
    Index(None, "subject", "filed_at_ns"),
)


# -- declarations: what data means, made law by data-protection officers (migration 0014) -------

DECLARATION_NOTE_MAX = 500
DECLARATION_STATUSES = ("pending", "approved", "refused")
DECLARATION_DECISIONS = ("approve", "refuse")
SHA256_HEX_LENGTH = 64

# Every version of the declarations (event types, record types, legal bases), whole: the one
# in force is the approved one with the highest number. Rows are only added; a pending row is
# decided once (approved or refused) and never changed after.
declaration_versions = Table(
    "declaration_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("base_version", Integer, nullable=True),  # the version in force when proposed; NULL: the first
    Column("document", Text, nullable=False),  # the whole declarations document (TOML), as proposed
    Column("sha256", String(SHA256_HEX_LENGTH), nullable=False),  # of the document's UTF-8 bytes
    Column("exceptions", Text, nullable=False),  # JSON {name: reason}: lexicon refusals two DPOs waived
    Column("note", String(DECLARATION_NOTE_MAX), nullable=False),  # why, in the proposer's words
    Column("approvals_needed", Integer, nullable=False),  # 0 (built in), 1, or 2 (a basis that restricts, ...)
    Column("proposed_by", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), nullable=True),  # NULL: built in
    Column("proposed_at_ns", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_at_ns", BigInteger, nullable=True),  # when it took effect, or was refused
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in DECLARATION_STATUSES)), name="status"),
    CheckConstraint("approvals_needed >= 0 AND approvals_needed <= 2", name="approvals_needed"),
    Index(None, "status", "version"),
)

# Each DPO's approval or refusal of a version, with the reason: the log of who made the law.
declaration_decisions = Table(
    "declaration_decisions",
    metadata,
    Column("version", Integer, ForeignKey(declaration_versions.c.version), primary_key=True, autoincrement=False),
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey(principals.c.id), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("reason", String(DECLARATION_NOTE_MAX), nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    CheckConstraint("decision IN ({})".format(", ".join(f"'{d}'" for d in DECLARATION_DECISIONS)), name="decision"),
)

# --- identity: households (migration 0016) -------------------------------------------------------

HOUSEHOLD_ID_LENGTH = 18  # "h_" and 16 hex digits
HOUSEHOLD_CHANGES = ("member_joined", "member_left", "head_changed", "nominee_added", "nominee_removed")
HOUSEHOLD_CHANGE_MAX = 16
NOMINEE_SLOTS = 2  # tessera.identity.households.NOMINEES_MAX: the slot column holds a third out of the store too

# A household; its members, head and nominees are the rows below. Never deleted: a household
# whose last member left is closed, and keeps its history.
households = Table(
    "households",
    metadata,
    Column("id", String(HOUSEHOLD_ID_LENGTH), primary_key=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("created_by", String(ACTOR_MAX), nullable=False),  # a principal id, or "migration 0016"
    Column("closed_at_ns", BigInteger, nullable=True),  # when its last member left
)

# Who is in which household now. The key is the person alone: a person is in at most one
# household at a time, whatever the code above the store does. The head is a member (a flag
# on their row, so the head can never be someone outside), and one at most per household.
household_members = Table(
    "household_members",
    metadata,
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), primary_key=True),
    Column("household_id", String(HOUSEHOLD_ID_LENGTH), ForeignKey(households.c.id), nullable=False),
    Column("is_head", Boolean, nullable=False),
    Column("joined_at_ns", BigInteger, nullable=False),
    Index(None, "household_id", "number"),
    Index(
        "uq_household_members_head",
        "household_id",
        unique=True,
        sqlite_where=text("is_head"),
        postgresql_where=text("is_head"),
    ),
)

# Who may collect on a household's behalf: registered persons, members or not. Two slots per
# household, so a third nominee is refused by the store as well as by the domain.
household_nominees = Table(
    "household_nominees",
    metadata,
    Column("household_id", String(HOUSEHOLD_ID_LENGTH), ForeignKey(households.c.id), primary_key=True),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),
    Column("added_at_ns", BigInteger, nullable=False),
    CheckConstraint(f"slot >= 1 AND slot <= {NOMINEE_SLOTS}", name="slot"),
    UniqueConstraint("household_id", "number"),
    Index(None, "number"),  # the households a person collects for
)

# Every change to a household, in order: only ever added to, never changed or deleted. Replayed
# from the first row, it gives the members, head and nominees of the rows above.
household_changes = Table(
    "household_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("household_id", String(HOUSEHOLD_ID_LENGTH), ForeignKey(households.c.id), nullable=False),
    Column("change", String(HOUSEHOLD_CHANGE_MAX), nullable=False),
    Column("number", String(NUMBER_LENGTH), ForeignKey(persons.c.number), nullable=False),  # the person it concerns
    Column("actor", String(ACTOR_MAX), nullable=False),  # the officer's principal id, or "migration 0016"
    Column("reason", String(REASON_MAX), nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    CheckConstraint("change IN ({})".format(", ".join(f"'{c}'" for c in HOUSEHOLD_CHANGES)), name="change"),
    Index(None, "household_id", "id"),
)
