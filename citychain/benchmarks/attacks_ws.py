"""The WebSocket attack of ``bench/attacks.py`` (issue 13; docs/hardening-bench.md): ``ws``
connections to ``/ws`` from one address, opened ``ws_open_concurrency`` at a time, each reading
the block events it is sent, and held ``ws_hold`` seconds after the last one was tried.

Counted: the handshakes the node accepted or refused (by HTTP status), the connections it closed
during the hold (by close code), and those still open at the end.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Origin

from citychain.benchmarks.attacks_context import AttackContext, Tally

__all__ = ["websockets"]

OPEN_TIMEOUT_S = 15.0
CLOSE_TIMEOUT_S = 1.0


async def _drain(connection: ClientConnection) -> None:
    try:
        async for _ in connection:
            pass
    except ConnectionClosed:
        pass


class _Run:
    def __init__(self, ctx: AttackContext) -> None:
        self.ctx = ctx
        self.url = ctx.url.replace("http", "ws", 1).rstrip("/") + "/ws"
        self.tally = Tally()
        self.open_now = 0
        self.peak_open = 0
        self.gate = asyncio.Semaphore(ctx.options.ws_open_concurrency)
        self.stop = asyncio.Event()
        self.open_seconds: list[float] = []
        self.tried = 0

    async def _open(self) -> ClientConnection | None:
        origin = self.ctx.options.ws_origin
        local = (self.ctx.local_address, 0) if self.ctx.local_address else None
        started = time.monotonic()
        try:
            connection = await connect(
                self.url,
                origin=Origin(origin) if origin else None,
                proxy=None,
                open_timeout=OPEN_TIMEOUT_S,
                ping_interval=None,
                close_timeout=CLOSE_TIMEOUT_S,
                local_addr=local,
            )
        except InvalidStatus as exc:
            self.tally[f"refused: HTTP {exc.response.status_code}"] += 1
            return None
        except (OSError, TimeoutError, WebSocketException) as exc:
            self.tally[f"not opened: {type(exc).__name__}"] += 1
            return None
        self.open_seconds.append(time.monotonic() - started)
        self.tally["accepted"] += 1
        return connection

    async def one(self) -> None:
        async with self.gate:
            try:
                connection = await self._open()
            finally:
                self.tried += 1
        if connection is None:
            return
        self.open_now += 1
        self.peak_open = max(self.peak_open, self.open_now)
        drain = asyncio.create_task(_drain(connection))
        stopped = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({drain, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if drain.done():
                self.tally[f"closed by the node during the hold: {connection.close_code}"] += 1
            else:
                self.tally["still open at the end"] += 1
        finally:
            self.open_now -= 1
            drain.cancel()
            stopped.cancel()
            await connection.close()

    async def run(self) -> None:
        o = self.ctx.options
        tasks = [asyncio.create_task(self.one()) for _ in range(o.ws)]
        # every connection tried (opened or refused), then the hold
        while self.tried < o.ws and not all(t.done() for t in tasks):
            await asyncio.sleep(0.1)
        await asyncio.sleep(o.ws_hold)
        self.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def websockets(ctx: AttackContext) -> dict[str, Any]:
    o = ctx.options
    run = _Run(ctx)
    started = time.monotonic()
    asyncio.run(run.run())
    opened = sorted(run.open_seconds)
    origin = f" with Origin {o.ws_origin}" if o.ws_origin else " without an Origin header"
    return {
        "sent": f"{o.ws:,} WebSocket connections to /ws from one address{origin}, "
        f"{o.ws_open_concurrency} opening at a time, held {o.ws_hold:g} s",
        "answers": dict(run.tally),
        "figures": {
            "peak_open": run.peak_open,
            "seconds": round(time.monotonic() - started, 1),
            "slowest_open_s": round(opened[-1], 2) if opened else 0.0,
        },
    }
