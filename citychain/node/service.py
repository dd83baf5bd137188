"""A running node: application, mempool, solo engine, verifier workers and subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from citychain.app import Application
from citychain.engines.cometbft.engine import CometEngine
from citychain.engines.cometbft.handler import FinalizedBlock
from citychain.engines.solo.engine import CommittedBlock, SoloEngine
from citychain.engines.solo.mempool import AddResult, Mempool
from citychain.errors import CityError
from citychain.genesis import Genesis
from citychain.home import Home
from citychain.node.metrics import NodeMetrics
from citychain.node.proofs import cometbft_proof_bundle, cometbft_validator_key, proof_bundle
from citychain.node.verifier import Verifier
from citychain.node.views import event_view
from citychain.passport.openings import OpeningStore
from citychain.passport.restricted import PassportService
from citychain.store.sqlite import BlockStore
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import decode_tx

__all__ = ["Node", "SubmitResult"]

SUBSCRIBER_QUEUE = 256


@dataclass(frozen=True, slots=True)
class SubmitResult:
    hash: bytes
    code: int
    codespace: str
    log: str
    height: int | None = None  # set once committed

    def as_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash.hex(),
            "code": self.code,
            "codespace": self.codespace,
            "log": self.log,
            "height": self.height,
        }


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
        self.engine_name = str(config.get("engine", "solo"))
        if self.engine_name not in ("solo", "cometbft"):
            raise ValueError(f"unknown engine {self.engine_name!r} in {home.config_file}")
        if self.app.height < 0 and self.engine_name == "solo":
            # Under CometBFT the genesis arrives in InitChain instead.
            self.app.init_chain(Genesis.load(home.genesis_file))
        # The loaded state is millions of long-lived objects; keep the cyclic collector from
        # rescanning them in the middle of blocks.
        gc.freeze()
        self.metrics = NodeMetrics()
        self.verifier = Verifier(verifier_workers)
        self.mempool = Mempool(self.app, max_txs=int(config.get("mempool_max_txs", 100_000)))
        self.engine: SoloEngine | CometEngine
        self.comet: CometEngine | None = None
        if self.engine_name == "cometbft":
            self.comet = CometEngine(
                self.app,
                abci_address=str(config["abci"]),
                rpc_url=str(config["cometbft_rpc"]),
                verify=self.verifier.verify,
            )
            self.engine = self.comet
            self.comet.listeners.append(self._on_block)
        else:
            solo = SoloEngine(
                self.app,
                self.mempool,
                home.validator_key(),
                max_block_txs=max_block_txs or int(config.get("max_block_txs", 5000)),
                max_interval=max_interval
                if max_interval is not None
                else float(config.get("max_block_interval", 0.05)),
            )
            solo.listeners.append(self._on_block)
            self.engine = solo
        self.validator_name = str(config.get("moniker", "validator"))
        self._waiters: dict[bytes, list[asyncio.Future[SubmitResult]]] = {}
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.on_engine_exit: Callable[[], None] | None = None
        self.metrics.height.set(self.app.height)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.engine.run())
        self._task.add_done_callback(self._engine_exited)

    def _engine_exited(self, _: asyncio.Task[None]) -> None:
        # An engine that stopped on its own (a failed block write, a state that does not match
        # the chain) must take the node down with it rather than keep serving stale state.
        if self.on_engine_exit is not None:
            self.on_engine_exit()

    async def stop(self) -> None:
        self.engine.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.verifier.close()
        self.store.close()
        self.openings.close()

    # --- reads ----------------------------------------------------------------------------
    def validator_public_key(self) -> bytes:
        if isinstance(self.engine, SoloEngine):
            return self.engine.key.public_key
        return cometbft_validator_key(self.home)

    def mempool_size(self) -> int:
        return self.mempool.size() if self.comet is None else 0

    async def prove(self, key: bytes, claim: dict[str, Any]) -> dict[str, Any]:
        """A proof bundle for ``key`` at the last committed block.

        The value is read before the first await, so it belongs to the state the caller read
        just before; under CometBFT the signed header is fetched afterwards (it is the next
        block's, which carries this state's app hash). Raises LookupError when there is none.
        """
        if self.comet is None:
            return proof_bundle(self.app, key, claim)
        return await cometbft_proof_bundle(self.comet, key, claim)

    # --- ingress --------------------------------------------------------------------------
    async def submit(
        self, raws: Sequence[bytes], wait_commit: bool, timeout: float = 30.0
    ) -> list[SubmitResult]:
        hashes = [hashlib.sha256(raw).digest() for raw in raws]
        valid = await self.verifier.verify(list(raws))
        self.app.mark_verified(h for h, ok in zip(hashes, valid, strict=True) if ok)
        results: list[SubmitResult] = []
        futures: list[asyncio.Future[SubmitResult] | None] = []
        loop = asyncio.get_running_loop()
        self.metrics.txs_received.inc(len(raws))
        early: dict[bytes, asyncio.Future[SubmitResult]] = {}
        checked: dict[bytes, AddResult] = {}
        if self.comet is not None:
            good = [(raw, h) for raw, h, ok in zip(raws, hashes, valid, strict=True) if ok]
            if wait_commit:
                # Wait for the commit from before CometBFT sees the transaction, so that no
                # block can commit it unobserved.
                for _, tx_hash in good:
                    early[tx_hash] = loop.create_future()
                    self._waiters.setdefault(tx_hash, []).append(early[tx_hash])
            outcomes = await self.comet.broadcast([r for r, _ in good], [h for _, h in good])
            for (_, tx_hash), outcome in zip(good, outcomes, strict=True):
                checked[tx_hash] = AddResult(tx_hash, outcome.code, outcome.codespace, outcome.log)
        for raw, tx_hash, ok in zip(raws, hashes, valid, strict=True):
            if not ok:
                added = _why_invalid(raw, tx_hash)
            elif self.comet is not None:
                added = checked[tx_hash]
            else:
                added = self.mempool.add(raw, tx_hash)
            if not added.ok:
                self.metrics.txs_rejected.labels(added.codespace, str(added.code)).inc()
            results.append(SubmitResult(tx_hash, added.code, added.codespace, added.log))
            future: asyncio.Future[SubmitResult] | None = early.pop(tx_hash, None)
            if future is not None and not added.ok:
                self._drop_waiter(tx_hash, future)
                future = None
            elif future is None and wait_commit and added.ok:
                future = loop.create_future()
                self._waiters.setdefault(tx_hash, []).append(future)
            futures.append(future)
        self.metrics.mempool_size.set(self.mempool.size())
        self.engine.notify()
        if not wait_commit:
            return results
        pending = [f for f in futures if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        out = []
        for result, maybe in zip(results, futures, strict=True):
            if maybe is None:
                out.append(result)
            elif maybe.done():
                out.append(maybe.result())
            else:
                # Not committed in time: answer with the check_tx result (height None).
                self._drop_waiter(result.hash, maybe)
                out.append(result)
        return out

    def _drop_waiter(self, tx_hash: bytes, future: asyncio.Future[SubmitResult]) -> None:
        future.cancel()
        waiters = self._waiters.get(tx_hash)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[tx_hash]

    # --- events ---------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._subscribers.discard(queue)

    def _on_block(self, block: CommittedBlock | FinalizedBlock) -> None:
        result = block.result
        m = self.metrics
        m.height.set(block.record.height)
        m.blocks.inc()
        m.block_seconds.observe(block.seconds)
        m.block_txs.observe(block.record.num_txs)
        m.write_wait.set(self.engine.write_wait_seconds)
        ok = sum(1 for r in result.tx_results if r.ok)
        m.txs_committed.labels("ok").inc(ok)
        m.txs_committed.labels("failed").inc(len(result.tx_results) - ok)
        m.mempool_size.set(self.mempool.size())
        if self._waiters:
            for tx_hash, tx_result in zip(result.tx_hashes, result.tx_results, strict=True):
                waiters = self._waiters.pop(tx_hash, None)
                if waiters:
                    done = SubmitResult(
                        tx_hash,
                        tx_result.code,
                        tx_result.codespace,
                        tx_result.log,
                        block.record.height,
                    )
                    for future in waiters:
                        if not future.done():
                            future.set_result(done)
        if self._subscribers:
            message = json.dumps(
                {
                    "type": "block",
                    "height": block.record.height,
                    "hash": block.record.hash.hex(),
                    "time_ms": block.record.time_ms,
                    "num_txs": block.record.num_txs,
                    "app_hash": block.record.app_hash.hex(),
                    "txs": [
                        {
                            "hash": h.hex(),
                            "code": r.code,
                            "events": [event_view(e) for e in r.events],
                        }
                        for h, r in zip(
                            result.tx_hashes[:1000], result.tx_results[:1000], strict=True
                        )
                    ],
                }
            )
            for queue in list(self._subscribers):
                if queue.full():
                    # A slow reader loses old blocks rather than holding the node back.
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(message)


def _why_invalid(raw: bytes, tx_hash: bytes) -> AddResult:
    """A transaction the verifier refused: it did not decode, or its signature is bad."""
    try:
        decode_tx(raw)
    except CityError as exc:
        return AddResult(tx_hash, exc.code, exc.codespace, exc.message)
    return AddResult(
        tx_hash, tx_errors.BAD_SIGNATURE.code, "tx", tx_errors.BAD_SIGNATURE.description
    )
