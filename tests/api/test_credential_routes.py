"""The internet ID over HTTP: bind at the desk, log in with a passkey, manage devices and the PIN."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tessera.api import create_app
from tessera.auth import Rate
from tests.api.people import ORIGIN, enrolled, login, rebind
from tests.api.world import World, settings_for
from tests.identity.softauthn import SoftAuthenticator


def test_bind_at_the_desk_then_log_in_with_the_passkey(world: World) -> None:
    """The first passkey binds after the in-person check; it then opens a session for /v1/me."""
    number = enrolled(world, 101)
    phone = SoftAuthenticator()
    bound = rebind(world, number, 101, phone)
    assert bound.status_code == 201, bound.text
    session = login(world, phone)
    assert session.status_code == 201, session.text
    me = {"Authorization": f"Bearer {session.json()['token']}"}
    assert world.client.get("/v1/me/identity", headers=me).json()["person"]["number"] == number
    keys = world.client.get("/v1/me/passkeys", headers=me).json()["passkeys"]
    assert [k["label"] for k in keys] == ["phone"]
    subject = world.services.registry.subject_of(number)
    outcomes = [e.outcome for _, e in world.services.access_log.entries_for_subject(subject, limit=10)]
    assert "in-person check passed; credential re-bound" in outcomes


def test_someone_else_s_face_does_not_rebind(world: World) -> None:
    """An impostor at the desk fails the 1:1 check; the failure is in the person's log."""
    number = enrolled(world, 102)
    refused = rebind(world, number, 999, SoftAuthenticator())
    assert refused.status_code == 403
    subject = world.services.registry.subject_of(number)
    outcomes = [e.outcome for _, e in world.services.access_log.entries_for_subject(subject, limit=10)]
    assert "in-person check failed" in outcomes


def test_a_lost_device_is_replaced_and_stops_working(world: World) -> None:
    """Re-binding after a loss revokes the old passkey and ends its sessions; the new one works."""
    number = enrolled(world, 103)
    old, new = SoftAuthenticator(), SoftAuthenticator()
    assert rebind(world, number, 103, old).status_code == 201
    old_session = login(world, old).json()["token"]
    assert rebind(world, number, 103, new).status_code == 201
    assert login(world, old).status_code == 401
    stale = world.client.get("/v1/me/identity", headers={"Authorization": f"Bearer {old_session}"})
    assert stale.status_code == 401
    assert login(world, new).status_code == 201


def test_revoking_a_passkey_from_a_session(world: World) -> None:
    """A person signed in with a passkey can revoke it themselves, after which it no longer logs in."""
    number = enrolled(world, 104)
    phone = SoftAuthenticator()
    rebind(world, number, 104, phone)
    me = {"Authorization": f"Bearer {login(world, phone).json()['token']}"}
    [key] = world.client.get("/v1/me/passkeys", headers=me).json()["passkeys"]
    assert world.client.delete(f"/v1/me/passkeys/{key['credential_id']}", headers=me).status_code == 204
    assert login(world, phone).status_code == 401


def test_pin_set_change_and_reset_at_the_desk(world: World) -> None:
    """A PIN is set once, changed with the current one, and reset by an officer after a check."""
    number = enrolled(world, 105)
    phone = SoftAuthenticator()
    rebind(world, number, 105, phone)
    me = {"Authorization": f"Bearer {login(world, phone).json()['token']}"}
    assert world.client.put("/v1/me/pin", json={"pin": "480613"}, headers=me).status_code == 204
    assert world.client.put("/v1/me/pin", json={"pin": "739105"}, headers=me).status_code == 403
    wrong = world.client.put("/v1/me/pin", json={"pin": "739105", "current_pin": "111112"}, headers=me)
    assert wrong.status_code == 401
    assert (
        world.client.put("/v1/me/pin", json={"pin": "123456", "current_pin": "480613"}, headers=me).status_code == 400
    )
    trivial = rebind(world, number, 105, SoftAuthenticator(), pin="222222")
    assert trivial.status_code == 400 and trivial.json()["field"] == "pin"
    assert login(world, phone).status_code == 201  # the refused rebind revoked nothing
    assert rebind(world, number, 105, SoftAuthenticator(), pin="905172").status_code == 201
    world.services.pins.verify_pin(number, "905172")


def test_a_suspended_person_logs_in_a_deceased_one_does_not(world: World) -> None:
    """Suspension leaves the way to the notice and the appeal open; a closed identity does not log in."""
    number = enrolled(world, 106)
    phone = SoftAuthenticator()
    rebind(world, number, 106, phone)
    officer = world.principals["bank"].id
    world.services.registry.set_status(number, "suspended", reason="inquiry 12", actor=officer)
    assert login(world, phone).status_code == 201
    world.services.registry.set_status(number, "deceased", reason="certificate 88", actor=officer)
    assert login(world, phone).status_code == 401


def test_bad_login_answers(world: World) -> None:
    """An unknown ceremony, a garbage answer, a phishing origin: each refused, nothing opened."""
    number = enrolled(world, 107)
    phone = SoftAuthenticator()
    rebind(world, number, 107, phone)
    unknown = world.client.post(
        "/v1/sessions/c_" + "0" * 32, json=phone.get({"challenge": "AAAA", "rpId": "localhost"}, ORIGIN)
    )
    assert unknown.status_code in (401, 404)
    ceremony = world.client.post("/v1/sessions", json={}).json()
    garbage = world.client.post(f"/v1/sessions/{ceremony['id']}", json={"id": "x"})
    assert garbage.status_code in (400, 401)
    ceremony = world.client.post("/v1/sessions", json={}).json()
    phished = world.client.post(
        f"/v1/sessions/{ceremony['id']}", json=phone.get(ceremony["options"], "https://evil.example")
    )
    assert phished.status_code == 401


def test_opening_ceremonies_is_rate_limited_per_client(tmp_path: Path) -> None:
    """Each begun login is a stored row: past the burst, a client gets 429 with Retry-After."""
    settings = settings_for(tmp_path, ceremony_rate=Rate(per_second=0.01, burst=3))
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/v1/sessions", json={}) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert client.get("/oidc/authorize", params={"client_id": "x"}).status_code == 429
