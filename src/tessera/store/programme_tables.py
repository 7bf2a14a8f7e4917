"""Programmes' tables (issue 19, migrations 0021, 0023-0025): definitions, cycles, results, grievances, what follows.

They share ``tables.metadata``; ``tessera.store`` imports this module wherever the schema is
collected, so migrations and their test see them with the rest.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from tessera.store.metadata import PRINCIPAL_ID_LENGTH, metadata
from tessera.store.tables import NUMBER_LENGTH

PROGRAMME_KEY_MAX = 64  # as tessera.programs' PROGRAMME_ID_MAX
PROGRAMME_TEXT_MAX = 64 * 1024  # one [[programme]] table in TOML
CYCLE_STATUSES = ("draft", "previewed", "approved", "disbursing", "disbursed", "closed")
CYCLE_NOTE_MAX = 4000  # the preview's totals per line, as JSON
GRIEVANCE_ID_LENGTH = 18  # "g_" and 16 hex digits
GRIEVANCE_KINDS = ("not_received", "shop_refused", "wrong_amount")
GRIEVANCE_STATUSES = ("open", "resolved_upheld", "resolved_rejected")
GRIEVANCE_TEXT_MAX = 2000  # the person's words
GRIEVANCE_REASON_MAX = 1000  # the officer's words
REDEMPTION_ID_MAX = 32
BACK_PAY_MAX = 2000  # JSON: per line, its ledger, amount and transfer id (16 lines at most)

# A programme as registered: its checked TOML text, the version (1, 2, … as it is registered again),
# who registered it, and the programme account each line draws on (JSON: ledger id -> account id).
programme_definitions = Table(
    "programme_definitions",
    metadata,
    Column("id", String(PROGRAMME_KEY_MAX), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("funding", Text, nullable=False),
    Column("registered_by", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("registered_at_ns", BigInteger, nullable=False),
)

# One payment run of a programme, and every step's actor and time (NULL until taken).
programme_cycles = Table(
    "programme_cycles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("programme", String(PROGRAMME_KEY_MAX), nullable=False),
    Column("version", Integer, nullable=False),  # the definition it runs
    Column("cycle_date_ns", BigInteger, nullable=False),  # ages and validity count from it
    Column("status", String(16), nullable=False),
    Column("created_by", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("previewed_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("previewed_at_ns", BigInteger, nullable=True),
    Column("approved_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("approved_at_ns", BigInteger, nullable=True),
    Column("disbursed_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("disbursed_at_ns", BigInteger, nullable=True),
    Column("closed_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("closed_at_ns", BigInteger, nullable=True),
    Column("units", Integer, nullable=False),  # units previewed
    Column("eligible", Integer, nullable=False),
    Column("totals", Text, nullable=False),  # JSON: per line, total asked, budget, factor, total paid
    Column("batches_done", Integer, nullable=False),  # disbursement's progress, batch by batch
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in CYCLE_STATUSES)), name="status"),
    Index(None, "programme"),
)

# What a cycle's preview found for each unit, in the order disbursement pays them (``seq``).
cycle_results = Table(
    "cycle_results",
    metadata,
    Column("cycle_id", Integer, ForeignKey(programme_cycles.c.id), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("person", String(NUMBER_LENGTH), nullable=False),  # the person paid: the head, for a household
    Column("holder", String(PRINCIPAL_ID_LENGTH), nullable=False),  # their principal, who holds the entitlement
    Column("eligible", Boolean, nullable=False),
    Column("failed", BigInteger, nullable=False),  # bit i: the eligibility's clause i did not hold
    # bit j: fact j of the programme's unreported_facts was never reported, leaving the unit not assessed (0026)
    Column("unreported", BigInteger, nullable=False, server_default="0"),
    Column("amounts", String(400), nullable=False),  # per line, comma-separated, before any pro-rating
    Index(None, "person", "cycle_id"),  # a person's own results (migration 0023)
)

# A person's grievance about an entitlement (a programme, optionally one cycle) or a redemption, and its
# resolution: written once, by an UPDATE from open only. ``back_pay`` (JSON, per line: ledger, amount,
# transfer id) is written with the resolution, before the ledger is asked to pay it.
grievances = Table(
    "grievances",
    metadata,
    Column("id", String(GRIEVANCE_ID_LENGTH), primary_key=True),  # sorts by filing time
    Column("subject", String(NUMBER_LENGTH), nullable=False),  # the person's Tessera number
    Column("holder", String(PRINCIPAL_ID_LENGTH), nullable=False),  # the principal who filed it for them
    Column("programme", String(PROGRAMME_KEY_MAX), nullable=False),
    Column("cycle_id", Integer, ForeignKey(programme_cycles.c.id), nullable=True),
    Column("redemption_id", String(REDEMPTION_ID_MAX), nullable=True),  # "r_" and 16 hex digits; not joined
    Column("kind", String(16), nullable=False),
    Column("text", String(GRIEVANCE_TEXT_MAX), nullable=False),
    Column("filed_at_ns", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("resolved_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("resolved_at_ns", BigInteger, nullable=True),
    Column("reason", String(GRIEVANCE_REASON_MAX), nullable=True),
    Column("back_pay", String(BACK_PAY_MAX), nullable=True),
    Column("back_paid_at_ns", BigInteger, nullable=True),  # when the ledger took every back-pay line (migration 0027)
    CheckConstraint("kind IN ({})".format(", ".join(f"'{k}'" for k in GRIEVANCE_KINDS)), name="kind"),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in GRIEVANCE_STATUSES)), name="status"),
    Index(None, "subject"),
    Index(None, "programme"),
)

# What follows a cycle's approval (migration 0025): the notices of eligibility lost, the notices before its
# validity ends, and the return of what was not spent; each with its progress (by seq), actor and time.
cycle_followups = Table(
    "cycle_followups",
    metadata,
    Column("cycle_id", Integer, ForeignKey(programme_cycles.c.id), primary_key=True),
    Column("lost_notices", Integer, nullable=True),  # eligibility-loss notices sent at approval; NULL: not yet
    Column("lost_notified_at_ns", BigInteger, nullable=True),
    Column("expiry_notified_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("expiry_through_seq", Integer, nullable=False),  # expiry notices sent for units up to this seq
    Column("expiry_notices", Integer, nullable=False),
    Column("expiry_notified_at_ns", BigInteger, nullable=True),  # every expiry notice sent; NULL while under way
    Column("returned_by", String(PRINCIPAL_ID_LENGTH), nullable=True),
    Column("return_started_at_ns", BigInteger, nullable=True),
    Column("return_through_seq", Integer, nullable=False),  # remainders returned for units up to this seq
    Column("returned_at_ns", BigInteger, nullable=True),  # every remainder returned; NULL while under way
    Column("returned", Text, nullable=False),  # JSON: ledger id -> amount returned, once finished
)
