"""The CometBFT engine: the Application served over ABCI, transactions submitted to CometBFT.

The node process runs the ABCI server and the HTTP API in one event loop; CometBFT runs beside
it as its own process and connects to the ABCI address. A transaction submitted to the API goes
to CometBFT's RPC (``broadcast_tx_async``), which hands it to this same process's ``CheckTx``;
the result is picked up there, so submission costs one RPC round trip and no extra check.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from citychain.app import Application, CheckResult
from citychain.engines.cometbft.handler import AbciHandler, FinalizedBlock
from citychain.engines.cometbft.server import AbciServer

__all__ = ["CheckOutcome", "CometEngine"]

log = logging.getLogger(__name__)

RPC_BATCH = 500  # transactions per JSON-RPC batch request
CHECK_TIMEOUT = 30.0
MEMPOOL_CODESPACE = "mempool"
MEMPOOL_REFUSED = 1


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    code: int
    codespace: str
    log: str


class CometEngine:
    def __init__(
        self,
        app: Application,
        *,
        abci_address: str,
        rpc_url: str,
        verify: Callable[[list[bytes]], Awaitable[list[bool]]] | None = None,
    ) -> None:
        self.app = app
        self.rpc_url = rpc_url.rstrip("/")
        self.handler = AbciHandler(
            app,
            on_check=self._on_check,
            on_block=self._on_block,
            on_failure=self._on_failure,
            verify=verify,
        )
        self.server = AbciServer(abci_address, self.handler.handle, self.handler.prepare)
        self.listeners: list[Callable[[FinalizedBlock], None]] = []
        self.failure: str | None = None
        self._checks: dict[bytes, list[asyncio.Future[CheckOutcome]]] = {}
        self._http: httpx.AsyncClient | None = None
        self._stopped = asyncio.Event()

    @property
    def write_wait_seconds(self) -> float:
        return self.handler.write_wait_seconds

    def notify(self) -> None:
        """CometBFT's mempool drives block production; nothing to wake."""

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        await self.server.start()
        try:
            stopped = asyncio.ensure_future(self._stopped.wait())
            closed = asyncio.ensure_future(self.server.wait_closed())
            await asyncio.wait((stopped, closed), return_when=asyncio.FIRST_COMPLETED)
            for task in (stopped, closed):
                task.cancel()
        finally:
            await self.server.close()
            if self.handler.writing is not None:
                with contextlib.suppress(Exception):
                    await self.handler.writing
            self.handler.close()
            if self._http is not None:
                await self._http.aclose()

    async def settled(self) -> None:
        """Return once no block write is in flight (see SoloEngine.settled)."""
        writing = self.handler.writing
        while writing is not None and not writing.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(writing)
            writing = self.handler.writing
        if self.failure is not None:
            raise RuntimeError(self.failure)

    # --- submission -----------------------------------------------------------------------
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=60.0)
        return self._http

    async def rpc(self, method: str, **params: Any) -> Any:
        """One CometBFT JSON-RPC call; raises RuntimeError with CometBFT's message."""
        response = await self.http().post(
            self.rpc_url, json={"jsonrpc": "2.0", "id": 0, "method": method, "params": params}
        )
        doc = response.json()
        if "error" in doc:
            error = doc["error"]
            raise RuntimeError(f"CometBFT {method}: {error.get('data') or error.get('message')}")
        return doc["result"]

    async def broadcast(
        self, raws: Sequence[bytes], hashes: Sequence[bytes], timeout: float = CHECK_TIMEOUT
    ) -> list[CheckOutcome]:
        """Hand transactions to CometBFT; return each one's CheckTx outcome."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[CheckOutcome]] = []
        for tx_hash in hashes:
            future: asyncio.Future[CheckOutcome] = loop.create_future()
            self._checks.setdefault(tx_hash, []).append(future)
            futures.append(future)
        try:
            for start in range(0, len(raws), RPC_BATCH):
                await self._broadcast_batch(
                    raws[start : start + RPC_BATCH], futures[start : start + RPC_BATCH]
                )
        except (httpx.HTTPError, ValueError) as exc:
            outcome = CheckOutcome(
                MEMPOOL_REFUSED, MEMPOOL_CODESPACE, f"CometBFT RPC unreachable: {exc}"
            )
            for future in futures:
                if not future.done():
                    future.set_result(outcome)
        pending = [f for f in futures if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        out: list[CheckOutcome] = []
        for tx_hash, future in zip(hashes, futures, strict=True):
            if not future.done():
                future.cancel()
                out.append(
                    CheckOutcome(MEMPOOL_REFUSED, MEMPOOL_CODESPACE, "no CheckTx answer in time")
                )
            else:
                out.append(future.result())
            waiting = self._checks.get(tx_hash)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._checks[tx_hash]
        return out

    async def _broadcast_batch(
        self, raws: Sequence[bytes], futures: Sequence[asyncio.Future[CheckOutcome]]
    ) -> None:
        body = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "broadcast_tx_async",
                "params": {"tx": base64.b64encode(raw).decode()},
            }
            for i, raw in enumerate(raws)
        ]
        response = await self.http().post(self.rpc_url, json=body)
        answers = response.json()
        if isinstance(answers, dict) and isinstance(answers.get("id"), int):
            answers = [answers]  # CometBFT answers a batch of one with a bare object
        if not isinstance(answers, list):
            # CometBFT refused the request as a whole (too many calls, too large): every
            # transaction in it is refused, at once rather than after the CheckTx timeout.
            error = answers.get("error", {}) if isinstance(answers, dict) else {}
            message = str(error.get("data") or error.get("message") or answers)
            for future in futures:
                if not future.done():
                    future.set_result(
                        CheckOutcome(MEMPOOL_REFUSED, MEMPOOL_CODESPACE, f"CometBFT: {message}")
                    )
            return
        for answer in answers:
            error = answer.get("error")
            index = answer.get("id")
            if error and isinstance(index, int) and 0 <= index < len(futures):
                future = futures[index]
                if not future.done():
                    # Refused before CheckTx: mempool full, already in the cache, too large.
                    message = str(error.get("data") or error.get("message"))
                    future.set_result(CheckOutcome(MEMPOOL_REFUSED, MEMPOOL_CODESPACE, message))

    def _on_check(self, tx_hash: bytes, result: CheckResult) -> None:
        waiting = self._checks.pop(tx_hash, None)
        if waiting:
            outcome = CheckOutcome(result.code, result.codespace, result.log)
            for future in waiting:
                if not future.done():
                    future.set_result(outcome)

    def _on_block(self, block: FinalizedBlock) -> None:
        for listener in self.listeners:
            listener(block)

    def _on_failure(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
            log.error("engine stopped: %s", reason)
        self.server.fail(reason)
