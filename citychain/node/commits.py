"""Submitters waiting for their transactions' blocks (``POST /txs`` with ``mode: commit``).

The node registers what it expects before the engine sees the transactions, so that no block
can commit one unobserved; the engine's commit notifications resolve them, whichever engine
runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from citychain.app import BlockResult

__all__ = ["CommitWaiters", "SubmitResult"]


@dataclass(frozen=True, slots=True)
class SubmitResult:
    hash: bytes
    code: int
    codespace: str
    log: str
    height: int | None = None  # set once committed

    @property
    def ok(self) -> bool:
        return self.code == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash.hex(),
            "code": self.code,
            "codespace": self.codespace,
            "log": self.log,
            "height": self.height,
        }


Waiter = asyncio.Future[SubmitResult]


class CommitWaiters:
    def __init__(self) -> None:
        self._waiting: dict[bytes, list[Waiter]] = {}

    def expect(self, hashes: Sequence[bytes]) -> list[Waiter]:
        """One waiter for each of ``hashes``, resolved when a block commits it."""
        loop = asyncio.get_running_loop()
        waiters: list[Waiter] = []
        for tx_hash in hashes:
            waiter: Waiter = loop.create_future()
            self._waiting.setdefault(tx_hash, []).append(waiter)
            waiters.append(waiter)
        return waiters

    async def wait(
        self, checked: Sequence[SubmitResult], waiters: Sequence[Waiter], timeout: float
    ) -> list[SubmitResult]:
        """Each admitted transaction's committed result, or, for one refused or not committed
        within ``timeout``, its result at ingress (height None)."""
        for result, waiter in zip(checked, waiters, strict=True):
            if not result.ok:
                self._drop(result.hash, waiter)
        pending = [w for r, w in zip(checked, waiters, strict=True) if r.ok and not w.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        out: list[SubmitResult] = []
        for result, waiter in zip(checked, waiters, strict=True):
            if result.ok and waiter.done():
                out.append(waiter.result())
                continue
            self._drop(result.hash, waiter)
            out.append(result)
        return out

    def forget(self, hashes: Sequence[bytes], waiters: Sequence[Waiter]) -> None:
        for tx_hash, waiter in zip(hashes, waiters, strict=True):
            self._drop(tx_hash, waiter)

    def committed(self, height: int, result: BlockResult) -> None:
        """Resolve the waiters of the transactions in the block at ``height``."""
        if not self._waiting:
            return
        for tx_hash, tx_result in zip(result.tx_hashes, result.tx_results, strict=True):
            waiters = self._waiting.pop(tx_hash, None)
            if not waiters:
                continue
            done = SubmitResult(tx_hash, tx_result.code, tx_result.codespace, tx_result.log, height)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(done)

    def _drop(self, tx_hash: bytes, waiter: Waiter) -> None:
        waiter.cancel()
        waiters = self._waiting.get(tx_hash)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiting[tx_hash]
