"""Property tests for the state tree (citychain/state/tree.py docstring, docs/state.md).

The oracle `spec_root` is the canonical form written as a direct recursive definition: group the
key hashes by nibble until each group holds one key. It shares no code with the tree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from citychain.state import MerkleTree, Proof, ProofFormatError, verify_proof

ZERO = bytes(32)

# Small random keys, plus keys whose sha256 share 4 to 9 leading nibbles (see
# tests/unit/state/test_tree.py), so that deep chains and collapses are exercised.
DEEP_KEYS = [b"deep-914111", b"deep-1465439", b"deep-652922", b"deep-8335", b"deep-11245"]
KEYS = st.one_of(st.binary(min_size=0, max_size=3), st.sampled_from(DEEP_KEYS))
VALUES = st.binary(min_size=0, max_size=8)
# A change: set key to value, or delete key (None).
CHANGES = st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), max_size=60)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def spec_root(items: dict[bytes, bytes]) -> bytes:
    entries = [(sha(key).hex(), sha(key), sha(value)) for key, value in items.items()]
    return _spec_node(entries, 0)


def _spec_node(entries: list[tuple[str, bytes, bytes]], depth: int) -> bytes:
    if not entries:
        return ZERO
    if len(entries) == 1:
        _, key_hash, value_hash = entries[0]
        return sha(b"\x00" + key_hash + value_hash)
    groups: list[list[tuple[str, bytes, bytes]]] = [[] for _ in range(16)]
    for entry in entries:
        groups[int(entry[0][depth], 16)].append(entry)
    return sha(b"\x01" + b"".join(_spec_node(group, depth + 1) for group in groups))


def final_state(changes: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for key, value in changes:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


@settings(max_examples=examples(300), deadline=None)
@given(CHANGES, st.data())
def test_root_depends_only_on_final_set(
    changes: list[tuple[bytes, bytes | None]], data: st.DataObject
) -> None:
    state = final_state(changes)
    expected = spec_root(state)

    one_by_one = MerkleTree()
    for key, value in changes:
        if value is None:
            one_by_one.delete(key)
        else:
            one_by_one.set(key, value)
        if data.draw(st.booleans(), label="root now"):
            one_by_one.root()  # interleaved roots exercise the lazy rehash

    batched = MerkleTree()
    batched.update(changes)

    shuffled_state = data.draw(st.permutations(sorted(state.items())), label="insert order")
    bulk = MerkleTree.from_items(shuffled_state)

    for tree in (one_by_one, batched, bulk):
        assert tree.root() == expected
        assert len(tree) == len(state)
        for key, _ in changes:
            assert (key in tree) == (key in state)


@settings(max_examples=examples(200), deadline=None)
@given(
    st.dictionaries(KEYS, VALUES, max_size=40),
    st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), max_size=30),
)
def test_updates_on_a_bulk_loaded_tree_match_a_fresh_build(
    initial: dict[bytes, bytes], changes: list[tuple[bytes, bytes | None]]
) -> None:
    tree = MerkleTree.from_items(initial.items())
    assert tree.root() == spec_root(initial)
    tree.update(changes)
    state = final_state([*initial.items(), *changes])
    assert tree.root() == spec_root(state)
    assert tree.root() == MerkleTree.from_items(state.items()).root()


@settings(max_examples=examples(150), deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=30), st.lists(KEYS, max_size=10))
def test_every_key_has_a_verifying_proof(state: dict[bytes, bytes], probes: list[bytes]) -> None:
    tree = MerkleTree.from_items(state.items())
    root = tree.root()
    for key in [*state, *probes]:
        proof = tree.prove(key)
        assert Proof.from_json(json.loads(json.dumps(proof.to_json()))) == proof
        if key in state:
            assert verify_proof(root, key, state[key], proof)
            assert not verify_proof(root, key, state[key] + b"x", proof)
            assert not verify_proof(root, key, None, proof)
        else:
            assert verify_proof(root, key, None, proof)
            assert not verify_proof(root, key, b"", proof)


@settings(max_examples=examples(150), deadline=None)
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=30), st.data())
def test_any_single_byte_change_to_a_proof_fails(
    state: dict[bytes, bytes], data: st.DataObject
) -> None:
    tree = MerkleTree.from_items(state.items())
    root = tree.root()
    key = data.draw(st.sampled_from(sorted(state)), label="key")
    proof = tree.prove(key)
    encoded = bytearray(b"".join(b"".join(children) for children in proof.branches))
    assert proof.leaf is not None
    encoded += proof.leaf[0] + proof.leaf[1]
    index = data.draw(st.integers(0, len(encoded) - 1), label="byte")
    encoded[index] ^= data.draw(st.integers(1, 255), label="xor")
    hashes = [bytes(encoded[start : start + 32]) for start in range(0, len(encoded), 32)]
    branches = tuple(
        tuple(hashes[16 * level : 16 * level + 16]) for level in range(len(proof.branches))
    )
    tampered = Proof(branches, (hashes[-2], hashes[-1]))
    assert not verify_proof(root, key, state[key], tampered)
    assert not verify_proof(root, key, None, tampered)


def json_values() -> st.SearchStrategy[Any]:
    hex_strings = st.one_of(
        st.binary(min_size=32, max_size=32).map(bytes.hex),
        st.text(alphabet="0123456789abcdefABCDEF x", max_size=66),
    )
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), hex_strings)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=17),
            st.dictionaries(
                st.sampled_from(["branches", "leaf", "key_hash", "value_hash", "x"]),
                inner,
                max_size=3,
            ),
        ),
        max_leaves=40,
    )


@settings(max_examples=examples(500), deadline=None)
@given(json_values())
def test_from_json_either_rejects_or_round_trips_exactly(obj: Any) -> None:
    try:
        proof = Proof.from_json(obj)
    except ProofFormatError:
        return
    assert proof.to_json() == obj


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(st.lists(st.binary(min_size=0, max_size=33), max_size=17), max_size=4),
    st.one_of(st.none(), st.tuples(st.binary(max_size=33), st.binary(max_size=33))),
    st.binary(max_size=33),
    st.one_of(st.none(), VALUES),
)
def test_verify_never_raises_on_junk(
    branches: list[list[bytes]],
    leaf: tuple[bytes, bytes] | None,
    root: bytes,
    value: bytes | None,
) -> None:
    proof = Proof(tuple(tuple(children) for children in branches), leaf)
    assert verify_proof(root, b"key", value, proof) in (True, False)
