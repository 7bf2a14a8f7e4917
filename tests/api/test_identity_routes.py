"""Enrolment, adjudication and the person registry over HTTP, and what each leaves in the access log."""

from __future__ import annotations

import base64

import numpy as np

from tessera.cli.seed import issue_key
from tessera.service import NO_PURPOSE
from tests.api.people import applicant, enrol, face
from tests.api.world import World

PURPOSE = "registry case 2026/31"


def test_a_new_applicant_is_enrolled_with_a_number(world: World) -> None:
    """No one in the gallery like them: a number at once, and the enrolment kept on record."""
    response = enrol(world, applicant("st1-0001", who=1))
    assert response.status_code == 201, response.text
    [enrolment] = response.json()["enrolments"]
    assert enrolment["state"] == "enrolled" and len(enrolment["number"]) == 12
    assert enrolment["candidates"] == []
    again = world.client.get(f"/v1/identity/enrolments/{enrolment['id']}", headers=world.as_("bank", PURPOSE))
    assert again.json() == enrolment


def test_resubmitting_is_refused_and_changes_nothing(world: World) -> None:
    """The same request id, or the same submission under a new id, is a 409 naming the field."""
    first = applicant("st1-0002", who=2)
    assert enrol(world, first).status_code == 201
    count = world.services.registry.count()
    replay = enrol(world, first)
    assert replay.status_code == 409 and replay.json()["field"] == "request_id"
    copied = enrol(world, {**first, "request_id": "st1-0003"})
    assert copied.status_code == 409 and copied.json()["field"] == "templates"
    assert world.services.registry.count() == count


def test_a_duplicate_goes_to_review_and_the_match_is_logged_for_the_person(world: World) -> None:
    """The same face under another name waits for an officer, with the candidate and its score."""
    [first] = enrol(world, applicant("st1-0010", who=10)).json()["enrolments"]
    [second] = enrol(world, applicant("st2-0011", who=10, name="Miriam Tesfay")).json()["enrolments"]
    assert second["state"] == "review" and second["number"] is None
    assert [c["number"] for c in second["candidates"]] == [first["number"]]
    assert second["candidates"][0]["score"] > 0.5
    queue = world.client.get("/v1/identity/adjudications", headers=world.as_("tax-officer", PURPOSE))
    assert [e["id"] for e in queue.json()["enrolments"]] == [second["id"]]
    assert queue.json()["enrolments"][0]["demographics"]["name"] == "Miriam Tesfay"  # each as stated
    subject = world.services.registry.subject_of(first["number"])
    outcomes = [e.outcome for _, e in world.services.access_log.entries_for_subject(subject, limit=10)]
    assert f"1:N de-duplication: probable duplicate of {second['id']}" in outcomes


def test_the_submitting_officer_cannot_decide_and_a_decision_needs_reasons(world: World) -> None:
    """Four eyes: another officer decides, with a written reason; the decision is logged."""
    [first] = enrol(world, applicant("st1-0020", who=20)).json()["enrolments"]
    [dup] = enrol(world, applicant("st1-0021", who=20, name="Other Name")).json()["enrolments"]
    url = f"/v1/identity/adjudications/{dup['id']}"
    own = world.client.post(url, json={"decision": "fraud", "reason": "same face"}, headers=world.as_("bank", PURPOSE))
    assert own.status_code == 403
    adjudicator = world.as_("tax-officer", PURPOSE)
    no_reason = world.client.post(url, json={"decision": "fraud", "reason": ""}, headers=adjudicator)
    assert no_reason.status_code == 422
    decided = world.client.post(url, json={"decision": "fraud", "reason": "same face, two names"}, headers=adjudicator)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["state"] == "rejected" and body["number"] == first["number"]
    assert body["decided_by"] == world.principals["tax-officer"].id
    again = world.client.post(url, json={"decision": "distinct", "reason": "x"}, headers=adjudicator)
    assert again.status_code == 409
    subject = world.services.registry.subject_of(first["number"])
    looks = [(e.purpose, e.outcome) for _, e in world.services.access_log.entries_for_subject(subject, limit=10)]
    assert (PURPOSE, f"adjudication: {dup['id']} decided fraud") in looks


def test_distinct_registers_the_applicant(world: World) -> None:
    """An officer who finds two different people (twins) registers the second with a new number."""
    [first] = enrol(world, applicant("st1-0030", who=30)).json()["enrolments"]
    [twin] = enrol(world, applicant("st1-0031", who=30, name="Twin Sister")).json()["enrolments"]
    decided = world.client.post(
        f"/v1/identity/adjudications/{twin['id']}",
        json={"decision": "distinct", "reason": "twins; birth certificates seen"},
        headers=world.as_("tax-officer", PURPOSE),
    ).json()
    assert decided["state"] == "enrolled" and decided["number"] not in (None, first["number"])
    assert world.services.registry.person(decided["number"]).name == "Twin Sister"


def test_two_copies_in_one_batch_are_caught(world: World) -> None:
    """A person sent twice in one batch is not registered twice."""
    response = enrol(world, applicant("st1-0040", who=40), applicant("st1-0041", who=40, name="Alias"))
    states = [e["state"] for e in response.json()["enrolments"]]
    assert states == ["enrolled", "review"]


def test_bad_templates_are_refused_naming_the_spot(world: World) -> None:
    """Wrong size, NaN, an unknown finger, a non-officer: each a specific error, nothing written."""
    count = world.services.registry.count()
    short = enrol(world, applicant("st1-0050", who=50, face=face(50)[:511]))
    assert short.status_code == 400 and short.json()["field"].endswith("face")
    values = np.array(face(51), dtype="<f4")
    values[17] = np.nan
    nan = enrol(world, applicant("st1-0051", who=51, face=base64.b64encode(values.tobytes()).decode()))
    assert nan.status_code == 400 and nan.json()["field"].endswith("face[17]"), nan.json()
    finger = enrol(world, applicant("st1-0052", who=52, fingers=[{"position": 11, "template": face(52)[:256]}]))
    assert finger.status_code == 400 and "fingers[0].position" in finger.json()["field"]
    citizen = enrol(world, applicant("st1-0053", who=53), officer="alice")
    assert citizen.status_code == 403
    assert world.services.registry.count() == count


def test_reading_a_person_needs_a_purpose_and_is_logged(world: World) -> None:
    """An officer's read names its purpose, which the person can see in their log."""
    [e] = enrol(world, applicant("st1-0060", who=60)).json()["enrolments"]
    url = f"/v1/identity/persons/{e['number']}"
    assert world.client.get(url, headers=world.as_("tax-officer")).status_code == 403
    read = world.client.get(url, headers=world.as_("tax-officer", purpose="benefit claim 7781"))
    assert read.status_code == 200 and read.json()["name"] == "Mariam Tesfaye"
    mistyped = e["number"][:-1] + str((int(e["number"][-1]) + 1) % 10)
    bad = world.client.get(f"/v1/identity/persons/{mistyped}", headers=world.as_("tax-officer", purpose="x"))
    assert bad.status_code == 400 and "check digit" in bad.json()["detail"]
    subject = world.services.registry.subject_of(e["number"])
    purposes = [(x.purpose, x.outcome) for _, x in world.services.access_log.entries_for_subject(subject, limit=10)]
    assert ("benefit claim 7781", "read") in purposes
    assert (NO_PURPOSE, "denied: no purpose") in purposes


def test_status_change_joins_the_history(world: World) -> None:
    """An officer's status change over HTTP answers with the history it joined, enrolment first."""
    [e] = enrol(world, applicant("st1-0070", who=70)).json()["enrolments"]
    changed = world.client.post(
        f"/v1/identity/persons/{e['number']}/status",
        json={"status": "suspended", "reason": "court order 12/2026"},
        headers=world.as_("tax-officer", purpose="court order 12/2026"),
    )
    assert changed.status_code == 200, changed.text
    assert [h["status"] for h in changed.json()["status_history"]] == ["active", "suspended"]


def test_a_person_sees_their_record_and_manages_virtual_ids(world: World) -> None:
    """The enrolled person's own principal reads their record and issues and revokes virtual IDs."""
    [e] = enrol(world, applicant("st1-0080", who=80)).json()["enrolments"]
    person = world.services.registry.person(e["number"])
    principal = world.services.store.get_principal(person.principal_id)
    assert principal is not None
    me = {"Authorization": f"Bearer {issue_key(world.services, principal, for_person=True)}"}
    mine = world.client.get("/v1/me/identity", headers=me).json()
    assert mine["person"]["number"] == e["number"] and mine["virtual_ids"] == []
    vid = world.client.post("/v1/me/virtual-ids", headers=me).json()["vid"]
    assert world.services.registry.resolve_virtual_id(vid) == e["number"]
    assert world.client.delete(f"/v1/me/virtual-ids/{vid}", headers=world.as_("alice")).status_code == 404
    assert world.client.delete(f"/v1/me/virtual-ids/{vid}", headers=me).status_code == 204
    assert world.client.get("/v1/me/identity", headers=me).json()["virtual_ids"][0]["revoked_at_ns"] is not None
    assert world.client.get("/v1/me/identity", headers=world.as_("alice")).status_code == 404
