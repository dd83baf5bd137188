"""CometBFT's simple Merkle tree (crypto/merkle/tree.go, hash.go), after RFC 6962 section 2.1.

```
root([])        = sha256("")
root([x])       = sha256(0x00 || x)                      leaf
root(items)     = sha256(0x01 || root(items[:k]) || root(items[k:]))   inner
                  where k = the largest power of two strictly less than len(items)
```

Headers hash their 14 encoded fields this way, validator sets their validators.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["INNER_PREFIX", "LEAF_PREFIX", "merkle_root", "split_point"]

LEAF_PREFIX = b"\x00"
"""Domain tag of a leaf preimage (RFC 6962: 0x00 || leaf)."""

INNER_PREFIX = b"\x01"
"""Domain tag of an inner node preimage (RFC 6962: 0x01 || left || right)."""


def split_point(length: int) -> int:
    """Return the largest power of two strictly less than `length` (getSplitPoint); length > 1."""
    if length <= 1:
        raise ValueError(f"cannot split a tree of {length} items")
    return 1 << ((length - 1).bit_length() - 1)


def merkle_root(items: Sequence[bytes]) -> bytes:
    """Return the root of the tree whose leaves are `items`, in order (HashFromByteSlices)."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(LEAF_PREFIX + items[0]).digest()
    k = split_point(len(items))
    return hashlib.sha256(INNER_PREFIX + merkle_root(items[:k]) + merkle_root(items[k:])).digest()
