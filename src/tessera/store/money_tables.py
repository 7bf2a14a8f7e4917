"""The money tables: agencies, the ledgers they issue, two-admin requests, and the payments people make.

Registered on the shared ``metadata`` (``tessera.store.metadata``); ``tables.py`` imports this
module so that the schema the migrations are checked against is whole.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table

from tessera.auth import AGENCY_MAX
from tessera.limits import ALIAS_MAX, IDEMPOTENCY_KEY_MAX, PAYMENT_DESCRIPTION_MAX
from tessera.store.metadata import ACTOR_MAX, PRINCIPAL_ID_LENGTH, metadata

# -- who may create money: agencies, the ledgers they issue, two-admin requests (migration 0012) --

AGENCY_TITLE_MAX = 200
LEDGER_NAME_MAX = 64
LEDGER_UNIT_MAX = 16
LEDGER_CATEGORY_MAX = 32  # ledgers.category: a tessera.rules.categories.Category value
ADMIN_REQUEST_ID_LENGTH = 18  # "r_" and 16 hex digits
ADMIN_REQUEST_KINDS = ("officer_key", "ledger")
ADMIN_REQUEST_STATUSES = ("pending", "approved", "refused")
ADMIN_PAYLOAD_MAX = 2000

# The agencies of the state: a principal's agency must be one of these (issue 15).
agencies = Table(
    "agencies",
    metadata,
    Column("id", String(AGENCY_MAX), primary_key=True),
    Column("title", String(AGENCY_TITLE_MAX), nullable=False),
    Column("registered_at_ns", BigInteger, nullable=False),
    Column("registered_by", String(ACTOR_MAX), nullable=False),
)

# Units of account: which agency alone issues each ledger. A row is never changed.
ledgers = Table(
    "ledgers",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(LEDGER_NAME_MAX), nullable=False, unique=True),
    Column("unit", String(LEDGER_UNIT_MAX), nullable=False),
    Column("decimals", Integer, nullable=False),
    Column("issuer", String(AGENCY_MAX), ForeignKey(agencies.c.id), nullable=False),
    Column("registered_at_ns", BigInteger, nullable=False),
    Column("requested_by", String(ACTOR_MAX), nullable=False),
    Column("approved_by", String(ACTOR_MAX), nullable=False),
    # The data category of what the ledger funds ("disability" for a disability programme's
    # quota), as tessera.rules.categories names it; NULL: financial (migration 0014).
    Column("category", String(LEDGER_CATEGORY_MAX), nullable=True),
    CheckConstraint("decimals >= 0 AND decimals <= 18", name="decimals"),
)

# Acts that need two admins: one asks, another approves (keys for an issuer's officers, ledgers).
admin_requests = Table(
    "admin_requests",
    metadata,
    Column("id", String(ADMIN_REQUEST_ID_LENGTH), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("payload", String(ADMIN_PAYLOAD_MAX), nullable=False),  # the request's terms as canonical JSON
    Column("requested_by", String(PRINCIPAL_ID_LENGTH), ForeignKey("principals.id"), nullable=False),
    Column("requested_at_ns", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(PRINCIPAL_ID_LENGTH), ForeignKey("principals.id"), nullable=True),
    Column("decided_at_ns", BigInteger, nullable=True),
    Column("outcome", String(ADMIN_PAYLOAD_MAX), nullable=True),  # what the approval made (a key id, a ledger)
    CheckConstraint("kind IN ({})".format(", ".join(f"'{k}'" for k in ADMIN_REQUEST_KINDS)), name="kind"),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in ADMIN_REQUEST_STATUSES)), name="status"),
    Index(None, "status", "requested_at_ns"),
)


# -- payments a person makes: aliases, payment requests, idempotency keys (migration 0016) -----------

PAYMENT_REQUEST_ID_LENGTH = 19  # "pr_" and 16 hex digits
PAYMENT_BODY_HASH_LENGTH = 64  # SHA-256, hex
PAYMENT_OUTCOME_MAX = 4000  # the answer a key replays: a payment's JSON or a refusal's problem

# An alias a payee published for one of its accounts: anyone may resolve it to the account,
# never to a person (DESIGN.md principle 5). Unique; deleting one frees the name.
payment_aliases = Table(
    "payment_aliases",
    metadata,
    Column("alias", String(ALIAS_MAX), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey("principals.id"), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Index(None, "principal_id", "alias"),  # a holder's aliases, listed
)

# A payee's request to be paid: amount and account fixed, paid at most once, not after expiry.
# ``transfer_id`` is claimed by the payment that is paying it before the ledger sees it;
# ``paid_at_ns`` says the ledger took that transfer.
payment_requests = Table(
    "payment_requests",
    metadata,
    Column("id", String(PAYMENT_REQUEST_ID_LENGTH), primary_key=True),
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey("principals.id"), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("ledger", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("description", String(PAYMENT_DESCRIPTION_MAX), nullable=False),
    Column("alias", String(ALIAS_MAX), nullable=True),  # what the payer is shown as the payee
    Column("created_at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("transfer_id", BigInteger, nullable=True),
    Column("paid_at_ns", BigInteger, nullable=True),
    CheckConstraint("amount > 0", name="amount"),
    Index(None, "principal_id", "created_at_ns"),
)

# A payer's Idempotency-Key: the request it was first sent with (hashed), the transfer it
# resolved to (its id chosen before the ledger saw it, so a retry after a crash posts the
# same transfer and the ledger answers ``exists``), and the answer, once there is one.
payment_keys = Table(
    "payment_keys",
    metadata,
    Column("principal_id", String(PRINCIPAL_ID_LENGTH), ForeignKey("principals.id"), primary_key=True),
    Column("key", String(IDEMPOTENCY_KEY_MAX), primary_key=True),
    Column("body_sha256", String(PAYMENT_BODY_HASH_LENGTH), nullable=False),
    Column("transfer_id", BigInteger, nullable=False),
    Column("debit_account_id", BigInteger, nullable=False),
    Column("credit_account_id", BigInteger, nullable=False),
    Column("ledger", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("request_id", String(PAYMENT_REQUEST_ID_LENGTH), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("http_status", Integer, nullable=True),  # NULL until answered
    Column("outcome", String(PAYMENT_OUTCOME_MAX), nullable=True),
)
