"""A block's transactions run in order on a branch of the committed state.

``finalize_block`` makes one for every block. ``ProcessProposal`` and ``PrepareProposal`` make
one too, to see that every transaction of a proposal passes the ante step; the Application
keeps the last one that did, and ``finalize_block`` takes it instead of running the same
transactions again when it is given the same block (``matches``). A block's results depend
only on the state it starts from, its height, its time and its transactions (the Application's
``finalize_block``), so taking the kept run cannot make two nodes disagree: one that never saw
the proposal (a block replayed after a crash, or decided without this node's ProcessProposal)
computes the same run itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from citychain.app.results import TxResult
from citychain.state.overlay import Overlay

__all__ = ["BlockRun"]


@dataclass(slots=True)
class BlockRun:
    """The transactions of block ``height`` (time ``time_ms``) run on ``block``, a branch of the
    committed state at ``base_height``, in order."""

    base_height: int
    height: int
    time_ms: int
    block: Overlay
    tx_hashes: list[bytes] = field(default_factory=list)
    senders: list[bytes | None] = field(default_factory=list)  # None: did not decode
    results: list[TxResult] = field(default_factory=list)

    def add(self, tx_hash: bytes, sender: bytes | None, result: TxResult) -> None:
        self.tx_hashes.append(tx_hash)
        self.senders.append(sender)
        self.results.append(result)

    def matches(
        self, base_height: int, height: int, time_ms: int, tx_hashes: Sequence[bytes]
    ) -> bool:
        """Whether this is the run of exactly that block on exactly that state."""
        return (self.base_height, self.height, self.time_ms) == (
            base_height,
            height,
            time_ms,
        ) and self.tx_hashes == list(tx_hashes)
