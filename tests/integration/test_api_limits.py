"""A real node process against a body far over the limit (issue 13, "Event-loop stalls": the
64 MiB limit read only Content-Length, so a chunked 200 MiB body was read and parsed).

The body is sent chunked, with no Content-Length, as fast as the node takes it; the node must
answer 413 and stop reading after about its 4 MiB limit (the client sees the answer, or the
connection closed, long before 200 MiB are sent), its peak memory must not grow by anything
like the body, and it must go on serving.
"""

from __future__ import annotations

import contextlib
import select
import socket
from pathlib import Path

import httpx
from apiutil import make_home

from citychain.sim.localnode import LocalNode

BODY_BYTES = 200 * 1024 * 1024
PIECE = 64 * 1024
STOPPED_BY = 32 * 1024 * 1024  # the limit (4 MiB) plus what socket buffers hold
MEMORY_GROWTH_KIB = 64 * 1024


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def send_chunked(host: str, port: int) -> tuple[int, bytes]:
    """Send up to BODY_BYTES as one chunked body; stop once the node answers or closes.
    Returns the bytes sent and what the node answered."""
    piece = b"%x\r\n" % PIECE + b"0" * PIECE + b"\r\n"
    sent = 0
    answer = b""
    with socket.create_connection((host, port), timeout=30) as raw:
        raw.sendall(
            b"POST /txs/batch HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            while sent < BODY_BYTES:
                readable, _, _ = select.select([raw], [], [], 0)
                if readable:
                    break
                raw.sendall(piece)
                sent += PIECE
            raw.settimeout(10)
            while chunk := raw.recv(65536):
                answer += chunk
    return sent, answer


def test_a_chunked_200_mib_body_is_refused_early_and_not_buffered(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    with LocalNode(home.path) as node:
        assert node.process is not None
        pid = node.process.pid
        host, port = node.url.removeprefix("http://").split(":")
        assert node.client.health()["status"] == "ok"
        before = peak_rss_kib(pid)
        sent, answer = send_chunked(host, int(port))
        assert sent < STOPPED_BY, f"the node read {sent / 2**20:.0f} MiB before refusing"
        if answer:  # else the node closed before the client read its answer (a reset)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
            assert b'"error"' in answer
        grown = peak_rss_kib(pid) - before
        assert grown < MEMORY_GROWTH_KIB, f"peak memory grew by {grown / 1024:.0f} MiB"
        assert httpx.get(f"{node.url}/health", timeout=30).json()["status"] == "ok"
