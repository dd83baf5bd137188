"""The solo engine's mempool: checked transactions waiting for a block.

Each transaction passes ``check_tx`` against the mempool's view of state before it is admitted, so
a block built from the pending list in order is valid. A transaction whose nonce is ahead of its
sender's next nonce waits in the sender's queue (at most ``max_queued_per_sender``) and is
admitted when the gap closes; that is how each sender's transactions end up ordered by nonce even
when they arrive out of order. Duplicates are refused, the pool has a count and a byte limit, and
after every block the remaining transactions are checked again, which evicts expired ones.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from citychain.app import Application
from citychain.engines.interface import Admission
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import DecodedTx

__all__ = ["AddResult", "Mempool"]


@dataclass(frozen=True, slots=True)
class AddResult(Admission):
    """The engine's Admission of one transaction, and whether it waits for a nonce gap."""

    queued: bool = False


class Mempool:
    def __init__(
        self,
        app: Application,
        *,
        max_txs: int = 100_000,
        max_bytes: int = 128 * 1024 * 1024,
        max_queued_per_sender: int = 64,
    ) -> None:
        self.app = app
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_queued_per_sender = max_queued_per_sender
        self.pending: OrderedDict[bytes, bytes] = OrderedDict()
        self.queued: dict[bytes, dict[int, tuple[bytes, bytes]]] = {}
        self.queued_hashes: set[bytes] = set()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.pending)

    def size(self) -> int:
        return len(self.pending) + len(self.queued_hashes)

    def add(self, raw: bytes, tx_hash: bytes) -> AddResult:
        if tx_hash in self.pending or tx_hash in self.queued_hashes:
            return _refused(tx_hash, tx_errors.DUPLICATE.code, "already in the mempool")
        if self.size() >= self.max_txs or self.bytes + len(raw) > self.max_bytes:
            return _refused(tx_hash, tx_errors.MEMPOOL_FULL.code, "mempool is full")
        result = self.app.check_tx(raw)
        if result.ok:
            self._admit(tx_hash, raw)
            assert result.tx is not None
            self._promote(result.tx.sender)
            return AddResult(tx_hash, 0, "", "")
        gap = (result.codespace, result.code) == (tx_errors.CODESPACE, tx_errors.NONCE_GAP.code)
        if gap and result.tx is not None:
            return self._queue(result.tx, tx_hash, raw)
        return AddResult(tx_hash, result.code, result.codespace, result.log)

    def reap(self, max_txs: int, max_bytes: int) -> list[bytes]:
        """The oldest pending transactions that fit in a block, in admission order."""
        out: list[bytes] = []
        size = 0
        for raw in self.pending.values():
            if len(out) >= max_txs or size + len(raw) > max_bytes:
                break
            out.append(raw)
            size += len(raw)
        return out

    def update(self, committed: list[bytes]) -> int:
        """After a commit: drop the block's transactions and check the rest again.

        Returns how many remaining transactions were evicted (now invalid or expired).
        """
        for tx_hash in committed:
            raw = self.pending.pop(tx_hash, None)
            if raw is not None:
                self.bytes -= len(raw)
        leftovers = self.pending
        self.pending = OrderedDict()
        # Queued transactions stay, so their bytes stay counted; pending ones are re-added below.
        self.bytes = sum(
            len(raw) for waiting in self.queued.values() for _, raw in waiting.values()
        )
        evicted = 0
        for tx_hash, raw in leftovers.items():
            if self.app.check_tx(raw).ok:
                self._admit(tx_hash, raw)
            else:
                evicted += 1
        for sender in list(self.queued):
            evicted += self._evict_stale(sender)
            self._promote(sender)
        return evicted

    def _admit(self, tx_hash: bytes, raw: bytes) -> None:
        self.pending[tx_hash] = raw
        self.bytes += len(raw)

    def _queue(self, tx: DecodedTx, tx_hash: bytes, raw: bytes) -> AddResult:
        waiting = self.queued.setdefault(tx.sender, {})
        if tx.body.nonce in waiting:
            return _refused(tx_hash, tx_errors.DUPLICATE.code, "nonce already queued")
        gap = tx.body.nonce - self.app.next_nonce(tx.sender)
        if len(waiting) >= self.max_queued_per_sender or gap > self.max_queued_per_sender:
            if not waiting:
                del self.queued[tx.sender]
            return _refused(tx_hash, tx_errors.NONCE_GAP.code, f"nonce is {gap} ahead")
        waiting[tx.body.nonce] = (tx_hash, raw)
        self.queued_hashes.add(tx_hash)
        self.bytes += len(raw)
        return AddResult(tx_hash, 0, "", f"queued until nonce gap of {gap} closes", queued=True)

    def _promote(self, sender: bytes) -> None:
        waiting = self.queued.get(sender)
        while waiting:
            entry = waiting.pop(self.app.next_nonce(sender), None)
            if entry is None:
                break
            tx_hash, raw = entry
            self.queued_hashes.discard(tx_hash)
            self.bytes -= len(raw)
            if self.app.check_tx(raw).ok:
                self._admit(tx_hash, raw)
        if waiting is not None and not waiting:
            del self.queued[sender]

    def _evict_stale(self, sender: bytes) -> int:
        """Queued nonces the chain has already passed can never be included."""
        waiting = self.queued[sender]
        floor = self.app.next_nonce(sender)
        stale = [n for n in waiting if n < floor]
        for nonce in stale:
            tx_hash, raw = waiting.pop(nonce)
            self.queued_hashes.discard(tx_hash)
            self.bytes -= len(raw)
        if not waiting:
            del self.queued[sender]
        return len(stale)


def _refused(tx_hash: bytes, code: int, log: str) -> AddResult:
    return AddResult(tx_hash, code, "tx", log)
