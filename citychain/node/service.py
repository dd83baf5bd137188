"""A running node: the Application, the engine that drives it, and what the API serves beside
them (passport openings, metrics, commit waiters, event subscribers).

The node holds one ``Engine`` (citychain/engines/interface.py) and never asks which one runs:
ingress, block notifications, the validator key and proofs all go through that interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from citychain.app import Application
from citychain.engines.factory import open_engine
from citychain.engines.interface import Admission, Committed, Engine
from citychain.home import Home
from citychain.node.commits import CommitWaiters, SubmitResult
from citychain.node.metrics import NodeMetrics
from citychain.node.views import block_event
from citychain.passport.openings import OpeningStore
from citychain.passport.restricted import PassportService
from citychain.store.sqlite import BlockStore

__all__ = ["Node", "SubmitResult"]

SUBSCRIBER_QUEUE = 256


class Node:
    def __init__(
        self,
        home: Home,
        *,
        verifier_workers: int = 1,
        max_block_txs: int | None = None,
        max_interval: float | None = None,
    ) -> None:
        config = home.config()
        self.home = home
        self.store = BlockStore(home.db_file)
        self.app = Application(self.store)
        # Restricted passport parts in clear, beside the chain and never part of it, and the
        # gate in front of them (its nonce cache lives as long as the node).
        self.openings = OpeningStore(home.db_file.parent / "openings.sqlite")
        self.passport_service = PassportService(store=self.openings)
        self.engine: Engine = open_engine(
            self.app,
            home,
            verifier_workers=verifier_workers,
            max_block_txs=max_block_txs,
            max_interval=max_interval,
        )
        # The loaded state is millions of long-lived objects; keep the cyclic collector from
        # rescanning them in the middle of blocks.
        gc.freeze()
        self.metrics = NodeMetrics()
        self.validator_name = str(config.get("moniker", "validator"))
        self._commits = CommitWaiters()
        self._subscribers: set[asyncio.Queue[str]] = set()
        self.on_engine_exit: Callable[[], None] | None = None
        self.engine.on_commit(self._on_block)
        self.metrics.height.set(self.app.height)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.engine.start(self._engine_exited)

    def _engine_exited(self) -> None:
        # An engine that stopped on its own (a failed block write, a state that does not match
        # the chain) must take the node down with it rather than keep serving stale state.
        if self.on_engine_exit is not None:
            self.on_engine_exit()

    async def stop(self) -> None:
        await self.engine.stop()
        self.store.close()
        self.openings.close()

    # --- reads ----------------------------------------------------------------------------
    async def prove(self, key: bytes, claim: dict[str, Any]) -> dict[str, Any]:
        """A proof bundle for ``key`` at the last committed block, against the header the
        engine's validators signed (docs/proofs.md). The value is read before the first await,
        so it belongs to the state the caller read just before. Raises LookupError when there
        is none yet."""
        return await self.engine.prove(key, claim)

    # --- ingress --------------------------------------------------------------------------
    async def submit(
        self, raws: Sequence[bytes], wait_commit: bool, timeout: float = 30.0
    ) -> list[SubmitResult]:
        """Hand ``raws`` to the engine; with ``wait_commit``, answer once each admitted one is
        committed (or ``timeout`` passes: then with its result at ingress, height None)."""
        hashes = [hashlib.sha256(raw).digest() for raw in raws]
        self.metrics.txs_received.inc(len(raws))
        # Expect the commits before the engine sees the transactions, so that no block can
        # commit one unobserved.
        waiters = self._commits.expect(hashes) if wait_commit else []
        try:
            admitted = await self.engine.submit(raws, hashes)
        except BaseException:
            self._commits.forget(hashes, waiters)
            raise
        self._meter_ingress(admitted)
        results = [SubmitResult(a.hash, a.code, a.codespace, a.log) for a in admitted]
        if not wait_commit:
            return results
        return await self._commits.wait(results, waiters, timeout)

    def _meter_ingress(self, admitted: Sequence[Admission]) -> None:
        for admission in admitted:
            if not admission.ok:
                self.metrics.txs_rejected.labels(admission.codespace, str(admission.code)).inc()
        self.metrics.mempool_size.set(self.engine.mempool_size())

    # --- events ---------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._subscribers.discard(queue)

    def _on_block(self, block: Committed) -> None:
        record, result = block.record, block.result
        self._meter_block(block)
        self._commits.committed(record.height, result)
        if not self._subscribers:
            return
        message = json.dumps(block_event(record, result))
        for queue in list(self._subscribers):
            if queue.full():
                # A slow reader loses old blocks rather than holding the node back.
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)

    def _meter_block(self, block: Committed) -> None:
        m = self.metrics
        m.height.set(block.record.height)
        m.blocks.inc()
        m.block_seconds.observe(block.seconds)
        m.block_txs.observe(block.record.num_txs)
        m.write_wait.set(self.engine.write_wait_seconds)
        ok = sum(1 for r in block.result.tx_results if r.ok)
        m.txs_committed.labels("ok").inc(ok)
        m.txs_committed.labels("failed").inc(len(block.result.tx_results) - ok)
        m.mempool_size.set(self.engine.mempool_size())
