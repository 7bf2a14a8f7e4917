"""The ``tessera`` command: thin wrappers over the domain packages."""
