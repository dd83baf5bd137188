"""The authenticated state tree: a hexary sparse Merkle radix tree (docs/state.md, section 1).

This docstring is the specification; docs/state.md refers to it.

Paths and hashes
----------------
Every key is placed by its path, path = sha256(key): 32 bytes read as 64 nibbles, high nibble
of each byte first. The tree holds hashes only; values live in the store.

    key_hash    = sha256(key)
    value_hash  = sha256(value)
    leaf hash   = sha256(0x00 || key_hash || value_hash)                       65-byte preimage
    branch hash = sha256(0x01 || child_hash[0] || ... || child_hash[15])      513-byte preimage
    empty hash  = 32 zero bytes  (an empty child slot, and the root of the empty tree)

The one-byte tags keep leaf and branch preimages apart, so no hash can be read as both.

Canonical form (history independence)
-------------------------------------
A leaf sits at the shallowest depth where its path prefix is unique among the keys present,
and a branch never has a single leaf as its only descendant: deleting a key collapses its
sibling leaf upwards. A branch exists at prefix p exactly when two or more keys start with p,
so the shape, and hence the root, depends only on the set of (key, value) pairs, never on the
order of inserts and deletes. A one-key tree's root is that leaf's hash. There are no
extension nodes: two keys sharing n leading nibbles hang under a chain of n + 1 branches, and a
branch whose one child is a branch is canonical.

Keys a = 3f.., b = 3a.., c = 7c.. give:

    root branch (depth 0)                   slots 0..15
      [3] -> branch (depth 1)               prefix "3"
               [a] -> leaf b                prefix "3a", sits at depth 2
               [f] -> leaf a                prefix "3f"
      [7] -> leaf c                         prefix "7", sits at depth 1
      other slots empty (hash = 32 zero bytes)

In-memory layout (chosen for speed and size: no per-node objects)
-----------------------------------------------------------------
    leaf   = leaf_hash || key_hash || value_hash                         bytes, 96 long
    branch = [own_hash | None, child_1, ..., child_16, preimage]         a list of 18
      child_(n+1)  the child for nibble n: None (empty), a leaf (bytes) or a branch (list)
      own_hash     None while the branch is dirty
      preimage     bytearray(513) = 0x01 || child_hash[0] || ... || child_hash[15], kept up to
                   date for leaves and empty slots on every write; a dirty child branch's
                   32 bytes are stale until root() writes its new hash there.

A leaf as one bytes object is half the memory of a tuple of three and is invisible to the
cyclic garbage collector. The root node hangs in slot 1 of a holder list shaped like a branch,
so the root needs no special case. Hashing a branch is one sha256 over one buffer, without
touching its 16 children. Writes mark the branches on their path dirty and list them by depth
with their parent and slot; root() hashes the dirty branches deepest first and copies each
hash into its parent's preimage, so a block costs O(changed keys x depth) hashes, not O(size).
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from citychain.state.proof import (
    BRANCH_PREFIX,
    EMPTY_HASH,
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF_PREFIX,
    MAX_DEPTH,
    RADIX,
    Proof,
)

__all__ = ["MerkleTree"]

# A branch is a list of 18 (see the module docstring); its element types differ by position and
# cannot be spelled exactly, so it is list[Any].
_Branch = list[Any]

_PREIMAGE = RADIX + 1  # index of the preimage in a branch list
_ROOT_SLOT = 1  # slot of the root node in the holder
_EMPTY_PREIMAGE = BRANCH_PREFIX + bytes(RADIX * HASH_SIZE)
# _SPAN[slot] is where the hash of the child in `slot` (1..16) lies in a branch preimage.
_SPAN = [slice(0, 0)] + [
    slice(1 + HASH_SIZE * (slot - 1), 1 + HASH_SIZE * slot) for slot in range(1, RADIX + 1)
]
_CHILD_SPANS = _SPAN[1:]
# Maps the hex digits of a key hash to branch slots 1..16 (slot 0 holds the branch's own hash),
# so key_hash.hex().encode().translate(_SLOT_OF_HEX) gives the 64 slots of a path in one C call.
_SLOT_OF_HEX = bytes.maketrans(b"0123456789abcdef", bytes(range(1, RADIX + 1)))
_KEY_BITS = 8 * HASH_SIZE
# Where the parts of a leaf lie in its 96 bytes.
_LEAF_HASH = slice(0, HASH_SIZE)
_KEY_HASH_AT = HASH_SIZE
_KEY_HASH = slice(HASH_SIZE, 2 * HASH_SIZE)
_VALUE_HASH = slice(2 * HASH_SIZE, 3 * HASH_SIZE)

_sha256 = hashlib.sha256


def _slots(key_hash: bytes) -> bytes:
    """The path of key_hash as branch slots (nibble + 1), one byte per nibble."""
    return key_hash.hex().encode().translate(_SLOT_OF_HEX)


def _new_branch() -> _Branch:
    branch: _Branch = [None] * _PREIMAGE
    branch.append(bytearray(_EMPTY_PREIMAGE))
    return branch


def _put(branch: _Branch, slot: int, leaf: bytes | None) -> None:
    """Place a leaf (or nothing) in a slot, and its hash in the preimage."""
    branch[slot] = leaf
    branch[_PREIMAGE][_SPAN[slot]] = EMPTY_HASH if leaf is None else leaf[_LEAF_HASH]


def _make_leaf(key_hash: bytes, value_hash: bytes) -> bytes:
    hashes = key_hash + value_hash
    return _sha256(LEAF_PREFIX + hashes).digest() + hashes


class MerkleTree:
    """Hexary sparse Merkle radix tree over sha256(key); see the module docstring."""

    __slots__ = ("_count", "_dirty", "_holder")

    def __init__(self) -> None:
        # The root node (None, a leaf or a branch) is self._holder[_ROOT_SLOT].
        self._holder: _Branch = _new_branch()
        self._count = 0
        # _dirty[d] lists the branches at depth d whose own hash is None, each once, flat as
        # branch, parent, slot in the parent, branch, ... (no tuple per entry: fewer objects
        # for the cyclic collector to track).
        self._dirty: list[list[Any]] = [[] for _ in range(MAX_DEPTH)]

    @classmethod
    def from_items(cls, items: Iterable[tuple[bytes, bytes]]) -> MerkleTree:
        """Build a tree from (key, value) pairs; a repeated key keeps its last value.

        Builds bottom-up from the sorted key hashes in one pass: consecutive sorted hashes
        share some leading nibbles, and a leaf sits in the branch at the deeper of the two
        prefixes it shares with its neighbours.
        """
        # The build allocates hundreds of thousands of lists that all live on; the cyclic
        # collector would rescan them again and again (a third of the time at a million keys).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return cls._build(items)
        finally:
            if gc_was_enabled:
                gc.enable()

    @classmethod
    def _build(cls, items: Iterable[tuple[bytes, bytes]]) -> MerkleTree:
        sha256 = _sha256
        value_hash_of = {sha256(key).digest(): sha256(value).digest() for key, value in items}
        key_hashes = sorted(value_hash_of)  # sorting bare bytes is faster than pairs
        tree = cls()
        tree._count = count = len(key_hashes)
        if count <= 1:
            if count == 1:
                key_hash = key_hashes[0]
                tree._holder[_ROOT_SLOT] = _make_leaf(key_hash, value_hash_of[key_hash])
            return tree

        leaves = [
            sha256(LEAF_PREFIX + (hashes := key_hash + value_hash_of[key_hash])).digest() + hashes
            for key_hash in key_hashes
        ]
        from_bytes = int.from_bytes
        numbers = [from_bytes(key_hash, "big") for key_hash in key_hashes]
        # shared[i]: leading nibbles shared by key i - 1 and key i; -1 past either end.
        shared = [-1]
        shared += [
            (_KEY_BITS - (left ^ right).bit_length()) >> 2 for left, right in pairwise(numbers)
        ]
        shared.append(-1)

        span = _SPAN
        new_branch = _new_branch
        top_shift = _KEY_BITS - 4
        open_branches: list[_Branch] = []  # open_branches[d] is the open branch at depth d
        for (before, after), number, leaf in zip(pairwise(shared), numbers, leaves, strict=True):
            depth = before if before > after else after
            while len(open_branches) <= depth:
                open_branches.append(new_branch())
            branch = open_branches[depth]
            slot = ((number >> (top_shift - 4 * depth)) & 15) + 1
            branch[slot] = leaf
            branch[_PREIMAGE][span[slot]] = leaf[:HASH_SIZE]
            # Branches deeper than the prefix shared with the next key are complete.
            while depth > after:
                branch = open_branches.pop()
                branch_hash = branch[0] = sha256(branch[_PREIMAGE]).digest()
                depth -= 1
                if depth < 0:
                    tree._holder[_ROOT_SLOT] = branch
                    break
                parent = open_branches[depth]
                slot = ((number >> (top_shift - 4 * depth)) & 15) + 1
                parent[slot] = branch
                parent[_PREIMAGE][span[slot]] = branch_hash
        return tree

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        key_hash = _sha256(key).digest()
        slots = _slots(key_hash)
        node = self._holder[_ROOT_SLOT]
        depth = 0
        while type(node) is list:
            node = node[slots[depth]]
            depth += 1
        return node is not None and node.startswith(key_hash, _KEY_HASH_AT)

    def set(self, key: bytes, value: bytes) -> None:
        """Insert key or replace its value."""
        self.update(((key, value),))

    def delete(self, key: bytes) -> None:
        """Remove key; a key that is absent is left absent."""
        self.update(((key, None),))

    def update(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply (key, value) changes in order; value None deletes the key."""
        sha256 = _sha256
        dirty = self._dirty
        holder = self._holder
        for key, value in changes:
            key_hash = sha256(key).digest()
            slots = _slots(key_hash)
            if value is None:
                self._delete(key_hash, slots)
                continue
            hashes = key_hash + sha256(value).digest()
            leaf_hash = sha256(LEAF_PREFIX + hashes).digest()
            leaf = leaf_hash + hashes
            parent = holder
            slot = _ROOT_SLOT
            node = holder[_ROOT_SLOT]
            depth = -1
            while type(node) is list:
                depth += 1
                if node[0] is not None:
                    node[0] = None
                    entries = dirty[depth]
                    entries.append(node)
                    entries.append(parent)
                    entries.append(slot)
                parent = node
                slot = slots[depth]
                node = node[slot]
            # The path ends at parent[slot]: empty, or a leaf.
            if node is None:
                self._count += 1
            elif not node.startswith(key_hash, _KEY_HASH_AT):
                self._count += 1
                parent[slot] = self._split(node, leaf, slots, depth + 1, parent, slot)
                continue
            parent[slot] = leaf
            parent[_PREIMAGE][_SPAN[slot]] = leaf_hash

    def _split(
        self, old: bytes, new: bytes, new_slots: bytes, depth: int, parent: _Branch, slot: int
    ) -> _Branch:
        """Branches from `depth` down to where the paths of leaves `old` and `new` part."""
        old_slots = _slots(old[_KEY_HASH])
        dirty = self._dirty
        top = branch = _new_branch()
        dirty[depth] += (branch, parent, slot)
        while old_slots[depth] == new_slots[depth]:
            child = _new_branch()
            slot = new_slots[depth]
            branch[slot] = child
            depth += 1
            dirty[depth] += (child, branch, slot)
            branch = child
        _put(branch, old_slots[depth], old)
        _put(branch, new_slots[depth], new)
        return top

    def _delete(self, key_hash: bytes, slots: bytes) -> None:
        holder = self._holder
        node = holder[_ROOT_SLOT]
        if type(node) is not list:
            if node is not None and node.startswith(key_hash, _KEY_HASH_AT):
                self._count -= 1
                _put(holder, _ROOT_SLOT, None)
            return
        # path[d + 1] is the branch crossed at depth d; path[0] is the holder.
        path: list[_Branch] = [holder, node]
        path_slots = bytes([_ROOT_SLOT]) + slots  # path_slots[d + 1]: slot taken at depth d
        while True:
            child = node[slots[len(path) - 2]]
            if type(child) is list:
                path.append(child)
                node = child
                continue
            if child is None or not child.startswith(key_hash, _KEY_HASH_AT):
                return
            break
        self._count -= 1
        index = len(path) - 1
        _put(node, path_slots[index], None)
        # Collapse: a branch left with one child that is a leaf gives that leaf to its parent.
        while index > 0:
            branch = path[index]
            occupied = RADIX - branch.count(None) + (branch[0] is None)
            if occupied != 1:
                break
            lone = next(child for child in branch[1:_PREIMAGE] if child is not None)
            if type(lone) is list:
                break
            index -= 1
            _put(path[index], path_slots[index], lone)
        self._mark_dirty(path, path_slots, index)

    def _mark_dirty(self, path: list[_Branch], path_slots: bytes, index: int) -> None:
        """Mark the branches path[index], path[index - 1], ... up to the root for rehashing."""
        dirty = self._dirty
        while index > 0:
            branch = path[index]
            if branch[0] is None:
                break  # dirty already, and so are all its ancestors
            branch[0] = None
            dirty[index - 1] += (branch, path[index - 1], path_slots[index - 1])
            index -= 1

    def root(self) -> bytes:
        """The root hash; hashes only the branches dirtied since the last call."""
        sha256 = _sha256
        span = _SPAN
        for entries in reversed(self._dirty):
            if entries:
                for branch, parent, slot in zip(
                    entries[0::3], entries[1::3], entries[2::3], strict=True
                ):
                    branch_hash = branch[0] = sha256(branch[_PREIMAGE]).digest()
                    # A branch collapsed away by a delete is no longer in its parent's slot.
                    if parent[slot] is branch:
                        parent[_PREIMAGE][span[slot]] = branch_hash
                entries.clear()
        node = self._holder[_ROOT_SLOT]
        if node is None:
            return EMPTY_ROOT
        if type(node) is list:
            digest: bytes = node[0]
            return digest
        return bytes(node[_LEAF_HASH])

    def prove(self, key: bytes) -> Proof:
        """Inclusion proof if key is present, else absence proof, both against root()."""
        self.root()
        key_hash = _sha256(key).digest()
        slots = _slots(key_hash)
        branches: list[tuple[bytes, ...]] = []
        node = self._holder[_ROOT_SLOT]
        while type(node) is list:
            preimage = bytes(node[_PREIMAGE])
            branches.append(tuple([preimage[span] for span in _CHILD_SPANS]))
            node = node[slots[len(branches) - 1]]
        leaf = None if node is None else (node[_KEY_HASH], node[_VALUE_HASH])
        return Proof(tuple(branches), leaf)
