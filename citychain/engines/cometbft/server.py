"""An asyncio ABCI socket server (CometBFT 0.38 socket protocol).

CometBFT opens four connections (consensus, mempool, query, snapshot) and pipelines requests on
each; responses must come back in request order on the same connection, and a ``Flush`` request
must be answered with ``ResponseFlush`` once everything before it is answered. Requests of one
connection are therefore handled one after another; the connections share the event loop, so
no two handlers ever run at the same time and the Application needs no locks.

The connection that carries ``CheckTx`` is CometBFT's mempool connection; CometBFT never closes
one while it runs, so when it closes that CometBFT, and its mempool, are gone
(``mempool_closed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from google.protobuf.message import DecodeError

from citychain.engines.cometbft.wire import FrameDecoder, FrameError, frame
from citychain.pb.tendermint.abci import types_pb2 as abci

__all__ = ["AbciServer", "parse_address"]

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
Handle = Callable[[abci.Request], Awaitable[abci.Response]]
# Sees each read's requests before they are handled one by one (to batch work across them).
Prepare = Callable[[list[abci.Request]], Awaitable[None]]
CHECK_TX = "check_tx"


def parse_address(address: str) -> tuple[str, str | int]:
    """``unix:///path`` or ``tcp://host:port`` (CometBFT's proxy_app syntax)."""
    if address.startswith("unix://"):
        return "unix", address.removeprefix("unix://")
    host, sep, port = address.removeprefix("tcp://").rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"ABCI address must be unix:///PATH or tcp://HOST:PORT, got {address!r}")
    return host or "127.0.0.1", int(port)


class AbciServer:
    def __init__(
        self,
        address: str,
        handle: Handle,
        prepare: Prepare | None = None,
        mempool_closed: Callable[[], None] | None = None,
    ) -> None:
        self.address = address
        self.handle = handle
        self.prepare = prepare
        self.mempool_closed = mempool_closed
        self.connections = 0
        self.failure: str | None = None
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()

    async def start(self) -> None:
        kind, where = parse_address(self.address)
        if kind == "unix":
            path = Path(str(where))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            self._server = await asyncio.start_unix_server(self._serve, path=str(path))
        else:
            self._server = await asyncio.start_server(self._serve, host=kind, port=int(where))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self._closed.set()

    def fail(self, reason: str) -> None:
        """Stop serving after an error the state machine cannot recover from."""
        if self.failure is None:
            self.failure = reason
            log.error("ABCI server stopping: %s", reason)
        if self._server is not None:
            self._server.close()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        decoder = FrameDecoder()
        mempool = False  # this connection has carried CheckTx
        try:
            while self.failure is None:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                requests = _parse(decoder.feed(data))
                mempool = mempool or any(
                    not isinstance(r, str) and r.WhichOneof("value") == CHECK_TX for r in requests
                )
                out = await self._answer(requests)
                if out:
                    writer.write(out)
                    await writer.drain()
        except FrameError as exc:
            log.error("ABCI connection closed: %s", exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections -= 1
            if mempool and self.mempool_closed is not None:
                self.mempool_closed()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, requests: list[abci.Request | str]) -> bytearray:
        """The framed responses to one read's requests, in order; a request that did not
        decode (its error, as a string) is answered with an exception."""
        if self.prepare is not None:
            await self.prepare([r for r in requests if not isinstance(r, str)])
        out = bytearray()
        for item in requests:
            if isinstance(item, str):
                out += frame(_exception(item))
                continue
            response = await self.handle(item)
            out += frame(response.SerializeToString())
            if self.failure is not None:
                break
        return out


def _parse(messages: list[bytes]) -> list[abci.Request | str]:
    """Each message as a Request, or why it does not decode."""
    requests: list[abci.Request | str] = []
    for raw in messages:
        parsed = abci.Request()
        try:
            parsed.ParseFromString(raw)
        except DecodeError as exc:
            requests.append(f"request does not decode: {exc}")
            continue
        requests.append(parsed)
    return requests


def _exception(message: str) -> bytes:
    response = abci.Response(exception=abci.ResponseException(error=message))
    encoded: bytes = response.SerializeToString()
    return encoded
