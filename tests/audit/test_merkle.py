"""The Merkle tree against RFC 9162, checked by an independent verifier (tests/audit/conftest.py).

Nothing below calls the code under test to check itself: roots come from a naive
recursive MTH over the raw entries, and proofs are checked with the verification
algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2, transcribed from the RFC.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.audit import EMPTY_ROOT, MerkleTree
from tessera.errors import InvalidInputError
from tests.audit.rfc9162 import naive_mth, sha256, verify_consistency, verify_inclusion

# The eight inputs of the Certificate Transparency test vectors.
CT_INPUTS = [
    bytes.fromhex(x)
    for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]


def _tree(entries: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    tree.append(entries)
    return tree


class TestRoots:
    def test_empty_tree__hash_of_empty_string(self) -> None:
        """MTH({}) is SHA-256 of the empty string."""
        assert MerkleTree().root() == EMPTY_ROOT == sha256(b"")

    def test_ct_vectors__known_roots(self) -> None:
        """Roots for 1 and 8 leaves of the CT test inputs match the published values."""
        tree = _tree(CT_INPUTS)
        assert tree.root(1).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        assert tree.root(8).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.binary(max_size=8), max_size=70), st.integers(1, 5))
    def test_root_of_every_prefix__equals_naive_mth(self, entries: list[bytes], chunks: int) -> None:
        """Appending in any batching gives the naive MTH for every prefix size."""
        tree = MerkleTree()
        step = max(1, len(entries) // chunks)
        for i in range(0, len(entries), step):
            tree.append(entries[i : i + step])
        for size in range(len(entries) + 1):
            assert tree.root(size) == naive_mth(entries[:size])


class TestProofs:
    @settings(max_examples=40, deadline=None)
    @given(st.integers(1, 80), st.data())
    def test_inclusion_proofs__verify_under_rfc(self, n: int, data: st.DataObject) -> None:
        """Every leaf's audit path verifies against the root of every tree that contains it."""
        entries = [i.to_bytes(4, "big") for i in range(n)]
        tree = _tree(entries)
        size = data.draw(st.integers(1, n))
        root = naive_mth(entries[:size])
        for index in range(size):
            leaf = sha256(b"\x00" + entries[index])
            proof = tree.inclusion_proof(index, size)
            assert verify_inclusion(index, size, leaf, proof, root)
            if proof:  # a tampered path must fail
                bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not verify_inclusion(index, size, leaf, bad, root)

    @settings(max_examples=40, deadline=None)
    @given(st.integers(1, 80), st.data())
    def test_consistency_proofs__verify_under_rfc(self, n: int, data: st.DataObject) -> None:
        """Every older tree is proven a prefix of every newer one; a wrong old root fails."""
        entries = [i.to_bytes(4, "big") for i in range(n)]
        tree = _tree(entries)
        second = data.draw(st.integers(1, n))
        for first in range(1, second + 1):
            proof = tree.consistency_proof(first, second)
            old, new = naive_mth(entries[:first]), naive_mth(entries[:second])
            assert verify_consistency(first, second, old, new, proof)
            if first < second:
                assert not verify_consistency(first, second, sha256(b"forged"), new, proof)

    def test_rewritten_history__consistency_fails(self) -> None:
        """A log that changed an old entry cannot prove consistency with its earlier root."""
        honest = _tree([b"a", b"b", b"c"])
        old_root = honest.root()
        rewritten = _tree([b"a", b"B", b"c", b"d", b"e"])
        assert not verify_consistency(3, 5, old_root, rewritten.root(), rewritten.consistency_proof(3))


class TestBadInput:
    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda t: t.inclusion_proof(5), "index"),
            (lambda t: t.inclusion_proof(-1), "index"),
            (lambda t: t.inclusion_proof(0, 9), "size"),
            (lambda t: t.consistency_proof(4, 3), "old_size"),
            (lambda t: t.root(True), "size"),
            (lambda t: t.append([b"ok", "text"]), "entries\\[1\\]"),
            (lambda t: t.append(b"abc"), "entries"),
            (lambda t: t.append([b"x" * 70_000]), "entries\\[0\\]"),
            (lambda t: t.append_leaf_hashes([b"short"]), "hashes\\[0\\]"),
        ],
    )
    def test_bad_argument__error_names_field(self, call: object, field: str) -> None:
        """Out-of-range sizes and non-bytes entries are refused with the field named."""
        tree = _tree([b"a", b"b", b"c"])
        with pytest.raises(InvalidInputError, match=f"^{field}"):
            call(tree)  # type: ignore[operator]
        assert tree.size == 3  # nothing was appended
