"""GET /v1/check's fast path (tessera.api.fast_check) answers exactly as the route does, or leaves the request to it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api import create_app
from tessera.auth import Rate, parse_token
from tests.api.policy_world import PURPOSE, Paths
from tests.api.world import make_world, settings_for


def _restrict(paths: Paths) -> str:
    return paths.policy.activate()  # ada: payments closed under tax-act/12


@pytest.mark.parametrize(
    ("subject", "domain", "purpose"),
    [
        ("ada", "payments", PURPOSE),
        ("ada", "travel", PURPOSE),
        ("org:acme", "procurement", PURPOSE),
        ("ada", "travel", "   "),  # a purpose of blanks is none: refused, and logged as refused
    ],
    ids=["person-denied", "person-allowed", "organisation", "blank-purpose"],
)
def test_a_plain_request_is_answered_by_the_fast_path_as_the_route_answers_it(
    paths: Paths, subject: str, domain: str, purpose: str
) -> None:
    """A plain check is answered by the fast path exactly as the route answers it, logged for the person too."""
    _restrict(paths)
    params = {"subject": paths.policy.ada.number if subject == "ada" else subject, "domain": domain}
    routed, fast = paths.both("bank", purpose, params)
    assert (paths.routed, paths.fast) == (1, 1)
    assert fast == routed
    if subject == "ada":
        assert len(fast[3]) == 1  # each check on a person is logged for them, on either path


@pytest.mark.parametrize(
    ("who", "purpose", "params", "status"),
    [
        ("bank", None, {"subject": "ada", "domain": "travel"}, 403),  # no purpose: the route logs the refusal
        ("bank", PURPOSE, {"subject": "ada", "domain": "voting"}, 422),
        ("bank", PURPOSE, {"subject": "100000000005", "domain": "travel"}, 400),  # a wrong check digit
        ("bank", PURPOSE, {"subject": "org:ACME", "domain": "travel"}, 400),
        ("bank", PURPOSE, {"subject": "ada", "domain": "travel", "extra": "1"}, 200),
        ("bank", PURPOSE, {"subject": "ada"}, 422),
        ("bank", "x" * 201, {"subject": "ada", "domain": "travel"}, 400),  # checked_purpose counts characters
        ("bank", "x" * 801, {"subject": "ada", "domain": "travel"}, 422),  # past PURPOSE_BYTES_MAX: the header's
        ("ben", PURPOSE, {"subject": "ada", "domain": "travel"}, 403),  # a citizen may not check others
    ],
    ids=["no-purpose", "domain", "check-digit", "org-form", "extra", "no-domain", "long", "past-bytes", "citizen"],
)
def test_anything_else_is_left_to_the_route(
    paths: Paths, who: str, purpose: str | None, params: dict[str, str], status: int
) -> None:
    """Anything unusual (no purpose, bad domain, subject or purpose, a citizen) goes to the route, same answer."""
    params = {k: paths.policy.ada.number if v == "ada" else v for k, v in params.items()}
    routed, again = paths.both(who, purpose, params)
    assert paths.fast == 0
    assert routed[0] == again[0] == status
    assert routed[2] == again[2]


def test_an_uncached_key_goes_to_the_route_which_caches_it(paths: Paths) -> None:
    """A key not yet cached goes through the route once, which caches it for the fast path."""
    params = {"subject": "org:acme", "domain": "travel"}
    paths.both("bank", PURPOSE, params)
    paths.ask("bank", PURPOSE, params)
    assert (paths.routed, paths.fast) == (1, 2)


def test_a_revoked_key_stops_at_the_route_once_the_cache_forgets_it(paths: Paths) -> None:
    """A revoked key is refused 401 by the route as soon as the caller cache forgets it."""
    services = paths.policy.world.services
    params = {"subject": "org:acme", "domain": "travel"}
    assert paths.ask("bank", PURPOSE, params)[0] == 200
    key_id, _ = parse_token(paths.policy.world.tokens["bank"])
    services.store.revoke_api_key(key_id, time.time_ns())
    services._callers.clear()  # what caller_cache_s does in service, at most that long after
    assert paths.ask("bank", PURPOSE, params)[0] == 401


def test_over_the_lookup_limit__429_with_retry_after_on_the_fast_path(tmp_path: Path) -> None:
    """Past the lookup rate the fast path answers 429 problem+json with Retry-After, as the route would."""
    settings = settings_for(tmp_path, caller_cache_s=60.0, lookup_rate=Rate(per_second=0.001, burst=2))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        world = make_world(client)
        headers = world.as_("bank", PURPOSE)
        statuses = [
            client.get("/v1/check", params={"subject": "org:acme", "domain": "travel"}, headers=headers)
            for _ in range(3)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json()["code"] == "rate_limited" and int(statuses[2].headers["retry-after"]) >= 1
    assert statuses[2].headers["content-type"] == "application/problem+json"
