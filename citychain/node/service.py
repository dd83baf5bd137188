"""A running node: the Application, the engine that drives it, and what the API serves beside
them (passport openings, metrics, commit waiters, event subscribers).

The node holds one ``Engine`` (citychain/engines/interface.py) and never asks which one runs:
ingress, block notifications, the validator key and proofs all go through that interface.

Threads: the engine runs on the event loop ``start`` is called on (the engine loop); the API
may run on another thread with its own loop (node/api_thread.py). Everything here except
``on_engine``, ``subscribe`` and ``unsubscribe`` belongs to the engine loop; the API reaches it
through ``on_engine`` (node/dispatch.py), and block events reach subscribers on other loops
through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import hashlib
import json
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from citychain.app import Application
from citychain.engines.factory import open_engine
from citychain.engines.interface import Admission, BlockLimits, Committed, Engine
from citychain.errors import CityError
from citychain.home import Home
from citychain.node.commits import CommitWaiters, SubmitResult
from citychain.node.ingress_journal import JOURNAL_FILE, IngressJournal, JournalError, Outcome
from citychain.node.metrics import NodeMetrics
from citychain.node.views import block_event
from citychain.passport.openings import OpeningStore
from citychain.passport.restricted import PassportService
from citychain.store.sqlite import BlockStore
from citychain.tx.envelope import decode_tx

__all__ = ["Node", "SubmitResult"]

SUBSCRIBER_QUEUE = 256
LAG_PROBE_S = 1.0  # how often the engine loop's lag is measured
# What an admitted transaction is answered with when the ingress journal could not write it:
# not acknowledged (the engine may still commit it; the same bytes can be sent again).
NOT_RECORDED_CODESPACE = "node"
NOT_RECORDED_CODE = 1

T = TypeVar("T")


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
        # gate in front of them and the point-4 routes (its node id and the nonces of the read
        # requests it answered are in data/read-requests.sqlite, kept across restarts).
        self.openings = OpeningStore(home.db_file.parent / "openings.sqlite")
        self.passport_service = PassportService(store=self.openings)
        self.metrics = NodeMetrics()
        # What ingress acknowledged and no block has committed yet, on disk (ingress_journal).
        self.journal = IngressJournal(
            home.db_file.parent / JOURNAL_FILE, self.metrics, self._nonce_used
        )
        self._journal_task: asyncio.Task[None] | None = None
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
        self.validator_name = str(config.get("moniker", "validator"))
        self._commits = CommitWaiters()
        # Each subscriber's queue and the loop it is read on; added and removed from the API's
        # thread, read from the engine's.
        self._subscribers: dict[asyncio.Queue[str], asyncio.AbstractEventLoop] = {}
        self._subscribers_lock = threading.Lock()
        self.on_engine_exit: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lag_probe: asyncio.Task[None] | None = None
        self.engine.on_commit(self._on_block)
        self.metrics.height.set(self.app.height)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the engine on the running loop, which becomes the engine loop."""
        self.loop = asyncio.get_running_loop()
        self.engine.start(self._engine_exited)
        self._lag_probe = self.loop.create_task(self._probe_lag())
        # What the last run acknowledged and no block committed goes to the engine again, in
        # order, once it takes transactions; later, whatever it seems to have lost.
        self._journal_task = self.loop.create_task(
            self.journal.run(self.engine.submit, lambda: self.app.height)
        )

    async def _probe_lag(self) -> None:
        """``citychain_engine_loop_lag_seconds``: how much later than asked a timer fires."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + LAG_PROBE_S
            await asyncio.sleep(LAG_PROBE_S)
            self.metrics.loop_lag.set(max(0.0, loop.time() - asked))

    async def on_engine(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the engine loop and return its result, from whichever loop awaits.

        Cancelling the caller cancels ``work``. Before ``start`` (tests that drive the API
        without an engine), ``work`` runs where it is awaited."""
        loop = self.loop
        if loop is None or loop is _running_loop():
            return await work
        try:
            future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(work, loop)
        except RuntimeError:  # the engine loop has closed: the node is shutting down
            work.close()
            raise
        return await asyncio.wrap_future(future)

    def block_limits(self) -> BlockLimits:
        """What one block holds, as the engine says (``POST /txs/batch`` takes no more)."""
        return self.engine.block_limits()

    def _engine_exited(self) -> None:
        # An engine that stopped on its own (a failed block write, a state that does not match
        # the chain) must take the node down with it rather than keep serving stale state.
        if self.on_engine_exit is not None:
            self.on_engine_exit()

    async def stop(self) -> None:
        for task in (self._lag_probe, self._journal_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.engine.stop()
        await self.journal.close()
        self.store.close()
        self.openings.close()
        self.passport_service.close()

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
        committed (or ``timeout`` passes: then with its result at ingress, height None).

        Code 0 is durable: the admitted transactions are in the ingress journal, on disk,
        before the answer (one journal write for the call); one the journal could not write
        is answered ``node/1``, not acknowledged."""
        hashes = [hashlib.sha256(raw).digest() for raw in raws]
        self.metrics.txs_received.inc(len(raws))
        # Expect the commits before the engine sees the transactions, so that no block can
        # commit one unobserved (and none is journaled after its block removed it).
        waiters = self._commits.expect(hashes) if wait_commit else []
        self.journal.expect(hashes)
        try:
            try:
                admitted = await self.engine.submit(raws, hashes)
            except BaseException:
                self._commits.forget(hashes, waiters)
                raise
            self._meter_ingress(admitted)
            results = await self._record(raws, admitted)
        finally:
            self.journal.release(hashes)
        if not wait_commit:
            return results
        return await self._commits.wait(results, waiters, timeout)

    async def _record(
        self, raws: Sequence[bytes], admitted: Sequence[Admission]
    ) -> list[SubmitResult]:
        """Journal the admitted ones; each admission as the answer says it."""
        results = [SubmitResult(a.hash, a.code, a.codespace, a.log) for a in admitted]
        kept = [(a.hash, raw) for a, raw in zip(admitted, raws, strict=True) if a.ok]
        if not kept:
            return results
        try:
            await self.journal.record(kept, self.app.height)
        except JournalError as exc:
            log = f"{exc}; the transaction may still commit: send the same bytes again"
            return [
                SubmitResult(r.hash, NOT_RECORDED_CODE, NOT_RECORDED_CODESPACE, log) if r.ok else r
                for r in results
            ]
        return results

    def _nonce_used(self, tx_hash: bytes, raw: bytes) -> Outcome:
        """What "nonce already used" means for a journaled transaction handed over again:
        gone for good once the chain used its nonce; still held when what its mempool holds
        is this very transaction; else (another transaction of the mempool's holds the nonce)
        to be asked about again."""
        try:
            tx = decode_tx(raw)
        except CityError:
            return Outcome.GONE
        if tx.body.nonce < self.app.committed_nonce(tx.sender):
            return Outcome.GONE
        return Outcome.HELD if self.app.is_pending(tx_hash) else Outcome.REFUSED

    def _meter_ingress(self, admitted: Sequence[Admission]) -> None:
        for admission in admitted:
            if not admission.ok:
                self.metrics.txs_rejected.labels(admission.codespace, str(admission.code)).inc()
        self.metrics.mempool_size.set(self.engine.mempool_size())

    # --- events ---------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[str]:
        """A queue of block events (JSON), to be read on the running loop (any thread's)."""
        queue: asyncio.Queue[str] = asyncio.Queue(SUBSCRIBER_QUEUE)
        with self._subscribers_lock:
            self._subscribers[queue] = asyncio.get_running_loop()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        with self._subscribers_lock:
            self._subscribers.pop(queue, None)

    def subscriber_count(self) -> int:
        with self._subscribers_lock:
            return len(self._subscribers)

    def _on_block(self, block: Committed) -> None:
        record, result = block.record, block.result
        self._meter_block(block)
        self._commits.committed(record.height, result)
        self.journal.committed(result.tx_hashes)
        with self._subscribers_lock:
            subscribers = list(self._subscribers.items())
        if not subscribers:
            return
        message = json.dumps(block_event(record, result))
        here = _running_loop()
        for queue, loop in subscribers:
            if loop is here:
                _offer(queue, message)
                continue
            try:
                # An asyncio.Queue belongs to its loop: hand the message to that loop's thread.
                loop.call_soon_threadsafe(_offer, queue, message)
            except RuntimeError:  # its loop has closed: the reader is gone
                self.unsubscribe(queue)

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


def _offer(queue: asyncio.Queue[str], message: str) -> None:
    """Queue ``message``; a slow reader loses old blocks rather than holding the node back."""
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(message)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
