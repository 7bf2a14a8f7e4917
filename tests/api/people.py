"""People at the desk for the API tests: face templates, applicants, enrolment, passkey binding and login."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from tests.api.world import World
from tests.identity.softauthn import SoftAuthenticator

DIMS = 512
ORIGIN = "http://localhost"


def face(seed: int, noise: float = 0.0, noise_seed: int = 0) -> list[float]:
    """A person's face template (seed = who), captured with some noise."""
    base = np.random.default_rng(seed).standard_normal(DIMS)
    base /= np.linalg.norm(base)
    if noise:
        jitter = np.random.default_rng(10_000 + noise_seed).standard_normal(DIMS)
        base = base + noise * jitter / np.linalg.norm(jitter)
    return [float(x) for x in base.astype(np.float32)]


def applicant(request_id: str, who: int, name: str = "Mariam Tesfaye", **changes: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "demographics": {"name": name, "birth_date": "1988-03-14", "sex": "F", "address": "4 Hill Road"},
        "face": face(who, noise=0.3, noise_seed=zlib.crc32(request_id.encode()) % 1000),
        **changes,
    }


def enrol(world: World, *applicants: dict[str, Any], officer: str = "bank") -> Any:
    return world.client.post(
        "/v1/identity/enrolments", json={"submissions": list(applicants)}, headers=world.as_(officer)
    )


def enrolled(world: World, who: int) -> str:
    [e] = enrol(world, applicant(f"cred-{who}", who=who)).json()["enrolments"]
    assert e["state"] == "enrolled"
    return str(e["number"])


def rebind(world: World, number: str, who: int, device: SoftAuthenticator, **extra: Any) -> Any:
    """The officer's desk: a fresh capture of ``who`` checked 1:1, then ``device`` binds."""
    begun = world.client.post(
        f"/v1/identity/persons/{number}/rebind",
        json={"face": face(who, noise=0.3, noise_seed=99), "label": "phone", **extra},
        headers=world.as_("tax-officer", purpose="lost phone, ID card seen"),
    )
    if begun.status_code != 201:
        return begun
    ceremony = begun.json()
    return world.client.post(
        f"/v1/passkeys/registrations/{ceremony['id']}", json=device.create(ceremony["options"], ORIGIN)
    )


def login(world: World, device: SoftAuthenticator, number: str | None = None) -> Any:
    ceremony = world.client.post("/v1/sessions", json={"number": number} if number else {}).json()
    return world.client.post(f"/v1/sessions/{ceremony['id']}", json=device.get(ceremony["options"], ORIGIN))
