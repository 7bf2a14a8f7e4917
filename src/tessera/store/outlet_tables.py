"""The shops' tables (issue 19, migration 0020): outlets, their authorisations, and programmes' approved products.

They share ``tables.metadata`` (its naming convention and the migrations' comparison);
``tessera.store`` imports this module beside ``tables.py``, so loading either collects both.
Every table here is only ever added to: an authorisation's revocation is a row of its own,
a new product list a new version, so the history of who was allowed what stays readable.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from tessera.auth import ORGANISATION_MAX
from tessera.store.metadata import PRINCIPAL_ID_LENGTH, metadata
from tessera.store.tables import LEGAL_BASIS_ID_MAX

OUTLET_ID_LENGTH = 18  # "o_" and 16 hex digits
OUTLET_NAME_MAX = 200
LOCATION_CODE_MAX = 16  # "KE-047-0012": tessera.programs.outlets.LOCATION_CODE
PROGRAMME_ID_MAX = 64  # tessera.programs.PROGRAMME_ID_MAX
AUTHORISATION_REASON_MAX = 500
PRODUCT_CODE_MAX = 32  # tessera.programs.PRODUCT_CODE_MAX
PRODUCT_DESCRIPTION_MAX = 200
PRODUCT_UNIT_MAX = 16
COMMODITY_MAX = 32  # tessera.programs.COMMODITY_MAX
DIGEST_LENGTH = 64  # SHA-256, hex

outlets = Table(
    "outlets",
    metadata,
    Column("id", String(OUTLET_ID_LENGTH), primary_key=True),
    Column("name", String(OUTLET_NAME_MAX), nullable=False),
    # A merchant principal's id, or "org:<id>" for every merchant acting for that organisation.
    Column("operator", String(ORGANISATION_MAX), nullable=False),
    Column("category", Integer, nullable=False),  # ISO 18245 MCC
    Column("location", String(LOCATION_CODE_MAX), nullable=False),
    Column("registered_by", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("registered_at_ns", BigInteger, nullable=False),
    Index(None, "operator", "id"),  # a merchant's own outlets
    Index(None, "location", "id"),  # outlets in an area, by prefix
)

# The accounts an outlet takes payment into: at most one on each ledger, so a payment to it has one till.
outlet_accounts = Table(
    "outlet_accounts",
    metadata,
    Column("outlet_id", String(OUTLET_ID_LENGTH), ForeignKey(outlets.c.id), primary_key=True),
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("ledger", BigInteger, nullable=False),
    UniqueConstraint("outlet_id", "ledger"),
)

# The n-th authorisation of an outlet for a programme; the key refuses two officers racing to the same n.
outlet_authorisations = Table(
    "outlet_authorisations",
    metadata,
    Column("outlet_id", String(OUTLET_ID_LENGTH), ForeignKey(outlets.c.id), primary_key=True),
    Column("programme_id", String(PROGRAMME_ID_MAX), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("basis", String(LEGAL_BASIS_ID_MAX), nullable=False),  # the programme's, as it was then
    Column("reason", String(AUTHORISATION_REASON_MAX), nullable=False),
    Column("authorised_by", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("authorised_at_ns", BigInteger, nullable=False),
    CheckConstraint("seq >= 1", name="seq"),
    Index(None, "programme_id", "outlet_id"),  # the outlets of a programme
)

# A revocation ends one authorisation, once: its key is the authorisation's.
outlet_revocations = Table(
    "outlet_revocations",
    metadata,
    Column("outlet_id", String(OUTLET_ID_LENGTH), primary_key=True),
    Column("programme_id", String(PROGRAMME_ID_MAX), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("reason", String(AUTHORISATION_REASON_MAX), nullable=False),
    Column("revoked_by", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("revoked_at_ns", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["outlet_id", "programme_id", "seq"],
        [outlet_authorisations.c.outlet_id, outlet_authorisations.c.programme_id, outlet_authorisations.c.seq],
    ),
)

# One import of a programme's approved product list; the highest version is the one in force.
product_lists = Table(
    "product_lists",
    metadata,
    Column("programme_id", String(PROGRAMME_ID_MAX), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(DIGEST_LENGTH), nullable=False),  # SHA-256 of the file as imported
    Column("products", Integer, nullable=False),
    Column("imported_by", String(PRINCIPAL_ID_LENGTH), nullable=False),
    Column("imported_at_ns", BigInteger, nullable=False),
    CheckConstraint("version >= 1", name="version"),
)

product_list_items = Table(
    "product_list_items",
    metadata,
    Column("programme_id", String(PROGRAMME_ID_MAX), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("code", String(PRODUCT_CODE_MAX), primary_key=True),
    Column("description", String(PRODUCT_DESCRIPTION_MAX), nullable=False),
    Column("unit", String(PRODUCT_UNIT_MAX), nullable=False),
    Column("commodity", String(COMMODITY_MAX), nullable=False),  # "" for cash
    Column("quantity", BigInteger, nullable=False),  # of the commodity's minor units per item; 0 for cash
    CheckConstraint("quantity >= 0", name="quantity"),
    ForeignKeyConstraint(["programme_id", "version"], [product_lists.c.programme_id, product_lists.c.version]),
)
