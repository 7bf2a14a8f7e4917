"""The sanctions watch: hits raised once, decided by an officer, and a confirmed one restricting at once.

Run on SQLite and PostgreSQL (the ``store`` fixture), with hand-made listings and a
recording freezer in place of the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from tessera.auth import Role
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tessera.identity import NewlyRegistered
from tessera.identity.registry import Person, Registry, checked_demographics
from tessera.ledger import Account
from tessera.ledger.feed import CommittedBatch
from tessera.ledger.journal import EntryKind
from tessera.ledger.records import TRANSFER_DTYPE
from tessera.rules.basis import LegalBases
from tessera.rules.definitions import builtin_definitions
from tessera.rules.due_process.notices import Notices
from tessera.rules.due_process.restriction_records import RestrictionStatus
from tessera.rules.due_process.restrictions import Restrictions
from tessera.rules.sanctions import counterparties
from tessera.rules.sanctions.counterparties import NewCounterparties
from tessera.rules.sanctions.lists import ListedEntity
from tessera.rules.sanctions.watch import (
    REVIEW_AFTER_NS,
    SANCTIONS_BASES,
    HitContext,
    HitStatus,
    SanctionsWatch,
    Screenee,
    measures_of,
    screen_registrations,
)
from tessera.store import Store
from tessera.store.tables import principals

T0 = 1_800_000_000 * 10**9
OFFICER = "p_aaaaaaaaaaaaaaaa"  # of the financial intelligence unit: its confirmation restricts at once
WALLET = 70


def _listing(list_id: str, source: str, name: str, *, born: str = "", programs: tuple[str, ...] = ()) -> ListedEntity:
    return ListedEntity(
        list_id, source, "person", (name,), (born,) if born else (), (), (), programs, f"{source} listing", ""
    )


UN_LISTED = _listing("un:QDi.901", "un", "Zorbanov Khaledin DIMITRENKO", born="1961-03-04")
OFAC_LISTED = _listing("ofac:90901", "ofac", "Vaskar Ulbrecht MONTEVALDI")


@dataclass
class FakeLists:
    """Lists as ``SanctionsLists`` gives them; bump ``version`` to act as a new import."""

    items: list[ListedEntity]
    version: int = 1

    def lists(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(source=s, imported_at_ns=self.version) for s in sorted({e.source for e in self.items})]

    def entities(self) -> list[ListedEntity]:
        return list(self.items)


@dataclass
class Freezer:
    frozen: list[tuple[tuple[int, ...], str]] = field(default_factory=list)

    def freeze_accounts(self, account_ids: Sequence[int], reference: str) -> object:
        self.frozen.append((tuple(account_ids), reference))
        return None

    def unfreeze_accounts(self, account_ids: Sequence[int], reference: str) -> object:
        return None

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        return [Account(i, 1, 2) for i in ids]  # wallets, unfrozen: what a listing freezes


@dataclass
class Watched:
    watch: SanctionsWatch
    lists: FakeLists
    registry: Registry
    restrictions: Restrictions
    freezer: Freezer
    store: Store

    def person(self, name: str, born: str = "1961-03-04") -> Person:
        person = self.registry.create_person({"name": name, "birth_date": born, "sex": "M"}, station="x")
        return person


@pytest.fixture
def watched(store: Store) -> Watched:
    bases = LegalBases()
    freezer = Freezer()
    restrictions = Restrictions(store, bases, Notices(store, bases), ledger=freezer, clock=lambda: T0)
    _, builtin = builtin_definitions()
    restrictions.register_bases([builtin.get(b) for b in SANCTIONS_BASES])
    with store.transaction(write=True) as conn:
        officer = {"name": "analyst", "role": "officer", "agency": "financial-intelligence-unit", "disabled": False}
        conn.execute(insert(principals).values(id=OFFICER, created_at_ns=T0, **officer))
    lists = FakeLists([UN_LISTED, OFAC_LISTED])
    watch = SanctionsWatch(store, restrictions, lists, refresh_s=0.0, clock=lambda: T0)
    return Watched(watch, lists, Registry(store), restrictions, freezer, store)


def _registered(person: Person) -> NewlyRegistered:
    facts = checked_demographics(
        {"name": person.name, "birth_date": person.birth_date.isoformat(), "sex": "M"}, today=dt.date.max
    )
    return NewlyRegistered(person.number, facts, "e_0123456789abcdef")


class TestScreening:
    def test_a_registered_person_with_a_listed_name__one_pending_hit_with_its_features(self, watched: Watched) -> None:
        """Name and birth date match the UN listing: a hit in the enrolment context, for an officer."""
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        assert (hit.subject, hit.list_id, hit.status) == (person.number, "un:QDi.901", HitStatus.pending)
        assert hit.context is HitContext.enrolment and hit.reference == "enrolment:e_0123456789abcdef"
        assert hit.score >= 0.72 and "name" in hit.features and "birth_date" in hit.features
        assert watched.watch.hits() == [hit]

    def test_an_unlisted_name__no_hit(self, watched: Watched) -> None:
        """Someone on no list raises nothing."""
        person = watched.person("Amara Tindall")
        assert screen_registrations(watched.watch, [_registered(person)]) == []
        assert watched.watch.hits() == []

    def test_the_same_listing_is_not_raised_twice_while_pending(self, watched: Watched) -> None:
        """A second screening (a counterparty, say) of the same person adds nothing."""
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        screenee = Screenee(person.number, (person.name,), "1961-03-04")
        assert len(watched.watch.screen([screenee], "enrolment", "enrolment:e_1")) == 1
        assert watched.watch.screen([screenee], "counterparty", "ledger:9") == []

    def test_a_dismissed_hit_returns_only_with_a_new_version_of_its_list(self, watched: Watched) -> None:
        """Dismissed for this list version stays dismissed; a new import screens afresh."""
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        screenee = Screenee(person.number, (person.name,), "1961-03-04")
        (hit,) = watched.watch.screen([screenee], "enrolment", "enrolment:e_1")
        watched.watch.decide(hit.id, "dismiss", officer=OFFICER, reason="born in another country, different person")
        assert watched.watch.screen([screenee], "enrolment", "enrolment:e_1") == []
        watched.lists.version = 2
        (again,) = watched.watch.screen([screenee], "enrolment", "enrolment:e_1")
        assert again.list_version == 2 and again.id != hit.id

    def test_no_lists_imported__screening_finds_nothing(self, watched: Watched) -> None:
        """With nothing imported there is nothing to match and nothing fails."""
        watched.lists.items = []
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        assert screen_registrations(watched.watch, [_registered(person)]) == []


# A listed name as an evader writes it: each shows as the name, and screens as it.
DISGUISED = [
    ("un:QDi.901", "Khaledin Zor\u200bbanov Dimi\u200btrenko"),  # zero-width spaces
    ("un:QDi.901", "Khale\u00addin Zorba\u00adnov Dimitrenko"),  # soft hyphens
    ("un:QDi.901", "Khaledin Zorbanov Dimi\u2060tren\u2060ko"),  # word joiners
    ("un:QDi.901", "Khaledin Zorbanov Dimi\U000e0041\U000e007ftrenko"),  # tag characters
    ("un:QDi.901", "Khaledin Zor\u3164banov Dimitren\u115fko"),  # Hangul fillers
    ("un:QDi.901", "Khaledin Zorba\ufe0fnov Dimitrenko\u200d"),  # a variation selector, a joiner
    ("un:QDi.901", "\uff2b\uff48\uff41\uff4c\uff45\uff44\uff49\uff4e Zorbanov Dimitrenko"),  # fullwidth
    ("ofac:90901", "Vaskar Ulbre\u0441ht MONTEVALDI"),  # a Cyrillic Es, romanised "s" on its own
    ("ofac:90901", "Vaskar Ulbrecht MO\u041dTEVALDI"),  # a Cyrillic En, romanised "n" on its own
]


class TestInvisibleCharacters:
    """A listed name with invisible characters, wide letters or look-alikes inside is still found."""

    @pytest.mark.parametrize(("list_id", "name"), DISGUISED)
    def test_a_person_enrolled_under_a_disguised_listed_name__hit(
        self, watched: Watched, list_id: str, name: str
    ) -> None:
        """The registry keeps the name as given; enrolment screening matches its folded key."""
        person = watched.person(name)
        assert person.name == name
        hits = screen_registrations(watched.watch, [_registered(person)])
        assert [h.list_id for h in hits] == [list_id]

    @pytest.mark.parametrize(("list_id", "name"), DISGUISED)
    def test_a_listing_written_with_them__hit_on_the_plain_name(
        self, watched: Watched, list_id: str, name: str
    ) -> None:
        """The same fold on the list's side: a listing imported with a zero-width space matches the plain name."""
        watched.lists.items = [_listing(list_id, list_id.partition(":")[0], name, born="1961-03-04")]
        plain = "Khaledin Zorbanov Dimitrenko" if list_id.startswith("un") else "Vaskar Ulbrecht MONTEVALDI"
        hits = screen_registrations(watched.watch, [_registered(watched.person(plain))])
        assert [h.list_id for h in hits] == [list_id]

    def test_look_alikes_from_another_script__hit(self, watched: Watched) -> None:
        """Cyrillic Es, Er and U in Latin words would romanise to other letters: folded to the Latin they show."""
        watched.lists.items = [_listing("eu:EU.9.1", "eu", "Cyprian PECHERSKY", born="1961-03-04")]
        person = watched.person("\u0421y\u0440rian PE\u0421HERSK\u0423")
        assert [h.list_id for h in screen_registrations(watched.watch, [_registered(person)])] == ["eu:EU.9.1"]


class TestDecisions:
    def test_confirm_un__restriction_in_force_for_payments_and_travel_for_a_year(self, watched: Watched) -> None:
        """Self-executing under the listing basis: active at once, reasons name the list, wallets frozen."""
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        watched.store.set_account_holders([(WALLET, person.principal_id)])
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        decided, restriction = watched.watch.decide(hit.id, "confirm", officer=OFFICER, reason="same birth date")
        assert restriction is not None and decided.status is HitStatus.confirmed
        assert decided.restriction_id == restriction.id and decided.decided_by == OFFICER
        assert restriction.status is RestrictionStatus.active and restriction.basis_id == "sanctions-act/un"
        assert restriction.domains == {"payments", "travel"} and restriction.end_ns == T0 + REVIEW_AFTER_NS
        assert restriction.authority == "UN Security Council" and "un:QDi.901" in restriction.reason_text
        assert watched.freezer.frozen == [((WALLET,), restriction.id)]
        assert watched.restrictions.notices.of_subject(person.number)[0].reference == restriction.id
        assert watched.watch.get(hit.id) == decided

    def test_confirmed_by_another_agency__the_restriction_waits_for_the_unit(self, watched: Watched) -> None:
        """Issue 15: only the agency a listing names exercises it; a tax officer's confirmation is a proposal."""
        tax = watched.store.create_principal("tax analyst", Role.officer, agency="tax-office")
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        decided, restriction = watched.watch.decide(hit.id, "confirm", officer=tax.id, reason="same birth date")
        assert restriction is not None and restriction.status is RestrictionStatus.proposed
        assert decided.status is HitStatus.confirmed and watched.freezer.frozen == []
        active = watched.restrictions.decide(restriction.id, "activate", officer=OFFICER, reason="listing checked")
        assert active.status is RestrictionStatus.active and active.decided_by == OFFICER

    def test_the_units_rejection_of_another_agencys_confirmation__dismisses_the_hit(self, watched: Watched) -> None:
        """The hit says what the unit decided: rejected by it, the hit is dismissed, and not raised again."""
        tax = watched.store.create_principal("tax analyst", Role.officer, agency="tax-office")
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        _, restriction = watched.watch.decide(hit.id, "confirm", officer=tax.id, reason="same birth date")
        assert restriction is not None
        watched.restrictions.decide(restriction.id, "reject", officer=OFFICER, reason="born in another country")
        dismissed = watched.watch.get(hit.id)
        assert dismissed.status is HitStatus.dismissed and dismissed.decided_by == OFFICER
        assert dismissed.reason == f"restriction {restriction.id} rejected: born in another country"
        assert dismissed.restriction_id == restriction.id and watched.watch.hits("confirmed") == []
        assert screen_registrations(watched.watch, [_registered(person)]) == []  # the same list: not raised again

    def test_a_rejected_proposal_from_elsewhere__leaves_hits_alone(self, watched: Watched) -> None:
        """Only the hit whose confirmation proposed the restriction follows its rejection."""
        tax = watched.store.create_principal("tax analyst", Role.officer, agency="tax-office")
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        watched.watch.decide(hit.id, "confirm", officer=tax.id, reason="same birth date")
        other = watched.restrictions.propose(
            person.number, ["payments"], "sanctions-act/un", authority="UN", reason_code="sanctions.listed",
            reason_text="x", end_ns=T0 + REVIEW_AFTER_NS, proposer=tax.id, event_ref=f"screening:{hit.id}",
        )  # fmt: skip
        watched.restrictions.decide(other.id, "reject", officer=OFFICER, reason="not this one")
        assert watched.watch.get(hit.id).status is HitStatus.confirmed

    def test_a_dismissal_by_another_agency__forbidden_and_the_hit_stays_pending(self, watched: Watched) -> None:
        """Issue 15: dismissing is the listing's agency's answer as much as confirming; no one else clears a hit."""
        tax = watched.store.create_principal("tax analyst", Role.officer, agency="tax-office")
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        for outsider in (tax.id, "p_0000000000000009"):  # another agency's officer; no principal at all
            with pytest.raises(ForbiddenError, match="only an officer of financial-intelligence-unit may dismiss"):
                watched.watch.decide(hit.id, "dismiss", officer=outsider, reason="other person")
        assert watched.watch.get(hit.id).status is HitStatus.pending and watched.watch.hits() == [hit]

    def test_confirm_ofac__payments_only(self, watched: Watched) -> None:
        """OFAC blocking freezes assets; it says nothing of travel."""
        person = watched.person("Vaskar Montevaldi", born="1970-01-01")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        _, restriction = watched.watch.decide(hit.id, "confirm", officer=OFFICER, reason="checked")
        assert restriction is not None and restriction.domains == {"payments"}
        assert restriction.basis_id == "sanctions-act/ofac"  # the section for its list

    def test_dismiss__no_restriction(self, watched: Watched) -> None:
        """Dismissing records the reason and closes nothing."""
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        decided, restriction = watched.watch.decide(hit.id, "dismiss", officer=OFFICER, reason="other person")
        assert restriction is None and decided.status is HitStatus.dismissed and decided.reason == "other person"
        assert watched.restrictions.of_subject(person.number) == [] and watched.freezer.frozen == []
        assert watched.watch.hits() == [] and watched.watch.hits("dismissed") == [decided]

    def test_deciding_twice__conflict(self, watched: Watched) -> None:
        """A decided hit stays decided."""
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        watched.watch.decide(hit.id, "dismiss", officer=OFFICER, reason="other person")
        with pytest.raises(ConflictError):
            watched.watch.decide(hit.id, "confirm", officer=OFFICER, reason="changed my mind")

    def test_a_listing_gone_from_its_list__cannot_be_confirmed(self, watched: Watched) -> None:
        """Delisted since the hit: confirming would restrict on nothing, so it is refused."""
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        watched.lists.items, watched.lists.version = [OFAC_LISTED], 2
        with pytest.raises(ConflictError):
            watched.watch.decide(hit.id, "confirm", officer=OFFICER, reason="checked")

    @pytest.mark.parametrize("store", ["sqlite"], indirect=True)
    def test_bad_input__refused(self, watched: Watched) -> None:
        """Unknown ids, unknown decisions and missing reasons."""
        with pytest.raises(NotFoundError):
            watched.watch.get("h_0000000000000000")
        with pytest.raises(InvalidInputError):
            watched.watch.get("nope")
        person = watched.person("Khaledin Zorbanov Dimitrenko")
        (hit,) = screen_registrations(watched.watch, [_registered(person)])
        with pytest.raises(InvalidInputError):
            watched.watch.decide(hit.id, "maybe", officer=OFFICER, reason="x")
        with pytest.raises(InvalidInputError):
            watched.watch.decide(hit.id, "confirm", officer=OFFICER, reason="")


def test_measures__un_both__ofac_and_eu_payments__ftm_travel_only_when_its_topics_say() -> None:
    """Each list's measures become the restriction's domains."""
    assert measures_of(UN_LISTED) == ("payments", "travel")
    assert measures_of(OFAC_LISTED) == ("payments",)
    assert measures_of(_listing("eu:1", "eu", "X Y")) == ("payments",)
    assert measures_of(_listing("ftm:1", "ftm", "X Y", programs=("sanction",))) == ("payments",)
    assert measures_of(_listing("ftm:2", "ftm", "X Y", programs=("sanction", "travel ban"))) == ("payments", "travel")


class _Inline:
    def submit(self, job: Callable[[], object]) -> None:
        job()


def _batch(seq: int, pairs: list[tuple[int, int]], statuses: list[int] | None = None) -> CommittedBatch:
    records = np.zeros(len(pairs), dtype=TRANSFER_DTYPE)
    records["debit_account_id"] = [p for p, _ in pairs]
    records["credit_account_id"] = [q for _, q in pairs]
    status = np.array(statuses or [0] * len(pairs), dtype=np.uint32)
    return CommittedBatch(seq, EntryKind.transfers, T0, records, status)


class TestNewCounterparties:
    @pytest.mark.parametrize("store", ["sqlite"], indirect=True)
    def test_a_listed_payee_is_screened_on_the_first_payment_only(self, watched: Watched) -> None:
        """A new pair screens both sides' counterparties; the same pair again, or a refused one, does not."""
        payer = watched.person("Amara Tindall", born="1990-05-05")
        listed = watched.person("Khaledin Zorbanov Dimitrenko")
        watched.store.set_account_holders([(80, payer.principal_id), (81, listed.principal_id)])
        screened: list[list[tuple[int, int]]] = []
        feed = NewCounterparties(watched.store, watched.registry, watched.watch, _Inline())
        original = feed.screen_pairs

        def recording(pairs: npt.NDArray[np.uint64], ref: str) -> None:
            screened.append([tuple(p) for p in pairs.tolist()])
            original(pairs, ref)

        feed.screen_pairs = recording  # type: ignore[method-assign]
        feed.on_ledger_batch(_batch(5, [(80, 81), (80, 81), (81, 82)], [0, 0, 34]))
        assert screened == [[(80, 81)]]
        (hit,) = watched.watch.hits()
        assert hit.subject == listed.number and hit.context is HitContext.counterparty
        assert hit.reference == "ledger:5: account 80 with 81"
        feed.on_ledger_batch(_batch(6, [(80, 81)]))
        assert screened == [[(80, 81)]] and feed.new_pairs == 1

    @pytest.mark.parametrize("store", ["sqlite"], indirect=True)
    def test_an_account_no_one_holds_screens_no_counterparty(self, watched: Watched) -> None:
        """A programme's account (held by no one) paying a listed person raises nothing as a counterparty."""
        listed = watched.person("Khaledin Zorbanov Dimitrenko")
        watched.store.set_account_holders([(91, listed.principal_id)])  # 90: a programme's, no holder
        feed = NewCounterparties(watched.store, watched.registry, watched.watch, _Inline())
        feed.on_ledger_batch(_batch(7, [(90, 91)]))
        assert feed.new_pairs == 1 and watched.watch.hits() == []

    @pytest.mark.parametrize("store", ["sqlite"], indirect=True)
    def test_a_shop_is_read_once__a_person_at_every_new_pair(
        self, watched: Watched, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A merchant's name is never rewritten: kept after its first read. A person's facts are read each time."""
        shop = watched.store.create_principal("Corner Grocery", Role.merchant)
        people = [watched.person(name) for name in ("Amara Tindall", "Bo Lindqvist")]
        watched.store.set_account_holders([(70, shop.id), (71, people[0].principal_id), (72, people[1].principal_id)])
        read: list[str] = []
        get_principal, person_of_principal = watched.store.get_principal, watched.registry.person_of_principal
        monkeypatch.setattr(watched.store, "get_principal", lambda p: read.append(p) or get_principal(p))
        monkeypatch.setattr(watched.registry, "person_of_principal", lambda p: read.append(p) or person_of_principal(p))
        feed = NewCounterparties(watched.store, watched.registry, watched.watch, _Inline())
        feed.on_ledger_batch(_batch(1, [(71, 70)]))
        assert sorted(read) == sorted([shop.id, shop.id, people[0].principal_id])  # as a person, then as a principal
        feed.on_ledger_batch(_batch(2, [(72, 70), (71, 72)]))
        assert read[3:].count(shop.id) == 0 and read[3:].count(people[1].principal_id) >= 1

    @pytest.mark.parametrize("store", ["sqlite"], indirect=True)
    def test_many_batches__each_pair_reported_once_across_merges(
        self, watched: Watched, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The seen set merges its recent keys in steps; no pair is reported twice, none is lost."""
        monkeypatch.setattr(counterparties, "RECENT_PAIRS_MAX", 8)
        reported: list[tuple[int, int]] = []
        feed = NewCounterparties(watched.store, watched.registry, watched.watch, _Inline())
        feed.screen_pairs = lambda pairs, ref: reported.extend(tuple(p) for p in pairs.tolist())  # type: ignore[method-assign]
        rng = np.random.default_rng(5)
        pairs = [(int(a), int(b)) for a, b in rng.integers(1, 40, (600, 2)) if a != b]
        for seq, start in enumerate(range(0, len(pairs), 37)):
            feed.on_ledger_batch(_batch(seq + 1, pairs[start : start + 37]))
        assert sorted(reported) == sorted(set(pairs))
        assert feed.new_pairs == len(set(pairs))


class TestHolderNumbers:
    @settings(max_examples=60, deadline=None)
    @given(
        held=st.dictionaries(st.integers(1, 40), st.sampled_from(["p1", "p2", "p3", "p4"]), max_size=200),
        batches=st.lists(st.sets(st.integers(1, 40), min_size=1, max_size=20), min_size=1, max_size=6),
        known_max=st.sampled_from([counterparties.HOLDERS_KNOWN_MAX, 8]),
    )
    def test_numbers_name_the_same_holder_as_the_lookup(
        self, held: dict[int, str], batches: list[set[int]], known_max: int
    ) -> None:
        """As batches teach it accounts (and it starts again when full), each number names the holder; -1 for none."""

        def lookup(ids: list[int]) -> dict[int, str]:
            return {a: held[a] for a in ids if a in held}

        numbers = counterparties.HolderNumbers()
        with patch.object(counterparties, "HOLDERS_KNOWN_MAX", known_max):
            for batch in batches:
                got = numbers.of(np.array(sorted(batch), dtype=np.uint64), lookup).tolist()
                assert [numbers.principals[n] if n >= 0 else None for n in got] == [held.get(a) for a in sorted(batch)]
