"""``/ws`` limits with real connections (citychain/node/routes/ws.py). Issue 13, "WebSockets":
3,000 connections from one client were all accepted; there was no cap, no idle timeout and no
origin check.

Client addresses: the whole of 127.0.0.0/8 is loopback on Linux, so a connection made from
127.0.0.2 is another client to the node.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apiutil import Served, serving
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from citychain.node.routes.ws import WsGate

OTHER_CLIENT = "127.0.0.2"
DEADLINE_S = 20.0


def ws_url(served: Served) -> str:
    return served.url.replace("http://", "ws://") + "/ws"


def gate(served: Served) -> WsGate:
    found: WsGate = served.server.app.state.ws_gate
    return found


def open_ws(
    served: Served, source: str = "127.0.0.1", origin: str | None = None
) -> ClientConnection:
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
    try:
        conn = connect(
            ws_url(served),
            sock=sock,
            origin=origin,  # type: ignore[arg-type]
            proxy=None,
            open_timeout=10,
        )
    except BaseException:
        sock.close()
        raise
    return conn.__enter__()  # as a context manager would; closed by close()


def refused(served: Served, source: str = "127.0.0.1", origin: str | None = None) -> int:
    """The HTTP status the handshake was refused with."""
    with pytest.raises(InvalidStatus) as refusal:
        open_ws(served, source, origin).close()
    return refusal.value.response.status_code


def wait_open(served: Served, count: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while gate(served).open != count:
        assert time.monotonic() < deadline, f"{gate(served).open} open, expected {count}"
        time.sleep(0.01)


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Served]:
    config = {"api_ws_max_connections": 3, "api_ws_max_per_client": 2}
    with serving(tmp_path / "home", config) as served:
        yield served


def test_connections_are_capped_per_client_and_in_all(capped: Served) -> None:
    first, second = open_ws(capped), open_ws(capped)
    assert refused(capped) == 403  # a third from the same address
    other = open_ws(capped, OTHER_CLIENT)  # another address still gets in ...
    assert refused(capped, OTHER_CLIENT) == 403  # ... until all three places are taken
    wait_open(capped, 3)
    sample = capped.node.metrics.registry.get_sample_value
    assert sample("citychain_ws_connections") == 3
    assert sample("citychain_api_refused_total", {"reason": "ws_limit"}) == 2
    first.close()
    wait_open(capped, 2)  # a closed connection gives its place back
    again = open_ws(capped)
    for conn in (second, other, again):
        conn.close()
    wait_open(capped, 0)
    assert gate(capped).per_client == {}


def test_browser_pages_from_other_origins_are_refused(tmp_path: Path) -> None:
    config = {"api_ws_origins": ["https://wallet.example"]}
    with serving(tmp_path / "home", config) as served:
        own = served.url  # the node's own pages
        for origin in (None, own, "https://wallet.example"):
            open_ws(served, origin=origin).close()
        for origin in ("https://evil.example", own.rsplit(":", 1)[0] + ":1", "null"):
            assert refused(served, origin=origin) == 403, origin
        wait_open(served, 0)


def test_a_client_that_stops_answering_pings_is_dropped(tmp_path: Path) -> None:
    config = {"api_ws_ping_interval_s": 0.2, "api_ws_ping_timeout_s": 0.2}
    with serving(tmp_path / "home", config) as served:
        host, port = served.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=DEADLINE_S) as raw:
            raw.sendall(
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            assert raw.recv(4096).startswith(b"HTTP/1.1 101")
            wait_open(served, 1)
            # Read nothing, answer nothing: the server's pings go unanswered.
            started = time.monotonic()
            while True:
                try:
                    if not raw.recv(4096):
                        break
                except ConnectionError:
                    break
            assert time.monotonic() - started < DEADLINE_S
        wait_open(served, 0)
