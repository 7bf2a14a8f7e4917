"""One module per schema revision, applied in ``down_revision`` order (alembic skips this file)."""
