"""Declarations are law: versions made by data-protection officers, checked, approved by one or two, kept and exported.

The attacks are an operator's who wants to punish a minority and has read docs/rules.md:
a type renamed into a rule file, a religion field under a harmless label, a restricting
basis declared alone, a health record copied as "reference".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update

from tessera.auth.principals import Principal, Role
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, ProtectedCategoryError
from tessera.rules.basis import legal_basis
from tessera.rules.declaration_checks import declared, document_sha256
from tessera.rules.declarations import (
    BUILTIN_NOTE,
    EXPORT_FORMAT,
    Declarations,
    DeclarationStatus,
    declared_from_export,
)
from tessera.rules.definitions import BUILTIN_DEFINITIONS, builtin_path
from tessera.rules.exercise import record_basis
from tessera.rules.language.rulesets import check_rules
from tessera.store import Store
from tessera.store.tables import declaration_versions

BRANCH = """
[[event_type]]
name = "branch.church_street_cash"
purpose = "financial"
fields.amount = { type = "int", category = "financial" }
"""
BUILTIN = builtin_path(BUILTIN_DEFINITIONS).read_text(encoding="utf-8")
FINE = """
[[event_type]]
name = "fine.unpaid"
purpose = "judicial"
reported_by = ["courts"]
fields.amount = { type = "int", category = "judicial" }
"""
STREET = {"branch.church_street_cash": "Church Street is where the branch is"}
RESTRICTING = """
[[legal_basis]]
id = "public-order-act/9"
instrument = "Public Order Act"
article = "s. 9 (travel bans)"
kind = "statute"
domains = ["travel"]
exercised_by = ["courts"]
"""


def field(name: str, kind: str = "bool", category: str = "reference") -> str:
    return f'fields."{name}" = {{ type = "{kind}", category = "{category}" }}'


def event(name: str, fields: str, purpose: str = "identity") -> str:
    return f'\n[[event_type]]\nname = "{name}"\npurpose = "{purpose}"\n{fields}\n'


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'registry.db'}") as opened:
        yield opened


@pytest.fixture
def dpos(sqlite_store: Store) -> tuple[Principal, Principal, Principal]:
    return (
        sqlite_store.create_principal("dpo-ada", Role.dpo),
        sqlite_store.create_principal("dpo-bea", Role.dpo),
        sqlite_store.create_principal("dpo-cy", Role.dpo),
    )


@pytest.fixture
def register(sqlite_store: Store) -> Declarations:
    return Declarations(sqlite_store)


class TestTheStore:
    def test_a_dpo_is_a_principal_and_ledgers_carry_a_category(self, store: Store) -> None:
        """Migration 0014: the role's CHECK admits dpo (SQLite and PostgreSQL); ledgers.category is there."""
        dpo = store.create_principal("dpo-1", Role.dpo)
        assert store.get_principal(dpo.id) == dpo
        with store._engine.connect() as conn:  # the schema, past the store's API
            columns = {c["name"]: c for c in inspect(conn).get_columns("ledgers")}
        assert columns["category"]["nullable"]

    def test_the_role_check_still_refuses_an_unknown_role(self, store: Store) -> None:
        """Widening the CHECK kept it: a role nobody knows is refused by the database itself."""
        with pytest.raises(Exception, match=r"(?i)check|constraint"), store._engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO principals (id, name, role, agency, created_at_ns, disabled) "
                "VALUES ('p_0000000000000001', 'x', 'overlord', '', 1, false)"
            )

    def test_a_fresh_store_records_the_built_ins_as_version_1(self, store: Store) -> None:
        """First start: version 1 is the built-in definitions, approved, proposed by nobody, needing no one."""
        register = Declarations(store)
        assert register.in_force() is None
        first = register.bootstrap()
        assert (first.version, first.status, first.proposed_by, first.approvals_needed) == (
            1,
            DeclarationStatus.approved,
            None,
            0,
        )
        assert first.document == BUILTIN and first.sha256 == document_sha256(BUILTIN)
        assert first.note == BUILTIN_NOTE and first.base_version is None
        assert register.bootstrap() == first  # once
        loaded = register.load_in_force()
        assert loaded.version == 1 and "benefit.claimed" in loaded.types

    def test_two_dpos_make_a_version_on_either_database(self, store: Store) -> None:
        """Proposal, two approvals and the law in force, on SQLite and PostgreSQL (where writers queue on a lock)."""
        register = Declarations(store)
        ada, bea = store.create_principal("dpo-ada", Role.dpo), store.create_principal("dpo-bea", Role.dpo)
        register.propose(ada, BUILTIN + RESTRICTING, "public order")
        register.approve(2, ada)
        assert register.approve(2, bea).status is DeclarationStatus.approved
        assert "public-order-act/9" in register.load_in_force().bases
        assert [d.decision for d in register.require(2).decisions] == ["approve", "approve"]

    def test_version_1_keeps_the_bases_on_record(self, sqlite_store: Store) -> None:
        """A basis an admin registered before declarations were law is in version 1, so rules citing it still load."""
        legacy = legal_basis("fines-act/3", "Fines Act", "s. 3", "statute", ["licensing"], exercised_by=["courts"])
        with sqlite_store.transaction(write=True) as conn:
            record_basis(conn, legacy, 1)
        made = Declarations(sqlite_store).load_in_force()
        assert made.bases.get("fines-act/3") == legacy
        assert "on record before declarations were law" in Declarations(sqlite_store).require(1).document

    def test_current_reads_without_writing(self, register: Declarations, sqlite_store: Store) -> None:
        """rules check on a store with no version yet sees what version 1 would be, and records nothing."""
        assert "loan.repaid" in register.current().types
        assert register.in_force() is None


class TestWhoMayDeclare:
    @pytest.mark.parametrize("role", [Role.admin, Role.officer, Role.auditor, Role.citizen, Role.merchant])
    def test_only_a_dpo_proposes(self, sqlite_store: Store, register: Declarations, role: Role) -> None:
        """Rule authors (officers) and admins make no declarations."""
        someone = sqlite_store.create_principal("someone", role, agency="courts" if role is Role.officer else "")
        with pytest.raises(ForbiddenError, match="data-protection officer"):
            register.propose(someone, BUILTIN + FINE, "a fine")
        assert register.versions(DeclarationStatus.pending) == []

    def test_a_disabled_dpo_decides_nothing(self, sqlite_store: Store, register: Declarations, dpos: tuple) -> None:
        """A DPO disabled after a proposal was made can no longer approve it."""
        proposal = register.propose(dpos[0], BUILTIN + FINE, "a fine")
        sqlite_store.disable_principal(dpos[1].id)
        gone = sqlite_store.get_principal(dpos[1].id)
        assert gone is not None
        with pytest.raises(ForbiddenError):
            register.approve(proposal.version.version, gone)


class TestProposingAndApproving:
    def test_one_dpo_declares_an_event_type(self, register: Declarations, dpos: tuple) -> None:
        """Proposed on version 1, pending until approved; then in force, with its decision kept."""
        ada = dpos[0]
        proposal = register.propose(ada, BUILTIN + FINE, "unpaid fines, reported by the courts")
        version = proposal.version
        assert (version.version, version.base_version, version.status) == (2, 1, DeclarationStatus.pending)
        assert version.approvals_needed == 1 and proposal.changes.added == ("event_type fine.unpaid",)
        assert "fine.unpaid" not in register.load_in_force().types  # not law until approved
        approved = register.approve(2, ada, "reviewed the diff")
        assert approved.status is DeclarationStatus.approved and approved.approved_by == (ada.id,)
        assert approved.decisions[0].reason == "reviewed the diff"
        assert register.load_in_force().version == 2 and "fine.unpaid" in register.load_in_force().types

    def test_a_single_dpo_cannot_add_a_basis_that_restricts(self, register: Declarations, dpos: tuple) -> None:
        """Attack: one DPO declares a travel-ban basis. It needs a second DPO, not the proposer again."""
        ada, bea, _ = dpos
        proposal = register.propose(ada, BUILTIN + RESTRICTING, "public order")
        assert proposal.version.approvals_needed == 2
        assert proposal.changes.restricting_bases == ("public-order-act/9",)
        assert proposal.changes.why_two() == ["legal basis public-order-act/9 can restrict (it names domains)"]
        assert register.approve(2, ada).status is DeclarationStatus.pending
        with pytest.raises(ConflictError, match="decided version 2 already"):
            register.approve(2, ada)
        assert "public-order-act/9" not in register.load_in_force().bases
        done = register.approve(2, bea, "checked against the gazette")
        assert done.status is DeclarationStatus.approved and done.approved_by == (ada.id, bea.id)
        assert "public-order-act/9" in register.load_in_force().bases

    def test_two_others_may_approve_what_a_dpo_proposed(self, register: Declarations, dpos: tuple) -> None:
        """A basis that restricts needs two approvals, neither the proposer's; the second makes it law."""
        ada, bea, cy = dpos
        register.propose(ada, BUILTIN + RESTRICTING, "public order")
        register.approve(2, bea)
        assert register.approve(2, cy).status is DeclarationStatus.approved

    def test_changing_a_restricting_basis_needs_two_too(self, register: Declarations, dpos: tuple) -> None:
        """Widening what an existing basis closes is a change to a basis that restricts."""
        ada = dpos[0]
        wider = BUILTIN.replace('domains = ["credit"]', 'domains = ["credit", "travel"]', 1)
        proposal = register.propose(ada, wider, "credit bureau may ban travel")
        assert proposal.changes.restricting_bases == ("consumer-credit-act/12",)
        assert proposal.version.approvals_needed == 2

    def test_a_basis_that_only_opens_doors_needs_one(self, register: Declarations, dpos: tuple) -> None:
        """A basis that closes no domain needs only one approval: the double check guards restrictions."""
        favourable = '\n[[legal_basis]]\nid = "housing-act/2"\ninstrument = "Housing Act"\narticle = "s. 2"\n'
        favourable += 'kind = "statute"\n'
        proposal = register.propose(dpos[0], BUILTIN + favourable, "housing grants")
        assert proposal.version.approvals_needed == 1

    def test_a_refusal_closes_a_version_with_its_reason(self, register: Declarations, dpos: tuple) -> None:
        """A refusal needs a reason, closes the version for good, and the law in force stays as it was."""
        ada, bea, _ = dpos
        register.propose(ada, BUILTIN + RESTRICTING, "public order")
        with pytest.raises(InvalidInputError):
            register.refuse(2, bea, " ")
        refused = register.refuse(2, bea, "no statute says this")
        assert refused.status is DeclarationStatus.refused and refused.decisions[-1].reason == "no statute says this"
        with pytest.raises(ConflictError, match="refused already"):
            register.approve(2, ada)
        assert register.load_in_force().version == 1

    def test_a_version_proposed_on_a_superseded_one_cannot_be_approved(
        self, register: Declarations, dpos: tuple
    ) -> None:
        """Two proposals on version 1: once one is law, the other would silently drop it. It is proposed again."""
        ada, bea, _ = dpos
        register.propose(ada, BUILTIN + FINE, "fines")
        register.propose(bea, BUILTIN + event("tax.audited", 'fields.amount = { type = "int", category = "tax" }'), "t")
        register.approve(2, ada)
        with pytest.raises(ConflictError, match="propose it again on top of version 2"):
            register.approve(3, bea)
        assert register.refuse(3, bea, "superseded").status is DeclarationStatus.refused

    def test_the_same_document_again__conflict(self, register: Declarations, dpos: tuple) -> None:
        """Proposing the document already in force is a conflict naming that version, not a new version."""
        with pytest.raises(ConflictError, match="the same as version 1"):
            register.propose(dpos[0], BUILTIN, "nothing new")

    def test_a_note_is_required(self, register: Declarations, dpos: tuple) -> None:
        """A proposal without a note saying why is refused."""
        with pytest.raises(InvalidInputError, match="note"):
            register.propose(dpos[0], BUILTIN + FINE, "")

    def test_an_unknown_version__not_found(self, register: Declarations, dpos: tuple) -> None:
        """Approving a version that was never proposed is not found."""
        with pytest.raises(NotFoundError):
            register.approve(99, dpos[0])

    def test_versions_list_newest_first(self, register: Declarations, dpos: tuple) -> None:
        """Versions list newest first, and can be filtered to those pending."""
        register.propose(dpos[0], BUILTIN + FINE, "fines")
        assert [v.version for v in register.versions()] == [2, 1]
        assert [v.version for v in register.versions(DeclarationStatus.pending)] == [2]

    def test_a_basis_with_other_terms_than_on_record__refused_at_proposal(
        self, register: Declarations, dpos: tuple
    ) -> None:
        """A basis's terms never change once recorded: the service would fail at start, so the proposal fails now."""
        register.load_in_force()
        with register.store.transaction(write=True) as conn:
            record_basis(conn, legal_basis("fines-act/3", "Fines Act", "s. 3", "statute"), 1)
        other = '\n[[legal_basis]]\nid = "fines-act/3"\ninstrument = "Fines Act"\narticle = "s. 4"\nkind = "statute"\n'
        with pytest.raises(ConflictError, match="legal_basis fines-act/3"):
            register.propose(dpos[0], BUILTIN + other, "fines")

    def test_a_basis_exercised_by_no_registered_agency__refused(self, register: Declarations, dpos: tuple) -> None:
        """A basis naming an agency that is not registered is refused, naming the basis."""
        unknown = RESTRICTING.replace('["courts"]', '["secret-police"]')
        with pytest.raises(NotFoundError, match="legal_basis public-order-act/9"):
            register.propose(dpos[0], BUILTIN + unknown, "ban")


class TestAttacks:
    @pytest.mark.parametrize(
        ("addition", "field", "category"),
        [
            (event("citizen.worship_visit", field("place", "str")), "name", "religion"),
            (event("citizen.visit", field("culto", "str")), "fields.culto", "religion"),
            (event("citizen.visit", field("mosque_visit")), "fields.mosque_visit", "religion"),
            (event("citizen.visit", field("посещение_церкви")), "fields.посещение_церкви", "religion"),
            (event("citizen.visit", field("poseshchenie_tserkvi")), "fields.poseshchenie_tserkvi", "religion"),
            (event("citizen.visit", field("信仰")), "fields.信仰", "religion"),
            (event("member.joined", field("union_member"), "financial"), "fields.union_member", "trade_union"),
            (event("citizen.moved", field("party_membership")), "fields.party_membership", "political_opinion"),
            ('\n[[record_type]]\nname = "ethnic_profile"\n' + field("code", "int"), "name", "ethnicity"),
            (event("pharmacy.purchase", field("amount", "int", "financial"), "financial"), "name", "health"),
            (event("loan.assessed", field("chronic_illness", "bool", "financial"), "financial"),
             "fields.chronic_illness", "health"),
        ],
    )  # fmt: skip
    def test_a_protected_name__refused_naming_the_field_and_category(
        self, register: Declarations, dpos: tuple, addition: str, field: str, category: str
    ) -> None:
        """Names in English, Spanish, Russian (Cyrillic and romanised), Chinese; health under a financial label."""
        with pytest.raises(ProtectedCategoryError) as caught:
            register.propose(dpos[0], BUILTIN + addition, "new data", name="attack.toml")
        assert caught.value.field.startswith("attack.toml:") and caught.value.field.endswith(f".{field}")
        assert caught.value.category == category
        assert register.versions(DeclarationStatus.pending) == []

    def test_health_declared_as_health_is_lawful(self, register: Declarations, dpos: tuple) -> None:
        """A clinic visit under its own label is health data: declared, and the guard keeps it for benefits."""
        clinic = event("clinic.visit", 'fields.amount = { type = "int", category = "health" }', "health")
        assert register.propose(dpos[0], BUILTIN + clinic, "clinic visits for the care allowance").version.version == 2

    def test_a_health_record_relabelled_as_reference__refused(self, register: Declarations, dpos: tuple) -> None:
        """Attack: the claimant record's shape under another name, its health fields called "reference"."""
        copy = """
[[record_type]]
name = "reference_data"
fields.age_band = { type = "int", category = "identity" }
fields.disability_grade = { type = "int", category = "reference" }
fields.chronic_condition = { type = "bool", category = "reference" }
"""
        with pytest.raises(ProtectedCategoryError) as caught:
            register.propose(dpos[0], BUILTIN + copy, "reference data")
        assert caught.value.field == "proposal:record_type[1].fields.disability_grade"
        assert caught.value.category == "disability"
        assert "same shape" in str(caught.value) and "'claimant'" in str(caught.value)

    def test_a_wider_copy_of_a_protected_record__refused(self, register: Declarations, dpos: tuple) -> None:
        """Adding a field to the copy does not make it another shape: it still holds the protected one."""
        copy = """
[[record_type]]
name = "profile"
fields.age_band = { type = "int", category = "identity" }
fields.disability_grade = { type = "int", category = "disability" }
fields.chronic_condition = { type = "bool", category = "reference" }
fields.postcode = { type = "str", category = "reference" }
"""
        with pytest.raises(ProtectedCategoryError, match="chronic_condition"):
            register.propose(dpos[0], BUILTIN + copy, "profiles")

    def test_relabelling_across_versions__refused(self, register: Declarations, dpos: tuple) -> None:
        """Attack in two steps: drop a health record in one version, bring it back as reference in the next."""
        ada = dpos[0]
        care = '\n[[record_type]]\nname = "care_needs"\nfields.hours = {{ type = "int", category = "{c}" }}\n' + (
            'fields.grade = {{ type = "int", category = "{c}" }}\n'
        )
        register.propose(ada, BUILTIN + care.format(c="health"), "care needs, for the care allowance")
        register.approve(2, ada)
        register.propose(ada, BUILTIN + FINE, "care needs are no longer declared")
        register.approve(3, ada)
        with pytest.raises(ProtectedCategoryError) as caught:
            register.propose(ada, BUILTIN + FINE + care.format(c="reference"), "care needs, as reference")
        assert "the same name" in str(caught.value) and "(version 2)" in str(caught.value)
        assert caught.value.category == "health"

    def test_a_rule_file_holds_no_declarations(self) -> None:
        """Attack: a rule author ships a renamed event type inside a rule file. Refused, naming the file and key."""
        made = declared(BUILTIN)
        rules = (
            event("citizen.gathering", 'fields.place = { type = "str", category = "reference" }')
            + """
[[rule]]
id = "x"
title = "x"
basis = "consumer-credit-act/12"
inputs = ["citizen.gathering"]
condition = "true"
reason_code = "x"
reason_text = "x"
effects = [{ kind = "score", scheme = "credit", points = -10, expires_after = "30d" }]
"""
        )
        loaded, refusals = check_rules([rules], made.types, made.bases)
        assert len(loaded) == 0
        assert refusals[0].where == "<text 0>:event_type"
        assert "rule file" in str(refusals[0].error)


class TestExceptions:
    def test_an_exception_needs_two_dpos_and_a_reason(self, register: Declarations, dpos: tuple) -> None:
        """A lawful name the lexicon refuses: granted per name, with a reason, approved by two."""
        ada, bea, _ = dpos
        credit = BRANCH
        with pytest.raises(ProtectedCategoryError):
            register.propose(ada, BUILTIN + credit, "cash at the Church Street branch")
        with pytest.raises(InvalidInputError, match="reason"):
            register.propose(ada, BUILTIN + credit, "cash at the Church Street branch", dict.fromkeys(STREET, ""))
        proposal = register.propose(ada, BUILTIN + credit, "cash at the Church Street branch", STREET)
        assert proposal.version.approvals_needed == 2 and proposal.changes.new_exceptions == tuple(STREET)
        register.approve(2, ada)
        in_force = register.approve(2, bea)
        assert in_force.exceptions == STREET
        assert "branch.church_street_cash" in register.load_in_force().types

    def test_an_exception_that_waives_nothing__refused(self, register: Declarations, dpos: tuple) -> None:
        """No blank cheques: an exception is for a name this document declares and the lexicon refuses."""
        with pytest.raises(InvalidInputError, match=r"exceptions\.future\.mosque_visit"):
            register.propose(dpos[0], BUILTIN + FINE, "fines", {"future.mosque_visit": "later"})

    def test_an_exception_carries_to_the_next_version_with_one_dpo(self, register: Declarations, dpos: tuple) -> None:
        """Granted once by two, it stays while the name stays; a later ordinary change needs one DPO."""
        ada, bea, _ = dpos
        credit = BRANCH
        register.propose(ada, BUILTIN + credit, "credit union", {"branch.church_street_cash": "a street name"})
        register.approve(2, ada)
        register.approve(2, bea)
        later = register.propose(ada, BUILTIN + credit + FINE, "fines too")
        assert later.version.exceptions == {"branch.church_street_cash": "a street name"}
        assert later.version.approvals_needed == 1


class TestExport:
    def test_an_export_loads_with_its_hash_checked(self, register: Declarations, dpos: tuple) -> None:
        """The approved version exports with its format, version and approvers, and loads back through JSON."""
        ada = dpos[0]
        register.propose(ada, BUILTIN + FINE, "fines")
        register.approve(2, ada)
        export = register.export()
        assert export["format"] == EXPORT_FORMAT and export["version"] == 2 and export["approved_by"] == [ada.id]
        made = declared_from_export(json.loads(json.dumps(export)))
        assert made.version == 2 and "fine.unpaid" in made.types

    def test_an_altered_export__refused(self, register: Declarations) -> None:
        """A rule author who adds a type to the export breaks its hash."""
        export = register.export()
        export["document"] += FINE
        with pytest.raises(InvalidInputError, match="altered"):
            declared_from_export(export)
        export["sha256"] = document_sha256(export["document"])  # and forging the hash meets the checks again
        export["document"] += event("citizen.visit", 'fields.mosque = { type = "bool", category = "reference" }')
        export["sha256"] = document_sha256(export["document"])
        with pytest.raises(ProtectedCategoryError):
            declared_from_export(export)

    def test_a_pending_version_is_not_exported(self, register: Declarations, dpos: tuple) -> None:
        """A version still pending cannot be exported: only law in force is."""
        register.propose(dpos[0], BUILTIN + FINE, "fines")
        with pytest.raises(ConflictError, match="only law is exported"):
            register.export(2)

    def test_a_stored_document_altered_in_the_database__refused_at_load(
        self, register: Declarations, sqlite_store: Store
    ) -> None:
        """Someone with the database who edits the law's text breaks its hash: the service does not start on it."""
        register.bootstrap()
        with sqlite_store.transaction(write=True) as conn:
            conn.execute(update(declaration_versions).values(document=BUILTIN + FINE))
        with pytest.raises(ConflictError, match="altered"):
            register.load_in_force()


class TestBuiltInUpdates:
    def test_a_release_with_other_built_ins_proposes_them(
        self, register: Declarations, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The law in force stays until a DPO approves the release's definitions."""
        register.bootstrap()
        monkeypatch.setattr(Declarations, "_builtin_document", lambda self: BUILTIN + FINE)
        assert register.bootstrap().version == 1
        pending = register.versions(DeclarationStatus.pending)
        assert [(v.version, v.proposed_by, v.approvals_needed) for v in pending] == [(2, None, 1)]
        register.bootstrap()
        assert len(register.versions(DeclarationStatus.pending)) == 1  # proposed once

    def test_law_made_by_dpos_is_not_replaced_by_a_release(
        self, register: Declarations, dpos: tuple, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A release with new built-ins proposes nothing over law the DPOs made: their version stays newest."""
        register.propose(dpos[0], BUILTIN + FINE, "fines")
        register.approve(2, dpos[0])
        monkeypatch.setattr(Declarations, "_builtin_document", lambda self: BUILTIN.replace("s. 12", "s. 13"))
        register.bootstrap()
        assert register.versions(DeclarationStatus.pending) == []
        with register.store.transaction() as conn:
            assert (
                conn.scalar(select(declaration_versions.c.version).order_by(declaration_versions.c.version.desc())) == 2
            )
