"""`tessera serve --demo` tells a story: people with wallets, a notice, a score, an access log, and who is who."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tessera.api import create_app
from tessera.cli.banner import base_url, demo_banner, demo_curl_lines
from tessera.cli.main import app
from tessera.cli.programmes_demo import DEMO_PIN, PROGRAMME_IDS
from tessera.cli.seed import PERSONAS, Demo, DemoKey, demo_principals
from tessera.cli.story import READ_PURPOSE, REPORT_PURPOSE
from tessera.errors import ForbiddenError
from tessera.rules import EXAMPLE_RULES, builtin_path
from tessera.service import Services, Settings
from tests.cli.demo import KEY_LINE, printed_keys, replay, start_demo

runner = CliRunner()


def settings_of(data: Path) -> Settings:
    return Settings(data_dir=data, rules=(builtin_path(EXAMPLE_RULES),))


@dataclass
class Seeded:
    data: Path
    banner: str


@dataclass
class DemoWorld:
    client: TestClient
    banner: str
    keys: dict[str, str]

    def as_(self, name: str, purpose: str = "") -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[name]}"}
        return headers | ({"X-Tessera-Purpose": purpose} if purpose else {})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        banner = start_demo(data, monkeypatch)
    yield Seeded(data, banner)


@pytest.fixture
def demo(seeded: Seeded, tmp_path: Path) -> Iterator[DemoWorld]:
    """A copy of the seeded demo directory, served in process: each test may change it."""
    data = tmp_path / "demo"
    shutil.copytree(seeded.data, data)
    with TestClient(create_app(settings_of(data))) as client:
        yield DemoWorld(client, seeded.banner, printed_keys(seeded.banner))


def principal_ids(world: DemoWorld) -> dict[str, str]:
    services: Services = world.client.app.state.services  # type: ignore[attr-defined]
    return {name: p.id for name, p in demo_principals(services).items()}


class TestDemoPeople:
    """Alice and Bob are registered persons with wallets, and what a person can read is already there."""

    def test_alice_and_bob_are_registered_persons_holding_their_wallets(self, demo: DemoWorld) -> None:
        """Each demo citizen's key reads their own registry record and their own wallet, not the other's."""
        for name, wallet, other, balance in (("alice", 2, 3, 10_000), ("bob", 3, 2, 3_750)):
            me = demo.client.get("/v1/me/identity", headers=demo.as_(name))
            assert me.status_code == 200, me.text
            number = me.json()["person"]["number"]
            assert f"person {number}, wallet {wallet}" in demo.banner
            mine = demo.client.get(f"/v1/ledger/accounts/{wallet}", headers=demo.as_(name))
            assert mine.status_code == 200 and mine.json()["balance"] == balance
            theirs = demo.client.get(f"/v1/ledger/accounts/{other}", headers=demo.as_(name))
            assert theirs.status_code in (403, 404)

    def test_alice_has_a_notice_to_appeal_and_a_score_with_factors(self, demo: DemoWorld) -> None:
        """The bureau's late repayment lowered Alice's credit score, told her why, and the banner's appeal names it."""
        notices = demo.client.get("/v1/me/notices", headers=demo.as_("alice")).json()["notices"]
        assert [n["reason_code"] for n in notices] == ["repaid_late"]
        assert f"/v1/me/notices/{notices[0]['id']}/appeal" in demo.banner
        [score] = demo.client.get("/v1/me/scores", headers=demo.as_("alice")).json()["scores"]
        assert score["scheme"] == "credit" and score["value"] < 0
        assert [f["reason_code"] for f in score["factors"]] == ["repaid_late"]
        assert demo.client.get("/v1/me/scores", headers=demo.as_("bob")).json()["scores"], "bob repaid on time"

    def test_alice_access_log_holds_the_officers_looks_made_through_the_api(self, demo: DemoWorld) -> None:
        """Her log names the registrar's enrolment and read and the bureau's report, each by that officer, in words."""
        entries = demo.client.get("/v1/me/access-log", headers=demo.as_("alice")).json()["entries"]
        ids = principal_ids(demo)
        seen = {(e["principal"], e["purpose"], e["outcome"].split(" ")[0]) for e in entries}
        assert (ids["registrar"], READ_PURPOSE, "read") in seen
        assert (ids["bureau"], REPORT_PURPOSE, "event") in seen
        assert any(who == ids["registrar"] and outcome == "enrolled" for who, _, outcome in seen)
        words = {e["who"] for e in entries}
        assert "Registrar 7 (officer, Civil Registry)" in words, "the registrar's published name, not the login name"
        assert not any("registrar" in w for w in words)

    def test_the_other_personas_are_principals_of_their_roles(self, demo: DemoWorld) -> None:
        """Every persona's printed key answers as the role the banner gives it."""
        roles = {m[1]: m[2] for m in KEY_LINE.finditer(demo.banner)}
        assert set(roles) == {p.name for p in PERSONAS}
        for name, role in roles.items():
            me = demo.client.get("/v1/me", headers=demo.as_(name))
            assert me.status_code == 200 and me.json()["role"] == role, name


class TestTwoIdentityOfficers:
    """The registrar enrolled the applicants, so only the second officer may decide their cases (four eyes)."""

    def test_the_adjudicator_works_the_queue_to_the_end_and_the_registrar_may_not(self, demo: DemoWorld) -> None:
        """The registrar's decision is refused; the adjudicator decides every queued case until none is left."""
        purpose = "demo adjudication"
        queue = demo.client.get("/v1/identity/adjudications", headers=demo.as_("adjudicator", purpose))
        cases = queue.json()["enrolments"]
        assert cases, "the demo's applicants leave probable duplicates"
        decision = {"decision": "same", "reason": "the same face and fingers under another name"}
        refused = demo.client.post(
            f"/v1/identity/adjudications/{cases[0]['id']}", headers=demo.as_("registrar", purpose), json=decision
        )
        assert refused.status_code == 403
        for _ in range(len(cases) + 1):
            queue = demo.client.get("/v1/identity/adjudications", headers=demo.as_("adjudicator", purpose))
            if not queue.json()["enrolments"]:
                break
            case = queue.json()["enrolments"][0]["id"]
            decided = demo.client.post(
                f"/v1/identity/adjudications/{case}", headers=demo.as_("adjudicator", purpose), json=decision
            )
            assert decided.status_code == 200, decided.text
        assert demo.client.get("/v1/identity/adjudications", headers=demo.as_("adjudicator", purpose)).json() == {
            "enrolments": []
        }


class TestKeysForPeople:
    """A key that speaks for a person is made by the demo alone: the ordinary ways to mint one refuse."""

    def test_keys_create_refuses_a_persons_principal(self, seeded: Seeded, tmp_path: Path) -> None:
        """`tessera keys create --role citizen --name <alice's principal>` fails in one line and stores no key."""
        data = tmp_path / "demo"
        shutil.copytree(seeded.data, data)
        with closing(Services(settings_of(data))) as services:
            alice = demo_principals(services)["alice"]
            before = services.store.list_api_keys(alice.id)
        result = runner.invoke(app, ["keys", "create", "--role", "citizen", "--name", alice.name, "--data", str(data)])
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.startswith("error [forbidden]: ") and "passkey and PIN" in result.stderr
        with closing(Services(settings_of(data))) as services:
            assert services.store.list_api_keys(alice.id) == before

    def test_the_admins_cannot_ask_for_a_key_in_a_persons_name(self, demo: DemoWorld) -> None:
        """Two admins asking for an officer's key named as Alice's principal are refused: she is a citizen."""
        services: Services = demo.client.app.state.services  # type: ignore[attr-defined]
        alice = demo_principals(services)["alice"]
        for agency in ("civil-registry", "central-bank"):
            terms = {"kind": "officer_key", "name": alice.name, "agency": agency}
            asked = demo.client.post("/v1/admin/requests", headers=demo.as_("admin"), json={"terms": terms})
            assert asked.status_code == 409, asked.text
        assert [k for k in services.store.list_api_keys(alice.id) if k.revoked_at_ns is None] != []  # the demo's

    def test_the_store_refuses_a_key_for_a_person_unless_the_demo_asks(self, demo: DemoWorld) -> None:
        """Store.add_api_key refuses a person's principal; only for_person (the demo's seed) passes."""
        services: Services = demo.client.app.state.services  # type: ignore[attr-defined]
        bob = demo_principals(services)["bob"]
        with pytest.raises(ForbiddenError, match="registered person"):
            services.store.add_api_key("k_stolen", bob.id, b"h" * 32, 1)
        assert services.store.get_api_key("k_stolen") is None

    def test_the_demo_refuses_a_directory_holding_people_it_did_not_enrol(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`serve --demo` on a registry of real people mints nothing and says to pass another --data."""
        with closing(Services(settings_of(tmp_path))) as services:
            services.registry.create_person({"name": "Ada Obi", "birth_date": "1980-02-01", "sex": "F"}, station="x")
        monkeypatch.setattr(uvicorn, "run", lambda app_, **options: None)
        result = runner.invoke(app, ["serve", "--demo", "--data", str(tmp_path)])
        assert result.exit_code == 1 and "tsk_" not in result.stdout
        assert result.stderr.startswith("error [conflict]: ") and "pass --data with another directory" in result.stderr


class TestBanner:
    """The banner says who is who and prints the lines of `demo_curl_lines`, built in one place."""

    def test_each_persona_has_a_line_with_role_and_key_and_one_saying_who_they_are(self, seeded: Seeded) -> None:
        """Each persona with role and key, then who they are: the people's numbers and wallets with balances."""
        lines = seeded.banner.splitlines()
        for persona in PERSONAS:
            [at] = [i for i, line in enumerate(lines) if KEY_LINE.fullmatch(line) and line.split()[0] == persona.name]
            assert lines[at].split()[1] == persona.role.value
            assert persona.does in lines[at + 1]
        assert re.search(r"Alice Okafor, person \d{12}, wallet 2 \(100\.00 XTS\)", seeded.banner)
        assert re.search(r"Bob Mensah, person \d{12}, wallet 3 \(37\.50 XTS\)", seeded.banner)
        assert "civil-registry: decides the probable duplicates" in seeded.banner

    def test_the_banner_prints_three_curl_lines_from_demo_curl_lines(self) -> None:
        """Pay, read my access log, appeal: captions and commands as `demo_curl_lines` makes them, in that order."""
        keys = tuple(DemoKey(p.name, p.role.value, f"p_{i:016x}", f"tsk_k{i}_secret") for i, p in enumerate(PERSONAS))
        demo = Demo(keys, {"alice": "458211083934"}, True, "pay-0123456789abcdef", "n_0123456789abcdef")
        lines = demo_curl_lines(demo, "http://127.0.0.1:8000")
        assert [command.split()[-1] for _, command in lines] == [
            "http://127.0.0.1:8000/v1/me/payments",
            "http://127.0.0.1:8000/v1/me/access-log",
            "http://127.0.0.1:8000/v1/me/notices/n_0123456789abcdef/appeal",
        ]
        assert all("Bearer tsk_k0_secret" in command for _, command in lines), "all as alice"
        banner = demo_banner(demo, "http://127.0.0.1:8000")
        assert [line.strip() for line in banner if line.strip().startswith("curl ")] == [c for _, c in lines]
        assert [line.strip() for line in banner if line.strip().startswith("# ")] == [f"# {w}" for w, _ in lines]

    def test_curl_lines_reach_a_wildcard_host_on_loopback(self) -> None:
        """--host 0.0.0.0 prints curl lines to 127.0.0.1; an IPv6 address is bracketed."""
        assert base_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
        assert base_url("::", 9000) == "http://[::1]:9000"
        assert base_url("fd00::1", 80) == "http://[fd00::1]:80"
        assert base_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"


class TestDemoProgrammes:
    """Food cash, a rice ration and a fuel quota were paid to Alice's household; the grocery's printed line redeems."""

    def test_each_example_programme_is_registered_with_one_disbursed_cycle(self, demo: DemoWorld) -> None:
        """The three programmes of the example file, each one cycle previewed, approved by another officer, paid."""
        services: Services = demo.client.app.state.services  # type: ignore[attr-defined]
        ids = principal_ids(demo)
        for programme_id in PROGRAMME_IDS:
            assert services.programmes.known(programme_id) is not None, programme_id
            [cycle] = services.cycles.of_programme(programme_id)
            assert cycle.status == "disbursed", programme_id
            assert cycle.previewed is not None and cycle.approved is not None
            assert (cycle.previewed.by, cycle.approved.by) == (ids["welfare"], ids["welfare-2"])

    def test_alices_household_holds_each_programmes_entitlement(self, demo: DemoWorld) -> None:
        """Alice heads a household of two with Bob: 10 kg of rice, 40 litres of fuel and food cash left to spend."""
        mine = demo.client.get("/v1/me/entitlements", headers=demo.as_("alice")).json()
        left = {p["id"]: p["lines"][0]["left_text"] for p in mine["programmes"] if p["yours"]}
        assert left == {"food_cash": "50.00 XTS", "rice_ration": "10.000 kg", "fuel_quota": "40.0 litre"}
        household = demo.client.get("/v1/me/entitlements", headers=demo.as_("bob")).json()
        assert household["household_id"] == mine["household_id"] is not None

    def test_the_printed_redemption_redeems_rice_and_the_statement_shows_it(self, demo: DemoWorld) -> None:
        """The grocery's curl line, replayed, draws 5 kg with Alice's PIN; the printed statement line lists it."""
        lines = [line.strip() for line in demo.banner.splitlines() if line.strip().startswith("curl ")]
        [redeem] = [line for line in lines if line.endswith("/redemptions")]
        assert f'"pin": "{DEMO_PIN}"' in redeem and demo.keys["grocer"] in redeem
        redeemed = replay(demo.client, redeem)
        assert redeemed.status_code == 201, redeemed.text
        assert redeemed.json()["status"] == "completed"
        again = replay(demo.client, redeem)  # the same Idempotency-Key: the same redemption, nothing drawn twice
        assert again.status_code in (200, 201) and again.json()["id"] == redeemed.json()["id"]
        [statement] = [line for line in lines if "/statement?date=" in line]
        answer = replay(demo.client, statement)
        assert answer.status_code == 200, answer.text
        assert [e["redemption_id"] for e in answer.json()["entries"]] == [redeemed.json()["id"]]
