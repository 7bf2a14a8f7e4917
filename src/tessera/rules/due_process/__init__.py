"""Due process: restrictions, the notices a person reads, appeals, and the enforcement point.

Import from ``tessera.rules``, the package's face; these modules are behind it.
"""
