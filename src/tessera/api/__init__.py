"""The HTTP API: FastAPI routes over the domain, with authn, authz and problem+json errors."""

from tessera.api.app import create_app
from tessera.api.services import Caller, Services, Settings

__all__ = ["Caller", "Services", "Settings", "create_app"]
