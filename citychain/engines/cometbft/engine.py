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
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from citychain.app import Application, CheckResult
from citychain.engines.cometbft.handler import MAX_PROPOSAL_TXS, AbciHandler, FinalizedBlock
from citychain.engines.cometbft.proofs import cometbft_proof_bundle
from citychain.engines.cometbft.server import AbciServer
from citychain.engines.interface import Admission, BlockLimits, CommitListener
from citychain.engines.verifier import Verifier, refusal, screen
from citychain.home import Home, cometbft_validator_key

__all__ = ["CheckOutcome", "CometEngine", "block_tx_bytes", "open_comet"]

log = logging.getLogger(__name__)

RPC_BATCH = 500  # transactions per JSON-RPC batch request
CHECK_TIMEOUT = 30.0
MEMPOOL_CODESPACE = "mempool"
MEMPOOL_REFUSED = 1
# CometBFT 0.38's defaults for a genesis without consensus_params (types/params.go), and its
# hard ceiling for block.max_bytes = -1 (MaxBlockSizeBytes).
DEFAULT_BLOCK_MAX_BYTES = 22_020_096
DEFAULT_EVIDENCE_MAX_BYTES = 1_048_576
MAX_BLOCK_SIZE_BYTES = 104_857_600
# What a block holds besides its transactions' bytes, besides evidence: the header (at most
# 626 bytes), the last commit (about 110 bytes a validator) and each transaction's length
# prefix (at most 4 bytes for MAX_PROPOSAL_TXS of them): 64 KiB covers a hundred validators.
BLOCK_OVERHEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    code: int
    codespace: str
    log: str


class CometEngine:
    """The ``Engine`` (engines/interface.py) of a CometBFT validator or full node."""

    name = "cometbft"

    def __init__(
        self,
        app: Application,
        *,
        abci_address: str,
        rpc_url: str,
        verifier: Verifier | None = None,
        cometbft_home: Path | None = None,
    ) -> None:
        self.app = app
        self.rpc_url = rpc_url.rstrip("/")
        self.cometbft_home = cometbft_home
        # The workers verify this node's ingress and, when given, the transactions other nodes
        # gossip (AbciHandler.prepare); without them both verify in this process.
        self.verifier = verifier if verifier is not None else Verifier(0)
        self.handler = AbciHandler(
            app,
            on_check=self._on_check,
            on_block=self._on_block,
            on_failure=self._on_failure,
            verify=verifier.verify if verifier is not None else None,
            verify_off_loop=self.verifier.verify_off_loop,
        )
        self.server = AbciServer(
            abci_address, self.handler.handle, self.handler.prepare, self.handler.mempool_closed
        )
        self.listeners: list[Callable[[FinalizedBlock], None]] = []
        self.failure: str | None = None
        genesis = cometbft_home / "config" / "genesis.json" if cometbft_home else None
        self._block_limits = BlockLimits(MAX_PROPOSAL_TXS, block_tx_bytes(genesis))
        self._checks: dict[bytes, list[asyncio.Future[CheckOutcome]]] = {}
        self._http: httpx.AsyncClient | None = None
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def write_wait_seconds(self) -> float:
        return self.handler.write_wait_seconds

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, on_exit: Callable[[], None]) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())
        self._task.add_done_callback(lambda _: on_exit())

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.verifier.close()

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

    # --- ingress --------------------------------------------------------------------------
    async def submit(self, raws: Sequence[bytes], hashes: Sequence[bytes]) -> list[Admission]:
        """Verify in the workers, then hand the valid transactions to CometBFT; each one's
        Admission is this process's CheckTx of it, or CometBFT's refusal."""
        valid = await screen(self.app, self.verifier, raws, hashes)
        good = [i for i, ok in enumerate(valid) if ok]
        outcomes = iter(await self.broadcast([raws[i] for i in good], [hashes[i] for i in good]))
        admitted: list[Admission] = []
        for raw, tx_hash, ok in zip(raws, hashes, valid, strict=True):
            if not ok:
                admitted.append(refusal(raw, tx_hash))
                continue
            outcome = next(outcomes)
            admitted.append(Admission(tx_hash, outcome.code, outcome.codespace, outcome.log))
        return admitted

    def mempool_size(self) -> int:
        """CometBFT holds the mempool, not this process."""
        return 0

    def block_limits(self) -> BlockLimits:
        """``MAX_PROPOSAL_TXS`` (PrepareProposal's cap), and the bytes of transactions a block
        of the genesis' ``consensus_params`` holds (``block_tx_bytes``)."""
        return self._block_limits

    def on_commit(self, listener: CommitListener) -> None:
        self.listeners.append(listener)

    # --- proofs ---------------------------------------------------------------------------
    def validator_public_key(self) -> bytes:
        if self.cometbft_home is None:
            raise RuntimeError("this engine was made without a CometBFT home")
        return cometbft_validator_key(self.cometbft_home)

    async def prove(self, key: bytes, claim: dict[str, Any]) -> dict[str, Any]:
        """A version-2 bundle: CometBFT's signed header of the next height."""
        return await cometbft_proof_bundle(self.app, self.rpc_url, self.http(), key, claim)

    # --- submission to CometBFT -----------------------------------------------------------
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
            _refuse(futures, f"CometBFT RPC unreachable: {exc}")
        pending = [f for f in futures if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        return [self._collect(h, f) for h, f in zip(hashes, futures, strict=True)]

    def _collect(self, tx_hash: bytes, future: asyncio.Future[CheckOutcome]) -> CheckOutcome:
        """The outcome ``future`` holds, or a refusal if CheckTx did not answer in time; it is
        no longer waited for either way."""
        if future.done():
            outcome = future.result()
        else:
            future.cancel()
            outcome = CheckOutcome(MEMPOOL_REFUSED, MEMPOOL_CODESPACE, "no CheckTx answer in time")
        waiting = self._checks.get(tx_hash)
        if waiting is not None and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._checks[tx_hash]
        return outcome

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
            _refuse(futures, f"CometBFT: {message}")
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


def _refuse(futures: Sequence[asyncio.Future[CheckOutcome]], reason: str) -> None:
    """Refuse every transaction still waiting for its CheckTx, for ``reason``."""
    outcome = CheckOutcome(MEMPOOL_REFUSED, MEMPOOL_CODESPACE, reason)
    for future in futures:
        if not future.done():
            future.set_result(outcome)


def block_tx_bytes(genesis_file: Path | None) -> int:
    """The transaction bytes one block holds under the CometBFT genesis at ``genesis_file``:
    ``block.max_bytes`` less the room evidence may take (``evidence.max_bytes``) and the rest of
    the block (``BLOCK_OVERHEAD_BYTES``); CometBFT's defaults where the file or a value is
    missing. CometBFT gives PrepareProposal this budget or more (``max_tx_bytes``)."""
    params: dict[str, Any] = {}
    if genesis_file is not None:
        with contextlib.suppress(OSError, ValueError):
            params = json.loads(genesis_file.read_text()).get("consensus_params") or {}
    block = int((params.get("block") or {}).get("max_bytes", DEFAULT_BLOCK_MAX_BYTES))
    if block <= 0:
        block = MAX_BLOCK_SIZE_BYTES
    evidence = int((params.get("evidence") or {}).get("max_bytes", DEFAULT_EVIDENCE_MAX_BYTES))
    return max(block - max(evidence, 0) - BLOCK_OVERHEAD_BYTES, 0)


def open_comet(
    app: Application, home: Home, config: dict[str, Any], verifier: Verifier
) -> CometEngine:
    """The CometBFT engine of the node at ``home``: its ABCI address, CometBFT's RPC and home."""
    return CometEngine(
        app,
        abci_address=str(config["abci"]),
        rpc_url=str(config["cometbft_rpc"]),
        verifier=verifier,
        cometbft_home=Path(str(config.get("cometbft_home", home.path / "cometbft"))),
    )
