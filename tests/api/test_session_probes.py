"""POST /v1/sessions answers every number alike; probes go to the service's own log, a few lines per client."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tessera.api.probes import LINES_BURST, ProbeLog
from tessera.identity.numbers import new_number
from tests.api.people import ORIGIN, enrolled, login, rebind
from tests.api.world import World
from tests.identity.softauthn import SoftAuthenticator


class People:
    """A person with a passkey, a revoked one with a passkey, one with none, a number nobody holds, and a stranger."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.devices: dict[str, SoftAuthenticator] = {}
        self.numbers: dict[str, str] = {}
        for kind, who in (("registered", 201), ("revoked", 202), ("stranger", 203)):
            self.numbers[kind] = enrolled(world, who)
            self.devices[kind] = SoftAuthenticator()
            assert rebind(world, self.numbers[kind], who, self.devices[kind]).status_code == 201
        self.numbers["no passkey"] = enrolled(world, 204)
        self.numbers["unknown"] = new_number()  # 10**11 numbers: these four are not it
        officer = world.principals["tax-officer"].id
        world.services.registry.set_status(self.numbers["revoked"], "revoked", reason="identity fraud", actor=officer)

    def begin(self, kind: str) -> Any:
        return self.world.client.post("/v1/sessions", json={"number": self.numbers[kind]})


@pytest.fixture
def people(world: World) -> People:
    return People(world)


PROBED = ("unknown", "revoked", "no passkey")


class TestUniformAnswer:
    def test_every_number_gets_the_same_answer(self, people: People) -> None:
        """Same status, same fields, same options but the challenge; no credential ids anywhere."""
        answers = {kind: people.begin(kind) for kind in ("registered", *PROBED)}
        shapes = set()
        for kind, response in answers.items():
            assert response.status_code == 201, (kind, response.text)
            body = response.json()
            options = dict(body["options"])
            assert options.pop("allowCredentials", []) == []
            options.pop("challenge")
            shapes.add((tuple(sorted(body)), repr(sorted(options.items())), response.headers["content-type"]))
        assert len(shapes) == 1, shapes
        for device in people.devices.values():
            for credential in device.credentials.values():
                assert all(credential.id not in r.text for r in answers.values())

    def test_a_strangers_passkey_is_refused_alike_for_every_number(self, people: People) -> None:
        """Finishing with one's own passkey tells nothing about the number the login was begun for."""
        stranger = people.devices["stranger"]
        refusals = set()
        for kind in ("registered", *PROBED):
            ceremony = people.begin(kind).json()
            answer = people.world.client.post(
                f"/v1/sessions/{ceremony['id']}", json=stranger.get(ceremony["options"], ORIGIN)
            )
            refusals.add((answer.status_code, answer.json()["detail"]))
        assert refusals == {(401, "the passkey is not this person's")}

    def test_the_person_still_logs_in_by_number(self, people: People) -> None:
        """The uniform answer to probes does not stop a real person logging in by number."""
        assert login(people.world, people.devices["registered"], people.numbers["registered"]).status_code == 201

    def test_a_revoked_person_is_still_refused_at_the_finish(self, people: People) -> None:
        """A revoked person is still refused, at the ceremony's finish, saying revoked."""
        refused = login(people.world, people.devices["revoked"], people.numbers["revoked"])
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


class TestProbesLogged:
    def test_probes_go_to_the_service_log_not_the_persons(
        self, people: People, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each login that cannot succeed is a line in tessera.probes with the reason and client, never the number."""
        services = people.world.services
        revoked_subject = services.registry.subject_of(people.numbers["revoked"])
        before = list(services.access_log.entries_for_subject(revoked_subject, limit=100))
        with caplog.at_level(logging.INFO, logger="tessera.probes"):
            for kind in ("registered", *PROBED):
                people.begin(kind)
        lines = [r.getMessage() for r in caplog.records if r.name == "tessera.probes"]
        assert len(lines) == 3
        for line, reason in zip(lines, ("unknown number", "may not log in", "no live passkey"), strict=True):
            assert reason in line and "testclient" in line
        assert not any(number in line for line in lines for number in people.numbers.values())
        assert list(services.access_log.entries_for_subject(revoked_subject, limit=100)) == before


class TestProbeLog:
    def test_a_few_lines_per_client_then_one_per_interval_counting_the_rest(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Probes log a burst per client, then a line per interval counting the rest: a flood cannot fill the log."""
        now = [0.0]
        probes = ProbeLog(burst=LINES_BURST, interval_s=60.0, clock=lambda: now[0])
        with caplog.at_level(logging.INFO, logger="tessera.probes"):
            for _ in range(100):
                probes.record("198.51.100.7", "unknown number")
            probes.record("203.0.113.9", "no live passkey")  # another client has its own allowance
            now[0] += 60.0
            probes.record("198.51.100.7", "unknown number")
        lines = [r.getMessage() for r in caplog.records if r.name == "tessera.probes"]
        assert len(lines) == LINES_BURST + 2
        assert "203.0.113.9" in lines[LINES_BURST]
        assert lines[-1].endswith(f"({100 - LINES_BURST} more from this client not written)")
