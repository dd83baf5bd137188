"""The one interface through which the node drives an engine (DESIGN.md, "One state machine,
two engines": engines drive the Application and nothing else knows which one runs).

Both ``engines.solo`` and ``engines.cometbft`` implement ``Engine``; the node holds one and never
asks which. This module imports neither engine, so that the two can share it without knowing
each other (.importlinter, "The two engines do not know each other").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from citychain.app import BlockResult
from citychain.store.sqlite import BlockRecord

__all__ = ["Admission", "BlockLimits", "CommitListener", "Committed", "Engine"]


@dataclass(frozen=True, slots=True)
class Admission:
    """What ingress made of one transaction: admitted (code 0) or refused, and why.

    Under solo this is the mempool's ``check_tx``; under CometBFT, this process's own
    ``CheckTx`` as CometBFT ran it, or CometBFT's refusal (codespace ``mempool``).
    """

    hash: bytes
    code: int
    codespace: str
    log: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class BlockLimits(NamedTuple):
    """The most one block holds: transactions, and their bytes (the transactions' own bytes).

    A batch of transactions larger than this can never reach one block; the API caps its
    batches with it (docs/network.md, "Mempool admission and block limits")."""

    max_txs: int
    max_bytes: int


class Committed(Protocol):
    """A block the engine has committed and written durably."""

    @property
    def record(self) -> BlockRecord: ...

    @property
    def result(self) -> BlockResult: ...

    @property
    def seconds(self) -> float:
        """Time to execute and commit the block."""


CommitListener = Callable[[Committed], None]


class Engine(Protocol):
    """What the node needs of an engine: ingress, lifecycle, commits, and proofs."""

    @property
    def name(self) -> str:
        """``solo`` or ``cometbft``: reported by ``GET /status``, never branched on."""

    @property
    def failure(self) -> str | None:
        """Why the engine stopped on its own (a failed block write, a state that does not
        match the chain), else None."""

    @property
    def write_wait_seconds(self) -> float:
        """Total time block production waited for block writes to become durable."""

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, on_exit: Callable[[], None]) -> None:
        """Start driving the Application in the running event loop; ``on_exit`` runs once the
        engine has stopped, whether asked to or on its own."""

    async def stop(self) -> None:
        """Stop, wait until the last block write has landed, and release the workers."""

    async def settled(self) -> None:
        """Return once no block write is in flight, so that state in memory is state on disk;
        raise RuntimeError(``failure``) if the engine has stopped on its own. Callers read
        state right after, without awaiting in between."""

    # --- ingress and commits --------------------------------------------------------------
    async def submit(self, raws: Sequence[bytes], hashes: Sequence[bytes]) -> list[Admission]:
        """Verify and admit transactions (``hashes[i]`` is sha256 of ``raws[i]``); one
        Admission per transaction, in order. Admitted ones reach a block later, reported
        through the commit listeners."""

    def mempool_size(self) -> int:
        """Transactions this engine holds for a block (0 where CometBFT holds them)."""

    def block_limits(self) -> BlockLimits:
        """The most transactions, and transaction bytes, one block of this engine holds."""

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener`` with each block once it is durable, in height order."""

    # --- proofs ---------------------------------------------------------------------------
    def validator_public_key(self) -> bytes:
        """The key this node signs blocks (solo) or votes (CometBFT) with."""

    async def prove(self, key: bytes, claim: dict[str, Any]) -> dict[str, Any]:
        """A proof bundle of ``key`` at the last committed block against a header signed by
        the validators (docs/proofs.md); raises LookupError when there is none yet."""
