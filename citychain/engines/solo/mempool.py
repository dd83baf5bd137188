"""The solo engine's mempool: checked transactions waiting for a block.

Each transaction passes ``check_tx`` against the mempool's view of state before it is admitted, so
a block built from the pending list in order is valid. A transaction whose nonce is ahead of its
sender's next nonce waits in the sender's queue and is admitted when the gap closes; that is how
each sender's transactions end up ordered by nonce even when they arrive out of order. Duplicates
are refused, the pool has a count and a byte limit, and after every block the remaining
transactions are checked again, which evicts expired ones.

Queued transactions have not run, so nothing about them is known to be payable. Admission control
keeps them from jamming the pool (docs/network.md, "Mempool admission and block limits"):

- a transaction is queued only if its sender has an account and can pay the fees of all its
  queued transactions, this one included, from what the mempool's state leaves it after its
  pending ones (``Application.can_pay_fees``), and at most ``max_queued_per_sender`` of them,
  at most that far ahead;
- all queues together hold at most ``max_queued`` entries and ``max_queued_bytes`` bytes
  (by default a quarter of the pool);
- a queued entry leaves after ``queued_ttl_blocks`` blocks, or once the block height passes
  the transaction's own ``expiry_height``, or when, after a block, its sender can no longer pay
  the queue's fees (highest nonces first);
- queued entries give way: when an executable transaction (or a queued one whose sender has
  fewer entries waiting) needs room, the highest-nonce entry of the sender with the most queued
  entries is evicted (among equals, the sender that reached that count first), so a full pool
  never refuses a payable transaction because of transactions that cannot run yet.

Everything here is this node's policy, not consensus: a block is checked on its own.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from citychain.app import Application
from citychain.engines.interface import Admission
from citychain.errors import ErrorCode
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import DecodedTx

__all__ = ["AddResult", "Mempool", "Queued"]

# Queued transactions may use at most this fraction (1/N) of the pool's count and byte limits.
QUEUED_SHARE = 4
# A queued transaction whose gap has not closed after this many blocks is dropped.
QUEUED_TTL_BLOCKS = 100


@dataclass(frozen=True, slots=True)
class AddResult(Admission):
    """The engine's Admission of one transaction, and whether it waits for a nonce gap."""

    queued: bool = False


@dataclass(frozen=True, slots=True)
class Queued:
    """A transaction waiting for its sender's nonce gap to close."""

    tx_hash: bytes
    raw: bytes
    fee: int
    expiry_height: int  # the transaction's own, 0 = none
    since_height: int  # the committed height when it was queued


class _QueueCounts:
    """Senders by how many transactions they have queued, to find the one with the most in
    O(1): ``buckets[n]`` lists, in the order they reached ``n``, the senders with ``n``."""

    def __init__(self) -> None:
        self.buckets: dict[int, dict[bytes, None]] = {}
        self.top = 0

    def move(self, sender: bytes, old: int, new: int) -> None:
        if old:
            bucket = self.buckets[old]
            del bucket[sender]
            if not bucket:
                del self.buckets[old]
        if new:
            self.buckets.setdefault(new, {})[sender] = None
            self.top = max(self.top, new)
        while self.top and self.top not in self.buckets:
            self.top -= 1

    def most(self) -> tuple[bytes, int] | None:
        """The sender with the most queued entries (the first to reach that count)."""
        if not self.top:
            return None
        return next(iter(self.buckets[self.top])), self.top


class Mempool:
    def __init__(
        self,
        app: Application,
        *,
        max_txs: int = 100_000,
        max_bytes: int = 128 * 1024 * 1024,
        max_queued_per_sender: int = 64,
        max_queued: int | None = None,
        max_queued_bytes: int | None = None,
        queued_ttl_blocks: int = QUEUED_TTL_BLOCKS,
    ) -> None:
        self.app = app
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_queued_per_sender = max_queued_per_sender
        self.max_queued = max_queued if max_queued is not None else max_txs // QUEUED_SHARE
        self.max_queued_bytes = (
            max_queued_bytes if max_queued_bytes is not None else max_bytes // QUEUED_SHARE
        )
        self.queued_ttl_blocks = queued_ttl_blocks
        self.pending: OrderedDict[bytes, bytes] = OrderedDict()
        self.queued: dict[bytes, dict[int, Queued]] = {}
        self.queued_hashes: set[bytes] = set()
        self.pending_bytes = 0
        self.queued_bytes = 0
        self._counts = _QueueCounts()

    def __len__(self) -> int:
        return len(self.pending)

    @property
    def total_bytes(self) -> int:
        return self.pending_bytes + self.queued_bytes

    def size(self) -> int:
        return len(self.pending) + len(self.queued_hashes)

    def add(self, raw: bytes, tx_hash: bytes) -> AddResult:
        if tx_hash in self.pending or tx_hash in self.queued_hashes:
            return _refused(tx_hash, tx_errors.DUPLICATE, "already in the mempool")
        # Queued entries give way to executable ones, so only the pending ones can fill the pool.
        if len(self.pending) >= self.max_txs or self.pending_bytes + len(raw) > self.max_bytes:
            return _refused(tx_hash, tx_errors.MEMPOOL_FULL, "mempool is full")
        result = self.app.check_tx(raw)
        if result.ok:
            assert result.tx is not None
            room = self._make_room(len(raw), keep=None)
            assert room, "the pending transactions alone leave room"
            self._admit(tx_hash, raw)
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

        Returns how many remaining transactions were evicted: pending ones now invalid or
        expired, queued ones the chain passed, that expired, or whose sender can no longer pay.
        """
        for tx_hash in committed:
            raw = self.pending.pop(tx_hash, None)
            if raw is not None:
                self.pending_bytes -= len(raw)
        leftovers = self.pending
        self.pending = OrderedDict()
        self.pending_bytes = 0
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

    # --- pending ----------------------------------------------------------------------------
    def _admit(self, tx_hash: bytes, raw: bytes) -> None:
        self.pending[tx_hash] = raw
        self.pending_bytes += len(raw)

    def _promote(self, sender: bytes) -> None:
        waiting = self.queued.get(sender)
        while waiting:
            nonce = self.app.next_nonce(sender)
            entry = waiting.get(nonce)
            if entry is None:
                break
            self._unqueue(sender, nonce)
            if self.app.check_tx(entry.raw).ok:
                self._admit(entry.tx_hash, entry.raw)

    # --- queued -----------------------------------------------------------------------------
    def _queue(self, tx: DecodedTx, tx_hash: bytes, raw: bytes) -> AddResult:
        sender, nonce = tx.sender, tx.body.nonce
        waiting = self.queued.get(sender, {})
        if nonce in waiting:
            return _refused(tx_hash, tx_errors.DUPLICATE, "nonce already queued")
        gap = nonce - self.app.next_nonce(sender)
        if len(waiting) >= self.max_queued_per_sender or gap > self.max_queued_per_sender:
            return _refused(tx_hash, tx_errors.NONCE_GAP, f"nonce is {gap} ahead")
        fees = tx.body.fee + sum(entry.fee for entry in waiting.values())
        if not self.app.can_pay_fees(sender, fees):
            return _refused(
                tx_hash,
                tx_errors.FEE_UNPAYABLE,
                f"sender cannot pay the fees of its {len(waiting) + 1} queued transactions"
                " (or has no account)",
            )
        if not self._make_room(len(raw), keep=sender):
            return _refused(tx_hash, tx_errors.MEMPOOL_FULL, "mempool is full (queued)")
        before = len(waiting)
        entry = Queued(tx_hash, raw, tx.body.fee, tx.body.expiry_height, self.app.height)
        self.queued.setdefault(sender, {})[nonce] = entry
        self.queued_hashes.add(tx_hash)
        self.queued_bytes += len(raw)
        self._counts.move(sender, before, before + 1)
        return AddResult(tx_hash, 0, "", f"queued until nonce gap of {gap} closes", queued=True)

    def _make_room(self, size: int, *, keep: bytes | None) -> bool:
        """Evict queued entries until a transaction of ``size`` bytes fits: an executable one
        (``keep`` None) in the pool, which always succeeds once the pending transactions leave
        it room; one that ``keep`` queues, also within the queued limits and only at the expense
        of senders with more queued entries than ``keep`` would then have (False when none is
        left; what was evicted until then was beyond a fair share anyway)."""
        newcomer = len(self.queued.get(keep, ())) + 1 if keep is not None else 0
        while not self._fits(size, queued=keep is not None):
            most = self._counts.most()
            if most is None or (keep is not None and most[1] <= newcomer):
                return False
            sender = most[0]
            self._unqueue(sender, max(self.queued[sender]))
        return True

    def _fits(self, size: int, *, queued: bool) -> bool:
        if self.size() + 1 > self.max_txs or self.total_bytes + size > self.max_bytes:
            return False
        if not queued:
            return True
        return (
            len(self.queued_hashes) + 1 <= self.max_queued
            and self.queued_bytes + size <= self.max_queued_bytes
        )

    def _unqueue(self, sender: bytes, nonce: int) -> None:
        waiting = self.queued[sender]
        entry = waiting.pop(nonce)
        self.queued_hashes.discard(entry.tx_hash)
        self.queued_bytes -= len(entry.raw)
        self._counts.move(sender, len(waiting) + 1, len(waiting))
        if not waiting:
            del self.queued[sender]

    def _evict_stale(self, sender: bytes) -> int:
        """After a block: drop the sender's queued entries that can never be included (nonces
        the chain has passed), that waited too long or expired, and then, from the highest
        nonce down, those whose fees the sender can no longer pay."""
        waiting = self.queued[sender]
        floor = self.app.next_nonce(sender)
        next_height = self.app.height + 1
        stale = [
            nonce
            for nonce, entry in waiting.items()
            if nonce < floor
            or next_height > entry.since_height + self.queued_ttl_blocks
            or (entry.expiry_height and next_height > entry.expiry_height)
        ]
        for nonce in stale:
            self._unqueue(sender, nonce)
        fees = sum(entry.fee for entry in waiting.values())
        evicted = len(stale)
        while waiting and not self.app.can_pay_fees(sender, fees):
            highest = max(waiting)
            fees -= waiting[highest].fee
            self._unqueue(sender, highest)
            evicted += 1
        return evicted


def _refused(tx_hash: bytes, error: ErrorCode, log: str) -> AddResult:
    return AddResult(tx_hash, error.code, tx_errors.CODESPACE, log)
