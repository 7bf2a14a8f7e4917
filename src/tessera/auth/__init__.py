"""Authentication and authorisation: principals, API keys, sessions, the policy table, rate limits,
and who may debit or settle which accounts."""

from tessera.auth.keys import NewKey, new_key, parse_token, secret_matches
from tessera.auth.policy import POLICY, Action, Grant, Scope, authorize, grant_for, render_markdown, roles_allowed
from tessera.auth.principals import (
    AGENCY_MAX,
    DISPLAY_NAME_MAX,
    NAME_MAX,
    ORG_PREFIX,
    ORGANISATION_MAX,
    Principal,
    Role,
    checked_display_name,
    checked_name,
    checked_organisation,
    checked_role,
    organisation_of,
    published_name,
    role_title,
)
from tessera.auth.ratelimit import Rate, RateLimiter
from tessera.auth.sessions import Session, Sessions
from tessera.auth.transfers import may_act_for, transfers_allowed

__all__ = [
    "AGENCY_MAX",
    "DISPLAY_NAME_MAX",
    "NAME_MAX",
    "ORGANISATION_MAX",
    "ORG_PREFIX",
    "POLICY",
    "Action",
    "Grant",
    "NewKey",
    "Principal",
    "Rate",
    "RateLimiter",
    "Role",
    "Scope",
    "Session",
    "Sessions",
    "authorize",
    "checked_display_name",
    "checked_name",
    "checked_organisation",
    "checked_role",
    "grant_for",
    "may_act_for",
    "new_key",
    "organisation_of",
    "parse_token",
    "published_name",
    "render_markdown",
    "role_title",
    "roles_allowed",
    "secret_matches",
    "transfers_allowed",
]
