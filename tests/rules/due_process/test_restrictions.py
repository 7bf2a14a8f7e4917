"""Restrictions with due process: scoped to their basis, decided by a second person, noticed, frozen, appealable.

Run on SQLite and on a throwaway PostgreSQL database (skipped with the reason where there
is no PostgreSQL), with a real ledger on disk for the freezes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from tessera.auth import Principal, Role
from tessera.errors import (
    BatchSizeError,
    ConflictError,
    EnforcementClosedError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from tessera.identity.registry import Person, Registry
from tessera.ledger import Account, AccountFlags, Ledger
from tessera.rules import check
from tessera.rules.basis import CourtOrder, Domain, LegalBases, legal_basis
from tessera.rules.due_process.appeals import Appeals, AppealStatus
from tessera.rules.due_process.enforcement import EnforcementIndex, install_index, uninstall_index
from tessera.rules.due_process.notices import NoticeDraft, NoticeKind, Notices
from tessera.rules.due_process.restriction_records import AppealState, Proposal, Restriction, RestrictionStatus
from tessera.rules.due_process.restrictions import Restrictions
from tessera.rules.due_process.sweeper import Sweeper
from tessera.store import Store
from tessera.store.tables import legal_bases as legal_bases_table
from tessera.store.tables import notices as notices_table
from tessera.store.tables import principals as principals_table
from tessera.store.tables import restrictions as restrictions_table

T0 = 1_800_000_000 * 10**9
DAY = 86_400 * 10**9
OFFICER_A, OFFICER_B, OFFICER_C = "p_aaaaaaaaaaaaaaaa", "p_bbbbbbbbbbbbbbbb", "p_cccccccccccccccc"  # tax office
JUDGE, JUDGE_2 = "p_dddddddddddddddd", "p_eeeeeeeeeeeeeeee"  # officers of the courts
FIU, FIU_2 = "p_ffffffffffffffff", "p_fffffffffffffff2"  # the financial intelligence unit: sanctions listings
BANKER = "p_0000000000000001"  # the central bank: no basis here names it
AGENCIES = {
    OFFICER_A: "tax-office",
    OFFICER_B: "tax-office",
    OFFICER_C: "tax-office",
    JUDGE: "courts",
    JUDGE_2: "courts",
    FIU: "financial-intelligence-unit",
    FIU_2: "financial-intelligence-unit",
    BANKER: "central-bank",
}
BASES = [
    legal_basis(
        "tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["payments", "licensing"], exercised_by=["tax-office"]
    ),
    legal_basis(
        "court/118", "Civil Procedure Act", "s. 7", "court_order", ["payments", "travel"], exercised_by=["courts"]
    ),
    legal_basis(
        "un-1267",
        "UN Security Council Resolution 1267",
        "para. 4(b)",
        "sanctions_listing",
        ["payments"],
        exercised_by=["financial-intelligence-unit"],
    ),
    legal_basis("scores-act/3", "Credit Reporting Act", "s. 3", "statute", []),
]
ORDER = CourtOrder("High Court of Justice", "HC/2026/118", dt.date(2027, 1, 10))  # T0 is 2027-01-15

# Refusals happen before the database is touched: one backend shows it, and keeps the suite quick.
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


class Clock:
    """A settable clock that ticks a microsecond a reading: tests move time instead of waiting for it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


@dataclass
class World:
    store: Store
    ledger: Ledger
    clock: Clock
    bases: LegalBases
    notices: Notices
    restrictions: Restrictions
    appeals: Appeals
    ada: Person
    ben: Person

    def reopen(self) -> Restrictions:
        """A second service over the same store: what a restart would load."""
        return Restrictions(self.store, LegalBases(), Notices(self.store, LegalBases()), clock=self.clock)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:
    clock = Clock()
    registry = Registry(store)
    _officers(store)
    ada = registry.create_person({"name": "Ada Obi", "birth_date": "1980-02-01", "sex": "F"}, station=OFFICER_A)
    ben = registry.create_person({"name": "Ben Ito", "birth_date": "1975-07-09", "sex": "M"}, station=OFFICER_A)
    store.set_account_holders([(10, ada.principal_id), (11, ada.principal_id), (20, ben.principal_id)])
    with Ledger.open(tmp_path / "ledger", sync=False) as ledger:
        wallet = AccountFlags.debits_must_not_exceed_credits
        assert ledger.create_accounts([Account(i, 1, 2, flags=wallet) for i in (10, 11, 20)]).all_ok
        bases = LegalBases()
        notices = Notices(store, bases, clock)
        restrictions = Restrictions(store, bases, notices, ledger=ledger, clock=clock)
        restrictions.register_bases(BASES)
        yield World(store, ledger, clock, bases, notices, restrictions, Appeals(store, restrictions, clock), ada, ben)


def _officers(store: Store) -> None:
    """The officers above, each acting for its agency (as a key's principal would)."""
    rows = [
        {"id": i, "name": f"officer {i}", "role": "officer", "agency": a, "created_at_ns": T0, "disabled": False}
        for i, a in AGENCIES.items()
    ]
    with store.transaction(write=True) as conn:
        conn.execute(insert(principals_table), rows)


def _propose(w: World, **changes: object) -> Restriction:
    terms: dict[str, object] = {
        "subject": w.ada.number,
        "domains": ["payments"],
        "basis_id": "tax-act/12",
        "authority": "Tax Office",
        "reason_code": "tax.unpaid",
        "reason_text": "Income tax for 2025 unpaid after three reminders",
        "end_ns": T0 + 30 * DAY,
        "proposer": OFFICER_A,
    }
    terms.update(changes)
    subject, domains, basis_id = terms.pop("subject"), terms.pop("domains"), terms.pop("basis_id")
    return w.restrictions.propose(subject, domains, basis_id, **terms)  # type: ignore[arg-type]


def _ordered(w: World, **changes: object) -> Restriction:
    """A court's officer exercising the court order, with its reference: in force at once."""
    terms: dict[str, object] = {"basis_id": "court/118", "authority": "High Court", "proposer": JUDGE}
    terms["court_order"] = ORDER
    return _propose(w, **(terms | changes))


def _listed(w: World, **changes: object) -> Restriction:
    """The financial intelligence unit exercising a listing: in force at once."""
    return _propose(w, **({"basis_id": "un-1267", "proposer": FIU} | changes))


def _active(w: World, **changes: object) -> Restriction:
    proposed = _propose(w, **changes)
    return w.restrictions.decide(proposed.id, "activate", officer=OFFICER_B, reason="reminders verified")


def _frozen(w: World, account_id: int) -> bool:
    return bool(w.ledger.lookup_accounts([account_id])[0].flags & AccountFlags.frozen)


def _count(w: World, table: object) -> int:
    with w.store.transaction() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


@SQLITE_ONLY
class TestScope:
    def test_a_domain_the_basis_does_not_name__refused_at_creation_and_nothing_written(self, world: World) -> None:
        """The tax act allows payments and licensing, never travel."""
        with pytest.raises(InvalidInputError) as caught:
            _propose(world, domains=["payments", "travel"])
        assert caught.value.field == "domains[1]"
        assert _count(world, restrictions_table) == 0

    def test_a_domain_the_basis_does_not_name__refused_at_amendment(self, world: World) -> None:
        """Neither a proposal nor an active restriction can be amended into travel."""
        proposed = _propose(world)
        with pytest.raises(InvalidInputError):
            world.restrictions.amend(proposed.id, officer=OFFICER_B, reason="widen", domains=["payments", "travel"])
        active = world.restrictions.decide(proposed.id, "activate", officer=OFFICER_B, reason="ok")
        with pytest.raises(InvalidInputError):
            world.restrictions.amend(active.id, officer=OFFICER_B, reason="widen", domains=["travel"])
        assert world.restrictions.get(active.id).domains == {Domain.payments}

    def test_an_unknown_domain__invalid_input(self, world: World) -> None:
        """A domain no law knows (voting) is refused, naming the position in the list it came from."""
        with pytest.raises(InvalidInputError) as caught:
            _propose(world, domains=["voting"])
        assert caught.value.field == "domains[0]"

    def test_an_active_restriction_is_never_widened(self, world: World) -> None:
        """Licensing is in the basis, but adding it to an active restriction is a new decision."""
        active = _active(world)
        with pytest.raises(ConflictError):
            world.restrictions.amend(active.id, officer=OFFICER_B, reason="x", domains=["payments", "licensing"])
        with pytest.raises(ConflictError):
            world.restrictions.amend(active.id, officer=OFFICER_B, reason="x", end_ns=T0 + 90 * DAY)

    def test_a_proposal_may_be_amended_within_its_basis(self, world: World) -> None:
        """Before a decision, a proposal's domains may change within its basis, and the change stays in its history."""
        proposed = _propose(world)
        amended = world.restrictions.amend(
            proposed.id, officer=OFFICER_B, reason="also licences", domains=["licensing"]
        )
        assert amended.domains == {Domain.licensing}
        assert [e.action for e in world.restrictions.history(proposed.id)] == ["proposed", "amended"]


@SQLITE_ONLY
class TestBadInput:
    @pytest.mark.parametrize("basis_id", ["", None])
    def test_no_basis__invalid_input(self, world: World, basis_id: object) -> None:
        """A restriction must cite a legal basis: an empty or missing one is refused on the basis_id field."""
        with pytest.raises(InvalidInputError) as caught:
            _propose(world, basis_id=basis_id)
        assert caught.value.field == "basis_id"

    def test_an_unregistered_basis__invalid_input(self, world: World) -> None:
        """Citing a basis that was never registered is refused, so no law can be made up on the spot."""
        with pytest.raises(InvalidInputError, match="no legal basis"):
            _propose(world, basis_id="made-up/1")

    def test_open_ended_without_a_court_order__refused(self, world: World) -> None:
        """A restriction with no end needs a court order; under a statute it is refused on end_ns."""
        with pytest.raises(InvalidInputError) as caught:
            _propose(world, end_ns=None)
        assert caught.value.field == "end_ns" and "court order" in str(caught.value)

    def test_open_ended_under_a_court_order__allowed(self, world: World) -> None:
        """A court order may close a domain with no end date, and it is in force at once."""
        made = _ordered(world, domains=["travel"], end_ns=None)
        assert made.status is RestrictionStatus.active and made.end_ns is None

    @pytest.mark.parametrize("field", ["reason_text", "reason_code", "authority"])
    def test_no_reasons__refused(self, world: World, field: str) -> None:
        """An adverse decision without reasons cannot be created."""
        with pytest.raises(InvalidInputError) as caught:
            _propose(world, **{field: "  "})
        assert caught.value.field == field

    def test_an_end_in_the_past__refused(self, world: World) -> None:
        """A restriction that would end before it starts is refused."""
        with pytest.raises(InvalidInputError):
            _propose(world, end_ns=T0 - 1)

    @pytest.mark.parametrize("subject", ["123456789012", "org:Bad Name", "p_aaaaaaaaaaaaaaaa"])
    def test_a_malformed_subject__invalid_input(self, world: World, subject: str) -> None:
        """A subject that is neither a valid person number nor a well-formed organisation is refused."""
        with pytest.raises(InvalidInputError):
            _propose(world, subject=subject)

    def test_an_unregistered_person__not_found(self, world: World) -> None:
        """A well-formed number that belongs to nobody is not found, so no one is restricted by a typo."""
        number = "100000000004"  # a valid check digit, but nobody's number
        assert number not in (world.ada.number, world.ben.number)
        with pytest.raises(NotFoundError):
            _propose(world, subject=number)

    def test_a_batch_is_all_or_nothing(self, world: World) -> None:
        """One bad proposal refuses the batch, naming its index; nothing is written."""
        good = Proposal(world.ada.number, ["payments"], "tax-act/12", "Tax", "tax.unpaid", "why", T0 + DAY, OFFICER_A)
        bad = Proposal(world.ben.number, ["travel"], "tax-act/12", "Tax", "tax.unpaid", "why", T0 + DAY, OFFICER_A)
        with pytest.raises(InvalidInputError) as caught:
            world.restrictions.propose_many([good, bad])
        assert caught.value.field == "proposals[1].domains[0]"
        assert _count(world, restrictions_table) == 0
        with pytest.raises(BatchSizeError):
            world.restrictions.propose_many([])


class TestDueProcess:
    def test_a_proposal_does_not_close_anything_until_decided(self, world: World) -> None:
        """A proposal alone closes no domain, freezes no account and sends no notice."""
        proposed = _propose(world)
        assert proposed.status is RestrictionStatus.proposed
        assert world.restrictions.check(world.ada.number, "payments").allowed
        assert not _frozen(world, 10)
        assert world.notices.of_subject(world.ada.number) == []

    def test_the_proposer_cannot_decide_their_own_proposal(self, world: World) -> None:
        """A restriction needs a second officer; the refusal changes nothing."""
        proposed = _propose(world)
        with pytest.raises(ForbiddenError):
            world.restrictions.decide(proposed.id, "activate", officer=OFFICER_A, reason="me again")
        assert world.restrictions.get(proposed.id).status is RestrictionStatus.proposed

    def test_a_decision_needs_a_written_reason(self, world: World) -> None:
        """Activating without a written reason is refused: every decision must be explainable."""
        proposed = _propose(world)
        with pytest.raises(InvalidInputError):
            world.restrictions.decide(proposed.id, "activate", officer=OFFICER_B, reason="")

    def test_a_second_officer_activates__denied_with_ids_and_reasons(self, world: World) -> None:
        """Once a second officer activates it, checks on that person and domain are denied with the id and reasons."""
        active = _active(world)
        decision = world.restrictions.check(world.ada.number, "payments")
        assert not decision.allowed
        assert decision.restriction_ids == (active.id,)
        assert decision.reasons == ("tax.unpaid: Income tax for 2025 unpaid after three reminders",)
        assert world.restrictions.check(world.ada.number, "licensing").allowed  # not closed, though allowed
        assert world.restrictions.check(world.ben.number, "payments").allowed
        assert active.start_ns is not None and T0 < active.start_ns < T0 + DAY
        assert active.decided_by == OFFICER_B

    def test_every_activation_writes_a_notice_with_reasons_basis_domains_end_and_appeal(self, world: World) -> None:
        """The person is told at activation: reasons, the cited law, the domains, the end and how to appeal."""
        active = _active(world)
        (notice,) = world.notices.of_subject(world.ada.number)
        assert notice.kind is NoticeKind.restriction and notice.reference == active.id
        assert "Income tax for 2025 unpaid" in notice.reason_text and "reminders verified" in notice.reason_text
        assert notice.basis_cite == "Tax Act 2024, s. 12(3)"
        assert notice.domains == {Domain.payments}
        assert notice.expires_at_ns == T0 + 30 * DAY
        assert active.id in notice.appeal and "/v1/me/appeals" in notice.appeal

    def test_a_rejection_closes_nothing_and_cannot_be_decided_again(self, world: World) -> None:
        """A rejected proposal closes nothing and cannot be activated on a second try."""
        proposed = _propose(world)
        world.restrictions.decide(proposed.id, "reject", officer=OFFICER_B, reason="reminders never sent")
        assert world.restrictions.check(world.ada.number, "payments").allowed
        with pytest.raises(ConflictError):
            world.restrictions.decide(proposed.id, "activate", officer=OFFICER_C, reason="second try")

    @pytest.mark.parametrize(
        ("terms", "domains"),
        [({"basis_id": "court/118", "proposer": JUDGE, "court_order": ORDER}, ["travel"]), ({}, ["payments"])],
        ids=["court", "listing"],
    )
    def test_a_self_executing_basis_activates_at_once(
        self, world: World, terms: dict[str, object], domains: list[str]
    ) -> None:
        """Exercised by its agency, a court order or a listing needs no second officer; the notice still goes out."""
        made = _listed(world, domains=domains, **terms)
        assert made.status is RestrictionStatus.active
        assert not world.restrictions.check(world.ada.number, domains[0]).allowed
        assert [n.reference for n in world.notices.of_subject(world.ada.number)] == [made.id]

    def test_a_rule_proposes_with_its_rule_id_and_event(self, world: World) -> None:
        """The rule engine's call: the proposer is the rule, so any officer of the basis's agency may decide it."""
        made = world.restrictions.propose(
            world.ada.number,
            ["payments"],
            "tax-act/12",
            authority="Tax Office",
            reason_code="tax.filed_late",
            reason_text="Three late filings in a year",
            end_ns=T0 + DAY,
            rule_id="tax.late-filer",
            event_ref="tax.filed_late/2026/77",
        )
        assert made.proposed_by == "rule:tax.late-filer" and made.event_ref == "tax.filed_late/2026/77"
        world.restrictions.decide(made.id, "activate", officer=OFFICER_A, reason="checked the filings")
        (notice,) = world.notices.of_subject(world.ada.number)
        assert notice.rule_id == "tax.late-filer"

    def test_a_restart_loads_the_restrictions_in_force(self, world: World) -> None:
        """A new service over the same store enforces what was in force, with its bases."""
        active = _active(world)
        again = world.reopen()
        assert again.check(world.ada.number, "payments").restriction_ids == (active.id,)
        assert "tax-act/12" in again.bases


class TestWhoExercises:
    """Only an agency a basis names exercises it (issue 15); anyone else proposes and that agency confirms."""

    def test_a_central_bank_officer_entering_a_court_order__only_proposed_until_the_courts_confirm(
        self, world: World
    ) -> None:
        """Before: any officer's court order closed payments at once. Now it waits for an officer of the courts."""
        proposed = _ordered(world, proposer=BANKER, domains=["payments"])
        assert proposed.status is RestrictionStatus.proposed and proposed.court_order == ORDER
        assert world.restrictions.check(world.ada.number, "payments").allowed and not _frozen(world, 10)
        assert world.notices.of_subject(world.ada.number) == []
        for outsider in (OFFICER_B, BANKER, "p_0000000000000009"):  # another agency, the proposer, no principal
            with pytest.raises(ForbiddenError):
                world.restrictions.decide(proposed.id, "activate", officer=outsider, reason="looks right")
        active = world.restrictions.decide(proposed.id, "activate", officer=JUDGE, reason="order HC/2026/118 seen")
        assert active.status is RestrictionStatus.active and active.decided_by == JUDGE
        assert not world.restrictions.check(world.ada.number, "payments").allowed and _frozen(world, 10)
        (notice,) = world.notices.of_subject(world.ada.number)
        assert ORDER.cite() in notice.reason_text

    def test_a_courts_officer_without_the_orders_reference__refused_naming_the_field(self, world: World) -> None:
        """A court's officer exercises an order only with its reference; free-text authority does not do."""
        with pytest.raises(InvalidInputError) as caught:
            _ordered(world, court_order=None)
        assert caught.value.field == "court_order" and "case number" in str(caught.value)
        assert _count(world, restrictions_table) == 0

    def test_a_rules_court_order_waits_for_a_court_which_gives_the_reference(self, world: World) -> None:
        """A rule is no court: its proposal waits; the confirming officer supplies the order, or is refused."""
        made = _propose(world, basis_id="court/118", proposer=None, rule_id="court.enforcement")
        assert made.status is RestrictionStatus.proposed and made.court_order is None
        with pytest.raises(InvalidInputError) as caught:
            world.restrictions.decide(made.id, "activate", officer=JUDGE, reason="order seen")
        assert caught.value.field == "court_order"
        active = world.restrictions.decide(made.id, "activate", officer=JUDGE, reason="order seen", court_order=ORDER)
        assert active.court_order == ORDER and world.restrictions.get(made.id).court_order == ORDER
        (activated,) = [e for e in world.restrictions.history(made.id) if e.action == "activated"]
        assert activated.detail["court_order"]["case_number"] == "HC/2026/118"

    def test_a_reference_other_than_the_proposals__conflict(self, world: World) -> None:
        """The court cannot confirm a proposal under another case's order: conflict, and it stays proposed."""
        proposed = _ordered(world, proposer=BANKER)
        other = CourtOrder(ORDER.court, "HC/2026/119", ORDER.issued_on)
        with pytest.raises(ConflictError) as caught:
            world.restrictions.decide(proposed.id, "activate", officer=JUDGE, reason="r", court_order=other)
        assert caught.value.field == "court_order"
        assert world.restrictions.get(proposed.id).status is RestrictionStatus.proposed

    @pytest.mark.parametrize(
        ("order", "field"),
        [
            (CourtOrder(" ", "HC/1", dt.date(2027, 1, 1)), "court_order.court"),
            (CourtOrder("C" * 121, "HC/1", dt.date(2027, 1, 1)), "court_order.court"),
            (CourtOrder("High\u200bCourt", "HC/1", dt.date(2027, 1, 1)), "court_order.court"),
            (CourtOrder("High Court", "", dt.date(2027, 1, 1)), "court_order.case_number"),
            (CourtOrder("High Court", "HC/1; DROP", dt.date(2027, 1, 1)), "court_order.case_number"),
            (CourtOrder("High Court", "1" * 65, dt.date(2027, 1, 1)), "court_order.case_number"),
            (CourtOrder("High Court", "HC/1", dt.date(2027, 2, 1)), "court_order.issued_on"),  # after today
            (CourtOrder("High Court", "HC/1", dt.date(1899, 12, 31)), "court_order.issued_on"),
            (CourtOrder("High Court", "HC/1", "2027-02-30"), "court_order.issued_on"),  # type: ignore[arg-type]
        ],
    )
    def test_a_malformed_reference__refused_naming_its_part(self, world: World, order: CourtOrder, field: str) -> None:
        """A court order with a blank, overlong, hidden-character or future reference is refused on that part."""
        with pytest.raises(InvalidInputError) as caught:
            _ordered(world, court_order=order)
        assert caught.value.field == field
        assert _count(world, restrictions_table) == 0

    def test_a_court_order_reference_under_a_statute__refused(self, world: World) -> None:
        """A court order reference cited under a statute is refused: only a court-order basis takes one."""
        with pytest.raises(InvalidInputError) as caught:
            _propose(world, court_order=ORDER)
        assert caught.value.field == "court_order"

    def test_a_listing_from_another_agency__proposed_and_the_unit_confirms(self, world: World) -> None:
        """A listing proposed by a tax officer waits; only the financial intelligence unit may activate it."""
        proposed = _listed(world, proposer=OFFICER_A)
        assert proposed.status is RestrictionStatus.proposed
        with pytest.raises(ForbiddenError):
            world.restrictions.decide(proposed.id, "activate", officer=OFFICER_B, reason="listed")
        assert world.restrictions.decide(proposed.id, "activate", officer=FIU, reason="listed").decided_by == FIU

    def test_a_statute_is_decided_by_its_agency_only(self, world: World) -> None:
        """Reject too: the tax act's agency decides its proposals, the central bank does not."""
        proposed = _propose(world)
        for decision in ("activate", "reject"):
            with pytest.raises(ForbiddenError, match="only an officer of tax-office"):
                world.restrictions.decide(proposed.id, decision, officer=BANKER, reason="r")
        assert world.restrictions.get(proposed.id).status is RestrictionStatus.proposed

    def test_amending_and_lifting_belong_to_the_bases_agency(self, world: World) -> None:
        """A tax officer neither narrows nor lifts a court's order; another officer of the courts does."""
        active = _ordered(world, domains=["payments", "travel"])
        with pytest.raises(ForbiddenError):
            world.restrictions.amend(active.id, officer=OFFICER_C, reason="x", domains=["travel"])
        with pytest.raises(ForbiddenError):
            world.restrictions.lift(active.id, officer=BANKER, reason="x")
        assert not world.restrictions.check(world.ada.number, "payments").allowed and _frozen(world, 10)
        world.restrictions.amend(active.id, officer=JUDGE_2, reason="order varied", domains=["travel"])
        assert world.restrictions.lift(active.id, officer=JUDGE_2, reason="discharged").ended_by == JUDGE_2

    def test_a_disabled_officer_exercises_nothing(self, world: World) -> None:
        """A disabled judge's order is only proposed, never in force at once."""
        with world.store.transaction(write=True) as conn:
            conn.execute(principals_table.update().where(principals_table.c.id == JUDGE).values(disabled=True))
        assert _ordered(world).status is RestrictionStatus.proposed

    def test_a_restart_loads_the_order_and_the_agencies(self, world: World) -> None:
        """After a restart the court order and the agencies exercising each basis are still on record."""
        active = _ordered(world)
        again = world.reopen()
        assert again.get(active.id).court_order == ORDER
        assert again.bases.get("court/118").exercised_by == {"courts"}


@SQLITE_ONLY
class TestBasesOnRecord:
    def test_a_basis_that_closes_domains_names_its_agencies(self, world: World) -> None:
        """A basis that closes domains but names no agency to exercise it cannot be registered."""
        bare = legal_basis("decree/1", "Decree", "art. 1", "regulation", ["travel"])
        with pytest.raises(InvalidInputError) as caught:
            world.restrictions.register_bases([bare])
        assert caught.value.field == "basis.exercised_by"
        assert "decree/1" not in world.bases

    def test_an_agency_not_in_the_register__not_found_and_nothing_registered(self, world: World) -> None:
        """A spelling is not an agency: "the courts" names no one, so the basis would bind no one."""
        basis = legal_basis("decree/2", "Decree", "art. 2", "court_order", ["travel"], exercised_by=["the courts"])
        with pytest.raises(NotFoundError) as caught:
            world.restrictions.register_bases([basis])
        assert caught.value.field == "basis.exercised_by" and "the courts" in str(caught.value)
        assert "decree/2" not in world.bases and "decree/2" not in world.reopen().bases

    def test_a_basis_recorded_before_agencies__no_one_exercises_it_until_registered_with_them(
        self, world: World
    ) -> None:
        """A record from before migration 0013 names none: proposals wait; the same terms with agencies fill it in."""
        old = {"id": "old-act/1", "instrument": "Old Act", "article": "s. 1", "kind": "statute"}
        with world.store.transaction(write=True) as conn:
            conn.execute(insert(legal_bases_table).values(domains="travel", registered_at_ns=T0, **old))
        bases = LegalBases()
        again = Restrictions(world.store, bases, Notices(world.store, bases), clock=world.clock)
        assert again.bases.get("old-act/1").exercised_by == frozenset()
        proposed = again.propose(
            world.ada.number, ["travel"], "old-act/1", authority="Ministry", reason_code="x", reason_text="y",
            end_ns=T0 + DAY, proposer=OFFICER_A,
        )  # fmt: skip
        with pytest.raises(ForbiddenError, match="only an officer of no agency"):
            again.decide(proposed.id, "activate", officer=OFFICER_B, reason="r")
        terms = ("old-act/1", "Old Act", "s. 1", "statute", ["travel"])
        again.register_bases([legal_basis(*terms, exercised_by=["tax-office"])])
        with pytest.raises(ConflictError):
            again.register_bases([legal_basis(*terms, exercised_by=["courts"])])
        assert world.reopen().bases.get("old-act/1").exercised_by == {"tax-office"}
        assert again.decide(proposed.id, "activate", officer=OFFICER_B, reason="r").status is RestrictionStatus.active


class TestLedger:
    def test_a_payments_restriction_freezes_every_account_and_lifting_unfreezes(self, world: World) -> None:
        """A payments restriction freezes all the person's accounts (with its id), and lifting it unfreezes them."""
        active = _active(world)
        assert _frozen(world, 10) and _frozen(world, 11) and not _frozen(world, 20)
        assert world.ledger.lookup_account_orders(10)[-1].reference == active.id
        world.restrictions.lift(active.id, officer=OFFICER_C, reason="paid in full")
        assert not _frozen(world, 10) and not _frozen(world, 11)
        assert world.restrictions.check(world.ada.number, "payments").allowed

    def test_the_freeze_stays_while_another_payments_restriction_is_in_force(self, world: World) -> None:
        """Lifting one payments restriction keeps the freeze while another is still in force."""
        first = _active(world)
        _listed(world)
        world.restrictions.lift(first.id, officer=OFFICER_C, reason="paid")
        assert _frozen(world, 10)

    def test_narrowing_payments_away_unfreezes(self, world: World) -> None:
        """Amending payments out unfreezes the accounts, keeps the rest closed and tells the person."""
        active = _active(world, domains=["payments", "licensing"])
        world.restrictions.amend(active.id, officer=OFFICER_C, reason="payments settled", domains=["licensing"])
        assert not _frozen(world, 10)
        assert not world.restrictions.check(world.ada.number, "licensing").allowed
        kinds = [n.kind for n in world.notices.of_subject(world.ada.number)]
        assert kinds == [NoticeKind.restriction_changed, NoticeKind.restriction]

    def test_reconcile_freezes_again_a_lost_freeze(self, world: World) -> None:
        """A crash between commit and ledger, or a wallet opened since: the open service freezes it."""
        _active(world)
        world.ledger.unfreeze_accounts([10], reference="simulated loss")
        assert world.restrictions.reconcile_freezes() == 1
        assert _frozen(world, 10)


def _merchants(w: World, accounts: dict[int, str]) -> dict[int, Principal]:
    """A merchant principal per account, acting for the organisation given ("" for none), with the account open."""
    holders = {}
    for account_id, organisation in accounts.items():
        holders[account_id] = w.store.create_principal(f"till {account_id}", Role.merchant, organisation=organisation)
    w.store.set_account_holders([(i, p.id) for i, p in holders.items()])
    wallet = AccountFlags.debits_must_not_exceed_credits
    assert w.ledger.create_accounts([Account(i, 1, 2, flags=wallet) for i in accounts]).all_ok
    return holders


class TestOrganisationLedger:
    """An organisation's accounts are those its merchants hold; a payments restriction on it freezes them all."""

    def test_a_payments_restriction_freezes_the_organisations_accounts_only(self, world: World) -> None:
        """An organisation's restriction freezes its merchants' accounts and no one else's, until lifted."""
        _merchants(world, {30: "org:acme-foods", 31: "org:acme-foods", 40: "org:other", 41: ""})
        active = _ordered(world, subject="org:acme-foods")  # a court order: in force at once
        assert [_frozen(world, i) for i in (30, 31, 40, 41, 10)] == [True, True, False, False, False]
        assert world.ledger.lookup_account_orders(30)[-1].reference == active.id
        world.restrictions.lift(active.id, officer=JUDGE_2, reason="order discharged")
        assert not _frozen(world, 30) and not _frozen(world, 31)

    def test_a_merchant_acting_for_no_organisation_is_org_and_its_own_id(self, world: World) -> None:
        """As screening names a counterparty that is no person: a confirmed hit on it must reach its wallet."""
        merchants = _merchants(world, {41: "", 42: "org:acme-foods"})
        _listed(world, subject="org:" + merchants[41].id)
        _listed(world, subject="org:" + merchants[42].id)  # acts for acme: not its own
        assert _frozen(world, 41) and not _frozen(world, 42)

    def test_a_wallet_opened_for_a_restricted_organisation_is_frozen_as_it_opens(self, world: World) -> None:
        """A wallet opened for a restricted organisation is frozen as it opens, so it cannot dodge the order."""
        (merchant,) = _merchants(world, {30: "org:acme-foods"}).values()
        active = _ordered(world, subject="org:acme-foods")
        holders = [(32, merchant.id), (21, world.ben.principal_id)]
        world.store.set_account_holders(holders)
        accounts = [Account(32, 1, 2), Account(21, 1, 2)]
        opened = world.restrictions.freezes.open_accounts(accounts, [h for _, h in holders])
        assert opened.all_ok
        assert _frozen(world, 32) and not _frozen(world, 21)
        assert world.ledger.lookup_account_orders(32)[-1].reference == active.id

    def test_a_wallet_opened_for_a_restricted_person_is_frozen_as_it_opens(self, world: World) -> None:
        """A wallet opened for a restricted person is frozen as it opens, citing the restriction."""
        active = _active(world)  # closes Ada's payments
        world.store.set_account_holders([(12, world.ada.principal_id)])
        opened = world.restrictions.freezes.open_accounts([Account(12, 1, 2)], [world.ada.principal_id])
        assert opened.all_ok and _frozen(world, 12)
        assert [o.reference for o in world.ledger.lookup_account_orders(12)] == [active.id]

    def test_an_account_that_already_exists_is_left_as_it_is(self, world: World) -> None:
        """Opening again is refused by the ledger; the freeze order is not written for it."""
        _active(world, subject=world.ben.number)
        world.ledger.unfreeze_accounts([20], reference="simulated loss")
        before = len(world.ledger.lookup_account_orders(20))
        opened = world.restrictions.freezes.open_accounts([Account(20, 1, 2)], [world.ben.principal_id])
        assert not opened.all_ok and not _frozen(world, 20)
        assert len(world.ledger.lookup_account_orders(20)) == before

    def test_one_holder_per_account_or_nothing_opens(self, world: World) -> None:
        """Accounts without a holder each are refused whole: no account opens unaccounted for."""
        with pytest.raises(InvalidInputError) as caught:
            world.restrictions.freezes.open_accounts([Account(13, 1, 2)], [])
        assert caught.value.field == "holders"
        assert world.ledger.lookup_accounts([13]) == []

    def test_reconcile_freezes_an_organisations_lost_freeze(self, world: World) -> None:
        """Reconciling finds an organisation's account that lost its freeze and freezes it again."""
        _merchants(world, {30: "org:acme-foods"})
        _ordered(world, subject="org:acme-foods")
        world.ledger.unfreeze_accounts([30], reference="simulated loss")
        assert world.restrictions.reconcile_freezes() == 1
        assert _frozen(world, 30)


class TestExpiry:
    def test_past_its_end_a_restriction_closes_nothing_at_once(self, world: World) -> None:
        """Before any sweep: check reads the clock."""
        active = _active(world)
        world.clock.now = active.end_ns  # type: ignore[assignment]
        assert world.restrictions.check(world.ada.number, "payments").allowed
        assert world.restrictions.due()

    def test_the_sweep_persists_the_expiry_unfreezes_and_tells_the_person(self, world: World) -> None:
        """After its end the sweep marks it expired, unfreezes the accounts and tells the person, once."""
        active = _active(world)
        world.clock.now = T0 + 31 * DAY
        assert [r.id for r in world.restrictions.sweep()] == [active.id]
        assert world.restrictions.get(active.id).status is RestrictionStatus.expired
        assert not _frozen(world, 10)
        assert world.notices.of_subject(world.ada.number)[0].kind is NoticeKind.restriction_ended
        assert world.restrictions.sweep() == [] and not world.restrictions.due()

    def test_the_sweeper_thread_expires_on_its_own_and_outlives_a_failed_sweep(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """What the service runs: no one calls sweep(); a store fault on one tick does not stop the next."""
        active = _active(world)
        sweep, calls = world.restrictions.sweep, [0]

        def flaky() -> list[Restriction]:
            calls[0] += 1
            if calls[0] == 1:
                raise OSError("database is locked")
            return sweep()

        monkeypatch.setattr(world.restrictions, "sweep", flaky)
        world.clock.now = T0 + 31 * DAY
        sweeper = Sweeper(world.restrictions, interval_s=0.005).start()
        try:
            deadline = time.monotonic() + 30
            while world.restrictions.get(active.id).status is not RestrictionStatus.expired:
                assert time.monotonic() < deadline, "the sweeper never expired the restriction"
                time.sleep(0.005)
        finally:
            sweeper.stop()
        assert calls[0] >= 2 and not _frozen(world, 10)

    def test_an_activation_after_the_end_passed__conflict(self, world: World) -> None:
        """A proposal whose end has passed can no longer be activated."""
        proposed = _propose(world, end_ns=T0 + DAY)
        world.clock.now = T0 + 2 * DAY
        with pytest.raises(ConflictError):
            world.restrictions.decide(proposed.id, "activate", officer=OFFICER_B, reason="late")


class TestAppeals:
    def test_an_appeal_on_someone_elses_restriction__forbidden_and_nothing_changes(self, world: World) -> None:
        """Ben cannot appeal Ada's restriction: forbidden, and no appeal is recorded."""
        active = _active(world)
        with pytest.raises(ForbiddenError):
            world.appeals.file(active.id, appellant=world.ben.number, filed_by=world.ben.principal_id, grounds="x")
        assert world.restrictions.get(active.id).appeal_state is AppealState.none
        assert world.appeals.pending() == []

    def test_one_open_appeal_at_a_time_and_only_on_an_active_restriction(self, world: World) -> None:
        """A second appeal while one is pending, or an appeal on a mere proposal, is a conflict."""
        active = _active(world)
        world.appeals.file(active.id, appellant=world.ada.number, filed_by=world.ada.principal_id, grounds="paid")
        assert world.restrictions.get(active.id).appeal_state is AppealState.pending
        with pytest.raises(ConflictError):
            world.appeals.file(active.id, appellant=world.ada.number, filed_by=world.ada.principal_id, grounds="again")
        proposed = _propose(world)
        with pytest.raises(ConflictError):
            world.appeals.file(proposed.id, appellant=world.ada.number, filed_by=world.ada.principal_id, grounds="x")

    def test_the_deciding_officer_cannot_hear_the_appeal(self, world: World) -> None:
        """Neither the proposer nor the activating officer may decide the appeal: someone else must hear it."""
        active = _active(world)
        appeal = world.appeals.file(active.id, appellant=world.ada.number, filed_by=world.ada.principal_id, grounds="g")
        for officer in (OFFICER_A, OFFICER_B):
            with pytest.raises(ForbiddenError):
                world.appeals.decide(appeal.id, "lift", officer=officer, reason="r")

    def test_upholding_keeps_the_restriction_and_tells_the_person_why(self, world: World) -> None:
        """Upholding keeps the restriction and the freeze, and the notice gives the officer's reason."""
        active = _active(world)
        appeal = world.appeals.file(active.id, appellant=world.ada.number, filed_by=world.ada.principal_id, grounds="g")
        decided = world.appeals.decide(appeal.id, "uphold", officer=OFFICER_C, reason="no receipt was shown")
        assert decided.status is AppealStatus.upheld
        assert not world.restrictions.check(world.ada.number, "payments").allowed and _frozen(world, 10)
        notice = world.notices.of_subject(world.ada.number)[0]
        assert notice.kind is NoticeKind.appeal_decided and "no receipt was shown" in notice.reason_text

    def test_lifting_on_appeal_is_immediate_and_logged(self, world: World) -> None:
        """Allowing an appeal lifts at once, unfreezes, logs each step, and cannot be reversed by a second decision."""
        active = _active(world)
        appeal = world.appeals.file(active.id, appellant=world.ada.number, filed_by=world.ada.principal_id, grounds="g")
        world.appeals.decide(appeal.id, "lift", officer=OFFICER_C, reason="receipt shown")
        lifted = world.restrictions.get(active.id)
        assert lifted.status is RestrictionStatus.lifted and lifted.appeal_state is AppealState.lifted
        assert world.restrictions.check(world.ada.number, "payments").allowed and not _frozen(world, 10)
        assert [e.action for e in world.restrictions.history(active.id)] == [
            "proposed",
            "activated",
            "appealed",
            "lifted",
        ]
        with pytest.raises(ConflictError):
            world.appeals.decide(appeal.id, "uphold", officer=OFFICER_C, reason="changed my mind")

    def _appealed(self, w: World, active: Restriction) -> str:
        return w.appeals.file(active.id, appellant=w.ada.number, filed_by=w.ada.principal_id, grounds="g").id

    def test_a_court_order__heard_only_by_another_officer_of_the_courts(self, world: World) -> None:
        """Issue 15: allowing the appeal lifts the order, the court's alone to do; nor may anyone else uphold it."""
        active = _ordered(world, proposer=BANKER)
        active = world.restrictions.decide(active.id, "activate", officer=JUDGE, reason="order HC/2026/118 seen")
        appeal_id = self._appealed(world, active)
        for outsider in (OFFICER_C, FIU, BANKER, JUDGE, "p_0000000000000009"):  # other agencies, proposer, decider
            for outcome in ("lift", "uphold"):
                with pytest.raises(ForbiddenError):
                    world.appeals.decide(appeal_id, outcome, officer=outsider, reason="receipt shown")
        assert world.appeals.get(appeal_id).status is AppealStatus.pending
        assert not world.restrictions.check(world.ada.number, "payments").allowed and _frozen(world, 10)
        world.appeals.decide(appeal_id, "lift", officer=JUDGE_2, reason="the order was set aside")
        assert world.restrictions.get(active.id).status is RestrictionStatus.lifted and not _frozen(world, 10)

    def test_a_courts_officer_who_is_disabled__forbidden(self, world: World) -> None:
        """The agency is read from the store: a disabled officer acts for none."""
        appeal_id = self._appealed(world, _ordered(world))
        with world.store.transaction(write=True) as conn:
            conn.execute(principals_table.update().where(principals_table.c.id == JUDGE_2).values(disabled=True))
        with pytest.raises(ForbiddenError, match="only an officer of courts"):
            world.appeals.decide(appeal_id, "lift", officer=JUDGE_2, reason="set aside")

    def test_a_listing__heard_only_by_another_officer_of_the_unit(self, world: World) -> None:
        """A listing's appeal is heard only by another officer of the unit, not other agencies or the decider."""
        active = _listed(world)
        appeal_id = self._appealed(world, active)
        for outsider in (OFFICER_C, JUDGE, FIU):  # a tax officer, a court's, the unit's officer who decided it
            with pytest.raises(ForbiddenError):
                world.appeals.decide(appeal_id, "lift", officer=outsider, reason="not the listed person")
        assert world.restrictions.get(active.id).status is RestrictionStatus.active
        decided = world.appeals.decide(appeal_id, "lift", officer=FIU_2, reason="not the listed person")
        assert decided.status is AppealStatus.lifted and world.restrictions.check(world.ada.number, "payments").allowed

    def test_a_statute__heard_by_any_officer_who_neither_proposed_nor_decided_it(self, world: World) -> None:
        """An administrative decision is reviewed outside the agency that made it (docs/rules.md: the tribunal)."""
        appeal_id = self._appealed(world, _active(world))
        assert world.appeals.decide(appeal_id, "uphold", officer=BANKER, reason="tax due").status is AppealStatus.upheld


class TestNotices:
    def _draft(self, w: World, **changes: object) -> NoticeDraft:
        terms: dict[str, object] = {
            "subject": w.ben.number,
            "kind": "score",
            "basis_id": "scores-act/3",
            "reason_code": "loan.defaulted",
            "reason_text": "A loan repayment was 90 days late",
            "reference": "contribution/42",
            "expires_at_ns": T0 + 365 * DAY,
            "rule_id": "credit.default",
        }
        terms.update(changes)
        return NoticeDraft(**terms)  # type: ignore[arg-type]

    def test_a_batch_commits_with_the_callers_transaction(self, world: World) -> None:
        """Notices made inside a caller's transaction are kept when it commits, with the basis cited."""
        drafts = [self._draft(world), self._draft(world, subject=world.ada.number)]
        with world.store.transaction(write=True) as conn:
            made = world.notices.create_in(conn, drafts)
        assert [n.basis_cite for n in made] == ["Credit Reporting Act, s. 3"] * 2
        assert world.notices.of_subject(world.ben.number)[0].reason_code == "loan.defaulted"

    def test_a_rolled_back_transaction_leaves_no_notice(self, world: World) -> None:
        """When the caller's effect fails and rolls back, no notice of it survives."""
        with pytest.raises(RuntimeError), world.store.transaction(write=True) as conn:
            world.notices.create_in(conn, [self._draft(world)])
            raise RuntimeError("the caller's effect failed")
        assert _count(world, notices_table) == 0

    @SQLITE_ONLY
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"basis_id": "made-up"}, "drafts[0].basis_id"),
            ({"reason_text": ""}, "drafts[0].reason_text"),
            ({"expires_at_ns": None}, "drafts[0].expires_at_ns"),
            ({"kind": "gossip"}, "drafts[0].kind"),
            ({"subject": "12"}, "drafts[0].subject"),
        ],
    )
    def test_a_bad_draft_refuses_the_batch(self, world: World, changes: dict[str, object], field: str) -> None:
        """No basis, no reasons, or an adverse notice with no expiry: refused, nothing written."""
        with pytest.raises(InvalidInputError) as caught:
            world.notices.create_many([self._draft(world, **changes)])
        assert caught.value.field == field
        assert _count(world, notices_table) == 0

    def test_pages_go_back_in_time_without_skipping_ties(self, world: World) -> None:
        """Paging a person's notices with a (time, id) cursor skips none and repeats none."""
        world.notices.create_many([self._draft(world, reference=f"c/{i}") for i in range(5)])
        first = world.notices.of_subject(world.ben.number, limit=3)
        rest = world.notices.of_subject(world.ben.number, limit=3, before=(first[-1].created_at_ns, first[-1].id))
        assert len(first) == 3 and len(rest) == 2
        assert {n.reference for n in first + rest} == {f"c/{i}" for i in range(5)}


def test_check_without_an_open_index__enforcement_closed() -> None:
    """tessera.rules.check never allows by default: with no index open it raises."""
    index = EnforcementIndex()
    install_index(index)
    uninstall_index(index)
    with pytest.raises(EnforcementClosedError):
        check("100000000004", "payments")


def test_check_answers_from_the_installed_index(world: World) -> None:
    """tessera.rules.check answers from the installed index, and refuses a domain that does not exist."""
    active = _active(world)
    install_index(world.restrictions.index)
    try:
        assert check(world.ada.number, "payments").restriction_ids == (active.id,)
        assert check(world.ben.number, Domain.travel).allowed
        with pytest.raises(InvalidInputError):
            check(world.ben.number, "voting")
    finally:
        uninstall_index(world.restrictions.index)
