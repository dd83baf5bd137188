"""The event stream: ``/ws`` sends each committed block (``views.block_event``) as JSON.

Open to citizens' pages, within limits (node/settings.py): at most ``ws_max_connections`` at
once and ``ws_max_per_client`` from one client address, refused before the handshake completes
(HTTP 403: the close code 1013, "try again later", is what the refusal means); a browser page
only from the node's own origin or one listed in ``ws_origins`` (clients that send no
``Origin``, which browsers always do, are not browsers and are let in); and uvicorn pings each
client, dropping one that does not answer (``ws_ping_interval_s``, ``ws_ping_timeout_s``).

The connection lives on the API's loop; the node hands it each block across threads
(``Node.subscribe``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.datastructures import Headers
from starlette.types import Scope

from citychain.node.http_limits import client_key
from citychain.node.routes.deps import NodeDep
from citychain.node.service import Node

__all__ = ["TRY_AGAIN_LATER", "WsGate", "router"]

TRY_AGAIN_LATER = 1013  # WebSocket close code (RFC 6455 registry): a server's temporary refusal
POLICY_VIOLATION = 1008
DEFAULT_PORTS = {"http": 80, "https": 443}

router = APIRouter()


@dataclass
class WsGate:
    """The ``/ws`` connections open now, and who may open another. Used on the API's loop only."""

    max_connections: int
    max_per_client: int
    origins: Sequence[str] = ()
    open: int = 0
    per_client: dict[str, int] = field(default_factory=dict)
    # Metrics: a refusal by reason, and the number open (citychain_api_refused_total,
    # citychain_ws_connections).
    count: Callable[[str], None] = lambda reason: None
    gauge: Callable[[int], None] = lambda open_now: None

    def refusal(self, scope: Scope, client: str) -> tuple[int, str] | None:
        """Why a new connection from ``client`` is refused (close code, reason), or None."""
        if not origin_allowed(scope, self.origins):
            self.count("ws_origin")
            return POLICY_VIOLATION, "origin not allowed"
        if self.open >= self.max_connections or self.per_client.get(client, 0) >= (
            self.max_per_client
        ):
            self.count("ws_limit")
            return TRY_AGAIN_LATER, "too many event stream connections"
        return None

    def opened(self, client: str) -> None:
        self.open += 1
        self.per_client[client] = self.per_client.get(client, 0) + 1
        self.gauge(self.open)

    def closed(self, client: str) -> None:
        self.open -= 1
        self.gauge(self.open)
        left = self.per_client[client] - 1
        if left:
            self.per_client[client] = left
        else:
            del self.per_client[client]


def origin_allowed(scope: Scope, allowed: Sequence[str]) -> bool:
    """No ``Origin`` (not a browser), ``*`` or a listed origin, or the node's own origin."""
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    if origin is None or "*" in allowed or origin.rstrip("/") in allowed:
        return True
    host = headers.get("host")
    if host is None:
        return False
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    parts = urlsplit(origin)
    return parts.scheme == scheme and _authority(scheme, parts.netloc) == _authority(scheme, host)


def _authority(scheme: str, netloc: str) -> str:
    netloc = netloc.lower()
    default = f":{DEFAULT_PORTS[scheme]}"
    return netloc.removesuffix(default)


@router.websocket("/ws")
async def events(socket: WebSocket, node: NodeDep) -> None:
    gate: WsGate = socket.app.state.ws_gate
    client = client_key(socket.client.host if socket.client else "")
    refused = gate.refusal(socket.scope, client)
    if refused is not None:
        code, reason = refused
        # Before accept(): the server answers the handshake with 403 and no connection opens.
        await socket.close(code=code, reason=reason)
        return
    gate.opened(client)
    try:
        await socket.accept()
        await _stream(socket, node)
    finally:
        gate.closed(client)


async def _stream(socket: WebSocket, node: Node) -> None:
    queue = node.subscribe()

    async def forward() -> None:
        while True:
            await socket.send_text(await queue.get())

    sender = asyncio.create_task(forward())
    try:
        # Reading is how a disconnect is noticed; clients have nothing else to say.
        while (await socket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sender.cancel()
        node.unsubscribe(queue)
