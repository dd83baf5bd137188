"""Layered key/value views: committed state, the block's writes, one transaction's writes.

A transaction runs in its own ``Overlay`` over the block's overlay; a failure discards it, so no
partial writes survive. ``None`` in ``writes`` marks a deletion. Keys and values are bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

__all__ = ["Committed", "Overlay", "StateReader"]


class StateReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


class Committed:
    """The last committed state, all in memory (the store holds the durable copy)."""

    __slots__ = ("values",)

    def __init__(self, values: dict[bytes, bytes] | None = None) -> None:
        self.values: dict[bytes, bytes] = values if values is not None else {}

    def get(self, key: bytes) -> bytes | None:
        return self.values.get(key)

    def items_with_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) under ``prefix`` in key order: O(n), for audits and tests."""
        for key in sorted(k for k in self.values if k.startswith(prefix)):
            yield key, self.values[key]

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        values = self.values
        for key, value in writes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value


class Overlay:
    """Writes buffered over a parent view until ``merge_into_parent`` or until dropped."""

    __slots__ = ("parent", "writes")

    def __init__(self, parent: StateReader) -> None:
        self.parent = parent
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        # A loop rather than a call per layer: this is the hottest read of every transaction.
        layer: StateReader = self
        while type(layer) is Overlay:
            writes = layer.writes
            if key in writes:
                return writes[key]
            layer = layer.parent
        return layer.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = None

    def merge_into_parent(self) -> None:
        parent = self.parent
        if not isinstance(parent, Overlay):
            raise TypeError("only an overlay over another overlay can merge")
        parent.writes.update(self.writes)
        self.writes = {}
