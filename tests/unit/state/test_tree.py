"""Unit tests for the state tree and its proofs (citychain/state/tree.py docstring, docs/state.md).

Expected roots are computed here straight from the hash rules, never by the code under test.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from citychain.state import (
    EMPTY_ROOT,
    MAX_DEPTH,
    MerkleTree,
    Proof,
    ProofFormatError,
    verify_proof,
)

ZERO = bytes(32)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(key: bytes, value: bytes) -> bytes:
    """Leaf hash by the spec: sha256(0x00 || sha256(key) || sha256(value))."""
    return sha(b"\x00" + sha(key) + sha(value))


def branch(children: dict[int, bytes]) -> bytes:
    """Branch hash by the spec: sha256(0x01 || 16 child hashes), empty child = 32 zero bytes."""
    return sha(b"\x01" + b"".join(children.get(nibble, ZERO) for nibble in range(16)))


def nibble(key: bytes, depth: int) -> int:
    return int(sha(key).hex()[depth], 16)


def prefix(key: bytes, length: int) -> str:
    return sha(key).hex()[:length]


# Keys whose sha256 share leading hex digits, found by a search over b"deep-<n>":
#   3e7f0d56b...  DEEP_A, DEEP_B      share 9 nibbles
#   3e7f0....     DEEP_C              shares 5 with A and B
#   3e7f2....     DEEP_D, DEEP_E      share 5 with each other, 4 with A, B, C
DEEP_A, DEEP_B, DEEP_C = b"deep-914111", b"deep-1465439", b"deep-652922"
DEEP_D, DEEP_E = b"deep-8335", b"deep-11245"
DEEP_KEYS = (DEEP_A, DEEP_B, DEEP_C, DEEP_D, DEEP_E)


def two_keys_differing_at_first_nibble() -> tuple[bytes, bytes]:
    first = b"k0"
    for number in range(1, 100):
        other = b"k%d" % number
        if nibble(other, 0) != nibble(first, 0):
            return first, other
    raise AssertionError("no key found")


def test_deep_keys_share_the_prefixes_the_tests_rely_on() -> None:
    assert prefix(DEEP_A, 9) == prefix(DEEP_B, 9) == "3e7f0d56b"
    assert prefix(DEEP_A, 10) != prefix(DEEP_B, 10)
    assert prefix(DEEP_C, 5) == "3e7f0" and prefix(DEEP_C, 6) != prefix(DEEP_A, 6)
    assert prefix(DEEP_D, 5) == prefix(DEEP_E, 5) == "3e7f2"
    assert prefix(DEEP_D, 6) != prefix(DEEP_E, 6)


# Known trees, roots by hand from the spec formulas


def test_empty_tree_root_is_32_zero_bytes() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == ZERO
    assert MerkleTree.from_items([]).root() == ZERO
    assert len(MerkleTree()) == 0


def test_single_key_root_is_its_leaf_hash() -> None:
    tree = MerkleTree()
    tree.set(b"alice", b"100")
    assert tree.root() == leaf(b"alice", b"100")
    assert MerkleTree.from_items([(b"alice", b"100")]).root() == leaf(b"alice", b"100")


def test_pinned_vectors() -> None:
    # Pins the hash rules against accidental change; a change here is a protocol change.
    assert leaf(b"alice", b"100").hex() == (
        "e88595db6e2373140c77336108e543dd79e1c6420dff08568b120417c8af88b5"
    )
    assert MerkleTree.from_items([(b"alice", b"100")]).root() == leaf(b"alice", b"100")
    # sha256 of alice, bob and carol starts with 2, 8 and 4: three leaves in the root branch.
    three = {b"alice": b"100", b"bob": b"5", b"carol": b"0"}
    expected = branch({2: leaf(b"alice", b"100"), 8: leaf(b"bob", b"5"), 4: leaf(b"carol", b"0")})
    assert expected.hex() == "90f22e01fe039693b28fa91d88728918ceda159ac47537355ee2a5c3af671135"
    tree = MerkleTree.from_items(three.items())
    assert tree.root() == expected
    # docs/state.md, section 5: dave ends at empty slot 6, eve at bob's leaf in slot 8.
    assert tree.prove(b"dave") == Proof(tree.prove(b"alice").branches, None)
    assert tree.prove(b"eve") == Proof(tree.prove(b"alice").branches, (sha(b"bob"), sha(b"5")))
    assert verify_proof(expected, b"eve", None, tree.prove(b"eve"))


def test_two_keys_with_different_first_nibbles_hang_from_the_root_branch() -> None:
    first, second = two_keys_differing_at_first_nibble()
    expected = branch({nibble(first, 0): leaf(first, b"1"), nibble(second, 0): leaf(second, b"2")})
    tree = MerkleTree()
    tree.set(first, b"1")
    tree.set(second, b"2")
    assert tree.root() == expected
    assert MerkleTree.from_items([(second, b"2"), (first, b"1")]).root() == expected


def test_keys_sharing_nine_nibbles_hang_under_a_chain_of_ten_branches() -> None:
    hashes = {DEEP_A: leaf(DEEP_A, b"a"), DEEP_B: leaf(DEEP_B, b"b")}
    node = branch({nibble(key, 9): hashes[key] for key in hashes})
    for depth in range(8, -1, -1):
        node = branch({nibble(DEEP_A, depth): node})
    tree = MerkleTree.from_items([(DEEP_A, b"a"), (DEEP_B, b"b")])
    assert tree.root() == node
    assert len(tree.prove(DEEP_A).branches) == 10


def test_mixed_depths_root_by_hand() -> None:
    values = {key: key.upper() for key in DEEP_KEYS}
    hashes = {key: leaf(key, value) for key, value in values.items()}
    # Under prefix 3e7f0: A and B share 3e7f0d56b; C sits alone at 3e7f0<c>.
    chain = branch({nibble(DEEP_A, 9): hashes[DEEP_A], nibble(DEEP_B, 9): hashes[DEEP_B]})
    for depth in range(8, 5, -1):
        chain = branch({nibble(DEEP_A, depth): chain})
    under_3e7f0 = branch({nibble(DEEP_A, 5): chain, nibble(DEEP_C, 5): hashes[DEEP_C]})
    under_3e7f2 = branch({nibble(DEEP_D, 5): hashes[DEEP_D], nibble(DEEP_E, 5): hashes[DEEP_E]})
    node = branch({0: under_3e7f0, 2: under_3e7f2})  # the branch at prefix 3e7f
    for depth in range(3, -1, -1):
        node = branch({nibble(DEEP_A, depth): node})
    tree = MerkleTree()
    for key in DEEP_KEYS:
        tree.set(key, values[key])
    assert tree.root() == node
    assert MerkleTree.from_items(values.items()).root() == node


def test_repeated_key_in_from_items_keeps_last_value() -> None:
    tree = MerkleTree.from_items([(b"k", b"1"), (b"j", b"2"), (b"k", b"3")])
    assert tree.root() == MerkleTree.from_items([(b"j", b"2"), (b"k", b"3")]).root()
    assert len(tree) == 2


# Updates, deletes, collapse


def test_set_replaces_value_and_keeps_count() -> None:
    tree = MerkleTree.from_items([(b"a", b"1"), (b"b", b"2")])
    tree.set(b"a", b"9")
    assert len(tree) == 2
    assert tree.root() == MerkleTree.from_items([(b"a", b"9"), (b"b", b"2")]).root()


def test_delete_absent_key_is_a_no_op() -> None:
    tree = MerkleTree.from_items([(b"a", b"1"), (b"b", b"2")])
    before = tree.root()
    tree.delete(b"zzz")
    assert tree.root() == before and len(tree) == 2
    empty = MerkleTree()
    empty.delete(b"a")
    assert empty.root() == ZERO and len(empty) == 0


def test_delete_collapses_chain_back_to_a_single_leaf() -> None:
    tree = MerkleTree.from_items([(DEEP_A, b"a"), (DEEP_B, b"b")])
    tree.delete(DEEP_B)
    assert tree.root() == leaf(DEEP_A, b"a")
    assert tree.prove(DEEP_A).branches == ()
    assert len(tree) == 1
    tree.delete(DEEP_A)
    assert tree.root() == ZERO and len(tree) == 0


def test_delete_collapses_to_shallowest_unique_depth() -> None:
    values = {key: b"v" for key in DEEP_KEYS}
    tree = MerkleTree.from_items(values.items())
    assert len(tree.prove(DEEP_C).branches) == 6  # C sits in the branch at 3e7f0
    tree.root()
    tree.update([(DEEP_A, None), (DEEP_B, None)])
    # Only C is left under 3e7f0, so it moves up into the branch at 3e7f.
    assert len(tree.prove(DEEP_C).branches) == 5
    del values[DEEP_A], values[DEEP_B]
    assert tree.root() == MerkleTree.from_items(values.items()).root()
    tree.update([(DEEP_D, None)])
    # E and C differ at nibble 4 but nothing else is left: the tree is the 2-key tree.
    assert tree.root() == MerkleTree.from_items([(DEEP_C, b"v"), (DEEP_E, b"v")]).root()
    assert len(tree.prove(DEEP_E).branches) == 5


def test_delete_then_reinsert_restores_root() -> None:
    items = [(b"key-%d" % number, b"value-%d" % number) for number in range(300)]
    tree = MerkleTree.from_items(items)
    original = tree.root()
    tree.update((key, None) for key, _ in items[:200])
    assert len(tree) == 100
    assert tree.root() == MerkleTree.from_items(items[200:]).root()
    tree.update(items[:200])
    assert tree.root() == original


def test_root_between_updates_is_lazy_but_correct() -> None:
    items = [(b"key-%d" % number, b"%d" % number) for number in range(500)]
    tree = MerkleTree()
    for index, (key, value) in enumerate(items):
        tree.set(key, value)
        if index % 37 == 0:
            assert tree.root() == MerkleTree.from_items(items[: index + 1]).root()
    assert tree.root() == MerkleTree.from_items(items).root()


def test_contains_and_len() -> None:
    tree = MerkleTree.from_items([(b"a", b"1"), (b"b", b"2")])
    assert b"a" in tree and b"b" in tree and b"c" not in tree
    assert "a" not in tree
    tree.update([(b"c", b"3"), (b"a", None)])
    assert b"c" in tree and b"a" not in tree and len(tree) == 2


# Proofs


def deep_tree() -> MerkleTree:
    tree = MerkleTree.from_items([(key, key + b"-value") for key in DEEP_KEYS])
    tree.update((b"key-%d" % number, b"%d" % number) for number in range(200))
    return tree


def test_inclusion_proofs_verify() -> None:
    tree = deep_tree()
    root = tree.root()
    for key in DEEP_KEYS:
        proof = tree.prove(key)
        assert verify_proof(root, key, key + b"-value", proof)
        assert not verify_proof(root, key, None, proof)
    for number in range(200):
        assert verify_proof(
            root, b"key-%d" % number, b"%d" % number, tree.prove(b"key-%d" % number)
        )


def test_absence_proofs_verify_for_empty_slot_and_for_other_leaf() -> None:
    tree = deep_tree()
    root = tree.root()
    ends = {"empty": 0, "leaf": 0}
    for number in range(300):
        key = b"absent-%d" % number
        proof = tree.prove(key)
        ends["empty" if proof.leaf is None else "leaf"] += 1
        assert verify_proof(root, key, None, proof)
        assert not verify_proof(root, key, b"", proof)
    assert ends["empty"] > 0 and ends["leaf"] > 0


def test_proofs_on_tiny_trees() -> None:
    empty = MerkleTree()
    assert empty.prove(b"a") == Proof((), None)
    assert verify_proof(ZERO, b"a", None, empty.prove(b"a"))
    single = MerkleTree.from_items([(b"a", b"1")])
    root = single.root()
    assert verify_proof(root, b"a", b"1", single.prove(b"a"))
    assert verify_proof(root, b"b", None, single.prove(b"b"))
    assert not verify_proof(root, b"a", None, single.prove(b"a"))
    assert not verify_proof(root, b"b", b"1", single.prove(b"b"))


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def with_child(proof: Proof, level: int, slot: int, child: bytes) -> Proof:
    branches = list(proof.branches)
    children = list(branches[level])
    children[slot] = child
    branches[level] = tuple(children)
    return Proof(tuple(branches), proof.leaf)


@pytest.mark.parametrize("key", [DEEP_A, DEEP_C, DEEP_E, b"key-7"])
def test_flipping_any_byte_of_any_branch_hash_breaks_inclusion(key: bytes) -> None:
    tree = deep_tree()
    root, value, proof = tree.root(), key + b"-value" if key in DEEP_KEYS else b"7", tree.prove(key)
    assert verify_proof(root, key, value, proof)
    for level, children in enumerate(proof.branches):
        for slot, child in enumerate(children):
            for index in (0, 13, 31):
                tampered = with_child(proof, level, slot, flip(child, index))
                assert not verify_proof(root, key, value, tampered), (level, slot, index)


def test_flipping_any_branch_hash_breaks_absence() -> None:
    tree = deep_tree()
    root = tree.root()
    for number in range(20):
        key = b"absent-%d" % number
        proof = tree.prove(key)
        for level, children in enumerate(proof.branches):
            for slot, child in enumerate(children):
                tampered = with_child(proof, level, slot, flip(child, 31))
                assert not verify_proof(root, key, None, tampered)


def test_tampered_leaf_wrong_value_wrong_key_fail() -> None:
    tree = deep_tree()
    root = tree.root()
    proof = tree.prove(DEEP_A)
    assert proof.leaf is not None
    key_hash, value_hash = proof.leaf
    assert not verify_proof(root, DEEP_A, b"other", proof)
    assert not verify_proof(root, DEEP_B, DEEP_A + b"-value", proof)
    assert not verify_proof(root, DEEP_A, DEEP_A + b"-value", Proof(proof.branches, None))
    for bad_leaf in ((flip(key_hash, 0), value_hash), (key_hash, flip(value_hash, 5))):
        assert not verify_proof(root, DEEP_A, DEEP_A + b"-value", Proof(proof.branches, bad_leaf))


def test_swapped_leaf_fails() -> None:
    tree = deep_tree()
    root = tree.root()
    proof_a, proof_c = tree.prove(DEEP_A), tree.prove(DEEP_C)
    swapped = Proof(proof_c.branches, proof_a.leaf)
    assert not verify_proof(root, DEEP_A, DEEP_A + b"-value", swapped)
    assert not verify_proof(root, DEEP_C, DEEP_C + b"-value", swapped)
    assert not verify_proof(root, DEEP_C, None, swapped)
    # A and B are siblings, so their proofs share branches: each leaf proves only its own key.
    proof_b = tree.prove(DEEP_B)
    assert proof_a.branches == proof_b.branches
    assert not verify_proof(root, DEEP_A, DEEP_B + b"-value", proof_b)
    assert not verify_proof(root, DEEP_A, None, proof_b)


def test_truncated_or_extended_branches_fail() -> None:
    tree = deep_tree()
    root = tree.root()
    proof = tree.prove(DEEP_A)
    value = DEEP_A + b"-value"
    assert not verify_proof(root, DEEP_A, value, Proof(proof.branches[:-1], proof.leaf))
    assert not verify_proof(root, DEEP_A, value, Proof(proof.branches[1:], proof.leaf))
    assert not verify_proof(root, DEEP_A, value, Proof((), proof.leaf))
    doubled = Proof(proof.branches + proof.branches[-1:], proof.leaf)
    assert not verify_proof(root, DEEP_A, value, doubled)


def test_proof_against_another_root_fails() -> None:
    tree = deep_tree()
    old_root = tree.root()
    old_proof = tree.prove(DEEP_A)
    tree.set(b"newcomer", b"1")
    new_root = tree.root()
    assert not verify_proof(new_root, DEEP_A, DEEP_A + b"-value", old_proof)
    assert verify_proof(old_root, DEEP_A, DEEP_A + b"-value", old_proof)
    assert not verify_proof(ZERO, DEEP_A, DEEP_A + b"-value", old_proof)
    assert not verify_proof(old_root[:31], DEEP_A, DEEP_A + b"-value", old_proof)


def test_non_canonical_shapes_are_rejected() -> None:
    # A leaf alone in a branch: the root of a forged "collapsed" structure matches, but a
    # canonical tree would hold the leaf one level up.
    key, value = b"a", b"1"
    lone = {nibble(key, 0): leaf(key, value)}
    forged = Proof((tuple(lone.get(slot, ZERO) for slot in range(16)),), (sha(key), sha(value)))
    assert not verify_proof(branch(lone), key, value, forged)
    # An all-empty branch proving absence.
    empty_branch = Proof((tuple([ZERO] * 16),), None)
    assert not verify_proof(branch({}), key, None, empty_branch)


def test_absence_by_leaf_requires_the_leaf_to_share_the_consumed_prefix() -> None:
    # A dishonest root where a leaf hangs in a slot its path does not lead to.
    first, second = two_keys_differing_at_first_nibble()
    wrong_slot = next(
        slot for slot in range(16) if slot not in (nibble(first, 0), nibble(second, 0))
    )
    children = {wrong_slot: leaf(first, b"1"), nibble(second, 0): leaf(second, b"2")}
    root = branch(children)
    absent = next(
        key for key in (b"probe-%d" % n for n in range(1000)) if nibble(key, 0) == wrong_slot
    )
    proof = Proof((tuple(children.get(slot, ZERO) for slot in range(16)),), (sha(first), sha(b"1")))
    assert not verify_proof(root, absent, None, proof)


def test_hand_built_junk_proofs_return_false() -> None:
    tree = deep_tree()
    root = tree.root()
    junk: list[object] = [
        Proof(((b"x",) * 16,), None),
        Proof(((ZERO,) * 15,), None),
        Proof(((ZERO,) * 16,) * (MAX_DEPTH + 1), None),
        Proof((), (ZERO,)),  # type: ignore[arg-type]
        Proof((), (ZERO, b"short")),
        Proof([], None),  # type: ignore[arg-type]
        Proof((), "leaf"),  # type: ignore[arg-type]
        Proof(((bytearray(32),) * 16,), None),  # type: ignore[arg-type]
        "not a proof",
    ]
    for proof in junk:
        assert verify_proof(root, b"k", None, proof) is False  # type: ignore[arg-type]
        assert verify_proof(root, b"k", b"v", proof) is False  # type: ignore[arg-type]


# JSON form


def test_json_round_trip() -> None:
    tree = deep_tree()
    for key in (*DEEP_KEYS, b"absent-1", b"absent-2"):
        proof = tree.prove(key)
        encoded = json.loads(json.dumps(proof.to_json()))
        assert Proof.from_json(encoded) == proof
    assert Proof.from_json(Proof((), None).to_json()) == Proof((), None)


def test_json_layout_is_the_documented_one() -> None:
    proof = MerkleTree.from_items([(b"a", b"1"), (b"b", b"2")]).prove(b"a")
    obj = proof.to_json()
    assert set(obj) == {"branches", "leaf"}
    assert obj["leaf"] == {"key_hash": sha(b"a").hex(), "value_hash": sha(b"1").hex()}
    branches = obj["branches"]
    assert isinstance(branches, list) and len(branches) == 1 and len(branches[0]) == 16
    assert branches[0][nibble(b"a", 0)] == leaf(b"a", b"1").hex()


def valid_json() -> dict[str, object]:
    return MerkleTree.from_items([(b"a", b"1"), (b"b", b"2")]).prove(b"a").to_json()


HEX = "ab" * 32


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (None, "expected an object"),
        ([], "expected an object"),
        ({"branches": []}, "exactly the fields"),
        ({"branches": [], "leaf": None, "extra": 1}, "exactly the fields"),
        ({"branches": "00", "leaf": None}, "branches: expected an array"),
        ({"branches": [HEX], "leaf": None}, r"branches\[0\]: expected an array"),
        ({"branches": [[HEX] * 15], "leaf": None}, "expected 16 child hashes"),
        ({"branches": [[HEX] * 17], "leaf": None}, "expected 16 child hashes"),
        ({"branches": [[HEX] * 15 + [1]], "leaf": None}, r"branches\[0\]\[15\]"),
        ({"branches": [[HEX] * 15 + [HEX.upper()]], "leaf": None}, "lowercase hex"),
        ({"branches": [[HEX] * 15 + [HEX[:-2]]], "leaf": None}, "64 lowercase hex"),
        ({"branches": [[HEX] * 15 + ["0x" + HEX[2:]]], "leaf": None}, "64 lowercase hex"),
        ({"branches": [[HEX] * 16] * 65, "leaf": None}, "at most 64 branches"),
        ({"branches": [], "leaf": [HEX, HEX]}, "leaf: expected an object or null"),
        ({"branches": [], "leaf": {"key_hash": HEX}}, "exactly the fields key_hash"),
        ({"branches": [], "leaf": {"key_hash": HEX, "value_hash": 7}}, "leaf.value_hash"),
    ],
)
def test_from_json_rejects_junk_with_clear_message(obj: object, message: str) -> None:
    with pytest.raises(ProofFormatError, match=message):
        Proof.from_json(obj)


def test_proof_format_error_is_a_value_error() -> None:
    assert issubclass(ProofFormatError, ValueError)
    broken = valid_json()
    broken["leaf"] = {"key_hash": "zz" * 32, "value_hash": HEX}
    with pytest.raises(ValueError):
        Proof.from_json(broken)


def test_max_depth_proof_parses() -> None:
    obj = {"branches": [[HEX] * 16] * MAX_DEPTH, "leaf": None}
    assert len(Proof.from_json(obj).branches) == MAX_DEPTH
