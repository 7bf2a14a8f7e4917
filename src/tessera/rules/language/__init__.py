"""The rule language: CEL conditions, the guard that judges what they read, the compiler and the reference evaluator.

Import from ``tessera.rules``, the package's face; these modules are behind it.
"""
