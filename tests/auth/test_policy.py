"""The policy table: the safeguards DESIGN.md asks for are rows that must (not) exist."""

from __future__ import annotations

import pytest

from tessera.auth import POLICY, Action, Principal, Role, Scope, authorize, grant_for, roles_allowed
from tessera.errors import ForbiddenError

PERSONAL = {
    Action.ledger_accounts_read,
    Action.ledger_account_transfers_read,
    Action.ledger_transfers_create,
    Action.me_access_log_read,
}


def test_admin_and_auditor_never_touch_personal_data() -> None:
    """Admins configure, auditors read hashes: neither has a grant on personal data."""
    for action in PERSONAL:
        assert Role.admin not in roles_allowed(action) and Role.auditor not in roles_allowed(action)


def test_officers_read_others_data_only_with_a_purpose() -> None:
    """An officer's grants to read accounts and transfers are scoped to a stated purpose."""
    for action in (Action.ledger_accounts_read, Action.ledger_account_transfers_read):
        grant = grant_for(Role.officer, action)
        assert grant is not None and grant.scope is Scope.purpose


def test_citizens_and_merchants_reach_only_their_own() -> None:
    """Every grant of a personal action to citizens and merchants is scoped to their own data."""
    for grant in POLICY:
        if grant.role in (Role.citizen, Role.merchant) and grant.action in PERSONAL:
            assert grant.scope is Scope.own, grant


def test_every_action_has_at_least_one_grant() -> None:
    """No action is left that no role may perform: every route has someone who may use it."""
    assert all(roles_allowed(action) for action in Action)


@pytest.mark.parametrize("role", list(Role))
def test_authorize_refuses_with_the_roles_that_may(role: Role) -> None:
    """authorize passes the roles the policy allows and refuses others, naming who may."""
    principal = Principal("p_1", "someone", role)
    if role in roles_allowed(Action.principals_list):
        assert authorize(principal, Action.principals_list).role is role
    else:
        with pytest.raises(ForbiddenError, match="allowed: admin"):
            authorize(principal, Action.principals_list)
