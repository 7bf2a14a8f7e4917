"""The HTTP API: FastAPI routes over the domain, with authn, authz and problem+json errors.

The domain objects it serves are built by ``tessera.service``, the composition root.
"""

from tessera.api.app import create_app

__all__ = ["create_app"]
