"""Principals: created, found, listed page by page, disabled; names and subjects unique."""

from __future__ import annotations

import re

import pytest

from tessera.auth.principals import Principal, Role
from tessera.errors import ConflictError, NotFoundError
from tessera.store import Store


class TestCreate:
    def test_principal_round_trips(self, store: Store) -> None:
        """What create returns is what get and get-by-name read back."""
        created = store.create_principal("officer 7", Role.officer, agency="tax-office")
        assert re.fullmatch(r"p_[0-9a-f]{16}", created.id)
        assert (created.name, created.role, created.agency, created.subject) == (
            "officer 7",
            Role.officer,
            "tax-office",
            "",
        )
        assert created.created_at_ns > 1_600_000_000 * 10**9  # stamped by the store, in nanoseconds
        assert not created.disabled
        assert store.get_principal(created.id) == created
        assert store.get_principal_by_name("officer 7") == created

    def test_citizen_subject_defaults_to_own_id(self, store: Store) -> None:
        """A citizen with no subject given speaks for itself."""
        citizen = store.create_principal("alice", Role.citizen)
        assert citizen.subject == citizen.id
        assert store.get_principal(citizen.id) == citizen

    def test_citizen_subject_given_is_kept(self, store: Store) -> None:
        """A citizen may be bound to a person id from the identity registry."""
        citizen = store.create_principal("bob", Role.citizen, subject="person:0042")
        assert store.get_principal(citizen.id) == citizen
        assert citizen.subject == "person:0042"

    def test_a_merchant_acting_for_an_organisation_round_trips(self, store: Store) -> None:
        """Several merchants may act for one organisation; anyone else acts for none."""
        tills = [store.create_principal(f"till {i}", Role.merchant, organisation="org:acme-foods") for i in (1, 2)]
        assert [store.get_principal(t.id) for t in tills] == tills
        assert {t.organisation for t in tills} == {"org:acme-foods"}
        assert store.create_principal("kiosk", Role.merchant).organisation == ""
        assert store.list_principals(role=Role.merchant)[0].organisation in ("", "org:acme-foods")

    def test_role_given_as_its_string_is_accepted(self, store: Store) -> None:
        """Role is a StrEnum; "auditor" and Role.auditor are the same role."""
        auditor = store.create_principal("audit office", "auditor")  # type: ignore[arg-type]
        assert auditor.role is Role.auditor

    def test_ids_differ(self, store: Store) -> None:
        """Ids are random, never derived from the name."""
        ids = {store.create_principal(f"merchant {i}", Role.merchant).id for i in range(20)}
        assert len(ids) == 20


class TestUniqueness:
    def test_name_taken__conflict_naming_name(self, store: Store, citizen: Principal) -> None:
        """A second principal with a taken name is refused, whatever its role."""
        with pytest.raises(ConflictError) as caught:
            store.create_principal(citizen.name, Role.admin)
        assert caught.value.field == "name"
        assert caught.value.code == "conflict"
        assert len(store.list_principals()) == 1

    def test_names_are_case_sensitive(self, store: Store, citizen: Principal) -> None:
        """ "Alice" and "alice" are two names."""
        other = store.create_principal(citizen.name.upper(), Role.citizen)
        assert store.get_principal_by_name(citizen.name.upper()) == other

    def test_subject_taken__conflict_naming_subject(self, store: Store, citizen: Principal) -> None:
        """Two principals never speak for the same person."""
        with pytest.raises(ConflictError) as caught:
            store.create_principal("mallory", Role.citizen, subject=citizen.subject)
        assert caught.value.field == "subject"
        assert store.get_principal_by_name("mallory") is None


class TestFind:
    def test_unknown_id_and_name__none(self, store: Store) -> None:
        """Looking up what is not there is not an error."""
        assert store.get_principal("p_0123456789abcdef") is None
        assert store.get_principal_by_name("nobody") is None

    def test_list_pages_through_in_id_order(self, store: Store) -> None:
        """``after`` the last id of one page gives the next page, until an empty one."""
        created = sorted((store.create_principal(f"user {i}", Role.citizen) for i in range(7)), key=lambda p: p.id)
        pages: list[list[Principal]] = []
        after = None
        while page := store.list_principals(limit=3, after=after):
            pages.append(page)
            after = page[-1].id
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [p for page in pages for p in page] == created

    def test_list_by_role(self, store: Store, citizen: Principal, officer: Principal) -> None:
        """A role filter returns that role only."""
        assert store.list_principals(role=Role.officer) == [officer]
        assert store.list_principals(role=Role.citizen) == [citizen]
        assert store.list_principals(role=Role.admin) == []


class TestDisable:
    def test_disabled_principal_is_kept_and_marked(self, store: Store, citizen: Principal) -> None:
        """Disabling keeps the record; only the flag changes. Doing it twice is harmless."""
        store.disable_principal(citizen.id)
        store.disable_principal(citizen.id)
        found = store.get_principal(citizen.id)
        assert found is not None and found.disabled
        assert (found.name, found.subject, found.created_at_ns) == (
            citizen.name,
            citizen.subject,
            citizen.created_at_ns,
        )

    def test_disable_unknown__not_found(self, store: Store) -> None:
        """The field is named; nothing else changes."""
        with pytest.raises(NotFoundError) as caught:
            store.disable_principal("p_0123456789abcdef")
        assert caught.value.field == "principal_id"
        assert caught.value.code == "not_found"


class TestAgencies:
    def test_officer_of_an_unregistered_agency_is_refused(self, store: Store) -> None:
        """An agency is a fact of the register: a near spelling of the central bank is no agency."""
        with pytest.raises(NotFoundError, match="agency"):
            store.create_principal("mallory", Role.officer, agency="central bank")
        assert store.get_principal_by_name("mallory") is None
