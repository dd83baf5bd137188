"""Run a node: HTTP API on uvicorn, and the engine (solo blocks, or ABCI) in the same event loop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket

import uvicorn

from citychain.home import DEFAULT_API, Home
from citychain.node.api import create_api
from citychain.node.service import Node

__all__ = ["run_node", "split_host_port"]

MAX_PORT = 65535


def split_host_port(value: str) -> tuple[str, int]:
    value = value.removeprefix("http://")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= MAX_PORT:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def run_node(home: Home, api: str | None = None, *, verifier_workers: int = 1) -> str | None:
    """Serve until SIGINT/SIGTERM or until the engine stops; writes HOME/node.json with the API
    URL while running. Returns why the engine failed, if it did."""
    config = home.config()
    host, port = split_host_port(api or str(config.get("api", DEFAULT_API)))
    node = Node(home, verifier_workers=verifier_workers)
    # Bind first, so that port 0 resolves to a real port before node.json is written.
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets whose proto is
    # TCP, and accepted sockets inherit it; without it every keep-alive response waits ~40 ms
    # for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    url = f"http://{host}:{bound_port}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(node),
            log_level="warning",
            access_log=False,
            ws_max_size=1 << 20,
            timeout_keep_alive=30,
        )
    )

    def engine_exited() -> None:
        server.should_exit = True

    node.on_engine_exit = engine_exited

    async def serve() -> None:
        tmp = home.node_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"api": url, "pid": os.getpid()}))
        os.replace(tmp, home.node_file)
        print(
            f"citychain node serving {url} (chain {node.app.chain_id}, height {node.app.height})",
            flush=True,
        )
        try:
            await server.serve(sockets=[sock])
        finally:
            try:
                doc = json.loads(home.node_file.read_text())
                if doc.get("pid") == os.getpid():
                    home.node_file.unlink()
            except (OSError, ValueError):
                pass

    # uvicorn handles SIGTERM/SIGINT while serving and then re-raises the signal to the handler
    # that was installed before it; a no-op one lets the cleanup above run and the process
    # exit 0 instead of dying by the signal with node.json left behind.
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        asyncio.run(serve())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return node.engine.failure


def _ignore(signum: int, frame: object) -> None:
    """Stands in for the default handler while uvicorn owns the signals."""
