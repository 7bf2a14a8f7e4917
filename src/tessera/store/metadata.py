"""The one MetaData every table module registers on, and the sizes the tables of several modules share."""

from __future__ import annotations

from sqlalchemy import MetaData

PRINCIPAL_ID_LENGTH = 18  # "p_" and 16 hex digits
ACTOR_MAX = 140  # a principal id, or "rule:" and a rule id

# Named constraints: both backends then agree on every name, and a later migration can
# drop or alter a constraint by the name it was given here.
metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)
