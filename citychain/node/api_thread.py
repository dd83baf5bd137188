"""The API's own thread: uvicorn serving the node's API from its own event loop.

HTTP parsing, TLS, reading bodies, JSON decoding and validation, and serialising answers cost
CPU in proportion to what clients send. On their own loop they can slow the API, never the
engine: the solo engine's block loop and the CometBFT engine's ABCI server keep the engine
loop (node/run.py), and routes reach the node through it (node/dispatch.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections.abc import Callable

import uvicorn

from citychain.node.settings import ApiSettings
from citychain.node.tls import server_context

__all__ = ["ApiThread", "uvicorn_config"]

log = logging.getLogger(__name__)

WS_MAX_MESSAGE = 64 * 1024  # clients have nothing to say on /ws: a small frame limit
GRACEFUL_SHUTDOWN_S = 5  # open requests get this long to finish when the node stops


def uvicorn_config(app: object, settings: ApiSettings) -> uvicorn.Config:
    """uvicorn's settings for the node's API (node/settings.py)."""
    ssl_factory = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        context = server_context(settings.tls_cert, settings.tls_key)
        ssl_factory = lambda *_: context  # noqa: E731 - the context is built once, above
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        http="h11",
        log_level="warning",
        access_log=False,
        server_header=False,
        ws_max_size=WS_MAX_MESSAGE,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        limit_concurrency=settings.limit_concurrency,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips) or None,
        ssl_context_factory=ssl_factory,
    )


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.ready.set_result(None)


class ApiThread:
    """uvicorn serving on ``sock`` from a thread of its own, with its own event loop."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        self.server = _Server(config)
        self.sock = sock
        self.loop: asyncio.AbstractEventLoop | None = None
        self.failure: BaseException | None = None
        self._on_exit: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="citychain-api", daemon=True)

    def start(self, on_exit: Callable[[], None]) -> None:
        """Start serving; ``on_exit`` runs (on the API's thread) once the server has stopped."""
        self._on_exit = on_exit
        self._thread.start()

    async def wait_ready(self) -> None:
        """Return once the server accepts connections; raise if it stopped before."""
        await asyncio.wrap_future(self.server.ready)

    async def stop(self) -> None:
        """Ask the server to finish (open requests get ``GRACEFUL_SHUTDOWN_S``), and wait."""
        self.server.should_exit = True
        if self._thread.is_alive():
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # uvicorn exits with SystemExit when it cannot start
            self.failure = exc
            log.error("the API server stopped: %r", exc)
        finally:
            if not self.server.ready.done():
                self.server.ready.set_exception(
                    RuntimeError(f"the API server stopped before serving: {self.failure!r}")
                )
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            if self._on_exit is not None:
                self._on_exit()
