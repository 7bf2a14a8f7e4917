"""The policy tests' world: persons with wallets, the bases' officers, legal bases, and /v1/check's two paths."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tessera.api import fast_check
from tessera.api.routes import policy as policy_routes
from tessera.auth import Role
from tessera.cli.seed import issue_key
from tessera.identity.registry import Person
from tessera.ledger import Account, AccountFlags
from tessera.rules import legal_basis
from tests.api.world import MONEY, WALLET, World

DAY = 86_400 * 10**9
PERSON_WALLET, OTHER_WALLET = 50, 51
PURPOSE = "tax enforcement case 2026/77"


@dataclass
class Policy:
    """The API world with two registered persons holding wallets, officers of the bases' agencies, and legal bases.

    ``tax-officer`` and ``tax-officer-2`` act for the tax office, ``justice`` and ``justice-2``
    for the courts, ``judge`` for the appeals tribunal, ``bank`` for the central bank.
    """

    world: World
    ada: Person
    ben: Person

    def get(self, path: str, who: str, purpose: str | None = PURPOSE, **params: object) -> dict[str, object]:
        response = self.world.client.get(path, params=params, headers=self.world.as_(who, purpose))
        return {**response.json(), "http": response.status_code}

    def post(self, path: str, who: str, body: dict[str, object], purpose: str | None = PURPOSE) -> dict[str, object]:
        response = self.world.client.post(path, json=body, headers=self.world.as_(who, purpose))
        return {**response.json(), "http": response.status_code}

    def body(self) -> dict[str, object]:
        """A proposal's terms: the tax act closing Ada's payments for 30 days."""
        return {
            "subject": self.ada.number,
            "domains": ["payments"],
            "basis_id": "tax-act/12",
            "authority": "Tax Office",
            "reason_code": "tax.unpaid",
            "reason_text": "Income tax for 2025 unpaid after three reminders",
            "end_ns": time.time_ns() + 30 * DAY,
        }

    def propose(self, **changes: object) -> dict[str, object]:
        return self.post("/v1/restrictions", "tax-officer", {**self.body(), **changes})

    def activate(self, **changes: object) -> str:
        proposed = self.propose(**changes)
        assert proposed["http"] == 201, proposed
        decided = self.post(
            f"/v1/restrictions/{proposed['id']}/decision", "tax-officer-2", {"decision": "activate", "reason": "ok"}
        )
        assert decided["http"] == 200 and decided["status"] == "active", decided
        return str(proposed["id"])

    def frozen(self, account_id: int) -> bool:
        account = self.world.services.ledger.lookup_accounts([account_id])[0]
        return bool(account.flags & AccountFlags.frozen)

    def log_of(self, person: Person) -> list[tuple[str, str, str]]:
        subject = self.world.services.subject_of_person(person.number)
        return [
            (e.principal, e.purpose, e.outcome) for _, e in self.world.services.access_log.entries_for_subject(subject)
        ]


def policy_world(world: World) -> Policy:
    """Add the persons, their wallets, the judge and the legal bases to an API world."""
    services = world.services
    people = []
    for name, number, wallet in (("Ada Obi", "ada", PERSON_WALLET), ("Ben Ito", "ben", OTHER_WALLET)):
        person = services.registry.create_person({"name": name, "birth_date": "1980-02-01", "sex": "F"}, station="x")
        principal = services.store.get_principal(person.principal_id)
        assert principal is not None
        world.principals[number], world.tokens[number] = principal, issue_key(services, principal, for_person=True)
        services.store.set_account_holders([(wallet, person.principal_id)])
        services.ledger.create_accounts([Account(wallet, MONEY, code=2, flags=WALLET)])
        people.append(person)
    for name, agency in (
        ("judge", "appeals-tribunal"),
        ("tax-officer-2", "tax-office"),
        ("justice", "courts"),
        ("justice-2", "courts"),
    ):
        officer = services.store.create_principal(name, Role.officer, agency=agency)
        world.principals[name], world.tokens[name] = officer, issue_key(services, officer)
    tax = ("tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["payments", "licensing"])
    court = ("court/118", "Civil Procedure Act", "s. 7", "court_order", ["travel", "payments"])
    services.restrictions.register_bases(
        [legal_basis(*tax, exercised_by=["tax-office"]), legal_basis(*court, exercised_by=["courts"])]
    )
    return Policy(world, people[0], people[1])


Answer = tuple[int, str, dict[str, object], list[tuple[str, str, str]]]


class Paths:
    """A world whose callers stay cached (as in service), counting the answers each path gives."""

    def __init__(self, world: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
        self.policy = world
        self.fast = self.routed = 0
        shared = policy_routes.answer_check

        def fast(*args: object) -> object:
            self.fast += 1
            return shared(*args)  # type: ignore[arg-type]

        def routed(*args: object) -> object:
            self.routed += 1
            return shared(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(fast_check, "answer_check", fast)
        monkeypatch.setattr(policy_routes, "answer_check", routed)

    def ask(self, who: str, purpose: str | None, params: dict[str, str]) -> Answer:
        """Status, media type, body, and what the person's access log gained."""
        before = len(self.policy.log_of(self.policy.ada))
        response = self.policy.world.client.get("/v1/check", params=params, headers=self.policy.world.as_(who, purpose))
        logged = self.policy.log_of(self.policy.ada)[before:]
        return response.status_code, response.headers["content-type"], response.json(), logged

    def both(self, who: str, purpose: str | None, params: dict[str, str]) -> tuple[Answer, Answer]:
        """The same request with the caller's key not yet cached (the route), then cached (the fast path if plain)."""
        self.policy.world.services._callers.clear()
        return self.ask(who, purpose, params), self.ask(who, purpose, params)
