"""The composition root: what the running service holds open, and the checks every caller shares.

``Services`` builds the domain objects (the ledger, the registry store, the access log and
some twenty more over them) and owns them for the life of the process, for the HTTP API,
the CLI, the portal and the simulation alike. Its methods answer the questions callers ask:
who is this caller, who holds these accounts, may the caller touch them, and record that
someone looked. Nothing here imports the web layer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from tessera.audit import AccessEntry, AccessLog, SignedTreeHead, deliver_entries
from tessera.auth import (
    Grant,
    Principal,
    Rate,
    RateLimiter,
    Role,
    Sessions,
    may_act_for,
    parse_token,
    secret_matches,
)
from tessera.errors import InvalidInputError, NotFoundError, PurposeRequiredError, TesseraError, UnauthenticatedError
from tessera.identity import (
    LOGIN_STATUSES,
    Enrolments,
    Gallery,
    Households,
    NewlyRegistered,
    OpenIdProvider,
    Passkeys,
    Person,
    Pins,
    Registry,
)
from tessera.ledger import CreateAccountStatus, CreateTransferStatus, Ledger, Transfer, TransferFlags
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT, INCOMING_WAIT_MAX_S
from tessera.money import (
    AccountKind,
    AdminRequests,
    Agencies,
    Aliases,
    Arrivals,
    Ledgers,
    LedgerUnit,
    PaymentKeys,
    PaymentRequests,
    Payments,
)
from tessera.programs import (
    BACK_PAY_FIELD,
    ActivePersonsSnapshot,
    Attestations,
    CompiledProgramme,
    Cycles,
    EligibilityLoss,
    Entitlements,
    Grievances,
    HouseholdSource,
    KeptHouseholds,
    KnownProgrammes,
    MyEntitlementsReader,
    Outlets,
    Population,
    ProductLists,
    Programme,
    Reconciliation,
    Redemptions,
    RegisteredProgrammes,
    Returns,
    gather_population,
    load_programmes,
)
from tessera.rules import (
    LEDGER_SOURCE,
    Appeals,
    CompiledRules,
    Declarations,
    EventIntake,
    HolderSubjects,
    LegalBases,
    ListScreenings,
    NewCounterparties,
    NoticeAppeals,
    Notices,
    OwedScreeningsPoller,
    PayeeCategories,
    PolicyEffects,
    Restrictions,
    RuleEngine,
    SanctionsLists,
    SanctionsWatch,
    Scores,
    ScreeningWorker,
    Sweeper,
    bases_on_record,
    install_index,
    ledger_codes_in,
    load_benefits,
    load_rules,
    screen_registrations,
    uninstall_index,
)
from tessera.store import Store, store_url
from tessera.text import checked_visible

ACTIVE_PERSONS_FILE = "active_persons.columns"  # the snapshot of the active persons, in the data directory
HOUSEHOLDS_FILE = "households.columns"  # and of the households' members
CACHED_MAX = 1_000_000  # holders, roles, agencies and subjects never change: the caches only need a bound
# What an access entry says for a purpose when the caller stated none. A look that needs one
# is refused and logged with NO_PURPOSE; an act that needs none (a payment touching a
# person's wallet, a merchant reading its own account) is logged with the purpose it carries
# in itself, in words, so a person never reads a bare "(none stated)" for something allowed.
NO_PURPOSE = "none stated"
PAYMENT_PURPOSE = "a payment to or from the person's wallet"
OPENING_PURPOSE = "opening an account"
OWN_ACCOUNT_PURPOSE = "reading the caller's own account, whose payments name the person's wallet"
OWN_HOUSEHOLD_PURPOSE = "a member of the household reading it"
NOMINEE_PURPOSE = "a nominee of the household, who collects for it, reading it"
PURPOSE_MAX = 200  # characters of X-Tessera-Purpose
PURPOSE_BYTES_MAX = 4 * PURPOSE_MAX  # the header's bytes: UTF-8 takes up to 4 a character


@dataclass(frozen=True, slots=True)
class Settings:
    """How ``tessera serve`` runs; every path lives under ``data_dir`` unless a URL says otherwise."""

    data_dir: Path
    database_url: str | None = None
    ledger_sync: bool = True
    lookup_rate: Rate = field(default_factory=lambda: Rate(per_second=500, burst=1000))
    auth_failure_rate: Rate = field(default_factory=lambda: Rate(per_second=1, burst=20))
    # Passkey ceremonies and OIDC authorization requests opened per client address: each is a
    # stored row, so an unauthenticated flood must hit a wall.
    ceremony_rate: Rate = field(default_factory=lambda: Rate(per_second=5, burst=50))
    reserve_accounts: int = 0  # room made at start, so growth (a copy under the apply lock) waits
    reserve_transfers: int = 0
    caller_cache_s: float = 2.0  # a revoked key or a disabled principal stops working within this
    # The longest a long-poll for incoming payments holds a request (?wait= is cut to this).
    incoming_wait_max_s: float = INCOMING_WAIT_MAX_S
    # Where people and relying parties reach this service: the OIDC issuer, and the origin
    # passkeys are bound to (its host is the WebAuthn relying-party id).
    public_url: str = "http://localhost:8000"
    # Rule files the engine runs over the ledger's feed, against the built-in event types and bases.
    rules: tuple[Path, ...] = ()
    # Transfers per packed batch when a programme's cycle is disbursed (each batch durable before the next).
    disbursement_batch_size: int = BATCH_SIZE_MAX

    @property
    def store_url(self) -> str:
        return store_url(self.data_dir, self.database_url)


# What a ledger write owes the access log, one item per subject: (subject, field, the batch's
# rows that touch them, ascending, and for issuance the amount of each row; else None).
logger = logging.getLogger(__name__)
Owed = list[tuple[str, str, list[int], list[int] | None]]


def access_note(caller: Caller, kind: Literal["transfers", "accounts"], owed: Owed) -> bytes | None:
    """The note a ledger write carries (DESIGN.md principle 4): who wrote it, why, and whom each row touches.

    Made before the write and journaled in the batch's own entry, so the write and what it
    owes the access log are durable together; ``note_entries`` turns it into entries once the
    statuses are known, at once or after a crash alike. None when the write owes nothing.
    """
    return principal_note(caller.principal, caller.purpose, kind, owed)


def principal_note(p: Principal, purpose: str, kind: Literal["transfers", "accounts"], owed: Owed) -> bytes | None:
    """``access_note`` for a write made on ``p``'s behalf with no request of theirs (a decision finished at start)."""
    if not owed:
        return None
    head = {"kind": kind, "principal": p.id, "role": p.role.value, "agency": p.agency or "-"}
    purpose = purpose or (PAYMENT_PURPOSE if kind == "transfers" else OPENING_PURPOSE)
    return json.dumps({**head, "purpose": purpose, "owed": owed}, separators=(",", ":")).encode()


def note_entries(payload: bytes, statuses: npt.NDArray[np.uint32], timestamp: int) -> list[AccessEntry]:
    """The entries a note owes, given what its batch did: per subject written (or opened), or the first refusal."""
    note = json.loads(payload)
    transfers = note["kind"] == "transfers"
    who = (note["principal"], note["role"], note["agency"], note["purpose"])
    entries = []
    for subject, what, rows, amounts in note["owed"]:
        ok = [k for k, row in enumerate(rows) if statuses[row] == 0]
        if amounts is not None:
            outcome = f"issued {sum(amounts[k] for k in ok)} in {len(ok)} of {len(rows)} transfers"
        elif ok:
            outcome = "written" if transfers else "opened"
        else:
            status = int(statuses[rows[0]])
            outcome = f"refused: {(CreateTransferStatus if transfers else CreateAccountStatus)(status).name}"
        entries.append(AccessEntry(timestamp, *who, subject, (what,), outcome))
    return entries


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated, authorised request: who, under which grant, and the purpose they stated."""

    principal: Principal
    grant: Grant
    purpose: str


class Services:
    """The open ledger, store and access log, and the shared checks on them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Each resource is registered for closing as it opens: a failed start (a bad public URL,
        # say) closes what opened, in reverse, and leaves nothing open or locked behind.
        with contextlib.ExitStack() as stack:
            self.store = stack.enter_context(Store.open(settings.store_url))
            self.scores = Scores(self.store)
            scored_through = self.scores.cursor(LEDGER_SOURCE)  # recovery keeps what the rule engine has not seen
            self.ledger = stack.enter_context(
                Ledger.open(settings.data_dir / "ledger", sync=settings.ledger_sync, feed_after=scored_through or 0)
            )
            self.ledger.reserve(settings.reserve_accounts, settings.reserve_transfers)
            self.access_log = stack.enter_context(AccessLog.open(settings.data_dir / "audit"))
            self.notes_recovered = self.deliver_undelivered_notes()  # before anyone is served
            self.gallery = stack.enter_context(Gallery.open(settings.data_dir / "gallery"))
            stack.callback(self._deliver_notes_again)
            self.registry = Registry(self.store)
            self.households = Households(self.store)
            public = urlsplit(settings.public_url)
            origin = f"{public.scheme}://{public.netloc}"
            self.passkeys = Passkeys(self.store, public.hostname or "localhost", "Tessera", [origin])
            self.pins = Pins(self.store)
            self.oidc = OpenIdProvider(
                self.store,
                self.registry,
                self.access_log,
                self.passkeys,
                keys_dir=settings.data_dir / "oidc",
                issuer=settings.public_url,
                pins=self.pins,
            )
            self.enrolments = Enrolments(
                self.store, self.registry, self.gallery, self.access_log, on_registered=self._screen_registrations
            )
            self.enrolments.reconcile_gallery()  # persons registered just before a crash rejoin the gallery
            self.agencies = Agencies(self.store)
            self.ledger_units = Ledgers(self.store)
            self.admin_requests = AdminRequests(self.store)
            self.aliases = Aliases(self.store)
            self.payment_requests = PaymentRequests(self.store)
            self.payments = Payments(
                self.ledger,
                unit_of=self.ledger_unit,
                accounts_of=self.store.accounts_held_by,
                aliases=self.aliases,
                requests=self.payment_requests,
                keys=PaymentKeys(self.store),
            )
            self.arrivals = Arrivals()  # what long-polls for incoming payments wait on
            stack.callback(self.ledger.subscribe(self.arrivals.on_ledger_batch).close)
            self.bases = LegalBases()  # those on record load as restrictions open; more register at run time
            self.notices = Notices(self.store, self.bases)
            self.restrictions = Restrictions(self.store, self.bases, self.notices, ledger=self.ledger)
            self.appeals = Appeals(self.store, self.restrictions)
            self.notice_appeals = NoticeAppeals(self.store, self.notices)
            self.restrictions.reconcile_freezes()  # a freeze lost to a crash, or wallets opened since
            install_index(self.restrictions.index)
            stack.callback(uninstall_index, self.restrictions.index)
            self.sweeper = Sweeper(self.restrictions).start()
            stack.callback(self.sweeper.stop)
            self.rule_engine = self._start_rule_engine(stack, settings.rules, scored_through)
            self._start_sanctions_watch(stack)
            self._start_programmes()
            stack.callback(self.active_persons.save)  # the snapshots as of now: a restart patches nothing
            stack.callback(self.kept_households.save)
            # Programmes as the shops see them: those registered (the latest version of each), as cycles do.
            self.known_programmes: KnownProgrammes = self.programmes.known
            self.outlets = Outlets(self.store, known=self.known_programmes, accounts=self.ledger.lookup_accounts)
            self.product_lists = ProductLists(self.store, known=self.known_programmes)
            self._start_redemptions()
            self._open = stack.pop_all()  # started: what closes now waits for close()
        self.sessions = Sessions()
        self.registry.on_status_change(self._status_changed)
        self.limiter = RateLimiter(
            {
                "lookup": settings.lookup_rate,
                "auth_failure": settings.auth_failure_rate,
                "ceremony": settings.ceremony_rate,
            }
        )
        self._callers: dict[str, tuple[float, Principal]] = {}
        self._principals: dict[str, Principal] = {}
        self._holders: dict[int, str] = {}
        self._person_subjects: dict[str, str] = {}
        self._units: dict[int, LedgerUnit] = {}
        self._units_named: dict[str, LedgerUnit] = {}
        self._lock = threading.Lock()
        self.signed_head_lock = threading.Lock()
        self.last_head: SignedTreeHead | None = None
        self._finish_back_pay()  # last: it logs through the caches above
        self._finish_redemptions()

    def _start_rule_engine(
        self, stack: contextlib.ExitStack, rule_files: tuple[Path, ...], scored_through: int | None
    ) -> RuleEngine:
        """Compile the rules and subscribe them to the ledger's feed, from where they last stopped.

        Event types and legal bases are the declarations in force in the store, made by
        data-protection officers (issue 16), never a file: on a fresh store the built-in
        definitions are recorded as version 1. Rules cite only the bases declared there.
        """
        self.declarations = Declarations(self.store)
        self.declared = self.declarations.load_in_force()  # a version approved later loads at the next start
        types, declared_bases = self.declared.types, self.declared.bases
        self.restrictions.register_bases(declared_bases.get(i) for i in declared_bases.ids())
        self.event_types = types
        with self.store.transaction() as conn:  # what each ledger funds: a rule comparing a ledger reads it
            types.use_codes(types.codes.replaced(ledger_codes_in(conn)))
        rule_bases = LegalBases(self.bases.get(i) for i in declared_bases.ids())
        benefits = load_benefits([self.declared.document], rule_bases)  # declared with the rest, by DPOs
        self.benefits = benefits
        self.rules = load_rules(list(rule_files), types, rule_bases, benefits)
        engine = RuleEngine(
            self.store,
            CompiledRules(self.rules, types),
            self.scores,
            payer_subjects=HolderSubjects(self.store, self.registry),
            effects=PolicyEffects(self.restrictions, self.notices),
            backlog=lambda: self.ledger.feed.queued_behind,
            payees=PayeeCategories(*self.ledger.categorised_accounts()),  # then kept from the feed
        )
        self.rule_feed = self.ledger.subscribe(engine.on_ledger_batch, after_seq=scored_through or 0)
        stack.callback(engine.flush)  # after the feed closes: what is still queued is scored after the restart
        stack.callback(self.rule_feed.close)
        self.event_intake = EventIntake(self.store, types, engine)
        self.event_intake.catch_up()  # events kept but not scored before a crash
        return engine

    def _start_programmes(self) -> None:
        """The register of programmes and their cycles; households read through ``self.household_source``."""
        # Kept between previews and patched from the same log (migration 0029's triggers on household_members).
        self.kept_households = KeptHouseholds(self.store, path=self.settings.data_dir / HOUSEHOLDS_FILE)
        self.household_source: HouseholdSource = self.kept_households
        # Patched from the store's change log and kept in the data directory: neither a preview nor a restart rescans.
        self.active_persons = ActivePersonsSnapshot(self.store, path=self.settings.data_dir / ACTIVE_PERSONS_FILE)
        self.programmes = RegisteredProgrammes(self.store, self._load_programme)
        self.cycles = Cycles(
            self.store,
            self.programmes,
            self.ledger,
            compile_programme=lambda p: CompiledProgramme(p, self.event_types, self.benefits),
            batch_size=self.settings.disbursement_batch_size,
            eligibility_loss=EligibilityLoss(self.store, self.notices),
            gather=lambda c, at: self.gather(c, at),  # noqa: PLW0108 (late-bound: a bench times it)
        )
        self.grievances = Grievances(
            self.store, self.programmes, self.cycles, self.ledger, head_of=self._head_of_household
        )

    def _finish_back_pay(self) -> None:
        """Back-pay that upheld grievances decided and the ledger never took (a crash between the two), sent now.

        Each is sent as its resolving officer's act, logged for the person credited as the route
        logs it; one the ledger still refuses (an unfunded programme account) stays owed, warned of.
        """
        for grievance in self.grievances.owed_back_pay():
            officer = self.store.get_principal(str(grievance.resolved_by))
            if officer is None:
                continue
            purpose = f"back-pay of grievance {grievance.id}, as resolved, sent again at start"
            post = self.back_pay_post(officer, purpose)
            try:
                self.grievances.finish_back_pay(grievance, post)
            except TesseraError as error:
                logger.warning("grievance %s: back-pay still owed: %s", grievance.id, error)

    def _finish_redemptions(self) -> None:
        """Redemptions a crash left posting: completed if the ledger holds their chain, else refused (none drawn).

        Nothing moves, so nothing is logged; no other process posts meanwhile (the ledger's directory is locked).
        """
        for redemption in self.redemptions.finish_interrupted():
            logger.info("redemption %s, left posting by a crash, is now %s", redemption.id, redemption.status.value)

    def back_pay_post(self, officer: Principal, purpose: str) -> Callable[[str, Sequence[Transfer]], Any]:
        """Back-pay's transfers as ``officer``'s act, with the note that logs them for the person credited.

        What a grievance's resolution posts through, over HTTP (the caller and their purpose) or at start.
        """

        def post(number: str, transfers: Sequence[Transfer]) -> list[CreateTransferStatus]:
            owed: Owed = [(self.subject_of_person(number), BACK_PAY_FIELD, list(range(len(transfers))), None)]
            results = self.ledger.create_transfers(
                list(transfers), note=principal_note(officer, purpose, "transfers", owed)
            )
            self.deliver(results.note_seq)
            return [CreateTransferStatus(int(s)) for s in results.statuses]

        return post

    def _head_of_household(self, number: str) -> str | None:
        """The head of ``number``'s household now: whose entitlement a household programme's back-pay credits."""
        household = self.households.household_of(number)
        return None if household is None else household.head

    def _start_redemptions(self) -> None:
        """What a person has left of each entitlement, and the shops' tills that redeem it."""
        self.entitlements = Entitlements(self.store, self.programmes, self.ledger)
        self.attestations = Attestations(
            self.store, programmes=self.programmes, outlets=self.outlets, registry=self.registry
        )
        self.redemptions = Redemptions(
            self.store,
            programmes=self.programmes,
            entitlements=self.entitlements,
            outlets=self.outlets,
            products=self.product_lists,
            registry=self.registry,
            households=self.households,
            pins=self.pins,
            ledger=self.ledger,
            unit_of=self.ledger_unit,
            unit_named=self.ledger_unit_named,
            wallet_of=self.wallet_of,
            attestations=self.attestations,
        )
        self.my_entitlements = MyEntitlementsReader(
            self.store,
            programmes=self.programmes,
            cycles=self.cycles,
            entitlements=self.entitlements,
            shops=self.outlets,
            ledger=self.ledger,
            household_of=self.households.household_of,
            nominating=self.households.nominating,
        )
        self.reconciliation = Reconciliation(
            self.store, self.programmes, self.cycles, self.outlets, self.ledger, units=self.ledger_units
        )
        mcc = self.event_types.codes.get("mcc")
        self.returns = Returns(
            self.store,
            self.programmes,
            self.cycles,
            self.entitlements,
            self.ledger,
            self.notices,
            batch_size=self.settings.disbursement_batch_size,
            category_label=lambda code: found.label if (found := mcc.meaning(code)) else None,
        )

    def gather(self, compiled: CompiledProgramme, at_ns: int) -> Population:
        """The facts ``compiled`` reads of every unit on a cycle's date; households from ``household_source``,
        the active persons from the snapshot ``active_persons``."""
        return gather_population(
            self.store, compiled.facts, compiled.programme.unit, at_ns, households=self.household_source,
            types=self.event_types, persons=self.active_persons,
        )  # fmt: skip

    def _load_programme(self, text: str) -> Programme:
        """The one programme ``text`` defines, checked against the declarations and ledgers in force."""
        loaded = load_programmes(
            [text], self.event_types, self.bases, ledgers=self.ledger_units.all(), benefits=self.benefits
        )
        if len(loaded) != 1:
            raise InvalidInputError("text", f"must define exactly one [[programme]], not {len(loaded)}")
        return next(iter(loaded))

    def _start_sanctions_watch(self, stack: contextlib.ExitStack) -> None:
        """Screening at enrolment and on new counterparties, on one worker thread off the ledger's feed."""
        self.sanctions_worker = ScreeningWorker()
        stack.callback(self.sanctions_worker.close)  # what is queued is screened before the store closes
        self.sanctions_watch = SanctionsWatch(self.store, self.restrictions, SanctionsLists(self.store))
        self.counterparties = NewCounterparties(
            self.store, self.registry, self.sanctions_watch, self.sanctions_worker, holders=self.holders
        )
        self.counterparty_feed = self.ledger.subscribe(self.counterparties.on_ledger_batch)
        stack.callback(self.counterparty_feed.close)
        # What an import (here, or by the CLI while this server holds the access log) owes the registered people.
        self.list_screenings = ListScreenings(self.store, self.registry, self.sanctions_watch, self.access_log)
        self.owed_screenings = OwedScreeningsPoller(self.list_screenings, self.sanctions_worker).start()
        stack.callback(self.owed_screenings.stop)

    def _screen_registrations(self, registrations: Sequence[NewlyRegistered]) -> None:
        worker: ScreeningWorker | None = getattr(self, "sanctions_worker", None)
        if worker is not None:
            worker.submit(lambda: screen_registrations(self.sanctions_watch, registrations))

    def close(self) -> None:
        """Stop the workers and close what is open, in the reverse of the order it opened."""
        self._open.close()

    def _deliver_notes_again(self) -> None:
        with contextlib.suppress(TesseraError):  # a note whose delivery failed earlier: one more try
            self.deliver_undelivered_notes()

    # -- who is calling -------------------------------------------------------------------

    def authenticate(self, token: str | None, client: str) -> Principal:
        """The principal behind a bearer token, or UnauthenticatedError (rate-limited per client)."""
        try:
            if not token:
                raise UnauthenticatedError("send an API key or a session token as 'Authorization: Bearer ...'")
            if not token.startswith("tss_") and (cached := self.cached_caller(token)) is not None:
                return cached
            with self.store.reading():  # the key, its principal and their person: one transaction
                principal = self._session_caller(token) if token.startswith("tss_") else self._caller_of(token)
        except UnauthenticatedError:
            self.limiter.take("auth_failure", client)  # past the allowance this becomes a 429
            raise
        return principal

    def cached_caller(self, token: str) -> Principal | None:
        """The principal behind an API key checked within ``caller_cache_s``; None if it must be checked again."""
        cached = self._callers.get(token)
        if cached is not None and time.monotonic() - cached[0] < self.settings.caller_cache_s:
            return cached[1]
        return None

    def _caller_of(self, token: str) -> Principal:
        """Check the key against the store, at most every ``caller_cache_s`` per token."""
        cached = self.cached_caller(token)
        if cached is not None:
            return cached
        now = time.monotonic()
        key_id, secret = parse_token(token)
        record = self.store.get_api_key(key_id)
        if record is None or record.revoked_at_ns is not None or not secret_matches(secret, record.secret_hash):
            raise UnauthenticatedError("the API key is unknown or revoked")
        principal = self.store.get_principal(record.principal_id)
        if principal is None or principal.disabled:
            raise UnauthenticatedError("the API key's principal is disabled")
        self._check_person_may_act(principal)
        with self._lock:
            if len(self._callers) >= CACHED_MAX:
                self._callers.clear()
            self._callers[token] = (now, principal)
        return principal

    def _session_caller(self, token: str) -> Principal:
        """The person behind a passkey session; a principal disabled since login is refused."""
        principal_id = self.sessions.principal_of(token)
        principal = None if principal_id is None else self.store.get_principal(principal_id)
        if principal is None or principal.disabled:
            raise UnauthenticatedError("the session is unknown or expired: log in again")
        self._check_person_may_act(principal)
        return principal

    def _check_person_may_act(self, principal: Principal) -> None:
        """A citizen speaking for a revoked or deceased person is refused, as their passkeys are.

        The principal is not disabled on a status change: a revocation can be undone, and
        ``disabled`` is for good. This check covers a change made by another process; in this
        one ``_status_changed`` has already ended the sessions and dropped the cached keys.
        """
        if principal.role is Role.citizen:
            person = self.registry.person_of_principal(principal.id)
            if person is not None and person.status not in LOGIN_STATUSES:
                raise UnauthenticatedError(f"the person is {person.status}: their credentials are refused")

    def _status_changed(self, person: Person) -> None:
        """A person's status changed: what their principal was granted before ends now."""
        self.sessions.end_all(person.principal_id)
        with self._lock:
            for token in [t for t, (_, p) in self._callers.items() if p.id == person.principal_id]:
                del self._callers[token]

    def principal(self, principal_id: str) -> Principal | None:
        """A principal's fixed facts (role, agency, subject), cached: they never change."""
        found = self._principals.get(principal_id)
        if found is None:
            found = self.store.get_principal(principal_id)
            if found is not None:
                with self._lock:
                    if len(self._principals) >= CACHED_MAX:
                        self._principals.clear()
                    self._principals[principal_id] = found
        return found

    def wallet_of(self, principal_id: str, ledger_id: int) -> int | None:
        """The wallet ``principal_id`` holds on the ledger (the first, by id), or None."""
        held = self.ledger.lookup_accounts(self.store.accounts_held_by(principal_id))
        wallets = sorted(a.id for a in held if a.ledger == ledger_id and a.code == AccountKind.wallet)
        return wallets[0] if wallets else None

    def ledger_unit(self, ledger_id: int, field: str = "ledger") -> LedgerUnit:
        """A registered ledger, cached (a row is never changed), or NotFoundError naming ``field``."""
        found = self._units.get(ledger_id)
        if found is None:
            found = self.ledger_units.require(ledger_id, field)
            with self._lock:
                self._units[ledger_id] = found
        return found

    def ledger_unit_named(self, name: str) -> LedgerUnit | None:
        """A registered ledger by name, cached once found (a row is never changed, a name never reused), or None."""
        found = self._units_named.get(name)
        if found is None:
            found = next((u for u in self.ledger_units.all() if u.name == name), None)
            if found is not None:  # a miss is not kept: the ledger may be registered next
                with self._lock:
                    self._units_named[name] = found
        return found

    def subject_of_person(self, number: str) -> str:
        """The access-log subject of a person by Tessera number, cached: it never changes."""
        found = self._person_subjects.get(number)
        if found is None:
            found = self.registry.subject_of(number)
            with self._lock:
                if len(self._person_subjects) >= CACHED_MAX:
                    self._person_subjects.clear()
                self._person_subjects[number] = found
        return found

    def person_of(self, caller: Caller) -> Person:
        """The registered person a citizen caller speaks for, or NotFoundError."""
        person = self.registry.person_of_principal(caller.principal.id)
        if person is None:
            raise NotFoundError("principal", "this principal speaks for no registered person")
        return person

    # -- who holds what ---------------------------------------------------------------------

    def holders(self, account_ids: list[int]) -> dict[int, str]:
        """Holder principal id of each account that has one."""
        cache = self._holders
        missing = [i for i in account_ids if i not in cache]
        if missing:
            found = (
                self.store.account_holders(missing)
                if len(missing) <= BATCH_SIZE_MAX
                else self._holders_chunked(missing)
            )
            with self._lock:
                if len(self._holders) + len(found) > CACHED_MAX:
                    self._holders.clear()
                self._holders.update(found)
        return {i: cache[i] for i in account_ids if i in cache}

    def _holders_chunked(self, ids: list[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for start in range(0, len(ids), BATCH_SIZE_MAX):
            found.update(self.store.account_holders(ids[start : start + BATCH_SIZE_MAX]))
        return found

    def controls(self, caller: Caller, holder_id: str | None) -> bool:
        """Whether the caller may act on an account held by ``holder_id`` under its grant (``auth.may_act_for``)."""
        return may_act_for(caller.principal, caller.grant, holder_id, self.principal)

    def person_subjects(self, holder_ids: Iterable[str], caller: Principal) -> list[str]:
        """The data subjects among holders: citizens other than the caller (whose looks are logged)."""
        subjects = set()
        for holder_id in set(holder_ids) - {caller.id}:  # the caller's own: no look to log, nothing to read
            holder = self.principal(holder_id)
            if holder is not None and holder.role is Role.citizen and holder.id != caller.id:
                subjects.add(holder.subject)
        return sorted(subjects)

    def settled_accounts(
        self, batch: npt.NDArray[np.void]
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Debit and credit account of each transfer, taken from the pending one for posts and voids.

        Also says which posts and voids name no pending transfer at all (in the ledger or
        earlier in the batch): nothing can move for those, and the ledger will say why.
        """
        debit = batch["debit_account_id"].astype(np.uint64)
        credit = batch["credit_account_id"].astype(np.uint64)
        settles = (batch["flags"] & (TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer)) != 0
        unknown = np.zeros(len(batch), dtype=np.bool_)
        if settles.any():
            pending_ids = np.unique(batch["pending_id"][settles])
            pending_ids = pending_ids[(pending_ids > 0) & (pending_ids < ID_LIMIT)]
            pendings = {
                t.id: (t.debit_account_id, t.credit_account_id)
                for t in self.ledger.lookup_transfers(pending_ids.tolist())
            }
            in_batch = {int(batch["id"][i]): (int(debit[i]), int(credit[i])) for i in np.flatnonzero(~settles)}
            for i in np.flatnonzero(settles):
                pending_id = int(batch["pending_id"][i])
                found = pendings.get(pending_id) or in_batch.get(pending_id)
                if found is None:
                    unknown[i] = True
                else:
                    debit[i], credit[i] = found
        return debit, credit, settles, unknown

    # -- the access log -----------------------------------------------------------------------

    def deliver(self, note_seq: int) -> None:
        """Append the entries a write's journaled note owes, then mark it delivered (0: the write owed none)."""
        note = self.ledger.notes.get(note_seq) if note_seq else None
        if note is not None:
            self.access_log.append(note_entries(note.payload, note.statuses, note.timestamp))
            self.ledger.notes.mark_delivered([note_seq])

    def deliver_undelivered_notes(self) -> int:
        """Entries of writes made durable before a crash cut off their logging: appended now, once each."""
        delivered = 0
        for note in self.ledger.notes.undelivered():
            delivered += deliver_entries(self.access_log, note_entries(note.payload, note.statuses, note.timestamp))
            self.ledger.notes.mark_delivered([note.seq])
        self.ledger.notes.save()
        return delivered

    def require_purpose(self, caller: Caller, subjects: Iterable[str], fields: tuple[str, ...], *, doing: str) -> None:
        """Refuse a look at someone's data without a stated purpose, logging the refusal for them first."""
        if not caller.purpose:
            self.record_access(caller, subjects, fields, "denied: no purpose")
            raise PurposeRequiredError(f"{doing} needs a purpose (X-Tessera-Purpose)")

    def record_access(
        self,
        caller: Caller,
        subjects: Iterable[str],
        fields: tuple[str, ...],
        outcome: str,
        *,
        unstated: str = NO_PURPOSE,
    ) -> None:
        """Durably log one entry per subject before the response leaves.

        The purpose is the caller's; ``unstated`` is what the entry says where they stated
        none: the purpose the act carries in itself, or NO_PURPOSE for a refused look.
        """
        now = time.time_ns()
        p = caller.principal
        purpose = caller.purpose or unstated
        entries = [AccessEntry(now, p.id, p.role.value, p.agency or "-", purpose, s, fields, outcome) for s in subjects]
        for start in range(0, len(entries), 65_536):
            self.access_log.append(entries[start : start + 65_536])


def check_rule_files(settings: Settings) -> None:
    """Load ``settings.rules`` as the service will (the declarations in force, bases as on record), keeping nothing.

    ``tessera serve`` calls it before the server starts, so a refused rule stops it with one
    line naming the rule, field and category, not a traceback from the server's start-up.
    """
    if not settings.rules:
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # as Services makes it
    with Store.open(settings.store_url) as store, store.transaction() as conn:
        declared = Declarations(store).current()  # on a fresh store, what version 1 will be; nothing written
        types, bases = declared.types, declared.bases
        for basis in bases_on_record(conn):
            if basis.id in bases:
                bases.register(basis)  # the same terms: a no-op; others: the conflict Services would meet
        types.use_codes(types.codes.replaced(ledger_codes_in(conn)))
    load_rules(list(settings.rules), types, bases, load_benefits([declared.document], bases))


def checked_public_url(value: str) -> str:
    """The service's public URL: https, or plain http on localhost (all browsers allow passkeys there)."""
    parts = urlsplit(value)
    local = parts.scheme == "http" and parts.hostname == "localhost"
    if not (parts.scheme == "https" or local) or not parts.hostname or parts.query or parts.fragment:
        raise InvalidInputError("public_url", f"must be https://host[:port] (http: localhost only), not {value!r:.60}")
    if parts.path not in ("", "/"):
        raise InvalidInputError("public_url", "must be scheme://host[:port] with no path")
    return f"{parts.scheme}://{parts.netloc}"


def checked_purpose(value: str | bytes | None) -> str:
    """The purpose an officer stated, as they wrote it; "" when the header is absent.

    ``value`` is the X-Tessera-Purpose header as it arrived: its bytes, or the latin-1
    reading of them that Starlette's headers hold. The bytes must be UTF-8, and the text
    may not hold what a person reading it cannot see (``tessera.text.checked_visible``, the
    check every free text a person reads passes): control characters (C0, DEL, C1), line and
    paragraph separators, format characters (bidirectional controls among them), other
    default-ignorable code points, private-use and unassigned ones. The zero-width
    non-joiner and joiner alone may stand between two letters, where Persian and Indic
    writing needs them.
    """
    if value is None:
        return ""
    try:
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        text = raw.decode("utf-8").strip(" \t")
    except UnicodeError:
        raise InvalidInputError("X-Tessera-Purpose", "must be UTF-8") from None
    if len(text) > PURPOSE_MAX:
        raise InvalidInputError("X-Tessera-Purpose", f"must be at most {PURPOSE_MAX} characters")
    return checked_visible(text, "X-Tessera-Purpose")
