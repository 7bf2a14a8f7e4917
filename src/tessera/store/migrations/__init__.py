"""Alembic's script directory for the registries' schema; ``tessera.store`` runs it."""
