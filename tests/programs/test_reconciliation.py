"""Reconciliation: after any workload of redemptions, holds, returns and back-pay, the figures are the ledger's."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from tessera.errors import InvalidInputError, NotFoundError
from tessera.ledger import Account, AccountFlags, Transfer, TransferFlags
from tessera.money import AccountKind, ledger_unit
from tessera.programs import (
    CycleLine,
    StatementRow,
    day_span,
    entitlement_account_ids,
    funding_accounts,
    masked,
    to_csv,
)
from tessera.store import programme_cycles
from tests.programs.cycle_world import CYCLE_DATE_NS, MONEY, RESERVE, World, open_world
from tests.programs.redemption_sim import Redemption, Shop, Simulation, pick

MONTH_NS = 31 * 86_400 * 10**9
RICE = 2  # the rice quota's ledger, kg with 3 decimals
RICE_RESERVE = 900_002
WALLETS = 800_001  # the first of the co-paying persons' wallets
# A subsidised price: its quota's remainders can be returned (a cash entitlement is earmarked for its shops).
RICE_PROGRAMME = """
[[programme]]
id = "{id}"
name = "Adult rice ration"
basis = "social-protection-act/food"
unit = "person"
kind = "subsidised_price"
currency = "currency"
eligibility = "person.age >= 18"
schedule = "monthly"
valid_for = "60d"
over_budget = "refuse"
merchant_categories = [5411, 5499]

[[programme.quota]]
commodity = "rice"
ledger = "rice-quota"
amount = "5000 + 10 * person.age"
budget = 1_000_000_000_000
co_payment = 100
"""


def _register_rice(world: World, programme_id: str = "adult_rice") -> int:
    """The rice programme registered, its programme account funded from the rice reserve; that account."""
    services = world.services
    text = RICE_PROGRAMME.format(id=programme_id)
    programme = services.programmes.check(text)
    funding = funding_accounts(programme, {}, services.ledger)
    services.programmes.register(text, programme, funding, registered_by=world.admin.id)
    issue = Transfer(10**12 + zlib.crc32(programme_id.encode()), RICE_RESERVE, funding[RICE], 10**12, RICE, 1)
    assert services.ledger.create_transfers([issue]).all_ok
    return funding[RICE]


@dataclass
class Scene:
    """A programme with two disbursed cycles, three shops, and what the simulation knows each person has left."""

    world: World
    sim: Simulation
    shops: list[Shop]
    cycles: list[int]
    left: dict[tuple[str, int], int]  # (person, cycle) -> what may still be drawn
    wallets: dict[str, int]
    start_ns: int


def _disbursed(world: World, cycle_date_ns: int) -> int:
    cycles = world.services.cycles
    cycle = cycles.create("adult_rice", cycle_date_ns, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    cycles.approve(cycle.id, by=world.checker)
    cycles.disburse(cycle.id, by=world.checker)
    return cycle.id


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    world = open_world(tmp_path, persons=40)
    start = time.time_ns()
    rice = ledger_unit(RICE, "rice-quota", "kg", 3, "social-welfare", category="benefit")
    world.services.ledger_units.register(rice, requested_by="admin 1", approved_by="admin 2")
    reserve = Account(RICE_RESERVE, RICE, AccountKind.issuance, AccountFlags.credits_must_not_exceed_debits)
    assert world.services.ledger.create_accounts([reserve]).all_ok
    funding = _register_rice(world)
    cycle_ids = [_disbursed(world, CYCLE_DATE_NS), _disbursed(world, CYCLE_DATE_NS + MONTH_NS)]
    left: dict[tuple[str, int], int] = {}
    for cycle_id in cycle_ids:
        for r in world.services.cycles.results(cycle_id, limit=1000):
            if r.eligible:
                left[r.person, cycle_id] = r.amounts[0]
    sim = Simulation(world.services, "adult_rice", RICE, MONEY, funding, world.maker.id, time.time_ns())
    shops = [sim.open_shop(f"shop-{k}", 700_001 + 2 * k) for k in range(3)]
    payers = sorted({n for n, _ in left})[:5]
    wallets = {n: WALLETS + k for k, n in enumerate(payers)}
    ledger = world.services.ledger
    assert ledger.create_accounts(
        [Account(w, MONEY, AccountKind.wallet, AccountFlags.debits_must_not_exceed_credits) for w in wallets.values()]
    ).all_ok
    assert ledger.create_transfers(
        [Transfer(900 + k, RESERVE, w, 100_000, MONEY, 1) for k, w in enumerate(wallets.values())]
    ).all_ok
    yield Scene(world, sim, shops, cycle_ids, left, wallets, start)
    world.services.close()


def _workload(scene: Scene, rng: random.Random, steps: int) -> dict[tuple[str, int], int]:
    """Redemptions, holds posted partly or voided, returns, back-pay, refusals, at random; what is held, by cycle."""
    sim, left = scene.sim, scene.left
    holds: list[tuple[Redemption, Shop, list[tuple[int, int]], str]] = []
    held: dict[tuple[str, int], int] = defaultdict(int)
    people = sorted({n for n, _ in left})
    for _ in range(steps):
        number, shop = rng.choice(people), rng.choice(scene.shops)
        have = sum(v for (n, _), v in left.items() if n == number)
        roll = rng.random()
        if roll < 0.55 and have:  # a redemption, maybe with an expired remainder returned, maybe co-paid
            pieces = pick(left, number, rng.randint(1, min(have, 4000)))
            returns: list[tuple[int, int]] = []
            if rng.random() < 0.15:
                after = dict(left)
                for cycle_id, amount in pieces:
                    after[number, cycle_id] -= amount
                rest = have - sum(a for _, a in pieces)
                returns = [(c, max(1, a // 2)) for c, a in pick(after, number, rest)[:1]] if rest else []
            hold = rng.random() < 0.3
            co = None
            if not hold and number in scene.wallets and rng.random() < 0.5:
                co = (scene.wallets[number], rng.randint(1, 500), rng.choice(["wallet", "cash"]))
            taken = _taken(pieces, returns)
            done = sim.redeem(shop, number, pieces, hold=hold, returns=returns, co_payment=co)
            assert done.status == ("held" if hold else "completed")
            for cycle_id, amount in taken:
                left[number, cycle_id] -= amount
            if hold:
                holds.append((done, shop, pieces, number))
                for cycle_id, amount in pieces:
                    held[number, cycle_id] += amount
        elif roll < 0.75 and holds:  # a hold settled partly or whole, or released
            redemption, where, pieces, who = holds.pop(rng.randrange(len(holds)))
            for cycle_id, amount in pieces:
                held[who, cycle_id] -= amount
            if rng.random() < 0.6:
                fraction = rng.choice([0.25, 0.5, 1.0])
                paying = scene.wallets.get(who)
                sim.post(redemption, where, fraction, None if paying is None else (paying, rng.randint(1, 300)))
                for cycle_id, amount in pieces:
                    left[who, cycle_id] += amount - max(1, int(amount * fraction))
            else:
                sim.void(redemption, where)
                for cycle_id, amount in pieces:
                    left[who, cycle_id] += amount
        elif roll < 0.85 and have:  # an officer returns part of a remainder
            [(cycle_id, amount)] = pick(left, number, rng.randint(1, have))[:1]
            assert sim.adjust("return", number, cycle_id, amount)
            left[number, cycle_id] -= amount
        elif roll < 0.93:  # back-pay after a grievance, for a cycle or none
            cycle_id = rng.choice([*scene.cycles, 0])
            amount = rng.randint(1, 3000)
            assert sim.adjust("back_pay", number, cycle_id, amount)
            left[number, cycle_id] = left.get((number, cycle_id), 0) + amount
        elif roll < 0.97:  # an adjustment whose row was written but whose transfer never reached the ledger
            sim.adjust("back_pay", number, rng.choice(scene.cycles), 999, send=False)
        else:  # more than is left: the ledger refuses, the redemption is declined
            assert sim.redeem(shop, number, [(scene.cycles[0], have + 1)]).status == "declined"
    return held


def _taken(pieces: list[tuple[int, int]], returns: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [*pieces, *returns]


def _per_cycle(values: dict[tuple[str, int], int]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for (_, cycle_id), v in values.items():
        out[cycle_id] += v
    return dict(out)


def _minor(text: str, decimals: int) -> int:
    return int(Decimal(text) * 10**decimals)


class TestAgreesWithTheLedger:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_after_a_random_workload_every_figure_is_the_ledgers(self, scene: Scene, seed: int) -> None:
        """Entitlement balances, holds, the programme account and every till agree with the figures, cycle by cycle."""
        held = _workload(scene, random.Random(seed), 150)
        services = scene.world.services
        ledger, reconciliation = services.ledger, services.reconciliation
        found = reconciliation.programme("adult_rice")
        rows = [r for r in found.rows if r.ledger_id == RICE]
        assert {r.cycle_id for r in rows} <= {0, *scene.cycles} and set(scene.cycles) <= {r.cycle_id for r in rows}
        # Per cycle, what is outstanding and held is what the simulation left and holds.
        assert {r.cycle_id: r.outstanding for r in rows} == {
            c: v for c, v in _per_cycle(scene.left).items() if c in {r.cycle_id for r in rows}
        }
        assert {r.cycle_id: r.held for r in rows if r.held} == {c: v for c, v in _per_cycle(held).items() if v}
        assert all(r.issued == r.disbursed + r.back_pay for r in rows)
        # Per line, the entitlement accounts' balances are the figures.
        numbers = np.array(sorted({n for n, _ in scene.left}))
        accounts = ledger.lookup_accounts(entitlement_account_ids("adult_rice", RICE, numbers).tolist())
        assert len(accounts) == len(numbers)
        assert sum(a.available for a in accounts) == sum(r.outstanding for r in rows)
        assert sum(a.debits_pending for a in accounts) == sum(r.held for r in rows)
        assert sum(a.credits_posted for a in accounts) == sum(r.issued for r in rows)
        # The programme account paid out exactly what was issued.
        [line] = found.lines
        [funding] = ledger.lookup_accounts(list(line.funding_accounts))
        assert line.agrees and funding.debits_posted == line.issued == sum(r.issued for r in rows)
        # Each till took what its statement says was redeemed, or co-paid by wallet, and holds what is held.
        for shop in scene.shops:
            statement = reconciliation.outlet_statement(shop.outlet.id, (scene.start_ns, time.time_ns() + 1))
            rice, money = ledger.lookup_accounts([shop.tills[RICE], shop.tills[MONEY]])
            assert rice.credits_posted == sum(t.redeemed for t in statement.totals)
            assert rice.credits_pending == sum(t.held for t in statement.totals)
            assert money.credits_posted == sum(c.amount for c in statement.co_payments if c.method == "wallet")
            movements = {m.ledger_id: m for m in statement.accounts}
            for till in (rice, money):
                m = movements[till.ledger]
                assert (m.opening, m.credits, m.closing) == (0, till.credits_posted, till.balance)

    def test_the_csv_reads_back_to_the_same_figures(self, scene: Scene) -> None:
        """A programme's CSV and a statement's parse back, amount by amount, to the records they came from."""
        _workload(scene, random.Random(7), 80)
        reconciliation = scene.world.services.reconciliation
        rows = reconciliation.programme("adult_rice").rows
        text = reconciliation.to_csv(list(rows))
        parsed = list(csv.DictReader(io.StringIO(text)))
        assert text.splitlines()[0] == (
            "programme,cycle_id,cycle_date,expires_at,status,ledger,ledger_id,unit,disbursed,back_pay,issued,"
            "redeemed,returned,held,outstanding"
        )
        assert len(parsed) == len(rows)
        for row, back in zip(rows, parsed, strict=True):
            for name in ("disbursed", "back_pay", "issued", "redeemed", "returned", "held", "outstanding"):
                assert _minor(back[name], row.decimals) == getattr(row, name), name
            assert int(back["cycle_id"]) == row.cycle_id and back["unit"] == "kg"
        statement = reconciliation.outlet_statement(scene.shops[0].outlet.id, (scene.start_ns, time.time_ns() + 1))
        lines = list(csv.DictReader(io.StringIO(to_csv(statement.rows()))))
        drawn = sum(
            _minor(x["amount"], 3) for x in lines if x["kind"] == "draw" and x["status"] in ("completed", "posted")
        )
        assert drawn == sum(t.redeemed for t in statement.totals)
        assert {x["redemption_id"] for x in lines} == {e.redemption_id for e in statement.entries}


class TestFigures:
    def test_a_hold_is_held_until_posted_then_redeemed_as_settled(self, scene: Scene) -> None:
        """A hold of 1000 shows as held; posted for 400, 400 is redeemed and 600 is back in outstanding."""
        sim, shop = scene.sim, scene.shops[0]
        number, cycle_id = next(iter(scene.left))
        before = scene.world.services.reconciliation.cycle("adult_rice", cycle_id)[0]
        hold = sim.redeem(shop, number, [(cycle_id, 1000)], hold=True)
        during = scene.world.services.reconciliation.cycle("adult_rice", cycle_id)[0]
        assert (during.held, during.outstanding) == (1000, before.outstanding - 1000)
        sim.post(hold, shop, 0.4)
        after = scene.world.services.reconciliation.cycle("adult_rice", cycle_id)[0]
        assert (after.held, after.redeemed, after.outstanding) == (0, 400, before.outstanding - 400)

    def test_a_hold_the_ledger_no_longer_keeps_is_not_held(self, scene: Scene) -> None:
        """A hold released in the ledger (expired, or voided before its status was written) reserves nothing."""
        sim, shop = scene.sim, scene.shops[0]
        number, cycle_id = next(iter(scene.left))
        before = scene.world.services.reconciliation.cycle("adult_rice", cycle_id)[0]
        hold = sim.redeem(shop, number, [(cycle_id, 1000)], hold=True)
        [draw] = hold.draws
        release = Transfer(next(sim.ids), flags=TransferFlags.void_pending_transfer, pending_id=draw.id)
        assert scene.world.services.ledger.create_transfers([release]).all_ok
        after = scene.world.services.reconciliation.cycle("adult_rice", cycle_id)[0]
        assert (after.held, after.outstanding) == (0, before.outstanding)
        statement = scene.world.services.reconciliation.outlet_statement(shop.outlet.id, (sim.now_ns, sim.now_ns + 1))
        assert [(e.status, e.drawn) for e in statement.entries] == [("held", ())] and statement.totals == ()

    def test_a_cycle_still_disbursing_is_read_from_the_ledger(self, scene: Scene) -> None:
        """Mid-run (a crash), a cycle's disbursed figure is what the ledger holds of its transfers, not its totals."""
        services = scene.world.services
        cycle_id = scene.cycles[0]
        paid = services.cycles.get(cycle_id).totals[0].paid
        with services.store.transaction(write=True) as conn:
            [totals] = conn.execute(select(programme_cycles.c.totals).where(programme_cycles.c.id == cycle_id)).one()
            claimed = totals.replace(f'"paid": {paid}', f'"paid": {paid + 999}')  # a total the ledger never paid
            where = programme_cycles.c.id == cycle_id
            conn.execute(update(programme_cycles).where(where).values(status="disbursing", totals=claimed))
        [row] = services.reconciliation.cycle("adult_rice", cycle_id)
        assert services.cycles.get(cycle_id).totals[0].paid == paid + 999
        assert (row.status, row.disbursed) == ("disbursing", paid)

    def test_an_adjustment_the_ledger_never_saw_counts_for_nothing(self, scene: Scene) -> None:
        """A back-pay row written before a crash, its transfer never sent, issues nothing."""
        number, cycle_id = next(iter(scene.left))
        reconciliation = scene.world.services.reconciliation
        before = reconciliation.cycle("adult_rice", cycle_id)
        scene.sim.adjust("back_pay", number, cycle_id, 5000, send=False)
        assert reconciliation.cycle("adult_rice", cycle_id) == before

    def test_back_pay_naming_no_cycle_is_a_row_of_cycle_0(self, scene: Scene) -> None:
        """Back-pay that makes good no particular cycle is issued under cycle 0, undated."""
        number = next(iter(scene.left))[0]
        assert scene.sim.adjust("back_pay", number, 0, 250)
        [row] = [r for r in scene.world.services.reconciliation.programme("adult_rice").rows if r.cycle_id == 0]
        assert (row.back_pay, row.issued, row.outstanding, row.cycle_date_ns, row.status) == (250, 250, 250, None, "")

    def test_a_cycle_of_another_programme_or_none_is_not_found(self, scene: Scene) -> None:
        """A cycle is read only under its own programme; an unknown programme is not_found naming it."""
        _register_rice(scene.world, "other_rice")
        reconciliation = scene.world.services.reconciliation
        with pytest.raises(NotFoundError) as caught:
            reconciliation.cycle("other_rice", scene.cycles[0])
        assert caught.value.field == "cycle"
        with pytest.raises(NotFoundError) as caught:
            reconciliation.programme("no_such")
        assert caught.value.field == "programme"


class TestStatement:
    def test_a_statement_lists_the_days_redemptions_masked_and_totalled(self, scene: Scene) -> None:
        """Each redemption of the day: its id, the beneficiary's last three digits, what it drew, its status."""
        sim, shop = scene.sim, scene.shops[1]
        number, cycle_id = next(iter(scene.left))
        day_ns = day_span(_date(sim.now_ns))
        done = sim.redeem(shop, number, [(cycle_id, 700)], co_payment=(0, 150, "cash"))
        held = sim.redeem(shop, number, [(cycle_id, 300)], hold=True)
        statement = scene.world.services.reconciliation.outlet_statement(shop.outlet.id, _date(sim.now_ns))
        assert (statement.from_ns, statement.to_ns) == day_ns
        assert [(e.redemption_id, e.status) for e in statement.entries] == [(done.id, "completed"), (held.id, "held")]
        first = statement.entries[0]
        assert first.beneficiary == masked(number) == "*" * 9 + number[-3:] and number not in repr(statement)
        assert [d.amount for d in first.drawn] == [700] and first.co_payment is not None
        assert (first.co_payment.amount, first.co_payment_method) == (150, "cash")
        assert [(t.redeemed, t.held) for t in statement.totals] == [(700, 300)]
        assert [(c.method, c.amount) for c in statement.co_payments] == [("cash", 150)]
        kinds = [(r.kind, r.amount) for r in statement.rows()]
        assert kinds == [("draw", 700), ("co_payment", 150), ("held", 300)]

    def test_a_day_with_nothing_is_an_empty_statement_with_balances(self, scene: Scene) -> None:
        """A day before anything happened lists nothing, and the till opens and closes at 0."""
        statement = scene.world.services.reconciliation.outlet_statement(scene.shops[0].outlet.id, (10**18, 10**18 + 1))
        assert statement.entries == () and statement.totals == ()
        assert [(a.opening, a.closing) for a in statement.accounts] == [(0, 0), (0, 0)]
        assert to_csv(statement.rows(), StatementRow).startswith("at,redemption_id,programme,beneficiary,status,")

    def test_a_bad_span_or_outlet_is_refused_naming_it(self, scene: Scene) -> None:
        """A span backwards or over 31 days is refused naming date; an unknown outlet names outlet."""
        reconciliation = scene.world.services.reconciliation
        outlet_id = scene.shops[0].outlet.id
        for span in [(10, 5), (0, 32 * 86_400 * 10**9)]:
            with pytest.raises(InvalidInputError) as caught:
                reconciliation.outlet_statement(outlet_id, span)
            assert caught.value.field == "date"
        with pytest.raises(NotFoundError) as refused:
            reconciliation.outlet_statement("o_0000000000000000", (0, 1))
        assert refused.value.field == "outlet"


def test_csv_of_no_rows_is_its_header() -> None:
    """An empty report still names its columns; rows of two kinds are refused."""
    assert to_csv([], CycleLine).splitlines() == [
        "programme,cycle_id,cycle_date,expires_at,status,ledger,ledger_id,unit,disbursed,back_pay,issued,"
        "redeemed,returned,held,outstanding"
    ]
    with pytest.raises(InvalidInputError):
        to_csv([])


def _date(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).date()
