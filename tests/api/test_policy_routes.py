"""Restrictions, notices and appeals over HTTP: the enforcement point, the officers' routes and the person's own."""

from __future__ import annotations

import pytest

from tests.api.policy_world import OTHER_WALLET, PERSON_WALLET, PURPOSE, Policy, policy_world
from tests.api.world import MONEY, World

ORDER = {"court": "High Court of Justice", "case_number": "HC/2026/118", "issued_on": "2026-01-05"}


@pytest.fixture
def policy(world: World) -> Policy:
    return policy_world(world)


class TestCheck:
    def test_allowed_until_a_second_officer_activates__then_denied_with_ids_and_reasons(self, policy: Policy) -> None:
        """/v1/check allows until another officer of the basis's agency activates, then denies with id and reason."""
        proposed = policy.propose()
        assert proposed["http"] == 201 and proposed["status"] == "proposed"
        assert proposed["proposed_by"] == policy.world.principals["tax-officer"].id
        assert policy.get("/v1/check", "bank", subject=policy.ada.number, domain="payments")["allowed"] is True
        mine = policy.post(
            f"/v1/restrictions/{proposed['id']}/decision", "tax-officer", {"decision": "activate", "reason": "x"}
        )
        assert mine["http"] == 403 and mine["code"] == "forbidden"
        other_agency = policy.post(
            f"/v1/restrictions/{proposed['id']}/decision", "bank", {"decision": "activate", "reason": "x"}
        )
        assert other_agency["http"] == 403 and "only an officer of tax-office" in str(other_agency["detail"])
        policy.post(
            f"/v1/restrictions/{proposed['id']}/decision",
            "tax-officer-2",
            {"decision": "activate", "reason": "checked"},
        )
        answer = policy.get("/v1/check", "bank", subject=policy.ada.number, domain="payments")
        assert answer["allowed"] is False and answer["restriction_ids"] == [proposed["id"]]
        assert answer["reasons"][0]["reason_code"] == "tax.unpaid"  # type: ignore[index]

    def test_each_check_on_a_person_is_logged_for_them_with_its_purpose(self, policy: Policy) -> None:
        """Every check on a person lands in their access log, with who asked, the purpose and the answer."""
        policy.get("/v1/check", "bank", subject=policy.ada.number, domain="travel")
        bank = policy.world.principals["bank"].id
        assert (bank, PURPOSE, "check travel: allowed") in policy.log_of(policy.ada)

    def test_a_check_without_a_purpose__refused_and_logged(self, policy: Policy) -> None:
        """A check with no stated purpose is refused with purpose_required, and the refusal is logged too."""
        answer = policy.get("/v1/check", "bank", purpose=None, subject=policy.ada.number, domain="travel")
        assert answer["http"] == 403 and answer["code"] == "purpose_required"
        assert policy.log_of(policy.ada)[0][2] == "denied: no purpose"

    def test_an_organisation_is_checked_without_a_log(self, policy: Policy) -> None:
        """An organisation is checked like a person, but has no personal access log to write."""
        assert policy.get("/v1/check", "bank", subject="org:acme", domain="procurement")["allowed"] is True

    @pytest.mark.parametrize(
        ("subject", "domain", "status"),
        [("100000000004", "payments", 404), ("100000000005", "payments", 400), (None, "voting", 422)],
        ids=["nobody", "check-digit", "domain"],
    )
    def test_bad_subjects_and_domains(self, policy: Policy, subject: str | None, domain: str, status: int) -> None:
        """Nobody's number is 404, a bad check digit 400, an unknown domain 422: each fault its own status."""
        answer = policy.get("/v1/check", "bank", subject=subject or policy.ada.number, domain=domain)
        assert answer["http"] == status

    def test_citizens_and_merchants_may_not_check_others(self, policy: Policy) -> None:
        """Citizens and merchants are forbidden to check whether someone else is restricted."""
        for who in ("ben", "shop"):
            assert policy.get("/v1/check", who, subject=policy.ada.number, domain="payments")["http"] == 403


class TestOfficers:
    def test_a_domain_the_basis_does_not_name__400_naming_it(self, policy: Policy) -> None:
        """Proposing a domain the basis does not name answers 400 with the domain's position as the field."""
        answer = policy.propose(domains=["payments", "travel"])
        assert answer["http"] == 400 and answer["field"] == "domains[1]"

    def test_open_ended_without_a_court_order__400(self, policy: Policy) -> None:
        """A proposal with no end date under a statute answers 400 on end_ns."""
        answer = policy.propose(end_ns=None)
        assert answer["http"] == 400 and answer["field"] == "end_ns"

    def test_a_court_order_from_the_courts_with_its_reference_takes_effect_at_once(self, policy: Policy) -> None:
        """A courts officer citing the order's reference makes an open-ended restriction active at once."""
        court = {"basis_id": "court/118", "domains": ["travel"], "end_ns": None, "authority": "High Court"}
        made = policy.post("/v1/restrictions", "justice", {**policy.body(), **court, "court_order": ORDER})
        assert made["http"] == 201 and made["status"] == "active" and made["end_ns"] is None
        assert made["court_order"] == ORDER
        assert policy.get("/v1/check", "bank", subject=policy.ada.number, domain="travel")["allowed"] is False

    def test_a_central_bank_officers_court_order__proposed_until_the_courts_confirm(self, policy: Policy) -> None:
        """Issue 15: it closed payments at once. Now it waits; a tax officer cannot confirm it; the courts do."""
        court = {"basis_id": "court/118", "authority": "High Court", "court_order": ORDER}
        made = policy.post("/v1/restrictions", "bank", {**policy.body(), **court})
        assert made["http"] == 201 and made["status"] == "proposed"
        assert policy.get("/v1/check", "bank", subject=policy.ada.number, domain="payments")["allowed"] is True
        assert not policy.frozen(PERSON_WALLET)
        decision = f"/v1/restrictions/{made['id']}/decision"
        refused = policy.post(decision, "tax-officer", {"decision": "activate", "reason": "x"})
        assert refused["http"] == 403 and "courts" in str(refused["detail"])
        purpose = "order HC/2026/118 confirmed"
        done = policy.post(decision, "justice", {"decision": "activate", "reason": "order seen"}, purpose)
        assert done["http"] == 200 and done["status"] == "active" and policy.frozen(PERSON_WALLET)
        lifted = policy.post(f"/v1/restrictions/{made['id']}/lift", "tax-officer-2", {"reason": "x"})
        assert lifted["http"] == 403 and policy.frozen(PERSON_WALLET)
        ids = {name: policy.world.principals[name].id for name in ("bank", "tax-officer", "justice", "tax-officer-2")}
        entries = reversed(policy.log_of(policy.ada))  # oldest first; the bank's checks left out
        log = [(who, why, what) for who, why, what in entries if who in ids.values() and not what.startswith("check")]
        assert log[:2] == [
            (ids["bank"], PURPOSE, "restriction proposal requested"),
            (ids["bank"], PURPOSE, f"restriction {made['id']} proposed"),
        ]
        refusal = f"restriction {made['id']} activate refused: only an officer of courts may decide"
        assert log[3][0] == ids["tax-officer"] and log[3][2].startswith(refusal)  # logged as refused, not as done
        assert log[4:6] == [
            (ids["justice"], purpose, f"restriction {made['id']} activate requested"),
            (ids["justice"], purpose, f"restriction {made['id']} active"),
        ]
        assert log[7][0] == ids["tax-officer-2"] and "lift refused" in log[7][2]

    def test_a_courts_officer_without_the_orders_reference__400_naming_the_field(self, policy: Policy) -> None:
        """A court's restriction without a well-formed order reference answers 400 on that field and makes nothing."""
        court = {"basis_id": "court/118", "authority": "High Court of Justice, order HC/2026/118"}
        answer = policy.post("/v1/restrictions", "justice", {**policy.body(), **court})
        assert answer["http"] == 400 and answer["field"] == "court_order"
        bad = {**ORDER, "case_number": "HC/2026/118; see attached"}
        answer = policy.post("/v1/restrictions", "justice", {**policy.body(), **court, "court_order": bad})
        assert answer["http"] == 400 and answer["field"] == "court_order.case_number"
        assert policy.get("/v1/restrictions", "justice", subject=policy.ada.number)["restrictions"] == []

    def test_a_rules_court_order_is_confirmed_with_the_reference_in_the_decision(self, policy: Policy) -> None:
        """The decision may carry the reference where the proposal has none (a rule's, or a clerk's)."""
        made = policy.post(
            "/v1/restrictions", "tax-officer", {**policy.body(), "basis_id": "court/118", "authority": "High Court"}
        )
        assert made["http"] == 201 and made["status"] == "proposed" and made["court_order"] is None
        decision = f"/v1/restrictions/{made['id']}/decision"
        assert policy.post(decision, "justice", {"decision": "activate", "reason": "r"})["field"] == "court_order"
        done = policy.post(decision, "justice", {"decision": "activate", "reason": "r", "court_order": ORDER})
        assert done["http"] == 200 and done["court_order"] == ORDER

    def test_payments_freezes_the_wallet_and_lifting_unfreezes_it(self, policy: Policy) -> None:
        """Closing payments freezes only the person's wallet; only the tax office may lift it, which unfreezes."""
        restriction_id = policy.activate()
        assert policy.frozen(PERSON_WALLET) and not policy.frozen(OTHER_WALLET)
        by_tribunal = policy.post(f"/v1/restrictions/{restriction_id}/lift", "judge", {"reason": "paid in full"})
        assert by_tribunal["http"] == 403 and policy.frozen(PERSON_WALLET)  # the tax office's to lift
        lifted = policy.post(f"/v1/restrictions/{restriction_id}/lift", "tax-officer", {"reason": "paid in full"})
        assert lifted["http"] == 200 and lifted["ended_by"] == policy.world.principals["tax-officer"].id
        assert not policy.frozen(PERSON_WALLET)

    def test_a_wallet_opened_while_payments_are_closed_is_frozen_from_the_start(self, policy: Policy) -> None:
        """A wallet the bank opens for a restricted person starts frozen, and unfreezes with the lift."""
        restriction_id = policy.activate()
        ada, ben = policy.ada.principal_id, policy.ben.principal_id
        accounts = [
            {"id": 60, "ledger": MONEY, "kind": "wallet", "flags": ["debits_must_not_exceed_credits"], "holder": ada},
            {"id": 61, "ledger": MONEY, "kind": "wallet", "flags": ["debits_must_not_exceed_credits"], "holder": ben},
        ]
        opened = policy.post("/v1/ledger/accounts", "bank", {"accounts": accounts})
        assert opened["http"] == 200 and {r["status"] for r in opened["results"]} == {"ok"}  # type: ignore[union-attr]
        assert policy.frozen(60) and not policy.frozen(61)
        policy.post(f"/v1/restrictions/{restriction_id}/lift", "tax-officer", {"reason": "paid in full"})
        assert not policy.frozen(60) and not policy.frozen(PERSON_WALLET)

    def test_an_amendment_into_another_domain__400_and_nothing_changes(self, policy: Policy) -> None:
        """Amending an active restriction into a domain its basis lacks answers 400 and leaves it as it was."""
        restriction_id = policy.activate()
        answer = policy.post(
            f"/v1/restrictions/{restriction_id}/amendment", "tax-officer", {"domains": ["travel"], "reason": "x"}
        )
        assert answer["http"] == 400
        assert policy.get(f"/v1/restrictions/{restriction_id}", "bank")["domains"] == ["payments"]

    def test_reading_a_restriction_shows_its_history_and_is_logged(self, policy: Policy) -> None:
        """An officer reading a restriction sees its history and the queue, and the read is logged for the person."""
        restriction_id = policy.activate()
        found = policy.get(f"/v1/restrictions/{restriction_id}", "judge")
        assert [e["action"] for e in found["history"]] == ["proposed", "activated"]  # type: ignore[attr-defined]
        assert (policy.world.principals["judge"].id, PURPOSE, "read") in policy.log_of(policy.ada)
        queue = policy.get("/v1/restrictions", "judge", subject=policy.ada.number)
        assert [r["id"] for r in queue["restrictions"]] == [restriction_id]  # type: ignore[attr-defined]

    def test_legal_bases_are_read_by_all_and_declared_by_no_admin(self, policy: Policy) -> None:
        """A basis is declared by data-protection officers (/v1/declarations); an admin registers none (issue 16)."""
        body = {"id": "x/1", "instrument": "Act", "article": "s. 1", "kind": "regulation", "exercised_by": ["courts"]}
        assert policy.post("/v1/legal-bases", "admin", body)["http"] == 405
        ids = [b["id"] for b in policy.get("/v1/legal-bases", "ada")["bases"]]  # type: ignore[attr-defined]
        assert {"court/118", "tax-act/12", "sanctions-act/listing"} <= set(ids)  # the built-in ones too
        assert "x/1" not in ids and ids == sorted(ids)
        bases = {b["id"]: b for b in policy.get("/v1/legal-bases", "ada")["bases"]}  # type: ignore[attr-defined]
        assert "loan.repaid" in bases["consumer-credit-act/12"]["covers"]  # what a rule citing it may read


class TestThePerson:
    def test_notices_carry_reasons_basis_and_how_to_appeal(self, policy: Policy) -> None:
        """The person's own notice gives the reference, the law, the reasons and where to appeal; others see none."""
        restriction_id = policy.activate()
        (notice,) = policy.get("/v1/me/notices", "ada", purpose=None)["notices"]  # type: ignore[misc]
        assert notice["reference"] == restriction_id and notice["basis"] == "Tax Act 2024, s. 12(3)"
        assert "unpaid" in notice["reason_text"] and "/v1/me/appeals" in notice["appeal"]
        assert policy.get("/v1/me/notices", "ben", purpose=None)["notices"] == []

    def test_an_appeal_on_someone_elses_restriction__403_and_nothing_changes(self, policy: Policy) -> None:
        """Appealing someone else's restriction answers 403, and no appeal appears anywhere."""
        restriction_id = policy.activate()
        answer = policy.post("/v1/me/appeals", "ben", {"restriction_id": restriction_id, "grounds": "not me"}, None)
        assert answer["http"] == 403
        assert policy.get("/v1/appeals", "judge")["appeals"] == []
        mine = policy.get("/v1/me/restrictions", "ada", purpose=None)
        assert mine["restrictions"][0]["appeal_state"] == "none" and mine["appeals"] == []  # type: ignore[index]

    def test_an_appeal_lifted_by_the_tribunal_unfreezes_at_once(self, policy: Policy) -> None:
        """A tribunal lifting on appeal unfreezes at once and tells the person; the decider may not hear it."""
        restriction_id = policy.activate()
        filed = policy.post("/v1/me/appeals", "ada", {"restriction_id": restriction_id, "grounds": "paid"}, None)
        assert filed["http"] == 201
        (item,) = policy.get("/v1/appeals", "judge")["appeals"]  # type: ignore[misc]
        assert item["restriction"]["id"] == restriction_id
        by_decider = policy.post(
            f"/v1/appeals/{filed['id']}/decision", "tax-officer-2", {"outcome": "lift", "reason": "x"}
        )
        assert by_decider["http"] == 403
        decided = policy.post(f"/v1/appeals/{filed['id']}/decision", "judge", {"outcome": "lift", "reason": "receipt"})
        assert decided["http"] == 200 and decided["status"] == "lifted" and decided["decision_reason"] == "receipt"
        assert not policy.frozen(PERSON_WALLET)
        assert policy.get("/v1/check", "bank", subject=policy.ada.number, domain="payments")["allowed"] is True
        kinds = [n["kind"] for n in policy.get("/v1/me/notices", "ada", purpose=None)["notices"]]  # type: ignore[attr-defined]
        assert sorted(kinds) == ["appeal_decided", "restriction", "restriction_ended"]

    def test_an_appeal_on_a_court_order__403_to_the_tribunal__the_courts_hear_it(self, policy: Policy) -> None:
        """Issue 15: allowing it lifts the order, which only the courts may do; the refusal is logged as refused."""
        court = {"basis_id": "court/118", "authority": "High Court", "court_order": ORDER}
        made = policy.post("/v1/restrictions", "justice", {**policy.body(), **court})
        assert made["http"] == 201 and made["status"] == "active" and policy.frozen(PERSON_WALLET)
        filed = policy.post("/v1/me/appeals", "ada", {"restriction_id": made["id"], "grounds": "paid"}, None)
        decision = f"/v1/appeals/{filed['id']}/decision"
        for outsider in ("judge", "bank", "justice"):  # the tribunal, the central bank, the order's own officer
            refused = policy.post(decision, outsider, {"outcome": "lift", "reason": "receipt"})
            assert refused["http"] == 403 and policy.frozen(PERSON_WALLET), refused
        tribunal = policy.world.principals["judge"].id
        asked = f"appeal {filed['id']} lift"
        assert (tribunal, PURPOSE, f"{asked} requested") in policy.log_of(policy.ada)
        assert any(
            who == tribunal and what.startswith(f"{asked} refused: only an officer of courts")
            for who, _, what in policy.log_of(policy.ada)
        )
        decided = policy.post(decision, "justice-2", {"outcome": "lift", "reason": "judgment paid"})
        assert decided["http"] == 200 and decided["status"] == "lifted" and not policy.frozen(PERSON_WALLET)
        justice = policy.world.principals["justice-2"].id
        assert (justice, PURPOSE, f"appeal {filed['id']} lifted") in policy.log_of(policy.ada)
