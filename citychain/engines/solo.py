"""The solo engine: an in-process block producer for one node (DESIGN.md, "two engines").

It makes a block whenever transactions wait, up to ``max_block_txs`` and ``max_block_bytes``,
waiting at most ``max_interval`` after the first transaction arrives so that a burst shares a
block. It executes the block, signs a header that commits to the resulting app hash with the
node's validator key, and commits everything in one store transaction. It makes no empty blocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from citychain.app import Application, BlockResult
from citychain.block import Header, header_hash, list_hash, sign_header
from citychain.codec import encode
from citychain.crypto.keys import PrivateKey
from citychain.engines.mempool import Mempool
from citychain.store.sqlite import BlockRecord

__all__ = ["CommittedBlock", "SoloEngine"]


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    header: Header
    record: BlockRecord
    result: BlockResult
    seconds: float  # time to execute and commit


class SoloEngine:
    def __init__(
        self,
        app: Application,
        mempool: Mempool,
        validator_key: PrivateKey,
        *,
        max_block_txs: int = 5000,
        max_block_bytes: int = 4 * 1024 * 1024,
        max_interval: float = 0.05,
    ) -> None:
        self.app = app
        self.mempool = mempool
        self.key = validator_key
        self.max_block_txs = max_block_txs
        self.max_block_bytes = max_block_bytes
        self.max_interval = max_interval
        self.listeners: list[Callable[[CommittedBlock], None]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        last = app.store.block(app.height) if app.height > 0 else None
        self._last_time_ms = last.time_ms if last else 0
        genesis = app.genesis
        self._prev_hash = last.hash if last else (genesis.hash if genesis else bytes(32))

    def notify(self) -> None:
        """Called after transactions enter the mempool."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            if not len(self.mempool):
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self.mempool) < self.max_block_txs:
                # Let a burst that is still arriving join this block.
                await asyncio.sleep(self.max_interval)
            if self._stopping:
                break
            self.produce_block()
            # Give waiting requests a turn before the next block.
            await asyncio.sleep(0)

    def produce_block(self) -> CommittedBlock | None:
        txs = self.mempool.reap(self.max_block_txs, self.max_block_bytes)
        if not txs:
            return None
        started = time.perf_counter()
        height = self.app.height + 1
        # The block time is the engine's to choose; it never goes backwards.
        time_ms = max(int(time.time() * 1000), self._last_time_ms + 1)
        result = self.app.finalize_block(height, time_ms, txs)
        header = Header(
            chain_id=self.app.chain_id,
            height=height,
            time_ms=time_ms,
            prev_hash=self._prev_hash,
            txs_hash=list_hash(result.tx_hashes),
            results_hash=list_hash([r.consensus_hash() for r in result.tx_results]),
            app_hash=result.app_hash,
            proposer=self.key.public_key,
        )

        header_bytes = encode(header)
        block_hash = header_hash(header)
        record = BlockRecord(
            height=height,
            hash=block_hash,
            time_ms=time_ms,
            header=header_bytes,
            signature=sign_header(self.key, header),
            app_hash=result.app_hash,
            num_txs=len(txs),
        )
        self.app.commit(record)
        self._prev_hash, self._last_time_ms = block_hash, time_ms
        self.mempool.update(result.tx_hashes)
        committed = CommittedBlock(header, record, result, time.perf_counter() - started)
        for listener in self.listeners:
            listener(committed)
        return committed
