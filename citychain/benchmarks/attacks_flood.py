"""The request flood of ``bench/attacks.py`` (issue 13; docs/hardening-bench.md):
``flood_connections`` keep-alive connections from one address, each sending GET requests back
to back for ``flood_seconds``.

It speaks HTTP/1.1 over asyncio streams itself: httpx's connection pool slows down by itself
with hundreds of requests waiting (70 requests a second with 256 connections on this machine,
against 3,600 written this way), and a flood that measures its own client says nothing about
the node. A connection the node closes (``Connection: close``, a reset) is opened again after a
short pause; every answer and every failure is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from citychain.benchmarks.attacks_context import AttackContext, Tally

__all__ = ["flood"]

FLOOD_PATHS = ("/status", "/health", "/blocks/latest")
REQUEST_TIMEOUT_S = 10.0
ERROR_BACKOFF_S = 0.05  # after a refused or closed connection, so a dead node is not spun on
HEADER_LIMIT = 64 * 1024
HTTPS_PORT, HTTP_PORT = 443, 80
HEX = 16


class _Closed(Exception):
    """The node closed the connection, or will after this answer."""


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().lower()
    return None


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> None:
    length = _header(head, b"content-length")
    if length is not None:
        await reader.readexactly(int(length))
        return
    if _header(head, b"transfer-encoding") == b"chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], HEX):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
        return
    raise _Closed  # a body that ends with the connection


class _Flood:
    def __init__(self, ctx: AttackContext) -> None:
        parts = urlsplit(ctx.url)
        self.host = parts.hostname or "127.0.0.1"
        tls = parts.scheme == "https"
        self.port = parts.port or (HTTPS_PORT if tls else HTTP_PORT)
        self.tls: ssl.SSLContext | None = None
        if tls:  # an attacker does not check the node's certificate
            self.tls = ssl.create_default_context()
            self.tls.check_hostname = False
            self.tls.verify_mode = ssl.CERT_NONE
        self.local = (ctx.local_address, 0) if ctx.local_address else None
        self.tally = Tally()
        self.ctx = ctx

    async def _request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
    ) -> None:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        self.tally[f"HTTP {head.split(b' ', 2)[1].decode()}"] += 1
        await _read_body(reader, head)
        if _header(head, b"connection") == b"close":
            raise _Closed

    async def _connection(self, deadline: float, turn: int) -> int:
        """One connection's requests until the deadline or until it is closed."""
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.tls, local_addr=self.local),
            REQUEST_TIMEOUT_S,
        )
        try:
            while loop.time() < deadline:
                turn += 1
                path = FLOOD_PATHS[turn % len(FLOOD_PATHS)]
                await asyncio.wait_for(self._request(reader, writer, path), REQUEST_TIMEOUT_S)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        return turn

    async def worker(self, offset: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        turn = offset
        while loop.time() < deadline:
            try:
                turn = await self._connection(deadline, turn)
            except _Closed:
                self.tally["connection closed by the node"] += 1
            except TimeoutError:
                self.tally["timeout"] += 1
            except ConnectionRefusedError:
                self.tally["connection refused"] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                self.tally["connection closed"] += 1
            else:
                continue
            await asyncio.sleep(ERROR_BACKOFF_S)

    async def run(self) -> None:
        o = self.ctx.options
        deadline = asyncio.get_running_loop().time() + o.flood_seconds
        await asyncio.gather(*(self.worker(i, deadline) for i in range(o.flood_connections)))


def flood(ctx: AttackContext) -> dict[str, Any]:
    o = ctx.options
    run = _Flood(ctx)
    started = time.monotonic()
    asyncio.run(run.run())
    seconds = time.monotonic() - started
    answered = sum(v for k, v in run.tally.items() if k.startswith("HTTP "))
    return {
        "sent": f"GET requests ({', '.join(FLOOD_PATHS)}) back to back on "
        f"{o.flood_connections} keep-alive connections from one address for {seconds:.1f} s",
        "answers": dict(sorted(run.tally.items())),
        "figures": {"answers_per_s": round(answered / seconds, 1) if seconds else 0.0},
    }
