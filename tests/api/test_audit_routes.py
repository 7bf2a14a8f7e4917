"""Audit and self-service routes, checked the way an outsider would: with the RFC 9162 verifiers of tests/audit."""

from __future__ import annotations

import hashlib
import json
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.api.world import ALICE, BOB, World
from tests.audit.rfc9162 import verify_consistency, verify_inclusion


def _officer_reads(world: World, times: int) -> None:
    for i in range(times):
        account = (ALICE, BOB)[i % 2]
        assert (
            world.client.get(f"/v1/ledger/accounts/{account}", headers=world.as_("bank", f"case {i}")).status_code
            == 200
        )


def test_a_citizen_proves_their_entry_is_in_the_signed_log(world: World) -> None:
    """Alice rebuilds her entry's leaf hash herself, checks the path to a signed root, and the signature."""
    _officer_reads(world, 7)
    head = world.client.get("/v1/audit/tree-head", headers=world.as_("alice")).json()
    message = struct.pack("<QQ", head["size"], head["timestamp"]) + bytes.fromhex(head["root"])
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(head["public_key"])).verify(
        bytes.fromhex(head["signature"]), message
    )
    mine = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"]
    assert len(mine) == 4 and [e["purpose"] for e in mine] == ["case 6", "case 4", "case 2", "case 0"]
    for entry in mine:
        record = {k: entry[k] for k in ("time_ns", "principal", "role", "agency", "purpose", "fields", "outcome")}
        record["subject"] = world.principals["alice"].subject
        leaf = hashlib.sha256(b"\x00" + json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).digest()
        params = {"index": entry["index"], "size": head["size"]}
        proof = world.client.get("/v1/audit/proof/inclusion", params=params, headers=world.as_("auditor")).json()
        assert proof["leaf_hash"] == leaf.hex() and proof["root"] == head["root"]
        path = [bytes.fromhex(h) for h in proof["path"]]
        assert verify_inclusion(entry["index"], head["size"], leaf, path, bytes.fromhex(head["root"]))


def test_an_auditor_checks_every_older_head_is_consistent_with_the_newest(world: World) -> None:
    """Every older signed head is proved consistent with the newest: the log was only appended to."""
    heads = []
    for _ in range(5):
        _officer_reads(world, 3)
        heads.append(world.client.get("/v1/audit/tree-head", headers=world.as_("auditor")).json())
    newest = heads[-1]
    for head in heads:
        params = {"first": head["size"], "second": newest["size"]}
        proof = world.client.get("/v1/audit/proof/consistency", params=params, headers=world.as_("auditor")).json()
        path = [bytes.fromhex(h) for h in proof["path"]]
        assert proof["first_root"] == head["root"]
        assert verify_consistency(
            head["size"], newest["size"], bytes.fromhex(head["root"]), bytes.fromhex(newest["root"]), path
        )


def test_polling_the_tree_head_does_not_sign_a_new_one_until_the_log_grows(world: World) -> None:
    """Polling the tree head returns the same signed head until an entry is added."""
    _officer_reads(world, 1)
    first = world.client.get("/v1/audit/tree-head", headers=world.as_("auditor")).json()
    again = world.client.get("/v1/audit/tree-head", headers=world.as_("auditor")).json()
    assert first == again
    _officer_reads(world, 1)
    assert world.client.get("/v1/audit/tree-head", headers=world.as_("auditor")).json()["size"] == first["size"] + 1


def test_proofs_refuse_sizes_the_log_does_not_have(world: World) -> None:
    """Proofs for an index or size beyond the log, or of size zero, are 400 naming the parameter."""
    _officer_reads(world, 2)
    auditor = world.as_("auditor")
    too_far = world.client.get("/v1/audit/proof/inclusion", params={"index": 5}, headers=auditor)
    assert too_far.status_code == 400 and too_far.json()["field"] == "index"
    too_big = world.client.get("/v1/audit/proof/consistency", params={"first": 1, "second": 99}, headers=auditor)
    assert too_big.status_code == 400 and too_big.json()["field"] == "second"
    zero = world.client.get("/v1/audit/proof/consistency", params={"first": 0}, headers=auditor)
    assert zero.status_code == 400 and zero.json()["field"] == "first"


def test_the_access_log_pages_backwards(world: World) -> None:
    """A person's access log pages newest first with a cursor, skipping and repeating nothing."""
    _officer_reads(world, 10)
    first = world.client.get("/v1/me/access-log", params={"limit": 2}, headers=world.as_("bob")).json()
    second = world.client.get(
        "/v1/me/access-log", params={"limit": 2, "before": first["next_before"]}, headers=world.as_("bob")
    ).json()
    assert [e["purpose"] for e in first["entries"] + second["entries"]] == ["case 9", "case 7", "case 5", "case 3"]


def test_me_names_the_caller(world: World) -> None:
    """/v1/me tells the caller who the service takes them for: id, name, role, agency, organisation, display name."""
    me = world.client.get("/v1/me", headers=world.as_("tax-officer")).json()
    assert me == {
        "id": world.principals["tax-officer"].id,
        "name": "tax-officer",
        "role": "officer",
        "agency": "tax-office",
        "organisation": "",
        "display_name": "",
    }


def test_admins_list_service_principals_but_never_citizens(world: World) -> None:
    """Admins list officers but may not list citizens, and an unknown role is 400 naming role."""
    officers = world.client.get("/v1/admin/principals", headers=world.as_("admin")).json()["principals"]
    assert {p["name"] for p in officers} == {"bank", "tax-officer"}
    refused = world.client.get("/v1/admin/principals", params={"role": "citizen"}, headers=world.as_("admin"))
    assert refused.status_code == 403
    bad = world.client.get("/v1/admin/principals", params={"role": "king"}, headers=world.as_("admin"))
    assert bad.status_code == 400 and bad.json()["field"] == "role"
