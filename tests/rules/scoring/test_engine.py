"""The rule engine on the ledger's feed: refused payments become score contributions, exactly once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, select

from tessera.auth.principals import Role
from tessera.errors import InvalidInputError
from tessera.identity.registry import Registry
from tessera.ledger import Account, AccountFlags, CreateTransferStatus, Ledger, Transfer
from tessera.rules.definitions import builtin_definitions
from tessera.rules.due_process.notices import Notices
from tessera.rules.due_process.restrictions import Restrictions
from tessera.rules.language.compiler import CompiledRules
from tessera.rules.language.rulesets import Effect, load_rules
from tessera.rules.scoring.engine import LEDGER_SOURCE, Firing, HolderSubjects, PolicyEffects, RuleEngine
from tessera.rules.scoring.scores import Scores
from tessera.store import Store
from tessera.store.tables import eligibility_grants

STATION = "p_00000000000000aa"
ISSUER, ALICE, BOB = 1, 2, 3
RULES = """
[[rule]]
id = "credit.refused-for-funds"
title = "A payment refused for lack of funds"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.refused && event.status == EXCEEDS"
reason_code = "payment_refused_funds"
reason_text = "A payment was refused because the wallet did not hold enough."
effects = [{ kind = "score", scheme = "credit", points = -5, expires_after = "30d" }]

[[rule]]
id = "credit.large-payment"
title = "A large payment made"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "!event.refused && event.amount >= 500"
reason_code = "large_payment"
reason_text = "A large payment went through."
effects = [{ kind = "score", scheme = "credit", points = 2, expires_after = "30d" }]
""".replace("EXCEEDS", str(int(CreateTransferStatus.exceeds_credits)))


class Adverse:
    """Collects what the engine hands to the restrictions and notices side."""

    def __init__(self) -> None:
        self.firings: list[tuple[str, str, Effect]] = []

    def adverse_in(self, conn: Connection, firings: Sequence[tuple[Firing, Effect]]) -> None:
        self.firings.extend((f.rule.id, f.subject, e) for f, e in firings)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as opened:
        yield opened


def _person_wallet(store: Store, registry: Registry, account_id: int, name: str) -> str:
    person = registry.create_person({"name": name, "birth_date": "1990-04-01", "sex": "F"}, station=STATION)
    store.set_account_holders([(account_id, person.principal_id)])
    return person.number


def _engine(store: Store, ledger: Ledger, adverse: Adverse | None = None) -> RuleEngine:
    types, bases = builtin_definitions()
    compiled = CompiledRules(load_rules([RULES], types, bases), types)
    subjects = HolderSubjects(store, Registry(store))
    return RuleEngine(
        store,
        compiled,
        Scores(store),
        payer_subjects=subjects,
        effects=adverse,
        backlog=lambda: ledger.feed.queued_behind,
    )


def _open(path: Path, feed_after: int | None = None) -> Ledger:
    return Ledger.open(path, sync=False, feed_after=feed_after)


def _fund(ledger: Ledger) -> None:
    wallet = AccountFlags.debits_must_not_exceed_credits
    ledger.create_accounts(
        [Account(ISSUER, 1, 1), Account(ALICE, 1, 2, flags=wallet), Account(BOB, 1, 2, flags=wallet)]
    )
    ledger.create_transfers([Transfer(1, ISSUER, ALICE, 1000, 1, 1)])


class TestOnTheFeed:
    def test_refused_payment__lowers_the_payers_score(self, store: Store, tmp_path: Path) -> None:
        """A refusal reaches the score as soon as the feed delivers it, traceable to rule and event."""
        registry = Registry(store)
        alice = _person_wallet(store, registry, ALICE, "Alice Example")
        adverse = Adverse()
        with _open(tmp_path / "ledger") as ledger:
            _fund(ledger)
            engine = _engine(store, ledger, adverse)
            ledger.subscribe(engine.on_ledger_batch)
            results = ledger.create_transfers(
                [Transfer(10, ALICE, BOB, 5000, 1, 2), Transfer(11, ALICE, BOB, 600, 1, 2)]
            )
            assert [r.status for r in results] == [CreateTransferStatus.exceeds_credits, CreateTransferStatus.ok]
            assert ledger.feed.wait_idle(5)
            seq = ledger.last_seq
        score = Scores(store).score(alice, "credit")
        assert score.value == -5 + 2 and score.live_contributions == 2
        assert [f.rule_id for f in score.factors] == ["credit.refused-for-funds"]
        refs = sorted(c.event_ref for c in Scores(store).contributions_of(alice))
        assert refs == [f"ledger:{seq}:0", f"ledger:{seq}:1"]
        assert [(rule, subject) for rule, subject, _ in adverse.firings] == [("credit.refused-for-funds", alice)]
        assert Scores(store).cursor(LEDGER_SOURCE) == seq

    def test_a_refusal_another_decision_caused__read_by_no_rule(self, store: Store, tmp_path: Path) -> None:
        """A freeze (a restriction) or earmarked money (a programme's grant) never reaches a score (issue 16)."""
        alice = _person_wallet(store, Registry(store), ALICE, "Alice Example")
        voucher, bakery = 20, 21
        _person_wallet(store, Registry(store), voucher, "Alice Voucher")
        rules = RULES.replace("event.refused && event.status == 35", "event.refused")
        types, bases = builtin_definitions()
        with _open(tmp_path / "ledger") as ledger:
            _fund(ledger)
            wallet = AccountFlags.debits_must_not_exceed_credits
            ledger.create_accounts(
                [
                    Account(voucher, 1, 2, flags=wallet, allowed_categories=frozenset({5411})),
                    Account(bakery, 1, 3, category=5462),
                ]
            )
            ledger.create_transfers([Transfer(2, ISSUER, voucher, 100, 1, 1)])
            engine = RuleEngine(
                store,
                CompiledRules(load_rules([rules], types, bases), types),
                Scores(store),
                payer_subjects=HolderSubjects(store, Registry(store)),
            )
            ledger.subscribe(engine.on_ledger_batch)
            ledger.freeze_accounts([BOB], "order:HC/2026/7")
            results = ledger.create_transfers(
                [
                    Transfer(10, ALICE, BOB, 5, 1, 2),
                    Transfer(11, ALICE, BOB, 5000, 1, 2),
                    Transfer(12, voucher, bakery, 10, 1, 2),
                ]
            )
            frozen, earmarked = CreateTransferStatus.account_frozen, CreateTransferStatus.category_not_allowed
            assert [r.status for r in results] == [frozen, frozen, earmarked]
            assert ledger.feed.wait_idle(5)
        assert Scores(store).contributions_of(alice) == [] and engine.stats.firings == 0

    def test_account_without_person__no_effect(self, store: Store, tmp_path: Path) -> None:
        """A wallet no person holds (a shop, an agency) is nobody's score; the firing is counted as unresolved."""
        with _open(tmp_path / "ledger") as ledger:
            _fund(ledger)
            engine = _engine(store, ledger)
            ledger.subscribe(engine.on_ledger_batch)
            ledger.create_transfers([Transfer(10, ALICE, BOB, 5000, 1, 2)])
            assert ledger.feed.wait_idle(5)
        assert engine.stats.firings == 0 and engine.stats.unresolved == 1

    def test_other_holders__not_persons(self, store: Store) -> None:
        """HolderSubjects maps person wallets to numbers and any other holder to None."""
        registry = Registry(store)
        alice = _person_wallet(store, registry, ALICE, "Alice Example")
        shop = store.create_principal("shop 1", Role.merchant)
        store.set_account_holders([(BOB, shop.id)])
        subjects = HolderSubjects(store, registry)
        assert subjects(np.array([ALICE, BOB, 99, ALICE], dtype=np.uint64)) == [alice, None, None, alice]


class TestAfterRestart:
    def test_missed_batches__scored_once(self, store: Store, tmp_path: Path) -> None:
        """Batches committed while no engine listened are scored after the restart; scored ones are not repeated."""
        registry = Registry(store)
        alice = _person_wallet(store, registry, ALICE, "Alice Example")
        with _open(tmp_path / "ledger") as ledger:
            _fund(ledger)
            engine = _engine(store, ledger)
            ledger.subscribe(engine.on_ledger_batch)
            ledger.create_transfers([Transfer(10, ALICE, BOB, 5000, 1, 2)])
            assert ledger.feed.wait_idle(5)
        with _open(tmp_path / "ledger") as ledger:  # the engine is down: these are missed
            ledger.create_transfers([Transfer(11, ALICE, BOB, 5000, 1, 2)])
            ledger.create_transfers([Transfer(12, ALICE, BOB, 5000, 1, 2)])
        cursor = Scores(store).cursor(LEDGER_SOURCE)
        with _open(tmp_path / "ledger", feed_after=cursor) as ledger:
            engine = _engine(store, ledger)
            subscription = ledger.subscribe(engine.on_ledger_batch, after_seq=cursor)
            assert ledger.feed.wait_idle(5)
            assert subscription.missed == []
        assert Scores(store).score(alice, "credit").value == -15
        assert len(Scores(store).contributions_of(alice)) == 3

    def test_a_cursor_past_batches_that_caused_nothing_waits_for_a_later_commit(
        self, store: Store, tmp_path: Path
    ) -> None:
        """No commit of its own for a batch no rule read (a till's draw): the next commit, or the flush, writes it."""
        with _open(tmp_path / "ledger") as ledger:
            engine = _engine(store, ledger)
            ledger.subscribe(engine.on_ledger_batch)
            _fund(ledger)  # the issuer's transfer: no holder, no subject, nothing caused
            assert ledger.feed.wait_idle(5)
            assert engine.accepted[LEDGER_SOURCE] == ledger.last_seq and Scores(store).cursor(LEDGER_SOURCE) is None
            engine.flush()
            assert Scores(store).cursor(LEDGER_SOURCE) == ledger.last_seq

    def test_effects_and_cursor_commit_together(self, store: Store, tmp_path: Path) -> None:
        """Held effects are committed with the cursor; a flush on shutdown loses nothing."""
        registry = Registry(store)
        alice = _person_wallet(store, registry, ALICE, "Alice Example")
        with _open(tmp_path / "ledger") as ledger:
            _fund(ledger)
            engine = _engine(store, ledger)
            engine_backlog = RuleEngine(
                store, engine.rules, engine.scores, payer_subjects=HolderSubjects(store, registry), backlog=lambda: 5
            )
            ledger.subscribe(engine_backlog.on_ledger_batch)  # always "more queued": effects are held
            ledger.create_transfers([Transfer(10, ALICE, BOB, 5000, 1, 2)])
            assert ledger.feed.wait_idle(5)
            assert Scores(store).contributions_of(alice) == [] and Scores(store).cursor(LEDGER_SOURCE) is None
            engine_backlog.flush()
            assert Scores(store).cursor(LEDGER_SOURCE) == ledger.last_seq
        assert Scores(store).score(alice, "credit").value == -5


def _with_policy_effects(store: Store, ledger: Ledger, rules: str, notices: Notices) -> Restrictions:
    """``rules`` on the ledger's feed, their restrictions and notices made for real; returns the restrictions."""
    types, bases = builtin_definitions()
    restrictions = Restrictions(store, bases, notices, ledger=ledger)
    engine = RuleEngine(
        store,
        CompiledRules(load_rules([rules], types, bases), types),
        Scores(store),
        payer_subjects=HolderSubjects(store, Registry(store)),
        effects=PolicyEffects(restrictions, notices),
        backlog=lambda: ledger.feed.queued_behind,
    )
    ledger.subscribe(engine.on_ledger_batch)
    return restrictions


class TestPolicyEffects:
    def test_a_rule_citing_a_court_order_is_refused_and_a_low_score_noticed(self, store: Store, tmp_path: Path) -> None:
        """A rule is no court: it may not cite a court order at all (issue 16); only the courts restrict under one."""
        court_rule = """
[[rule]]
id = "court.enforcement-hit"
title = "Enforcement of a judgment on a large refused payment"
basis = "civil-procedure-code/enforcement"
inputs = ["ledger.transfer"]
condition = "event.refused && event.amount >= 100000"
reason_code = "judgment_enforced"
reason_text = "A court order closes payments while a judgment is enforced."
effects = [{ kind = "restriction", domains = ["payments"], expires_after = "90d" }]
"""
        types, bases = builtin_definitions()
        with pytest.raises(InvalidInputError) as caught:
            load_rules([court_rule], types, bases)
        assert caught.value.field == "<text 0>:rule[0].basis" and "'court.enforcement-hit'" in str(caught.value)
        alice = _person_wallet(store, Registry(store), ALICE, "Alice Example")
        notices = Notices(store, bases)
        with _open(tmp_path / "ledger") as ledger:
            _fund(ledger)
            restrictions = _with_policy_effects(store, ledger, RULES, notices)
            ledger.create_transfers([Transfer(10, ALICE, BOB, 200_000, 1, 2)])
            assert ledger.feed.wait_idle(5)
            assert restrictions.of_subject(alice) == [] and restrictions.check(alice, "payments").allowed
        kinds = sorted((n.kind.value, n.rule_id) for n in notices.of_subject(alice))
        assert kinds == [("score", "credit.refused-for-funds")]

    def test_eligibility_denial_and_a_statutes_restriction(self, store: Store, tmp_path: Path) -> None:
        """A grant is stored with its rule, event and expiry; a denial is noticed; a statute's restriction waits."""
        rules = """
[[rule]]
id = "relief.fee-waiver"
title = "Fees waived after a refused payment"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.refused"
reason_code = "fee_waiver"
effects = [{ kind = "eligibility", benefit = "fee_waiver", expires_after = "30d" }]

[[rule]]
id = "credit.new-credit-denied"
title = "New credit denied after a refused payment"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.refused"
reason_code = "credit_denied"
reason_text = "New credit is refused for a month after a payment was refused for lack of funds."
effects = [{ kind = "denial", expires_after = "30d" }]

[[rule]]
id = "credit.restrict"
title = "Credit closed after a refused payment"
basis = "consumer-credit-act/12"
inputs = ["ledger.transfer"]
condition = "event.refused"
reason_code = "credit_closed"
reason_text = "Credit is closed while the refused payment is reviewed."
effects = [{ kind = "restriction", domains = ["credit"], expires_after = "30d" }]
"""
        alice = _person_wallet(store, Registry(store), ALICE, "Alice Example")
        notices = Notices(store, builtin_definitions()[1])
        with _open(tmp_path / "ledger") as ledger:
            _fund(ledger)
            restrictions = _with_policy_effects(store, ledger, rules, notices)
            ledger.create_transfers([Transfer(10, ALICE, BOB, 5000, 1, 2), Transfer(11, ALICE, BOB, 5, 1, 2)])
            assert ledger.feed.wait_idle(5) and ledger.feed.errors == 0
            seq = ledger.last_seq
        with store.transaction() as conn:
            grants = [g._asdict() for g in conn.execute(select(eligibility_grants))]
        assert [(g["subject"], g["benefit"], g["rule_id"], g["event_ref"]) for g in grants] == [
            (alice, "fee_waiver", "relief.fee-waiver", f"ledger:{seq}:0")  # the refused one only
        ]
        assert grants[0]["expires_at_ns"] - grants[0]["at_ns"] == 30 * 86_400 * 10**9
        assert "financial" in grants[0]["categories"].split(",")  # the grant is data of what it came from
        kinds = sorted((n.kind.value, n.rule_id, n.reason_code) for n in notices.of_subject(alice))
        assert kinds == [("denial", "credit.new-credit-denied", "credit_denied")]
        [proposed] = restrictions.of_subject(alice)
        assert proposed.status.value == "proposed" and proposed.rule_id == "credit.restrict"
        assert restrictions.check(alice, "credit").allowed  # a statute needs an officer's decision first


def test_failed_commit__effects_kept_and_retried(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit that fails drops nothing: the next batch's commit carries the earlier effects too."""
    registry = Registry(store)
    alice = _person_wallet(store, registry, ALICE, "Alice Example")
    with _open(tmp_path / "ledger") as ledger:
        _fund(ledger)
        engine = _engine(store, ledger)
        record = Scores.record_rows_in
        failures = [RuntimeError("database went away")]

        def flaky(conn: Connection, rows: Sequence[tuple[object, ...]]) -> None:
            if failures:
                raise failures.pop()
            record(conn, rows)

        monkeypatch.setattr(Scores, "record_rows_in", staticmethod(flaky))
        ledger.subscribe(engine.on_ledger_batch)
        ledger.create_transfers([Transfer(10, ALICE, BOB, 5000, 1, 2)])
        assert ledger.feed.wait_idle(5)
        assert ledger.feed.errors == 1 and Scores(store).contributions_of(alice) == []
        ledger.create_transfers([Transfer(11, ALICE, BOB, 5000, 1, 2)])
        assert ledger.feed.wait_idle(5)
        assert Scores(store).score(alice, "credit").value == -10
        assert Scores(store).cursor(LEDGER_SOURCE) == ledger.last_seq
