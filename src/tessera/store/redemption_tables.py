"""Redemptions' tables (issue 19, migration 0022): what shops redeemed, the transfers each made, officers' attestations.

A redemption's row and its transfers are written *before* the ledger sees the transfers (as a
payment's Idempotency-Key is), so a retry posts the very same chain and the ledger answers
``exists``; its status says what the ledger did. Reconciliation sums ``redemption_transfers``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tessera.limits import IDEMPOTENCY_KEY_MAX
from tessera.store.metadata import PRINCIPAL_ID_LENGTH, metadata
from tessera.store.programme_tables import PROGRAMME_KEY_MAX
from tessera.store.tables import NUMBER_LENGTH

REDEMPTION_ID_LENGTH = 18  # "r_" and 16 hex digits
ATTESTATION_ID_LENGTH = 18  # "a_" and 16 hex digits
OUTLET_ID_LENGTH = 18  # "o_" and 16 hex digits
REDEMPTION_STATUSES = ("awaiting_approval", "posting", "completed", "held", "posted", "voided", "declined", "refused")
REDEMPTION_AUTHS = ("pin", "app", "nominee", "attestation")
REDEMPTION_TRANSFER_KINDS = ("draw", "co_payment", "return", "post", "void")
_POSTING = "status = 'posting'"
REDEMPTION_TEXT_MAX = 16 * 1024  # items and outcome, as JSON
ATTESTATION_REASON_MAX = 500


def _in(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


# One redemption at an outlet: who asked, for whom, how the person was authenticated, what, and where it stands.
redemptions = Table(
    "redemptions",
    metadata,
    Column("id", String(REDEMPTION_ID_LENGTH), primary_key=True),
    Column("outlet_id", String(OUTLET_ID_LENGTH), nullable=False),
    Column("programme", String(PROGRAMME_KEY_MAX), nullable=False),
    Column("merchant", String(PRINCIPAL_ID_LENGTH), nullable=False),  # the till's principal
    Column("idempotency_key", String(IDEMPOTENCY_KEY_MAX), nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("person", String(NUMBER_LENGTH), nullable=False),  # whose entitlement: the unit's number (a head)
    Column("holder", String(PRINCIPAL_ID_LENGTH), nullable=False),  # the unit's principal
    Column("presented_by", String(NUMBER_LENGTH), nullable=False),  # who was authenticated: a member or nominee
    Column("auth", String(16), nullable=False),
    Column("attestation_id", String(ATTESTATION_ID_LENGTH), nullable=True),
    Column("status", String(20), nullable=False),
    Column("items", Text, nullable=False),  # JSON: products, quantities, what each line draws
    Column("co_payment", BigInteger, nullable=True),  # minor units of the currency
    Column("co_payment_method", String(8), nullable=True),  # wallet or cash
    Column("hold_timeout_s", Integer, nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("decided_at_ns", BigInteger, nullable=True),  # applied, refused, declined, posted or voided
    Column("outcome", Text, nullable=True),  # JSON: the refusal's reason and words
    UniqueConstraint("merchant", "idempotency_key"),
    CheckConstraint(_in("status", REDEMPTION_STATUSES), name="status"),
    CheckConstraint(_in("auth", REDEMPTION_AUTHS), name="auth"),
    Index(None, "outlet_id", "created_at_ns"),
    Index(None, "person", "created_at_ns"),
    # The rows a crash left posting, for the start-up sweep (migration 0030): only the few in flight are indexed.
    Index("ix_redemptions_posting", "status", sqlite_where=text(_POSTING), postgresql_where=text(_POSTING)),
)

# Every transfer a redemption made, with what reconciliation groups by: programme, cycle, ledger, outlet.
redemption_transfers = Table(
    "redemption_transfers",
    metadata,
    Column("transfer_id", BigInteger, primary_key=True),
    Column("redemption_id", String(REDEMPTION_ID_LENGTH), ForeignKey(redemptions.c.id), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("programme", String(PROGRAMME_KEY_MAX), nullable=False),
    Column("cycle_id", Integer, nullable=False),  # the cycle drawn on (0: a co-payment)
    Column("ledger_id", Integer, nullable=False),
    Column("outlet_id", String(OUTLET_ID_LENGTH), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("pending_id", BigInteger, nullable=True),  # a post's or void's hold
    # The rest of the record, so that a retry sends the very same chain.
    Column("debit_account_id", BigInteger, nullable=False),
    Column("credit_account_id", BigInteger, nullable=False),
    Column("code", Integer, nullable=False),
    Column("flags", Integer, nullable=False),  # pending, post or void; "linked" is added when the chain is packed
    Column("timeout", Integer, nullable=False),
    CheckConstraint(_in("kind", REDEMPTION_TRANSFER_KINDS), name="kind"),
    Index(None, "redemption_id"),
    Index(None, "programme", "cycle_id"),
    Index(None, "outlet_id"),
)

# An officer's word that a person is who they say, for one redemption at one outlet: for those a PIN fails.
redemption_attestations = Table(
    "redemption_attestations",
    metadata,
    Column("id", String(ATTESTATION_ID_LENGTH), primary_key=True),
    Column("officer", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("person", String(NUMBER_LENGTH), nullable=False),
    Column("programme", String(PROGRAMME_KEY_MAX), nullable=False),
    Column("outlet_id", String(OUTLET_ID_LENGTH), nullable=False),
    Column("reason", String(ATTESTATION_REASON_MAX), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("used_by", String(REDEMPTION_ID_LENGTH), nullable=True),  # the redemption it was spent on, once
    Index(None, "person"),
)

ADJUSTMENT_KINDS = ("return", "back_pay")
ADJUSTMENT_REFERENCE_MAX = 64

# What moved between a programme and an entitlement outside disbursements and redemptions: an expired
# remainder returned, a grievance's back-pay paid. Written before the ledger sees the transfer (retries post the same).
entitlement_adjustments = Table(
    "entitlement_adjustments",
    metadata,
    Column("transfer_id", BigInteger, primary_key=True),
    Column("kind", String(12), nullable=False),
    Column("programme", String(PROGRAMME_KEY_MAX), nullable=False),
    Column("cycle_id", Integer, nullable=False),  # the cycle whose credit it returns or makes good (0: none)
    Column("ledger_id", Integer, nullable=False),
    Column("person", String(NUMBER_LENGTH), nullable=False),  # the unit's number (a household's head)
    Column("amount", BigInteger, nullable=False),
    Column("reference", String(ADJUSTMENT_REFERENCE_MAX), nullable=False),  # a grievance's id, a return run's
    Column("made_by", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("made_at_ns", BigInteger, nullable=False),
    CheckConstraint(_in("kind", ADJUSTMENT_KINDS), name="kind"),
    Index(None, "programme", "cycle_id"),
    Index(None, "person"),
)
