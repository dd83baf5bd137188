"""The solo engine: an in-process block producer for one node (DESIGN.md, "two engines").

It makes a block whenever transactions wait, up to ``max_block_txs`` and ``max_block_bytes``,
waiting at most ``max_interval`` after the first transaction arrives so that a burst shares a
block. It executes the block, signs a header that commits to the resulting app hash with the
node's validator key, and commits everything in one store transaction. It makes no empty blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from citychain.app import Application, BlockResult
from citychain.block import Header, header_hash, list_hash, sign_header
from citychain.codec import encode
from citychain.crypto.keys import PrivateKey
from citychain.engines.interface import Admission, BlockLimits, CommitListener
from citychain.engines.solo.mempool import Mempool
from citychain.engines.solo.proofs import proof_bundle
from citychain.engines.verifier import Verifier, refusal, screen
from citychain.genesis import Genesis
from citychain.home import Home
from citychain.store.sqlite import BlockRecord

__all__ = ["CommittedBlock", "SoloEngine", "open_solo", "signed_block"]

log = logging.getLogger(__name__)

BURST_POLL = 0.004  # seconds between looks at a still-growing mempool


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    header: Header
    record: BlockRecord
    result: BlockResult
    seconds: float  # time to execute and commit


class SoloEngine:
    """The ``Engine`` (engines/interface.py) of a single node: its own mempool, its own blocks."""

    name = "solo"

    def __init__(
        self,
        app: Application,
        mempool: Mempool,
        validator_key: PrivateKey,
        *,
        max_block_txs: int = 5000,
        max_block_bytes: int = 4 * 1024 * 1024,
        max_interval: float = 0.05,
        verifier: Verifier | None = None,
    ) -> None:
        self.app = app
        self.mempool = mempool
        self.key = validator_key
        # Without worker processes, ingress verifies in this process.
        self.verifier = verifier if verifier is not None else Verifier(0)
        self.max_block_txs = max_block_txs
        self.max_block_bytes = max_block_bytes
        self.max_interval = max_interval
        self.listeners: list[Callable[[CommittedBlock], None]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self.failure: str | None = None
        self.write_wait_seconds = 0.0  # time block production waited for block writes
        self._writing: asyncio.Future[None] | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="block-writer")
        self._task: asyncio.Task[None] | None = None
        last = app.last_block
        self._last_time_ms = last.time_ms if last else 0
        genesis = app.genesis
        self._prev_hash = last.hash if last else (genesis.hash if genesis else bytes(32))

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, on_exit: Callable[[], None]) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())
        self._task.add_done_callback(lambda _: on_exit())

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.verifier.close()

    # --- ingress --------------------------------------------------------------------------
    async def submit(self, raws: Sequence[bytes], hashes: Sequence[bytes]) -> list[Admission]:
        """Verify in the workers, then admit each valid transaction to the mempool through
        ``check_tx``; wake block production."""
        valid = await screen(self.app, self.verifier, raws, hashes)
        admitted: list[Admission] = [
            self.mempool.add(raw, tx_hash) if ok else refusal(raw, tx_hash)
            for raw, tx_hash, ok in zip(raws, hashes, valid, strict=True)
        ]
        self._wake.set()
        return admitted

    def mempool_size(self) -> int:
        return self.mempool.size()

    def block_limits(self) -> BlockLimits:
        return BlockLimits(self.max_block_txs, self.max_block_bytes)

    def on_commit(self, listener: CommitListener) -> None:
        self.listeners.append(listener)

    # --- proofs ---------------------------------------------------------------------------
    def validator_public_key(self) -> bytes:
        return self.key.public_key

    async def prove(self, key: bytes, claim: dict[str, Any]) -> dict[str, Any]:
        """A version-1 bundle: the last block's header as this node signed it."""
        return proof_bundle(self.app, key, claim)

    # --- blocks ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Make blocks while transactions wait.

        A block's disk write runs on a writer thread while the event loop goes on admitting
        transactions. The next block waits for it, and so does every read of state (``settled``):
        a block is visible, acknowledged or proven only once it is durable, so a crash can never
        lose a block that anyone has seen, and the node can never sign two different blocks at
        one height that both left it.
        """
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping and self.failure is None:
                if not len(self.mempool):
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self._gather_burst()
                if self._stopping:
                    break
                produced = self._produce()
                if produced is None:
                    continue
                committed, store_write = produced
                writing = self._writing = loop.run_in_executor(self._writer, store_write)
                waited = time.perf_counter()
                try:
                    await asyncio.shield(writing)
                except Exception as exc:
                    # Memory is ahead of the disk and can never catch up: stop making blocks;
                    # a restart resumes from the last block on disk.
                    self.failure = f"writing block {committed.record.height} failed: {exc!r}"
                    log.error(self.failure)
                    break
                finally:
                    self.write_wait_seconds += time.perf_counter() - waited
                for listener in self.listeners:
                    listener(committed)
        finally:
            if self._writing is not None and not self._writing.done():
                with contextlib.suppress(Exception):
                    await self._writing
            self._writer.shutdown(wait=True)

    async def settled(self) -> None:
        """Return once no block write is in flight, so that state in memory is state on disk.

        Callers read state right after, without awaiting in between.
        """
        while self._writing is not None and not self._writing.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writing)
        if self.failure is not None:
            raise RuntimeError(self.failure)

    async def _gather_burst(self) -> None:
        """Wait while transactions keep arriving, at most ``max_interval`` after the first."""
        deadline = time.monotonic() + self.max_interval
        seen = len(self.mempool)
        while seen < self.max_block_txs and time.monotonic() < deadline:
            await asyncio.sleep(BURST_POLL)
            now = len(self.mempool)
            if now == seen:
                break
            seen = now

    def produce_block(self) -> CommittedBlock | None:
        """Make, commit and durably write one block now (tests and tools; ``run`` pipelines)."""
        produced = self._produce()
        if produced is None:
            return None
        committed, store_write = produced
        store_write()
        for listener in self.listeners:
            listener(committed)
        return committed

    def _produce(self) -> tuple[CommittedBlock, Callable[[], None]] | None:
        txs = self.mempool.reap(self.max_block_txs, self.max_block_bytes)
        if not txs:
            return None
        started = time.perf_counter()
        height = self.app.height + 1
        # The block time is the engine's to choose; it never goes backwards.
        time_ms = max(int(time.time() * 1000), self._last_time_ms + 1)
        result = self.app.finalize_block(height, time_ms, txs)
        header, record = signed_block(
            self.key, self.app.chain_id, height, time_ms, self._prev_hash, result
        )
        block_hash = record.hash
        store_write = self.app.commit(record, defer_write=True)
        assert store_write is not None
        self._prev_hash, self._last_time_ms = block_hash, time_ms
        self.mempool.update(result.tx_hashes)
        committed = CommittedBlock(header, record, result, time.perf_counter() - started)
        return committed, store_write


def signed_block(
    key: PrivateKey, chain_id: str, height: int, time_ms: int, prev_hash: bytes, result: BlockResult
) -> tuple[Header, BlockRecord]:
    """The header of a finalized block, signed by ``key``, and the record the store keeps."""
    header = Header(
        chain_id=chain_id,
        height=height,
        time_ms=time_ms,
        prev_hash=prev_hash,
        txs_hash=list_hash(result.tx_hashes),
        results_hash=list_hash([r.consensus_hash() for r in result.tx_results]),
        app_hash=result.app_hash,
        proposer=key.public_key,
    )
    record = BlockRecord(
        height=height,
        hash=header_hash(header),
        time_ms=time_ms,
        header=encode(header),
        signature=sign_header(key, header),
        app_hash=result.app_hash,
        num_txs=len(result.tx_hashes),
    )
    return header, record


def open_solo(
    app: Application,
    home: Home,
    config: dict[str, Any],
    verifier: Verifier,
    *,
    max_block_txs: int | None = None,
    max_interval: float | None = None,
) -> SoloEngine:
    """The solo engine of the node at ``home``; a fresh chain starts from the home's genesis
    (under CometBFT the genesis arrives in InitChain instead)."""
    if app.height < 0:
        app.init_chain(Genesis.load(home.genesis_file))
    mempool = Mempool(app, max_txs=int(config.get("mempool_max_txs", 100_000)))
    return SoloEngine(
        app,
        mempool,
        home.validator_key(),
        max_block_txs=max_block_txs or int(config.get("max_block_txs", 5000)),
        max_interval=max_interval
        if max_interval is not None
        else float(config.get("max_block_interval", 0.05)),
        verifier=verifier,
    )
