"""tessera oidc: register a relying party from the command line, and disable it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli.main import app
from tessera.errors import UnauthenticatedError
from tessera.identity.oidc_clients import ClientCredentials, RelyingParties
from tessera.store import Store

runner = CliRunner()


def _store(data: Path) -> Store:
    return Store.open(f"sqlite:///{data / 'registry.db'}")


def test_register_prints_the_secret_once_and_it_authenticates(tmp_path: Path) -> None:
    """The printed secret works as the client's credential; the store holds only its hash."""
    claims = ["--claim", "name", "--claim", "resident"]
    where = ["--data", str(tmp_path)]
    result = runner.invoke(
        app, ["oidc", "register", "--name", "City Clinic", "--redirect-uri", "https://c.example/cb", *claims, *where]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["claims"] == ["name", "resident"] and answer["sector_id"] == "c.example"
    with _store(tmp_path) as store:
        parties = RelyingParties(store)
        party = parties.authenticate(ClientCredentials(answer["client_id"], answer["client_secret"]))
        assert party.name == "City Clinic"
        with pytest.raises(UnauthenticatedError):
            parties.authenticate(ClientCredentials(answer["client_id"], "wrong"))
        principal = store.get_principal(party.created_by)
        assert principal is not None and principal.name == "operator"


def test_another_services_sector_is_refused__a_shared_one_is_named(tmp_path: Path) -> None:
    """Issue 15: a service at evil.test asking for example.org's sector (and its people's sub) is refused."""
    where = ["--data", str(tmp_path)]
    first = runner.invoke(
        app, ["oidc", "register", "--name", "Shop", "--redirect-uri", "https://example.org/cb", *where]
    )
    assert first.exit_code == 0, first.output
    evil = ["--name", "Evil", "--redirect-uri", "https://evil.test/cb", "--sector", "example.org"]
    refused = runner.invoke(app, ["oidc", "register", *evil, *where])
    assert refused.exit_code == 1 and "sector_id" in refused.stderr and "evil.test" in refused.stderr
    assert "Traceback" not in refused.output
    pay = ["--name", "Pay", "--redirect-uri", "https://pay.example.org/cb", "--sector", "example.org"]
    joined = runner.invoke(app, ["oidc", "register", *pay, *where])
    assert joined.exit_code == 0, joined.output
    shop = json.loads(first.stdout)
    assert shop["shares_sector_with"] == []
    assert json.loads(joined.stdout)["shares_sector_with"] == [{"client_id": shop["client_id"], "name": "Shop"}]
    with _store(tmp_path) as store, store.transaction() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM relying_parties").scalar() == 2


def test_disable_stops_the_client(tmp_path: Path) -> None:
    """oidc disable marks the relying party disabled in the store."""
    uri = "https://shop.example/cb"
    registered = runner.invoke(
        app, ["oidc", "register", "--name", "Shop", "--redirect-uri", uri, "--data", str(tmp_path)]
    )
    client_id = json.loads(registered.stdout)["client_id"]
    assert runner.invoke(app, ["oidc", "disable", client_id, "--data", str(tmp_path)]).exit_code == 0
    with _store(tmp_path) as store:
        party = RelyingParties(store).get(client_id)
        assert party is not None and party.disabled


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["register", "--name", "Shop", "--redirect-uri", "http://shop.example/cb"], "redirect_uri"),
        (["register", "--name", "Shop", "--redirect-uri", "https://s.example/cb", "--claim", "number"], "claims"),
        (["register", "--name", "Shop", "--redirect-uri", "https://s.example/cb", "--by", "nobody"], "by"),
        (["disable", "rp_0000000000000000"], "client_id"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], field: str) -> None:
    """Plain http, a claim that does not exist (the number is never one), an unknown admin or client."""
    result = runner.invoke(app, ["oidc", *args, "--data", str(tmp_path)])
    assert result.exit_code == 1 and field in result.stderr and "Traceback" not in result.output
    with _store(tmp_path) as store, store.transaction() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM relying_parties").scalar() == 0
