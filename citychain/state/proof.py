"""State proofs and their database-free verification (docs/state.md, sections 2 and 4).

The hash rules are drawn in the docstring of `citychain.state.tree`; this module holds them as
constants so that a verifier needs nothing but this file and hashlib.

A `Proof` is the path from the root towards sha256(key): for every branch crossed, its 16 child
hashes, then what was found at the end of the path: a leaf (key_hash, value_hash) or nothing.

`verify_proof(root, key, value, proof)` recomputes the root from the proof and checks it equals
`root`. With `value` set it proves that key holds value; with `value=None` it proves that key
is absent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BRANCH_PREFIX",
    "EMPTY_HASH",
    "EMPTY_ROOT",
    "LEAF_PREFIX",
    "MAX_DEPTH",
    "Proof",
    "ProofFormatError",
    "branch_hash",
    "key_path",
    "leaf_hash",
    "verify_proof",
]

HASH_SIZE = 32
"""Bytes in a sha256 digest; every hash in the tree and in a proof has this length."""

EMPTY_HASH = bytes(HASH_SIZE)
"""Hash of an empty child slot: 32 zero bytes."""

EMPTY_ROOT = EMPTY_HASH
"""Root of the tree with no keys."""

LEAF_PREFIX = b"\x00"
"""Domain tag of a leaf preimage: sha256(0x00 || key_hash || value_hash)."""

BRANCH_PREFIX = b"\x01"
"""Domain tag of a branch preimage: sha256(0x01 || child_hash[0] || ... || child_hash[15])."""

RADIX = 16
"""Children per branch: one per nibble value."""

MAX_DEPTH = 2 * HASH_SIZE
"""Nibbles in a path (64), so the most branches a path can cross."""

_HEX_HASH = re.compile(r"[0-9a-f]{64}")
LEAF_HASHES = 2  # a proof's leaf: (key hash, value hash)
MAX_SHOWN = 80  # characters of a malformed value quoted in an error


class ProofFormatError(ValueError):
    """A proof's JSON form is malformed: wrong type, wrong length or too deep."""


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    """Hash of a leaf: sha256(0x00 || key_hash || value_hash)."""
    return hashlib.sha256(LEAF_PREFIX + key_hash + value_hash).digest()


def branch_hash(child_hashes: tuple[bytes, ...] | list[bytes]) -> bytes:
    """Hash of a branch: sha256(0x01 || child_hash[0] || ... || child_hash[15])."""
    return hashlib.sha256(BRANCH_PREFIX + b"".join(child_hashes)).digest()


def key_path(key_hash: bytes) -> list[int]:
    """The 64 nibbles of key_hash, high nibble of each byte first."""
    path: list[int] = []
    for byte in key_hash:
        path.append(byte >> 4)
        path.append(byte & 0x0F)
    return path


@dataclass(frozen=True, slots=True)
class Proof:
    """Inclusion or absence proof for one key (docs/state.md, section 4).

    branches: for each branch from the root down the key's path, its 16 child hashes.
    leaf: the leaf (key_hash, value_hash) at the end of the path, or None for an empty slot
    (or an empty tree).
    """

    branches: tuple[tuple[bytes, ...], ...]
    leaf: tuple[bytes, bytes] | None

    def to_json(self) -> dict[str, object]:
        """The JSON form: lowercase hex strings, no 0x prefix (docs/state.md, section 3)."""
        leaf: dict[str, str] | None = None
        if self.leaf is not None:
            leaf = {"key_hash": self.leaf[0].hex(), "value_hash": self.leaf[1].hex()}
        return {
            "branches": [[child.hex() for child in branch] for branch in self.branches],
            "leaf": leaf,
        }

    @classmethod
    def from_json(cls, obj: object) -> Proof:
        """Parse the JSON form strictly; raise ProofFormatError on anything malformed."""
        if not isinstance(obj, dict):
            raise ProofFormatError(f"proof: expected an object, got {type(obj).__name__}")
        if set(obj) != {"branches", "leaf"}:
            raise ProofFormatError(
                f"proof: expected exactly the fields branches and leaf, got {sorted(map(str, obj))}"
            )
        return cls(_parse_branches(obj["branches"]), _parse_leaf(obj["leaf"]))


def _parse_branches(raw_branches: object) -> tuple[tuple[bytes, ...], ...]:
    if not isinstance(raw_branches, list):
        raise ProofFormatError(f"branches: expected an array, got {type(raw_branches).__name__}")
    if len(raw_branches) > MAX_DEPTH:
        raise ProofFormatError(f"branches: at most {MAX_DEPTH} branches, got {len(raw_branches)}")
    branches: list[tuple[bytes, ...]] = []
    for depth, raw_branch in enumerate(raw_branches):
        if not isinstance(raw_branch, list):
            raise ProofFormatError(
                f"branches[{depth}]: expected an array, got {type(raw_branch).__name__}"
            )
        if len(raw_branch) != RADIX:
            raise ProofFormatError(
                f"branches[{depth}]: expected {RADIX} child hashes, got {len(raw_branch)}"
            )
        branches.append(
            tuple(
                _parse_hash(child, f"branches[{depth}][{slot}]")
                for slot, child in enumerate(raw_branch)
            )
        )
    return tuple(branches)


def _parse_leaf(raw_leaf: object) -> tuple[bytes, bytes] | None:
    if raw_leaf is None:
        return None
    if not isinstance(raw_leaf, dict):
        raise ProofFormatError(f"leaf: expected an object or null, got {type(raw_leaf).__name__}")
    if set(raw_leaf) != {"key_hash", "value_hash"}:
        raise ProofFormatError(
            "leaf: expected exactly the fields key_hash and value_hash, "
            f"got {sorted(map(str, raw_leaf))}"
        )
    return (
        _parse_hash(raw_leaf["key_hash"], "leaf.key_hash"),
        _parse_hash(raw_leaf["value_hash"], "leaf.value_hash"),
    )


def _parse_hash(raw: object, where: str) -> bytes:
    if not isinstance(raw, str) or _HEX_HASH.fullmatch(raw) is None:
        shown = repr(raw) if len(repr(raw)) <= MAX_SHOWN else repr(raw)[: MAX_SHOWN - 3] + "..."
        raise ProofFormatError(f"{where}: expected 64 lowercase hex characters, got {shown}")
    return bytes.fromhex(raw)


def _is_hash(value: object) -> bool:
    return type(value) is bytes and len(value) == HASH_SIZE


def _well_formed(proof: object) -> bool:
    """Shape checks, so that verification never raises on a hand-built Proof."""
    if not isinstance(proof, Proof):
        return False
    branches, leaf = proof.branches, proof.leaf
    if type(branches) is not tuple or len(branches) > MAX_DEPTH:
        return False
    for branch in branches:
        if type(branch) is not tuple or len(branch) != RADIX:
            return False
        if not all(_is_hash(child) for child in branch):
            return False
    if leaf is None:
        return True
    return type(leaf) is tuple and len(leaf) == LEAF_HASHES and all(_is_hash(h) for h in leaf)


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """True if `proof` shows that, under `root`, key holds value (or is absent if value is None).

    Implements docs/state.md, section 4. Needs no database and never raises on bad proof
    content: a malformed, tampered or non-canonical proof returns False.
    """
    if not _is_hash(root) or not _well_formed(proof):
        return False
    key_hash = hashlib.sha256(key).digest()
    path = key_path(key_hash)
    terminal = _terminal_hash(proof, key_hash, path, value)
    return terminal is not None and _climb(proof, path, terminal) == root


def _terminal_hash(
    proof: Proof, key_hash: bytes, path: Sequence[int], value: bytes | None
) -> bytes | None:
    """What sits in the slot at the end of the path; None if it cannot show key -> value."""
    depth = len(proof.branches)
    if proof.leaf is None:
        return EMPTY_HASH if value is None else None
    found_key_hash, found_value_hash = proof.leaf
    if value is None:
        # Absence by a different leaf: it must be able to sit where it was found, so its
        # path shares the `depth` nibbles consumed to reach this slot.
        if found_key_hash == key_hash or key_path(found_key_hash)[:depth] != path[:depth]:
            return None
    elif found_key_hash != key_hash or found_value_hash != hashlib.sha256(value).digest():
        return None
    return leaf_hash(found_key_hash, found_value_hash)


def _climb(proof: Proof, path: Sequence[int], node_hash: bytes) -> bytes | None:
    """Climb back to the root, checking each branch holds the level below at the path nibble;
    the root reached, or None."""
    depth = len(proof.branches)
    for level in range(depth - 1, -1, -1):
        children = proof.branches[level]
        if children[path[level]] != node_hash:
            return None
        # Canonical form: no branch is empty, and a leaf is never the only child of a branch
        # (deletion would have collapsed it into the parent's slot). Above the last branch the
        # path child is a branch hash, so only the last branch needs the count.
        if level == depth - 1:
            occupied = RADIX - children.count(EMPTY_HASH)
            if occupied == 0 or (proof.leaf is not None and occupied == 1):
                return None
        node_hash = branch_hash(children)
    return node_hash
