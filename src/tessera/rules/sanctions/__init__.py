"""Sanctions: the published lists, their import, screening, and the watch over people and counterparties.

Import from ``tessera.rules``, the package's face; these modules are behind it.
"""
