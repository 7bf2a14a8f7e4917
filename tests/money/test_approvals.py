"""Two admins: a ledger, and a key for an officer of its issuer, are made only when a second admin approves."""

from __future__ import annotations

import threading

import pytest

from tessera.auth import Role, parse_token, secret_matches
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.money import RequestKind, ledger_unit
from tessera.rules import Category
from tests.money.office import Office

CURRENCY = ledger_unit(1, "currency", "XTS", 2, "central-bank")


class TestLedgers:
    def test_a_ledger_is_registered_only_when_a_second_admin_approves(self, office: Office) -> None:
        """Asked by one admin it is pending and not registered; the other's approval registers it."""
        request = office.requests.request_ledger(office.admin, CURRENCY)
        assert request.kind is RequestKind.ledger and request.status == "pending"
        assert office.requests.ledgers.get(1) is None
        approved = office.requests.approve(request.id, office.admin_2)
        assert approved.ledger is not None and approved.ledger.issuer == "central-bank"
        stored = office.requests.ledgers.require(1)
        assert (stored.requested_by, stored.approved_by) == (office.admin.id, office.admin_2.id)
        assert office.requests.require(request.id).outcome == {"ledger": 1}

    def test_the_admin_who_asked_cannot_approve(self, office: Office) -> None:
        """The admin who asked for a ledger cannot approve it: the request stays pending and no ledger exists."""
        request = office.requests.request_ledger(office.admin, CURRENCY)
        with pytest.raises(ForbiddenError, match="different admin"):
            office.requests.approve(request.id, office.admin)
        assert office.requests.ledgers.get(1) is None and office.requests.require(request.id).status == "pending"

    def test_only_admins_ask_or_approve(self, office: Office) -> None:
        """An officer, even the issuer's, may neither ask for a ledger nor approve one."""
        with pytest.raises(ForbiddenError):
            office.requests.request_ledger(office.banker, CURRENCY)
        request = office.requests.request_ledger(office.admin, CURRENCY)
        with pytest.raises(ForbiddenError):
            office.requests.approve(request.id, office.banker)

    def test_an_unregistered_issuer_is_refused_at_the_request(self, office: Office) -> None:
        """A ledger naming an issuer nobody registered is refused when asked for, not at approval."""
        with pytest.raises(NotFoundError, match="issuer"):
            office.requests.request_ledger(office.admin, ledger_unit(2, "gold", "XAU", 3, "royal-mint"))

    def test_a_ledger_is_never_registered_twice(self, office: Office) -> None:
        """Two approved requests for one id: the second approval conflicts and its request waits again."""
        first = office.requests.request_ledger(office.admin, CURRENCY)
        second = office.requests.request_ledger(office.admin, ledger_unit(1, "other", "XXX", 0, "courts"))
        office.requests.approve(first.id, office.admin_2)
        with pytest.raises(ConflictError):
            office.requests.approve(second.id, office.admin_2)
        assert office.requests.ledgers.require(1).issuer == "central-bank"
        assert office.requests.require(second.id).status == "pending"

    def test_two_admins_approving_at_once_carry_it_out_once(self, office: Office) -> None:
        """Of two approvals racing, one wins and the other is told it was decided."""
        admin_3 = office.store.create_principal("admin-3", Role.admin)
        request = office.requests.request_officer_key(office.admin, "clerk", "tax-office")
        outcomes: list[object] = []

        def approve(by: object) -> None:
            try:
                outcomes.append(office.requests.approve(request.id, by))  # type: ignore[arg-type]
            except ConflictError as error:
                outcomes.append(error)

        threads = [threading.Thread(target=approve, args=(a,)) for a in (office.admin_2, admin_3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(type(o).__name__ for o in outcomes) == ["Approved", "ConflictError"]
        clerk = office.store.get_principal_by_name("clerk")
        assert clerk is not None and len(office.store.list_api_keys(clerk.id)) == 1


class TestOfficerKeys:
    def test_a_key_for_an_issuers_officer_needs_two_admins(self, office: Office) -> None:
        """Once the central bank issues a ledger, a key for its officer is two admins' act; the token works."""
        assert not office.requests.needs_two_admins(Role.officer, "central-bank")
        office.requests.approve(office.requests.request_ledger(office.admin, CURRENCY).id, office.admin_2)
        assert office.requests.needs_two_admins(Role.officer, "central-bank")
        assert not office.requests.needs_two_admins(Role.officer, "civil-registry")
        assert not office.requests.needs_two_admins(Role.citizen, "")
        request = office.requests.request_officer_key(office.admin, "banker", "central-bank")
        approved = office.requests.approve(request.id, office.admin_2)
        assert approved.token is not None
        key_id, secret = parse_token(approved.token)
        record = office.store.get_api_key(key_id)
        assert record is not None and record.principal_id == office.banker.id
        assert secret_matches(secret, record.secret_hash)
        assert approved.token not in str(office.requests.require(request.id))  # the key is never kept

    def test_a_name_held_by_someone_else_is_refused(self, office: Office) -> None:
        """A request cannot turn an admin, or another agency's officer, into the issuer's officer."""
        with pytest.raises(ConflictError, match="name"):
            office.requests.request_officer_key(office.admin, "admin-2", "central-bank")
        office.store.create_principal("clerk", Role.officer, agency="tax-office")
        with pytest.raises(ConflictError, match="name"):
            office.requests.request_officer_key(office.admin, "clerk", "central-bank")

    @pytest.mark.parametrize("reason", ["", "\u3164", "not on \u202etsil", "staff\u200b list"])
    def test_a_refusal_reason_that_says_nothing_or_hides_something__refused(self, office: Office, reason: str) -> None:
        """The admin who asked reads the reason: nothing in it hidden, and something in it."""
        request = office.requests.request_officer_key(office.admin, "newcomer", "central-bank")
        with pytest.raises(InvalidInputError) as caught:
            office.requests.refuse(request.id, office.admin_2, reason)
        assert caught.value.field == "reason" and office.requests.require(request.id).status == "pending"

    def test_a_refused_request_makes_nothing_and_cannot_be_approved(self, office: Office) -> None:
        """A refused key request keeps its reason, makes no principal, and cannot be approved afterwards."""
        request = office.requests.request_officer_key(office.admin, "newcomer", "central-bank")
        refused = office.requests.refuse(request.id, office.admin_2, "not on the bank's staff list")
        assert refused.status == "refused" and refused.outcome == {"reason": "not on the bank's staff list"}
        with pytest.raises(ConflictError):
            office.requests.approve(request.id, office.admin_2)
        assert office.store.get_principal_by_name("newcomer") is None
        assert [r.id for r in office.requests.with_status("refused")] == [request.id]


class TestLedgerCategories:
    def test_a_ledger_carries_the_category_of_what_it_funds(self, office: Office) -> None:
        """A disability transport quota is disability data: registered so, read back so (issue 16)."""
        quota = ledger_unit(7, "disability-transport", "trip", 0, "social-security", category="disability")
        office.requests.approve(office.requests.request_ledger(office.admin, quota).id, office.admin_2)
        assert office.requests.ledgers.require(7).category == "disability"

    def test_a_ledger_without_a_category_funds_money(self, office: Office) -> None:
        """A ledger registered without a category is taken to fund money: category financial."""
        office.requests.approve(office.requests.request_ledger(office.admin, CURRENCY).id, office.admin_2)
        assert office.requests.ledgers.require(1).category == "financial" == Category.financial.value

    def test_an_unknown_category_is_refused_naming_it(self) -> None:
        """A ledger category that is no data category is refused, naming category."""
        with pytest.raises(InvalidInputError, match="category"):
            ledger_unit(7, "quota", "trip", 0, "social-security", category="wellbeing")
