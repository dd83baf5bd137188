"""Run a node: the engine on the main thread's event loop, the HTTP API on its own thread.

The engine loop runs the solo engine's block loop or the CometBFT engine's ABCI server, and
every route's work on the node (node/dispatch.py); the API's thread runs uvicorn: parsing,
TLS, bodies, JSON and answers (node/api_thread.py). Parsing a flood of requests or one huge
body can slow the API, not a block or a consensus answer; what a route does with the node runs
on the engine loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from citychain.home import DEFAULT_API, Home
from citychain.node.api import create_api
from citychain.node.api_thread import ApiThread, uvicorn_config
from citychain.node.operator import ensure_operator_token
from citychain.node.service import Node
from citychain.node.settings import ApiSettings
from citychain.node.tls import server_context

__all__ = ["NodeServer", "bind", "run_node", "split_host_port"]

MAX_PORT = 65535
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def split_host_port(value: str) -> tuple[str, int]:
    value = value.removeprefix("http://").removeprefix("https://")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= MAX_PORT:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: any free one)."""
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets whose proto is
    # TCP, and accepted sockets inherit it; without it every keep-alive response waits ~40 ms
    # for the client's delayed ACK (Nagle).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock


class NodeServer:
    """A node and its API, served until told to stop: ``await NodeServer(...).run(stop)`` on the
    loop that becomes the engine loop."""

    def __init__(
        self, node: Node, settings: ApiSettings, sock: socket.socket, operator_token: str
    ) -> None:
        self.node = node
        self.settings = settings
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{settings.scheme}://{shown}:{port}"
        self.app = create_api(node, settings, operator_token=operator_token, manage_node=False)
        self.api = ApiThread(uvicorn_config(self.app, settings), sock)

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        """Start the engine here and the API on its thread; call ``on_ready`` once both serve;
        return after ``stop`` is set, or the engine or the API stops on its own, with both
        stopped (the API first, so no request is left waiting on the engine)."""
        loop = asyncio.get_running_loop()

        def api_exited() -> None:  # on the API's thread
            loop.call_soon_threadsafe(stop.set)

        self.node.on_engine_exit = stop.set
        self.node.start()
        try:
            self.api.start(api_exited)
            await self.api.wait_ready()
            if on_ready is not None:
                on_ready()
            await stop.wait()
        finally:
            await self.api.stop()
            await self.node.stop()


def run_node(
    home: Home,
    api: str | None = None,
    *,
    verifier_workers: int = 1,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> str | None:
    """Serve until SIGINT/SIGTERM or until the engine stops; writes HOME/node.json with the API
    URL while running. Returns why the engine failed, if it did. Raises ValueError (a setting
    the node cannot use) and OSError (an address it cannot bind)."""
    config = home.config()
    settings = ApiSettings.from_config(config, home.path, tls_cert=tls_cert, tls_key=tls_key)
    if settings.tls_cert is not None and settings.tls_key is not None:
        server_context(settings.tls_cert, settings.tls_key)  # refuse bad files before loading
    host, port = split_host_port(api or str(config.get("api", DEFAULT_API)))
    token = ensure_operator_token(home)
    # Bind first, so that port 0 resolves to a real port before node.json is written.
    sock = bind(host, port)
    try:
        node = Node(home, verifier_workers=verifier_workers)
    except BaseException:
        sock.close()
        raise
    asyncio.run(_serve(NodeServer(node, settings, sock, token), home))
    return node.engine.failure


async def _serve(server: NodeServer, home: Home) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    node = server.node

    def ready() -> None:
        ca = server.settings.tls_ca or server.settings.tls_cert
        # What local clients trust for the certificate (Home.api_ca_file), as an absolute path.
        ca_file = str(ca.resolve()) if ca else None
        doc = {"api": server.url, "pid": os.getpid(), "ca_file": ca_file}
        tmp = home.node_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, home.node_file)
        print(
            f"citychain node serving {server.url} "
            f"(chain {node.app.chain_id}, height {node.app.height})",
            flush=True,
        )

    try:
        await server.run(stop, ready)
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(home.node_file.read_text())
            if doc.get("pid") == os.getpid():
                home.node_file.unlink()
