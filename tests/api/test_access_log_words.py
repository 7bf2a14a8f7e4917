"""A person's access log names who looked in words: published name, role, agency, purpose (issue 18)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tessera.audit import AccessEntry
from tessera.auth import Role, published_name
from tessera.cli.seed import issue_key
from tessera.errors import InvalidInputError
from tessera.service import NO_PURPOSE, OWN_ACCOUNT_PURPOSE, PAYMENT_PURPOSE
from tessera.times import ns_to_rfc3339
from tests.api.world import ALICE, ISSUER, MONEY, SHOP, World


def _log(world: World, name: str = "alice") -> list[dict[str, Any]]:
    response = world.client.get("/v1/me/access-log", headers=world.as_(name))
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def _registrar(world: World) -> str:
    """An officer of the tax office whose agency publishes the name "Registrar 14"; returns their token."""
    officer = world.services.store.create_principal(
        "Jane Q. Officer", Role.officer, agency="tax-office", display_name="Registrar 14"
    )
    world.principals["registrar"] = officer
    return issue_key(world.services, officer)


def test_an_officers_look_names_the_published_name_role_title_and_agency_title(world: World) -> None:
    """The entry says "Registrar 14 (officer, Tax Office)" and the stated purpose; never the officer's login name."""
    token = _registrar(world)
    headers = {"Authorization": f"Bearer {token}", "X-Tessera-Purpose": "tax audit 2026/17"}
    assert world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=headers).status_code == 200
    response = world.client.get("/v1/me/access-log", headers=world.as_("alice"))
    entry = response.json()["entries"][0]
    assert entry["display_name"] == "Registrar 14"
    assert (entry["role"], entry["role_title"]) == ("officer", "officer")
    assert (entry["agency"], entry["agency_name"]) == ("tax-office", "Tax Office")
    assert entry["who"] == "Registrar 14 (officer, Tax Office)"
    assert entry["purpose"] == "tax audit 2026/17"
    assert "Jane" not in response.text


def test_an_officer_without_a_display_name_is_shown_a_stable_pseudonym(world: World) -> None:
    """No display name: the role's title and eight hex digits of the id, the same on every entry, never the login."""
    for purpose in ("case 1", "case 2"):
        world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=world.as_("tax-officer", purpose))
    entries = _log(world)[:2]
    officer = world.principals["tax-officer"]
    pseudonym = f"officer {officer.id[2:10]}"
    assert [e["display_name"] for e in entries] == [pseudonym, pseudonym] == [published_name(officer)] * 2
    assert all(officer.name not in e["who"] for e in entries)


def test_a_payment_into_a_wallet_without_a_stated_purpose_is_logged_with_the_payments_own(world: World) -> None:
    """The bank issues to alice without X-Tessera-Purpose: her log says it was a payment, not "(none stated)"."""
    body = {"transfers": [{"id": 900, "debit_account_id": ISSUER, "credit_account_id": ALICE, "amount": 5}]}
    body["transfers"][0] |= {"ledger": MONEY, "code": 1}
    assert world.client.post("/v1/ledger/transfers", json=body, headers=world.as_("bank")).status_code == 200
    entry = _log(world)[0]
    assert (entry["purpose"], entry["outcome"], entry["agency_name"]) == (PAYMENT_PURPOSE, "written", "Central Bank")


def test_a_merchant_reading_its_own_account_is_logged_with_that_as_its_purpose(world: World) -> None:
    """The shop reads its account's transfers, which name alice's wallet: her log says why, in words."""
    pay = {"id": 901, "debit_account_id": ALICE, "credit_account_id": SHOP, "amount": 7, "ledger": MONEY, "code": 1}
    assert world.client.post("/v1/ledger/transfers", json={"transfers": [pay]}, headers=world.as_("alice")).is_success
    assert world.client.get(f"/v1/ledger/accounts/{SHOP}/transfers", headers=world.as_("shop")).status_code == 200
    entry = _log(world)[0]
    assert (entry["purpose"], entry["outcome"], entry["role_title"]) == (OWN_ACCOUNT_PURPOSE, "read", "merchant")
    assert entry["agency_name"] is None


def test_a_look_refused_for_want_of_a_purpose_says_none_was_stated(world: World) -> None:
    """The only entry that says no purpose was stated is one whose look was refused for that reason."""
    refused = world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=world.as_("tax-officer"))
    assert refused.status_code == 403
    entry = _log(world)[0]
    assert (entry["purpose"], entry["outcome"]) == (NO_PURPOSE, "denied: no purpose")


def test_an_entry_written_before_words_is_shown_as_kept_so_its_hash_still_checks(world: World) -> None:
    """An old "(none stated)" is not rewritten: the fields the leaf hash covers are given exactly as logged."""
    officer = world.principals["bank"]
    alice = world.principals["alice"].subject
    old = AccessEntry(
        1_796_630_400_000_000_001, officer.id, "officer", "central-bank", "(none stated)", alice, ("x",), "read"
    )
    world.services.access_log.append([old])
    entry = _log(world)[0]
    kept = {k: entry[k] for k in ("time_ns", "principal", "role", "agency", "purpose", "fields", "outcome")}
    assert AccessEntry(**{**kept, "subject": alice, "fields": tuple(kept["fields"])}).encode() == old.encode()
    assert entry["who"] == f"officer {officer.id[2:10]} (officer, Central Bank)"


def test_a_service_the_person_logged_in_to_is_named_as_its_consent_page_named_it(world: World) -> None:
    """A relying party's entry says "City Clinic (service you logged in to, clinic.example)"."""
    admin = world.principals["admin"].id
    party = world.services.oidc.clients.register(
        "City Clinic", ["https://clinic.example/cb"], created_by=admin
    ).relying_party
    alice = world.principals["alice"].subject
    release = AccessEntry(
        time.time_ns(),
        f"rp:{party.client_id}",
        "relying_party",
        party.sector_id,
        "login to City Clinic",
        alice,
        ("name",),
        "released",
    )
    world.services.access_log.append([release])
    entry = _log(world)[0]
    assert (entry["display_name"], entry["role_title"]) == ("City Clinic", "service you logged in to")
    assert entry["who"] == f"City Clinic (service you logged in to, {party.sector_id})"


def test_each_entry_gives_its_time_as_rfc3339_beside_the_nanoseconds(world: World) -> None:
    """``time`` is ``time_ns`` in RFC 3339, UTC, with its nanoseconds."""
    world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=world.as_("tax-officer", "case 3"))
    entry = _log(world)[0]
    assert entry["time"] == ns_to_rfc3339(entry["time_ns"]) and entry["time"].endswith("Z")


class TestDisplayNames:
    """A principal's display name is set where it is created, checked, and kept."""

    def test_a_display_name_is_kept_with_the_principal(self, world: World) -> None:
        """It reads back from the store as written, in any script."""
        made = world.services.store.create_principal(
            "clerk-7", Role.officer, agency="courts", display_name="Clerk Amélie"
        )
        found = world.services.store.get_principal(made.id)
        assert found is not None and found.display_name == "Clerk Amélie" and published_name(found) == "Clerk Amélie"

    @pytest.mark.parametrize("bad", ["\u202eevil", "\u200b", "x" * 101])
    def test_a_display_name_people_could_not_read_is_refused(self, world: World, bad: str) -> None:
        """Hidden characters, nothing visible, or too long: refused naming display_name."""
        with pytest.raises(InvalidInputError) as refused:
            world.services.store.create_principal("clerk-8", Role.officer, agency="courts", display_name=bad)
        assert refused.value.field == "display_name"

    def test_an_officer_key_asked_of_two_admins_carries_the_display_name(self, world: World) -> None:
        """The admins' request names it; the officer created on approval has it."""
        admins = [world.services.store.create_principal(f"admin-{i}", Role.admin) for i in (1, 2)]
        requests = world.services.admin_requests
        asked = requests.request_officer_key(admins[0], "banker-2", "central-bank", "Cashier 3")
        approved = requests.approve(asked.id, admins[1])
        assert approved.request.outcome is not None
        found = world.services.principal(approved.request.outcome["principal"])
        assert found is not None and found.display_name == "Cashier 3"
