"""A list imported while the server was down: the server screens the registered people against it as it starts."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tessera.api import create_app
from tessera.auth import Role
from tessera.cli.seed import issue_key
from tessera.rules import SCREENING_PRINCIPAL, SanctionsLists
from tessera.service import Services, Settings
from tessera.store import Store

DATA = Path(__file__).resolve().parents[1] / "rules" / "sanctions" / "data"
LISTED = {"name": "Viktor Anatolyevich Bout", "birth_date": "1967-01-13", "sex": "M"}  # in ftm.jsonl (OFAC SDGT)
PURPOSE = "sanctions screening review 2026/4"
WAITS_MAX = 300  # tenths of a second for the server's poller to hand the job to its worker and the worker to end it


def _settings(path: Path) -> Settings:
    return Settings(data_dir=path, ledger_sync=False, public_url="http://localhost")


def test_a_list_imported_while_the_server_was_down__screened_at_its_start__the_hit_in_the_queue(
    tmp_path: Path,
) -> None:
    """A person registered before the listing: the restarted server screens what the import owes, logging the look."""
    with TestClient(create_app(_settings(tmp_path))) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        analyst = services.store.create_principal("analyst", Role.officer, agency="financial-intelligence-unit")
        token = issue_key(services, analyst)
        # Registered outside enrolment (as seeding does): no screening at registration.
        person = services.registry.create_person(LISTED, station="seed")
        subject = services.registry.subject_of(person.number)
    with Store.open(_settings(tmp_path).store_url) as store:
        assert SanctionsLists(store).import_list(DATA / "ftm.jsonl", "ftm").owed == 3
    with TestClient(create_app(_settings(tmp_path))) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        for _ in range(WAITS_MAX):
            if not services.list_screenings.owed() and services.sanctions_worker.wait_idle(30):
                break
            time.sleep(0.1)
        assert services.list_screenings.owed() == []
        headers = {"Authorization": f"Bearer {token}", "X-Tessera-Purpose": PURPOSE}
        (hit,) = client.get("/v1/sanctions/hits", headers=headers).json()["hits"]
        assert (hit["subject"], hit["context"]) == (person.number, "import")
        looks = [e for _, e in services.access_log.entries_for_subject(subject, limit=10)]
        assert [e.outcome for e in looks if e.principal == SCREENING_PRINCIPAL] == ["read for screening"]
