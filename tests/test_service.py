"""Services opens everything or nothing: a bad setting leaves no file open or locked, no worker running."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tessera.auth import Role
from tessera.errors import EnforcementClosedError, InvalidInputError
from tessera.rules import EXAMPLE_RULES, builtin_path
from tessera.rules import check as enforcement_check
from tessera.service import Services
from tests.api.world import settings_for


def test_a_bad_public_url_leaves_nothing_locked(tmp_path: Path) -> None:
    """The second open of the same data directory works: the first released its locks."""
    with pytest.raises(InvalidInputError) as caught:
        Services(settings_for(tmp_path, public_url="ftp://id.example.gov"))
    assert caught.value.field.startswith("origins") or caught.value.field == "issuer"
    services = Services(settings_for(tmp_path))
    services.close()


def test_a_rule_refused_at_start_stops_the_sweeper_and_uninstalls_enforcement(tmp_path: Path) -> None:
    """A start that fails late (the rules, after the sweeper and the enforcement index) unwinds all of it."""
    refused = tmp_path / "refused.toml"
    refused.write_text("this is not a rule file [", encoding="utf-8")
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(InvalidInputError, match="malformed TOML"):
        Services(settings_for(tmp_path / "data", rules=(refused,)))
    assert "tessera-restriction-sweeper" not in {t.name for t in threading.enumerate()} - before
    with pytest.raises(EnforcementClosedError):
        enforcement_check("someone", "payments")
    Services(settings_for(tmp_path / "data")).close()  # the locks were released


def test_an_agencys_event_kept_but_not_scored_before_a_crash_is_scored_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agency's event kept before a crash, but not scored, is scored when the services start again."""
    settings = settings_for(tmp_path, rules=(builtin_path(EXAMPLE_RULES),))
    services = Services(settings)
    try:
        person = services.registry.create_person(
            {"name": "Ada Obi", "birth_date": "1980-02-01", "sex": "F"}, station="x"
        )
        event = {
            "id": "L-1",
            "subject": person.number,
            "at_ns": time.time_ns(),
            "fields": {"amount": 1, "days_late": 45, "lender": "x"},
        }

        def crash(*args: object, **kwargs: object) -> int:
            raise RuntimeError("the process died")

        monkeypatch.setattr(services.rule_engine, "process", crash)
        with pytest.raises(RuntimeError):
            lender = services.store.create_principal("lender", Role.officer, agency="credit-bureau")
            services.event_intake.submit(lender, "loan.repaid", [event])
    finally:
        services.close()
    restarted = Services(settings)
    try:
        assert restarted.scores.score(person.number, "credit").value == -40
    finally:
        restarted.close()
