"""Who may do what: one table of (role, action, scope), enforced by the API and rendered in the docs.

Every route declares one ``Action``. A role with no grant for it is refused (403); a grant's
scope says *whose* data the action may touch:

- ``any``: any record of that kind (auditors read the log's hashes, never its content);
- ``own``: records the caller holds (a citizen's wallets, a merchant's till account);
- ``agency``: records held by principals of the caller's agency;
- ``purpose``: anyone's records, only with a stated purpose, and the access is logged
  for the person it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tessera.auth.principals import Principal, Role
from tessera.errors import ForbiddenError


class Action(StrEnum):
    """Everything a route can do, named ``domain.resource.verb``."""

    ledger_accounts_create = "ledger.accounts.create"
    ledger_transfers_create = "ledger.transfers.create"
    ledger_accounts_read = "ledger.accounts.read"
    ledger_account_transfers_read = "ledger.account_transfers.read"
    ledger_transfers_read = "ledger.transfers.read"
    me_read = "me.read"
    me_access_log_read = "me.access_log.read"
    audit_tree_head_read = "audit.tree_head.read"
    audit_proofs_read = "audit.proofs.read"
    principals_list = "principals.list"
    oidc_clients_create = "oidc.clients.create"
    identity_enrolments_create = "identity.enrolments.create"
    identity_enrolments_read = "identity.enrolments.read"
    identity_adjudications_decide = "identity.adjudications.decide"
    identity_persons_read = "identity.persons.read"
    identity_persons_status_update = "identity.persons.status.update"
    me_identity_read = "me.identity.read"
    me_virtual_ids_write = "me.virtual_ids.write"
    me_passkeys_read = "me.passkeys.read"
    me_passkeys_write = "me.passkeys.write"
    me_pin_write = "me.pin.write"
    identity_persons_rebind = "identity.persons.rebind"
    identity_households_create = "identity.households.create"
    identity_households_read = "identity.households.read"
    identity_households_update = "identity.households.update"
    me_household_read = "me.household.read"
    me_entitlements_read = "me.entitlements.read"
    restrictions_check = "restrictions.check"
    legal_bases_read = "legal_bases.read"
    restrictions_propose = "restrictions.propose"
    restrictions_read = "restrictions.read"
    restrictions_decide = "restrictions.decide"
    restrictions_amend = "restrictions.amend"
    restrictions_lift = "restrictions.lift"
    appeals_read = "appeals.read"
    appeals_decide = "appeals.decide"
    me_restrictions_read = "me.restrictions.read"
    me_notices_read = "me.notices.read"
    me_appeals_write = "me.appeals.write"
    me_scores_read = "me.scores.read"
    sanctions_hits_read = "sanctions.hits.read"
    sanctions_hits_decide = "sanctions.hits.decide"
    rule_events_create = "rules.events.create"
    ledger_supply_read = "ledger.supply.read"
    agencies_read = "registers.agencies.read"
    agencies_create = "registers.agencies.create"
    ledgers_read = "registers.ledgers.read"
    admin_requests_create = "admin.requests.create"
    admin_requests_read = "admin.requests.read"
    admin_requests_decide = "admin.requests.decide"
    declarations_read = "declarations.read"
    declarations_propose = "declarations.propose"
    declarations_decide = "declarations.decide"
    me_accounts_read = "me.accounts.read"
    me_payments_create = "me.payments.create"
    me_payments_read = "me.payments.read"
    me_aliases_read = "me.aliases.read"
    me_aliases_write = "me.aliases.write"
    payment_requests_create = "payment_requests.create"
    payment_requests_read = "payment_requests.read"
    outlets_create = "programs.outlets.create"
    outlets_read = "programs.outlets.read"
    outlets_authorise = "programs.outlets.authorise"
    products_import = "programs.products.import"
    products_read = "programs.products.read"
    programmes_register = "programmes.register"
    programmes_read = "programmes.read"
    cycles_create = "programmes.cycles.create"
    cycles_preview = "programmes.cycles.preview"
    cycles_approve = "programmes.cycles.approve"
    cycles_disburse = "programmes.cycles.disburse"
    cycles_close = "programmes.cycles.close"
    cycles_read = "programmes.cycles.read"
    redemptions_create = "programs.redemptions.create"
    redemptions_read = "programs.redemptions.read"
    redemptions_settle = "programs.redemptions.settle"
    redemptions_attest = "programs.redemptions.attest"
    me_redemptions_approve = "me.redemptions.approve"
    me_grievances_create = "me.grievances.create"
    me_grievances_read = "me.grievances.read"
    grievances_read = "programmes.grievances.read"
    grievances_resolve = "programmes.grievances.resolve"
    grievances_stats_read = "programmes.grievances.stats.read"
    programmes_reconciliation_read = "programmes.reconciliation.read"
    outlets_statement_read = "programs.outlets.statement.read"
    cycles_notify_expiry = "programmes.cycles.notify_expiry"
    cycles_return = "programmes.cycles.return"


class Scope(StrEnum):
    """Whose records a grant reaches."""

    any = "any"
    own = "own"
    agency = "agency"
    purpose = "purpose"


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    action: Action
    scope: Scope
    note: str


_RUNNERS = (Role.officer, Role.admin)  # who runs programmes' shops

POLICY: tuple[Grant, ...] = (
    Grant(
        Role.officer,
        Action.ledger_accounts_create,
        Scope.any,
        "the kinds the opening table allows; a citizen's needs a purpose",
    ),
    Grant(Role.citizen, Action.ledger_transfers_create, Scope.own, "debits only wallets they hold"),
    Grant(Role.merchant, Action.ledger_transfers_create, Scope.own, "debits its own accounts; settles holds to it"),
    Grant(
        Role.officer, Action.ledger_transfers_create, Scope.agency, "debits only its agency's accounts; issuance logged"
    ),
    Grant(Role.citizen, Action.ledger_accounts_read, Scope.own, ""),
    Grant(Role.merchant, Action.ledger_accounts_read, Scope.own, ""),
    Grant(Role.officer, Action.ledger_accounts_read, Scope.purpose, "logged for the holder"),
    Grant(Role.citizen, Action.ledger_account_transfers_read, Scope.own, ""),
    Grant(Role.merchant, Action.ledger_account_transfers_read, Scope.own, ""),
    Grant(Role.officer, Action.ledger_account_transfers_read, Scope.purpose, "logged for the holder"),
    Grant(Role.citizen, Action.ledger_transfers_read, Scope.own, "transfers to or from a wallet they hold"),
    Grant(Role.merchant, Action.ledger_transfers_read, Scope.own, ""),
    Grant(Role.officer, Action.ledger_transfers_read, Scope.purpose, "logged for both sides' holders"),
    Grant(Role.citizen, Action.me_read, Scope.own, ""),
    Grant(Role.officer, Action.me_read, Scope.own, ""),
    Grant(Role.merchant, Action.me_read, Scope.own, ""),
    Grant(Role.auditor, Action.me_read, Scope.own, ""),
    Grant(Role.admin, Action.me_read, Scope.own, ""),
    Grant(Role.dpo, Action.me_read, Scope.own, ""),
    Grant(Role.citizen, Action.me_access_log_read, Scope.own, "who looked at my data, and why"),
    Grant(Role.auditor, Action.audit_tree_head_read, Scope.any, "hashes and signatures, no content"),
    Grant(Role.citizen, Action.audit_tree_head_read, Scope.any, "to check their own entries are in the log"),
    Grant(Role.auditor, Action.audit_proofs_read, Scope.any, "hashes only"),
    Grant(Role.citizen, Action.audit_proofs_read, Scope.any, "hashes only"),
    Grant(Role.admin, Action.principals_list, Scope.any, "service principals only, never citizens"),
    Grant(Role.admin, Action.oidc_clients_create, Scope.any, "registers a relying party; its secret is shown once"),
    Grant(Role.officer, Action.identity_enrolments_create, Scope.any, "capture stations: templates, never images"),
    Grant(Role.officer, Action.identity_enrolments_read, Scope.purpose, "enrolments, the queue; logged per person"),
    Grant(Role.officer, Action.identity_adjudications_decide, Scope.purpose, "not its submitter; logged per person"),
    Grant(Role.officer, Action.identity_persons_read, Scope.purpose, "logged for the person"),
    Grant(Role.officer, Action.identity_persons_status_update, Scope.purpose, "with a reason; logged for the person"),
    Grant(Role.citizen, Action.me_identity_read, Scope.own, "their own record, history and virtual IDs"),
    Grant(Role.citizen, Action.me_virtual_ids_write, Scope.own, ""),
    Grant(Role.citizen, Action.me_passkeys_read, Scope.own, ""),
    Grant(Role.citizen, Action.me_passkeys_write, Scope.own, "adding a device needs a passkey session"),
    Grant(Role.citizen, Action.me_pin_write, Scope.own, "changing it needs the current PIN"),
    Grant(Role.officer, Action.identity_persons_rebind, Scope.purpose, "after a 1:1 in-person check; logged"),
    Grant(
        Role.officer, Action.identity_households_create, Scope.purpose, "with a reason; logged for each person in it"
    ),
    Grant(Role.officer, Action.identity_households_read, Scope.purpose, "logged for each member and nominee"),
    Grant(
        Role.officer, Action.identity_households_update, Scope.purpose, "with a reason; logged for each person in it"
    ),
    Grant(Role.citizen, Action.me_household_read, Scope.own, "the household they are in; logged for the others in it"),
    Grant(
        Role.citizen,
        Action.me_entitlements_read,
        Scope.own,
        "their programmes, why, what is left, where, and redemptions; a member's look logged for the head",
    ),
    Grant(Role.officer, Action.restrictions_check, Scope.purpose, "enforcing services; each check is logged"),
    Grant(Role.citizen, Action.legal_bases_read, Scope.any, "the law is public"),
    Grant(Role.officer, Action.legal_bases_read, Scope.any, "the law is public"),
    Grant(Role.merchant, Action.legal_bases_read, Scope.any, "the law is public"),
    Grant(Role.auditor, Action.legal_bases_read, Scope.any, "the law is public"),
    Grant(Role.admin, Action.legal_bases_read, Scope.any, "the law is public"),
    Grant(Role.dpo, Action.legal_bases_read, Scope.any, "the law is public"),
    Grant(Role.officer, Action.restrictions_propose, Scope.purpose, "with reasons; logged for the person"),
    Grant(Role.officer, Action.restrictions_read, Scope.purpose, "logged for the person"),
    Grant(Role.officer, Action.restrictions_decide, Scope.purpose, "not the proposer; with a reason; logged"),
    Grant(Role.officer, Action.restrictions_amend, Scope.purpose, "only within the basis; logged"),
    Grant(Role.officer, Action.restrictions_lift, Scope.purpose, "with a reason; logged"),
    Grant(Role.officer, Action.appeals_read, Scope.purpose, "the queue; logged for each person listed"),
    Grant(
        Role.officer,
        Action.appeals_decide,
        Scope.purpose,
        "not who proposed or decided it; a court order's or listing's: its agency; logged",
    ),
    Grant(Role.citizen, Action.me_restrictions_read, Scope.own, "their restrictions, every status, and appeals"),
    Grant(Role.citizen, Action.me_notices_read, Scope.own, "every decision about them, with reasons"),
    Grant(Role.citizen, Action.me_appeals_write, Scope.own, "on their own restriction or score/denial notice only"),
    Grant(Role.citizen, Action.me_scores_read, Scope.own, "each score, its range and what lowered it most"),
    Grant(Role.officer, Action.sanctions_hits_read, Scope.purpose, "the screening queue; logged for each person"),
    Grant(Role.officer, Action.sanctions_hits_decide, Scope.purpose, "confirm, or dismiss (its agency only); logged"),
    Grant(Role.officer, Action.rule_events_create, Scope.purpose, "an agency's lawful events for the rules; logged"),
    Grant(Role.auditor, Action.ledger_supply_read, Scope.any, "per ledger: issued, held by kind, reconciled"),
    *(Grant(r, Action.agencies_read, Scope.any, "who the agencies are is public") for r in Role),
    Grant(Role.admin, Action.agencies_create, Scope.any, "a new agency; never changed"),
    *(Grant(r, Action.ledgers_read, Scope.any, "each unit of account and its one issuer is public") for r in Role),
    Grant(Role.admin, Action.admin_requests_create, Scope.any, "a key for an issuer's officer, or a ledger"),
    Grant(Role.admin, Action.admin_requests_read, Scope.any, "the requests waiting for a second admin"),
    Grant(Role.admin, Action.admin_requests_decide, Scope.any, "not the admin who asked; the key is shown once"),
    # Declarations (event types, records, legal bases) are law, made by data-protection officers (issue 16).
    *(Grant(r, Action.declarations_read, Scope.any, "what data means is public law") for r in Role),
    Grant(Role.dpo, Action.declarations_propose, Scope.any, "the whole document, checked at once; no personal data"),
    Grant(Role.dpo, Action.declarations_decide, Scope.any, "a basis that restricts or an exception: two DPOs"),
    # Payments a person makes (issue 18): people and shops pay from their own wallets, never an issuer's.
    *(
        Grant(r, Action.me_accounts_read, Scope.own, "my wallets: balances, what each may buy, limits")
        for r in (Role.citizen, Role.merchant)
    ),
    *(
        Grant(r, Action.me_payments_create, Scope.own, "from a wallet or till they hold; the transfer route's checks")
        for r in (Role.citizen, Role.merchant)
    ),
    *(
        Grant(r, Action.me_payments_read, Scope.own, "payments into accounts they hold")
        for r in (Role.citizen, Role.merchant)
    ),
    *(Grant(r, Action.me_aliases_read, Scope.own, "") for r in (Role.citizen, Role.merchant)),
    *(
        Grant(r, Action.me_aliases_write, Scope.own, "for an account they hold; resolves to it, never to them")
        for r in (Role.citizen, Role.merchant)
    ),
    *(
        Grant(r, Action.payment_requests_create, Scope.own, "to be paid into an account they hold")
        for r in (Role.citizen, Role.merchant)
    ),
    *(
        Grant(r, Action.payment_requests_read, Scope.any, "by its id, the capability a QR code carries")
        for r in (Role.citizen, Role.merchant)
    ),
    # Shops (issue 19): a programme agency's officers (and admins) register outlets and say which programmes each
    # redeems; outlets are businesses, so no purpose is asked, and every act keeps who, when and why.
    *(Grant(r, Action.outlets_create, Scope.any, "operator, MCC, location code, its own tills") for r in _RUNNERS),
    *(Grant(r, Action.outlets_read, Scope.any, "businesses, not people: no purpose") for r in _RUNNERS),
    Grant(Role.merchant, Action.outlets_read, Scope.own, "the outlets it operates, and their authorisations"),
    Grant(
        Role.officer,
        Action.outlets_authorise,
        Scope.any,
        "with a reason; an agency the programme's basis names, when it names any",
    ),
    Grant(Role.admin, Action.outlets_authorise, Scope.any, "with a reason"),
    Grant(Role.officer, Action.products_import, Scope.any, "the whole list; an agency the basis names, if any"),
    Grant(Role.admin, Action.products_import, Scope.any, "the whole list, as a new version"),
    *(Grant(r, Action.products_read, Scope.any, "what a programme buys is public") for r in Role if r is not Role.dpo),
    Grant(Role.admin, Action.programmes_register, Scope.any, "a programme's TOML, checked as `programs check` does"),
    *(
        Grant(r, Action.programmes_read, Scope.any, "definitions hold no personal data")
        for r in (Role.admin, Role.officer)
    ),
    Grant(Role.officer, Action.cycles_create, Scope.any, "a draft; reads nobody's data"),
    Grant(Role.officer, Action.cycles_preview, Scope.purpose, "reads every unit's facts; logged for each person"),
    Grant(Role.officer, Action.cycles_approve, Scope.any, "not the officer who previewed it; within budget"),
    Grant(
        Role.officer, Action.cycles_disburse, Scope.purpose, "pays the approved preview; logged for each person paid"
    ),
    Grant(Role.officer, Action.cycles_close, Scope.any, "a disbursed cycle"),
    Grant(Role.officer, Action.cycles_read, Scope.purpose, "a cycle and its results; logged for each person listed"),
    # Redemption (issue 19): a till redeems at an outlet it operates; what it learns is logged for the person.
    Grant(
        Role.merchant,
        Action.redemptions_create,
        Scope.own,
        "at an outlet it operates; the person known by a PIN, a nominee, their app or an officer's attestation",
    ),
    Grant(Role.merchant, Action.redemptions_read, Scope.own, "its outlets' redemptions"),
    Grant(Role.merchant, Action.redemptions_settle, Scope.own, "post or void its outlets' holds"),
    Grant(
        Role.officer,
        Action.redemptions_attest,
        Scope.purpose,
        "vouches for one person, one outlet, with a reason; logged; an agency the programme's basis names",
    ),
    Grant(Role.citizen, Action.me_redemptions_approve, Scope.own, "a redemption a till asked them to approve"),
    Grant(Role.citizen, Action.me_grievances_create, Scope.own, "about their own entitlement or redemption"),
    Grant(Role.citizen, Action.me_grievances_read, Scope.own, "their own grievances and how each was resolved"),
    Grant(
        Role.officer, Action.grievances_read, Scope.purpose, "programmes its agency runs; logged for each person shown"
    ),
    Grant(
        Role.officer,
        Action.grievances_resolve,
        Scope.purpose,
        "once, not their own, programmes its agency runs; back-pay logged for the person",
    ),
    Grant(Role.officer, Action.grievances_stats_read, Scope.any, "counts and times to resolution, no one's data"),
    Grant(
        Role.officer, Action.programmes_reconciliation_read, Scope.any, "totals per cycle and line: no person is shown"
    ),
    Grant(Role.officer, Action.outlets_statement_read, Scope.any, "a shop's redemptions; beneficiaries masked"),
    Grant(Role.merchant, Action.outlets_statement_read, Scope.own, "the outlets it operates; beneficiaries masked"),
    *(
        Grant(r, Action.cycles_notify_expiry, Scope.purpose, "reads each unit's entitlement; logged for each person")
        for r in (Role.officer, Role.admin)
    ),
    *(
        Grant(r, Action.cycles_return, Scope.purpose, "after expiry and the notices; logged for each person paid")
        for r in (Role.officer, Role.admin)
    ),
)

_GRANTS: dict[tuple[Role, Action], Grant] = {(g.role, g.action): g for g in POLICY}
assert len(_GRANTS) == len(POLICY), "one grant per (role, action)"


def grant_for(role: Role, action: Action) -> Grant | None:
    return _GRANTS.get((role, action))


def roles_allowed(action: Action) -> set[Role]:
    return {g.role for g in POLICY if g.action == action}


def authorize(principal: Principal, action: Action) -> Grant:
    """The caller's grant for ``action``, or ForbiddenError naming the roles that have one."""
    grant = grant_for(principal.role, action)
    if grant is None:
        allowed = ", ".join(sorted(r.value for r in roles_allowed(action))) or "no role"
        raise ForbiddenError(f"a {principal.role.value} may not {action.value} (allowed: {allowed})")
    return grant


def render_markdown() -> str:
    """The policy as a Markdown table, as docs/api.md shows it."""
    lines = ["| action | role | scope | note |", "|---|---|---|---|"]
    for g in sorted(POLICY, key=lambda g: (list(Action).index(g.action), list(Role).index(g.role))):
        lines.append(f"| `{g.action.value}` | {g.role.value} | {g.scope.value} | {g.note} |")
    return "\n".join(lines) + "\n"
