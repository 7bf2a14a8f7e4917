"""The intake tests' world: its event types and rules, the engine a start would make, a lender, and loan events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from tessera.auth.principals import Principal, Role
from tessera.identity.registry import Person
from tessera.rules.definitions import builtin_definitions, load_definitions
from tessera.rules.due_process.notices import Notices
from tessera.rules.due_process.restrictions import Restrictions
from tessera.rules.language.compiler import CompiledRules
from tessera.rules.language.rulesets import load_rules
from tessera.rules.scoring.engine import PolicyEffects, RuleEngine
from tessera.rules.scoring.intake import EventIntake
from tessera.rules.scoring.scores import Scores
from tessera.store import Store
from tessera.store.tables import rule_events

STATION = "p_00000000000000aa"
# The credit bureau's principal that reports loans.
LENDER = Principal("p_000000000000001e", "first-bank", Role.officer, agency="credit-bureau")
NOW = 1_780_000_000 * 10**9
DAY = 86_400 * 10**9

# A type with every kind of value, beside the built-in ones.
DEFINITIONS = """
[[event_type]]
name = "licence.renewed"
purpose = "reference"
description = "A trade licence was renewed."
fields.on = { type = "date", category = "reference" }
fields.fee = { type = "float", category = "financial" }
fields.paid_at = { type = "timestamp", category = "financial" }
fields.online = { type = "bool", category = "reference" }
reported_by = ["credit-bureau"]

[[legal_basis]]
id = "licensing-act/9"
instrument = "Licensing Act"
article = "s. 9 (renewals)"
kind = "statute"
covers = ["licence.renewed"]
"""

RULES = """
[[rule]]
id = "credit.repaid-late"
title = "Repaid more than 30 days late"
basis = "consumer-credit-act/12"
inputs = ["loan.repaid"]
condition = "event.days_late > 30"
reason_code = "repaid_late"
reason_text = "An instalment was repaid more than 30 days after it was due."
effects = [{ kind = "score", scheme = "credit", points = -40, expires_after = "365d" }]

[[rule]]
id = "benefit.disability-allowance"
title = "Disability allowance"
basis = "social-security-act/disability-allowance"
inputs = ["benefit.claimed"]
condition = 'event.programme == "disability_allowance" && event.claimant.disability_grade >= 2'
reason_code = "disability_allowance"
effects = [{ kind = "eligibility", benefit = "disability_allowance", expires_after = "365d" }]
"""

LICENCE_RULE = """
[[rule]]
id = "licence.renewed-early-online"
title = "Renewed online before 2027 for a fee under 100.5"
basis = "licensing-act/9"
inputs = ["licence.renewed"]
condition = "event.online && event.on < 20819 && event.fee < 100.5 && event.paid_at > 0"
reason_code = "renewed"
effects = [{ kind = "score", scheme = "licence", points = 3, expires_after = "30d" }]
"""


@dataclass
class Intake:
    """A store with Ada and Ben registered, the engine and intake a start would make, and their notices."""

    store: Store
    intake: EventIntake
    engine: RuleEngine
    notices: Notices
    ada: Person
    ben: Person

    def score(self, person: Person, scheme: str = "credit") -> int:
        return Scores(self.store).score(person.number, scheme).value

    def kept(self) -> int:
        with self.store.transaction() as conn:
            return int(conn.scalar(select(func.count()).select_from(rule_events)) or 0)


def engine_for(store: Store, *, licences: bool = True) -> tuple[RuleEngine, EventIntake, Notices]:
    """The engine and intake a start would make; without ``licences`` the licence type is not registered."""
    types, bases = load_definitions([DEFINITIONS] if licences else [], *builtin_definitions())
    notices = Notices(store, bases)
    restrictions = Restrictions(store, bases, notices)
    engine = RuleEngine(
        store,
        CompiledRules(load_rules([RULES, LICENCE_RULE] if licences else [RULES], types, bases), types),
        Scores(store),
        payer_subjects=lambda rows: [None] * len(rows),
        effects=PolicyEffects(restrictions, notices),
    )
    return engine, EventIntake(store, types, engine, clock=lambda: NOW), notices


def repaid(event_id: str, subject: str, days_late: int, **changes: Any) -> dict[str, Any]:
    """A loan.repaid event the day before NOW, ``days_late`` days late; ``changes`` replace its keys."""
    event: dict[str, Any] = {
        "id": event_id,
        "subject": subject,
        "at_ns": NOW - DAY,
        "fields": {"amount": 5000, "days_late": days_late, "lender": "First Bank"},
    }
    event.update(changes)
    return event
