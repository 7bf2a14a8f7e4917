"""Times are RFC 3339 in and out, nanoseconds beside them (issue 18)."""

from __future__ import annotations

import datetime as dt
import inspect
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tessera.api import create_app, schemas
from tessera.api.schemas import (
    RestrictionAmendmentCreate,
    RuleEventCreate,
    StrictModel,
    TransferPublic,
)
from tessera.ledger import Transfer
from tessera.limits import ID_LIMIT
from tessera.service import Settings
from tessera.times import ns_to_rfc3339, rfc3339_to_ns
from tests.api.policy_world import DAY, PURPOSE, Policy, policy_world
from tests.api.world import World

# Fields that hold nanoseconds without saying so in their names, and the RFC 3339 field beside each.
UNSUFFIXED = {"timestamp": {"created_at", "signed_at"}}


@pytest.fixture
def policy(world: World) -> Policy:
    return policy_world(world)


class TestConverter:
    """``ns_to_rfc3339`` and ``rfc3339_to_ns``: one shared converter, exact to the nanosecond."""

    @given(st.integers(min_value=0, max_value=ID_LIMIT - 1))
    def test_round_trip__ns_to_rfc3339_to_ns(self, ns: int) -> None:
        """Every nanosecond count the API can hold reads back unchanged from its RFC 3339 form."""
        assert rfc3339_to_ns(ns_to_rfc3339(ns)) == ns

    @given(st.integers(min_value=0, max_value=ID_LIMIT - 1))
    def test_written_in_utc_with_z_and_read_by_the_standard_library(self, ns: int) -> None:
        """The text is UTC with ``Z``; Python's own parser reads the same instant (to the microsecond)."""
        text = ns_to_rfc3339(ns)
        assert text.endswith("Z") and len(text) in (20, 30)
        parsed = dt.datetime.fromisoformat(text[:26] + "Z" if len(text) == 30 else text)
        assert parsed == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ns // 1000)

    @given(
        st.integers(min_value=86_400, max_value=4_000_000_000),
        st.integers(min_value=0, max_value=10**9 - 1),
        st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    )
    def test_an_offset_names_the_same_instant_as_utc(self, seconds: int, fraction: int, offset_min: int) -> None:
        """``10:00+02:00`` is ``08:00Z``: the offset is applied, whatever it is."""
        local = dt.datetime.fromtimestamp(seconds, dt.timezone(dt.timedelta(minutes=offset_min)))
        text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}" + local.strftime("%z")[:3] + ":"
        text += local.strftime("%z")[3:]
        assert rfc3339_to_ns(text) == seconds * 10**9 + fraction

    def test_nanoseconds_shown_only_where_the_value_has_them(self) -> None:
        """A whole second has no fraction; anything else has nine digits."""
        assert ns_to_rfc3339(1_796_637_600 * 10**9) == "2026-12-07T10:00:00Z"
        assert ns_to_rfc3339(1_796_637_600 * 10**9 + 5) == "2026-12-07T10:00:00.000000005Z"
        assert rfc3339_to_ns("2026-12-07T10:00:00.5z") == 1_796_637_600_500_000_000

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("2026-12-07T10:00:00", "offset"),  # naive: whose ten o'clock?
            ("2026-12-07 10:00", "RFC 3339"),
            ("2026-12-07", "RFC 3339"),
            ("2026-12-31T23:59:60Z", "second must be"),  # a leap second
            ("2026-02-30T10:00:00Z", "day is out of range"),
            ("2026-12-07T10:00:00+24:00", "RFC 3339"),
            ("2026-12-07T10:00:00.1234567891Z", "RFC 3339"),  # past nanoseconds
            (1796637600, "RFC 3339"),
        ],
    )
    def test_what_is_not_an_rfc3339_time_with_an_offset_is_refused(self, text: object, says: str) -> None:
        """Each refusal says what was wrong."""
        with pytest.raises(ValueError, match=says):
            rfc3339_to_ns(text)


def _models() -> list[type[BaseModel]]:
    found = [getattr(schemas, name) for name in schemas.__all__]
    return [m for m in found if inspect.isclass(m) and issubclass(m, BaseModel)]


class TestEveryTimeInWords:
    """The rule is kept everywhere, not only where someone remembered it."""

    def test_every_response_time_in_ns_has_its_rfc3339_beside_it(self) -> None:
        """Each ``x_ns`` (or ``timestamp``) a response model has comes with ``x`` (a string) beside it."""
        missing = []
        for model in _models():
            if issubclass(model, StrictModel):
                continue
            fields = model.model_fields
            for name in fields:
                wanted = UNSUFFIXED.get(name, {name.removesuffix("_ns")} if name.endswith("_ns") else set())
                if wanted and not any(w in fields and "str" in str(fields[w].annotation) for w in wanted):
                    missing.append(f"{model.__name__}.{name}")
        assert missing == []

    def test_every_request_time_in_ns_may_come_as_rfc3339(self, tmp_path: Path) -> None:
        """Each ``x_ns`` a request takes (a query parameter or a body field) has an RFC 3339 ``x`` beside it."""
        document = create_app(Settings(data_dir=tmp_path, ledger_sync=False)).openapi()
        missing = []
        for path, item in document["paths"].items():
            for method, operation in item.items():
                params = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
                for name in [n for n in params if n.endswith("_ns")]:
                    if "date-time" not in str(params.get(name[:-3])):
                        missing.append(f"{method} {path} ?{name}")
        for model in _models():
            if not issubclass(model, StrictModel):
                continue
            properties: dict[str, Any] = model.model_json_schema()["properties"]
            for name in [p for p in properties if p.endswith("_ns")]:
                if "date-time" not in str(properties.get(name[:-3])):
                    missing.append(f"{model.__name__}.{name}")
        assert missing == []

    def test_a_transfers_created_at_is_its_timestamp(self) -> None:
        """The ledger's ``timestamp`` is shown beside it as ``created_at``."""
        record = Transfer(1, 2, 3, 4, 1, 1, timestamp=1_796_637_600_123_456_789)
        assert TransferPublic.of(record).created_at == "2026-12-07T10:00:00.123456789Z"


class TestBodies:
    """A request body's time: ``end`` or ``end_ns``, not both, never naive."""

    def test_rfc3339_is_read_into_the_nanoseconds_field(self) -> None:
        """``end`` lands in ``end_ns``, counted as given (an amendment keeps what it does not name)."""
        amended = RestrictionAmendmentCreate.model_validate({"reason": "r", "end": "2026-12-07T12:00:00+02:00"})
        assert amended.end_ns == 1_796_637_600 * 10**9 and "end_ns" in amended.model_fields_set
        kept = RestrictionAmendmentCreate.model_validate({"reason": "r"})
        assert kept.end_ns is None and "end_ns" not in kept.model_fields_set

    def test_an_open_end_may_be_asked_for_either_way(self) -> None:
        """``end: null`` is ``end_ns: null``: an open end, which the domain allows only for court orders."""
        amended = RestrictionAmendmentCreate.model_validate({"reason": "r", "end": None})
        assert amended.end_ns is None and "end_ns" in amended.model_fields_set

    @pytest.mark.parametrize(
        ("event", "says"),
        [
            ({"at": "2026-12-07T10:00:00"}, "offset"),
            ({"at": "2026-12-07T10:00:00Z", "at_ns": 5}, "not both"),
            ({}, "is required"),
        ],
    )
    def test_an_event_time__naive_both_or_neither_refused(self, event: dict[str, object], says: str) -> None:
        """Each refusal names the field and what to send."""
        with pytest.raises(ValidationError, match=says):
            RuleEventCreate.model_validate({"id": "e-1", "subject": "org:acme", "fields": {}, **event})


class TestRoutes:
    """The routes take RFC 3339 where they took nanoseconds, and still take nanoseconds."""

    def _propose(self, policy: Policy, **times: object) -> Any:
        body = {k: v for k, v in policy.body().items() if k != "end_ns"} | times
        return policy.world.client.post("/v1/restrictions", json=body, headers=policy.world.as_("tax-officer", PURPOSE))

    def test_a_restriction_proposed_with_an_rfc3339_end__answered_in_both_forms(self, policy: Policy) -> None:
        """``end`` in; ``end_ns`` and ``end`` (UTC, ``Z``) out, the same instant."""
        end_ns = (time.time_ns() // 10**9 + 30 * DAY // 10**9) * 10**9
        local = dt.datetime.fromtimestamp(end_ns // 10**9, dt.timezone(dt.timedelta(hours=5, minutes=30)))
        made = self._propose(policy, end=local.isoformat())
        assert made.status_code == 201, made.text
        assert made.json()["end_ns"] == end_ns and made.json()["end"] == ns_to_rfc3339(end_ns)
        assert made.json()["proposed_at"] == ns_to_rfc3339(made.json()["proposed_at_ns"])

    def test_nanoseconds_still_work(self, policy: Policy) -> None:
        """A system that sends ``end_ns`` today keeps working."""
        made = self._propose(policy, end_ns=time.time_ns() + DAY)
        assert made.status_code == 201, made.text

    @pytest.mark.parametrize(
        ("times", "says"),
        [
            ({"end": "2027-01-05T10:00:00"}, "offset"),
            ({"end": "2027-01-05T10:00:00Z", "end_ns": 1_800_000_000 * 10**9}, "not both"),
        ],
    )
    def test_a_naive_time_or_both_forms__422_saying_which(
        self, policy: Policy, times: dict[str, object], says: str
    ) -> None:
        """422 ``invalid_input``; a naive time names ``body.end``."""
        refused = self._propose(policy, **times)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_input", refused.text
        assert says in refused.json()["detail"]
        if "end_ns" not in times:
            assert refused.json()["field"] == "body.end"

    def test_a_queue_pages_on_with_rfc3339(self, policy: Policy) -> None:
        """``after`` takes the last item's RFC 3339 time as given, to the nanosecond; ``after_ns`` still works."""
        for _ in range(3):
            assert self._propose(policy, end_ns=time.time_ns() + DAY).status_code == 201
        headers = policy.world.as_("tax-officer", PURPOSE)
        first = policy.world.client.get("/v1/restrictions", params={"limit": 1}, headers=headers).json()
        [last] = first["restrictions"]
        by_text = policy.world.client.get("/v1/restrictions", params={"after": last["proposed_at"]}, headers=headers)
        by_ns = policy.world.client.get(
            "/v1/restrictions", params={"after_ns": last["proposed_at_ns"]}, headers=headers
        )
        assert by_text.status_code == 200 and by_text.json() == by_ns.json()
        assert [r["id"] for r in by_text.json()["restrictions"]] and last["id"] not in by_text.text

    @pytest.mark.parametrize(
        ("params", "says"),
        [
            ({"after": "2026-12-07T10:00:00"}, "offset"),
            ({"after": "2026-12-07T10:00:00Z", "after_ns": "5"}, "not both"),
        ],
    )
    def test_a_queue_refuses_a_naive_cursor_or_both__422_naming_after(
        self, policy: Policy, params: dict[str, str], says: str
    ) -> None:
        """``query.after`` is the field at fault."""
        headers = policy.world.as_("judge", PURPOSE)
        refused = policy.world.client.get("/v1/appeals", params=params, headers=headers)
        assert refused.status_code == 422 and refused.json()["field"] == "query.after", refused.text
        assert says in refused.json()["detail"]
