"""Rules applied to events: the engine on the ledger's feed and agencies' intake, and the scores they move.

Import from ``tessera.rules``, the package's face; these modules are behind it.
"""
