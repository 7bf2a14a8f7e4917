"""A person's status change over HTTP: it ends what was granted before it, and the log says what happened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api import create_app
from tessera.cli.seed import issue_key
from tessera.service import NO_PURPOSE
from tests.api.people import enrolled, login, rebind
from tests.api.world import World, make_world, settings_for
from tests.identity.softauthn import SoftAuthenticator

PURPOSE = "death certificate 88/2026"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The API world with the caller cache the service runs with in production, and longer: a change must not wait."""
    with TestClient(create_app(settings_for(tmp_path, caller_cache_s=60.0)), raise_server_exceptions=False) as client:
        yield make_world(client)


def change_status(world: World, number: str, status: str, purpose: str | None = PURPOSE) -> int:
    response = world.client.post(
        f"/v1/identity/persons/{number}/status",
        json={"status": status, "reason": "registry record"},
        headers=world.as_("tax-officer", purpose),
    )
    return response.status_code


def credentials_of(world: World, number: str, who: int) -> tuple[dict[str, str], dict[str, str]]:
    """The person's passkey session and an API key of their principal, each checked to work (and the key cached)."""
    phone = SoftAuthenticator()
    assert rebind(world, number, who, phone).status_code == 201
    session = {"Authorization": f"Bearer {login(world, phone).json()['token']}"}
    person = world.services.registry.person(number)
    principal = world.services.store.get_principal(person.principal_id)
    assert principal is not None
    key = {"Authorization": f"Bearer {issue_key(world.services, principal, for_person=True)}"}
    for headers in (session, key):
        assert world.client.get("/v1/me/identity", headers=headers).status_code == 200
    return session, key


class TestAStatusChangeEndsSessions:
    @pytest.mark.parametrize("status", ["deceased", "revoked"])
    def test_the_session_and_a_cached_key_stop_at_once(self, world: World, status: str) -> None:
        """Within the caller cache's window too: nothing a closed identity held keeps paying."""
        number = enrolled(world, 201)
        session, key = credentials_of(world, number, 201)
        assert change_status(world, number, status) == 200
        for headers in (session, key):
            refused = world.client.get("/v1/me/identity", headers=headers)
            assert refused.status_code == 401, refused.text

    def test_a_revocation_undone__the_key_works_again__the_session_stays_ended(self, world: World) -> None:
        """The principal is not disabled for good: reinstated, the person's key works; a session needs a new login."""
        number = enrolled(world, 202)
        session, key = credentials_of(world, number, 202)
        assert change_status(world, number, "revoked") == 200
        assert change_status(world, number, "active") == 200
        assert world.client.get("/v1/me/identity", headers=key).status_code == 200
        assert world.client.get("/v1/me/identity", headers=session).status_code == 401

    def test_a_suspension_ends_the_session__the_person_may_log_in_again(self, world: World) -> None:
        """A suspended person still reads their notices and appeals, from a session opened after the change."""
        number = enrolled(world, 203)
        phone = SoftAuthenticator()
        assert rebind(world, number, 203, phone).status_code == 201
        session = {"Authorization": f"Bearer {login(world, phone).json()['token']}"}
        assert change_status(world, number, "suspended") == 200
        assert world.client.get("/v1/me/identity", headers=session).status_code == 401
        again = {"Authorization": f"Bearer {login(world, phone).json()['token']}"}
        assert world.client.get("/v1/me/identity", headers=again).json()["person"]["status"] == "suspended"

    def test_a_change_made_by_another_process_is_seen_when_the_key_is_checked(self, world: World) -> None:
        """No hook reaches this process then: the status is read when the key is checked, once the cache lapses."""
        number = enrolled(world, 204)
        _, key = credentials_of(world, number, 204)
        other_process_registry = type(world.services.registry)(world.services.store)
        other_process_registry.set_status(number, "deceased", reason="certificate", actor="p_0000000000000000")
        world.services._callers.clear()  # what caller_cache_s does, at most that long after
        assert world.client.get("/v1/me/identity", headers=key).status_code == 401


class TestTheLogSaysWhatHappened:
    def log_of(self, world: World, number: str) -> list[tuple[str, str]]:
        subject = world.services.registry.subject_of(number)
        return [(e.purpose, e.outcome) for _, e in world.services.access_log.entries_for_subject(subject, limit=20)]

    def test_a_refused_change_is_logged_as_refused_not_as_done(self, world: World) -> None:
        """Deceased is final: bringing the person back is refused, and their log says so, with the purpose as given."""
        number = enrolled(world, 205)
        assert change_status(world, number, "deceased") == 200
        assert change_status(world, number, "active", purpose="clerical error claimed") == 409
        log = self.log_of(world, number)
        assert ("clerical error claimed", "status set to active") not in log
        assert ("clerical error claimed", "status change to active requested") in log
        refused = [o for p, o in log if p == "clerical error claimed" and "refused" in o]
        assert refused == ["status change to active refused: status: the person is deceased; that status is final"]
        assert (PURPOSE, "status set to deceased") in log

    def test_without_a_purpose_nothing_changes_and_the_attempt_is_logged(self, world: World) -> None:
        """A status change without a purpose is 403, changes nothing, and the attempt is in the person's log."""
        number = enrolled(world, 206)
        assert change_status(world, number, "revoked", purpose=None) == 403
        assert world.services.registry.person(number).status == "active"
        assert (NO_PURPOSE, "denied: no purpose") in self.log_of(world, number)
